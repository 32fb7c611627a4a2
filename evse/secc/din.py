"""DIN SPEC 70121 DC callbacks (fsm_specs/secc_din.yaml): all shared, see handler.py."""

from __future__ import annotations

from evse.secc.handler import SeccHandlerBase


class DinHandler(SeccHandlerBase):
    """Named callbacks of fsm_specs/secc_din.yaml."""
