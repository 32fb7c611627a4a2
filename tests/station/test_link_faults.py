"""SLAC and V2G failures of a plugged car reach the controller as plc.fault with their
codes, and leave with the car (self-clearing)."""

from __future__ import annotations

from evse.contract.values import FaultCode, FaultSeverity, PlcFault, StopReason, V2gPhase
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

S = 1_000_000_000


def spied(st: DcStation) -> list[object]:
    published: list[object] = []
    publish = st._publish

    def spy(value: object, now_ns: int) -> None:
        published.append(value)
        publish(value, now_ns)

    st._publish = spy  # type: ignore[method-assign]
    st.env._publish = spy
    return published


def faults(published: list[object], code: FaultCode) -> list[PlcFault]:
    return [v for v in published if isinstance(v, PlcFault) and v.fault_code is code]


def test_a_car_that_never_answers_slac_is_a_slac_failed_fault_until_it_leaves() -> None:
    st = DcStation(StationConfig(), SessionConfig(ocpp="1.6"), car=False)
    published = spied(st)
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()  # the pilot sees a vehicle; no modem ever sends CM_SLAC_PARM.REQ
    assert st.sched.run_until_true(lambda: bool(faults(published, FaultCode.SLAC_FAILED)),
                                   limit_ns=300 * S)
    [first, *_] = faults(published, FaultCode.SLAC_FAILED)
    assert first.active and not first.latched and first.severity is FaultSeverity.WARNING
    assert "init_timeout" in (first.diagnostic_data or "")
    st.sched.run_for(2 * S)
    csms = st.controller.csms  # type: ignore[union-attr]
    codes = [m.get("errorCode") for m in csms.of("StatusNotification")]
    assert "EVCommunicationError" in codes  # OCPP 1.6 error_map SLAC_FAILED
    st.unplug()
    st.sched.run_for(2 * S)
    assert not faults(published, FaultCode.SLAC_FAILED)[-1].active
    last = csms.of("StatusNotification")[-1]
    assert (last.get("status"), last.get("errorCode")) == ("Available", "NoError")
    st.close()


def test_a_car_whose_tcp_connection_drops_while_charging_is_a_v2g_timeout_fault() -> None:
    st = DcStation(StationConfig(), SessionConfig(protocol="iso2", ocpp="1.6", charge_s=60))
    published = spied(st)
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    assert st.sched.run_until_true(
        lambda: st.secc is not None and st.secc.state == "charging", limit_ns=60 * S)
    st.sched.run_for(2 * S)
    st.car_closed_connection(st.sched.now_ns())  # the car's stack died
    st.sched.run_for(3 * S)
    [fault, *_] = faults(published, FaultCode.V2G_TIMEOUT)
    assert fault.active and fault.severity is FaultSeverity.WARNING
    stops = [getattr(v, "stop_reason", None) for v in published]
    assert StopReason.V2G_TIMEOUT in stops
    assert not st.world.board.contact_closed  # the transfer stopped
    # A warning: reported, not a FAULT phase (the connector is not out of service).
    phases = [v.phase for v in published if hasattr(v, "phase")]
    assert V2gPhase.FAULT not in phases
    st.unplug()
    st.sched.run_for(2 * S)
    assert not faults(published, FaultCode.V2G_TIMEOUT)[-1].active
    st.close()


def test_without_a_modem_no_slac_runs_and_the_pilot_keeps_5_percent_past_slac_init() -> None:
    """The bench (`evse run`, `plc.driver: none`): the link is assumed up, so nothing may
    wait for a CM_SLAC_PARM.REQ. With SLAC running, TT_EVSE_SLAC_init (40 s) expired into a
    link error that sent the pilot through E/F during the external EV's V2G session (the
    test above shows that path with SLAC on)."""
    st = DcStation(StationConfig(), SessionConfig(ocpp="1.6"), car=False, slac=False)
    published = spied(st)
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    states: set[str] = set()
    for _ in range(120):
        st.sched.run_for(1 * S)
        states.add(st.cp.state)
    assert not faults(published, FaultCode.SLAC_FAILED)
    assert st.cp.state.startswith("plugged.B.B2"), st.cp.state
    assert not {s for s in states if s.startswith(("E", "F", "plugged.wake"))}, states
