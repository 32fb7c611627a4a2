"""Typed iso2 messages (generated; see exi/_generated/iso2_messages.py)."""

from exi._generated.iso2_messages import *  # noqa: F403
