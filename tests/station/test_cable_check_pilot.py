"""CableCheck needs the car in state C or D (S2 closed): the whole station with its pilot
core and simulated board. A car that closes S2 with its CableCheckReq (as the simulator and
real cars do) charges, the SECC waiting out the pilot's debounce; a car that leaves the
pilot in B gets CableCheckRes FAILED, the session ends and no contactor ever closes
(ISO 15118-4 TC_SECC_DC_VTB_CableCheck_008, fsm_specs/secc_*.yaml cable_check.vehicle_wait)."""

from __future__ import annotations

import pytest

from drivers.board.sim import EvCpState
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

S = 1_000_000_000


def _station(protocol: str) -> DcStation:
    st = DcStation(StationConfig(), SessionConfig(protocol=protocol, charge_s=3,
                                                  auth_delay_s=0.5, ocpp="none"))
    st.start()
    return st


def _cable_check_answers(st: DcStation) -> list[str]:
    return [f"{b.ResponseCode.value} {b.EVSEProcessing.value}" for _, kind, b in st.ev.transcript
            if kind == "res" and type(b).__name__ == "CableCheckResType"]


@pytest.mark.req("ISO15118-4:TC_SECC_DC_VTB_CableCheck_008")
@pytest.mark.parametrize("protocol", ["din", "iso2"])
def test_a_car_that_leaves_the_pilot_in_b_gets_cable_check_failed_and_no_energy(
        protocol: str) -> None:
    st = _station(protocol)
    board = st.world.board
    original = board.set_ev_state

    def no_s2(state: EvCpState) -> None:
        original(EvCpState.B if state is EvCpState.C else state)

    board.set_ev_state = no_s2  # type: ignore[method-assign]
    st.plug_in()
    assert st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=60 * S)
    assert st.log.ev_result is not None and "CableCheckResType FAILED" in st.log.ev_result
    assert _cable_check_answers(st) == ["FAILED Finished"]
    assert not any(closed for _, closed in board.contact_log)
    st.close()


@pytest.mark.parametrize("protocol", ["din", "iso2"])
def test_a_car_that_closes_s2_with_its_cable_check_request_charges(protocol: str) -> None:
    st = _station(protocol)
    st.plug_in()
    assert st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=120 * S)
    assert st.log.ev_result == "OK: charge time over", st.log.ev_result
    assert _cable_check_answers(st)[0].startswith("OK")
    st.close()
