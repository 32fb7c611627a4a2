"""Test helpers: a scripted car that sends hand-made requests to a SECC core."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import exi
from evse.ev.loopback import LoopResult, run
from evse.ev.profiles import EvProfile, profile
from evse.ev.sim import EvSim
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.secc.config import SeccConfig
from evse.secc.core import CloseConnection, SeccCore, SeccOutput, SendPayload
from evse.secc.env import AppProtocol
from evse.secc.session import MemorySessionStore, SessionStore
from evse.secc.units import split
from exi import app, din, iso2

MS = 1_000_000
S = 1_000 * MS


def session(profile_name: str = "generic", *, env_config: SimEnvConfig | None = None,
            ev_profile: EvProfile | None = None, store: SessionStore | None = None,
            resume: bytes | None = None, config: SeccConfig | None = None,
            start_ns: int = 0) -> tuple[LoopResult, SimEnv, SeccCore, EvSim]:
    env = SimEnv(env_config or SimEnvConfig())
    ev = EvSim(ev_profile or profile(profile_name), inlet_voltage_v=env.physical_voltage_v,
               inlet_current_a=env.physical_current_a, resume_session_id=resume)
    core = SeccCore(env, config, store=store or MemorySessionStore())
    return run(ev, core, start_ns=start_ns), env, core, ev


def responses(outs: list[SeccOutput], schema: str) -> list[Any]:
    res = []
    for o in outs:
        if isinstance(o, SendPayload) and o.message != "supportedAppProtocolRes":
            res.append(exi.decode(schema, o.payload).Body.BodyElement)
    return res


class ScriptedCar:
    """Sends exactly the requests a test writes, with the right SessionID."""

    def __init__(self, protocol: AppProtocol, env_config: SimEnvConfig | None = None,
                 config: SeccConfig | None = None,
                 evccid: bytes = bytes.fromhex("0a0b0c0d0e0f")) -> None:
        self.evccid = evccid
        self.env = SimEnv(env_config or SimEnvConfig())
        self.core = SeccCore(self.env, config)
        self.protocol = protocol
        self.m: ModuleType = din if protocol is AppProtocol.DIN70121 else iso2
        self.schema = "din" if protocol is AppProtocol.DIN70121 else "iso2"
        self.session_id = b"\x00"
        self.now_ns = 0
        self.closed: CloseConnection | None = None
        self.outputs: list[SeccOutput] = []
        self.core.connection_opened(0)
        out = self.core.receive(exi.encode("app", app.supportedAppProtocolReq(AppProtocol=[
            app.AppProtocolType(ProtocolNamespace=protocol.value, VersionNumberMajor=2,
                                VersionNumberMinor=0, SchemaID=7, Priority=1)])), 0)
        assert isinstance(out[0], SendPayload)

    def pv(self, value: float, unit: str) -> Any:
        v, mult = split(value)
        return self.m.PhysicalValueType(Multiplier=mult, Unit=self.m.unitSymbolType[unit],
                                        Value=v)

    def ev_status(self, ready: bool = True) -> Any:
        return self.m.DC_EVStatusType(EVReady=ready,
                                      EVErrorCode=self.m.DC_EVErrorCodeType.NO_ERROR,
                                      EVRESSSOC=40)

    def advance(self, dt_ns: int) -> list[SeccOutput]:
        target = self.now_ns + dt_ns
        out: list[SeccOutput] = []
        while True:
            d = self.core.next_deadline_ns()
            if d is None or d > target:
                break
            self.now_ns = d
            out += self.core.handle_timer(d)
        self.now_ns = target
        self._note(out)
        return out

    def _note(self, out: list[SeccOutput]) -> None:
        self.outputs += out
        for o in out:
            if isinstance(o, CloseConnection):
                self.closed = o

    def send_raw(self, payload: bytes) -> list[SeccOutput]:
        out = self.core.receive(payload, self.now_ns)
        self._note(out)
        return out

    def send(self, body: Any, session_id: bytes | None = None) -> Any:
        """Send one request; return the decoded response body (None if none came)."""
        msg = self.m.V2G_Message(
            Header=self.m.MessageHeaderType(
                SessionID=self.session_id if session_id is None else session_id),
            Body=self.m.BodyType(BodyElement=body))
        out = self.send_raw(exi.encode(self.schema, msg))
        for _ in range(2000):  # deferred answers (PowerDelivery) come with env ticks
            if any(isinstance(o, SendPayload) for o in out) or self.closed:
                break
            out = self.advance(5 * MS)
        for o in out:
            if isinstance(o, SendPayload):
                res = exi.decode(self.schema, o.payload)
                if type(res.Body.BodyElement).__name__ == "SessionSetupResType":
                    self.session_id = bytes(res.Header.SessionID)
                return res.Body.BodyElement
        return None

    # ---- requests ----
    def setup(self, session_id: bytes = b"\x00") -> Any:
        return self.send(self.m.SessionSetupReqType(EVCCID=self.evccid),
                         session_id=session_id)

    def discovery(self) -> Any:
        return self.send(self.m.ServiceDiscoveryReqType())

    def payment(self) -> Any:
        m = self.m
        cls = (m.ServicePaymentSelectionReqType if self.protocol is AppProtocol.DIN70121
               else m.PaymentServiceSelectionReqType)
        return self.send(cls(SelectedPaymentOption=m.paymentOptionType.ExternalPayment,
                             SelectedServiceList=m.SelectedServiceListType(
                                 SelectedService=[m.SelectedServiceType(ServiceID=1)])))

    def auth(self) -> Any:
        if self.protocol is AppProtocol.DIN70121:
            return self.send(din.ContractAuthenticationReqType())
        return self.send(iso2.AuthorizationReqType())

    def cpd(self, ready: bool = True) -> Any:
        m = self.m
        params = m.DC_EVChargeParameterType(
            DC_EVStatus=self.ev_status(ready), EVMaximumCurrentLimit=self.pv(200, "A"),
            EVMaximumVoltageLimit=self.pv(450, "V"))
        if self.protocol is AppProtocol.DIN70121:
            return self.send(din.ChargeParameterDiscoveryReqType(
                EVRequestedEnergyTransferType=din.EVRequestedEnergyTransferType.DC_extended,
                EVChargeParameter=params))
        return self.send(iso2.ChargeParameterDiscoveryReqType(
            RequestedEnergyTransferMode=iso2.EnergyTransferModeType.DC_extended,
            EVChargeParameter=params))

    def cable_check(self) -> Any:
        return self.send(self.m.CableCheckReqType(DC_EVStatus=self.ev_status()))

    def precharge(self, v: float = 370.0) -> Any:
        return self.send(self.m.PreChargeReqType(DC_EVStatus=self.ev_status(),
                                                 EVTargetVoltage=self.pv(v, "V"),
                                                 EVTargetCurrent=self.pv(1, "A")))

    def power_delivery(self, start: bool) -> Any:
        m = self.m
        par = m.DC_EVPowerDeliveryParameterType(DC_EVStatus=self.ev_status(),
                                                ChargingComplete=not start)
        if self.protocol is AppProtocol.DIN70121:
            return self.send(din.PowerDeliveryReqType(ReadyToChargeState=start,
                                                      EVPowerDeliveryParameter=par))
        return self.send(iso2.PowerDeliveryReqType(
            ChargeProgress=iso2.chargeProgressType.Start if start
            else iso2.chargeProgressType.Stop,
            SAScheduleTupleID=1, EVPowerDeliveryParameter=par))

    def current_demand(self, v: float = 380.0, i: float = 100.0, unit_v: str = "V") -> Any:
        return self.send(self.m.CurrentDemandReqType(
            DC_EVStatus=self.ev_status(), EVTargetCurrent=self.pv(i, "A"),
            ChargingComplete=False, EVTargetVoltage=self.pv(v, unit_v)))

    def session_stop(self) -> Any:
        if self.protocol is AppProtocol.DIN70121:
            return self.send(din.SessionStopType())
        return self.send(iso2.SessionStopReqType(
            ChargingSession=iso2.chargingSessionType.Terminate))

    def through_payment(self) -> None:
        self.setup()
        self.discovery()
        self.payment()

    def through_auth(self) -> None:
        self.through_payment()
        self.auth()

    def through_cpd(self) -> None:
        self.through_auth()
        self.cpd()

    def to_charging(self) -> None:
        """Walk the standard sequence up to the first CurrentDemand."""
        self.setup()
        self.discovery()
        self.payment()
        while self.auth().EVSEProcessing.value != "Finished":
            self.advance(200 * MS)
        self.cpd()
        while self.cable_check().EVSEProcessing.value != "Finished":
            self.advance(200 * MS)
        for _ in range(50):
            self.precharge()
            self.advance(100 * MS)
        res = self.power_delivery(True)
        assert res.ResponseCode.value == "OK", res


__all__ = ["S", "MS", "ScriptedCar", "session", "responses", "profile"]
