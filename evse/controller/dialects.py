"""Pick the OCPP dialect (1.6J or 2.0.1) a controller speaks, by configuration."""

from __future__ import annotations

from evse.controller.errors import ControllerUsageError
from evse.controller.host import ControllerHost
from evse.controller.ocpp16 import Ocpp16
from evse.controller.ocpp201 import Ocpp201


def make_dialect(version: str, core: ControllerHost) -> Ocpp16 | Ocpp201:
    if version == "1.6":
        return Ocpp16(core)
    if version == "2.0.1":
        return Ocpp201(core)
    raise ControllerUsageError(f"unsupported OCPP version {version!r}")
