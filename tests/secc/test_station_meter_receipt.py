"""The MeteringReceipt carries the station's real meter reading: on the whole station
(DcStation, its simulated DC meter, power path, OCPP 2.0.1 controller and CSMS simulator),
the Plug & Charge car's first CurrentDemandRes asks for a receipt with MeterInfo.MeterReading
equal to the meter's register as its latest reading reported it (whole Wh, passed on, not
recomputed), the same register the controller's meter values come from; the car signs that
MeterInfo back and the SECC takes it (ISO 15118-2 CurrentDemandRes ReceiptRequired,
MeteringReceiptReq; ISO 15118-4 TC_SECC_DC_VTB_MeteringReceipt_001)."""

from __future__ import annotations

import math

import pytest

from drivers.meter.sim_meter import SimDcMeter
from evse.ports.meter import MeterReading
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide
from evse.security.testpki import DEFAULT_EMAID

S = 1_000_000_000


@pytest.mark.req("ISO15118-4:TC_SECC_DC_VTB_MeteringReceipt")
def test_the_receipt_meter_reading_is_the_meters_register() -> None:
    st = DcStation(StationConfig(), SessionConfig(protocol="iso2", ev_profile="pnc",
                                                  ocpp="2.0.1", charge_s=10, tls=True))
    side = st.controller
    assert isinstance(side, OcppSide)
    side.csms.tokens[DEFAULT_EMAID] = "Accepted"
    readings: list[MeterReading] = []
    sample = st.world.meter.sample

    def spy(now_ns: int) -> MeterReading | None:
        r = sample(now_ns)
        if r is not None:
            readings.append(r)
        return r

    st.world.meter.sample = spy  # type: ignore[method-assign]
    st.start()
    st.sched.run_until(1 * S)
    # The register does not start at zero (a meter counts from its manufacture).
    assert isinstance(st.world.meter, SimDcMeter)
    st.world.meter._energy_j = 81_234.6 * 3600
    st.plug_in()
    assert st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=120 * S)
    assert st.log.ev_result == "OK: charge time over", st.log.ev_result
    asked = [(t, b) for t, kind, b in st.ev.transcript if kind == "res"
             and type(b).__name__ == "CurrentDemandResType" and b.ReceiptRequired]
    assert len(asked) == 1
    at_ns, res = asked[0]
    before = [r for r in readings if r.timestamp_ns <= at_ns]
    assert res.MeterInfo.MeterReading == math.floor(before[-1].energy_wh)
    assert res.MeterInfo.MeterReading >= 81_234
    receipts = [b for _, kind, b in st.ev.transcript if kind == "req"
                and type(b).__name__ == "MeteringReceiptReqType"]
    assert [r.MeterInfo for r in receipts] == [res.MeterInfo]
    answers = [b.ResponseCode.value for _, kind, b in st.ev.transcript if kind == "res"
               and type(b).__name__ == "MeteringReceiptResType"]
    assert answers == ["OK"]
    st.close()
