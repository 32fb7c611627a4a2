"""The SECC core on the station scheduler's TimerService (how the lead wires it): chart
timeouts and deferred answers fire from the scheduler; outputs are taken after the drain."""

from __future__ import annotations

import exi
from evse.ev.sim_env import SimEnv
from evse.runtime.scheduler import Scheduler
from evse.secc.core import CloseConnection, SeccCore, SendPayload
from evse.secc.env import AppProtocol, SessionEndReason
from exi import app, din

S = 1_000_000_000


def test_sequence_timeout_fires_from_the_station_scheduler() -> None:
    sched = Scheduler()
    env = SimEnv()
    core = SeccCore(env, timers=sched)
    assert core.next_deadline_ns() is None  # the scheduler owns the timers
    core.connection_opened(sched.now_ns())
    sap = app.supportedAppProtocolReq(AppProtocol=[app.AppProtocolType(
        ProtocolNamespace=AppProtocol.DIN70121.value, VersionNumberMajor=2,
        VersionNumberMinor=0, SchemaID=1, Priority=1)])
    out = core.receive(exi.encode("app", sap), sched.now_ns())
    assert isinstance(out[0], SendPayload)
    msg = din.V2G_Message(Header=din.MessageHeaderType(SessionID=b"\x00"),
                          Body=din.BodyType(BodyElement=din.SessionSetupReqType(EVCCID=b"\x01")))
    out = core.receive(exi.encode("din", msg), sched.now_ns())
    assert isinstance(out[0], SendPayload)
    sched.run_for(59 * S)
    assert core.take_outputs() == [] and not core.closed
    sched.run_for(2 * S)
    outs = core.take_outputs()
    assert outs == [CloseConnection(SessionEndReason.SEQUENCE_TIMEOUT)]
    assert env.ended is SessionEndReason.SEQUENCE_TIMEOUT
