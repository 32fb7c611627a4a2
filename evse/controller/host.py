"""What the OCPP dialects (ocpp16.py, ocpp201.py) and the chart's callbacks (handler.py) may
use of the controller core: a Protocol, so those modules never import `core.py` (which
imports them) and the controller package has no import circle (docs/architecture.md).

`evse.controller.core.Controller` satisfies it; mypy checks that where the core hands itself
to `make_dialect` and `ControllerHandler`. A dialect needing more of the core adds the
member here first, which keeps the surface between the core and the dialects visible.
"""

from __future__ import annotations

from typing import Any, Protocol

from evse.controller.auth import Authorizer
from evse.controller.cert_lifecycle import CertLifecycle
from evse.controller.config import ControllerConfig
from evse.controller.plc_port import (
    AuthStatus,
    Measurement,
    PlcCommand,
    PlcFault,
    SessionCommandKind,
    StopReason,
)
from evse.controller.pnc import ChainCheck
from evse.controller.pnc_auth import PncAuthority
from evse.controller.security_events import SecurityEvent, SecurityLog
from evse.controller.session import ConnectorStatus, OpenTx, Token, TxStop
from evse.controller.settings import Settings
from evse.controller.smart_charging import ProfileStore
from evse.controller.store import Store
from evse.security.station_certs import LeafUse, StationCerts


class ControllerHost(Protocol):
    """The controller core as its dialects and chart callbacks see it."""

    cfg: ControllerConfig
    store: Store
    auth: Authorizer
    pnc: PncAuthority
    profiles: ProfileStore
    settings: Settings
    #: Local verdict on the contract being authorized (the dialects read its root).
    contract_check: ChainCheck | None
    online: bool
    booted: bool
    ev_present: bool
    auth_requested: bool
    #: The token being (or last) authorized, and whether the verdict was an offline one.
    token: Token | None
    auth_offline: bool
    tx_stop: TxStop | None
    evccid: str
    ev_mac: str
    tx: OpenTx | None
    meter: Measurement | None
    fault_error_16: str
    reset_requested: str | None
    security_log: SecurityLog
    station_certs: StationCerts
    cert_lifecycle: CertLifecycle

    # clocks and status
    def unix_s(self) -> int: ...
    def timestamp(self) -> str: ...
    def connector_status(self) -> ConnectorStatus: ...
    def report_status(self) -> None: ...
    def set_heartbeat_interval(self, seconds: float) -> None: ...

    # to the CSMS
    def send_volatile(self, action: str, payload: dict[str, Any], tag: object = None,
                      timeout_ns: int | None = None) -> bool: ...
    def enqueue_tx_message(self, action: str, payload: dict[str, Any], tx: OpenTx,
                           meter: tuple[float, str] | None = None) -> None: ...

    def enqueue_event(self, action: str, payload: dict[str, Any]) -> None: ...

    # security (A02/A03/A04)
    def security_event(self, kind: SecurityEvent, tech_info: str = "") -> None: ...
    def request_certificate(self, use: LeafUse) -> bool: ...
    def set_network_profile(self, connection_data: dict[str, Any]) -> str: ...

    # to the PLC
    def emit(self, command: PlcCommand) -> None: ...
    def send_auth(self, status: AuthStatus, reason: str = "") -> None: ...
    def send_auth_context(self) -> None: ...
    def session_command(self, command: SessionCommandKind, reason: str = "") -> None: ...
    def publish_session_start(self) -> None: ...
    def profiles_changed(self) -> None: ...

    # authorization and transactions
    def begin_authorization(self, token: Token) -> None: ...
    def remote_start(self, token: Token, profile: dict[str, Any] | None) -> bool: ...
    def remote_stop(self, remote_tx_id: str) -> bool: ...
    def change_availability(self, operative: bool) -> str: ...
    def reset(self, kind: str, stop: TxStop) -> None: ...
    def stop_for(self, stop: TxStop) -> bool: ...
    def start_transaction(self) -> None: ...
    def end_transaction(self) -> None: ...
    def deauthorized_stop(self) -> None: ...
    def tx_deauthorized(self) -> None: ...
    def note_stop(self, stop: TxStop) -> None: ...
    def note_plc_stop(self, reason: StopReason) -> None: ...
    def note_fault(self, fault: PlcFault) -> None: ...
    def start_metering(self) -> None: ...
    def stop_metering(self) -> None: ...
