"""Issue 11 item 5 on the whole station (DcStation: car, SECC, contract, OCPP controller,
CSMS simulator): an ISO 15118-2 session is not renegotiated unless the schedule changes."""

from __future__ import annotations

from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

S = 1_000_000_000


def test_iso2_session_without_a_profile_change_is_never_renegotiated() -> None:
    st = DcStation(StationConfig(), SessionConfig(protocol="iso2", ocpp="1.6", charge_s=20))
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    ok = st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=90 * S)
    assert ok and st.log.ev_result == "OK: charge time over", st.log.milestones
    lines = st.sched.trace.lines
    assert sum(1 for line in lines if '"charge_parameter_req"' in line) == 1
    assert not any('"renegotiation"' in line for line in lines)
    assert not any('"power_delivery_renegotiate_req"' in line for line in lines)
    st.close()
