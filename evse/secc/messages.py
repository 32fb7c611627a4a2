"""Response builders for DIN SPEC 70121 and ISO 15118-2 DC that always fill every
mandatory field, and the optional ones real cars expect.

Why one builder per protocol with the same method names: the handler decides content in
protocol-neutral terms (a response code name, a `Status`, floats in V/A/W) and the builder
maps it to the schema. That way "EVSEMaximumPowerLimit missing in DIN CPD" cannot happen:
there is no code path that omits it (EcoG-io/iso15118#108; ccs2_dc_reference.md P0 3), and
the optional maxima of CurrentDemandRes are always sent (EVerest/ext-switchev-iso15118 PR #2).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from evse.contract.limits import EvseLimits
from evse.contract.values import IsolationStatus
from evse.secc.config import SeccConfig
from evse.secc.env import AppProtocol, PaymentMethod, Schedule
from evse.secc.units import split
from exi import din, iso2

#: DIN PMax is an int16 without unit; EVerest sends watts clamped to 32767 and the captured
#: cars accept it (timing.md §5, interop_failures.md §2 "DIN PMax ambiguity").
DIN_PMAX_MAX = 32767
#: ServiceID of the charge service we offer (ServiceDiscoveryRes ChargeService), the only
#: service offered; 1 as EVerest and RiseV2G send it.
CHARGE_SERVICE_ID = 1


@dataclass(frozen=True, slots=True)
class Status:
    """Protocol-neutral DC_EVSEStatus content."""

    code: str  # DC_EVSEStatusCodeType member name
    notification: str  # EVSENotificationType value ("None", "StopCharging", "ReNegotiation")
    isolation: IsolationStatus | None
    max_delay_s: int


#: The station's one isolation enum (the contract's IsolationStatus, also the power path's
#: and the SECC's) -> isolationLevelType of ISO 15118-2 (Invalid, Valid, Warning, Fault,
#: No_IMD) and DIN SPEC 70121, which has no No_IMD: a station without an IMD reports Invalid
#: there (never Valid, which would claim a check that was not made).
_ISO2_ISOLATION: dict[IsolationStatus, str] = {
    IsolationStatus.INVALID: "Invalid",
    IsolationStatus.VALID: "Valid",
    IsolationStatus.WARNING: "Warning",
    IsolationStatus.FAULT: "Fault",
    IsolationStatus.NO_IMD: "No_IMD",
}
_DIN_ISOLATION: dict[IsolationStatus, str] = {
    **_ISO2_ISOLATION, IsolationStatus.NO_IMD: "Invalid"}


class Builder:
    def __init__(self, protocol: AppProtocol, config: SeccConfig) -> None:
        self.din = protocol is AppProtocol.DIN70121
        self.m: ModuleType = din if self.din else iso2
        self.cfg = config

    # ------------------------------------------------------------------ primitives
    def rc(self, name: str) -> Any:
        return self.m.responseCodeType[name]

    def pv(self, value: float, unit: str) -> Any:
        v, mult = split(value)
        return self.m.PhysicalValueType(Multiplier=mult, Unit=self.m.unitSymbolType[unit],
                                        Value=v)

    def status(self, st: Status) -> Any:
        m = self.m
        iso: Any = None
        if st.isolation is not None:
            table = _DIN_ISOLATION if self.din else _ISO2_ISOLATION
            iso = m.isolationLevelType(table[st.isolation])
        note = m.EVSENotificationType("None" if self.din else st.notification)
        return m.DC_EVSEStatusType(
            EVSEIsolationStatus=iso, EVSEStatusCode=m.DC_EVSEStatusCodeType[st.code],
            NotificationMaxDelay=st.max_delay_s if note.value != "None" else 0,
            EVSENotification=note)

    def processing(self, finished: bool) -> Any:
        return self.m.EVSEProcessingType.Finished if finished else (
            self.m.EVSEProcessingType.Ongoing)

    # ------------------------------------------------------------------ messages
    def session_setup(self, code: str, session_id: bytes) -> Any:
        if self.din:
            return din.SessionSetupResType(ResponseCode=self.rc(code),
                                           EVSEID=self.cfg.evse_id_din)
        return iso2.SessionSetupResType(ResponseCode=self.rc(code), EVSEID=self.cfg.evse_id)

    def service_discovery(self, code: str, payment: tuple[PaymentMethod, ...]) -> Any:
        if self.din:
            return din.ServiceDiscoveryResType(
                ResponseCode=self.rc(code),
                PaymentOptions=din.PaymentOptionsType(
                    PaymentOption=[din.paymentOptionType(p.value) for p in payment]),
                ChargeService=din.ServiceChargeType(
                    ServiceTag=din.ServiceTagType(
                        ServiceID=CHARGE_SERVICE_ID,
                        ServiceCategory=din.serviceCategoryType.EVCharging),
                    FreeService=False,
                    EnergyTransferType=din.EVSESupportedEnergyTransferType.DC_extended))
        return iso2.ServiceDiscoveryResType(
            ResponseCode=self.rc(code),
            PaymentOptionList=iso2.PaymentOptionListType(
                PaymentOption=[iso2.paymentOptionType(p.value) for p in payment]),
            ChargeService=iso2.ChargeServiceType(
                ServiceID=CHARGE_SERVICE_ID, ServiceCategory=iso2.serviceCategoryType.EVCharging,
                FreeService=False,
                SupportedEnergyTransferMode=iso2.SupportedEnergyTransferModeType(
                    EnergyTransferMode=[iso2.EnergyTransferModeType.DC_extended,
                                        iso2.EnergyTransferModeType.DC_core])))

    def service_detail(self, code: str, service_id: int) -> Any:
        return iso2.ServiceDetailResType(ResponseCode=self.rc(code), ServiceID=service_id)

    def payment_selection(self, code: str) -> Any:
        if self.din:
            return din.ServicePaymentSelectionResType(ResponseCode=self.rc(code))
        return iso2.PaymentServiceSelectionResType(ResponseCode=self.rc(code))

    def payment_details(self, code: str, challenge: bytes, unix_s: int) -> Any:
        return iso2.PaymentDetailsResType(ResponseCode=self.rc(code), GenChallenge=challenge,
                                          EVSETimeStamp=unix_s)

    def _cert_res(self, cls: Any, code: str) -> Any:
        # The contract supplies the real chain later (controller issue); until then the
        # answer is a schema-valid FAILED with empty placeholders.
        return cls(
            ResponseCode=self.rc(code),
            SAProvisioningCertificateChain=iso2.CertificateChainType(Certificate=b"\x00"),
            ContractSignatureCertChain=iso2.CertificateChainType(Certificate=b"\x00"),
            ContractSignatureEncryptedPrivateKey=(
                iso2.ContractSignatureEncryptedPrivateKeyType(Id="id2", value=b"\x00")),
            DHpublickey=iso2.DiffieHellmanPublickeyType(Id="id3", value=b"\x00"),
            eMAID=iso2.EMAIDType(Id="id4", value="ZZ00000000000Z"))

    def certificate_installation(self, code: str) -> Any:
        return self._cert_res(iso2.CertificateInstallationResType, code)

    def certificate_update(self, code: str) -> Any:
        return self._cert_res(iso2.CertificateUpdateResType, code)

    def authorization(self, code: str, *, finished: bool,
                      waiting_for_customer: bool = False) -> Any:
        """AuthorizationRes (ISO-2) / ContractAuthenticationRes (DIN). ISO 15118-2's
        EVSEProcessingType has Ongoing_WaitingForCustomerInteraction for an EVSE waiting for
        the driver (EvseV2G and Josev send it for EIM; tests/data/secc/auth_waiting_captures.json);
        DIN SPEC 70121's has only Finished/Ongoing, so DIN always gets Ongoing."""
        cls = din.ContractAuthenticationResType if self.din else iso2.AuthorizationResType
        processing = self.processing(finished)
        if waiting_for_customer and not finished and not self.din:
            processing = iso2.EVSEProcessingType.Ongoing_WaitingForCustomerInteraction
        return cls(ResponseCode=self.rc(code), EVSEProcessing=processing)

    def schedule_list(self, sched: Schedule) -> Any:
        """The SAScheduleList of one tuple: the schedule the handler decided to offer
        (evse.secc.schedule.offer: the controller's or the rated power, over DepartureTime
        or 24 h). Only the last entry carries a duration, so the intervals add up to it."""
        m = self.m
        entries = [(e.start_s, e.max_power_w) for e in sched.entries]
        pm_entries = []
        for k, (start, p_w) in enumerate(entries):
            last = k == len(entries) - 1
            interval = m.RelativeTimeIntervalType(
                start=start, duration=sched.duration_s - start if last else None)
            pmax: Any = (int(min(max(p_w, 0.0), DIN_PMAX_MAX)) if self.din
                         else self.pv(p_w, "W"))
            pm_entries.append(m.PMaxScheduleEntryType(TimeInterval=interval, PMax=pmax))
        tuple_id = sched.schedule_id
        pms: Any
        if self.din:
            pms = din.PMaxScheduleType(PMaxScheduleID=tuple_id, PMaxScheduleEntry=pm_entries)
        else:
            pms = iso2.PMaxScheduleType(PMaxScheduleEntry=pm_entries)
        return m.SAScheduleListType(SAScheduleTuple=[
            m.SAScheduleTupleType(SAScheduleTupleID=tuple_id, PMaxSchedule=pms)])

    def charge_parameters(self, code: str, st: Status, lim: EvseLimits, rated: EvseLimits,
                          sched: Schedule) -> Any:
        m = self.m
        # CPD reports nominal capability (EVs "don't like 0 W / 0 A" here; interop §1
        # Generic); dynamic limits apply in the loop. Max power is always present.
        p_w = lim.max_power_w if lim.max_power_w > 0 else rated.max_power_w
        i_a = lim.max_current_a if lim.max_current_a > 0 else rated.max_current_a
        params = m.DC_EVSEChargeParameterType(
            DC_EVSEStatus=self.status(st),
            EVSEMaximumCurrentLimit=self.pv(i_a, "A"),
            EVSEMaximumPowerLimit=self.pv(p_w, "W"),
            EVSEMaximumVoltageLimit=self.pv(lim.max_voltage_v, "V"),
            EVSEMinimumCurrentLimit=self.pv(lim.min_current_a, "A"),
            EVSEMinimumVoltageLimit=self.pv(lim.min_voltage_v, "V"),
            EVSECurrentRegulationTolerance=self.pv(self.cfg.current_regulation_tolerance_a,
                                                   "A"),
            EVSEPeakCurrentRipple=self.pv(self.cfg.peak_current_ripple_a, "A"))
        return m.ChargeParameterDiscoveryResType(
            ResponseCode=self.rc(code), EVSEProcessing=self.processing(True),
            SASchedules=self.schedule_list(sched),
            EVSEChargeParameter=params)

    def cable_check(self, code: str, st: Status, *, finished: bool) -> Any:
        return self.m.CableCheckResType(ResponseCode=self.rc(code),
                                        DC_EVSEStatus=self.status(st),
                                        EVSEProcessing=self.processing(finished))

    def precharge(self, code: str, st: Status, present_v: float) -> Any:
        return self.m.PreChargeResType(ResponseCode=self.rc(code),
                                       DC_EVSEStatus=self.status(st),
                                       EVSEPresentVoltage=self.pv(present_v, "V"))

    def power_delivery(self, code: str, st: Status) -> Any:
        return self.m.PowerDeliveryResType(ResponseCode=self.rc(code),
                                           EVSEStatus=self.status(st))

    def current_demand(self, code: str, st: Status, present_v: float, present_a: float,
                       achieved: tuple[bool, bool, bool], lim: EvseLimits,
                       tuple_id: int) -> Any:
        kw: dict[str, Any] = {
            "ResponseCode": self.rc(code),
            "DC_EVSEStatus": self.status(st),
            "EVSEPresentVoltage": self.pv(present_v, "V"),
            "EVSEPresentCurrent": self.pv(present_a, "A"),
            "EVSECurrentLimitAchieved": achieved[0],
            "EVSEVoltageLimitAchieved": achieved[1],
            "EVSEPowerLimitAchieved": achieved[2],
            "EVSEMaximumVoltageLimit": self.pv(lim.max_voltage_v, "V"),
            "EVSEMaximumCurrentLimit": self.pv(lim.max_current_a, "A"),
            "EVSEMaximumPowerLimit": self.pv(lim.max_power_w, "W"),
        }
        if not self.din:
            kw["EVSEID"] = self.cfg.evse_id
            kw["SAScheduleTupleID"] = tuple_id
        return self.m.CurrentDemandResType(**kw)

    def meter_info(self, unix_s: int, reading_wh: int | None) -> Any:
        """MeterInfo for a receipt (ISO 15118-2 MeterInfoType): the meter's ID (our EVSEID,
        one meter per EVSE), its register (MeterReading, Wh; absent without a reading)
        and the time of the reading."""
        return iso2.MeterInfoType(MeterID=self.cfg.evse_id, MeterReading=reading_wh,
                                  TMeter=unix_s)

    def metering_receipt(self, code: str, st: Status) -> Any:
        return iso2.MeteringReceiptResType(ResponseCode=self.rc(code),
                                           EVSEStatus=self.status(st))

    def welding(self, code: str, st: Status, present_v: float) -> Any:
        return self.m.WeldingDetectionResType(ResponseCode=self.rc(code),
                                              DC_EVSEStatus=self.status(st),
                                              EVSEPresentVoltage=self.pv(present_v, "V"))

    def session_stop(self, code: str) -> Any:
        return self.m.SessionStopResType(ResponseCode=self.rc(code))

    def message(self, session_id: bytes, body: Any) -> Any:
        m = self.m
        return m.V2G_Message(Header=m.MessageHeaderType(SessionID=session_id),
                             Body=m.BodyType(BodyElement=body))
