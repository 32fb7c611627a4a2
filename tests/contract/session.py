"""A scripted DC session on each side of the contract, runnable on any transport.

`MiniController` answers the way the OCPP controller will; the behavioural contract tests
(tests/contract/test_station_contract.py) run it against the real station's PLC side.

`MiniPlc` is a scripted PLC, not the one we ship. It is kept only for the transport tests
on the real clock (test_unix_socket.py: Unix socket and a pty as UART; test_two_processes.py:
the controller in its own OS process), which test the byte stream, reconnects and process
restarts, not what the PLC publishes: a whole real station there would turn second-long
real-time tests into minute-long, load-sensitive ones (tests/station/test_two_process.py
already runs the real station in two processes). Both are sans-IO (`tick(now_ns)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evse.contract.events import ContractPort, LinkUp, PeerRestarted, PortEvent, SignalReceived
from evse.contract.guard import AuthDecision, HardwareRating, PlcContractGuard
from evse.contract.values import (
    AuthStatus,
    CpState,
    CtrlAuthStatus,
    CtrlEvseLimitsDynamic,
    CtrlOcppErrorMapping,
    CtrlSchedule,
    EvErrorCode,
    FaultCode,
    IsolationStatus,
    MeasDcOutput,
    OcppErrorMapEntry,
    PaymentOption,
    PlcAuthRequest,
    PlcCpState,
    PlcEvccid,
    PlcEvLimits,
    PlcEvMac,
    PlcEvPresent,
    PlcEvRequest,
    PlcPowerSetpoint,
    PlcSessionEvent,
    PlcV2gPhase,
    RequestSource,
    ScheduleEntry,
    SessionEventKind,
    SignalValue,
    StopReason,
    V2gPhase,
    V2gProtocol,
)
from evse.power.current_loop import clamp_request
from evse.power.types import EvRequest

MS = 1_000_000
S = 1_000_000_000
HW = HardwareRating(max_voltage_v=920.0, max_current_a=500.0, max_power_w=300_000.0)
EV_TARGET_V = 400.0
EV_TARGET_A = 250.0


@dataclass(frozen=True)
class Timing:
    slac_ns: int
    setup_ns: int
    cable_check_ns: int
    precharge_ns: int
    charge_ns: int
    cadence_ns: int  # CurrentDemand request period
    limits_period_ns: int
    limits_validity_ms: int
    auth_delay_ns: int


VIRTUAL = Timing(slac_ns=2 * S, setup_ns=1 * S, cable_check_ns=4 * S, precharge_ns=2 * S,
                 charge_ns=30 * S, cadence_ns=100 * MS, limits_period_ns=500 * MS,
                 limits_validity_ms=2000, auth_delay_ns=3 * S)
FAST = Timing(slac_ns=20 * MS, setup_ns=10 * MS, cable_check_ns=40 * MS, precharge_ns=20 * MS,
              charge_ns=600 * MS, cadence_ns=10 * MS, limits_period_ns=100 * MS,
              limits_validity_ms=2000, auth_delay_ns=30 * MS)


@dataclass
class MiniPlc:
    port: ContractPort
    timing: Timing
    guard: PlcContractGuard = field(default_factory=lambda: PlcContractGuard(HW))
    phase: V2gPhase = V2gPhase.IDLE
    step: str = "plug"
    wake_ns: int = 0
    charge_end_ns: int = 0
    last_heartbeat_ns: int = -S
    setpoints_a: list[float] = field(default_factory=list)
    stop_reason: StopReason | None = None
    charge_start_ns: int | None = None
    end_ns: int | None = None
    done: bool = False
    received: list[SignalValue] = field(default_factory=list)
    link_events: list[PortEvent] = field(default_factory=list)

    def _pub(self, value: SignalValue, now: int) -> None:
        self.port.publish(value, now)

    def _enter(self, phase: V2gPhase, now: int) -> None:
        self.phase = phase
        self.guard.set_phase(phase, now)
        self._pub(PlcV2gPhase(phase=phase, protocol=V2gProtocol.ISO15118_2), now)
        self.last_heartbeat_ns = now

    def _event(self, kind: SessionEventKind, now: int, reason: StopReason | None = None) -> None:
        self._pub(PlcSessionEvent(event=kind, session_id="0A0B0C0D", stop_reason=reason), now)

    def next_wakeup_ns(self) -> int | None:
        if self.done:
            return None
        guard_deadline = self.guard.next_deadline_ns()
        candidates = [self.wake_ns, self.last_heartbeat_ns + S]
        if guard_deadline is not None:
            candidates.append(guard_deadline)
        return min(candidates)

    def tick(self, now: int) -> None:
        for ev in self.port.poll(now):
            self.guard.on_event(ev, now)
            if isinstance(ev, SignalReceived):
                self.received.append(ev.value)
            else:
                self.link_events.append(ev)
        self.guard.handle_timer(now)
        if self.done:
            return
        if now >= self.last_heartbeat_ns + S:  # plc.v2g_phase heartbeat, 1 Hz
            self._pub(PlcV2gPhase(phase=self.phase, protocol=V2gProtocol.ISO15118_2), now)
            self.last_heartbeat_ns = now
        if now >= self.wake_ns:
            self._advance(now)

    def _advance(self, now: int) -> None:
        t = self.timing
        if self.step == "plug":
            self.guard.reset_session(now)
            self._pub(PlcCpState(state=CpState.B1), now)
            self._pub(PlcEvPresent(present=True, connector_id=1), now)
            self._event(SessionEventKind.EV_PLUGGED, now)
            self._enter(V2gPhase.SLAC, now)
            self.step, self.wake_ns = "slac", now + t.slac_ns
        elif self.step == "slac":
            self._pub(PlcEvMac(mac="02:00:00:AA:BB:CC"), now)
            self._event(SessionEventKind.SLAC_MATCHED, now)
            self._enter(V2gPhase.SESSION_SETUP, now)
            self.step, self.wake_ns = "setup", now + t.setup_ns
        elif self.step == "setup":
            self._pub(PlcEvccid(evccid="0200AABBCC01", protocol=V2gProtocol.ISO15118_2), now)
            self._event(SessionEventKind.SESSION_SETUP, now)
            self._enter(V2gPhase.AUTH, now)
            self._pub(PlcAuthRequest(payment_option=PaymentOption.EIM), now)
            self.guard.auth_requested(PaymentOption.EIM, now)
            self.step, self.wake_ns = "auth", now
        elif self.step == "auth":
            decision = self.guard.auth_decision(now)
            if decision is AuthDecision.ACCEPTED:
                self._enter(V2gPhase.CPD, now)
                self._pub(PlcEvLimits(ev_max_voltage_v=450.0, ev_max_current_a=300.0,
                                      soc_pct=20), now)
                self.step, self.wake_ns = "cpd", now + t.setup_ns
            elif decision is AuthDecision.ONGOING:
                self.wake_ns = now + t.cadence_ns  # AuthorizationRes Ongoing; EV asks again
            else:
                self._end(now, self.guard.stop_reason or StopReason.AUTH_REJECTED)
        elif self.step == "cpd":
            schedule = self.guard.schedule(now)  # controller's or the hardware default
            assert schedule.entries and self.guard.cpd_limits().max_power_w > 0
            self._enter(V2gPhase.CABLECHECK, now)
            self.step, self.wake_ns = "cablecheck", now + t.cable_check_ns
        elif self.step == "cablecheck":
            self._enter(V2gPhase.PRECHARGE, now)
            self._pub(PlcEvRequest(source=RequestSource.PRE_CHARGE, target_voltage_v=EV_TARGET_V,
                                   target_current_a=2.0, charge_complete=False, soc_pct=20,
                                   ev_ready=True, ev_error_code=EvErrorCode.NO_ERROR), now)
            self.step, self.wake_ns = "precharge", now + t.precharge_ns
        elif self.step == "precharge":
            self._enter(V2gPhase.POWERDELIVERY, now)
            self._event(SessionEventKind.POWER_DELIVERY_START, now)
            self._enter(V2gPhase.CURRENTDEMAND, now)
            self.charge_end_ns = now + t.charge_ns
            self.charge_start_ns = now
            self.step, self.wake_ns = "charge", now
        elif self.step == "charge":
            stop = self.guard.stop_request(now)
            limits = self.guard.effective_limits(now)
            current_a = clamp_request(EvRequest(EV_TARGET_V, EV_TARGET_A), limits,
                                      EV_TARGET_V).current_a
            self.setpoints_a.append(current_a)
            self._pub(PlcEvRequest(source=RequestSource.CURRENT_DEMAND,
                                   target_voltage_v=EV_TARGET_V, target_current_a=EV_TARGET_A,
                                   charge_complete=False, soc_pct=50, ev_ready=True,
                                   ev_error_code=EvErrorCode.NO_ERROR), now)
            self._pub(PlcPowerSetpoint(voltage_setpoint_v=EV_TARGET_V,
                                       current_setpoint_a=current_a, enable_output=True), now)
            self._pub(MeasDcOutput(present_voltage_v=EV_TARGET_V, present_current_a=current_a,
                                   energy_wh=len(self.setpoints_a) * 1.0,
                                   isolation_status=IsolationStatus.VALID), now)
            if stop is not None:
                self._end(now, stop.reason)
            elif now >= self.charge_end_ns:
                self._end(now, StopReason.EV_REQUESTED)
            else:
                self.wake_ns = now + t.cadence_ns

    def _end(self, now: int, reason: StopReason) -> None:
        self.stop_reason = reason
        self.end_ns = now
        if self.phase is V2gPhase.CURRENTDEMAND:
            self._enter(V2gPhase.POWERDELIVERY, now)
            self._pub(PlcPowerSetpoint(voltage_setpoint_v=0.0, current_setpoint_a=0.0,
                                       enable_output=False), now)
            self._event(SessionEventKind.POWER_DELIVERY_STOP, now, reason)
        self.guard.stop_completed(now)
        self._enter(V2gPhase.SESSION_STOP, now)
        self._event(SessionEventKind.SESSION_STOPPED, now, reason)
        self._pub(PlcCpState(state=CpState.A1), now)
        self._pub(PlcEvPresent(present=False, connector_id=1), now)
        self._event(SessionEventKind.EV_UNPLUGGED, now)
        self._enter(V2gPhase.IDLE, now)
        self.done = True


@dataclass
class MiniController:
    port: ContractPort
    timing: Timing
    alive: bool = True  # False: the process hangs (publishes nothing)
    accept_auth: bool = True
    next_limits_ns: int = 0
    auth_at_ns: int | None = None
    received: list[SignalValue] = field(default_factory=list)
    events: list[PortEvent] = field(default_factory=list)
    limits_sent_ns: list[int] = field(default_factory=list)

    def session_events(self) -> list[tuple[SessionEventKind, StopReason | None]]:
        return [(v.event, v.stop_reason) for v in self.received
                if isinstance(v, PlcSessionEvent)]

    def next_wakeup_ns(self) -> int | None:
        if not self.alive:
            return None
        candidates = [self.next_limits_ns]
        if self.auth_at_ns is not None:
            candidates.append(self.auth_at_ns)
        return min(candidates)

    def tick(self, now: int) -> None:
        for ev in self.port.poll(now):
            self.events.append(ev)
            if not self.alive:
                continue
            if isinstance(ev, LinkUp | PeerRestarted):
                mapping = (OcppErrorMapEntry(fault_code=FaultCode.ISOLATION_FAULT,
                                             ocpp16_error_code="GroundFailure"),)
                self.port.publish(CtrlOcppErrorMapping(entries=mapping), now)
            if isinstance(ev, SignalReceived):
                self.received.append(ev.value)
                if isinstance(ev.value, PlcAuthRequest):
                    self.port.publish(CtrlAuthStatus(status=AuthStatus.PENDING), now)
                    self.auth_at_ns = now + self.timing.auth_delay_ns
                elif isinstance(ev.value, PlcV2gPhase) and ev.value.phase is V2gPhase.CPD:
                    entry = ScheduleEntry(start_offset_s=0, max_power_w=150_000.0)
                    self.port.publish(CtrlSchedule(schedule_id=1, entries=(entry,)), now)
        if not self.alive:
            return
        if self.auth_at_ns is not None and now >= self.auth_at_ns:
            status = AuthStatus.ACCEPTED if self.accept_auth else AuthStatus.REJECTED
            self.port.publish(CtrlAuthStatus(status=status), now)
            self.auth_at_ns = None
        if now >= self.next_limits_ns:
            self.port.publish(CtrlEvseLimitsDynamic(
                max_voltage_v=900.0, max_current_a=200.0, max_power_w=150_000.0,
                min_current_a=0.0, validity_ms=self.timing.limits_validity_ms), now)
            self.next_limits_ns = now + self.timing.limits_period_ns
            self.limits_sent_ns.append(now)


FULL_SESSION_EVENTS = [
    (SessionEventKind.EV_PLUGGED, None),
    (SessionEventKind.SLAC_MATCHED, None),
    (SessionEventKind.SESSION_SETUP, None),
    (SessionEventKind.POWER_DELIVERY_START, None),
    (SessionEventKind.POWER_DELIVERY_STOP, StopReason.EV_REQUESTED),
    (SessionEventKind.SESSION_STOPPED, StopReason.EV_REQUESTED),
    (SessionEventKind.EV_UNPLUGGED, None),
]
