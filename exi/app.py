"""Typed app messages (generated; see exi/_generated/app_messages.py)."""

from exi._generated.app_messages import *  # noqa: F403
