"""One named injector per catalogue fault (evse/campaign/catalogue.yaml) or day session
(evse/runtime/day.py), acting on the real station's simulated parts.

Each injector changes what a real fault would change: a device of the simulated world
(`SimWorld`: modules, IMD, meter, contactor, board), the car (`SimCar` / its EV simulator
profile), a link (powerline, V2G TCP, the contract link), the CSMS simulator, or the
station as a whole (power loss). Where the simulated part cannot produce the fault itself
the injector is a *stand-in* and says so in `stand_in` (it then acts at the nearest
boundary: the driver's output into the power path, never inside the unit under test).

Injected device faults stay until the world is repaired (`Rig.repair`: the technician
fixed the module, the e-stop is released); faults that belong to the car leave with it
(`Rig.car_left`). Both are recorded as undo actions, so one station can live through any
sequence of faults and the next car meets a world that is whole again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from drivers.board.sim import EvCpState
from drivers.sim.loads import ShortCircuit
from evse.controller.plc_port import SessionCommandKind
from evse.fsm import Event
from evse.ports.board import BoardFault, BoardFaultKind, PpState
from evse.ports.imd import IsolationMeasurement
from evse.ports.meter import MeterReading
from evse.ports.power import ModuleAlarm
from evse.ports.temperature import TemperatureReading
from evse.runtime.dc_station import DcStation
from evse.runtime.ocpp_side import SIM_TOKEN, OcppSide
from evse.v2gtp.header import PayloadType, encode_frame

MS = 1_000_000
#: A hard insulation fault: well below the fixed 100 kOhm threshold (IEC 61851-23:2023
#: CC.4.1.2, evse/power/cable_check.py FAULT_THRESHOLD_OHM).
FAULT_OHM = 20_000.0
#: A degraded insulation above the fixed threshold: a warning under the 2014 per-volt rule
#: (100-500 Ohm/V at 500 V), "valid" under the 2023 rule the station uses by default.
WARNING_OHM = 150_000.0
#: A connector temperature above the default trip (PowerPathConfig.temperature_trip_c 90).
HOT_C = 95.0
#: An asymmetric voltage to earth above both limits of cable_check.py voltage_to_earth_ok
#: (550 V, or 1.1 x a rated voltage of up to 1000 V).
EARTH_V = 1500.0
#: Over-current: the current loop lost its reference and sources this far above the demand.
OVER_CURRENT_EXTRA_A = 60.0
#: A bolted short across the DC pins [assumed 50 mOhm: cable and contact resistance]. (The
#: sim's ShortCircuit default is the 100 Ohm cable-check test resistor of hardware.md §2.5,
#: which while charging only looks like a lost battery, not a short.)
SHORT_OHM = 0.05


class Point(enum.Enum):
    """Where a fault enters the simulation (issue 14 item 2 "injection point")."""

    DEVICE = "device"  # a simulated device of the world (modules, IMD, meter, contactor)
    BOARD = "board"  # the simulated board: pilot line, e-stop, MCU
    CAR = "car"  # the simulated car or its inlet
    LINK = "link"  # powerline, V2G TCP, the contract link
    CSMS = "csms"  # the CSMS simulator / the OCPP connection
    POWER = "power"  # the station's power supply (loss and restart)


class Rig:
    """What injectors act on: the station, its OCPP side and the undo lists."""

    def __init__(self, st: DcStation) -> None:
        self.st = st
        side = st.controller
        self.side: OcppSide | None = side if isinstance(side, OcppSide) else None
        self.healthy_ohm = st.world.imd_physics.resistance_ohm
        self._on_repair: list[Callable[[], None]] = []
        self._on_car_left: list[Callable[[], None]] = []
        #: Set by the `power_loss` injector: the harness rebuilds the station.
        self.restart_requested = False
        #: Set by an injector that found nothing to act on (why): the shot is void, it
        #: changed nothing, so there is nothing to judge (the harness drops it).
        self.void: str | None = None

    def now(self) -> int:
        return self.st.sched.now_ns()

    def take_void(self) -> str | None:
        """Why the last injection was void (None: it acted), cleared for the next one."""
        void, self.void = self.void, None
        return void

    def until_repair(self, undo: Callable[[], None]) -> None:
        self._on_repair.append(undo)

    def until_car_leaves(self, undo: Callable[[], None]) -> None:
        self._on_car_left.append(undo)

    def patch(self, obj: Any, attr: str, value: Any, *, car_scoped: bool = False) -> None:
        """Set `obj.attr` (an instance attribute) and restore it on repair / car leave."""
        # A slotted object (or an attribute of the instance) gets its old value back; a
        # method patched on an instance is deleted again, so the class's shows through.
        restore = not hasattr(obj, "__dict__") or attr in obj.__dict__
        old = getattr(obj, attr)

        def undo() -> None:
            if restore:
                setattr(obj, attr, old)
            else:
                delattr(obj, attr)

        setattr(obj, attr, value)
        (self.until_car_leaves if car_scoped else self.until_repair)(undo)

    def car_left(self) -> None:
        undo, self._on_car_left = self._on_car_left, []
        for fn in reversed(undo):
            fn()

    def repair(self) -> None:
        self.car_left()
        undo, self._on_repair = self._on_repair, []
        for fn in reversed(undo):
            fn()

    @property
    def broken(self) -> bool:
        return bool(self._on_repair)


@dataclass(frozen=True, slots=True)
class Injector:
    name: str
    point: Point
    doc: str
    apply: Callable[[Rig], None]
    #: Why this is a stand-in (the simulated part cannot produce the fault), or None.
    stand_in: str | None = None


INJECTORS: dict[str, Injector] = {}


def _injector(point: Point, doc: str, stand_in: str | None = None
              ) -> Callable[[Callable[[Rig], None]], Callable[[Rig], None]]:
    def register(fn: Callable[[Rig], None]) -> Callable[[Rig], None]:
        name = fn.__name__.lstrip("_")
        INJECTORS[name] = Injector(name, point, doc, fn, stand_in)
        return fn
    return register


# ---------------------------------------------------------------------------- devices
@_injector(Point.DEVICE, "IMD sim: insulation to earth drops to 20 kOhm (ImdPhysics)")
def _insulation_fault(r: Rig) -> None:
    imd = r.st.world.imd_physics
    imd.inject_insulation_fault(FAULT_OHM)
    r.until_repair(lambda: imd.inject_insulation_fault(r.healthy_ohm))


@_injector(Point.DEVICE, "IMD sim: insulation degrades to 150 kOhm (a 2014 per-volt warning)")
def _insulation_warning(r: Rig) -> None:
    imd = r.st.world.imd_physics
    imd.inject_insulation_fault(WARNING_OHM)
    r.until_repair(lambda: imd.inject_insulation_fault(r.healthy_ohm))


@_injector(Point.DEVICE, "IMD sim stops talking on its bus (Iso165cSim.silent)")
def _imd_silent(r: Rig) -> None:
    r.patch(r.st.world.imd_sim, "silent", True)


@_injector(Point.DEVICE, "IMD sim: the next self-test fails (ImdPhysics.fail_self_test)")
def _imd_self_test_fails(r: Rig) -> None:
    r.patch(r.st.world.imd_physics, "fail_self_test", True)


@_injector(Point.DEVICE, "IMD sim: the self-test never ends (1000 s self-test)")
def _imd_self_test_hangs(r: Rig) -> None:
    r.patch(r.st.world.imd_physics, "self_test_duration_ns", 1_000_000 * MS)


@_injector(Point.DEVICE, "IMD sim reports a device fault (system failure bit)")
def _imd_device_fault(r: Rig) -> None:
    r.patch(r.st.world.imd_physics, "device_error", True)


@_injector(Point.DEVICE, "IMD driver output: |U_L1E| 1500 V in every measurement",
           stand_in="the iso165C simulator models no voltage to earth: the measurement the "
                    "driver hands the power path is rewritten (IsolationMeasurement)")
def _voltage_to_earth(r: Rig) -> None:
    imd = r.st.world.imd
    original = imd.poll

    def poll(now_ns: int) -> list[Any]:
        return [replace(ev, voltage_to_earth_l1e_v=EARTH_V)
                if isinstance(ev, IsolationMeasurement) else ev for ev in original(now_ns)]

    r.patch(imd, "poll", poll)


def _stages(r: Rig) -> list[Any]:
    return list(r.st.world.stages.values())


@_injector(Point.DEVICE, "module sim 0 raises a tripping alarm (MODULE_FAULT)")
def _module_alarm(r: Rig) -> None:
    stage = _stages(r)[0]
    stage.injected_alarms.add(ModuleAlarm.MODULE_FAULT)
    r.until_repair(lambda: stage.injected_alarms.discard(ModuleAlarm.MODULE_FAULT))


@_injector(Point.DEVICE, "module sim 0 leaves the bus (no answers, output off)")
def _module_lost(r: Rig) -> None:
    r.patch(_stages(r)[0], "present", False)


@_injector(Point.DEVICE, "every module sim leaves the bus")
def _all_modules_lost(r: Rig) -> None:
    for stage in _stages(r):
        r.patch(stage, "present", False)


@_injector(Point.CAR, "a short circuit across the DC pins (plant load: 50 mOhm)")
def _output_short(r: Rig) -> None:
    plant = r.st.world.plant
    r.patch(plant, "load", ShortCircuit(SHORT_OHM), car_scoped=True)


@_injector(Point.DEVICE, "every module's regulation drives 10 % above the car's maximum")
def _over_voltage(r: Rig) -> None:
    _force_voltage(r, r.st.ev_profile.battery.max_voltage_v * 1.10)


def _force_voltage(r: Rig, target_v: float) -> None:
    """Every module regulates to `target_v` with a 10 A current limit of its own (a voltage
    loop that lost its reference: the precharge current limit no longer holds it back)."""
    for stage in _stages(r):
        r.patch(stage, "forced_voltage_v", target_v)
        r.patch(stage, "forced_current_a", max(stage.current_set_a, 10.0))


@_injector(Point.DEVICE, "every module's regulation jumps to 600 V (Table 103: 550 V for a "
           "car of at most 500 V)")
def _emergency_over_voltage(r: Rig) -> None:
    # A regulator that fails hard jumps: at the modules' 500 V/s walk-in the 2 % software
    # over-voltage (400 ms) would trip long before Table 103 is reached.
    _force_voltage(r, 600.0)
    for stage in _stages(r):
        r.patch(stage.params, "slew_v_per_s", 50_000.0)


@_injector(Point.DEVICE, "the modules' current loop sources 60 A above the demand")
def _over_current(r: Rig) -> None:
    st = r.st
    demand = sum(s.current_set_a for s in _stages(r))
    share = (demand + OVER_CURRENT_EXTRA_A) / max(1, len(_stages(r)))
    for stage in _stages(r):
        r.patch(stage, "forced_current_a", share)
        r.patch(stage, "forced_voltage_v", st.ev_profile.battery.max_voltage_v)


@_injector(Point.DEVICE, "the modules cannot reach the target (regulation stuck at 80 V)")
def _output_stuck_low(r: Rig) -> None:
    for stage in _stages(r):
        r.patch(stage, "forced_voltage_v", 80.0)


@_injector(Point.DEVICE, "the output discharge path is gone (module discharge 1 GOhm)")
def _discharge_lost(r: Rig) -> None:
    for stage in _stages(r):
        r.patch(stage.params, "discharge_resistance_ohm", 1e9)


@_injector(Point.DEVICE, "the modules keep their output on when told off, and module 0 "
           "then raises a tripping alarm (the error shutdown that follows cannot confirm "
           "output off)")
def _output_stuck_on(r: Rig) -> None:
    for stage in _stages(r):
        r.patch(stage, "stuck_on", True)
    _module_alarm(r)


@_injector(Point.DEVICE, "a connector temperature sample of 95 C every power tick",
           stand_in="the simulated world has no temperature sensor: readings are posted to "
                    "the power path as the sensor driver would (TemperatureReading)")
def _over_temperature(r: Rig) -> None:
    st = r.st
    active = [True]

    def hot(now_ns: int) -> None:
        if active[0]:
            st.sched.post("power", TemperatureReading("dc_plus_pin", HOT_C, now_ns),
                          source="campaign")
            st.sched.start_timer(100 * MS, hot, "campaign.temp")

    def cool() -> None:
        active[0] = False
        st.sched.post("power", TemperatureReading("dc_plus_pin", 30.0, st.sched.now_ns()),
                      source="campaign")

    hot(st.sched.now_ns())
    r.until_repair(cool)


@_injector(Point.DEVICE, "the DC meter's readings stop reaching the power path",
           stand_in="the simulated meter cannot go silent (the station samples it every "
                    "tick): MeterReading inputs are dropped at the power path's input, as a "
                    "dead meter bus would drop them")
def _meter_stale(r: Rig) -> None:
    power = r.st.power
    handle, handle_many = power.handle, power.handle_many

    def one(item: Any, now_ns: int) -> None:
        if not isinstance(item, MeterReading):
            handle(item, now_ns)

    def many(items: list[Any], now_ns: int, **kw: Any) -> None:
        handle_many([i for i in items if not isinstance(i, MeterReading)], now_ns, **kw)

    r.patch(power, "handle", one)
    r.patch(power, "handle_many", many)


# ---------------------------------------------------------------------------- contactor
@_injector(Point.DEVICE, "the DC contactor welds (sticks at its next opening)")
def _contactor_welds(r: Rig) -> None:
    c = r.st.world.contactor
    c.inject_welding()

    def free() -> None:
        c.welded = False
        target = c.commanded_closed  # the contacts follow the coil again
        c.commanded_closed = not target
        c.command(target, r.now())

    r.until_repair(free)


@_injector(Point.DEVICE, "the DC contactor does not pull in (close commands are lost)")
def _contactor_fails_to_close(r: Rig) -> None:
    c = r.st.world.contactor
    command = c.command

    def lossy(closed: bool, now_ns: int) -> None:
        if not closed:
            command(False, now_ns)

    r.patch(c, "command", lossy)


@_injector(Point.DEVICE, "the DC contactor drops out under load (its contacts open now)")
def _contactor_opens(r: Rig) -> None:
    c = r.st.world.contactor
    command = c.command
    command(False, r.now())
    # The coil stays energised as far as the board knows: the contacts do not come back.
    r.patch(c, "command", lambda closed, now_ns: command(False, now_ns), car_scoped=True)


# ---------------------------------------------------------------------------- board / pilot
@_injector(Point.BOARD, "the e-stop button is pressed (released on repair)")
def _estop(r: Rig) -> None:
    board = r.st.world.board
    board.press_estop()
    r.until_repair(board.release_estop)


@_injector(Point.BOARD, "the safety MCU reports a fault (feedback divergence)")
def _board_fault(r: Rig) -> None:
    board = r.st.world.board
    board._pending.append(BoardFault(BoardFaultKind.CONTACTOR_FEEDBACK_DIVERGES, r.now()))


@_injector(Point.CAR, "CP shorted to PE (state E) by the car")
def _cp_e(r: Rig) -> None:
    _pin_cp(r, EvCpState.E)


@_injector(Point.CAR, "the car's pilot diode shorts (diode fault)")
def _cp_diode_fault(r: Rig) -> None:
    r.patch(r.st.world.board, "ev_diode_ok", False, car_scoped=True)


@_injector(Point.BOARD, "the pilot goes to F (-12 V)",
           stand_in="the simulated board cannot force its own oscillator to -12 V: the "
                    "pilot chart is sent the board's CP signal fault as its F entry")
def _cp_f(r: Rig) -> None:
    r.st.sched.post("cp", Event("fault", "campaign:cp_f"), source="board")


@_injector(Point.CAR, "the car opens S2 (CP C -> B) and holds it while its protocol goes on")
def _cp_b(r: Rig) -> None:
    _pin_cp(r, EvCpState.B)


def _pin_cp(r: Rig, state: EvCpState) -> None:
    board = r.st.world.board
    setter = board.set_ev_state
    setter(state)

    def pinned(new: EvCpState) -> None:
        setter(EvCpState.A if new is EvCpState.A else state)

    r.patch(board, "set_ev_state", pinned, car_scoped=True)


@_injector(Point.CAR, "the car is unplugged (CP A)")
def _unplug(r: Rig) -> None:
    r.st.unplug()
    r.car_left()


@_injector(Point.CAR, "the proximity pin opens (PP disconnected) with the car still in")
def _pp_lost(r: Rig) -> None:
    r.st.world.board.set_pp(PpState.DISCONNECTED)


# ---------------------------------------------------------------------------- car / links
@_injector(Point.LINK, "the V2G TCP connection drops (both ends see it closed)")
def _tcp_drop(r: Rig) -> None:
    st = r.st
    st.car_closed_connection(r.now())
    car = st.sim_car
    if car is not None:
        car.connection_closed_by_secc()


@_injector(Point.CAR, "the car's V2G stack hangs: it sends nothing more")
def _car_silent(r: Rig) -> None:
    car = r.st.sim_car
    if car is None:
        return
    r.patch(car, "_out", lambda payloads: None, car_scoped=True)
    r.patch(car, "_fire", lambda now_ns: None, car_scoped=True)
    r.patch(car, "_sdp_out", lambda outs: None, car_scoped=True)


@_injector(Point.CAR, "the car sends a V2GTP frame whose EXI body is garbage")
def _malformed_exi(r: Rig) -> None:
    if _no_v2g_connection(r):
        return
    r.st.frame_from_car(encode_frame(PayloadType.EXI, b"\xff\x13\x37\x00garbage"), r.now())


@_injector(Point.CAR, "the car sends a frame with a bad V2GTP header (version 0x03)")
def _malformed_v2gtp(r: Rig) -> None:
    if _no_v2g_connection(r):
        return
    r.st.frame_from_car(b"\x03\xfc\x80\x01\x00\x00\x00\x02\x00\x00", r.now())


def _no_v2g_connection(r: Rig) -> bool:
    """A frame needs the car's TCP connection to the SECC: in SDP (phase sdp_sap before
    the connection opens) or after the session closed there is none, the frame goes
    nowhere (DcStation.frame_from_car drops it), and the shot is void (bench seed 1
    malformed_exi@sdp_sap: judged by a session that never saw the frame)."""
    secc = r.st.secc
    if secc is None or secc.closed:
        r.void = "no V2G connection yet (or any more): the car cannot send a frame"
        return True
    return False


@_injector(Point.CAR, "the car reports DC_EVErrorCode FAILED_RESSTemperatureInhibit from "
           "its next CurrentDemandReq")
def _ev_error(r: Rig) -> None:
    r.patch(r.st.ev_profile, "ev_error_after_ns", 0, car_scoped=True)


@_injector(Point.LINK, "the powerline coupling is lost (the modems no longer hear each other)")
def _slac_lost(r: Rig) -> None:
    medium = r.st.world.medium
    medium.disconnect("evse", "ev")
    # The next plug-in reconnects (SimWorld.cable_connected): nothing to undo here.


@_injector(Point.LINK, "the contract link to the controller is severed (InProcessLink.sever)")
def _controller_link_lost(r: Rig) -> None:
    link = r.st.link
    link.sever(r.now())
    r.until_repair(lambda: link.restore(r.now()))


@_injector(Point.LINK, "the controller process hangs: it publishes nothing (limits expire)")
def _controller_silent(r: Rig) -> None:
    ctrl = r.st.controller
    if ctrl is not None:
        r.patch(ctrl, "silent", True)


# ---------------------------------------------------------------------------- CSMS
@_injector(Point.CSMS, "the CSMS connection goes down (back on repair)")
def _csms_offline(r: Rig) -> None:
    side = r.side
    if side is None:
        return
    side.set_online(False, r.now())
    r.until_repair(lambda: side.set_online(True, r.now()))


@_injector(Point.CSMS, "the CSMS asks to stop the transaction (RemoteStop / RequestStop)")
def _remote_stop(r: Rig) -> None:
    side = r.side
    if side is None:
        r.void = "no OCPP side in process: no CSMS to ask for the stop"
        return
    running = [k for k, tx in side.csms.transactions.items() if tx.stop_reason is None]
    if not running:
        # OCPP 1.6 RemoteStopTransaction (§5.12) / 2.0.1 F03 RequestStopTransaction name a
        # running transaction. Before the station has started one (bench seeds 640/7
        # remote_stop@cpd / @cable_check: none yet) the CSMS has none to name, and stopping
        # an ended one is rejected: the shot changes nothing, it is void, not a failure.
        r.void = "no transaction running: nothing for the CSMS to stop"
        return
    tx = running[-1]
    if side.csms.version == "1.6":
        side.csms_call("RemoteStopTransaction", {"transactionId": int(tx)}, r.now())
    else:
        side.csms_call("RequestStopTransaction", {"transactionId": tx}, r.now())


@_injector(Point.CSMS, "the authorization is withdrawn: the CSMS invalidates the card and "
           "the driver's card is presented again (OCPP 1.6 §3.5 stop by the same card)")
def _auth_withdrawn(r: Rig) -> None:
    side = r.side
    if side is None:
        return
    side.csms.tokens[SIM_TOKEN] = "Invalid"
    r.until_repair(lambda: side.csms.tokens.__setitem__(SIM_TOKEN, "Accepted"))
    side.present_token(r.now())


@_injector(Point.CSMS, "the controller commands STOP_EMERGENCY (operator)")
def _emergency_command(r: Rig) -> None:
    side = r.side
    if side is not None:
        side.ctrl.session_command(SessionCommandKind.STOP_EMERGENCY, "operator")


# ---------------------------------------------------------------------------- power
@_injector(Point.POWER, "the station loses its supply and boots again (a new station on the "
           "same config; the car stays plugged)",
           stand_in="the simulation has no supply model: the harness drops the station "
                    "object and builds a new one (nothing persists across, as with the "
                    "in-memory controller store)")
def _power_loss(r: Rig) -> None:
    r.restart_requested = True


@_injector(Point.CAR, "the car's inlet contactors stick closed: its battery voltage is on "
           "the DC pins before the cable check")
def _ev_contactors_stuck(r: Rig) -> None:
    inlet = r.st.world.ev_inlet
    opener = inlet.open_ev_contactors
    inlet.close_ev_contactors(r.st.world.plant.connector_voltage_v)

    def free() -> None:
        del inlet.open_ev_contactors
        opener()

    inlet.open_ev_contactors = lambda: None  # type: ignore[method-assign]
    r.until_car_leaves(free)
