"""Typed xmldsig messages (generated; see exi/_generated/xmldsig_messages.py)."""

from exi._generated.xmldsig_messages import *  # noqa: F403
