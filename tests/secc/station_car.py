"""A scripted car on the whole station: `ScriptedCar`'s hand-made requests, sent to a real
`DcStation` (its StationEnv, power path, pilot, contract guard and stand-in controller) in
virtual time instead of to a SECC core on the SimEnv stand-in. The car is external
(`car=False`, no modem: `slac=False`): the test moves the pilot (board EV state, PP) and
decides when each request goes out, e.g. a car that keeps asking past its own timeouts."""

from __future__ import annotations

from typing import Any

import exi
from drivers.board.sim import EvCpState
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.secc.core import CloseConnection, SeccOutput, SendPayload
from evse.secc.env import AppProtocol
from exi import app, din, iso2
from tests.secc.helpers import MS, S, ScriptedCar


class StationCar(ScriptedCar):
    """`ScriptedCar` whose transport is a DcStation's external-car entry points."""

    def __init__(self, protocol: AppProtocol, *, config: StationConfig | None = None,
                 session: SessionConfig | None = None,
                 evccid: bytes = bytes.fromhex("0a0b0c0d0e0f")) -> None:
        self.evccid = evccid
        self.protocol = protocol
        self.m = din if protocol is AppProtocol.DIN70121 else iso2
        self.schema = "din" if protocol is AppProtocol.DIN70121 else "iso2"
        self.session_id = b"\x00"
        self.closed: CloseConnection | None = None
        self.outputs: list[SeccOutput] = []
        self._inbox: list[SeccOutput] = []
        self.st = DcStation(config or StationConfig(),
                            session or SessionConfig(ocpp="none", auth_delay_s=0.5),
                            car=False, slac=False)
        self.st.v2g_sink = self._inbox.append  # type: ignore[assignment]
        self.st.start()
        self.st.sched.run_until(1 * S)
        self.st.plug_in()  # CP B, cable connected
        self.st.sched.run_for(1 * S)  # 5 % PWM (B2)
        self.st.world.board.set_ev_state(EvCpState.C)  # S2 closed, as before CableCheck
        self.st.sched.run_for(200 * MS)
        self.st.open_connection(self.now_ns)
        out = self.send_raw(exi.encode("app", app.supportedAppProtocolReq(AppProtocol=[
            app.AppProtocolType(ProtocolNamespace=protocol.value, VersionNumberMajor=2,
                                VersionNumberMinor=0, SchemaID=7, Priority=1)])))
        assert isinstance(out[0], SendPayload)

    @property  # type: ignore[override]
    def now_ns(self) -> int:
        return self.st.sched.now_ns()

    @now_ns.setter
    def now_ns(self, value: int) -> None:  # ScriptedCar's own clock: the station's here
        pass

    def _take(self) -> list[SeccOutput]:
        out, self._inbox[:] = list(self._inbox), []
        self._note(out)
        return out

    def advance(self, dt_ns: int) -> list[SeccOutput]:
        self.st.sched.run_for(dt_ns)
        return self._take()

    def send_raw(self, payload: bytes) -> list[SeccOutput]:
        self.st.receive_payload(payload, self.now_ns)
        return self._take()

    def answers(self, name: str) -> list[tuple[int, Any]]:
        """(answered_ns, body) of every response of type `name` (e.g. "CableCheckRes")."""
        return [(o.answered_ns, exi.decode(self.schema, o.payload).Body.BodyElement)
                for o in self.outputs if isinstance(o, SendPayload) and o.message == name]

    def close(self) -> None:
        self.st.close()
