"""The controller core: PLC events and OCPP text in, PLC commands and OCPP text out.

Theory of operation
-------------------
Inputs: `plc_event(ev, now_ns)` (the PLC port), `receive_text(text, now_ns)` (one OCPP-J
frame), `present_token(id, now_ns)` (RFID reader), `connected/disconnected(now_ns)` (the
websocket adapter), `handle_timer(now_ns)` at `next_deadline_ns()`. Outputs are pulled:
`data_to_send()` (OCPP-J frames) and `plc_commands()` (the PLC port). Nothing here reads a
clock, sleeps or touches a socket; wall-clock timestamps are `epoch_unix_s + now_ns`.

The `controller` chart owns the connector's state; this module owns everything that is not
a state: the OCPP-J send window (one Call in flight, OCPP-J §4.1.1), the persistent queue,
the authorization lookups, the charging profiles and the meter. Chart actions (the
`ControllerHandler`) only call `_`-free methods here that emit outputs or queue follow-up
events; follow-up events are dispatched after the current one (run to completion).

Sending order: persistent messages (transaction, meter) and volatile ones (status,
authorize, heartbeat) are sent in the order they were created; while offline the volatile
ones are dropped (the current status is re-sent after reconnect), the persistent ones wait.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evse.controller.auth import Authorizer, IdInfo, Verdict
from evse.controller.cert_lifecycle import (
    CertLifecycle,
    CsrSubject,
    SignTag,
    add_security_settings,
)
from evse.controller.config import ControllerConfig
from evse.controller.data_transfer import (
    FAILED,
    DataTransferAnswer,
    DataTransferTag,
    IncomingHandler,
    answer_incoming,
    parse_answer,
)
from evse.controller.dialects import make_dialect
from evse.controller.error_map import error_mapping_command, fault_mapping, stop_mapping
from evse.controller.errors import ControllerUsageError, CsmsProtocolError
from evse.controller.external_limits import EmsCommand
from evse.controller.firmware import Maintenance
from evse.controller.handler import ControllerHandler
from evse.controller.host_requests import HostRequest, RestartRequest, TransferResult
from evse.controller.network_security import NetworkSecurity, valid_password
from evse.controller.outbox import InFlight, Outbox, Volatile
from evse.controller.plc_port import (
    SUSPEND_CURRENT_A,
    AuthContextCmd,
    AuthMethod,
    AuthRequested,
    AuthStatus,
    AuthStatusCmd,
    CommandResult,
    ContractCertificateStatus,
    DeratingReason,
    EnergyFlow,
    EnergyFlowChanged,
    EvccidReceived,
    EvChargingNeeds,
    EvChargingProfile,
    EvPresent,
    EvseLimitsCmd,
    FaultSeverity,
    Measurement,
    PhaseChanged,
    PlcCommand,
    PlcEvent,
    PlcFault,
    PncAuthorizationRequested,
    PncAuthorizationResponseCmd,
    PncCertificateRequested,
    PowerDeliveryStarted,
    PowerDeliveryStopped,
    ScheduleCmd,
    ScheduleEntry,
    SessionCommandCmd,
    SessionCommandKind,
    SessionEnded,
    SlacMatched,
    StopReason,
    TokenType,
    V2gPhase,
)
from evse.controller.pnc import ChainCheck
from evse.controller.pnc_auth import PncAuthority
from evse.controller.reservation import REFUSAL, Reservation
from evse.controller.rpc import (
    CallTimedOut,
    IncomingCall,
    IncomingError,
    IncomingResult,
    OcppRpc,
)
from evse.controller.security_events import SecurityEvent, SecurityLog, type_name
from evse.controller.session import (
    STOP_DEAUTHORIZED,
    STOP_EV_DISCONNECTED,
    STOP_LOCAL,
    STOP_MASTER_PASS,
    STOP_OTHER,
    STOP_POWER_LOSS,
    STOP_REMOTE,
    ConnectorStatus,
    OpenTx,
    Token,
    TxStop,
)
from evse.controller.smart_charging import (
    SCHEDULE_HORIZON_S,
    ExternalLimit,
    LimitSource,
    ProfileStore,
    Purpose,
    dump_profiles,
    load_profiles,
    profile_from_201,
    same_schedule,
)
from evse.controller.store import QueuedMessage, Store
from evse.controller.timers import CoreTimers
from evse.controller.trust_store import RootType, TrustStore, TrustStoreError
from evse.controller.tx_points import TxPoint, parse_points
from evse.controller.wall_clock import ClockSync, WallClock
from evse.fsm import Event, Machine, load_spec
from evse.fsm.engine import TraceSink
from evse.security.station_certs import LeafUse, StationCerts, StationRoot

NS_PER_S = 1_000_000_000
SPEC_PATH = Path(__file__).resolve().parents[2] / "fsm_specs" / "controller.yaml"
#: How often the open transaction's meter reading is journaled (issue 8 item 7: a crash
#: closes the transaction with its last reading; 1 s = the meter's reporting resolution
#: that matters for billing at 150 kW: about 42 Wh).
METER_JOURNAL_PERIOD_NS = NS_PER_S
#: Actions whose messages go through the persistent queue (OCPP 1.6 §4.7, 2.0.1 E04).
#: Tag of the in-flight Authorize (1.6 Authorize or PnC DataTransfer / 2.0.1 Authorize).
AUTHORIZE_TAG = "authorize"
#: Store key of the CSMS's charging profiles (K01/K07: they survive a restart).
PROFILES_KEY = "charging_profiles"
#: Store key of the reservation held (H01: it survives a restart); "" = none.
RESERVATION_KEY = "reservation"
#: Tag of an Authorize for a token presented during a transaction (C09 / C16: may it stop?).
STOP_TOKEN_TAG = "stop_token"
PERSISTENT_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues",
                                "TransactionEvent"})
#: Messages outside a transaction that go through the persistent queue anyway: a critical
#: security event must reach the CSMS however long it is away (2.0.1 A04.FR.01/03).
#: NotifyChargingLimit / ClearedChargingLimit (K12/K13): the CSMS must learn of an external
#: limit it cannot see otherwise, after an outage too.
PERSISTENT_EVENT_ACTIONS = frozenset({"SecurityEventNotification", "NotifyChargingLimit",
                                      "ClearedChargingLimit"})
#: CallError codes meaning "this CSMS does not implement the action" (OCPP-J 1.6 §4.2.3
#: NotImplemented / NotSupported; 2.0.1 the same).
UNSUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported"})


class Controller:
    """One connector's controller: chart + OCPP dialect + queue + authorization."""

    def __init__(
        self,
        config: ControllerConfig,
        store: Store,
        *,
        trace: TraceSink | None = None,
        param_overrides: dict[str, float] | None = None,
        trust_store: TrustStore | None = None,
    ) -> None:

        self.cfg = config
        self.store = store
        self.now_ns = 0
        self.auth = Authorizer(config, store)
        self.boot_reason = "PowerUp"
        if trust_store is None:
            trust_store = TrustStore(Path(config.pnc_trust_store_dir)
                                     if config.pnc_trust_store_dir else None)
        try:
            trust_store.seed(config.pnc_seed_roots)
        except (TrustStoreError, OSError) as exc:
            raise ControllerUsageError(f"controller.pnc_seed_roots: {exc}") from None
        #: Plug & Charge trust decisions (roots, OCSP cache, offline policy).
        self.pnc = PncAuthority(trust_store, config.pnc_offline_policy)
        #: Local verdict on the contract being authorized (the dialects read its root).
        self.contract_check: ChainCheck | None = None
        self.profiles = ProfileStore()
        self._profiles_saved = self.store.get(PROFILES_KEY) or dump_profiles([])
        self._load_profiles()
        self.profiles.on_change = self._save_profiles
        #: The car's last charging needs (plc.ev_limits), reported once per change (K15).
        self._ev_needs: EvChargingNeeds | None = None
        self.rpc = OcppRpc(config.ocpp_version,
                           call_timeout_ns=round(config.call_timeout_s * NS_PER_S))
        self.dialect = make_dialect(config.ocpp_version, self)
        self._timers = CoreTimers(lambda: self.now_ns)
        #: The wall clock the CSMS's currentTime corrects (B01/G02; never the OS clock).
        self.wall_clock = WallClock(config.epoch_unix_s)
        self._ws_out: list[str] = []
        self._plc_out: list[PlcCommand] = []
        self._events: deque[Event] = deque()
        self._dispatching = False
        # connection and send window
        self.online = False
        self.booted = False
        #: When the CSMS connection went down (B04 OfflineThreshold); None: online/never.
        self._offline_since_ns: int | None = None
        self._boot_due_ns: int | None = None
        self.outbox = Outbox(store)
        self._answering = False
        self._heartbeat: object | None = None
        self.heartbeat_interval_s = config.heartbeat_interval_s
        self._status_sent: str | None = None
        # session
        self.ev_present = False
        self.token: Token | None = None
        self.auth_offline = False
        self.held_contract: Token | None = None
        self.auth_requested = False
        #: (token, its group) of the last authorization verdict (C09: the transaction's group).
        self._auth_group: tuple[str, str] = ("", "")
        self.tx: OpenTx | None = None
        self.tx_stop: TxStop | None = None
        #: The TxStartPoint/TxStopPoint conditions true now (E01/E06, tx_points.py).
        self._tx_conditions: set[TxPoint] = set()
        self.meter: Measurement | None = None
        self.evccid = ""
        self.ev_mac = ""
        self.faults: dict[str, PlcFault] = {}
        #: plc.command_result answers, in order (an operator's view of refused resets).
        self.command_results: list[CommandResult] = []
        self.fault_error_16 = "NoError"
        #: The contract FaultCode behind fault_error_16 (1.6 StatusNotification
        #: vendorErrorCode: which of several faults under one errorCode, e.g. OtherError).
        self.fault_vendor_16: str | None = None
        self.scheduled_unavailable = False
        self.reset_requested: str | None = None
        #: The reservation the EVSE is held for (chart state `reserved`), its expiry timer,
        #: the id a token used up (it goes into the transaction's first message), and the
        #: chart's answer to the ReserveNow being handled.
        self.reservation: Reservation | None = None
        self.reservation_used: int | None = None
        self._reservation_timer: object | None = None
        self._reserve_answer: str | None = None
        #: Who holds the energy back while charging (1.6 SuspendedEV / SuspendedEVSE).
        self.energy_flow = EnergyFlow.FLOWING
        self._plc_flow = EnergyFlow.FLOWING
        #: A Reset waiting for its moment (no transaction, its last message delivered).
        self._restart_pending: str | None = None
        self._host_out: list[HostRequest] = []
        self._tx_ended = False
        self._meter_timer: object | None = None
        self._meter_journal_ns = -METER_JOURNAL_PERIOD_NS
        self._clock_timer: object | None = None
        self._limits_timer: object | None = None
        self._schedule_id = 0
        #: K11-K13 and LimitChangeSignificance: the external limit last notified per source
        #: (unit, first limit, periods) and the transaction limit last reported (A, W).
        self._notified_limits: dict[LimitSource, tuple[str, float, int]] = {}
        self._rate_reported: tuple[float, float] | None = None
        #: The last schedule that got a new id: (unix s its offsets count from, entries).
        self._last_schedule: tuple[int, tuple[ScheduleEntry, ...]] | None = None
        self.settings = self.dialect.default_settings()
        add_security_settings(self.settings, config)
        #: The security log (2.0.1 A04.FR.02); critical events also go to the CSMS.
        self.security_log = SecurityLog()
        #: The station's own certificates (CSMS roots, its client and V2G leaves).
        self.station_certs = StationCerts(Path(config.station_cert_dir)
                                          if config.station_cert_dir else None)
        self.cert_lifecycle = CertLifecycle(
            self.station_certs, self._timers, self.settings,
            renewal_margin_s=config.cert_renewal_margin_s, now_unix_s=self.unix_s,
            send_csr=self._send_csr, subject=self._csr_subject, roots_for=self._roots_for,
            security_event=self.security_event)
        #: Security profile and basic-auth password of the CSMS connection (A00/A01/A05).
        self.network = NetworkSecurity(config.ocpp_version, self.station_certs,
                                       Path(config.station_cert_dir)
                                       if config.station_cert_dir else None,
                                       self.security_event)
        version = config.ocpp_version
        self.settings.add("SecurityProfile", self.network.profile,
                          validate=self.network.profile_change_ok,
                          on_change=self.network.set_profile)
        self.settings.add("AuthorizationKey", "", write_only=True,
                          validate=lambda v: valid_password(version, v),
                          on_change=self.network.set_password)
        self.handler = ControllerHandler(self)
        self.machine = Machine(
            load_spec(SPEC_PATH), self.handler, timers=self._timers, trace=trace,
            name="controller", param_overrides=self._params(param_overrides),
        )
        #: Firmware update and log upload jobs (fsm_specs/firmware.yaml).
        self.maintenance = Maintenance(self, self._timers, config.ocpp_version)
        #: Vendor DataTransfer messages the station understands (P01): vendorId ->
        #: messageId -> handler. Empty: every vendorId is UnknownVendorId.
        self.data_transfer_handlers: dict[str, dict[str, IncomingHandler]] = {}

    def _load_profiles(self) -> None:
        """The charging profiles from the store (K07: an offline start, after a restart
        too, follows them): the CSMS's, and the external limits (K11-K13: what the EMS or
        grid operator said stays in force across a restart until that system releases or
        restates it; a restart must not lift a grid limit). TxProfiles are not kept (their
        transaction ended with the process)."""
        raw = self.store.get(PROFILES_KEY)
        if not raw:
            return
        try:
            kept = load_profiles(raw)
        except ValueError:
            return  # damaged: start without, the CSMS sets them again
        for prof in kept:
            if prof.purpose is not Purpose.TX:
                self.profiles.profiles[prof.profile_id] = prof

    def _save_profiles(self) -> None:
        """Written only when the kept profiles changed: an EMS that restates the same
        limit every second (`set_external_limit` keeps the installed one) costs no disk
        write."""
        text = dump_profiles([p for p in self.profiles.profiles.values()
                              if p.purpose is not Purpose.TX])
        if text != self._profiles_saved:
            self._profiles_saved = text
            self.store.put(PROFILES_KEY, text)

    def _params(self, overrides: dict[str, float] | None) -> dict[str, float]:
        params = {
            "t_auth_eim": self.cfg.auth_timeout_eim_s,
            "t_auth_pnc": self.cfg.auth_timeout_pnc_s,
            "t_connection": self.cfg.connection_timeout_s,
        }
        params.update(overrides or {})
        return params

    # ================================================================== lifecycle
    def start(self, now_ns: int) -> None:
        """Start the chart and close any transaction a crash or power cut left open."""
        self.now_ns = now_ns
        # Message ids must stay unique across restarts: prefix them with a boot counter.
        #: Why this process started (a restart we asked for, else a power-up).
        self.boot_reason = self.store.get("boot_reason") or "PowerUp"
        self.store.put("boot_reason", "")
        boots = int(self.store.get("boot_count") or "0") + 1
        self.store.put("boot_count", str(boots))
        self.rpc.set_prefix(f"b{boots}-")
        for rec in self.store.open_transactions():
            tx = OpenTx(rec.local_id, Token(rec.id_tag, TokenType.ISO14443, AuthMethod.EIM),
                        0, rec.meter_start_wh, rec.remote_id,
                        int(self.store.get(f"tx.seq.{rec.local_id}") or "0"))
            action, payload = self.dialect.tx_stop(
                tx, STOP_POWER_LOSS, rec.last_meter_wh, rec.last_timestamp)
            self._enqueue_persistent(action, payload, tx)
            self.store.close_tx(rec.local_id)
        self._plc_out.append(error_mapping_command())
        self.security_event(SecurityEvent.STARTUP_OF_THE_DEVICE, f"boot {boots}")
        self.cert_lifecycle.start()
        self.machine.start(now_ns)
        self.maintenance.start(now_ns)
        self.clock_aligned_changed()
        self._restore_reservation()
        self._drain_events()
        self._limits_timer = self._every(self.cfg.limits_period_s, self._publish_limits_tick)

    # ================================================================== pull outputs
    def data_to_send(self) -> list[str]:
        out, self._ws_out = self._ws_out, []
        return out

    def plc_commands(self) -> list[PlcCommand]:
        out, self._plc_out = self._plc_out, []
        return out

    def host_requests(self) -> list[HostRequest]:
        """Restarts and file transfers for the host (evse/controller/host_requests.py); pull
        them after `data_to_send()` so an answer (Reset.conf) leaves before the restart."""
        out = self._host_out + self.maintenance.host_requests()
        self._host_out = []
        for req in out:
            if isinstance(req, RestartRequest):
                # the next process boots with why it restarted (2.0.1 BootReasonEnumType)
                self.store.put("boot_reason", "FirmwareUpdate" if req.kind == "FirmwareUpdate"
                               else "RemoteReset")
        return out

    def host_result(self, result: TransferResult, now_ns: int) -> None:
        """The host finished a TransferRequest."""
        self._advance(now_ns)
        self.maintenance.on_result(result)
        self._drain_events()
        self._pump()

    @property
    def state(self) -> str:
        return self.machine.state

    # ================================================================== timers
    def next_deadline_ns(self) -> int | None:
        deadlines = [d for d in (self._timers.next_deadline_ns(), self.rpc.next_deadline_ns(),
                                 self._boot_due_ns if self.online and not self.booted else None,
                                 self.outbox.hold_until_ns or None) if d is not None]
        return min(deadlines, default=None)

    def handle_timer(self, now_ns: int) -> None:
        self._advance(now_ns)
        while (cb := self._timers.pop_due(now_ns)) is not None:
            cb(now_ns)
            self._drain_events()
        for lost in self.rpc.handle_timer(now_ns):
            self._on_lost(lost)
        self.outbox.release_hold(now_ns)
        self._pump()

    def _every(self, period_s: float, fn: Callable[[], None]) -> object:
        period_ns = round(period_s * NS_PER_S)
        holder: list[object] = []

        def tick(now_ns: int) -> None:
            holder[0] = self._timers.start_timer(period_ns, tick, "periodic")
            fn()

        holder.append(self._timers.start_timer(period_ns, tick, "periodic"))
        return holder

    def _cancel_every(self, handle: object | None) -> None:
        if isinstance(handle, list) and handle:
            self._timers.cancel_timer(handle[0])

    def _advance(self, now_ns: int) -> None:
        if now_ns < self.now_ns:
            raise ControllerUsageError("time went backwards")
        self.now_ns = now_ns

    # ================================================================== wall clock
    def unix_ns(self) -> int:
        """The wall time now: the configured epoch + the CSMS's correction (B01/G02,
        `wall_clock.py`) + the scheduler's time. Every timestamp and wall-clock timer of
        the controller comes from here."""
        return self.wall_clock.unix_ns(self.now_ns)

    def unix_s(self) -> int:
        return self.unix_ns() // NS_PER_S

    def timestamp(self) -> str:
        ms = self.unix_ns() // 1_000_000
        t = datetime.fromtimestamp(ms // 1000, UTC)
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"

    def _adopt_csms_time(self, action: str, payload: dict[str, Any]) -> None:
        """2.0.1 per B01 (BootNotificationResponse) and G02 (HeartbeatResponse), 1.6 §4.2
        / §4.6: the CSMS's currentTime becomes our wall clock. A step re-arms what is
        due at a wall-clock moment (the clock-aligned samples, the reservation's expiry,
        a scheduled firmware job) and is a SettingSystemTime security event (2.0.1 A04;
        critical: the CSMS learns that the station's times jumped). A malformed
        currentTime changes nothing (logged by the wall clock). Taken whatever the
        BootNotification status: a CSMS that answers Pending or Rejected still tells the
        right time, and the timestamps of the messages sent meanwhile should carry it."""
        before_ns = self.unix_ns()
        if self.wall_clock.adopt(payload.get("currentTime"), self.now_ns,
                                 f"{action}Response") is not ClockSync.STEPPED:
            return
        self.clock_aligned_changed()
        if self.reservation is not None:
            self._arm_reservation_expiry(self.reservation)
        self.maintenance.clock_stepped()
        self.security_event(SecurityEvent.SETTING_SYSTEM_TIME,
                            f"stepped by {(self.unix_ns() - before_ns) / NS_PER_S:.3f} s to "
                            f"the CSMS's currentTime from {action}")

    # ================================================================== events
    def post_event(self, name: str, data: object = None) -> None:
        """Queue a chart event; dispatched after the current one completes."""
        self._events.append(Event(name, data))

    def _dispatch(self, name: str, data: object = None) -> None:
        self._events.append(Event(name, data))
        self._drain_events()

    def _drain_events(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._events:
                ev = self._events.popleft()
                self.machine.dispatch(Event(ev.name, ev.data, self.now_ns), self.now_ns)
                if self.scheduled_unavailable and self.machine.state == "available":
                    self.scheduled_unavailable = False
                    self._events.append(Event("make_unavailable"))
        finally:
            self._dispatching = False
        if self._tx_ended and self.tx is None:
            # after the chart's run to completion: the firmware chart may install now
            self._tx_ended = False
            self.maintenance.station_idle()
        self._pump()

    # ================================================================== PLC port in
    def plc_event(self, ev: PlcEvent, now_ns: int) -> None:
        self._advance(now_ns)
        if isinstance(ev, EvPresent):
            if not ev.present:
                self._ev_needs = None  # the next car states its own
            self._dispatch("ev_plugged" if ev.present else "ev_unplugged")
        elif isinstance(ev, Measurement):
            self.meter = ev
            self._journal_meter(ev)
        elif isinstance(ev, SlacMatched):
            self.ev_mac = ev.ev_mac.upper()
            self._autocharge(self.ev_mac)
        elif isinstance(ev, EvccidReceived):
            self.evccid = ev.evccid.upper()
            self._autocharge(self.evccid)
        elif isinstance(ev, AuthRequested):
            self.auth_requested = True
            self._dispatch("auth_requested", ev)
        elif isinstance(ev, PncAuthorizationRequested):
            if not self.cfg.pnc_enabled or not self.settings.get_bool("ISO15118PnCEnabled"):
                self._plc_out.append(PncAuthorizationResponseCmd(
                    ev.request_id, ContractCertificateStatus.NO_CERTIFICATE_AVAILABLE))
                return
            self._dispatch("token_presented", Token(
                ev.emaid, TokenType.EMAID, AuthMethod.PNC, ev.certificate_chain_der,
                ev.request_id))
        elif isinstance(ev, PncCertificateRequested):
            self.dialect.request_ev_certificate(ev)
            self._pump()
        elif isinstance(ev, PowerDeliveryStarted):
            self._dispatch("power_delivery_started")
        elif isinstance(ev, PowerDeliveryStopped):
            self._dispatch("power_delivery_stopped", ev.reason)
        elif isinstance(ev, SessionEnded):
            self._dispatch("session_ended", ev.reason)
            self.tx_condition(TxPoint.POWER_PATH_CLOSED, False)
            self._drain_events()
        elif isinstance(ev, PlcFault):
            self._fault(ev)
        elif isinstance(ev, CommandResult):
            self.command_results.append(ev)
            if not ev.accepted:
                self.dialect.command_refused(ev)
        elif isinstance(ev, EnergyFlowChanged):
            self._energy_flow(ev.flow)
        elif isinstance(ev, EvChargingNeeds):
            self._charging_needs(ev)
        elif isinstance(ev, EvChargingProfile):
            self.dialect.ev_charging_schedule(ev)
            self._pump()
        elif isinstance(ev, PhaseChanged):
            # informational for the chart (driven by milestones, not phases, A2); the
            # cable check closes the DC output contactors: TxStartPoint PowerPathClosed
            if ev.phase is V2gPhase.CABLECHECK:
                self.tx_condition(TxPoint.POWER_PATH_CLOSED, True)
                self._drain_events()
        else:  # pragma: no cover - exhaustive over PlcEvent
            raise ControllerUsageError(f"unknown PLC event {ev!r}")

    def _charging_needs(self, ev: EvChargingNeeds) -> None:
        """K15 (and K17 when the car renegotiates with other needs): the car's charging
        needs to the CSMS, once per statement of them; a mere SOC update is none."""
        if self._ev_needs is not None and self._ev_needs.needs() == ev.needs():
            return
        self._ev_needs = ev
        self.dialect.ev_charging_needs(ev)

    def _energy_flow(self, flow: EnergyFlow) -> None:
        """SuspendedEV / SuspendedEVSE (1.6 §4.9 StatusNotification; 2.0.1 TransactionEvent
        chargingState, trigger ChargingStateChanged). A reported fact, not a sequencing
        state: nothing in the chart depends on it, so it is data here."""
        self._plc_flow = flow
        self._update_flow()

    def _update_flow(self) -> None:
        flow = self._plc_flow
        if flow is EnergyFlow.FLOWING and self.tx is not None:
            amps, watts = self.current_caps()
            if amps < SUSPEND_CURRENT_A or watts <= 0:
                flow = EnergyFlow.SUSPENDED_EVSE  # a charging profile of 0 (K01)
        if flow is self.energy_flow:
            return
        self.energy_flow = flow
        if self.tx is not None:
            self.dialect.charging_state_changed(self.tx)
            self._queue_status()

    def _journal_meter(self, meter: Measurement) -> None:
        """Keep the open transaction's last reading on disk at METER_JOURNAL_PERIOD_NS, so a
        crash closes it with the energy actually delivered, not the last 60 s sample."""
        tx = self.tx
        if tx is None or self.now_ns - self._meter_journal_ns < METER_JOURNAL_PERIOD_NS:
            return
        self._meter_journal_ns = self.now_ns
        self.store.note_meter(tx.local_id, meter.energy_wh, self.timestamp())

    def _autocharge(self, key: str) -> None:
        token = self.cfg.autocharge_tokens.get(key)
        if token is None or self.token is not None:
            return
        if self.machine.state.startswith("preparing"):
            self._dispatch("token_presented",
                           Token(token, TokenType.MAC_ADDRESS, AuthMethod.AUTOCHARGE))

    def _fault(self, ev: PlcFault) -> None:
        key = ev.code.value
        changed = ev.active != (key in self.faults)
        if changed:  # report changes, not the 1 Hz refresh
            self.dialect.fault_event(ev)
        was_severe = any(_severe(f) for f in self.faults.values())
        if ev.active:
            self.faults[key] = ev
        else:
            self.faults.pop(key, None)
        self.fault_error_16, self.fault_vendor_16 = self._error_code_16()
        if ev.active and _severe(ev):
            self._dispatch("fault", ev)
        elif was_severe and not any(_severe(f) for f in self.faults.values()):
            self._dispatch("fault_cleared")
        elif changed:
            # 1.6 §7.7: a warning (e.g. HighTemperature while derating) is an errorCode on
            # the unchanged status; its clearing is reported as NoError the same way.
            self._queue_status()

    def _error_code_16(self) -> tuple[str, str | None]:
        """The most recent severe fault, else the most recent warning, else NoError; with
        the contract code of that fault."""
        for wanted in (True, False):
            for f in reversed(self.faults.values()):
                if _severe(f) == wanted and f.severity is not FaultSeverity.INFO:
                    return fault_mapping(f.code).error_16.value, f.code.value
        return "NoError", None

    # ================================================================== RFID reader in
    def present_token(self, id_token: str, now_ns: int,
                      token_type: TokenType = TokenType.ISO14443) -> None:
        self._advance(now_ns)
        same = self.token is not None and self.token.id_token == id_token
        state = self.machine.state
        if state == "charging" and same:
            self._dispatch("stop_requested", STOP_LOCAL)
        elif state == "charging":
            self._token_during_charging(Token(id_token, token_type, AuthMethod.EIM))
        elif state.startswith("authorized") and same:
            self._dispatch("auth_withdrawn", "token presented again")
        else:
            self._dispatch("token_presented", Token(id_token, token_type, AuthMethod.EIM))

    def _token_during_charging(self, token: Token) -> None:
        """C09 / C16 (1.6 §3.5 parentIdTag): another token may stop the transaction when
        its group is the starting token's group, or is the MasterPassGroupId. Its group
        comes from the local list or the cache, else (online) from an Authorize; offline
        and unknown, nothing happens. The group decides, not the token's status: stopping
        a charge someone of the group started takes nothing from anyone."""
        info = self.auth.lookup(token.id_token)
        if info is not None:
            self._stop_by_group(info)
        elif self.online and self.booted:
            action, payload = self.dialect.authorize(token)
            self.send_volatile(action, payload, (STOP_TOKEN_TAG, token.id_token))

    def _stop_by_group(self, info: IdInfo) -> None:
        tx = self.tx
        if tx is None or self.machine.state != "charging" or not info.parent_id:
            return
        master = self.settings.get("MasterPassGroupId") if self.settings.has(
            "MasterPassGroupId") else ""
        if master and info.parent_id == master:
            self._dispatch("stop_requested", STOP_MASTER_PASS)
        elif info.parent_id == tx.group_id:
            self._dispatch("stop_requested", STOP_LOCAL)

    def _is_master_pass(self, info: IdInfo | None) -> bool:
        """C16.FR.02: a MasterPassGroupId token starts no transaction."""
        if info is None or not self.settings.has("MasterPassGroupId"):
            return False
        master = self.settings.get("MasterPassGroupId")
        return bool(master) and info.parent_id == master

    # ================================================================== CSMS side
    def connected(self, now_ns: int) -> None:
        self._advance(now_ns)
        self.online = True
        if not self.booted:
            self._boot_due_ns = now_ns
        else:
            # 2.0.1 B04.FR.01/02: after an outage longer than OCPPCommCtrlr.OfflineThreshold
            # the status of every connector is sent again; after a shorter one only a
            # status that changed meanwhile (1.6 has no such key: always again).
            threshold = (self.settings.get_int("OfflineThreshold")
                         if self.settings.has("OfflineThreshold") else 0)
            if self._offline_since_ns is None or \
                    now_ns - self._offline_since_ns >= threshold * NS_PER_S:
                self._status_sent = None
            self._queue_status()
        self._offline_since_ns = None
        self._pump()

    def disconnected(self, now_ns: int) -> None:
        self._advance(now_ns)
        self.online = False
        self._offline_since_ns = now_ns
        # Unsent requests that something waits for get their failure now.
        for v in self.outbox.drop_volatile():
            if v.tag == AUTHORIZE_TAG:
                self._authorize_offline()
            elif v.tag is not None:
                self._other_failed(v.tag)
        self._cancel_every(self._heartbeat)
        self._heartbeat = None
        for lost in self.rpc.forget_pending():
            self._on_lost(lost)
        self.outbox.inflight = None
        self._drain_events()

    def receive_text(self, text: str, now_ns: int) -> None:
        self._advance(now_ns)
        try:
            msg = self.rpc.receive(text, now_ns)
        except CsmsProtocolError as exc:
            self.security_event(SecurityEvent.INVALID_MESSAGES,
                                f"{exc.code}: {exc.description[:200]}")
            if exc.unique_id is not None:
                self._ws_out.append(self.rpc.make_error(exc.unique_id, exc.code,
                                                        exc.description[:255]))
            elif exc.answered is not None:
                # An invalid answer counts as a failed call (retry / offline policy), never
                # as a success and never as silence that would stall the send window.
                uid, action = exc.answered
                self._on_error(IncomingError(uid, action, exc.code, exc.description))
                self._drain_events()
                self._pump()
            return
        if isinstance(msg, IncomingCall):
            self._on_call(msg)
        elif isinstance(msg, IncomingResult):
            self._on_result(msg)
        elif isinstance(msg, IncomingError):
            self._on_error(msg)
        self._drain_events()
        self._pump()

    def _on_call(self, call: IncomingCall) -> None:
        # The answer goes out before anything the call causes (1.6 §5.17 TriggerMessage,
        # 2.0.1 B07 GetBaseReport -> NotifyReport): hold the send window while handling.
        self._answering = True
        try:
            payload = self.dialect.handle_call(call.action, call.payload)
        except CsmsProtocolError as exc:
            self._ws_out.append(self.rpc.make_error(call.unique_id, exc.code, exc.description))
            return
        finally:
            self._answering = False
        self._ws_out.append(self.rpc.make_result(call.unique_id, call.action, payload))

    # ------------------------------------------------------------------ send window
    def send_volatile(self, action: str, payload: dict[str, Any], tag: object = None,
                      timeout_ns: int | None = None) -> bool:
        """Status, Authorize, Heartbeat, DataTransfer: sent now or never (not queued offline).

        `tag` comes back with the answer (or the failure) so the caller can correlate it.
        Returns False when offline (nothing queued).
        """
        if not (self.online and self.booted):
            return False
        self.outbox.add_volatile(action, payload, tag, timeout_ns)
        self._pump()
        return True

    def _enqueue_persistent(self, action: str, payload: dict[str, Any], tx: OpenTx,
                            meter: tuple[float, str] | None = None) -> None:
        self.outbox.enqueue(action, payload, tx.local_id, meter)
        self._pump()

    def enqueue_tx_message(self, action: str, payload: dict[str, Any], tx: OpenTx,
                           meter: tuple[float, str] | None = None) -> None:
        if action not in PERSISTENT_ACTIONS:
            raise ControllerUsageError(f"{action} is not a transaction message")
        self._enqueue_persistent(action, payload, tx, meter)

    def enqueue_event(self, action: str, payload: dict[str, Any]) -> None:
        """A non-transaction message that must not be lost (PERSISTENT_EVENT_ACTIONS)."""
        if action not in PERSISTENT_EVENT_ACTIONS:
            raise ControllerUsageError(f"{action} is not a persistent event message")
        self.outbox.enqueue(action, payload, None, None)
        self._pump()

    # ================================================================== security
    def security_event(self, kind: SecurityEvent, tech_info: str = "") -> None:
        """Record a security event (2.0.1 A04, 1.6 security whitepaper §2.4) and, when it
        is critical, queue its SecurityEventNotification persistently (sent once online,
        kept across restarts). Public: firmware, tamper switches, the websocket adapter
        and the clock raise the events they detect through this."""
        entry = self.security_log.record(self.timestamp(), kind, tech_info)
        if not entry.critical:
            return
        payload: dict[str, Any] = {"type": type_name(kind, self.cfg.ocpp_version),
                                   "timestamp": entry.timestamp}
        if entry.tech_info:
            payload["techInfo"] = entry.tech_info
        self.enqueue_event("SecurityEventNotification", payload)

    def clear_security_log(self) -> None:
        """Empty the security log; raises SecurityLogWasCleared (critical) right after."""
        self.security_log.clear()
        self.security_event(SecurityEvent.SECURITY_LOG_WAS_CLEARED)

    def adopt_security_profile(self, configured: int) -> None:
        """The websocket adapter's configured profile (a persisted upgrade stays)."""
        self.network.adopt(configured)
        self.settings.item("SecurityProfile").value = str(self.network.profile)

    def set_network_profile(self, connection_data: dict[str, Any]) -> str:
        """2.0.1 B09 SetNetworkProfile: never a lower profile; used from the next connection."""
        status = self.network.set_network_profile(connection_data)
        self.settings.item("SecurityProfile").value = str(self.network.profile)
        return status

    def request_certificate(self, use: LeafUse) -> bool:
        """A03: ask the CSMS to sign a new key (TriggerMessage, renewal, operator)."""
        return self.cert_lifecycle.request(use)

    def _send_csr(self, use: LeafUse, csr: str, tag: SignTag) -> bool:
        return self.dialect.sign_certificate(use, csr, tag)

    def _csr_subject(self, use: LeafUse) -> CsrSubject:
        s = self.settings
        if use is LeafUse.V2G:
            # ISO 15118-2 Annex F: SECC leaf CN = SECC ID, O = CPO, C, DC = CPO
            return CsrSubject(s.get("SeccId"), s.get("ISO15118OrganizationName"),
                              s.get("ISO15118CountryName"), "CPO")
        # 2.0.1 A02.FR.?? / whitepaper §3.3: CN = the station serial, O = CpoName
        return CsrSubject(self.cfg.serial, s.get("CpoName"))

    def _roots_for(self, use: LeafUse) -> list[object]:
        if use is LeafUse.V2G:
            return list(self.pnc.trust.roots((RootType.V2G,)))
        return list(self.station_certs.roots(StationRoot.CSMS))

    def _pump(self) -> None:
        self._maybe_restart()
        if not self.online or self.outbox.inflight is not None or self._answering:
            return
        if not self.booted:
            if self._boot_due_ns is not None and self.now_ns >= self._boot_due_ns:
                self._boot_due_ns = None
                action, payload = self.dialect.boot()
                self._send(action, payload, None)
            return
        head = self.outbox.next_message()
        if isinstance(head, Volatile):
            self._send(head.action, head.payload, None, head.tag, timeout_ns=head.timeout_ns)
        elif head is not None:
            payload = self.dialect.resolve_tx_ids(head)
            # The id derives from the row (AUTOINCREMENT never reuses one): a resend after a
            # lost answer or a crash carries the same id, so the CSMS can spot the duplicate,
            # at no extra write.
            self._send(head.action, payload, head, unique_id=f"q{head.seq}")

    def _send(self, action: str, payload: dict[str, Any], queued: QueuedMessage | None,
              tag: object = None, unique_id: str | None = None,
              timeout_ns: int | None = None) -> None:
        uid, text = self.rpc.make_call(action, payload, self.now_ns, unique_id, timeout_ns)
        self.outbox.inflight = InFlight(uid, action, queued, tag)
        self._ws_out.append(text)

    def trigger_boot(self) -> bool:
        """TriggerMessage BootNotification (2.0.1 F06): while the station is not
        registered (the CSMS answered Pending or Rejected) the next BootNotification goes
        now, after the TriggerMessage answer (the send window is held while answering),
        with reason Triggered. False once registered: F06.FR.17 Rejected."""
        if self.booted:
            return False
        self.boot_reason = "Triggered"
        self._boot_due_ns = self.now_ns
        return True

    def _on_result(self, res: IncomingResult) -> None:
        flight = self.outbox.finish(res.unique_id)
        if res.action in ("BootNotification", "Heartbeat"):
            self._adopt_csms_time(res.action, res.payload)
        if res.action == "BootNotification":
            accepted, interval_s = self.dialect.parse_boot(res.payload)
            if accepted:
                self.booted = True
                if interval_s > 0:
                    self.heartbeat_interval_s = interval_s
                self._start_heartbeat()
                self._status_sent = None
                self._queue_status()
            else:
                self._boot_due_ns = self.now_ns + round(
                    (interval_s or self.cfg.boot_retry_s) * NS_PER_S)
            return
        if flight is not None and flight.persistent is not None:
            remote = self.dialect.on_tx_result(flight.persistent, res.payload)
            self.outbox.acked(flight.persistent, remote)
            return
        tag = None if flight is None else flight.tag
        if isinstance(tag, SignTag):
            self.cert_lifecycle.on_sign_answer(tag.use, self.dialect.sign_accepted(res))
            return
        if tag == AUTHORIZE_TAG:
            self._on_authorize_answer(self.dialect.parse_authorize(res.action, res.payload))
            return
        if isinstance(tag, tuple) and tag[0] == STOP_TOKEN_TAG:
            info, _ = self.dialect.parse_authorize(res.action, res.payload)
            self.auth.cache_put(str(tag[1]), info)
            self._stop_by_group(info)
            return
        if isinstance(tag, DataTransferTag):
            tag.on_answer(parse_answer(res.payload))
            return
        self.dialect.on_other_result(res, tag)

    def _other_failed(self, tag: object) -> None:
        if isinstance(tag, tuple) and tag[0] == STOP_TOKEN_TAG:
            return  # nothing learnt: the transaction goes on
        if isinstance(tag, DataTransferTag):
            tag.on_answer(DataTransferAnswer(FAILED))
            return
        self.dialect.on_other_failed(tag)

    # ================================================================== DataTransfer
    def data_transfer(self, vendor_id: str, message_id: str | None, data: Any,
                      on_answer: Callable[[DataTransferAnswer], None], now_ns: int) -> bool:
        """P02 (1.6 §4.3): a vendor message to the CSMS, sent now (volatile: it is no
        transaction message); `on_answer` gets the CSMS's status and data, or status Failed
        (offline: at once, with False returned; CallError or no answer: later). 1.6 data is
        a string: anything else goes as its JSON text."""
        self._advance(now_ns)
        payload: dict[str, Any] = {"vendorId": vendor_id[:255]}
        if message_id is not None:
            payload["messageId"] = message_id[:50]
        if data is not None:
            payload["data"] = data if self.cfg.ocpp_version != "1.6" or isinstance(
                data, str) else json.dumps(data)
        if not self.send_volatile("DataTransfer", payload, DataTransferTag(on_answer)):
            on_answer(DataTransferAnswer(FAILED))
            return False
        return True

    def answer_data_transfer(self, p: dict[str, Any]) -> dict[str, Any]:
        """P01 (1.6 §5.6): a CSMS's DataTransfer answered from the vendor registry."""
        out = answer_incoming(self.data_transfer_handlers, p)
        if self.cfg.ocpp_version == "1.6" and "data" in out and not isinstance(out["data"], str):
            out["data"] = json.dumps(out["data"])
        return out

    def _on_error(self, err: IncomingError) -> None:
        flight = self.outbox.finish(err.unique_id)
        if err.action == "BootNotification":
            self._boot_due_ns = self.now_ns + round(self.cfg.boot_retry_s * NS_PER_S)
        elif flight is not None and flight.persistent is not None and (
                flight.persistent.action in PERSISTENT_EVENT_ACTIONS
                and err.code in UNSUPPORTED_CODES):
            # A CSMS without the security extension (many 1.6 ones) will never take it:
            # retrying would hold the transaction messages queued behind it for minutes.
            self.outbox.acked(flight.persistent, None)
        elif flight is not None and flight.persistent is not None:
            self._retry_or_drop(flight.persistent)
        elif flight is not None and flight.tag == AUTHORIZE_TAG:
            self._authorize_offline()
        elif flight is not None:
            self._other_failed(flight.tag)

    def _on_lost(self, lost: CallTimedOut) -> None:
        flight = self.outbox.finish(lost.unique_id)
        if lost.action == "BootNotification":
            self._boot_due_ns = self.now_ns + round(self.cfg.boot_retry_s * NS_PER_S)
        elif flight is not None and flight.persistent is not None and self.online:
            self._retry_or_drop(flight.persistent)
        elif flight is not None and flight.tag == AUTHORIZE_TAG:
            self._authorize_offline()
            self._drain_events()
        elif flight is not None:
            self._other_failed(flight.tag)

    def _retry_or_drop(self, msg: QueuedMessage) -> None:
        self.outbox.refused(msg, self.now_ns, self.settings.get_int("TransactionMessageAttempts"),
                            self.settings.get_int("TransactionMessageRetryInterval"))

    def _start_heartbeat(self) -> None:
        self._cancel_every(self._heartbeat)
        self._heartbeat = self._every(self.heartbeat_interval_s, self._send_heartbeat)

    def _send_heartbeat(self) -> None:
        self.send_volatile("Heartbeat", {})

    def set_heartbeat_interval(self, seconds: float) -> None:
        self.heartbeat_interval_s = seconds
        if self._heartbeat is not None:
            self._start_heartbeat()

    # ================================================================== status
    def connector_status(self) -> ConnectorStatus:
        top = self.machine.state.split(".")[0]
        status = {
            "available": ConnectorStatus.AVAILABLE,
            "preparing": ConnectorStatus.PREPARING,
            "authorizing": ConnectorStatus.PREPARING,
            "authorized": ConnectorStatus.PREPARING,
            "charging": ConnectorStatus.CHARGING,
            "finishing": ConnectorStatus.FINISHING,
            "faulted": ConnectorStatus.FAULTED,
            "unavailable": ConnectorStatus.UNAVAILABLE,
            "reserved": ConnectorStatus.RESERVED,
        }[top]
        if top == "charging":
            return _FLOW_STATUS[self.energy_flow]
        return status

    def _queue_status(self) -> None:
        if not (self.online and self.booted):
            return
        action, payload = self.dialect.status(self.connector_status(), self.fault_error_16)
        key = json.dumps({k: v for k, v in payload.items() if k != "timestamp"},
                         sort_keys=True)
        if key == self._status_sent:
            return  # 2.0.1 folds several 1.6 states into Occupied: report changes only
        self._status_sent = key
        self.send_volatile(action, payload)

    def report_status(self) -> None:
        if self.scheduled_unavailable and self.machine.state == "available":
            return  # passing through on the way to Unavailable (ChangeAvailability Scheduled)
        self._queue_status()

    # ================================================================== authorization
    def begin_authorization(self, token: Token) -> None:
        self.token = token
        self.auth_offline = False
        if self.ev_present:
            # contract ctrl.auth_context "when the controller learns the token": the PLC
            # then answers Ongoing (token being checked) instead of
            # Ongoing_WaitingForCustomerInteraction (nobody has acted yet).
            self.send_auth_context()
        self.contract_check = None
        if token.method is AuthMethod.PNC:
            # Verified against the trust store first, online or not. A chain whose only
            # fault is an unknown root goes to the CSMS when it may validate centrally
            # (2.0.1 C07 CentralContractValidationAllowed); offline it is refused.
            check = self.pnc.check(token.chain_der, self.unix_s())
            central = (check.unknown_root and self.online and self.booted
                       and self.settings.get_bool("CentralContractValidationAllowed"))
            if not check.accepted and not central:
                self._plc_out.append(PncAuthorizationResponseCmd(token.pnc_request_id or 0,
                                                                 check.status))
                self.post_event("auth_rejected", f"contract {check.status.value}")
                return
            self.contract_check = check
        pre = self.auth.pre_authorize(token.id_token, self.unix_s())
        if pre is not None:
            self._verdict(pre)
            return
        if self.online and self.booted:
            action, payload = self.dialect.authorize(token)
            self.send_volatile(action, payload, AUTHORIZE_TAG)
            if token.method is AuthMethod.PNC and self.contract_check is not None:
                self._refresh_ocsp(token, self.contract_check)
            return
        self._authorize_offline()

    def _refresh_ocsp(self, token: Token, check: ChainCheck) -> None:
        """GetCertificateStatus (2.0.1 M06; 1.6 DataTransfer) for each certificate of an
        anchored chain: the answers fill the OCSP cache the offline policy relies on."""
        if not check.accepted:
            return
        for data, tag in self.pnc.ocsp_requests(token.chain_der, check.root):
            self.dialect.certificate_status(data, tag)

    def _authorize_offline(self) -> None:
        token = self.token
        if token is None:
            return
        if token.method is AuthMethod.PNC:
            v = self.pnc.offline(token.chain_der, self.unix_s(),
                                 self.settings.get_bool("ContractValidationOffline"))
            if not v.accepted and v.certificate_status is not None:
                self._plc_out.append(PncAuthorizationResponseCmd(token.pnc_request_id or 0,
                                                                 v.certificate_status))
            self._verdict(Verdict(v.accepted, True, "pnc_offline" if v.accepted else "rejected"))
            return
        self._verdict(self.auth.decide_offline(token.id_token, self.unix_s()))

    def _on_authorize_answer(self, answer: tuple[IdInfo, ContractCertificateStatus | None]) -> None:
        info, cert = answer
        token = self.token
        if token is None:
            return
        if token.method is not AuthMethod.PNC:
            self.auth.cache_put(token.id_token, info)
        ok = info.accepted_at(self.unix_s()) and cert in (None,
                                                          ContractCertificateStatus.ACCEPTED)
        if token.method is AuthMethod.PNC:
            self._plc_out.append(PncAuthorizationResponseCmd(
                token.pnc_request_id or 0,
                cert or (ContractCertificateStatus.ACCEPTED if ok
                         else ContractCertificateStatus.CONTRACT_CANCELLED)))
        self._verdict(Verdict(ok, False, "csms", info))

    def _verdict(self, verdict: Verdict) -> None:
        if verdict.accepted and self._is_master_pass(verdict.info):
            verdict = Verdict(False, verdict.offline, "master_pass", verdict.info)
        if self.token is not None:
            self._auth_group = (self.token.id_token,
                                verdict.info.parent_id if verdict.info is not None else "")
        self.auth_offline = verdict.offline
        if verdict.accepted and verdict.offline and self.token is not None and (
            self.token.method is AuthMethod.PNC
        ):
            self._plc_out.append(PncAuthorizationResponseCmd(
                self.token.pnc_request_id or 0, ContractCertificateStatus.ACCEPTED))
        self.post_event("auth_accepted" if verdict.accepted else "auth_rejected",
                        verdict.source)

    def emit(self, command: PlcCommand) -> None:
        self._plc_out.append(command)

    def send_auth(self, status: AuthStatus, reason: str = "") -> None:
        self._plc_out.append(AuthStatusCmd(status, reason))

    def answer_contract(self, token: Token, status: ContractCertificateStatus) -> None:
        """ctrl.pnc_authorization_response for the car's contract request."""
        self._plc_out.append(PncAuthorizationResponseCmd(token.pnc_request_id or 0, status))

    def send_auth_context(self) -> None:
        if self.token is None:
            return
        self._plc_out.append(AuthContextCmd(self.token.method, self.token.id_token,
                                            self.token.token_type, self.auth_offline))

    def session_command(self, command: SessionCommandKind, reason: str = "") -> None:
        self._plc_out.append(SessionCommandCmd(command, reason))

    # ================================================================== remote control
    def remote_start(self, token: Token, profile: dict[str, Any] | None) -> bool:
        state = self.machine.state
        if not (state == "available" or state.startswith(("preparing", "reserved"))):
            return False
        if self.reservation is not None and not self.reservation.matches(token.id_token):
            return False  # H03: a reserved EVSE starts only for its token
        if profile is not None:
            self.dialect.install_profile(self.cfg.connector_id, profile)
        if self.settings.get_bool("AuthorizeRemoteTxRequests"):
            self.post_event("token_presented", token)
        else:
            self.post_event("remote_start", token)
        return True

    def remote_stop(self, remote_tx_id: str) -> bool:
        if self.tx is None:
            return False
        if str(self.tx.remote_id or self.dialect.tx_id(self.tx)) != remote_tx_id:
            return False
        if self.machine.state != "charging":
            # a transaction open before or after the energy transfer (TxStartPoint /
            # TxStopPoint other than EnergyTransfer): it ends now, the authorization too
            self.note_stop(STOP_REMOTE)
            self.end_transaction()
            self.post_event("auth_withdrawn", "remote stop")
            return True
        self.post_event("stop_requested", STOP_REMOTE)
        return True

    def change_availability(self, operative: bool) -> str:
        state = self.machine.state
        if operative:
            self.scheduled_unavailable = False
            if state == "unavailable":
                self.post_event("make_available")
            return "Accepted"
        if state == "available" or state.startswith("reserved"):
            # a reservation ends with it (1.6 §5.13; 2.0.1 ReservationStatusUpdate Removed)
            self.post_event("make_unavailable")
            return "Accepted"
        if state == "unavailable":
            return "Accepted"
        self.scheduled_unavailable = True
        if state.startswith("authorized"):
            self.post_event("auth_withdrawn", "connector made unavailable")
        return "Scheduled"

    def schedule_reset(self, kind: str) -> None:
        """2.0.1 B12 OnIdle with a transaction: restart once it has ended."""
        self.reset_requested = kind
        self._restart_pending = kind
        self._pump()

    def _maybe_restart(self) -> None:
        """B11/B12, 1.6 Reset: ask the service manager for the restart once no transaction
        runs and (online) its last message reached the CSMS; offline it waits in the store
        and goes out after the restart."""
        kind = self._restart_pending
        if kind is None or self.tx is not None:
            return
        if self.online and self.booted and (self.outbox.inflight is not None
                                            or self.store.head() is not None):
            return
        self._restart_pending = None
        self._host_out.append(RestartRequest(kind))

    def reset(self, kind: str, stop: TxStop) -> None:
        """OCPP Reset (1.6 Soft/Hard, 2.0.1 Immediate; OnIdle once idle): a running
        transaction stops with the reset's reason, and while a PLC fault is active the PLC
        is told RESET_FAULT, which clears latched faults whose cause is gone (an operator's
        reset of a Faulted connector). Restarting the process is the service manager's job."""
        self.stop_for(stop)
        self.reset_requested = kind
        self._restart_pending = kind
        self.security_event(SecurityEvent.RESET_OR_REBOOT, f"OCPP Reset {kind}")
        if self.faults:
            self.session_command(SessionCommandKind.RESET_FAULT, f"OCPP Reset {kind}")

    # ================================================================== reservations
    def reserve(self, res: Reservation) -> str:
        """ReserveNow (2.0.1 H01, 1.6 §5.13): the chart takes it (state `reserved`) or the
        answer follows from the connector's status (Occupied / Faulted / Unavailable)."""
        if res.expiry_unix_s <= self.unix_s():
            return "Rejected"
        self._reserve_answer = None
        self._dispatch("reserve_requested", res)
        return self._reserve_answer or REFUSAL[self.connector_status()]

    def take_reservation(self, res: Reservation) -> None:
        """Chart action: hold the EVSE for `res` (a same-id ReserveNow replaces it) and arm
        its expiry on the controller's timer service (H04)."""
        self._cancel_reservation_timer()
        self.reservation = res
        self._reserve_answer = "Accepted"
        self.store.put(RESERVATION_KEY, json.dumps(
            [res.reservation_id, res.id_token, res.expiry_unix_s, res.group_token]))
        self._arm_reservation_expiry(res)

    def _arm_reservation_expiry(self, res: Reservation) -> None:
        self._cancel_reservation_timer()
        delay_ns = res.expiry_unix_s * NS_PER_S - self.unix_ns()
        self._reservation_timer = self._timers.start_timer(
            max(0, delay_ns), self._reservation_expired, "reservation_expiry")

    def _restore_reservation(self) -> None:
        """H01 across a restart: a reservation the last process held is held again (the
        chart takes it as a new ReserveNow) until its expiry; one that expired while the
        station was down is dropped (its ReservationStatusUpdate Expired cannot be sent
        before the CSMS is reached, and it is volatile)."""
        raw = self.store.get(RESERVATION_KEY)
        if not raw:
            return
        try:
            rid, token, expiry, group = json.loads(raw)
            res = Reservation(int(rid), str(token), int(expiry), str(group))
        except (ValueError, TypeError):
            self.store.put(RESERVATION_KEY, "")  # unreadable: not a reservation
            return
        if res.expiry_unix_s <= self.unix_s():
            self.store.put(RESERVATION_KEY, "")
            return
        self.post_event("reserve_requested", res)

    def _reservation_expired(self, now_ns: int) -> None:
        res = self.reservation
        if res is None:
            return
        self.store.put(RESERVATION_KEY, "")
        self.reservation = None
        self._reservation_timer = None
        self.dialect.reservation_update(res.reservation_id, "Expired")
        self.post_event("reservation_ended", "Expired")

    def cancel_reservation(self, reservation_id: int) -> bool:
        """CancelReservation (H02): Accepted only for the reservation we hold."""
        res = self.reservation
        if res is None or res.reservation_id != reservation_id:
            return False
        self.store.put(RESERVATION_KEY, "")
        self.reservation = None
        self._cancel_reservation_timer()
        self.post_event("reservation_ended", "Cancelled")
        return True

    def use_reservation(self) -> None:
        """Chart action: the reserved token arrived (H03); the reservation ends and its id
        goes into the transaction's first message."""
        res = self.reservation
        if res is not None:
            self.reservation_used = res.reservation_id
            self.store.put(RESERVATION_KEY, "")
        self.reservation = None
        self._cancel_reservation_timer()

    def release_reservation(self) -> None:
        """Exit of `reserved`: a reservation still held here ends for another reason (a
        fault, ChangeAvailability): 2.0.1 ReservationStatusUpdate Removed."""
        res = self.reservation
        self.reservation = None
        self._cancel_reservation_timer()
        if res is not None:
            self.store.put(RESERVATION_KEY, "")
            self.dialect.reservation_update(res.reservation_id, "Removed")

    def _cancel_reservation_timer(self) -> None:
        if self._reservation_timer is not None:
            self._timers.cancel_timer(self._reservation_timer)
            self._reservation_timer = None

    def stop_for(self, stop: TxStop) -> bool:
        """Reset / UnlockConnector during a transaction: graceful stop with that reason."""
        if self.machine.state != "charging":
            return False
        self.post_event("stop_requested", stop)
        return True

    # ================================================================== transaction
    def tx_points(self, name: str) -> frozenset[TxPoint]:
        """TxStartPoint / TxStopPoint now (2.0.1, SetVariables may change them); 1.6 and
        anything unreadable: EnergyTransfer."""
        text = str(self.settings.get(name)) if self.settings.has(name) else ""
        return parse_points(text) or frozenset({TxPoint.ENERGY_TRANSFER})

    def tx_condition(self, point: TxPoint, true: bool) -> None:
        """E01/E06: a TxStartPoint/TxStopPoint condition became true or false. The
        transaction starts at the first configured start point reached and ends as soon
        as a configured stop point's condition is no longer true; in between, a point
        reached is reported (Updated: Authorized with the idToken, CablePluggedIn,
        ChargingStateChanged)."""
        if true:
            if point in self._tx_conditions:
                return
            self._tx_conditions.add(point)
            tx = self.tx
            if tx is None:
                if point in self.tx_points("TxStartPoint"):
                    self.start_transaction(point)
            else:
                if point is TxPoint.AUTHORIZED and self.token is not None:
                    tx.token = self.token
                    if self._auth_group[0] == self.token.id_token:
                        tx.group_id = self._auth_group[1]
                    if self.reservation_used is not None and tx.reservation_id is None:
                        # H01/H03 with TxStartPoint EVConnected: the transaction opened at
                        # the plug-in, before the reserved token used the reservation up;
                        # its id goes with the event that brings the token
                        tx.reservation_id = self.reservation_used
                        self.reservation_used = None
                self.dialect.tx_point_reached(tx, point)
            return
        if point not in self._tx_conditions:
            return
        self._tx_conditions.discard(point)
        if self.tx is not None and point in self.tx_points("TxStopPoint"):
            self.end_transaction()

    def start_transaction(self, point: TxPoint = TxPoint.ENERGY_TRANSFER) -> None:
        token = self.token if TxPoint.AUTHORIZED in self._tx_conditions else None
        if token is None and point is TxPoint.ENERGY_TRANSFER:
            raise ControllerUsageError("power delivery without a token")
        meter_wh = self.meter.energy_wh if self.meter is not None else 0.0
        local_id = self.store.open_tx(self.cfg.connector_id,
                                      token.id_token if token is not None else "",
                                      meter_wh, self.timestamp())
        self.energy_flow = self._plc_flow = EnergyFlow.FLOWING
        self.tx = OpenTx(local_id, token, self.unix_s(), meter_wh,
                         reservation_id=self.reservation_used,
                         group_id=self._auth_group[1] if token is not None
                         and self._auth_group[0] == token.id_token else "",
                         start_point=point.value)
        self.reservation_used = None
        self.tx_stop = None
        self._rate_reported = self.current_caps()
        action, payload = self.dialect.tx_start(self.tx)
        self.enqueue_tx_message(action, payload, self.tx)
        # the periodic samples are due from the transaction's start, whichever start point
        # opened it (2.0.1 J02 SampledDataCtrlr.TxUpdatedInterval; 1.6 §9.1
        # MeterValueSampleInterval), not only while the energy flows
        self._start_metering()
        self._publish_limits(renegotiate=False)

    def note_stop(self, stop: TxStop) -> None:
        """The first recorded reason wins: it names who started the stop."""
        if self.tx_stop is None:
            self.tx_stop = stop

    def note_plc_stop(self, reason: StopReason) -> None:
        if reason is StopReason.CONTROLLER_STOP_GRACEFUL and self.tx_stop is not None:
            return
        m = stop_mapping(reason)
        self.note_stop(TxStop(m.reason_16, m.reason_201, m.trigger_201))

    def note_fault(self, fault: PlcFault) -> None:
        m = fault_mapping(fault.code)
        self.note_stop(TxStop(m.reason_16, m.reason_201, m.trigger_201))

    def end_transaction(self) -> None:
        tx = self.tx
        if tx is None:
            return
        stop = self.tx_stop or (STOP_OTHER if self.ev_present else STOP_EV_DISCONNECTED)
        meter_wh = self.meter.energy_wh if self.meter is not None else tx.meter_start_wh
        action, payload = self.dialect.tx_stop(tx, stop, meter_wh, self.timestamp())
        self.enqueue_tx_message(action, payload, tx)
        self.store.close_tx(tx.local_id)
        self._stop_metering()
        self.tx = None
        self._tx_ended = True
        self.energy_flow = self._plc_flow = EnergyFlow.FLOWING
        self.profiles.drop_tx_profiles()

    def deauthorized_stop(self) -> None:
        self.note_stop(STOP_DEAUTHORIZED)
        self.session_command(SessionCommandKind.STOP_GRACEFUL, "deauthorized")

    def tx_deauthorized(self) -> None:
        """StartTransaction.conf / TransactionEvent said the token is not valid."""
        if self.settings.get_bool("StopTransactionOnInvalidId"):
            self.post_event("auth_withdrawn", "CSMS rejected the token of the transaction")

    # ================================================================== metering
    @property
    def energy_transfer(self) -> bool:
        """The energy transfer is on (TxStartPoint EnergyTransfer reached, not over yet):
        a transaction's chargingState is Charging / Suspended* only then (2.0.1 E01-E03)."""
        return TxPoint.ENERGY_TRANSFER in self._tx_conditions

    def _start_metering(self) -> None:
        self._stop_metering()
        interval = self.settings.get_int("MeterValueSampleInterval")
        if interval > 0:
            self._meter_timer = self._every(interval, lambda: self._sample("Sample.Periodic"))

    def sample_interval_changed(self, _value: str = "") -> None:
        """MeterValueSampleInterval / SampledDataCtrlr.TxUpdatedInterval changed (1.6
        ChangeConfiguration, 2.0.1 SetVariables): a running transaction samples at the new
        interval from now on, not only the next transaction (0 stops its samples)."""
        if self.tx is not None:
            self._start_metering()

    def clock_aligned_changed(self, _value: str = "") -> None:
        """(Re)arm the clock-aligned sampling on the ClockAlignedDataInterval boundaries
        (1.6 §9.1.4 / 2.0.1 AlignedDataCtrlr.Interval; 0 = off). It runs whether or not a
        transaction does: inside one the sample is a transaction message (J02), outside it
        a MeterValues of the EVSE (2.0.1 J01)."""
        if self._clock_timer is not None:
            self._timers.cancel_timer(self._clock_timer)
            self._clock_timer = None
        aligned_s = self.settings.get_int("ClockAlignedDataInterval")
        if aligned_s <= 0:
            return
        unix_ns = self.unix_ns()
        period_ns = aligned_s * NS_PER_S
        delay = period_ns - unix_ns % period_ns

        def fire(now_ns: int) -> None:
            self._clock_timer = self._timers.start_timer(period_ns, fire, "clock_aligned")
            self._sample_aligned()

        self._clock_timer = self._timers.start_timer(delay, fire, "clock_aligned")

    def _sample_aligned(self) -> None:
        if self.tx is not None:
            self._sample("Sample.Clock")
            return
        meter = self.meter
        if meter is None:
            return  # never an invented value
        action, payload = self.dialect.idle_meter(meter, self.timestamp())
        self.send_volatile(action, payload)

    def _stop_metering(self) -> None:
        self._cancel_every(self._meter_timer)
        self._meter_timer = None

    def _sample(self, context: str) -> None:
        tx = self.tx
        meter = self.meter
        if tx is None or meter is None:
            return  # never an invented value (contract meas.dc_output fallback)
        ts = self.timestamp()
        action, payload = self.dialect.tx_meter(tx, meter, context, ts)
        self.enqueue_tx_message(action, payload, tx, (meter.energy_wh, ts))

    # ================================================================== limits / schedule
    def _publish_limits_tick(self) -> None:
        if self.ev_present:
            self._publish_limits(renegotiate=False, schedule=False)

    def profiles_changed(self) -> None:
        self._update_flow()
        if self.ev_present:
            self._publish_limits(renegotiate=self.machine.state == "charging")

    def set_external_limit(self, limit: ExternalLimit, now_ns: int) -> None:
        """K11/K12: an energy-management system or the grid operator limits the station
        (the host's input; no contract signal carries one). It becomes a
        ChargingStationExternalConstraints profile that caps the limits and the schedule
        like ChargingStationMaxProfile, is reported with NotifyChargingLimit (with its
        schedule) and, when it changes the limit of a running transaction, with a
        TransactionEvent ChargingRateChanged (K11). 1.6 has no such messages: the limit
        still applies."""
        self._advance(now_ns)
        if limit.evse_id not in (0, self.cfg.connector_id):
            raise ControllerUsageError(f"no EVSE {limit.evse_id}")
        before = self.current_caps()
        raw = limit.profile_201(self.timestamp())
        held = self.profiles.profiles.get(limit.profile_id)
        if held is None or len(limit.periods) > 1 or (held.unit, held.periods,
                                                      held.connector_id) != (
                limit.unit, limit.periods, limit.evse_id):
            # a restated flat limit keeps its profile (no store write every second); a
            # schedule restarts: its periods count from now
            self.profiles.install(profile_from_201(limit.evse_id, raw,
                                                   source=limit.source.value))
        first = (limit.unit, limit.periods[0].limit, len(limit.periods))
        last = self._notified_limits.get(limit.source)
        if last is None or last[0] != first[0] or last[2] != first[2] or _significant(
                _change_pct(last[1], first[1]), self._limit_significance_pct()):
            self._notified_limits[limit.source] = first
            self.dialect.charging_limit_set(limit, raw["chargingSchedule"][0])
        self._external_changed(before)

    def apply_ems(self, cmd: EmsCommand, now_ns: int) -> None:
        """The station's external-limit input (`ems:`, evse/runtime/ems_input.py): set or
        release the limit of the command's source (K11-K13)."""
        limit = cmd.external_limit()
        if limit is None:
            self.clear_external_limit(cmd.source, now_ns)
        else:
            self.set_external_limit(limit, now_ns)

    def clear_external_limit(self, source: LimitSource, now_ns: int) -> bool:
        """K13: the external system released its limit: ClearedChargingLimit, and
        ChargingRateChanged when a transaction's limit rises. False: none was set."""
        self._advance(now_ns)
        gone = [p for p in self.profiles.profiles.values()
                if p.purpose is Purpose.EXTERNAL and p.source == source.value]
        if not gone:
            return False
        before = self.current_caps()
        self.profiles.clear(profile_id=gone[0].profile_id, external=True)
        self._notified_limits.pop(source, None)
        self.dialect.charging_limit_cleared(source, gone[0].connector_id)
        self._external_changed(before)
        return True

    def _limit_significance_pct(self) -> float:
        """2.0.1 SmartChargingCtrlr.LimitChangeSignificance (percent; 0 = every change)."""
        if not self.settings.has("LimitChangeSignificance"):
            return 0.0
        return float(self.settings.get("LimitChangeSignificance"))

    def _external_changed(self, before: tuple[float, float]) -> None:
        """K11: a running transaction's limit changed by more than LimitChangeSignificance
        since the last ChargingRateChanged (or its start): report it. Smaller steps add
        up: the reference is the last reported limit, not the previous one."""
        self.profiles_changed()
        tx = self.tx
        if tx is not None:
            after = self.current_caps()
            ref = self._rate_reported or before
            change = max(_change_pct(ref[0], after[0]), _change_pct(ref[1], after[1]))
            if _significant(change, self._limit_significance_pct()):
                self._rate_reported = after
                self.dialect.charging_rate_changed(tx)
        self._drain_events()
        self._pump()

    def current_caps(self) -> tuple[float, float]:
        tx = self.tx
        caps = self.profiles.caps_at(self.unix_s(), tx.start_unix_s if tx else None,
                                     self.dialect.tx_id(tx) if tx else None)
        amps = self.cfg.max_current_a if caps.current_a is None else min(
            self.cfg.max_current_a, caps.current_a)
        watts = self.cfg.max_power_w if caps.power_w is None else min(
            self.cfg.max_power_w, caps.power_w)
        return amps, watts

    def _publish_limits(self, *, renegotiate: bool, schedule: bool = True) -> None:
        amps, watts = self.current_caps()
        derated = amps < self.cfg.max_current_a or watts < self.cfg.max_power_w
        self._plc_out.append(EvseLimitsCmd(
            self.cfg.max_voltage_v, amps, watts, self.cfg.min_current_a,
            self.cfg.limits_validity_ms,
            DeratingReason.OCPP_PROFILE if derated else DeratingReason.NONE))
        if schedule:
            self._plc_out.append(self.schedule(renegotiate))

    def schedule(self, renegotiate: bool) -> ScheduleCmd:
        tx = self.tx
        periods = self.profiles.composite(self.unix_s(), SCHEDULE_HORIZON_S,
                                          tx.start_unix_s if tx else self.unix_s(),
                                          self.dialect.tx_id(tx) if tx else None)
        entries = []
        for p in periods[:1024]:  # ISO 15118-2: at most 1024 PMaxScheduleEntry
            watts = self.cfg.max_power_w if p.power_w is None else min(p.power_w,
                                                                       self.cfg.max_power_w)
            amps = None if p.current_a is None else min(p.current_a, self.cfg.max_current_a)
            entries.append(ScheduleEntry(p.start_s, watts, amps))
        now_s = self.unix_s()
        last = self._last_schedule
        changed = last is None or not same_schedule(last[0], last[1], now_s, entries)
        if changed:
            # a new id only for a new value: the SAScheduleTupleID the car holds stays valid
            self._schedule_id = self._schedule_id % 255 + 1
            self._last_schedule = (now_s, tuple(entries))
        return ScheduleCmd(self._schedule_id, tuple(entries), renegotiate and changed)

    def publish_session_start(self) -> None:
        self._publish_limits(renegotiate=False)


_FLOW_STATUS = {EnergyFlow.FLOWING: ConnectorStatus.CHARGING,
                EnergyFlow.SUSPENDED_EV: ConnectorStatus.SUSPENDED_EV,
                EnergyFlow.SUSPENDED_EVSE: ConnectorStatus.SUSPENDED_EVSE}


def _change_pct(old: float, new: float) -> float:
    """Relative change in percent (from 0: any rise is 100 %)."""
    if old == new:
        return 0.0
    return abs(new - old) / old * 100.0 if old > 0 else 100.0


def _significant(change_pct: float, significance_pct: float) -> bool:
    """LimitChangeSignificance: a change at least this large is reported; none never is."""
    return change_pct > 0 and change_pct >= significance_pct


def _severe(fault: PlcFault) -> bool:
    return fault.severity in (FaultSeverity.ERROR, FaultSeverity.CRITICAL)
