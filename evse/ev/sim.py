"""The EV side of supportedAppProtocol, DIN SPEC 70121 DC and ISO 15118-2 DC (sans-IO).

Drives one session from supportedAppProtocolReq to SessionStopReq against any SECC:
payloads out, payloads in, `now_ns` everywhere, `next_deadline_ns()`/`handle_timer()`.
It keeps the EVCC's timers (per-message timeouts, PreCharge 7 s, CableCheck 40 s,
Ongoing 60 s; timing.md §4/§5) and a car profile's strictness, so a charger that is slow,
omits fields or reports setpoints instead of measurements fails here as it would in a car.
The inlet voltage/current it "measures" come from callbacks (the simulated power path).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import exi
from evse.ev.profiles import EvProfile
from evse.secc.env import AppProtocol
from evse.secc.units import split, to_float
from evse.security.xmldsig import sign_body
from exi import app, din, iso2

MS = 1_000_000
S = 1_000 * MS

#: V2G_EVCC_Msg_Timeout (timing.md §4/§5): 2 s for most, 5 s for PowerDelivery in ISO-2
#: (2 s in DIN), 250 ms for CurrentDemand.
MSG_TIMEOUT_NS = 2 * S
MSG_TIMEOUT_PD_ISO_NS = 5 * S
MSG_TIMEOUT_CURRENT_DEMAND_NS = 250 * MS
#: V2G_EVCC_Msg_Timeout CertificateInstallation/Update: 5 s (timing.md §4). PaymentDetails:
#: sources disagree (5 s J-2/R, 2 s ISO 15118-4 test set); the stricter 2 s is used.
MSG_TIMEOUT_CERTIFICATE_NS = 5 * S
MSG_TIMEOUT_PAYMENT_DETAILS_NS = 2 * S
#: Id of the signed AuthorizationReq (any NCName; the Reference URI points at it).
AUTHORIZATION_REQ_ID = "ID1"
#: Id of the signed MeteringReceiptReq (the Reference URI of its signature points at it).
METERING_RECEIPT_REQ_ID = "ID3"
#: V2G_EVCC_Ongoing_Timeout 60 s, CableCheck 40 s, PreCharge 7 s (timing.md §4).
ONGOING_TIMEOUT_NS = 60 * S
CABLE_CHECK_TIMEOUT_NS = 40 * S
PRECHARGE_TIMEOUT_NS = 7 * S
#: PreCharge done when the inlet is this close to the battery voltage.
PRECHARGE_MATCH_V = 20.0


class Phase(enum.Enum):
    SAP = "sap"
    SESSION_SETUP = "session_setup"
    SERVICE_DISCOVERY = "service_discovery"
    PAYMENT_SELECTION = "payment_selection"
    CERTIFICATE_INSTALLATION = "certificate_installation"
    PAYMENT_DETAILS = "payment_details"
    AUTHORIZATION = "authorization"
    CHARGE_PARAMETERS = "charge_parameters"
    CABLE_CHECK = "cable_check"
    PRECHARGE = "precharge"
    POWER_DELIVERY_START = "power_delivery_start"
    CHARGING = "charging"
    METERING_RECEIPT = "metering_receipt"
    POWER_DELIVERY_STOP = "power_delivery_stop"
    RENEGOTIATE = "renegotiate"
    WELDING = "welding"
    SESSION_STOP = "session_stop"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class EvResult:
    ok: bool  # the session reached SessionStopRes(OK) as the car planned it
    reason: str
    phase: Phase
    protocol: AppProtocol | None
    messages: int
    current_demands: int
    session_id: bytes
    paused: bool = False


@dataclass(slots=True)
class EvSim:
    profile: EvProfile
    inlet_voltage_v: Callable[[int], float] = lambda now: 0.0
    inlet_current_a: Callable[[int], float] = lambda now: 0.0
    resume_session_id: bytes | None = None
    outbox: list[bytes] = field(default_factory=list)
    result: EvResult | None = None
    transcript: list[tuple[int, str, Any]] = field(default_factory=list)
    protocol: AppProtocol | None = None
    phase: Phase = Phase.SAP
    session_id: bytes = b"\x00"
    _m: ModuleType = iso2
    _deadline_ns: int | None = None  # response timeout
    _sent_ns: int | None = None  # when the request being answered left
    _send_at_ns: int | None = None  # delayed next request
    _next: Callable[[int], Any] | None = None
    _phase_started_ns: int = 0
    _charging_started_ns: int = 0
    _last_cd_ns: int = 0
    _messages: int = 0
    _current_demands: int = 0
    _stop_reason: str = "soc reached"
    _renegotiated: bool = False
    _pausing: bool = False
    _schedule_id: int = 1
    _contract: bool = False
    _gen_challenge: bytes | None = None

    # ------------------------------------------------------------------ API
    def start(self, now_ns: int) -> list[bytes]:
        entries = []
        for prio, proto in enumerate(self.profile.protocols, start=1):
            entries.append(app.AppProtocolType(
                ProtocolNamespace=proto.value, VersionNumberMajor=2, VersionNumberMinor=0,
                SchemaID=prio, Priority=prio))
        self._send_raw(exi.encode("app", app.supportedAppProtocolReq(AppProtocol=entries)),
                       "supportedAppProtocolReq", now_ns, MSG_TIMEOUT_NS)
        return self.take()

    def take(self) -> list[bytes]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline_ns(self) -> int | None:
        if self.result is not None:
            return None
        times = [t for t in (self._deadline_ns, self._send_at_ns) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now_ns: int) -> list[bytes]:
        if self.result is not None:
            return []
        if self._send_at_ns is not None and now_ns >= self._send_at_ns:
            self._send_at_ns = None
            fn, self._next = self._next, None
            if fn is not None:
                fn(now_ns)
        elif self._deadline_ns is not None and now_ns >= self._deadline_ns:
            self._fail(f"timeout waiting for the answer in {self.phase.value}")
        return self.take()

    def connection_closed(self, now_ns: int) -> None:
        if self.result is None:
            self._fail("connection closed by the SECC")

    def receive(self, payload: bytes, now_ns: int) -> list[bytes]:
        if self.result is not None:
            return []
        self._deadline_ns = None
        self._messages += 1
        if self.phase is Phase.SAP:
            res = exi.decode("app", payload)
            self.transcript.append((now_ns, "res", res))
            self._on_sap(res, now_ns)
            return self.take()
        msg = exi.decode("din" if self._din else "iso2", payload)
        body = msg.Body.BodyElement
        self.transcript.append((now_ns, "res", body))
        code = body.ResponseCode.value
        if code.startswith("FAILED"):
            self._fail(f"{type(body).__name__} {code}")
            return self.take()
        handler = getattr(self, f"_on_{self.phase.value}")
        handler(msg, body, now_ns)
        return self.take()

    # ------------------------------------------------------------------ helpers
    @property
    def _din(self) -> bool:
        return self.protocol is AppProtocol.DIN70121

    def _pv(self, value: float, unit: str) -> Any:
        v, mult = split(value)
        return self._m.PhysicalValueType(Multiplier=mult, Unit=self._m.unitSymbolType[unit],
                                         Value=v)

    def _ev_status_in(self, message: str) -> Any:
        """DC_EVStatus of `message`, with the profile's error code where it says so."""
        status = self._ev_status()
        if self.profile.ev_error_in == message:
            status = dataclasses.replace(
                status, EVErrorCode=self._m.DC_EVErrorCodeType(self.profile.ev_error_code))
        return status

    def _ev_status(self, ready: bool = True) -> Any:
        return self._m.DC_EVStatusType(
            EVReady=ready, EVErrorCode=self._m.DC_EVErrorCodeType.NO_ERROR,
            EVRESSSOC=int(self.profile.battery.soc_pct))

    def _send_raw(self, data: bytes, name: str, now_ns: int, timeout_ns: int) -> None:
        self.outbox.append(data)
        self.transcript.append((now_ns, "req", name))
        self._deadline_ns = now_ns + timeout_ns

    def _send(self, body: Any, now_ns: int, timeout_ns: int = MSG_TIMEOUT_NS,
              signature: Any = None) -> None:
        m = self._m
        header = (m.MessageHeaderType(SessionID=self.session_id, Signature=signature)
                  if signature is not None else m.MessageHeaderType(SessionID=self.session_id))
        msg = m.V2G_Message(Header=header, Body=m.BodyType(BodyElement=body))
        data = exi.encode("din" if self._din else "iso2", msg)
        self.outbox.append(data)
        self.transcript.append((now_ns, "req", body))
        self._deadline_ns = now_ns + timeout_ns
        self._sent_ns = now_ns

    def _later(self, delay_ns: int, now_ns: int, fn: Callable[[int], None]) -> None:
        self._send_at_ns = now_ns + delay_ns
        self._next = fn

    def _enter(self, phase: Phase, now_ns: int) -> None:
        self.phase = phase
        self._phase_started_ns = now_ns

    def _fail(self, reason: str) -> None:
        self._finish(False, reason)

    def _finish(self, ok: bool, reason: str) -> None:
        if self.result is None:
            self.result = EvResult(ok, reason, self.phase, self.protocol, self._messages,
                                   self._current_demands, self.session_id,
                                   paused=self._pausing and ok)
            self._deadline_ns = None
            self._send_at_ns = None

    def _check_present(self, present_v: float | None, present_a: float | None,
                       now_ns: int) -> bool:
        """The charger measured somewhere between our request and its answer (on a real
        link the two are milliseconds apart while the current ramps): a present value is
        right when it lies within tolerance of the inlet's span over that window."""
        p = self.profile
        sent = self._sent_ns if self._sent_ns is not None else now_ns
        if present_v is not None and p.present_voltage_tolerance_v is not None:
            span = (self.inlet_voltage_v(sent), self.inlet_voltage_v(now_ns))
            if not _within(present_v, span, p.present_voltage_tolerance_v):
                self._fail(f"reported {present_v:.1f} V but inlet measures {span[1]:.1f} V")
                return False
        if present_a is not None and p.present_current_tolerance_a is not None:
            span = (self.inlet_current_a(sent), self.inlet_current_a(now_ns))
            if not _within(present_a, span, p.present_current_tolerance_a):
                self._fail(f"reported {present_a:.1f} A but inlet measures {span[1]:.1f} A")
                return False
        return True

    def _evse_wants_stop(self, body: Any) -> bool:
        st = getattr(body, "DC_EVSEStatus", None)
        if st is None:
            return False
        if st.EVSEStatusCode.value in ("EVSE_EmergencyShutdown", "EVSE_Malfunction"):
            return True
        if self.profile.ignores_stop_notification:
            return False
        return bool(st.EVSEStatusCode.value == "EVSE_Shutdown"
                    or st.EVSENotification.value == "StopCharging")

    # ------------------------------------------------------------------ sequence
    def _on_sap(self, res: Any, now_ns: int) -> None:
        if res.ResponseCode.value == "Failed_NoNegotiation" or res.SchemaID is None:
            self._fail("no protocol negotiated")
            return
        self.protocol = self.profile.protocols[res.SchemaID - 1]
        self._m = din if self._din else iso2
        self._enter(Phase.SESSION_SETUP, now_ns)
        if self.resume_session_id is not None:
            self.session_id = self.resume_session_id
        else:
            self.session_id = self.profile.setup_session_id
        self._send(self._m.SessionSetupReqType(EVCCID=self.profile.evccid), now_ns)

    def _on_session_setup(self, msg: Any, body: Any, now_ns: int) -> None:
        self.session_id = bytes(msg.Header.SessionID)
        if self.profile.stop_after_session_setup:
            self._enter(Phase.SESSION_STOP, now_ns)
            self._send(self._session_stop_req(), now_ns)
            return
        self._enter(Phase.SERVICE_DISCOVERY, now_ns)
        self._send(self._m.ServiceDiscoveryReqType(), now_ns)

    def _on_service_discovery(self, msg: Any, body: Any, now_ns: int) -> None:
        m = self._m
        options = body.PaymentOptions if self._din else body.PaymentOptionList
        offered = {o.value for o in options.PaymentOption}
        self._contract = (self.profile.wants_contract and self.profile.contract is not None
                          and "Contract" in offered and not self._din)
        choice = "Contract" if self._contract else "ExternalPayment"
        sel = m.SelectedServiceListType(SelectedService=[m.SelectedServiceType(ServiceID=1)])
        cls = m.ServicePaymentSelectionReqType if self._din else m.PaymentServiceSelectionReqType
        self._enter(Phase.PAYMENT_SELECTION, now_ns)
        self._send(cls(SelectedPaymentOption=m.paymentOptionType(choice),
                       SelectedServiceList=sel), now_ns)

    def _auth_req(self, now_ns: int) -> None:
        contract = self.profile.contract
        if self._contract and contract is not None:
            # PnC: echo the GenChallenge and sign the request with the contract key
            # (ISO 15118-2 §7.9.2.4; the SECC answers FAILED_SignatureError otherwise).
            req = iso2.AuthorizationReqType(Id=AUTHORIZATION_REQ_ID,
                                            GenChallenge=self._gen_challenge)
            self._send(req, now_ns, signature=sign_body(req, contract.leaf_key))
            return
        body = din.ContractAuthenticationReqType() if self._din else iso2.AuthorizationReqType()
        self._send(body, now_ns)

    def _on_payment_selection(self, msg: Any, body: Any, now_ns: int) -> None:
        contract = self.profile.contract
        if self._contract and contract is not None:
            if self.profile.install_certificate:
                self._enter(Phase.CERTIFICATE_INSTALLATION, now_ns)
                # The OEM provisioning certificate stands in as the contract leaf's
                # issuer chain here: the simulator has no OEM PKI.
                self._send(iso2.CertificateInstallationReqType(
                    Id="ID2", OEMProvisioningCert=contract.leaf_der,
                    ListOfRootCertificateIDs=iso2.ListOfRootCertificateIDsType(
                        RootCertificateID=[iso2.X509IssuerSerialType(
                            X509IssuerName="CN=evse test V2G Root CA",
                            X509SerialNumber=1)])), now_ns, MSG_TIMEOUT_CERTIFICATE_NS)
                return
            self._payment_details_req(now_ns)
            return
        self._enter(Phase.AUTHORIZATION, now_ns)
        self._auth_req(now_ns)

    def _on_certificate_installation(self, msg: Any, body: Any, now_ns: int) -> None:
        # A real car would decrypt and store the new contract key; the simulator goes on
        # with the contract it already holds.
        self._payment_details_req(now_ns)

    def _payment_details_req(self, now_ns: int) -> None:
        contract = self.profile.contract
        assert contract is not None
        self._enter(Phase.PAYMENT_DETAILS, now_ns)
        self._send(iso2.PaymentDetailsReqType(
            eMAID=contract.emaid, ContractSignatureCertChain=iso2.CertificateChainType(
                Certificate=contract.leaf_der, SubCertificates=iso2.SubCertificatesType(
                    Certificate=list(contract.sub_cas_der)))),
            now_ns, MSG_TIMEOUT_PAYMENT_DETAILS_NS)

    def _on_payment_details(self, msg: Any, body: Any, now_ns: int) -> None:
        self._gen_challenge = bytes(body.GenChallenge)
        self._enter(Phase.AUTHORIZATION, now_ns)
        self._auth_req(now_ns)

    def _on_authorization(self, msg: Any, body: Any, now_ns: int) -> None:
        processing = body.EVSEProcessing.value
        if processing != "Finished":
            if processing == "Ongoing_WaitingForCustomerInteraction" and (
                    self.profile.waits_for_customer):
                self._phase_started_ns = now_ns  # the Ongoing timeout runs from plain Ongoing
            if now_ns - self._phase_started_ns > ONGOING_TIMEOUT_NS:
                self._fail("authorization Ongoing for more than 60 s")
                return
            self._later(self.profile.ongoing_repeat_ns, now_ns, self._auth_req)
            return
        self._enter(Phase.CHARGE_PARAMETERS, now_ns)
        self._cpd_req(now_ns)

    def _cpd_req(self, now_ns: int) -> None:
        m, b = self._m, self.profile.battery
        params = m.DC_EVChargeParameterType(
            DC_EVStatus=self._ev_status(ready=not self.profile.ev_not_ready_in_cpd),
            EVMaximumCurrentLimit=self._pv(b.max_current_a, "A"),
            EVMaximumPowerLimit=self._pv(b.max_power_w, "W"),
            EVMaximumVoltageLimit=self._pv(b.max_voltage_v, "V"),
            EVEnergyCapacity=self._pv(b.capacity_wh, "Wh"),
            EVEnergyRequest=self._pv(b.capacity_wh * (b.target_soc_pct - b.soc_pct) / 100,
                                     "Wh"),
            FullSOC=100, BulkSOC=80)
        req: Any
        if self._din:
            req = din.ChargeParameterDiscoveryReqType(
                EVRequestedEnergyTransferType=din.EVRequestedEnergyTransferType.DC_extended,
                EVChargeParameter=params)
        else:
            req = iso2.ChargeParameterDiscoveryReqType(
                RequestedEnergyTransferMode=iso2.EnergyTransferModeType.DC_extended,
                EVChargeParameter=params)
        self._send(req, now_ns, self.profile.cpd_timeout_ns)

    def _on_charge_parameters(self, msg: Any, body: Any, now_ns: int) -> None:
        if body.EVSEProcessing.value != "Finished":
            self._later(self.profile.ongoing_repeat_ns, now_ns, self._cpd_req)
            return
        cp = body.EVSEChargeParameter
        if getattr(cp, "EVSEMaximumPowerLimit", None) is None and (
                self.profile.abort_if_no_max_power):
            self._fail("ChargeParameterDiscoveryRes without EVSEMaximumPowerLimit")
            return
        sas = body.SASchedules
        if sas is None or not getattr(sas, "SAScheduleTuple", None) or not (
                sas.SAScheduleTuple[0].PMaxSchedule.PMaxScheduleEntry):
            self._fail("ChargeParameterDiscoveryRes without a PMaxSchedule entry")
            return
        self._schedule_id = sas.SAScheduleTuple[0].SAScheduleTupleID
        if self._renegotiated and not self.profile.cable_check_after_renegotiation:
            self._enter(Phase.POWER_DELIVERY_START, now_ns)
            self._pd_req(True, now_ns)
            return
        self._enter(Phase.CABLE_CHECK, now_ns)
        self._cable_check_req(now_ns)

    def _cable_check_req(self, now_ns: int) -> None:
        self._send(self._m.CableCheckReqType(DC_EVStatus=self._ev_status_in("cable_check")),
                   now_ns)

    def _on_cable_check(self, msg: Any, body: Any, now_ns: int) -> None:
        if body.EVSEProcessing.value != "Finished":
            if now_ns - self._phase_started_ns > CABLE_CHECK_TIMEOUT_NS:
                self._fail("CableCheck not finished within 40 s")
                return
            self._later(self.profile.ongoing_repeat_ns, now_ns, self._cable_check_req)
            return
        self._enter(Phase.PRECHARGE, now_ns)
        self._precharge_req(now_ns)

    def _precharge_req(self, now_ns: int) -> None:
        b = self.profile.battery
        self._send(self._m.PreChargeReqType(
            DC_EVStatus=self._ev_status(), EVTargetVoltage=self._pv(b.ocv_v(), "V"),
            EVTargetCurrent=self._pv(1.0, "A")), now_ns)

    def _on_precharge(self, msg: Any, body: Any, now_ns: int) -> None:
        present = to_float(body.EVSEPresentVoltage)
        if not self._check_present(present, None, now_ns):
            return
        target = self.profile.battery.ocv_v()
        if abs(self.inlet_voltage_v(now_ns) - target) <= PRECHARGE_MATCH_V:
            self._enter(Phase.POWER_DELIVERY_START, now_ns)
            self._pd_req(True, now_ns)
            return
        if now_ns - self._phase_started_ns > PRECHARGE_TIMEOUT_NS:
            self._fail("PreCharge did not reach the battery voltage within 7 s")
            return
        self._later(self.profile.precharge_period_ns, now_ns, self._precharge_req)

    def _pd_req(self, start: bool, now_ns: int, renegotiate: bool = False) -> None:
        m = self._m
        status = self._ev_status_in("power_delivery") if start else self._ev_status()
        par = m.DC_EVPowerDeliveryParameterType(DC_EVStatus=status,
                                                ChargingComplete=not start)
        body: Any
        if self._din:
            body = din.PowerDeliveryReqType(ReadyToChargeState=start,
                                            EVPowerDeliveryParameter=par)
            timeout = MSG_TIMEOUT_NS
        else:
            progress = "Renegotiate" if renegotiate else ("Start" if start else "Stop")
            plan = self.profile.charging_profile if start and not renegotiate else None
            body = iso2.PowerDeliveryReqType(
                ChargeProgress=iso2.chargeProgressType(progress),
                SAScheduleTupleID=self._schedule_id, EVPowerDeliveryParameter=par,
                ChargingProfile=None if plan is None else iso2.ChargingProfileType(
                    ProfileEntry=[iso2.ProfileEntryType(
                        ChargingProfileEntryStart=t, ChargingProfileEntryMaxPower=self._pv(w, "W"))
                        for t, w in plan]))
            timeout = MSG_TIMEOUT_PD_ISO_NS
        self._send(body, now_ns, timeout)

    def _on_power_delivery_start(self, msg: Any, body: Any, now_ns: int) -> None:
        self._enter(Phase.CHARGING, now_ns)
        if not self._renegotiated or self._charging_started_ns == 0:
            self._charging_started_ns = now_ns
        self._last_cd_ns = now_ns
        self._current_demand_req(now_ns)

    def _current_demand_req(self, now_ns: int) -> None:
        b, p = self.profile.battery, self.profile
        b.charge(self.inlet_current_a(now_ns), now_ns - self._last_cd_ns)
        self._last_cd_ns = now_ns
        want = b.wanted_current_a()
        if p.negative_first_target and self._current_demands == 0:
            want = -1.0
        v = min(b.max_voltage_v, b.terminal_v(max(want, 0.0)) + 5.0)
        self._current_demands += 1
        status = self._ev_status()
        err_after = p.ev_error_after_ns
        if err_after is not None and now_ns - self._charging_started_ns >= err_after:
            status = dataclasses.replace(
                status, EVErrorCode=self._m.DC_EVErrorCodeType(p.ev_error_code))
        self._send(self._m.CurrentDemandReqType(
            DC_EVStatus=status, EVTargetCurrent=self._pv(want, "A"),
            EVMaximumVoltageLimit=self._pv(b.max_voltage_v, "V"),
            EVMaximumCurrentLimit=self._pv(b.max_current_a, "A"),
            EVMaximumPowerLimit=self._pv(b.max_power_w, "W"),
            BulkChargingComplete=False, ChargingComplete=b.soc_pct >= b.target_soc_pct,
            EVTargetVoltage=self._pv(v, "V")), now_ns, MSG_TIMEOUT_CURRENT_DEMAND_NS)

    def _on_charging(self, msg: Any, body: Any, now_ns: int) -> None:
        p, b = self.profile, self.profile.battery
        if not self._check_present(to_float(body.EVSEPresentVoltage),
                                   to_float(body.EVSEPresentCurrent), now_ns):
            return
        elapsed = now_ns - self._charging_started_ns
        contract = p.contract
        if (not self._din and self._contract and contract is not None
                and getattr(body, "ReceiptRequired", None)):
            # PnC: the SECC asks for a signed receipt of its meter info (ISO 15118-2
            # MeteringReceiptReq, signed like AuthorizationReq), then CurrentDemand goes on.
            self._enter(Phase.METERING_RECEIPT, now_ns)
            req = iso2.MeteringReceiptReqType(
                Id=METERING_RECEIPT_REQ_ID, SessionID=self.session_id,
                SAScheduleTupleID=body.SAScheduleTupleID, MeterInfo=body.MeterInfo)
            self._send(req, now_ns, signature=sign_body(req, contract.leaf_key))
            return
        if self._evse_wants_stop(body):
            self._stop_reason = "EVSE asked to stop"
        elif (not self._din and body.DC_EVSEStatus.EVSENotification.value == "ReNegotiation"
              or (p.renegotiate_after_ns is not None and not self._renegotiated
                  and elapsed >= p.renegotiate_after_ns and not self._din)):
            self._renegotiated = True
            self._enter(Phase.RENEGOTIATE, now_ns)
            self._pd_req(True, now_ns, renegotiate=True)
            return
        elif p.pause_after_ns is not None and elapsed >= p.pause_after_ns and not self._din:
            self._pausing = True
            self._stop_reason = "pause"
        elif b.soc_pct >= b.target_soc_pct:
            self._stop_reason = "target SOC reached"
        elif p.charge_for_ns is not None and elapsed >= p.charge_for_ns:
            self._stop_reason = "charge time over"
        else:
            self._later(max(0, p.cadence_ns - (now_ns - self._last_cd_ns)), now_ns,
                        self._current_demand_req)
            return
        self._enter(Phase.POWER_DELIVERY_STOP, now_ns)
        self._pd_req(False, now_ns)

    def _on_metering_receipt(self, msg: Any, body: Any, now_ns: int) -> None:
        self._enter(Phase.CHARGING, now_ns)
        self._later(max(0, self.profile.cadence_ns - (now_ns - self._last_cd_ns)), now_ns,
                    self._current_demand_req)

    def _on_renegotiate(self, msg: Any, body: Any, now_ns: int) -> None:
        self._enter(Phase.CHARGE_PARAMETERS, now_ns)
        self._cpd_req(now_ns)

    def _on_power_delivery_stop(self, msg: Any, body: Any, now_ns: int) -> None:
        self._enter(Phase.WELDING, now_ns)
        self._send(self._m.WeldingDetectionReqType(DC_EVStatus=self._ev_status()), now_ns)

    def _on_welding(self, msg: Any, body: Any, now_ns: int) -> None:
        self._enter(Phase.SESSION_STOP, now_ns)
        self._send(self._session_stop_req(), now_ns)

    def _session_stop_req(self) -> Any:
        if self._din:
            return din.SessionStopType()
        kind = "Pause" if self._pausing else "Terminate"
        return iso2.SessionStopReqType(ChargingSession=iso2.chargingSessionType(kind))

    def _on_session_stop(self, msg: Any, body: Any, now_ns: int) -> None:
        self._enter(Phase.DONE, now_ns)
        self._finish(True, self._stop_reason if not self.profile.stop_after_session_setup
                     else "stopped after SessionSetup")


def _within(value: float, span: tuple[float, float], tolerance: float) -> bool:
    return min(span) - tolerance <= value <= max(span) + tolerance
