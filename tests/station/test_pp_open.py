"""PP open with the car still on the pilot is a plug being pulled (the proximity contact
breaks first: IEC 62196 contact sequence, IEC 61851-1 proximity detection): the session
ends as EV_UNPLUGGED and the CSMS records EVDisconnected, in OCPP 1.6 and 2.0.1, while the
connector still reports the PP fault until PP reads connected or the car is gone.

Found by the fault campaign (pp_lost@charging): the station ended it as FAULT, stop reason
Other at the CSMS."""

from __future__ import annotations

import pytest

from evse.contract.values import FaultCode, PlcFault, StopReason
from evse.ports.board import PpState
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from tests.station.test_lifecycle import plug_and_charge, run_until, stop_reasons
from tests.station.test_link_faults import spied

S = 1_000_000_000


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
def test_pp_open_with_the_car_on_the_pilot_ends_the_transaction_as_ev_disconnected(
        ocpp: str) -> None:
    st = DcStation(StationConfig(), SessionConfig(ocpp=ocpp, charge_s=300.0))
    published = spied(st)
    st.start()
    try:
        plug_and_charge(st)
        st.world.board.set_pp(PpState.DISCONNECTED)
        run_until(st, lambda: len(stop_reasons(st)) == 1, 5)
        st.sched.run_for(2 * S)  # past t_pp_open_confirm: the PP fault is reported too
        assert stop_reasons(st) == ["EVDisconnected"]
        stops = {v.stop_reason for v in published if getattr(v, "stop_reason", None)}
        assert stops == {StopReason.EV_UNPLUGGED}, stops
        assert any(isinstance(v, PlcFault) and v.fault_code is FaultCode.PP_INVALID
                   and v.active for v in published)
        st.unplug()
        st.sched.run_for(2 * S)
        assert stop_reasons(st) == ["EVDisconnected"]  # one stop, not a second at the unplug
    finally:
        st.close()
