"""Typed din messages (generated; see exi/_generated/din_messages.py)."""

from exi._generated.din_messages import *  # noqa: F403
