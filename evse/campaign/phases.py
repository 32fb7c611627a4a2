"""The session phases (the fault matrix's columns) and their detector.

They live in evse/runtime/session_phase.py, where the day of operation
(evse/runtime/day.py) uses them too; re-exported here for the campaign.
"""

from __future__ import annotations

from evse.runtime.session_phase import PHASES, Phase, detect_phase

__all__ = ["PHASES", "Phase", "detect_phase"]
