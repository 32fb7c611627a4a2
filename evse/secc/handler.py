"""Callbacks shared by the DIN SPEC 70121 and ISO 15118-2 charts (fsm_specs/secc_*.yaml).

The chart decides *which* answer; this module decides *what is in it*. Every answer is
built from the environment's latest published values at the instant the request is
handled, never by waiting for them: present voltage/current are the latest measurement
snapshot, limits the last valid ones, a missing schedule is replaced by one built from the
rated power (P0 items of ccs2_dc_reference.md).

Protocol differences live in `evse.secc.messages` (one builder per protocol). Public
methods of these classes are exactly the chart's callbacks (checked by tests/test_cli.py);
helpers are private.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evse.contract.limits import EvseLimits
from evse.contract.values import IsolationStatus
from evse.fsm import Event
from evse.secc.config import SeccConfig
from evse.secc.env import (
    AppProtocol,
    AuthStatus,
    CableCheckStatus,
    EvInfo,
    EvRequest,
    EvRequestSource,
    EvseFault,
    PaymentMethod,
    Schedule,
    SeccEnv,
    SessionEndReason,
    StationRequest,
)
from evse.secc.messages import CHARGE_SERVICE_ID, Builder, Status
from evse.secc.quirks import QUIRKS, Deviation, Quirk, QuirkContext, find
from evse.secc.schedule import FALLBACK_TUPLE_ID, offer, profile_entries
from evse.secc.session import PausedSession, SessionStore
from evse.secc.timing import EVSE_STOP_GRACE_NS, NOTIFICATION_MAX_DELAY_S
from evse.secc.units import to_float

log = logging.getLogger(__name__)

#: Below this measured current the output counts as off (PowerDelivery(Stop) answered).
OUTPUT_OFF_CURRENT_A = 1.0


@dataclass(frozen=True, slots=True)
class Request:
    """The request being handled: its typed body and header SessionID."""

    body: Any
    session_id: bytes
    received_ns: int
    signature: Any = None  # the header's xmldsig Signature (ISO-2 signed requests)


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A complete V2G message made elsewhere (the CSMS's CertificateInstallationRes), sent
    to the car byte for byte instead of a body the SECC encodes."""

    payload: bytes
    message: str  # e.g. "CertificateInstallationRes"


class SeccHandlerBase:
    """State shared by both protocols' callbacks for one TCP connection's session."""

    def __init__(
        self,
        *,
        protocol: AppProtocol,
        env: SeccEnv,
        config: SeccConfig,
        store: SessionStore,
        new_session_id: Callable[[], bytes],
        state_of: Callable[[], str],
        quirks: tuple[Quirk, ...] = QUIRKS,
    ) -> None:
        self._protocol = protocol
        self._din = protocol is AppProtocol.DIN70121
        self._env = env
        self._cfg = config
        self._store = store
        self._new_session_id = new_session_id
        self._state_of = state_of
        self._quirks = quirks
        self._b = Builder(protocol, config)
        self._now_ns = 0
        self.request: Request | None = None
        self.responses: list[Any] = []
        self.session_id: bytes | None = None
        self.evccid = b""
        self.end_reason: SessionEndReason | None = None
        self.quirks_applied: list[Quirk] = []
        self._payment = PaymentMethod.EIM
        self._authorized = False
        self._ongoing_expired = False
        self._cable_check_expired = False
        self._ev_max_voltage_v = 0.0
        self._ev_max_current_a = 0.0
        self._ev_max_power_w: float | None = None
        self._last_limits: EvseLimits | None = None
        self._stop_signalled_ns: int | None = None
        self._resumed = False
        self._last_soc: int | None = None
        #: The SAScheduleTuple offered at the last ChargeParameterDiscovery and the one
        #: in force (chosen by the car's PowerDeliveryReq, [V2G2-479]); CurrentDemandRes
        #: names the latter. One place decides both: `_offer_schedule` / `_select_tuple`.
        self._offered: Schedule | None = None
        self._active_tuple_id = FALLBACK_TUPLE_ID

    # ------------------------------------------------------------------ plumbing
    def _req(self) -> Any:
        assert self.request is not None, "callback outside a request"
        return self.request.body

    def _emit(self, body: Any) -> None:
        self.responses.append(body)

    def _end(self, reason: SessionEndReason) -> None:
        if self.end_reason is None:
            self.end_reason = reason

    def _quirk(self, deviation: Deviation) -> Quirk | None:
        q = find(deviation, QuirkContext(self.evccid, self._protocol, self._state_of()),
                 self._quirks)
        if q is not None:
            self.quirks_applied.append(q)
            log.info("quirk %s tolerated for %s: %s", deviation.name, q.name, q.tolerance)
        return q

    def _set_now(self, ev: Event) -> None:
        self._now_ns = ev.at_ns

    def _limits(self) -> EvseLimits:
        """Limits to report now (never waits): see `_reportable`."""
        return self._reportable(self._env.limits(self._now_ns))

    def _reportable(self, lim: EvseLimits) -> EvseLimits:
        """`lim` unless derated to zero; then the last ones in force, else the rating: the
        stop is told by status and 0 A, never by 0 A / 0 W maxima (EVs abort on those,
        interop_failures.md "don't like 0 W and/or 0 A")."""
        if not lim.derated:
            self._last_limits = lim
            return lim
        return self._last_limits or self._env.rated_limits()

    def _limits_lost(self) -> bool:
        return self._env.limits(self._now_ns).derated

    def _status(self, *, isolation: IsolationStatus | None = None) -> Status:
        """DC_EVSEStatus content for this instant; per-protocol mapping in the builder."""
        now = self._now_ns
        fault = self._env.fault(now)
        iso = isolation if isolation is not None else self._env.measurement(now).isolation
        code = "EVSE_Ready"
        notification = "None"
        if fault is EvseFault.EMERGENCY:
            code = "EVSE_EmergencyShutdown"
        elif fault is EvseFault.ISOLATION:
            code, iso = "EVSE_EmergencyShutdown", IsolationStatus.FAULT
        elif fault is EvseFault.MALFUNCTION:
            code = "EVSE_Malfunction"
        elif fault is EvseFault.UTILITY_INTERRUPT:
            code = "EVSE_UtilityInterruptEvent"
        elif self._stop_wanted():
            code, notification = "EVSE_Shutdown", "StopCharging"
        elif self._env.station_request(now) is StationRequest.RENEGOTIATE and not self._din:
            notification = "ReNegotiation"
        if self._din:
            # [V2G-DC-500]: DIN signals the stop by status code only (Volvo XC40 ignores
            # anything else; interop_failures.md §1).
            notification = "None"
        return Status(code, notification, iso, NOTIFICATION_MAX_DELAY_S)

    def _stop_wanted(self) -> bool:
        now = self._now_ns
        return (
            self._env.fault(now) is EvseFault.SHUTDOWN
            or self._env.station_request(now) is StationRequest.STOP
            or self._limits_lost()
        )

    def _hard_fault(self) -> bool:
        return self._env.fault(self._now_ns) in (
            EvseFault.EMERGENCY, EvseFault.ISOLATION, EvseFault.MALFUNCTION,
            EvseFault.UTILITY_INTERRUPT)

    def _failed_response(self, event: str, code: str) -> Any:
        """A complete response of the type `event` asks for, with ResponseCode `code`."""
        st = self._status()
        meas = self._env.measurement(self._now_ns)
        b = self._b
        table: dict[str, Callable[[], Any]] = {
            "session_setup_req": lambda: b.session_setup(code, self.session_id or b"\x00"),
            "service_discovery_req": lambda: b.service_discovery(code, self._offered_payment()),
            "service_detail_req": lambda: b.service_detail(code, 1),
            "payment_selection_req": lambda: b.payment_selection(code),
            "payment_details_req": lambda: b.payment_details(code, b"\x00" * 16,
                                                             self._unix_s()),
            "certificate_installation_req": lambda: b.certificate_installation(code),
            "certificate_update_req": lambda: b.certificate_update(code),
            "authorization_req": lambda: b.authorization(code, finished=True),
            "charge_parameter_req": lambda: b.charge_parameters(
                code, st, self._limits(), self._env.rated_limits(),
                offer(None, self._env.rated_limits(), None,
                      self._cfg.default_schedule_duration_s)),
            "cable_check_req": lambda: b.cable_check(code, st, finished=True),
            "precharge_req": lambda: b.precharge(code, st, meas.voltage_v),
            "power_delivery_start_req": lambda: b.power_delivery(code, st),
            "power_delivery_stop_req": lambda: b.power_delivery(code, st),
            "power_delivery_renegotiate_req": lambda: b.power_delivery(code, st),
            "current_demand_req": lambda: b.current_demand(
                code, st, meas.voltage_v, meas.current_a, (False, False, False),
                self._limits(), self._active_tuple_id),
            "metering_receipt_req": lambda: b.metering_receipt(code, st),
            "welding_req": lambda: b.welding(code, st, meas.voltage_v),
            "session_stop_req": lambda: b.session_stop(code),
        }
        return table[event]()

    def _offered_payment(self) -> tuple[PaymentMethod, ...]:
        opts = self._cfg.payment_options
        if not self._cfg.tls:
            opts = tuple(o for o in opts if o is not PaymentMethod.CONTRACT)
        return opts or (PaymentMethod.EIM,)

    def _unix_s(self) -> int:
        """Unix time now: the runtime's epoch plus station time (never a clock read)."""
        return self._cfg.epoch_unix_s + self._now_ns // 1_000_000_000

    def _ev_status_soc(self, body: Any) -> int | None:
        st = getattr(body, "DC_EVStatus", None)
        if st is None:
            cp = getattr(body, "EVChargeParameter", None)
            st = getattr(cp, "DC_EVStatus", None)
        return None if st is None else int(st.EVRESSSOC)

    def _report_ev_request(self, source: EvRequestSource, body: Any) -> EvRequest:
        """The car's targets and DC_EVStatus as sent (plc.ev_request), before any clamp."""
        st = body.DC_EVStatus
        remaining = getattr(body, "RemainingTimeToFullSoC", None)
        bulk = getattr(body, "BulkChargingComplete", None)
        req = EvRequest(
            source=source,
            target_voltage_v=max(0.0, to_float(body.EVTargetVoltage)),
            target_current_a=max(0.0, to_float(body.EVTargetCurrent)),
            soc_pct=max(0, min(100, int(st.EVRESSSOC))),
            ev_ready=bool(st.EVReady),
            ev_error_code=str(getattr(st.EVErrorCode, "value", st.EVErrorCode)),
            charge_complete=bool(getattr(body, "ChargingComplete", False)),
            bulk_charge_complete=None if bulk is None else bool(bulk),
            remaining_time_to_full_soc_s=(None if remaining is None
                                          else max(0, int(to_float(remaining)))),
        )
        self._env.ev_request(req, self._now_ns)
        return req

    def _publish_ev(self, body: Any) -> None:
        self._env.ev_info(EvInfo(
            evccid=self.evccid, protocol=self._protocol,
            max_voltage_v=self._ev_max_voltage_v or None,
            max_current_a=self._ev_max_current_a or None,
            max_power_w=self._ev_max_power_w, soc_pct=self._ev_status_soc(body),
        ), self._now_ns)

    # ------------------------------------------------------------------ session setup
    def answer_session_setup(self, ev: Event) -> None:
        self._set_now(ev)
        body = self._req()
        assert self.request is not None
        self.evccid = bytes(body.EVCCID)
        offered = self.request.session_id
        if len(offered) < 8 and any(offered):
            self._quirk(Deviation.SHORT_SESSION_ID)
        paused = self._store.load(offered) if any(offered) else None
        if paused is not None and paused.protocol is self._protocol:
            self.session_id = paused.session_id
            self._payment = paused.payment
            self._authorized = paused.authorized
            self._resumed = True
            self._store.discard(paused.session_id)
            code = "OK_OldSessionJoined"
        else:
            self.session_id = self._new_session_id()
            code = "OK_NewSessionEstablished"
        self._env.ev_info(EvInfo(evccid=self.evccid, protocol=self._protocol), self._now_ns)
        self._emit(self._b.session_setup(code, self.session_id))

    def answer_service_discovery(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.service_discovery("OK", self._offered_payment()))

    # ------------------------------------------------------------------ payment
    def payment_ok(self, ev: Event) -> bool:
        body = self._req()
        chosen = PaymentMethod(body.SelectedPaymentOption.value)
        return chosen in self._offered_payment()

    def _selected_service_ids(self) -> list[int]:
        lst = getattr(self._req(), "SelectedServiceList", None)
        return [int(s.ServiceID) for s in (lst.SelectedService if lst is not None else [])]

    def service_selection_invalid(self, ev: Event) -> bool:
        """A ServiceID we never offered (we offer the charge service only): ISO 15118-2
        [V2G2-467], DIN SPEC 70121 [V2G-DC-396] FAILED_ServiceSelectionInvalid."""
        return any(sid != CHARGE_SERVICE_ID for sid in self._selected_service_ids())

    def no_charge_service_selected(self, ev: Event) -> bool:
        """The charge service missing from the selection: ISO 15118-2 [V2G2-804]
        FAILED_NoChargeServiceSelected (DIN SPEC 70121 has no such code; there it is a
        selection we did not offer, [V2G-DC-396])."""
        return CHARGE_SERVICE_ID not in self._selected_service_ids()

    def answer_payment_selection(self, ev: Event) -> None:
        self._set_now(ev)
        self._payment = PaymentMethod(self._req().SelectedPaymentOption.value)
        self._emit(self._b.payment_selection("OK"))

    def answer_payment_selection_invalid(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.payment_selection("FAILED_PaymentSelectionInvalid"))
        self._end(SessionEndReason.SEQUENCE_ERROR)

    def answer_service_selection_invalid(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.payment_selection("FAILED_ServiceSelectionInvalid"))
        self._end(SessionEndReason.PARAMETER_ERROR)

    def answer_no_charge_service_selected(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.payment_selection(
            "FAILED_ServiceSelectionInvalid" if self._din else "FAILED_NoChargeServiceSelected"))
        self._end(SessionEndReason.PARAMETER_ERROR)

    # ------------------------------------------------------------------ authorization
    def request_authorization(self, ev: Event) -> None:
        self._set_now(ev)
        if not self._authorized:
            self._env.request_authorization(self._payment, self._now_ns)

    def auth_accepted(self, ev: Event) -> bool:
        self._set_now(ev)
        return self._authorized or (
            self._env.auth_decision(self._now_ns).status is AuthStatus.ACCEPTED)

    def auth_rejected(self, ev: Event) -> bool:
        self._set_now(ev)
        return self._env.auth_decision(self._now_ns).status is AuthStatus.REJECTED

    def ongoing_expired(self, ev: Event) -> bool:
        return self._ongoing_expired

    def mark_ongoing_expired(self, ev: Event) -> None:
        self._ongoing_expired = True

    def answer_auth_finished(self, ev: Event) -> None:
        self._set_now(ev)
        self._authorized = True
        self._emit(self._b.authorization("OK", finished=True))

    def answer_auth_ongoing(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.authorization("OK", finished=False))

    def answer_auth_failed(self, ev: Event) -> None:
        self._set_now(ev)
        timed_out = self._ongoing_expired or self._env.auth_decision(self._now_ns).timed_out
        self._refuse_authorization("FAILED", SessionEndReason.AUTH_TIMEOUT if timed_out
                                   else SessionEndReason.AUTH_REJECTED)

    def _refuse_authorization(self, code: str, reason: SessionEndReason) -> None:
        """AuthorizationRes with a FAILED code (Finished), then the session ends."""
        self._emit(self._b.authorization(code, finished=True))
        self._end(reason)

    # ------------------------------------------------------------------ the car is gone
    def ev_gone(self, ev: Event) -> bool:
        """The pilot says the car is gone (PP open confirmed, CP in E) with the connection
        still up: a waiting session ends instead of answering Ongoing (SeccEnv.ev_gone)."""
        self._set_now(ev)
        return self._env.ev_gone(self._now_ns)

    def station_faulted(self, ev: Event) -> bool:
        """A hard station fault (emergency stop, isolation, malfunction, utility interrupt)
        while authorization is pending: no energy can follow, so the wait is not kept up
        with Ongoing until t_auth_eim / t_auth_pnc."""
        self._set_now(ev)
        return self._hard_fault()

    def end_ev_gone(self, ev: Event) -> None:
        """Pushed by the station between two requests: nothing to answer; the core closes
        the connection and `session_ended` makes the output safe."""
        self._set_now(ev)
        self._end(SessionEndReason.EV_GONE)

    def answer_auth_ev_gone(self, ev: Event) -> None:
        self._set_now(ev)
        self._refuse_authorization("FAILED", SessionEndReason.EV_GONE)

    def answer_auth_station_fault(self, ev: Event) -> None:
        self._set_now(ev)
        self._refuse_authorization("FAILED", SessionEndReason.EVSE_FAULT)

    def answer_cable_check_ev_gone(self, ev: Event) -> None:
        """CableCheckRes FAILED with the station's status of this instant (EVSE_Shutdown or
        the fault's code: the pilot has withdrawn power), isolation not valid."""
        self._set_now(ev)
        st = self._status(isolation=IsolationStatus.INVALID)
        if st.code == "EVSE_Ready":
            st = Status("EVSE_Shutdown", st.notification, st.isolation, st.max_delay_s)
        self._emit(self._b.cable_check("FAILED", st, finished=True))
        self._end(SessionEndReason.EV_GONE)

    # ------------------------------------------------------------------ charge parameters
    def charge_parameters_ok(self, ev: Event) -> bool:
        body = self._req()
        cp = body.EVChargeParameter
        if not hasattr(cp, "EVMaximumVoltageLimit"):
            return False  # AC parameters on a DC-only station
        mode = getattr(body, "RequestedEnergyTransferMode", None) or getattr(
            body, "EVRequestedEnergyTransferType", None)
        return mode is None or str(mode.value).startswith("DC")

    def charge_parameters_wrong(self, ev: Event) -> bool:
        """DC parameters no charger can work with: a negative maximum current, voltage or
        power (ISO 15118-2 [V2G2-477] FAILED_WrongChargeParameter; DIN SPEC 70121
        responseCodeType has the same code for ChargeParameterDiscoveryRes)."""
        cp = self._req().EVChargeParameter
        for name in ("EVMaximumCurrentLimit", "EVMaximumVoltageLimit", "EVMaximumPowerLimit"):
            pv = getattr(cp, name, None)
            if pv is not None and to_float(pv) < 0:
                return True
        return False

    def _departure_s(self, body: Any) -> int | None:
        """ISO 15118-2 DC_EVChargeParameter DepartureTime (s from now); DIN has none."""
        dep = getattr(body.EVChargeParameter, "DepartureTime", None)
        return None if dep is None or int(dep) <= 0 else int(dep)

    def _offer_schedule(self, body: Any) -> Schedule:
        """The SAScheduleTuple this ChargeParameterDiscoveryRes offers (kept: PowerDelivery
        and CurrentDemand refer to it)."""
        offered = offer(self._env.schedule(self._now_ns), self._env.rated_limits(),
                        self._departure_s(body), self._cfg.default_schedule_duration_s)
        self._offered = offered
        return offered

    def answer_charge_parameters(self, ev: Event) -> None:
        self._set_now(ev)
        body = self._req()
        cp = body.EVChargeParameter
        st = cp.DC_EVStatus
        if not st.EVReady:
            # [V2G-DC-639]: EVReady is not evaluated before CableCheck.
            self._quirk(Deviation.EV_NOT_READY_BEFORE_CABLE_CHECK)
        self._ev_max_voltage_v = to_float(cp.EVMaximumVoltageLimit)
        self._ev_max_current_a = to_float(cp.EVMaximumCurrentLimit)
        p = cp.EVMaximumPowerLimit
        self._ev_max_power_w = None if p is None else to_float(p)
        self._publish_ev(body)
        self._emit(self._b.charge_parameters(
            "OK", self._status(), self._limits(), self._env.rated_limits(),
            self._offer_schedule(body)))

    def answer_charge_parameters_failed(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._failed_response(
            "charge_parameter_req",
            "FAILED_WrongEnergyTransferType" if self._din else "FAILED_WrongEnergyTransferMode"))
        self._end(SessionEndReason.SEQUENCE_ERROR)

    def answer_wrong_charge_parameter(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._failed_response("charge_parameter_req", "FAILED_WrongChargeParameter"))
        self._end(SessionEndReason.PARAMETER_ERROR)

    def repeat_tolerated(self, ev: Event) -> bool:
        return self._quirk(Deviation.REPEATED_REQUEST) is not None

    # ------------------------------------------------------------------ cable check
    def start_cable_check(self, ev: Event) -> None:
        self._set_now(ev)
        lim = self._limits()
        target = min(self._ev_max_voltage_v or lim.max_voltage_v, lim.max_voltage_v)
        self._env.start_cable_check(target, self._now_ns)

    def isolation_valid(self, ev: Event) -> bool:
        self._set_now(ev)
        return self._env.cable_check(self._now_ns).status is CableCheckStatus.VALID

    def isolation_fault(self, ev: Event) -> bool:
        self._set_now(ev)
        return self._env.cable_check(self._now_ns).status is CableCheckStatus.FAULT

    def cable_check_expired(self, ev: Event) -> bool:
        return self._cable_check_expired

    def mark_cable_check_expired(self, ev: Event) -> None:
        self._cable_check_expired = True

    def _report_ev_status(self, message: str) -> None:
        """DC_EVStatus.EVErrorCode of a CableCheckReq / PowerDeliveryReq, before the answer
        is built (so a car's error is in this answer's status already). PowerDeliveryReq
        carries it in (DC_)EVPowerDeliveryParameter, optional in ISO-2: then there is none."""
        body = self._req()
        st = getattr(body, "DC_EVStatus", None)
        if st is None:
            st = getattr(getattr(body, "EVPowerDeliveryParameter", None), "DC_EVStatus", None)
        if st is not None:
            code = str(getattr(st.EVErrorCode, "value", st.EVErrorCode))
            self._env.ev_status(message, code, self._now_ns)

    def answer_cable_check_finished(self, ev: Event) -> None:
        self._set_now(ev)
        self._report_ev_status("cable_check")
        self._emit(self._b.cable_check("OK", self._status(isolation=IsolationStatus.VALID),
                                       finished=True))

    def answer_cable_check_ongoing(self, ev: Event) -> None:
        self._set_now(ev)
        self._report_ev_status("cable_check")
        st = self._status(isolation=IsolationStatus.INVALID)
        if st.code == "EVSE_Ready":
            st = Status("EVSE_IsolationMonitoringActive", st.notification, st.isolation,
                        st.max_delay_s)
        self._emit(self._b.cable_check("OK", st, finished=False))

    def vehicle_ready(self, ev: Event) -> bool:
        """The pilot reads C or D: the car may take the isolation test's voltage."""
        self._set_now(ev)
        return self._env.vehicle_ready(self._now_ns)

    def answer_cable_check_vehicle_not_ready(self, ev: Event) -> None:
        """CableCheckReq with the car not in C/D past t_vehicle_ready: FAILED, the session
        ends, the isolation test never started (ISO 15118-4 TC_SECC_DC_VTB_CableCheck_008).
        The car's fault (it did not close S2), told to the contract as an EV error."""
        self._set_now(ev)
        st = Status("EVSE_NotReady", "None", IsolationStatus.INVALID, NOTIFICATION_MAX_DELAY_S)
        self._emit(self._b.cable_check("FAILED", st, finished=True))
        self._end(SessionEndReason.PARAMETER_ERROR)

    def answer_cable_check_failed(self, ev: Event) -> None:
        self._set_now(ev)
        fault = self.isolation_fault(ev)
        st = Status("EVSE_Malfunction", "None",
                    IsolationStatus.FAULT if fault else IsolationStatus.INVALID,
                    NOTIFICATION_MAX_DELAY_S)
        self._emit(self._b.cable_check("FAILED", st, finished=True))
        self._end(SessionEndReason.CABLE_CHECK_FAULT if fault
                  else SessionEndReason.CABLE_CHECK_TIMEOUT)

    # ------------------------------------------------------------------ precharge
    def answer_precharge(self, ev: Event) -> None:
        self._set_now(ev)
        self._precharge(self._env.precharge)

    def _precharge(self, apply: Callable[[float, float, int], object]) -> None:
        body = self._req()
        self._report_ev_request(EvRequestSource.PRE_CHARGE, body)
        # The car's targets, only made non-negative (as in CurrentDemand): the power path
        # clamps them to its limits once (its maximum voltage, at most 2 A:
        # evse/power/controller.py set_precharge_output).
        apply(max(to_float(body.EVTargetVoltage), 0.0), max(to_float(body.EVTargetCurrent), 0.0),
              self._now_ns)
        # Present voltage is what is measured now, never the target (Hyundai Ioniq closes
        # its contactors on the reported value; interop_failures.md §1).
        meas = self._env.measurement(self._now_ns)
        code = "FAILED" if self._hard_fault() else "OK"
        self._emit(self._b.precharge(code, self._status(), meas.voltage_v))
        if code != "OK":
            self._end(SessionEndReason.EVSE_FAULT)

    # ------------------------------------------------------------------ power delivery
    def request_power_delivery_start(self, ev: Event) -> None:
        self._set_now(ev)
        self._report_ev_status("power_delivery")
        self._select_tuple()
        self._report_charging_profile()
        self._env.power_delivery(True, self._now_ns)

    def _report_charging_profile(self) -> None:
        """The car's ChargingProfile of an accepted ISO 15118-2 PowerDeliveryReq(Start)
        (optional there; the chart has refused one above the offer, [V2G2-224/225]) to the
        controller: plc.ev_charging_profile, OCPP 2.0.1 NotifyEVChargingSchedule."""
        req = self._req()
        profile = None if self._din else getattr(req, "ChargingProfile", None)
        if profile is None or not profile.ProfileEntry:
            return
        self._env.ev_charging_profile(int(req.SAScheduleTupleID), profile_entries(profile),
                                      self._now_ns)

    def _select_tuple(self) -> None:
        """ISO 15118-2: the SAScheduleTupleID of PowerDeliveryReq is the one in force
        (checked against the offer by the chart first, [V2G2-479])."""
        tid = getattr(self._req(), "SAScheduleTupleID", None)
        if tid is not None:
            self._active_tuple_id = int(tid)

    def output_ready(self, ev: Event) -> bool:
        self._set_now(ev)
        pp = self._env.power_path(self._now_ns)
        return pp.contactors_closed and pp.output_ready

    def answer_power_delivery_start(self, ev: Event) -> None:
        self._set_now(ev)
        self._stop_signalled_ns = None
        self._emit(self._b.power_delivery("OK", self._status()))

    def answer_power_delivery_failed(self, ev: Event) -> None:
        self._set_now(ev)
        self._env.power_delivery(False, self._now_ns)
        code = "FAILED_PowerDeliveryNotApplied" if self._din else "FAILED_ContactorError"
        self._emit(self._b.power_delivery(code, self._status()))
        self._end(SessionEndReason.POWER_DELIVERY_FAILED)

    def request_power_delivery_stop(self, ev: Event) -> None:
        self._set_now(ev)
        self._env.power_delivery(False, self._now_ns)

    def output_off(self, ev: Event) -> bool:
        self._set_now(ev)
        return abs(self._env.measurement(self._now_ns).current_a) < OUTPUT_OFF_CURRENT_A

    def answer_power_delivery_stop(self, ev: Event) -> None:
        self._set_now(ev)
        st = self._status()
        if st.code == "EVSE_Shutdown":
            st = Status("EVSE_Ready", "None", st.isolation, st.max_delay_s)
        self._emit(self._b.power_delivery("OK", st))

    # ------------------------------------------------------------------ current demand
    def must_fail_now(self, ev: Event) -> bool:
        """Hard fault, or a stop we signalled that the car ignored past the grace period."""
        self._set_now(ev)
        if self._hard_fault():
            return True
        signalled = self._stop_signalled_ns
        return (signalled is not None and self._stop_wanted()
                and self._now_ns - signalled > EVSE_STOP_GRACE_NS)

    def answer_current_demand(self, ev: Event) -> None:
        """Never waits: the power path clamps the car's targets once (its last-known
        limits) and regulates to that; the answer reports that clamp's flags and limits
        and the latest measurement snapshot. The SECC's one decision here is the stop:
        0 A while it signals one (EVSE_Shutdown / StopCharging)."""
        self._set_now(ev)
        body = self._req()
        self._report_ev_request(EvRequestSource.CURRENT_DEMAND, body)
        req_v = to_float(body.EVTargetVoltage)
        req_i = to_float(body.EVTargetCurrent)
        meas = self._env.measurement(self._now_ns)
        if req_i < 0 or req_v < self._limits().min_voltage_v:
            self._quirk(Deviation.TARGET_BELOW_BATTERY)
        target_i = max(req_i, 0.0)
        if self._stop_wanted():
            target_i = 0.0  # derate to zero while the stop is signalled
            if self._stop_signalled_ns is None:
                self._stop_signalled_ns = self._now_ns  # the grace period starts now
        clamp = self._env.current_demand(max(req_v, 0.0), target_i, self._now_ns)
        soc = int(body.DC_EVStatus.EVRESSSOC)
        if soc != self._last_soc:  # the controller reports SOC (OCPP meter values)
            self._last_soc = soc
            self._publish_ev(body)
        self._emit(self._b.current_demand("OK", self._status(), meas.voltage_v,
                                          meas.current_a, clamp.achieved,
                                          self._reportable(clamp.limits),
                                          self._active_tuple_id))

    def answer_current_demand_failed(self, ev: Event) -> None:
        self._set_now(ev)
        self._env.power_delivery(False, self._now_ns)
        self._emit(self._failed_response("current_demand_req", "FAILED"))
        self._end(SessionEndReason.EVSE_FAULT if self._hard_fault()
                  else SessionEndReason.EVSE_STOP_NOT_HONOURED)

    # ------------------------------------------------------------------ welding / stop
    def start_welding_detection(self, ev: Event) -> None:
        self._set_now(ev)
        self._env.start_welding_detection(self._now_ns)

    def answer_welding(self, ev: Event) -> None:
        self._set_now(ev)
        meas = self._env.measurement(self._now_ns)
        self._emit(self._b.welding("OK", self._status(), meas.voltage_v))

    def early_stop_tolerated(self, ev: Event) -> bool:
        return self._quirk(Deviation.EARLY_POWER_DELIVERY_STOP) is not None

    def session_stop_tolerated(self, ev: Event) -> bool:
        return self._quirk(Deviation.EARLY_SESSION_STOP) is not None

    def answer_session_stop(self, ev: Event) -> None:
        self._set_now(ev)
        body = self._req()
        pause = getattr(getattr(body, "ChargingSession", None), "value", "") == "Pause"
        if pause and self.session_id is not None:
            self._store.save(PausedSession(
                session_id=self.session_id, evccid=self.evccid, protocol=self._protocol,
                payment=self._payment, authorized=self._authorized,
                paused_at_ns=self._now_ns))
        self._emit(self._b.session_stop("OK"))
        self._end(SessionEndReason.EV_PAUSE if pause else SessionEndReason.EV_STOP)

    def end_sequence_timeout(self, ev: Event) -> None:
        self._end(SessionEndReason.SEQUENCE_TIMEOUT)

    def close_session(self, ev: Event) -> None:
        self._set_now(ev)
        self._end(SessionEndReason.EV_STOP)
        assert self.end_reason is not None
        self._env.session_ended(self.end_reason, self._now_ns)
