"""A whole DC charging point in one process, with a simulated car: the embedded default.

Composition root for `evse sim` sessions. Everything the station owns runs as in production
(pilot core and chart, SLAC core and chart, SDP server, V2GTP framing, the SECC and its DIN /
ISO-2 charts, the power path with the real CAN drivers, the contract guard); everything it
does not own is simulated with physics (`SimWorld`: modules, IMD, meter, contactor, board,
powerline) and a car (`EvSlac` + SDP client + `EvSim` + its battery, which is the plant's
battery). All of it runs on the scheduler, in virtual time.

Message flow (each hop is a posted message or a timer, so the trace shows it):
  board -> cp (10 ms poll) -> notices -> slac, power (contactor feedback), contract
  slac <-> medium <-> car's SLAC; LinkReady -> car's SDP -> sdp server -> "TCP" -> SECC
  car's EvSim <-> V2GTP frames (1 ms link delay) <-> SECC -> StationEnv -> power path
  power path -> module drivers (CAN) / IMD driver / pilot (contactors)
  contract: StationEnv publishes, the controller answers through the guard.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import exi
from drivers.board.sim import EvCpState, SimBoard
from drivers.homeplug.port import HomePlugPort, SimHomePlugPort
from evse.contract.events import ContractPort, SignalReceived
from evse.contract.guard import (
    ControllerRestarted,
    GuardDecision,
    HardwareRating,
    PlcContractGuard,
)
from evse.contract.inprocess import InProcessLink
from evse.contract.values import (
    FaultCode,
    FaultSeverity,
    PlcEvMac,
    PlcEvPresent,
    PlcFault,
    PlcSessionEvent,
    PlcV2gPhase,
    SessionEventKind,
    V2gPhase,
)
from evse.cp.pilot import ControlPilot, CpConfig, CpNotice
from evse.ev.profiles import EvProfile, profile
from evse.ev.sim import EvSim, Phase as EvPhase
from evse.fsm import Event
from evse.ports.board import ContactorFeedback
from evse.power.controller import PowerPath, PowerPathConfig
from evse.power.faults import FaultReason, Severity
from evse.power.shutdown import ERROR_SHUTDOWN_OPEN_BOUND_NS
from evse.power.types import (
    EvseLimits,
    Phase as PowerPhase,
)
from evse.runtime.clock import Clock, VirtualClock, ms_to_ns, s_to_ns
from evse.runtime.config import StationConfig
from evse.runtime.ocpp_side import SIM_TOKEN, ExternalOcppSide, OcppSide
from evse.runtime.power_wiring import apply_power_command
from evse.runtime.rearm import Rearm
from evse.runtime.scheduler import CallbackComponent, Scheduler
from evse.runtime.sim_controller import StandInController
from evse.runtime.sim_world import EV_MAC, EVSE_MAC, SimWorld, WorldConfig
from evse.runtime.station import spec
from evse.runtime.station_env import PilotView, StationEnv
from evse.runtime.trace import Trace
from evse.sdp.client import SdpClient, SdpDiscovered, SendSdpRequest
from evse.sdp.messages import Security
from evse.sdp.policy import TlsPolicy
from evse.sdp.server import Endpoint, SdpServer, SdpServerConfig
from evse.secc.config import SeccConfig
from evse.secc.core import CloseConnection, SeccCore, SendPayload, random_session_id
from evse.secc.env import AppProtocol, PaymentMethod, SessionEndReason
from evse.slac import codec as slac_codec
from evse.slac.ev import EvSlac, EvTiming
from evse.slac.evse_core import EvseSlac
from evse.slac.evse_handler import SlacConfig
from evse.slac.outputs import EfRetryRequested, LinkError, LinkReady, SendFrame
from evse.v2gtp.header import PayloadType, encode_frame
from evse.v2gtp.stream import FrameReceived, V2gtpStreamDecoder

if TYPE_CHECKING:
    from evse.runtime.ocpp_ws import OcppWsClient

MS = 1_000_000
S = 1_000 * MS

#: Power-path control and physics tick (EVerest MAINLOOP 100 ms; the modules' own loop is
#: faster, the plant integrates at 1 ms inside each tick: drivers/sim/plant.py).
POWER_TICK_NS = 10 * MS
#: Measurement telemetry to the controller: contract meas.dc_output, 20-50 Hz.
MEAS_PERIOD_NS = 50 * MS
#: One-way latency of the PLC link + TCP stack between car and SECC in the simulation.
V2G_LINK_DELAY_NS = 1 * MS
#: SDP datagram latency (UDP over the same PLC link).
SDP_LINK_DELAY_NS = 2 * MS
#: Where the simulated car's SECC lives (link-local, as on a real PLC interface).
SECC_ADDRESS = ipaddress.IPv6Address("fe80::a0:b0ff:fe00:1")
SECC_TCP_PORT = 50_000
EV_ADDRESS = Endpoint(ipaddress.IPv6Address("fe80::c0:ffff:fe00:1"), 50_001)

_EV_C_PHASES = {
    EvPhase.CABLE_CHECK, EvPhase.PRECHARGE, EvPhase.POWER_DELIVERY_START, EvPhase.CHARGING,
    EvPhase.RENEGOTIATE, EvPhase.POWER_DELIVERY_STOP,
}
_EV_OPEN_PHASES = {EvPhase.WELDING, EvPhase.SESSION_STOP, EvPhase.DONE}
_PROTOCOLS = {"din": AppProtocol.DIN70121, "iso2": AppProtocol.ISO15118_2}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What the simulated car does in a full session."""

    protocol: str = "din"  # din | iso2
    ev_profile: str = "generic"
    soc_start_pct: float = 30.0
    soc_target_pct: float = 80.0
    charge_s: float | None = 60.0  # stop after this much charging (None: at target SOC)
    auth_delay_s: float = 2.0  # the driver's RFID tap (or the stand-in's decision) delay
    ocpp: str = "1.6"  # "1.6" | "2.0.1": controller + CSMS simulator; "none": stand-in
    #: The simulated car's V2G link counts as TLS (the in-memory link does not model TLS),
    #: so Contract payment (Plug & Charge) is offered [V2G2-634/635].
    tls: bool = False


@dataclass
class SessionLog:
    """What a test or the CLI checks after a run."""

    milestones: list[tuple[int, str]] = field(default_factory=list)
    responses: int = 0
    ev_result: str | None = None

    def add(self, now_ns: int, what: str) -> None:
        self.milestones.append((now_ns, what))


class DcStation:
    """One charging point with every device simulated and a simulated car."""

    def __init__(
        self,
        config: StationConfig,
        session: SessionConfig | None = None,
        *,
        clock: Clock | None = None,
        external_csms: OcppWsClient | None = None,
        contract_port: ContractPort | None = None,
        slac_port: HomePlugPort | None = None,
        car: bool = True,
        trace: Trace | None = None,
    ) -> None:
        """`contract_port`: the PLC end of a contract link to a controller in another process
        (no controller is built here). `slac_port`: a real HomePlug port for the EVSE side of
        SLAC. `car=False`: no simulated car; an external EV talks to the SECC through
        `open_connection` / `receive_payload` / `connection_lost`, answers go to `v2g_sink`.
        `trace`: e.g. one that keeps nothing, for a station that runs for days."""
        self.config = config
        self.car = car
        self.v2g_sink: Callable[[object], None] | None = None
        #: SLAC link events (LinkReady, LinkError) for a composition root that starts the
        #: V2G server on D-LINK_READY (evse run in SLAC mode).
        self.link_sink: Callable[[object], None] | None = None
        #: The car's PreCharge target voltage (its battery voltage) for a composition root
        #: whose simulated EV load stands in for an external car.
        self.precharge_sink: Callable[[float], None] | None = None
        #: What the SECC offers an external car in supportedAppProtocol.
        self.secc_protocols: tuple[AppProtocol, ...] = tuple(_PROTOCOLS.values())
        self.session = session or SessionConfig()
        self.sched = Scheduler(clock or VirtualClock(), seed=config.seed, trace=trace)
        sched = self.sched
        self.log = SessionLog()
        rng = sched.rng

        # ---------------------------------------------------------------- the car
        self.ev_profile = self._make_profile()
        # ---------------------------------------------------------------- the world
        self.world = SimWorld(sched.now_ns, rng, self.ev_profile.battery,
                              WorldConfig(seed=config.seed))
        w = self.world
        # ---------------------------------------------------------------- pilot
        self.cp = ControlPilot(
            spec("iec61851"), w.board, timers=sched, notify=self._cp_notice,
            config=CpConfig(config.cp.hlc_enabled, config.cp.ventilation_available),
            trace=sched.trace, param_overrides=config.cp.params,
        )
        sched.register("cp", CallbackComponent(self.cp.handle))
        sched.call_every(ms_to_ns(config.cp.sample_period_ms), self.cp.poll, "cp.poll")
        # ---------------------------------------------------------------- SLAC
        self.slac = EvseSlac(SlacConfig(evse_mac=EVSE_MAC), random.Random(rng.random()),
                             trace=sched.trace)
        self.slac_port: HomePlugPort = (
            slac_port if slac_port is not None else SimHomePlugPort(w.medium, w.evse_plc)
        )
        self.ev_slac = EvSlac(EV_MAC, random.Random(rng.random()), EvTiming())
        self.ev_slac_port = SimHomePlugPort(w.medium, w.ev_plc)
        sched.register("slac", CallbackComponent(self._slac_input))
        self._slac_pump = Rearm(sched, "slac", self._slac_deadline, self._slac_fire)
        # ---------------------------------------------------------------- power path
        self.power = PowerPath(PowerPathConfig())
        sched.register("power", CallbackComponent(self._power_input))
        sched.call_every(POWER_TICK_NS, self._power_tick, "power.tick")
        sched.call_every(MEAS_PERIOD_NS, self._publish_meas, "meas.publish")
        # ---------------------------------------------------------------- contract
        self.link = InProcessLink()
        self.plc_port: ContractPort = contract_port if contract_port is not None else self.link.plc
        pc = self.power.config
        self.guard = PlcContractGuard(
            HardwareRating(pc.max_voltage_v, pc.max_current_a, pc.max_power_w)
        )
        self._guard_timer = Rearm(sched, "guard", self.guard.next_deadline_ns,
                                   self._guard_fire)
        self.controller: StandInController | OcppSide | ExternalOcppSide | None
        if contract_port is not None:
            self.controller = None  # it runs in another process, at the far end of the link
        elif external_csms is not None:
            self.controller = ExternalOcppSide(
                sched, self.link.controller, external_csms, token=SIM_TOKEN,
                token_delay_ns=s_to_ns(self.session.auth_delay_s),
            )
        elif self.session.ocpp == "none":
            self.controller = StandInController(
                self.link.controller, auth_delay_ns=s_to_ns(self.session.auth_delay_s)
            )
        else:
            self.controller = OcppSide(
                sched, self.link.controller, version=self.session.ocpp,
                token_delay_ns=s_to_ns(self.session.auth_delay_s),
                max_voltage_v=pc.max_voltage_v, max_current_a=pc.max_current_a,
                max_power_w=pc.max_power_w, trace=sched.trace, pnc=config.pnc,
            )
        self._phase: V2gPhase = V2gPhase.IDLE
        self._present = False
        sched.call_every(S, self._publish_states, "contract.states")
        self._last_limits: EvseLimits | None = None
        # ---------------------------------------------------------------- SECC
        self.env = StationEnv(
            self.power, self.guard,
            PilotView(
                contactors_closed=lambda: self.cp.contactors_closed,
                emergency=lambda: self.cp.state == "emergency",
                faulted=lambda: self.cp.state == "F",
            ),
            self._publish, on_session_end=self._session_ended,
            on_precharge=self._precharge_seen,
        )
        self.sdp = SdpServer(SdpServerConfig(SECC_ADDRESS, SECC_TCP_PORT, None,
                                             TlsPolicy.PROHIBIT))
        self.secc: SeccCore | None = None
        self._secc_rx = V2gtpStreamDecoder()
        self._secc_timer = Rearm(sched, "secc",
                                  lambda: self.secc.next_deadline_ns() if self.secc else None,
                                  self._secc_fire)
        self._session_id = random_session_id(random.Random(rng.random()))
        # ---------------------------------------------------------------- car's V2G side
        plant = w.plant
        self.ev = EvSim(self.ev_profile,
                        inlet_voltage_v=lambda now: plant.connector_voltage_v,
                        inlet_current_a=lambda now: plant.connector_current_a)
        self.ev_sdp: SdpClient | None = None
        self._ev_rx = V2gtpStreamDecoder()
        self._ev_timer = Rearm(sched, "ev", self._ev_deadline, self._ev_fire)
        self._ev_link_up = False
        self._ev_phase = EvPhase.SAP
        self._energy_wh = 0.0
        self._ev_connected = False
        self._faults: dict[FaultCode, PlcFault] = {}
        self._ev_mac: PlcEvMac | None = None
        self._suspend_due_ns: int | None = None

    # ================================================================== setup
    def _make_profile(self) -> EvProfile:
        s = self.session
        p = profile(s.ev_profile)
        if s.protocol not in _PROTOCOLS:
            raise ValueError(f"unknown protocol {s.protocol!r} (din or iso2)")
        p.protocols = (_PROTOCOLS[s.protocol],)
        p.battery.soc_pct = s.soc_start_pct
        p.battery.target_soc_pct = s.soc_target_pct
        p.charge_for_ns = None if s.charge_s is None else s_to_ns(s.charge_s)
        return p

    def start(self) -> None:
        if not self.sched.virtual:
            # Pay scapy's import now, not on the car's first CM_SLAC_PARM.REQ (its answer
            # is due within TT_match_response = 200 ms).
            slac_codec.warm_up()
            for schema in ("app", "din", "iso2"):  # EXI tables load on first use
                exi.grammar(schema)
                exi.messages(schema)
        now = self.sched.now_ns()
        if isinstance(self.controller, OcppSide | ExternalOcppSide):
            self.controller.start(now)
        self.cp.start(now)
        self._route_slac(self.slac.start(now))
        self._guard_timer.update()

    # ================================================================== the world's actions
    def plug_in(self) -> None:
        """The car is connected: CP B. It starts SLAC when it sees 5 % PWM (ISO 15118-3)."""
        now = self.sched.now_ns()
        self.world.board.set_ev_state(EvCpState.B)
        self._ev_connected = True
        self.log.add(now, "ev plugged")

    # Scenario vocabulary shared with the pilot-only station.
    ev_plug = plug_in

    @property
    def board(self) -> SimBoard:
        return self.world.board

    @property
    def scheduler(self) -> Scheduler:
        return self.sched

    def post_cp(self, name: str, data: Any = None, *, source: str = "station") -> None:
        self.sched.post("cp", Event(name, data), source=source)

    def ev_unplug(self) -> None:
        self.unplug()

    def unplug(self) -> None:
        now = self.sched.now_ns()
        self._ev_connected = False
        self.world.board.set_ev_state(EvCpState.A)
        self.world.ev_inlet.open_ev_contactors()
        self.log.add(now, "ev unplugged")

    # ================================================================== pilot
    def _cp_notice(self, notice: CpNotice) -> None:
        sched = self.sched
        sched.trace.record("cp", "notice", {"notice": notice.kind, **notice.data})
        if notice.kind in ("cp_level", "pwm", "unplugged", "plugged"):
            sched.post("slac", notice, source="cp")
        # The car sees 5 % PWM: its SLAC starts (after its own start delay).
        if (self.car and notice.kind == "pwm" and notice.data.get("on") and self._ev_connected
                and self.ev.phase is EvPhase.SAP and self.secc is None):
            self._route_ev_slac(self.ev_slac.plug_in(sched.now_ns()))
        if notice.kind == "contactors":
            sched.post("power", ContactorFeedback(bool(notice.data["closed"]), sched.now_ns()),
                       source="cp")
        if notice.kind == "plugged":
            self.guard.reset_session(sched.now_ns())
            self._present = True
            self._publish(PlcEvPresent(present=True, connector_id=1), sched.now_ns())
            self._publish(PlcSessionEvent(event=SessionEventKind.EV_PLUGGED), sched.now_ns())
            self._set_phase(V2gPhase.SLAC)
        if notice.kind == "unplugged":
            self._present = False
            self._publish(PlcEvPresent(present=False, connector_id=1), sched.now_ns())
            self._publish(PlcSessionEvent(event=SessionEventKind.EV_UNPLUGGED), sched.now_ns())
            self._set_phase(V2gPhase.IDLE)

    def _precharge_seen(self, target_voltage_v: float) -> None:
        if self.precharge_sink is not None:
            self.precharge_sink(target_voltage_v)

    # ================================================================== SLAC
    def slac_port_readable(self, now_ns: int) -> None:
        """A real SLAC port has frames: read and route them now (reader callback)."""
        for raw in self.slac_port.poll(now_ns):
            self._route_slac(self.slac.handle_frame(raw, now_ns))

    def _slac_input(self, item: Any, now_ns: int) -> None:
        if isinstance(item, CpNotice):
            self._route_slac(self.slac.handle_cp_notice(item.kind, item.data, now_ns))

    def _slac_deadline(self) -> int | None:
        times = [self.slac.next_deadline_ns(), self.ev_slac.next_deadline_ns(),
                 self.world.medium.next_delivery_ns()]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def _slac_fire(self, now_ns: int) -> None:
        self.slac_port_readable(now_ns)
        for raw in self.ev_slac_port.poll(now_ns):
            self._route_ev_slac(self.ev_slac.handle_frame(raw, now_ns))
        d = self.slac.next_deadline_ns()
        if d is not None and d <= now_ns:
            self._route_slac(self.slac.handle_timer(now_ns))
        d = self.ev_slac.next_deadline_ns()
        if d is not None and d <= now_ns:
            self._route_ev_slac(self.ev_slac.handle_timer(now_ns))
        if (self.car and not self._ev_link_up
                and self.world.medium.link_up(self.world.ev_plc, now_ns)):
            self._ev_link_up = True
            self._start_ev_sdp(now_ns)

    def _route_slac(self, outputs: list[Any]) -> None:
        now = self.sched.now_ns()
        for out in outputs:
            if isinstance(out, SendFrame):
                self.slac_port.send(out.raw, now)
                continue
            self.sched.trace.record("slac", "output", {"out": type(out).__name__})
            if self.link_sink is not None and isinstance(out, LinkReady | LinkError):
                self.link_sink(out)
            if isinstance(out, LinkReady):
                self.log.add(now, "slac link ready")
                mac = ":".join(f"{b:02X}" for b in out.ev_mac)
                self._ev_mac = PlcEvMac(mac=mac, run_id=out.run_id.hex().upper())
                self._publish(self._ev_mac, now)
                self._publish(PlcSessionEvent(event=SessionEventKind.SLAC_MATCHED), now)
                self._set_phase(V2gPhase.SDP)
            elif isinstance(out, LinkError):
                self.log.add(now, f"slac link error {out.reason}")
            elif isinstance(out, EfRetryRequested):
                self.sched.post("cp", Event("wake_up"), source="slac")
        self._slac_pump.update()

    def _route_ev_slac(self, outputs: list[Any]) -> None:
        now = self.sched.now_ns()
        for out in outputs:
            if isinstance(out, SendFrame):
                self.ev_slac_port.send(out.raw, now)
        self._slac_pump.update()

    # ================================================================== SDP + connection
    def _start_ev_sdp(self, now_ns: int) -> None:
        security = Security.TLS if self.ev_profile.sdp_requests_tls else Security.NO_TLS
        self.ev_sdp = SdpClient(security, accept_plain_tcp=True)
        self._ev_sdp_out([self.ev_sdp.start(now_ns)])

    def _ev_sdp_out(self, outs: list[Any]) -> None:
        for out in outs:
            if isinstance(out, SendSdpRequest):
                self.sched.start_timer(SDP_LINK_DELAY_NS, self._sdp_arrives(out.datagram), "sdp")
            elif isinstance(out, SdpDiscovered):
                self.log.add(self.sched.now_ns(), "sdp discovered")
                self._connect(self.sched.now_ns())
        self._ev_timer.update()

    def _sdp_arrives(self, datagram: bytes) -> Callable[[int], None]:
        def deliver(now_ns: int) -> None:
            result = self.sdp.handle_datagram(datagram, EV_ADDRESS, now_ns)
            self.sched.trace.record("sdp", "datagram", {"event": type(result.event).__name__})
            if result.reply is not None:
                reply = result.reply.datagram
                self.sched.start_timer(SDP_LINK_DELAY_NS, self._sdp_reply(reply), "sdp")

        return deliver

    def _sdp_reply(self, datagram: bytes) -> Callable[[int], None]:
        def deliver(now_ns: int) -> None:
            if self.ev_sdp is not None:
                self._ev_sdp_out(self.ev_sdp.handle_datagram(datagram, now_ns))

        return deliver

    # ---------------------------------------------------------- external car (real sockets)
    def open_connection(self, now_ns: int, *, tls: bool = False) -> None:
        """A car connected over TCP/TLS (real sockets): a new SECC session. Contract
        payment is offered only on TLS [V2G2-634/635]."""
        self.secc = SeccCore(self.env, self._secc_config(self.secc_protocols, tls),
                             new_session_id=self._session_id, trace=self.sched.trace)
        self._secc_out(self.secc.connection_opened(now_ns))

    def receive_payload(self, payload: bytes, now_ns: int) -> None:
        """One V2GTP EXI payload from the external car."""
        if self.secc is not None and not self.secc.closed:
            self.env.last_payload = payload
            self._secc_out(self.secc.receive(payload, now_ns))

    def connection_lost(self, now_ns: int) -> None:
        if self.secc is not None and not self.secc.closed:
            self._secc_out(self.secc.connection_lost(now_ns))

    @staticmethod
    def _secc_config(protocols: tuple[AppProtocol, ...], tls: bool) -> SeccConfig:
        """Contract (Plug & Charge) is offered only on TLS [V2G2-634/635]; EIM always."""
        options = (PaymentMethod.CONTRACT, PaymentMethod.EIM) if tls else (PaymentMethod.EIM,)
        return SeccConfig(protocols=protocols, tls=tls, payment_options=options)

    def _connect(self, now_ns: int) -> None:
        protocols = tuple(_PROTOCOLS.values())
        self.secc = SeccCore(self.env, self._secc_config(protocols, self.session.tls),
                             new_session_id=self._session_id, trace=self.sched.trace)
        self._secc_rx = V2gtpStreamDecoder()
        self._ev_rx = V2gtpStreamDecoder()
        self._secc_out(self.secc.connection_opened(now_ns))
        self._ev_out(self.ev.start(now_ns))

    # ================================================================== V2G traffic
    def _ev_out(self, payloads: list[bytes]) -> None:
        for p in payloads:
            frame = encode_frame(PayloadType.EXI, p)
            self.sched.start_timer(V2G_LINK_DELAY_NS, self._to_secc(frame), "v2g.ev->secc")
        self._ev_after()

    def _to_secc(self, frame: bytes) -> Callable[[int], None]:
        def deliver(now_ns: int) -> None:
            secc = self.secc
            if secc is None or secc.closed:
                return
            for ev in self._secc_rx.feed(frame, now_ns):
                if isinstance(ev, FrameReceived):
                    self.env.last_payload = ev.payload
                    self._secc_out(secc.receive(ev.payload, now_ns))

        return deliver

    def _secc_out(self, outs: list[Any]) -> None:
        sink = self.v2g_sink
        for out in outs:
            if sink is not None and isinstance(out, SendPayload | CloseConnection):
                sink(out)
                continue
            if isinstance(out, SendPayload):
                frame = encode_frame(PayloadType.EXI, out.payload)
                self.log.responses += 1
                self.sched.start_timer(V2G_LINK_DELAY_NS, self._to_ev(frame), "v2g.secc->ev")
            elif isinstance(out, CloseConnection):
                self.sched.start_timer(V2G_LINK_DELAY_NS, self._ev_closed, "v2g.close")
            else:
                self.sched.trace.record("secc", "output", {"out": repr(out)})
        self._update_phase()
        self._secc_timer.update()

    def _to_ev(self, frame: bytes) -> Callable[[int], None]:
        def deliver(now_ns: int) -> None:
            for ev in self._ev_rx.feed(frame, now_ns):
                if isinstance(ev, FrameReceived):
                    self._ev_out(self.ev.receive(ev.payload, now_ns))

        return deliver

    def _ev_closed(self, now_ns: int) -> None:
        if self.ev.result is None:
            self.ev.connection_closed(now_ns)
        self._ev_after()

    def _secc_fire(self, now_ns: int) -> None:
        if self.secc is not None:
            self._secc_out(self.secc.handle_timer(now_ns))

    def _ev_deadline(self) -> int | None:
        times = [self.ev.next_deadline_ns(),
                 self.ev_sdp.next_deadline_ns() if self.ev_sdp else None]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def _ev_fire(self, now_ns: int) -> None:
        if self.ev_sdp is not None:
            d = self.ev_sdp.next_deadline_ns()
            if d is not None and d <= now_ns:
                self._ev_sdp_out(self.ev_sdp.handle_timer(now_ns))
        d = self.ev.next_deadline_ns()
        if d is not None and d <= now_ns:
            self._ev_out(self.ev.handle_timer(now_ns))

    def _ev_after(self) -> None:
        """The car's hardware follows its protocol phase: S2 (CP C) and its contactors."""
        now = self.sched.now_ns()
        phase = self.ev.phase
        board, inlet = self.world.board, self.world.ev_inlet
        if phase is not self._ev_phase:
            self._ev_phase = phase
            self.log.add(now, f"ev {phase.value}")
        if phase in _EV_C_PHASES and board.ev_state is EvCpState.B:
            board.set_ev_state(EvCpState.C)
        if phase is EvPhase.CHARGING and not inlet.ev_contactors_closed:
            inlet.close_ev_contactors(self.world.plant.connector_voltage_v)
        if phase in _EV_OPEN_PHASES:
            if inlet.ev_contactors_closed:
                inlet.open_ev_contactors()
            if board.ev_state is EvCpState.C:
                board.set_ev_state(EvCpState.B)
        if self.ev.result is not None and self.log.ev_result is None:
            verdict = "OK" if self.ev.result.ok else "FAILED"
            self.log.ev_result = f"{verdict}: {self.ev.result.reason}"
            self.log.add(now, f"ev session result {self.log.ev_result}")
        self._ev_timer.update()

    def _session_ended(self, reason: SessionEndReason, now_ns: int) -> None:
        self.log.add(now_ns, f"secc session ended {reason.value}")
        self._publish(PlcSessionEvent(event=SessionEventKind.SESSION_STOPPED), now_ns)
        # After the V2G session the EVSE stops the 5 % PWM (B1/C1). Not before the power path
        # has ramped the current down and opened the contactors: withdrawing power through
        # the pilot would open them under load. If the power path has not finished within
        # its own error-shutdown bound, the pilot withdraws power anyway (the hard fallback).
        self._suspend_due_ns = now_ns + ERROR_SHUTDOWN_OPEN_BOUND_NS
        self._maybe_suspend_hlc(now_ns)

    def _maybe_suspend_hlc(self, now_ns: int) -> None:
        due = self._suspend_due_ns
        if due is None:
            return
        idle = self.power.phase in (PowerPhase.IDLE, PowerPhase.STOPPED, PowerPhase.FAULTED)
        if (idle and not self.cp.contactors_closed) or now_ns >= due:
            self._suspend_due_ns = None
            self.sched.post("cp", Event("hlc_suspend"), source="secc")

    def _update_phase(self) -> None:
        secc = self.secc
        if secc is None:
            return
        state = secc.state
        self._set_phase(_SECC_PHASES.get(state.split(".")[0], V2gPhase.SESSION_SETUP))

    def _set_phase(self, phase: V2gPhase) -> None:
        if phase is self._phase:
            return
        self._phase = phase
        now = self.sched.now_ns()
        self._on_decisions(self.guard.set_phase(phase, now), now)
        self._publish(PlcV2gPhase(phase=phase), now)

    def _publish_states(self, now_ns: int) -> None:
        """contract: plc.ev_present / plc.v2g_phase are events plus a 1 Hz heartbeat, and
        plc.fault is repeated at 1 Hz while active."""
        self._publish(PlcEvPresent(present=self._present, connector_id=1), now_ns)
        self._publish(PlcV2gPhase(phase=self._phase), now_ns)
        for fault in self._faults.values():
            self._publish(fault, now_ns)

    def _report_faults(self, now_ns: int) -> None:
        """B5 plc.fault from the power path and the pilot, published when they change."""
        active: dict[FaultCode, PlcFault] = {}
        pf = self.power.fault
        if pf is not None:
            code = _POWER_FAULT_CODES.get(pf.reason, FaultCode.INTERNAL_ERROR)
            severity = (FaultSeverity.CRITICAL if pf.severity is Severity.EMERGENCY
                        else FaultSeverity.ERROR)
            active[code] = PlcFault(fault_code=code, severity=severity, active=True,
                                    latched=True, diagnostic_data=pf.detail[:120])
        cp_state = self.cp.state
        if cp_state == "emergency":
            active[FaultCode.EMERGENCY_STOP] = PlcFault(
                fault_code=FaultCode.EMERGENCY_STOP, severity=FaultSeverity.CRITICAL,
                active=True, latched=True, diagnostic_data="e-stop")
        elif cp_state == "E":
            code = FaultCode.CP_DIODE_FAULT if self.cp.handler.diode_fault else FaultCode.CP_STATE_E
            active[code] = PlcFault(fault_code=code, severity=FaultSeverity.ERROR, active=True,
                                    latched=False, diagnostic_data=None)
        elif cp_state == "F":
            causes = ",".join(sorted(c.value for c in self.cp.handler.latched)) or "fault"
            active[FaultCode.CP_STATE_F] = PlcFault(
                fault_code=FaultCode.CP_STATE_F, severity=FaultSeverity.ERROR, active=True,
                latched=True, diagnostic_data=causes[:120])
        for code, fault in active.items():
            if self._faults.get(code) != fault:
                self._publish(fault, now_ns)
        for code, old in self._faults.items():
            if code not in active:
                self._publish(PlcFault(fault_code=code, severity=old.severity, active=False,
                                       latched=False, diagnostic_data=None), now_ns)
        self._faults = active

    # ================================================================== power path
    def _power_input(self, item: Any, now_ns: int) -> None:
        self.power.handle(item, now_ns)
        self._apply_power()

    def _power_tick(self, now_ns: int) -> None:
        w, power = self.world, self.power
        w.step(now_ns)
        for ev in w.group.poll(now_ns):
            power.handle(ev, now_ns)
        for iev in w.imd.poll(now_ns):
            power.handle(iev, now_ns)
        reading = w.meter.read(now_ns)
        power.handle(reading, now_ns)
        self._energy_wh = reading.energy_wh
        lim = self.guard.effective_limits(now_ns)
        limits = EvseLimits(lim.max_voltage_v, lim.max_current_a, lim.max_power_w,
                            lim.valid_until_ns)
        if limits != self._last_limits:
            self._last_limits = limits
            power.handle(limits, now_ns)
        power.handle_timer(now_ns)
        self._apply_power()
        self._maybe_suspend_hlc(now_ns)
        self._report_faults(now_ns)
        # Contract traffic both ways, then the controller stand-in.
        for pev in self.plc_port.poll(now_ns):
            if not isinstance(pev, SignalReceived):  # link up/down, peer restart, rejects
                self.sched.trace.record("contract", "link", {
                    "event": type(pev).__name__, "at_ns": getattr(pev, "at_ns", None),
                    "detail": repr(pev)})
            self._on_decisions(self.guard.on_event(pev, now_ns), now_ns)
        if self.controller is not None:
            self.controller.step(now_ns)
        self._guard_timer.update()

    def _apply_power(self) -> None:
        now = self.sched.now_ns()
        for cmd in self.power.take_commands():
            self.sched.trace.record("power", "command", {"cmd": repr(cmd)})
            apply_power_command(cmd, now, group=self.world.group, imd=self.world.imd,
                                contactors=self._request_contactors)

    def _request_contactors(self, closed: bool) -> None:
        # The power path asks; the pilot chart grants (only in C2/D2 with PWM running).
        name = "power_on_request" if closed else "power_off_request"
        self.sched.post("cp", Event(name), source="power")

    def _publish_meas(self, now_ns: int) -> None:
        value = self.env.meas_signal(self._energy_wh)
        if value is not None:
            self._publish(value, now_ns)

    # ================================================================== contract
    def _publish(self, value: object, now_ns: int) -> None:
        self.plc_port.publish(value, now_ns)  # type: ignore[arg-type]

    def _guard_fire(self, now_ns: int) -> None:
        self._on_decisions(self.guard.handle_timer(now_ns), now_ns)

    def _on_decisions(self, decisions: list[GuardDecision], now_ns: int) -> None:
        for decision in decisions:
            self.sched.trace.record("guard", "decision", {"decision": repr(decision)})
            if isinstance(decision, ControllerRestarted):
                self._retell_session(now_ns)

    def _retell_session(self, now_ns: int) -> None:
        """A new controller process took over mid-session: it knows nothing of it. Tell it
        again what a controller learns once per session (the link republishes only level
        signals): presence, EV MAC, EVCCID, EV limits, and a pending authorization."""
        self._publish(PlcEvPresent(present=self._present, connector_id=1), now_ns)
        self._publish(PlcV2gPhase(phase=self._phase), now_ns)
        if self._ev_mac is not None:
            self._publish(self._ev_mac, now_ns)
        self.env.retell(now_ns)

    # ================================================================== running
    def run_until(self, t_ns: int) -> None:
        self.sched.run_until(t_ns)

    def close(self) -> None:
        self.world.close()


_POWER_FAULT_CODES = {
    FaultReason.INSULATION_FAULT: FaultCode.ISOLATION_FAULT,
    FaultReason.VOLTAGE_TO_EARTH: FaultCode.ISOLATION_FAULT,
    FaultReason.OVER_VOLTAGE: FaultCode.OVER_VOLTAGE,
    FaultReason.EMERGENCY_OVER_VOLTAGE: FaultCode.OVER_VOLTAGE,
    FaultReason.MODULE_COMM_LOST: FaultCode.POWER_MODULE_FAULT,
    FaultReason.MODULE_ALARM: FaultCode.POWER_MODULE_FAULT,
    FaultReason.NO_MODULES: FaultCode.POWER_MODULE_FAULT,
    FaultReason.IMD_DEVICE_FAULT: FaultCode.IMD_FAULT,
    FaultReason.SELF_TEST_FAILED: FaultCode.IMD_FAULT,
    FaultReason.SELF_TEST_TIMEOUT: FaultCode.IMD_FAULT,
    FaultReason.IMD_NO_MEASUREMENT: FaultCode.IMD_FAULT,
    FaultReason.CONTACTOR_WELDED: FaultCode.CONTACTOR_WELDED,
    FaultReason.CONTACTOR_NOT_CLOSED: FaultCode.CONTACTOR_FAILED,
    FaultReason.CONTACTOR_OPENED_UNEXPECTEDLY: FaultCode.CONTACTOR_FAILED,
    FaultReason.EMERGENCY_STOP: FaultCode.EMERGENCY_STOP,
    FaultReason.PRECHARGE_TIMEOUT: FaultCode.PRECHARGE_FAILED,
    FaultReason.VOLTAGE_NOT_BELOW_60V: FaultCode.CABLE_CHECK_FAILED,
    FaultReason.TEST_VOLTAGE_NOT_REACHED: FaultCode.CABLE_CHECK_FAILED,
    FaultReason.DISCHARGE_TIMEOUT: FaultCode.CABLE_CHECK_FAILED,
    FaultReason.LIMITS_EXPIRED: FaultCode.LIMITS_EXPIRED,
    FaultReason.OFF_NOT_CONFIRMED: FaultCode.INTERNAL_ERROR,
    FaultReason.BOARD_FAULT: FaultCode.INTERNAL_ERROR,
}

_SECC_PHASES = {
    "wait_sap": V2gPhase.SAP,
    "wait_session_setup": V2gPhase.SESSION_SETUP,
    "wait_service_discovery": V2gPhase.SERVICE_DISCOVERY,
    "wait_payment_selection": V2gPhase.SERVICE_DISCOVERY,
    "authorization": V2gPhase.AUTH,
    "charge_parameters": V2gPhase.CPD,
    "cable_check": V2gPhase.CABLECHECK,
    "precharge": V2gPhase.PRECHARGE,
    "power_delivery_pending": V2gPhase.POWERDELIVERY,
    "charging": V2gPhase.CURRENTDEMAND,
    "stopping": V2gPhase.POWERDELIVERY,
    "welding": V2gPhase.WELDING,
    "ended": V2gPhase.SESSION_STOP,
}
