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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.board.sim import EvCpState, SimBoard
from drivers.homeplug.port import HomePlugPort, SimHomePlugPort
from drivers.meter.sim_meter import SAMPLE_PERIOD_NS as METER_SAMPLE_PERIOD_NS
from drivers.sim.loads import Battery as PlantBattery
from evse.contract.events import ContractPort, SignalReceived
from evse.contract.guard import (
    AvailabilityChanged,
    ControllerRestarted,
    FaultResetRequested,
    GuardDecision,
    HardwareRating,
    PlcContractGuard,
    StopKind,
    StopRequested,
    WakeUpRequested,
)
from evse.contract.inprocess import InProcessLink
from evse.contract.limits import EvseLimits
from evse.contract.values import (
    FaultCode,
    FaultSeverity,
    PlcCpState,
    PlcEvMac,
    PlcEvPresent,
    PlcFault,
    PlcPowerSetpoint,
    PlcPpState,
    PlcSessionEvent,
    PlcV2gPhase,
    SessionEventKind,
    V2gPhase,
)
from evse.cp.levels import CpLevel
from evse.cp.pilot import ControlPilot, CpConfig, CpNotice, FaultCause, pp_reads_open
from evse.ev.sim import EvSim
from evse.fsm import Event
from evse.ports.board import Board, ContactorFeedback, EStopChanged
from evse.power.controller import PowerInput, PowerPath, PowerPathConfig
from evse.power.faults import Clearing, FaultReason, Severity
from evse.power.shutdown import ERROR_SHUTDOWN_OPEN_BOUND_NS
from evse.power.types import Phase as PowerPhase, PowerRefused, PowerWithdrawn
from evse.runtime.clock import Clock, VirtualClock, ms_to_ns, s_to_ns
from evse.runtime.config import StationConfig
from evse.runtime.ems_input import EmsInput
from evse.runtime.fault_store import FaultStore, FaultStoreError, HeldFaults
from evse.runtime.ocpp_side import SIM_TOKEN, ExternalOcppSide, OcppSide
from evse.runtime.plc_states import cp_state_of, pp_state_of, secc_phase
from evse.runtime.power_wiring import apply_power_command
from evse.runtime.rearm import Rearm
from evse.runtime.scheduler import CallbackComponent, Scheduler
from evse.runtime.sim_car import (
    PROTOCOLS,
    SessionConfig as SessionConfig,
    SessionLog as SessionLog,
    SimCar,
    make_profile,
)
from evse.runtime.sim_controller import StandInController
from evse.runtime.sim_world import EVSE_MAC, SimWorld, world_config
from evse.runtime.station import spec
from evse.runtime.station_env import PilotView, StationEnv
from evse.runtime.station_faults import PILOT_HELD_TAG, FaultsWiring, StationFaults
from evse.runtime.trace import StateChanges, Trace
from evse.runtime.warmup import warm_up_station
from evse.sdp.policy import TlsPolicy
from evse.sdp.server import Endpoint, SdpServer, SdpServerConfig
from evse.secc.config import SeccConfig
from evse.secc.core import CloseConnection, SeccCore, SendPayload, random_session_id
from evse.secc.env import AppProtocol, PaymentMethod, SessionEndReason
from evse.secc.session import MemorySessionStore
from evse.slac.config import slac_config_from_section
from evse.slac.evse_core import EvseSlac
from evse.slac.evse_handler import SlacConfig
from evse.slac.messages import mac_from_str
from evse.slac.outputs import (
    EfRetryRequested,
    LinkError,
    LinkErrorReason,
    LinkReady,
    SendFrame,
)
from evse.v2gtp.header import PayloadType, encode_frame
from evse.v2gtp.stream import FrameReceived, StreamBroken, V2gtpStreamDecoder

if TYPE_CHECKING:
    from evse.io.ocpp_ws import OcppWsClient

MS = 1_000_000
S = 1_000 * MS

#: Power-path control and physics tick (EVerest MAINLOOP 100 ms; the modules' own loop is
#: faster, the plant integrates at 1 ms inside each tick: drivers/sim/plant.py).
POWER_TICK_NS = 10 * MS
#: Idle (nothing plugged, path at rest and open): the physics, the device polls and the
#: power path run at this rate only; the contract and the controller keep POWER_TICK_NS.
#: The modules' and the IMD's own CAN rates are 1 s (drivers/power/infy.py POLL_PERIOD_NS,
#: drivers/imd/iso165c.py INFO_PERIOD_NS), so no frame is later than this.
IDLE_POWER_TICK_NS = 100 * MS
#: Charging with the current loop on its target and nothing due (PowerPath.control_settled):
#: the physics, the device polls and the power path run at the DC meter's own sample rate
#: (drivers/meter/sim_meter.py SAMPLE_PERIOD_NS, 50 Hz), or earlier when a module answer or a
#: driver deadline is due, a car request arrives (`_measure_now`) or the loop has to ramp.
#: Over-current needs 400 ms to trip (evse/power/controller.py OVER_CURRENT_DURATION_NS).
SETTLED_POWER_TICK_NS = METER_SAMPLE_PERIOD_NS
#: Measurement telemetry to the controller: contract meas.dc_output, 20-50 Hz.
MEAS_PERIOD_NS = 50 * MS
#: plc.cp_state pwm_duty_pct while the oscillator runs: 5 % = HLC required (IEC 61851-1
#: Annex A, ISO 15118-3); a DC station never offers another duty.
HLC_DUTY_PCT = 5.0
#: Where the simulated car's SECC lives (link-local, as on a real PLC interface).
SECC_ADDRESS = ipaddress.IPv6Address("fe80::a0:b0ff:fe00:1")
SECC_TCP_PORT = 50_000
EV_ADDRESS = Endpoint(ipaddress.IPv6Address("fe80::c0:ffff:fe00:1"), 50_001)

def warm_up_protocols() -> None:
    """Pay scapy's import, the first build and dissection of every SLAC frame, the EXI
    grammars and fast codecs (one round trip per schema) and the charts now, not on a car's
    first request: CM_SLAC_PARM.CNF is due within TP_match_response (100 ms, timing.md §2).
    A real-time composition root calls this before its clock and timers start, so the cost
    shows up neither as a late answer nor as timer overruns; repeated calls are cheap
    (everything is cached). See evse/runtime/warmup.py."""
    warm_up_station()


@dataclass(frozen=True)
class ExternalCar:
    """A car the station does not simulate (`car=False`), as `evse run` wires it: where the
    SECC's answers and the SLAC link events go, what the SECC offers in
    supportedAppProtocol, and the battery the simulated plant's EV load stands for. Given
    to the constructor, so the composition root never patches a built station."""

    #: The SECC's output (SendPayload / CloseConnection) for the car's connection.
    v2g_sink: Callable[[object], None]
    #: SLAC link events (LinkReady, LinkError): the V2G server starts on D-LINK_READY.
    link_sink: Callable[[object], None] | None = None
    #: The car's PreCharge target voltage (its battery voltage) for the plant's EV load.
    precharge_sink: Callable[[float], None] | None = None
    protocols: tuple[AppProtocol, ...] = tuple(PROTOCOLS.values())
    #: The battery behind the plant's inlet (None: the world's own).
    battery: PlantBattery | None = None


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
        board: Board | None = None,
        pilot_ev: SimBoard | None = None,
        slac: bool = True,
        external_car: ExternalCar | None = None,
    ) -> None:
        """`contract_port`: the PLC end of a contract link to a controller in another process
        (no controller is built here). `slac_port`: a real HomePlug port for the EVSE side of
        SLAC. `car=False`: no simulated car; an external EV talks to the SECC through
        `open_connection` / `receive_payload` / `connection_lost`, answers go to `v2g_sink`.
        `trace`: e.g. one that keeps nothing, for a station that runs for days.
        `board`: the board port the pilot talks to, e.g. `drivers.board.mcu.McuBoard` in
        front of an MCU; default the world's simulated board itself. With a board of its own
        the world is decoupled from it: the simulated plant's contactor follows the contactor
        feedback that board reports (it drives a real, or separately simulated, contactor),
        and the world's `board` is only the virtual EV's side of the pilot: `pilot_ev`, e.g.
        the SimBoard an MCU simulator on a pty runs on, or a fresh one nobody reads (a real
        car is on the real pilot). `slac=False`: no modem, the link is assumed up (the
        bench, `plc.driver: none`): no SLAC runs, so its TT_EVSE_SLAC_init (ISO 15118-3,
        40 s) never expires into a link error that would send the pilot through E/F and
        fault the V2G session an external EV is running. `external_car` (with `car=False`):
        the wiring of a car on a real interface (ExternalCar). A real `slac_port` gets the
        SLAC core the config's `slac:` section and `plc.local_modem_mac` describe, with the
        system's randomness for its keys."""
        if external_car is not None and car:
            raise ValueError("external_car needs car=False")
        self.slac_enabled = slac
        self.config = config
        self.car = car
        ext = external_car
        self.v2g_sink: Callable[[object], None] | None = ext.v2g_sink if ext else None
        self.link_sink: Callable[[object], None] | None = ext.link_sink if ext else None
        self.precharge_sink: Callable[[float], None] | None = (
            ext.precharge_sink if ext else None)
        #: What the SECC offers an external car in supportedAppProtocol.
        self.secc_protocols: tuple[AppProtocol, ...] = (
            ext.protocols if ext else tuple(PROTOCOLS.values()))
        self.session = session or SessionConfig()
        self.sched = Scheduler(clock or VirtualClock(), seed=config.seed, trace=trace)
        sched = self.sched
        #: The current (or last) session's log; `sessions` keeps every one of the station's life.
        self.log = SessionLog()
        self.sessions: list[SessionLog] = []
        rng = sched.rng
        #: Draws for the cars of this station's life (one per plug-in), independent of how
        #: many draws the station's own parts take.
        self._car_rng = random.Random(rng.random())

        # ---------------------------------------------------------------- the world
        self.ev_profile = make_profile(self.session)
        wcfg = world_config(config)
        self.world = SimWorld(sched.now_ns, rng, self.ev_profile.battery, wcfg)
        if ext is not None and ext.battery is not None:
            self.world.ev_inlet.battery = ext.battery
        #: The pilot talks to a board that is not the world's: the plant's contactor follows
        #: that board's feedback instead of the world board's coil.
        self.board_external = board is not None and board is not self.world.board
        if self.board_external:
            self.world.board = pilot_ev or SimBoard(sched.now_ns, rng, wcfg.board)
        #: The car plugged in now (None between sessions, and always with `car=False`).
        self.sim_car: SimCar | None = None
        w = self.world
        # ---------------------------------------------------------------- pilot
        self.cp = ControlPilot(
            spec("iec61851"), board or w.board, timers=sched, notify=self._cp_notice,
            config=CpConfig(config.cp.hlc_enabled, config.cp.ventilation_available),
            trace=sched.trace, param_overrides=config.cp.params,
        )
        # The PilotView below reads these chart tags; a chart without them does not build.
        self.cp.require_tags("emergency", "not_available", "pp_open", "cp_error", "pilot_f",
                             "no_vehicle")
        sched.register("cp", CallbackComponent(self.cp.handle))
        sched.call_every(ms_to_ns(config.cp.sample_period_ms), self.cp.poll, "cp.poll")
        # ---------------------------------------------------------------- SLAC
        slac_rng = random.Random(rng.random())  # drawn either way: the same later draws
        if slac_port is None:
            self.slac = EvseSlac(SlacConfig(evse_mac=EVSE_MAC), slac_rng, trace=sched.trace)
        else:
            slac_cfg, params = slac_config_from_section(
                config.slac.settings, slac_port.mac, mac_from_str(config.plc.local_modem_mac))
            # The NMK and run ids of a real link come from the OS (ISO 15118-3 §9.2: a
            # random key per session), never from the seeded simulation generator.
            self.slac = EvseSlac(slac_cfg, random.SystemRandom(), trace=sched.trace,
                                 param_overrides=params or None)
        self.slac_port: HomePlugPort = (
            slac_port if slac_port is not None else SimHomePlugPort(w.medium, w.evse_plc)
        )
        sched.register("slac", CallbackComponent(self._slac_input))
        self._slac_pump = Rearm(sched, "slac", self._slac_deadline, self._slac_fire)
        # ---------------------------------------------------------------- power path
        # Its state changes in the trace (the operator's timeline, journald), not every tick.
        self.power = PowerPath(_power_path_config(config), trace=StateChanges(sched.trace))
        #: power_faults.store: held faults survive a restart (None: simulation forgets them).
        #: The held faults the store last failed to write (not retried until they change).
        self._store_failed_for: HeldFaults | None = None
        self.fault_store = (None if config.power_faults.store is None
                            else FaultStore(config.power_faults.store))
        sched.register("power", CallbackComponent(self._power_input))
        sched.call_every(POWER_TICK_NS, self._power_tick, "power.tick")
        sched.call_every(MEAS_PERIOD_NS, self._publish_meas, "meas.publish")
        # ---------------------------------------------------------------- contract
        self.link = InProcessLink()
        self.plc_port: ContractPort = contract_port if contract_port is not None else self.link.plc
        pc = self.power.config
        self.guard = PlcContractGuard(
            HardwareRating(pc.max_voltage_v, pc.max_current_a, pc.max_power_w),
            auth_timeout_eim_ns=s_to_ns(config.auth.timeout_eim_s),
            auth_timeout_pnc_ns=s_to_ns(config.auth.timeout_pnc_s),
        )
        self._guard_timer = Rearm(sched, "guard", self.guard.next_deadline_ns,
                                   self._guard_fire)
        self.controller: StandInController | OcppSide | ExternalOcppSide | None
        if contract_port is not None:
            self.controller = None  # it runs in another process, at the far end of the link
        elif external_csms is not None:
            # A configured CSMS (`ocpp:`): the bench's card is the config's id_token, or
            # nobody taps one (cards come from the reader / the CSMS).
            token = SIM_TOKEN if config.ocpp is None else config.ocpp.id_token
            self.controller = ExternalOcppSide(
                sched, self.link.controller, external_csms, token=token or SIM_TOKEN,
                token_delay_ns=None if token is None else s_to_ns(self.session.auth_delay_s),
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
                auth_timeouts_s=(config.auth.timeout_eim_s, config.auth.timeout_pnc_s),
            )
        #: `ems:` the external-limit input (OCPP 2.0.1 K11-K13), to the controller built
        #: here; None: no input configured, or the controller runs in another process.
        self.ems: EmsInput | None = None
        if config.ems.driver != "none" and isinstance(self.controller,
                                                      OcppSide | ExternalOcppSide):
            self.ems = EmsInput(config.ems, sched, self.controller)
        self._cars_built = 0
        self._unplugged_in_session = False
        #: The pilot confirmed PP open with the car still on the pilot (iec61851.yaml
        #: plugged.proximity_open): plc.fault PP_INVALID until PP reads connected or unplug.
        self._pp_fault = False
        #: Every RESET_FAULT the station acted on: (time, accepted, reason).
        self.reset_log: list[tuple[int, bool, str]] = []
        #: The fault-reset and pilot-hold sequencing (fsm_specs/station_faults.yaml): the
        #: operator's reset, the pilot held in F for a power fault, the guard's stops.
        self.station_faults = StationFaults(
            spec("station_faults"),
            FaultsWiring(power=self.power, cp=self.cp, guard=self.guard,
                         post_cp=lambda ev, source: sched.post("cp", ev, source=source),
                         publish=self._publish, report_faults=self._report_faults,
                         trace=sched.trace, reset_log=self.reset_log),
            timers=sched, trace=sched.trace, now_ns=sched.now_ns())
        self._last_car: SimCar | None = None
        self._session_tls = self.session.tls
        self._phase: V2gPhase = V2gPhase.IDLE
        #: What plc.v2g_phase last said: the SECC's phase, or FAULT while a fault is active.
        self._reported_phase: V2gPhase = V2gPhase.IDLE
        #: How the last V2G session ended (a bench pilot keeps a paused car plugged).
        self.last_end_reason: SessionEndReason | None = None
        self._present = False
        self._cp_state: PlcCpState | None = None
        self._pp_state: PlcPpState | None = None
        self._setpoint: PlcPowerSetpoint | None = None
        sched.call_every(S, self._publish_states, "contract.states")
        self._last_limits: EvseLimits | None = None
        # ---------------------------------------------------------------- SECC
        self.env = StationEnv(
            self.power, self.guard,
            PilotView(
                contactors_closed=lambda: self.cp.contactors_closed,
                emergency=lambda: self.cp.has_tag("emergency"),
                # F or E: cp_e@precharge (bench seed 7) was answered EVSE_Ready until the
                # car's own precharge timeout
                faulted=lambda: self.cp.has_tag("not_available"),
                unplugged=lambda: self._unplugged_in_session,
                pp_open=lambda: self.cp.has_tag("pp_open"),
                vehicle_ready=lambda: self.cp.level in (CpLevel.C, CpLevel.D),
                ev_gone=lambda: self._pp_fault or self.cp.has_tag("cp_error"),
            ),
            self._publish, on_session_end=self._session_ended,
            on_precharge=self._precharge_seen,
            meter_energy_wh=lambda: self._energy_wh,
        )
        self.sdp = SdpServer(SdpServerConfig(SECC_ADDRESS, SECC_TCP_PORT, None,
                                             TlsPolicy.PROHIBIT))
        self.secc: SeccCore | None = None
        #: ISO-2 SessionStop(Pause) sessions, kept across the V2G connections of one plug-in
        #: (a new SeccCore per connection): the car resumes one with its SessionID
        #: (SessionSetupRes OK_OldSessionJoined); forgotten at the unplug.
        self.paused_sessions = MemorySessionStore()
        self._secc_rx = V2gtpStreamDecoder()
        self._secc_timer = Rearm(sched, "secc",
                                  lambda: self.secc.next_deadline_ns() if self.secc else None,
                                  self._secc_fire)
        self._session_id = random_session_id(random.Random(rng.random()))
        self._energy_wh = 0.0
        self._faults: dict[FaultCode, PlcFault] = {}
        #: SLAC and V2G failures of the car plugged in now (code -> detail): self-clearing,
        #: they leave with the car (fault table: comm loss, SLAC/V2G failures).
        self._link_faults: dict[FaultCode, str] = {}
        self._ev_mac: PlcEvMac | None = None
        self._suspend_due_ns: int | None = None
        self._next_idle_tick_ns = 0
        self._next_settled_tick_ns = 0

    # ================================================================== setup
    @property
    def ev(self) -> EvSim:
        """The EV simulator of the current (or last) car."""
        if self._last_car is None:
            raise RuntimeError("no car has been plugged in yet")
        return self._last_car.ev

    def start(self) -> None:
        if not self.sched.virtual:
            warm_up_protocols()  # a no-op when the composition root already did it
        now = self.sched.now_ns()
        if self.fault_store is not None:
            # A restart is not a reset: what held the connector out of service still does.
            held = self.fault_store.load()
            if held.faults or held.welded_unresolved:
                self.power.restore_faults(held.faults, held.welded_unresolved, now)
                self.log.add(now, "faults restored: " + ",".join(r.value for r, _ in held.faults))
        if isinstance(self.controller, OcppSide | ExternalOcppSide):
            self.controller.start(now)
        if self.ems is not None:
            self.ems.start()
        self.cp.start(now)
        self._publish_cp_state(now)  # the level signals start known, not at their first change
        self._publish_pp_state(now)
        if self.slac_enabled:
            self._route_slac(self.slac.start(now))
        self._guard_timer.update()

    # ================================================================== the world's actions
    def plug_in(self, session: SessionConfig | None = None) -> None:
        """A car is connected: CP B. It starts SLAC when it sees 5 % PWM (ISO 15118-3).

        `session`: what this car is and does (protocol, profile, SOC, how long it charges,
        when its driver taps the card); the station's first session config otherwise. With
        `car=False` only the pilot sees a vehicle (an external car runs the protocols)."""
        now = self.sched.now_ns()
        if self.sim_car is not None:
            raise RuntimeError("a car is already plugged in: unplug it first")
        self.log = SessionLog()
        self.sessions.append(self.log)
        self.log.add(now, "ev plugged")
        if not self.car:
            self.world.board.set_ev_state(EvCpState.B)
            self.world.cable_connected(True)
            return
        car_session = session or self.session
        first = not self._cars_built and session is None
        car_profile = self.ev_profile if first else make_profile(car_session)
        self._cars_built += 1
        self.ev_profile = car_profile
        self._apply_driver(car_session)
        self.sim_car = SimCar(self, car_session, car_profile, self._car_rng, self.log)
        self._last_car = self.sim_car
        self._session_tls = car_session.tls
        self.sim_car.plug_in()

    def _apply_driver(self, session: SessionConfig) -> None:
        """The car's driver: how long until the RFID card is tapped (simulated controller)."""
        ctrl = self.controller
        delay_ns = s_to_ns(session.auth_delay_s)
        if isinstance(ctrl, OcppSide | ExternalOcppSide):
            ctrl.token_delay_ns = delay_ns
        elif isinstance(ctrl, StandInController):
            ctrl.auth_delay_ns = delay_ns

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
        car, self.sim_car = self.sim_car, None
        if car is not None:
            car.unplug()
        else:
            self.world.board.set_ev_state(EvCpState.A)
            self.world.cable_connected(False)
        self.log.add(now, "ev unplugged")

    # ================================================================== pilot
    def _cp_notice(self, notice: CpNotice) -> None:
        sched = self.sched
        sched.trace.record("cp", "notice", {"notice": notice.kind, **notice.data})
        self._next_idle_tick_ns = self._next_settled_tick_ns = 0  # the pilot moved: full tick next
        if self.slac_enabled and notice.kind in ("cp_level", "pwm", "unplugged", "plugged"):
            sched.post("slac", notice, source="cp")
        if notice.kind in ("cp_level", "pwm"):
            self._publish_cp_state(sched.now_ns())
        elif notice.kind == "pp":
            self._publish_pp_state(sched.now_ns())
            if self._pp_fault and not pp_reads_open(self.cp.pp_state):
                self._pp_fault = False
                self._report_faults(sched.now_ns())
        elif notice.kind == "pp_fault":
            self._pp_fault = True
            self.log.add(sched.now_ns(), f"pp fault {notice.data['state']}")
            self._report_faults(sched.now_ns())
        # The car sees 5 % PWM: its SLAC starts (after its own start delay).
        if notice.kind == "pwm" and notice.data.get("on") and self.sim_car is not None:
            self.sim_car.sees_pwm(sched.now_ns())
        if notice.kind == "fault_reset":  # the board answered the pilot's reset
            self.station_faults.post("pilot_reset_answered", sched.now_ns(), notice.data)
        if notice.kind == "estop":
            # The e-stop input reaches the power path before the contactor feedback of the
            # board's hardware cut does, so the fault reads as an e-stop, not as contacts
            # that opened unexpectedly.
            sched.post("power", EStopChanged(bool(notice.data["active"]), sched.now_ns()),
                       source="cp")
        if notice.kind == "power_withdrawn":
            # The pilot cut power (the board opens the contacts now): a path still holding
            # them takes the emergency path, modules off at once (fsm_specs/power_path.yaml).
            sched.post("power", PowerWithdrawn(str(notice.data.get("event", "pilot"))),
                       source="cp")
        if notice.kind == "power_refused":
            # The pilot will not grant a request (F, E, emergency, PP open, no ventilation):
            # a cable check waiting for the contactors ends now instead of blaming them.
            sched.post("power", PowerRefused(
                f"{notice.data.get('reason', 'pilot')} (pilot {self.cp.state})"),
                source="cp")
        if notice.kind == "contactors":
            if self.board_external:
                self.world.contactor.follow(bool(notice.data["closed"]), sched.now_ns())
            sched.post("power", ContactorFeedback(bool(notice.data["closed"]), sched.now_ns()),
                       source="cp")
        if notice.kind in ("pp_fault", "cp_error") and self.secc is not None:
            # The pilot says the car is gone (SeccEnv.ev_gone): a V2G session waiting for
            # its next request ends now, not at V2G_SECC_Sequence_Timeout.
            self._secc_out(self.secc.pilot_changed(sched.now_ns()))
        if notice.kind == "plugged":
            self._unplugged_in_session = False
            self.guard.reset_session(sched.now_ns())
            self._present = True
            self._publish(PlcEvPresent(present=True, connector_id=1), sched.now_ns())
            self._publish(PlcSessionEvent(event=SessionEventKind.EV_PLUGGED), sched.now_ns())
            self._set_phase(V2gPhase.SLAC)
        if notice.kind == "unplugged":
            self._unplugged_in_session = True
            self.env.ev_error = None  # a car-side fault leaves with the car
            self.paused_sessions.clear()  # a paused session is the plugged car's alone
            self._link_faults.clear()
            self._pp_fault = False  # the plug is out: PP open is what an unplug looks like
            # The cable is gone and the powerline with it: the V2G session cannot go on.
            self.connection_lost(sched.now_ns())
            self.secc = None
            self._secc_timer.update()
            # The car left: a self-clearing fault clears with it, a live path stops first
            # (the pilot has already withdrawn power) and ends once it is open.
            self.power.end_session(sched.now_ns())
            self._apply_power()
            # A: the pilot holds no fault of ours any more; a reset the pilot's F held back
            # is retried now that the power path has heard the unplug (station_faults.yaml).
            self.station_faults.post("unplugged", sched.now_ns())
            was_present, self._present = self._present, False
            self._publish(PlcEvPresent(present=False, connector_id=1), sched.now_ns())
            if was_present:  # a milestone, once per plug-in (not the pilot's start in A)
                self._publish(PlcSessionEvent(event=SessionEventKind.EV_UNPLUGGED),
                              sched.now_ns())
            self._set_phase(V2gPhase.IDLE)

    def car_session_over(self) -> None:
        """The plugged car starts a new V2G session (woken after its last one ended): the
        closed SECC session is dropped; the car's connection opens a new one."""
        if self.secc is not None and self.secc.closed:
            self.secc = None
            self._secc_timer.update()

    def car_closed_connection(self, now_ns: int) -> None:
        """The car closed its TCP connection (an EVCC that gives up, e.g. on its Ongoing
        timeout, closes it)."""
        if self.secc is not None and not self.secc.closed:
            self._secc_out(self.secc.connection_lost(now_ns))

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
        times = [self.slac.next_deadline_ns(),
                 self.world.medium.next_delivery_ns(self.world.evse_plc)]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def _slac_fire(self, now_ns: int) -> None:
        self.slac_port_readable(now_ns)
        d = self.slac.next_deadline_ns()
        if d is not None and d <= now_ns:
            self._route_slac(self.slac.handle_timer(now_ns))
        if self.sim_car is not None:
            self.sim_car.check_link(now_ns)

    def slac_medium_changed(self) -> None:
        """A frame went on the simulated powerline: re-arm whoever may receive it."""
        self._slac_pump.update()
        if self.sim_car is not None:
            self.sim_car.medium_changed()

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
                if out.reason is not LinkErrorReason.RESTARTED:  # the car's own new SLAC
                    self._link_failed(FaultCode.SLAC_FAILED, f"slac {out.reason.value}", now)
            elif isinstance(out, EfRetryRequested):
                self.sched.post("cp", Event("wake_up"), source="slac")
        self.slac_medium_changed()

    # ================================================================== SDP + connection
    def sdp_datagram_from_car(self, datagram: bytes, now_ns: int) -> None:
        """An SDP request from the simulated car arrived at the SDP server."""
        result = self.sdp.handle_datagram(datagram, EV_ADDRESS, now_ns)
        self.sched.trace.record("sdp", "datagram", {"event": type(result.event).__name__})
        if result.reply is not None and self.sim_car is not None:
            self.sim_car.sdp_reply(result.reply.datagram)

    # ---------------------------------------------------------- external car (real sockets)
    def open_connection(self, now_ns: int, *, tls: bool = False) -> None:
        """A car connected over TCP/TLS (real sockets): a new SECC session. Contract
        payment is offered only on TLS [V2G2-634/635]."""
        self.secc = SeccCore(self.env, self._secc_config(self.secc_protocols, tls),
                             new_session_id=self._session_id, trace=self.sched.trace,
                             store=self.paused_sessions)
        self._secc_out(self.secc.connection_opened(now_ns))

    def receive_payload(self, payload: bytes, now_ns: int) -> None:
        """One V2GTP EXI payload from the external car."""
        if self.secc is not None and not self.secc.closed:
            self.env.last_payload = payload
            self._measure_now(now_ns)
            self._secc_out(self.secc.receive(payload, now_ns))

    def connection_lost(self, now_ns: int) -> None:
        if self.secc is not None and not self.secc.closed:
            self._secc_out(self.secc.connection_lost(now_ns))

    def _secc_config(self, protocols: tuple[AppProtocol, ...], tls: bool) -> SeccConfig:
        """Contract (Plug & Charge) is offered only on TLS [V2G2-634/635]; EIM always. The
        authorization waits are the station config's; absolute times the car is told use
        the clock's epoch (fixed in virtual time, real Unix time in production)."""
        options = (PaymentMethod.CONTRACT, PaymentMethod.EIM) if tls else (PaymentMethod.EIM,)
        auth = self.config.auth
        return SeccConfig(protocols=protocols, tls=tls, payment_options=options,
                          auth_timeout_eim_s=auth.timeout_eim_s,
                          auth_timeout_pnc_s=auth.timeout_pnc_s,
                          epoch_unix_s=self.sched.clock.epoch_unix_ns // S)

    def car_connects(self, now_ns: int) -> None:
        """The simulated car opened its TCP connection: a new SECC session."""
        protocols = tuple(PROTOCOLS.values())
        self.secc = SeccCore(self.env, self._secc_config(protocols, self._session_tls),
                             new_session_id=self._session_id, trace=self.sched.trace,
                             store=self.paused_sessions)
        self._secc_rx = V2gtpStreamDecoder()
        self._secc_out(self.secc.connection_opened(now_ns))

    def frame_from_car(self, frame: bytes, now_ns: int) -> None:
        """V2GTP bytes from the simulated car reached the SECC's TCP socket."""
        secc = self.secc
        if secc is None or secc.closed or self._secc_rx.broken:
            return
        for ev in self._secc_rx.feed(frame, now_ns):
            if isinstance(ev, FrameReceived):
                self.env.last_payload = ev.payload
                self._measure_now(now_ns)
                self._secc_out(secc.receive(ev.payload, now_ns))
            elif isinstance(ev, StreamBroken):
                # A V2GTP header that cannot be framed: the SECC closes the TCP connection,
                # as the socket server does (evse/io/v2g_net.py CloseReason.HEADER_ERROR).
                self.sched.trace.record("v2gtp", "broken", {"error": str(ev.error)})
                self._secc_out(secc.connection_lost(now_ns))
                if self.sim_car is not None:
                    self.sim_car.connection_closed_by_secc()
                return

    def _measure_now(self, now_ns: int) -> None:
        """A fresh meter sample for the answer about to be built: what the car is told as
        present voltage/current is measured at the request, not up to a power tick earlier
        (P0 item 2: the car compares it with its own inlet, and its contactors may have
        just closed). The regulation keeps its own tick; this only refreshes the snapshot."""
        self.world.step(now_ns)
        reading = self.world.meter.sample(now_ns)
        if reading is None:  # a polled bus meter had nothing new: the snapshot stands
            return
        self._energy_wh = reading.energy_wh
        self.power.handle(reading, now_ns)
        self._apply_power()

    def _secc_out(self, outs: list[Any]) -> None:
        sink = self.v2g_sink
        for out in outs:
            if sink is not None and isinstance(out, SendPayload | CloseConnection):
                sink(out)
                continue
            car = self.sim_car
            if isinstance(out, SendPayload):
                self.log.responses += 1
                if car is not None:
                    car.frame_from_secc(encode_frame(PayloadType.EXI, out.payload))
            elif isinstance(out, CloseConnection):
                if car is not None:
                    car.connection_closed_by_secc()
            else:
                self.sched.trace.record("secc", "output", {"out": repr(out)})
        self._update_phase()
        self._secc_timer.update()

    def _secc_fire(self, now_ns: int) -> None:
        if self.secc is not None:
            self._secc_out(self.secc.handle_timer(now_ns))

    def _session_ended(self, reason: SessionEndReason, now_ns: int) -> None:
        self.log.add(now_ns, f"secc session ended {reason.value}")
        self.last_end_reason = reason
        code = _V2G_FAILURES.get(reason)
        if code is not None:
            self._link_failed(code, f"v2g {reason.value}", now_ns)
        self._publish(PlcSessionEvent(event=SessionEventKind.SESSION_STOPPED,
                                      stop_reason=self.env.stop_reason(reason, now_ns)), now_ns)
        # After the V2G session the EVSE stops the 5 % PWM (B1/C1). Not before the power path
        # has ramped the current down and opened the contactors: withdrawing power through
        # the pilot would open them under load. If the power path has not finished within
        # its own error-shutdown bound, the pilot withdraws power anyway (the hard fallback).
        self._suspend_due_ns = now_ns + ERROR_SHUTDOWN_OPEN_BOUND_NS
        self._maybe_suspend_hlc(now_ns)

    def _link_failed(self, code: FaultCode, detail: str, now_ns: int) -> None:
        """A SLAC or V2G failure of the plugged car becomes plc.fault `code` (WARNING, not
        latched) until the car leaves: the controller reports it (OCPP 1.6 errorCode
        EVCommunicationError, 2.0.1 NotifyEvent) without putting the connector out of
        service, since the same car may retry (a new SLAC or V2G session) at once. Not
        after the car left: the unplug itself ends the link."""
        if not self._present or code in self._link_faults:
            return
        self._link_faults[code] = detail
        self._report_faults(now_ns)

    def _maybe_suspend_hlc(self, now_ns: int) -> None:
        due = self._suspend_due_ns
        if due is None:
            return
        idle = self.power.phase in _POWER_AT_REST
        if (idle and not self.cp.contactors_closed) or now_ns >= due:
            self._suspend_due_ns = None
            self.sched.post("cp", Event("hlc_suspend"), source="secc")

    def _update_phase(self) -> None:
        secc = self.secc
        if secc is None:
            return
        if secc.closed:  # ended in any state (the car closed the connection mid-way too)
            self._set_phase(V2gPhase.SESSION_STOP)
            return
        machine = secc.machine
        self._set_phase(secc_phase(machine.spec if machine is not None else None, secc.state))

    def _set_phase(self, phase: V2gPhase) -> None:
        if phase is self._phase:
            return
        self._phase = phase
        now = self.sched.now_ns()
        self._on_decisions(self.guard.set_phase(phase, now), now)
        self._publish_phase(now)

    def _phase_now(self) -> V2gPhase:
        """plc.v2g_phase: FAULT (A1 "SF", entered from any state) while a plc.fault is
        active, the SECC's own phase otherwise. The guard keeps the SECC's phase: its
        session rules (auth, charging, wake-up) are about the session, not the fault."""
        severe = any(f.severity in (FaultSeverity.ERROR, FaultSeverity.CRITICAL)
                     for f in self._faults.values())
        return V2gPhase.FAULT if severe else self._phase

    def _publish_phase(self, now_ns: int) -> None:
        phase = self._phase_now()
        if phase is not self._reported_phase:
            self._reported_phase = phase
            self._publish(PlcV2gPhase(phase=phase), now_ns)

    def _publish_cp_state(self, now_ns: int) -> None:
        """plc.cp_state on every change of the pilot's level or oscillator."""
        value = PlcCpState(state=cp_state_of(self.cp.level, self.cp.handler.pwm_on),
                           pwm_duty_pct=HLC_DUTY_PCT if self.cp.handler.pwm_on else None)
        if value != self._cp_state:
            self._cp_state = value
            self._publish(value, now_ns)

    def _publish_pp_state(self, now_ns: int) -> None:
        """plc.pp_state on every change of the board's proximity input (not while the
        board does not read PP)."""
        state = pp_state_of(self.cp.pp_state)
        if state is None:
            return
        value = PlcPpState(state=state, cable_rating_a=self.power.config.cable_rating_a)
        if value != self._pp_state:
            self._pp_state = value
            self._publish(value, now_ns)

    def _publish_setpoint(self, now_ns: int) -> None:
        """plc.power_setpoint: at the meas cadence (20 Hz) while the modules' output is
        enabled, once when it is disabled, then with the 1 Hz heartbeat (a proxy that sees
        it stale disables its output, which is then right)."""
        sp = self.power.output_setpoint
        value = (PlcPowerSetpoint(voltage_setpoint_v=0.0, current_setpoint_a=0.0,
                                  enable_output=False) if sp is None else
                 PlcPowerSetpoint(voltage_setpoint_v=max(0.0, min(sp[0], 1500.0)),
                                  current_setpoint_a=max(0.0, min(sp[1], 1000.0)),
                                  enable_output=True))
        if value.enable_output or value != self._setpoint:
            self._setpoint = value
            self._publish(value, now_ns)

    def _publish_states(self, now_ns: int) -> None:
        """contract: plc.ev_present / plc.v2g_phase / plc.cp_state / plc.pp_state are
        events plus a 1 Hz heartbeat, plc.fault is repeated at 1 Hz while active, and a
        disabled plc.power_setpoint is repeated at 1 Hz."""
        self._publish(PlcEvPresent(present=self._present, connector_id=1), now_ns)
        self._publish(PlcV2gPhase(phase=self._reported_phase), now_ns)
        for level in (self._cp_state, self._pp_state):
            if level is not None:
                self._publish(level, now_ns)
        if self._setpoint is not None and not self._setpoint.enable_output:
            self._publish(self._setpoint, now_ns)
        for fault in self._faults.values():
            self._publish(fault, now_ns)

    def _report_faults(self, now_ns: int) -> None:
        """B5 plc.fault from the power path and the pilot, published when they change."""
        active: dict[FaultCode, PlcFault] = {}
        # Every active power fault under its table row's code; the controller's own
        # STOP_EMERGENCY is its decision, not a station fault to report back to it.
        for pf in self.power.faults:
            if pf.reason is FaultReason.CONTROLLER_EMERGENCY_STOP or pf.fault_code in active:
                continue
            severity = (FaultSeverity.CRITICAL if pf.severity is Severity.EMERGENCY
                        else FaultSeverity.ERROR)
            active[pf.fault_code] = PlcFault(
                fault_code=pf.fault_code, severity=severity, active=True,
                latched=pf.clearing is not Clearing.SELF_CLEARING,
                diagnostic_data=pf.detail[:120])
        for code, detail in self._link_faults.items():
            active[code] = PlcFault(fault_code=code, severity=FaultSeverity.WARNING,
                                    active=True, latched=False, diagnostic_data=detail[:120])
        if self._pp_fault:
            active[FaultCode.PP_INVALID] = PlcFault(
                fault_code=FaultCode.PP_INVALID, severity=FaultSeverity.ERROR, active=True,
                latched=False, diagnostic_data=f"proximity {self.cp.pp_state.value}, pilot plugged")
        ev_error = self.env.ev_error
        if ev_error is not None:  # the car's own error: self-clearing, it leaves with the car
            active[FaultCode.EV_ERROR] = PlcFault(
                fault_code=FaultCode.EV_ERROR, severity=FaultSeverity.ERROR, active=True,
                latched=False, diagnostic_data=ev_error[0][:120])
        if self.cp.has_tag("emergency"):
            active[FaultCode.EMERGENCY_STOP] = PlcFault(
                fault_code=FaultCode.EMERGENCY_STOP, severity=FaultSeverity.CRITICAL,
                active=True, latched=True, diagnostic_data="e-stop")
        elif self.cp.has_tag("cp_error"):
            code = FaultCode.CP_DIODE_FAULT if self.cp.handler.diode_fault else FaultCode.CP_STATE_E
            active[code] = PlcFault(fault_code=code, severity=FaultSeverity.ERROR, active=True,
                                    latched=False, diagnostic_data=None)
        elif self.cp.has_tag("pilot_f"):
            # F held for a cause reported on its own (an e-stop until reset, a latched power
            # fault) reads as that cause; F for the pilot's own causes is CP_STATE_F.
            latched = set(self.cp.handler.latched)
            if FaultCause.ESTOP in latched:
                active[FaultCode.EMERGENCY_STOP] = PlcFault(
                    fault_code=FaultCode.EMERGENCY_STOP, severity=FaultSeverity.CRITICAL,
                    active=True, latched=True, diagnostic_data="e-stop released, not reset")
            latched.discard(FaultCause.ESTOP)
            if self.station_faults.has_tag(PILOT_HELD_TAG):  # our power fault, reported above
                latched.discard(FaultCause.EXTERNAL)
            if latched:
                causes = ",".join(sorted(c.value for c in latched)) or "fault"
                active[FaultCode.CP_STATE_F] = PlcFault(
                    fault_code=FaultCode.CP_STATE_F, severity=FaultSeverity.ERROR, active=True,
                    latched=True, diagnostic_data=causes[:120])
        for code, fault in active.items():
            if self._faults.get(code) != fault:
                self._publish_fault(fault, now_ns)
        for code, old in self._faults.items():
            if code not in active:
                self._publish_fault(PlcFault(fault_code=code, severity=old.severity,
                                             active=False, latched=False,
                                             diagnostic_data=None), now_ns)
        self._faults = active
        self._publish_phase(now_ns)
        if self.fault_store is not None:
            self._save_held_faults(now_ns)

    def _publish_fault(self, fault: PlcFault, now_ns: int) -> None:
        """plc.fault to the controller, and the same change in the trace: the operator's
        log (journald, evse/io/journal.py) has one entry per fault raised or cleared."""
        self._publish(fault, now_ns)
        self.sched.trace.record("station", "fault", {
            "code": fault.fault_code.value, "severity": fault.severity.value,
            "active": fault.active, "latched": fault.latched,
            "detail": fault.diagnostic_data})

    def _save_held_faults(self, now_ns: int) -> None:
        """Write the held faults when they change. A failed write (disk full, read-only
        /var) must not stop a running station: it is traced and logged once per value and
        retried at the next change; the faults themselves stay in force in memory."""
        assert self.fault_store is not None
        faults, welded = self.power.held_faults()
        held = HeldFaults(faults, welded)
        if held == self._store_failed_for:
            return
        try:
            self.fault_store.save(held)
        except FaultStoreError as exc:
            self._store_failed_for = held
            self.sched.trace.record("power", "fault_store_failed", {"error": str(exc)})
            self.log.add(now_ns, f"fault store not written: {exc}")
        else:
            self._store_failed_for = None

    # ================================================================== power path
    def _power_input(self, item: Any, now_ns: int) -> None:
        self.power.handle(item, now_ns)
        self._apply_power()

    def _power_idle(self, now_ns: int) -> bool:
        """Nothing plugged, the path at rest and open, no shutdown or chart timer pending:
        nothing in the power part can change faster than the idle rate."""
        if (not self.cp.has_tag("no_vehicle") or self.power.phase not in _POWER_AT_REST
                or self._suspend_due_ns is not None or self.world.contactor.closed
                or self.world.contactor.commanded_closed):
            return False
        due = self.power.next_deadline_ns()
        return due is None or due > now_ns

    def _power_settled(self, now_ns: int) -> bool:
        """Charging, the current loop on its target and no bound of the path due, and no
        module answer, driver poll or driver timeout due: a tick now would only resample."""
        if self._suspend_due_ns is not None or not self.power.control_settled(now_ns):
            return False
        w = self.world
        for due in (w.rack.next_deadline_ns(), w.group.next_deadline_ns(),
                    w.imd.next_deadline_ns()):
            if due is not None and due <= now_ns:
                return False
        return True

    def _power_tick(self, now_ns: int) -> None:
        if ((now_ns < self._next_idle_tick_ns and self._power_idle(now_ns))
                or (now_ns < self._next_settled_tick_ns and self._power_settled(now_ns))):
            self._contract_tick(now_ns)
            return
        self._next_idle_tick_ns = now_ns + IDLE_POWER_TICK_NS
        self._next_settled_tick_ns = now_ns + SETTLED_POWER_TICK_NS
        w, power = self.world, self.power
        w.step(now_ns)
        # Everything the devices said since the last tick, in arrival order, then this
        # tick's meter sample and limits: one chart run over all of it (PowerPath.handle_many).
        inputs: list[PowerInput] = [*w.group.poll(now_ns), *w.imd.poll(now_ns)]
        reading = w.meter.sample(now_ns)
        if reading is not None:  # None: a polled bus meter had no new reading this tick
            inputs.append(reading)
            self._energy_wh = reading.energy_wh
        limits = self.guard.effective_limits(now_ns)
        if limits != self._last_limits:
            self._last_limits = limits
            inputs.append(limits)
        power.handle_many(inputs, now_ns, timer=True)
        self._apply_power()
        self._maybe_suspend_hlc(now_ns)
        # A latched power fault may now hold the pilot; a stop the guard asked may be over.
        self.station_faults.post("power_tick", now_ns)
        self.station_faults.post("stop_check", now_ns)
        self._report_faults(now_ns)
        self._contract_tick(now_ns)

    def _contract_tick(self, now_ns: int) -> None:
        """Contract traffic both ways, then the controller (every power tick, idle too)."""
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
        """The power path's commands go out now, and the frames they put on the module and
        IMD buses reach the simulated devices in this scheduler turn: a CurrentDemandReq's
        setpoint is at the modules before the answer is sent, not at the next power tick
        (issue 12 item 3; the group driver's own setpoint rate limit still applies)."""
        commands = self.power.take_commands()
        if not commands:
            return
        now = self.sched.now_ns()
        for cmd in commands:
            self.sched.trace.record("power", "command", {"cmd": repr(cmd)})
            apply_power_command(cmd, now, group=self.world.group, imd=self.world.imd,
                                contactors=self._request_contactors)
        self.world.deliver(now)

    def _request_contactors(self, closed: bool) -> None:
        # The power path asks; the pilot chart grants (only in C2/D2 with PWM running).
        name = "power_on_request" if closed else "power_off_request"
        self.sched.post("cp", Event(name), source="power")

    def _publish_meas(self, now_ns: int) -> None:
        value = self.env.meas_signal(self._energy_wh)
        if value is not None:
            self._publish(value, now_ns)
        self._publish_setpoint(now_ns)

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
            elif isinstance(decision, StopRequested):
                if decision.request.kind is StopKind.EMERGENCY:
                    # STOP_EMERGENCY, or a controlled stop that did not finish in time:
                    # the emergency shutdown path (output off and contacts open now, the
                    # car told EVSE_EmergencyShutdown).
                    self.power.emergency_stop(decision.request.reason.value, now_ns)
                    self._apply_power()
            elif isinstance(decision, AvailabilityChanged):
                name = "enable" if decision.enabled else "disable"
                self.sched.post("cp", Event(name), source="controller")
            elif isinstance(decision, FaultResetRequested):
                self.station_faults.post("reset_requested", now_ns)
            elif isinstance(decision, WakeUpRequested):
                # IEC 61851-1 / ISO 15118-3 wake-up: E/F for T_step_EF, then B1 -> B2
                # (5 % PWM back on); the car starts SLAC and a new V2G session.
                self.log.add(now_ns, "authorized while no V2G session: wake the car")
                self.sched.post("cp", Event("wake_up"), source="guard")

    def _retell_session(self, now_ns: int) -> None:
        """A new controller process took over mid-session: it knows nothing of it. Tell it
        again what a controller learns once per session (the link republishes only level
        signals): presence, EV MAC, EVCCID, EV limits, and a pending authorization."""
        self._publish(PlcEvPresent(present=self._present, connector_id=1), now_ns)
        self._publish(PlcV2gPhase(phase=self._reported_phase), now_ns)
        if self._ev_mac is not None:
            self._publish(self._ev_mac, now_ns)
        self.env.retell(now_ns)

    # ================================================================== running
    def run_until(self, t_ns: int) -> None:
        self.sched.run_until(t_ns)

    def close(self) -> None:
        if self.ems is not None:
            self.ems.close()
        self.world.close()


_POWER_AT_REST = (PowerPhase.IDLE, PowerPhase.STOPPED, PowerPhase.FAULTED)


def _power_path_config(config: StationConfig) -> PowerPathConfig:
    """The power path's detection thresholds from the station config (`power_faults:`)."""
    pf = config.power_faults
    return PowerPathConfig(
        over_current_margin_a=pf.over_current_margin_a,
        over_current_margin_fraction=pf.over_current_margin_fraction,
        over_current_duration_ns=ms_to_ns(pf.over_current_duration_ms),
        temperature_derate_c=pf.temperature_derate_c,
        temperature_trip_c=pf.temperature_trip_c,
        meter_stale_ns=ms_to_ns(pf.meter_stale_ms),
        cable_rating_a=pf.cable_rating_a,
    )

#: How a V2G session's failure is reported as plc.fault (the stop reason says the same in
#: StationEnv._END_REASONS): protocol errors and timeouts, a lost TCP connection included.
_V2G_FAILURES: dict[SessionEndReason, FaultCode] = {
    SessionEndReason.SEQUENCE_ERROR: FaultCode.V2G_PROTOCOL_ERROR,
    SessionEndReason.UNKNOWN_SESSION: FaultCode.V2G_PROTOCOL_ERROR,
    SessionEndReason.MALFORMED: FaultCode.V2G_PROTOCOL_ERROR,
    SessionEndReason.NO_NEGOTIATION: FaultCode.V2G_PROTOCOL_ERROR,
    SessionEndReason.SEQUENCE_TIMEOUT: FaultCode.V2G_TIMEOUT,
    SessionEndReason.CONNECTION_LOST: FaultCode.V2G_TIMEOUT,
}

