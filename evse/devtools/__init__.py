"""Maintainer tools that read the source tree (not part of the running station)."""
