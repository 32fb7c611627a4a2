"""OCPP 2.0.1: TransactionEvent, RequestStart/Stop, device model variables, PnC natively.

Transactions follow TxCtrlr.TxStartPoint / TxStopPoint (2.0.1 E01/E06, default
EnergyTransfer for both: the Started event at PowerDelivery start, never at plug-in, P1
item 10; evse/controller/tx_points.py for the others). The
transactionId is ours (2.0.1: the station generates it), so queued messages need no id
substitution.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evse.controller.auth import IdInfo, IdStatus
from evse.controller.error_map import fault_mapping
from evse.controller.errors import CsmsProtocolError
from evse.controller.host import ControllerHost
from evse.controller.management import Management201
from evse.controller.plc_port import (
    AuthMethod,
    CommandResult,
    ContractCertificateStatus,
    EnergyFlow,
    EvChargingNeeds,
    EvChargingProfile,
    Measurement,
    PlcFault,
    PncCertificateRequested,
    PncCertificateResponseCmd,
    TokenType,
)
from evse.controller.pnc import PNC_CERT_ANSWER_TIMEOUT_NS
from evse.controller.pnc_auth import (
    OcspTag,
    authorize_pnc_data,
    cert_status,
    delete_certificate,
    get_installed_certificate_ids,
    install_certificate,
    ocsp_result,
)
from evse.controller.rpc import IncomingResult
from evse.controller.security_calls import (
    ROOT_201,
    certificate_signed,
    delete_station_root,
    install_station_root,
    station_root_hashes,
)
from evse.controller.session import (
    STOP_HARD_RESET,
    STOP_UNLOCK,
    ConnectorStatus,
    OpenTx,
    Token,
    TxStop,
)
from evse.controller.settings import Settings
from evse.controller.smart_charging import (
    PURPOSE_201,
    ExternalLimit,
    LimitSource,
    limit_in_unit,
    parse_time,
    profile_from_201,
)
from evse.controller.store import QueuedMessage
from evse.controller.tx_points import TxPoint, valid_points
from evse.security.station_certs import LeafUse

MAX_STACK_LEVEL = 8
MAX_PERIODS = 24
LOCAL_LIST_MAX = 1000

#: Neutral TokenType -> 2.0.1 IdTokenEnumType.
TOKEN_TYPE = {
    TokenType.CENTRAL: "Central", TokenType.EMAID: "eMAID", TokenType.ISO14443: "ISO14443",
    TokenType.ISO15693: "ISO15693", TokenType.KEY_CODE: "KeyCode", TokenType.LOCAL: "Local",
    TokenType.MAC_ADDRESS: "MacAddress", TokenType.NO_AUTHORIZATION: "NoAuthorization",
}
TOKEN_TYPE_BACK = {v: k for k, v in TOKEN_TYPE.items()}

#: Device model (2.0.1 part 2 appendix "Referenced Components and Variables"): the
#: (component, variable) pairs a DC charger answers, mapped onto the shared setting keys.
VARIABLES: dict[tuple[str, str], str] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("OCPPCommCtrlr", "MessageAttempts"): "TransactionMessageAttempts",
    ("OCPPCommCtrlr", "MessageAttemptInterval"): "TransactionMessageRetryInterval",
    ("OCPPCommCtrlr", "OfflineThreshold"): "OfflineThreshold",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): "MeterValuesSampledData",
    ("AlignedDataCtrlr", "Interval"): "ClockAlignedDataInterval",
    ("TxCtrlr", "EVConnectionTimeOut"): "ConnectionTimeOut",
    ("TxCtrlr", "StopTxOnInvalidId"): "StopTransactionOnInvalidId",
    ("TxCtrlr", "TxStartPoint"): "TxStartPoint",
    ("TxCtrlr", "TxStopPoint"): "TxStopPoint",
    ("AuthCtrlr", "LocalAuthorizeOffline"): "LocalAuthorizeOffline",
    ("AuthCtrlr", "LocalPreAuthorize"): "LocalPreAuthorize",
    ("AuthCtrlr", "OfflineTxForUnknownIdEnabled"): "AllowOfflineTxForUnknownId",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    ("AuthCtrlr", "MasterPassGroupId"): "MasterPassGroupId",
    ("AuthCacheCtrlr", "Enabled"): "AuthorizationCacheEnabled",
    ("LocalAuthListCtrlr", "Enabled"): "LocalAuthListEnabled",
    ("LocalAuthListCtrlr", "ItemsPerMessage"): "SendLocalListMaxLength",
    ("SmartChargingCtrlr", "ProfileStackLevel"): "ChargeProfileMaxStackLevel",
    ("SmartChargingCtrlr", "PeriodsPerSchedule"): "ChargingScheduleMaxPeriods",
    ("SmartChargingCtrlr", "RateUnit"): "ChargingScheduleAllowedChargingRateUnit",
    ("SmartChargingCtrlr", "LimitChangeSignificance"): "LimitChangeSignificance",
    ("ISO15118Ctrlr", "PnCEnabled"): "ISO15118PnCEnabled",
    ("ISO15118Ctrlr", "CentralContractValidationAllowed"): "CentralContractValidationAllowed",
    ("ISO15118Ctrlr", "ContractValidationOffline"): "ContractValidationOffline",
    ("SecurityCtrlr", "OrganizationName"): "CpoName",
    ("SecurityCtrlr", "SecurityProfile"): "SecurityProfile",
    ("SecurityCtrlr", "BasicAuthPassword"): "AuthorizationKey",
    ("SecurityCtrlr", "CertSigningWaitMinimum"): "CertSigningWaitMinimum",
    ("SecurityCtrlr", "CertSigningRepeatTimes"): "CertSigningRepeatTimes",
    ("ISO15118Ctrlr", "SeccId"): "SeccId",
    ("ISO15118Ctrlr", "OrganizationName"): "ISO15118OrganizationName",
    ("ISO15118Ctrlr", "CountryName"): "ISO15118CountryName",
    ("DeviceDataCtrlr", "ItemsPerMessage"): "ItemsPerMessageGetReport",
    ("EVSE", "Power"): "EvseMaxPowerW",
    ("EVSE", "DCVoltage"): "EvseMaxVoltageV",
    ("EVSE", "DCCurrent"): "EvseMaxCurrentA",
}


#: 2.0.1 ChargingStateEnumType while the transaction's energy transfer runs.
#: TriggerMessage requestedMessage values about one EVSE: the request's evse selects it
#: (F06.FR.02: for the others the evse is ignored).
_EVSE_TRIGGERS = frozenset({"StatusNotification", "MeterValues", "TransactionEvent"})
CHARGING_STATE = {EnergyFlow.FLOWING: "Charging", EnergyFlow.SUSPENDED_EV: "SuspendedEV",
                  EnergyFlow.SUSPENDED_EVSE: "SuspendedEVSE"}

_DATA_TYPE = {"str": "string", "int": "integer", "bool": "boolean"}
#: Keys that are ReadOnly in the 2.0.1 device model though 1.6 may change them:
#: SecurityCtrlr.SecurityProfile changes through SetNetworkProfile (B09) only.
READ_ONLY_201 = frozenset({"SecurityProfile"})
#: NotifyReport rows per message (B07/B08 paging with tbc/seqNo). 20: our choice, well
#: under any CSMS's frame limit (a row is about 200 bytes) and small enough that the full
#: inventory really is split, so the paging is exercised.
REPORT_ROWS_PER_MESSAGE = 20
#: DeviceDataCtrlr.ItemsPerMessage[GetReport]: componentVariable entries one GetReport may
#: carry (B08); more is Rejected. 20: our choice, the same bound as a report page.
GET_REPORT_MAX_ITEMS = 20


def timestamp_at(unix_s: int) -> str:
    """An instant as an OCPP date-time (UTC, whole seconds)."""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class CertTag:
    request_id: int


class Ocpp201(Management201):
    version = "2.0.1"

    def __init__(self, core: ControllerHost) -> None:
        self.core = core
        self._event_id = 0

    # ------------------------------------------------------------------ settings
    def default_settings(self) -> Settings:
        from evse.controller.ocpp16 import Ocpp16

        s = Ocpp16(self.core).default_settings()
        c = self.core.cfg
        s.add("TxStartPoint", c.tx_start_points, validate=valid_points)
        s.add("TxStopPoint", c.tx_stop_points, validate=valid_points)
        s.add("ItemsPerMessageGetReport", GET_REPORT_MAX_ITEMS, readonly=True)
        # B04: an outage at least this long (s) re-sends every status at reconnect. 0 (our
        # choice; the spec gives no default): after every outage, which is also right when
        # the reconnect reaches another CSMS (SetNetworkProfile, B09)
        s.add("OfflineThreshold", 0)
        # K11-K13: changes of a limit smaller than this (percent) are not reported
        s.add("LimitChangeSignificance", "0", validate=_non_negative_number)
        # C16: a token of this group stops any transaction and starts none ("" = off)
        s.add("MasterPassGroupId", "")
        s.add("EvseMaxPowerW", int(c.max_power_w), readonly=True)
        s.add("EvseMaxVoltageV", int(c.max_voltage_v), readonly=True)
        s.add("EvseMaxCurrentA", int(c.max_current_a), readonly=True)
        s.add("MeterValuesSampledData",
              "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage")
        return s

    # ------------------------------------------------------------------ outgoing
    def boot(self) -> tuple[str, dict[str, Any]]:
        c = self.core.cfg
        return "BootNotification", {"reason": self.core.boot_reason, "chargingStation": {
            "model": c.model, "vendorName": c.vendor, "serialNumber": c.serial,
            "firmwareVersion": c.firmware}}

    def parse_boot(self, payload: dict[str, Any]) -> tuple[bool, float]:
        return payload["status"] == "Accepted", float(payload["interval"])

    def status(self, status: ConnectorStatus, error16: str) -> tuple[str, dict[str, Any]]:
        value = {
            ConnectorStatus.AVAILABLE: "Available", ConnectorStatus.UNAVAILABLE: "Unavailable",
            ConnectorStatus.FAULTED: "Faulted", ConnectorStatus.RESERVED: "Reserved",
        }.get(status, "Occupied")
        if status is ConnectorStatus.PREPARING and not self.core.ev_present:
            value = "Available"  # 2.0.1: Occupied means a vehicle/cable is present
        if status is ConnectorStatus.RESERVED and self.core.ev_present:
            value = "Occupied"
        return "StatusNotification", {
            "timestamp": self.core.timestamp(), "connectorStatus": value,
            "evseId": self.core.cfg.connector_id, "connectorId": 1}

    def _id_token(self, token: Token) -> dict[str, Any]:
        return {"idToken": token.id_token[:36], "type": TOKEN_TYPE[token.token_type]}

    def authorize(self, token: Token) -> tuple[str, dict[str, Any]]:
        if token.method is AuthMethod.PNC:
            return "Authorize", authorize_pnc_data(self.core.pnc, self.core.contract_check, token)
        return "Authorize", {"idToken": self._id_token(token)}

    def parse_authorize(self, action: str, payload: dict[str, Any]
                        ) -> tuple[IdInfo, ContractCertificateStatus | None]:
        info = payload["idTokenInfo"]
        status = info["status"]
        try:
            id_status = IdStatus(status)
        except ValueError:
            id_status = IdStatus.INVALID  # NoCredit, NotAllowedTypeEVSE, NotAtThisLocation...
        expiry = info.get("cacheExpiryDateTime")
        cert = payload.get("certificateStatus")
        return (IdInfo(id_status, None if expiry is None else parse_time(expiry),
                       _group(info)),
                None if cert is None else cert_status(cert))

    def tx_id(self, tx: OpenTx | None) -> str | None:
        return None if tx is None else f"{self.core.cfg.serial}-{tx.local_id}"

    def _event(self, tx: OpenTx, event_type: str, trigger: str, ts: str,
               info: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "eventType": event_type, "timestamp": ts, "triggerReason": trigger,
            "seqNo": tx.seq_no, "transactionInfo": {"transactionId": self.tx_id(tx), **info},
        }
        tx.seq_no += 1
        self.core.store.put(f"tx.seq.{tx.local_id}", str(tx.seq_no))
        if not (self.core.online and self.core.booted):
            payload["offline"] = True  # 2.0.1 E04: the event happened while offline
        return payload

    def _meter(self, meter_wh: float, context: str, ts: str,
               meas: Measurement | None = None) -> list[dict[str, Any]]:
        values: list[dict[str, Any]] = [{
            "value": round(meter_wh, 1), "context": context,
            "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]
        if meas is not None:
            for value, measurand, unit in (
                (meas.voltage_v * meas.current_a, "Power.Active.Import", "W"),
                (meas.current_a, "Current.Import", "A"), (meas.voltage_v, "Voltage", "V"),
            ):
                values.append({"value": round(value, 1), "context": context,
                               "measurand": measurand, "unitOfMeasure": {"unit": unit}})
        return [{"timestamp": ts, "sampledValue": values}]

    def _charging_state(self, charging: bool) -> str:
        if charging:
            return CHARGING_STATE[self.core.energy_flow]
        return "EVConnected" if self.core.ev_present else "Idle"

    def _point_trigger(self, tx: OpenTx, point: TxPoint) -> str:
        if point is TxPoint.EV_CONNECTED:
            return "CablePluggedIn"
        if point is TxPoint.AUTHORIZED:
            remote = tx.token is not None and tx.token.remote_start_id is not None
            return "RemoteStart" if remote else "Authorized"
        return "ChargingStateChanged"

    def tx_start(self, tx: OpenTx) -> tuple[str, dict[str, Any]]:
        """Started at the TxStartPoint reached first (E01): CablePluggedIn, Authorized
        (RemoteStart), ChargingStateChanged (PowerPathClosed, EnergyTransfer)."""
        ts = self.core.timestamp()
        point = TxPoint(tx.start_point)
        info: dict[str, Any] = {"chargingState": self._charging_state(
            point is TxPoint.ENERGY_TRANSFER)}
        if tx.token is not None and tx.token.remote_start_id is not None:
            info["remoteStartId"] = tx.token.remote_start_id
        payload = self._event(tx, "Started", self._point_trigger(tx, point), ts, info)
        if tx.token is not None:
            payload["idToken"] = self._id_token(tx.token)
        payload["evse"] = {"id": self.core.cfg.connector_id, "connectorId": 1}
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id  # H03.FR.08
        payload["meterValue"] = self._meter(tx.meter_start_wh, "Transaction.Begin", ts)
        return "TransactionEvent", payload

    def idle_meter(self, meter: Measurement, ts: str) -> tuple[str, dict[str, Any]]:
        """J01: clock-aligned MeterValues of the EVSE outside a transaction
        (AlignedDataCtrlr.Interval)."""
        return "MeterValues", {"evseId": self.core.cfg.connector_id,
                               "meterValue": self._meter(meter.energy_wh, "Sample.Clock", ts,
                                                         meter)}

    def tx_meter(self, tx: OpenTx, meter: Measurement, context: str, ts: str
                 ) -> tuple[str, dict[str, Any]]:
        trigger = {"Sample.Clock": "MeterValueClock", "Trigger": "Trigger"}.get(
            context, "MeterValuePeriodic")
        payload = self._event(tx, "Updated", trigger, ts, {
            "chargingState": self._charging_state(self.core.energy_transfer)})
        payload["meterValue"] = self._meter(meter.energy_wh, context, ts, meter)
        return "TransactionEvent", payload

    def tx_point_reached(self, tx: OpenTx, point: TxPoint) -> None:
        """A TxStartPoint condition reached inside an open transaction (E02/E03): Updated
        with the idToken once authorized (Authorized), CablePluggedIn once the car is
        there, ChargingStateChanged once the energy flows. PowerPathClosed changes no
        chargingState: nothing to report."""
        if point is TxPoint.POWER_PATH_CLOSED:
            return
        info: dict[str, Any] = {"chargingState": self._charging_state(
            point is TxPoint.ENERGY_TRANSFER)}
        if point is TxPoint.AUTHORIZED and tx.token is not None \
                and tx.token.remote_start_id is not None:
            info["remoteStartId"] = tx.token.remote_start_id
        payload = self._event(tx, "Updated", self._point_trigger(tx, point),
                              self.core.timestamp(), info)
        if point is TxPoint.AUTHORIZED and tx.token is not None:
            payload["idToken"] = self._id_token(tx.token)
            if tx.reservation_id is not None:
                # per H01/H03: a transaction opened before the reserved token came
                # (TxStartPoint EVConnected) names the reservation it used with the token
                payload["reservationId"] = tx.reservation_id
        self.core.enqueue_tx_message("TransactionEvent", payload, tx)

    def charging_state_changed(self, tx: OpenTx) -> None:
        """E01-E03 / 1.6 §4.9 counterpart: TransactionEvent Updated, ChargingStateChanged,
        when the car or the EVSE suspends the energy transfer or it resumes."""
        payload = self._event(tx, "Updated", "ChargingStateChanged", self.core.timestamp(),
                              {"chargingState": CHARGING_STATE[self.core.energy_flow]})
        self.core.enqueue_tx_message("TransactionEvent", payload, tx)

    def ev_charging_needs(self, ev: EvChargingNeeds) -> None:
        """K15: NotifyEVChargingNeeds with the car's DC charge parameters (2.0.1
        DCChargingParametersType is in whole A, V, W, Wh and %). Sent now or never: a
        need stated while offline is stale by the time the link is back. The CSMS answers
        with a profile (SetChargingProfile) if it has one; the car is never held for it
        (the contract has no way to keep ChargeParameterDiscovery waiting)."""
        dc: dict[str, Any] = {"evMaxCurrent": round(ev.ev_max_current_a),
                              "evMaxVoltage": round(ev.ev_max_voltage_v)}
        for key, value in (("evMaxPower", ev.ev_max_power_w),
                           ("energyAmount", ev.energy_request_wh),
                           ("evEnergyCapacity", ev.energy_capacity_wh),
                           ("stateOfCharge", ev.soc_pct), ("fullSoC", ev.full_soc_pct),
                           ("bulkSoC", ev.bulk_soc_pct)):
            if value is not None:
                dc[key] = round(value)
        needs: dict[str, Any] = {"requestedEnergyTransfer": "DC", "dcChargingParameters": dc}
        if ev.departure_time_s is not None:
            needs["departureTime"] = timestamp_at(self.core.unix_s() + ev.departure_time_s)
        self.core.send_volatile("NotifyEVChargingNeeds", {
            "chargingNeeds": needs, "evseId": self.core.cfg.connector_id})

    def ev_charging_schedule(self, ev: EvChargingProfile) -> None:
        """K15 (K17 when renegotiated): NotifyEVChargingSchedule with the ChargingProfile
        the car sent in PowerDeliveryReq, in W from the moment it arrived (timeBase).
        Volatile like NotifyEVChargingNeeds: a plan reported late is a stale plan."""
        self.core.send_volatile("NotifyEVChargingSchedule", {
            "timeBase": self.core.timestamp(), "evseId": self.core.cfg.connector_id,
            "chargingSchedule": {
                "id": ev.schedule_id, "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": start, "limit": round(power, 1)}
                                           for start, power in ev.entries]}})

    def charging_rate_changed(self, tx: OpenTx) -> None:
        """K11/K13: an external limit changed the running transaction's limit."""
        payload = self._event(tx, "Updated", "ChargingRateChanged", self.core.timestamp(), {})
        self.core.enqueue_tx_message("TransactionEvent", payload, tx)

    def charging_limit_set(self, limit: ExternalLimit, schedule: dict[str, Any]) -> None:
        """K12 (K11 during a transaction): NotifyChargingLimit with the limit's schedule."""
        charging_limit: dict[str, Any] = {"chargingLimitSource": limit.source.value}
        if limit.grid_critical is not None:
            charging_limit["isGridCritical"] = limit.grid_critical
        self.core.enqueue_event("NotifyChargingLimit", {
            "chargingLimit": charging_limit, "evseId": limit.evse_id,
            "chargingSchedule": [schedule]})

    def charging_limit_cleared(self, source: LimitSource, evse_id: int) -> None:
        """K13: ClearedChargingLimit."""
        self.core.enqueue_event("ClearedChargingLimit", {
            "chargingLimitSource": source.value, "evseId": evse_id})

    def tx_stop(self, tx: OpenTx, stop: TxStop, meter_wh: float, ts: str
                ) -> tuple[str, dict[str, Any]]:
        # E15: the energy transfer ended with the car still plugged in (TxStopPoint
        # EnergyTransfer ends the transaction here): EVConnected; Idle once it left (E09).
        state = "EVConnected" if self.core.ev_present else "Idle"
        payload = self._event(tx, "Ended", stop.trigger_201.value, ts,
                              {"chargingState": state,
                               "stoppedReason": stop.reason_201.value})
        payload["meterValue"] = self._meter(meter_wh, "Transaction.End", ts)
        return "TransactionEvent", payload

    def resolve_tx_ids(self, msg: QueuedMessage) -> dict[str, Any]:
        return msg.payload

    def on_tx_result(self, msg: QueuedMessage, payload: dict[str, Any]
                     ) -> tuple[int, str] | None:
        info = payload.get("idTokenInfo")
        tx = self.core.tx
        if (info is not None and tx is not None and tx.local_id == msg.tx_local
                and info["status"] != "Accepted"):
            self.core.tx_deauthorized()
        return None

    def on_other_result(self, res: IncomingResult, tag: object) -> None:
        if isinstance(tag, OcspTag):
            ocsp_result(self.core.pnc, tag, res.payload)
        if isinstance(tag, CertTag):
            ok = res.payload.get("status") == "Accepted"
            exi = base64.b64decode(res.payload.get("exiResponse", "")) if ok else b""
            self.core.emit(PncCertificateResponseCmd(tag.request_id, ok, exi))

    def sign_certificate(self, use: LeafUse, csr: str, tag: object) -> bool:
        """A02/A03 SignCertificate (the CSR only; the key stays in the key directory)."""
        return self.core.send_volatile("SignCertificate",
                                       {"csr": csr, "certificateType": use.value}, tag)

    @staticmethod
    def sign_accepted(res: IncomingResult) -> bool:
        return res.payload.get("status") == "Accepted"

    def on_other_failed(self, tag: object) -> None:
        if isinstance(tag, CertTag):
            self.core.emit(PncCertificateResponseCmd(tag.request_id, False))

    def request_ev_certificate(self, ev: PncCertificateRequested) -> None:
        sent = self.core.send_volatile("Get15118EVCertificate", {
            "iso15118SchemaVersion": ev.schema_namespace,
            "action": "Install" if ev.operation == "INSTALLATION" else "Update",
            "exiRequest": base64.b64encode(ev.exi_request).decode()}, CertTag(ev.request_id),
            timeout_ns=PNC_CERT_ANSWER_TIMEOUT_NS)
        if not sent:
            self.core.emit(PncCertificateResponseCmd(ev.request_id, False))

    def fault_event(self, fault: PlcFault) -> None:
        """2.0.1 has no error code on StatusNotification: faults go to NotifyEvent (N07),
        component from the error-map table, techCode = the contract's fault code."""
        self._notify_problem(fault_mapping(fault.code).component_201, fault.code.value,
                             active=fault.active, info=fault.diagnostic,
                             in_transaction=True)

    def command_refused(self, result: CommandResult) -> None:
        """A refused RESET_FAULT (the cause is still present, service needed): NotifyEvent
        (N07) on the EVSE's Problem variable, techCode RESET_FAULT_REFUSED, techInfo the
        PLC's reason. The Problem stays set: the connector is still Faulted."""
        self._notify_problem("EVSE", f"{result.command.value}_REFUSED", active=True,
                             info=result.reason, in_transaction=False)

    def _notify_problem(self, component: str, tech_code: str, *, active: bool, info: str,
                        in_transaction: bool) -> None:
        self._event_id += 1
        event: dict[str, Any] = {
            "eventId": self._event_id, "timestamp": self.core.timestamp(),
            "trigger": "Alerting", "actualValue": "true" if active else "false",
            "techCode": tech_code, "cleared": not active,
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": component, "evse": {"id": self.core.cfg.connector_id}},
            "variable": {"name": "Problem"},
        }
        if info:
            event["techInfo"] = info[:500]
        if in_transaction and self.core.tx is not None:
            event["transactionId"] = self.tx_id(self.core.tx)
        self.core.send_volatile("NotifyEvent", {
            "generatedAt": self.core.timestamp(), "seqNo": 0, "tbc": False,
            "eventData": [event]})

    def certificate_status(self, ocsp_request_data: dict[str, Any], tag: OcspTag) -> bool:
        """GetCertificateStatus for one certificate of the contract chain (2.0.1 M06)."""
        return self.core.send_volatile("GetCertificateStatus",
                                       {"ocspRequestData": ocsp_request_data}, tag)

    def install_profile(self, evse_id: int, profile: dict[str, Any]) -> None:
        self.core.profiles.install(profile_from_201(evse_id, profile))
        self.core.profiles_changed()

    # ------------------------------------------------------------------ incoming calls
    def handle_call(self, action: str, p: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"on_{action}", None)
        if handler is None:
            raise CsmsProtocolError("NotSupported", f"{action} is not supported")
        result: dict[str, Any] = handler(p)
        return result

    # ---- Plug & Charge trust store (2.0.1 M03/M04/M05) ----
    def on_InstallCertificate(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """M05: V2GRootCertificate / MORootCertificate into the trust store;
        CSMSRootCertificate / ManufacturerRootCertificate into the station's own store."""
        root = ROOT_201.get(p["certificateType"])
        if root is not None:
            return install_station_root(self.core, root, p["certificate"])
        return install_certificate(self.core.pnc.trust, p)

    def on_GetInstalledCertificateIds(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """M03 (the 2.0.1 enum cannot name OEM roots, so they are not listed here)."""
        types = p.get("certificateType")
        out = get_installed_certificate_ids(self.core.pnc.trust, p,
                                            ("V2GRootCertificate", "MORootCertificate"))
        wanted = None if not types else {ROOT_201[t] for t in types if t in ROOT_201}
        own = station_root_hashes(self.core, wanted) if wanted is None or wanted else []
        if not own:
            return out
        chain = list(out.get("certificateHashDataChain", []))  # type: ignore[call-overload]
        chain += [{"certificateType": t.value, "certificateHashData": h} for t, h in own]
        return {"status": "Accepted", "certificateHashDataChain": chain}

    def on_DeleteCertificate(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """M04 (station roots first; the last CSMS root is never deleted: Failed)."""
        own = delete_station_root(self.core, p["certificateHashData"])
        if own is not None:
            return {"status": own}
        return delete_certificate(self.core.pnc.trust, p)

    def on_SetNetworkProfile(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """B09 (security profile upgrade, A05): never a lower profile, prerequisites met."""
        return {"status": self.core.set_network_profile(p["connectionData"])}

    def on_CertificateSigned(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """A02/A03: the signed chain for our pending CSR (ChargingStation or V2G)."""
        use = LeafUse(p.get("certificateType", LeafUse.CHARGING_STATION.value))
        return certificate_signed(self.core, use, p["certificateChain"])

    def on_RequestStartTransaction(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if p.get("evseId", self.core.cfg.connector_id) != self.core.cfg.connector_id:
            return {"status": "Rejected"}
        profile = p.get("chargingProfile")
        if profile is not None and profile["chargingProfilePurpose"] != "TxProfile":
            return {"status": "Rejected"}
        tok = p["idToken"]
        token = Token(tok["idToken"], TOKEN_TYPE_BACK.get(tok["type"], TokenType.CENTRAL),
                      AuthMethod.REMOTE_START, remote_start_id=int(p["remoteStartId"]))
        ok = self.core.remote_start(token, profile)
        return {"status": "Accepted" if ok else "Rejected"}

    def on_RequestStopTransaction(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        ok = self.core.remote_stop(str(p["transactionId"]))
        return {"status": "Accepted" if ok else "Rejected"}

    def on_Reset(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if p["type"] == "OnIdle" and self.core.tx is not None:
            self.core.schedule_reset("OnIdle")  # B12: restart once the transaction ended
            return {"status": "Scheduled"}
        self.core.reset(str(p["type"]), STOP_HARD_RESET)
        return {"status": "Accepted"}

    def on_ChangeAvailability(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        evse = p.get("evse", {}).get("id", 0)
        if evse not in (0, self.core.cfg.connector_id):
            return {"status": "Rejected"}
        return {"status": self.core.change_availability(p["operationalStatus"] == "Operative")}

    def on_UnlockConnector(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if p["evseId"] != self.core.cfg.connector_id or p["connectorId"] != 1:
            return {"status": "UnknownConnector"}
        if self.core.tx is not None:
            # 2.0.1 F05.FR.02: refuse while an authorized transaction runs.
            return {"status": "OngoingAuthorizedTransaction"}
        self.core.stop_for(STOP_UNLOCK)
        return {"status": "Unlocked"}

    def on_TriggerMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """F06. The request's evse matters only to the messages about an EVSE
        (F06.FR.02: otherwise it is ignored); one this station does not have is Rejected
        with reasonCode UnknownEvse rather than answered for another EVSE."""
        what = p["requestedMessage"]
        core = self.core
        evse = p.get("evse")
        if what in _EVSE_TRIGGERS and evse is not None and not self._our_evse(evse):
            return {"status": "Rejected", "statusInfo": {
                "reasonCode": "UnknownEvse",
                "additionalInfo": f"no EVSE {evse['id']} connector {evse.get('connectorId', '-')}"
                                  f" (this station: EVSE {core.cfg.connector_id} connector 1)"}}
        if what == "BootNotification":
            # F06.FR.17: only while not registered (Pending / Rejected): after an Accepted
            # BootNotification a triggered one is Rejected
            if not core.trigger_boot():
                return {"status": "Rejected"}
        elif what == "Heartbeat":
            core.send_volatile("Heartbeat", {})
        elif what == "StatusNotification":
            # per F06: with an evse, that connector's status; without one, the status of
            # every connector of the station, which here is the one connector of EVSE
            # `connector_id` (the same message either way)
            core.send_volatile(*self.status(core.connector_status(), core.fault_error_16))
        elif what == "MeterValues":
            # F06.FR: a MeterValuesRequest (context Trigger), in a transaction or not
            if core.meter is None:
                return {"status": "Rejected"}  # never an invented value
            core.send_volatile("MeterValues", {
                "evseId": core.cfg.connector_id,
                "meterValue": self._meter(core.meter.energy_wh, "Trigger", core.timestamp(),
                                          core.meter)})
        elif what == "TransactionEvent":
            if core.tx is None or core.meter is None:
                return {"status": "Rejected"}
            action, payload = self.tx_meter(core.tx, core.meter, "Trigger", core.timestamp())
            core.enqueue_tx_message(action, payload, core.tx)
        elif what == "SignChargingStationCertificate":
            core.request_certificate(LeafUse.CHARGING_STATION)  # A02
        elif what == "SignV2GCertificate":
            core.request_certificate(LeafUse.V2G)
        elif not self.trigger_management(what):
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    def _our_evse(self, evse: dict[str, Any]) -> bool:
        """The EVSE (and connector, when named) of this station: one EVSE, one connector."""
        return bool(evse["id"] == self.core.cfg.connector_id
                    and evse.get("connectorId", 1) == 1)

    def on_GetVariables(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        s = self.core.settings
        results = []
        for item in p["getVariableData"]:
            comp, var = item["component"], item["variable"]
            key = VARIABLES.get((comp["name"], var["name"]))
            result: dict[str, Any] = {"component": comp, "variable": var}
            if item.get("attributeType", "Actual") != "Actual":
                result["attributeStatus"] = "NotSupportedAttributeType"
            elif key is None or not s.has(key):
                known = any(c == comp["name"] for c, _ in VARIABLES)
                result["attributeStatus"] = "UnknownVariable" if known else "UnknownComponent"
            elif s.item(key).write_only:
                result["attributeStatus"] = "Rejected"  # WriteOnly (BasicAuthPassword)
            else:
                result["attributeStatus"] = "Accepted"
                result["attributeValue"] = s.get(key)
            results.append(result)
        return {"getVariableResult": results}

    def on_GetBaseReport(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """B07: accept, then report the device model in NotifyReport pages.

        ConfigurationInventory lists the writable variables, FullInventory all of them,
        SummaryInventory the availability (ChargingStation / EVSE / Connector
        AvailabilityState) and every component with an active problem (Problem true, from
        the PLC's faults; 2.0.1 part 1 ReportBaseEnumType).
        """
        base = p["reportBase"]
        rows = self._device_model()
        if base == "ConfigurationInventory":
            rows = [r for r in rows if r["variableAttribute"][0]["mutability"] != "ReadOnly"]
        elif base == "SummaryInventory":
            rows = [r for r in rows if r["variable"]["name"] in ("AvailabilityState", "Problem")]
        self._notify_report(int(p["requestId"]), rows)
        return {"status": "Accepted"}

    def on_GetReport(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """B08: the device model rows that match the request, in NotifyReport pages
        (tbc/seqNo). `componentVariable` selects components (by name, and by evse and
        instance when given) and, when a variable is named, that variable only;
        `componentCriteria` keeps the components that are Active / Available / Enabled /
        have a Problem (a component counts as Available unless it reports Available false:
        every component listed here is installed; Enabled / Active / Problem need that
        variable true). Both given: both must match. Nothing left: EmptyResultSet, and no
        NotifyReport. More componentVariable entries than
        DeviceDataCtrlr.ItemsPerMessage[GetReport] allows: Rejected."""
        wanted = p.get("componentVariable")
        criteria = p.get("componentCriteria")
        if wanted is not None and len(wanted) > GET_REPORT_MAX_ITEMS:
            return {"status": "Rejected"}
        rows = self._device_model()
        if wanted is not None:
            rows = [r for r in rows if any(_selects(w, r) for w in wanted)]
        if criteria is not None:
            values: dict[tuple[str, str, int | None, int | None], dict[str, str]] = {}
            for r in self._device_model():
                values.setdefault(_component_key(r["component"]), {})[r["variable"]["name"]] = (
                    r["variableAttribute"][0].get("value", ""))
            rows = [r for r in rows if any(
                _meets(c, values.get(_component_key(r["component"]), {})) for c in criteria)]
        if not rows:
            return {"status": "EmptyResultSet"}
        self._notify_report(int(p["requestId"]), rows)
        return {"status": "Accepted"}

    def _notify_report(self, request_id: int, rows: list[dict[str, Any]]) -> None:
        """NotifyReport in pages of REPORT_ROWS_PER_MESSAGE, seqNo from 0, tbc true on all
        but the last (2.0.1 B07.FR.?/B08: a report may be split over several messages)."""
        pages = [rows[i:i + REPORT_ROWS_PER_MESSAGE]
                 for i in range(0, len(rows), REPORT_ROWS_PER_MESSAGE)] or [[]]
        for seq, page in enumerate(pages):
            payload: dict[str, Any] = {"requestId": request_id,
                                       "generatedAt": self.core.timestamp(), "seqNo": seq,
                                       "tbc": seq < len(pages) - 1}
            if page:
                payload["reportData"] = page
            self.core.send_volatile("NotifyReport", payload)

    def _device_model(self) -> list[dict[str, Any]]:
        """Every (component, variable) the station reports, as NotifyReport ReportData:
        the settings (VARIABLES) with their mutability, then the read-only state variables:
        AvailabilityState of the ChargingStation, the EVSE and its connector, and Problem
        of every component with an active fault (its component from the error map)."""
        s = self.core.settings
        evse = {"id": self.core.cfg.connector_id}
        rows = []
        for (component, variable), key in VARIABLES.items():
            if not s.has(key):
                continue
            item = s.item(key)
            attribute: dict[str, Any] = {"type": "Actual", "mutability": (
                "WriteOnly" if item.write_only else "ReadOnly"
                if item.readonly or key in READ_ONLY_201 else "ReadWrite")}
            if not item.write_only:
                attribute["value"] = item.value[:2500]
            comp: dict[str, Any] = {"name": component}
            if component == "EVSE":
                comp["evse"] = evse
            rows.append(_row(comp, variable, attribute, _DATA_TYPE[item.kind]))
        status = self.status(self.core.connector_status(), "")[1]["connectorStatus"]
        for comp in ({"name": "ChargingStation"}, {"name": "EVSE", "evse": evse},
                     {"name": "Connector", "evse": {**evse, "connectorId": 1}}):
            rows.append(_row(comp, "AvailabilityState",
                             {"type": "Actual", "value": status, "mutability": "ReadOnly"},
                             "OptionList"))
        problems = sorted({fault_mapping(f.code).component_201
                           for f in self.core.faults.values()})
        for name in problems:
            rows.append(_row({"name": name, "evse": evse}, "Problem",
                             {"type": "Actual", "value": "true", "mutability": "ReadOnly"},
                             "boolean"))
        return rows

    def on_GetTransactionStatus(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """E14: with a transactionId, whether it still runs (ongoingIndicator) and whether
        messages of it wait in the offline queue; without one, whether any transaction
        message waits (E14.FR.06: no ongoingIndicator then). A transaction we do not know
        is not ongoing and has nothing queued."""
        store = self.core.store
        tx_id = p.get("transactionId")
        if tx_id is None:
            return {"messagesInQueue": store.queued_for_tx(None) > 0}
        tx = self.core.tx
        ongoing = tx is not None and self.tx_id(tx) == tx_id
        local = self._local_tx_id(str(tx_id))
        queued = local is not None and store.queued_for_tx(local) > 0
        return {"ongoingIndicator": ongoing, "messagesInQueue": queued}

    def _local_tx_id(self, tx_id: str) -> int | None:
        """Our transactionId is "<serial>-<local id>" (tx_id): the local id back."""
        prefix = f"{self.core.cfg.serial}-"
        rest = tx_id[len(prefix):] if tx_id.startswith(prefix) else ""
        return int(rest) if rest.isdigit() else None

    def on_DataTransfer(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """P01: answered from the vendor registry (UnknownVendorId / UnknownMessageId
        for what nobody registered)."""
        return self.core.answer_data_transfer(p)

    def on_SetVariables(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        s = self.core.settings
        results = []
        for item in p["setVariableData"]:
            comp, var = item["component"], item["variable"]
            key = VARIABLES.get((comp["name"], var["name"]))
            result: dict[str, Any] = {"component": comp, "variable": var}
            if item.get("attributeType", "Actual") != "Actual":
                result["attributeStatus"] = "NotSupportedAttributeType"
            elif key is None or not s.has(key):
                known = any(c == comp["name"] for c, _ in VARIABLES)
                result["attributeStatus"] = "UnknownVariable" if known else "UnknownComponent"
            elif key in READ_ONLY_201:
                result["attributeStatus"] = "Rejected"
            else:
                status = s.change(key, str(item["attributeValue"]))
                result["attributeStatus"] = {"NotSupported": "Rejected"}.get(status, status)
            results.append(result)
        return {"setVariableResult": results}

    def on_SendLocalList(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        auth = self.core.auth
        entries = p.get("localAuthorizationList", [])
        if not self.core.settings.get_bool("LocalAuthListEnabled") or \
                len(entries) > LOCAL_LIST_MAX:
            return {"status": "Failed"}
        full = p["updateType"] == "Full"
        if not full and p["versionNumber"] <= auth.list_version:
            return {"status": "VersionMismatch"}
        parsed: dict[str, IdInfo | None] = {}
        for e in entries:
            info = e.get("idTokenInfo")
            parsed[e["idToken"]["idToken"]] = None if info is None else self._info(info)
        auth.update_list(p["versionNumber"], full, parsed)
        return {"status": "Accepted"}

    @staticmethod
    def _info(info: dict[str, Any]) -> IdInfo:
        try:
            status = IdStatus(info["status"])
        except ValueError:
            status = IdStatus.INVALID
        expiry = info.get("cacheExpiryDateTime")
        return IdInfo(status, None if expiry is None else parse_time(expiry), _group(info))

    def on_GetLocalListVersion(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"versionNumber": self.core.auth.list_version}

    def on_ClearCache(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.core.auth.clear_cache()
        return {"status": "Accepted"}

    def on_SetChargingProfile(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        prof = p["chargingProfile"]
        evse = p["evseId"]
        core = self.core
        purpose = prof["chargingProfilePurpose"]
        if evse not in (0, core.cfg.connector_id) or prof["stackLevel"] > MAX_STACK_LEVEL \
                or len(prof["chargingSchedule"][0]["chargingSchedulePeriod"]) > MAX_PERIODS:
            return {"status": "Rejected"}
        if purpose == "ChargingStationExternalConstraints":
            return {"status": "Rejected"}
        if purpose == "ChargingStationMaxProfile" and evse != 0:
            return {"status": "Rejected"}
        if purpose == "TxProfile" and (core.tx is None or prof.get("transactionId")
                                       not in (None, self.tx_id(core.tx))):
            return {"status": "Rejected"}
        self.install_profile(evse, prof)
        return {"status": "Accepted"}

    def on_ClearChargingProfile(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """K10: by chargingProfileId, else by the criteria (evseId, purpose, stackLevel);
        Unknown when nothing matched. ChargingStationExternalConstraints are not the
        CSMS's to clear (the CSMS cannot set them either, K01): asking for them matches
        nothing."""
        crit = p.get("chargingProfileCriteria", {})
        purpose = crit.get("chargingProfilePurpose")
        n = self.core.profiles.clear(
            profile_id=p.get("chargingProfileId"),
            purpose=None if purpose is None else PURPOSE_201[purpose],
            stack_level=crit.get("stackLevel"), connector_id=crit.get("evseId"))
        if n:
            self.core.profiles_changed()
        return {"status": "Accepted" if n else "Unknown"}

    def on_GetChargingProfiles(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """K09: the installed profiles that match every given criterion (evseId, purpose,
        stackLevel, chargingProfileId list, chargingLimitSource list), as the CSMS or the
        external system sent them, in ReportChargingProfiles after the answer: one per
        (evse, source) group, tbc true on all but the last. NoProfiles when none match."""
        crit = p["chargingProfile"]
        evse = p.get("evseId")
        purpose = crit.get("chargingProfilePurpose")
        ids = crit.get("chargingProfileId")
        sources = crit.get("chargingLimitSource")
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for prof in sorted(self.core.profiles.profiles.values(), key=lambda q: q.profile_id):
            if prof.raw is None or (evse is not None and prof.connector_id != evse) \
                    or (purpose is not None and prof.purpose is not PURPOSE_201[purpose]) \
                    or (crit.get("stackLevel") is not None
                        and prof.stack_level != crit["stackLevel"]) \
                    or (ids is not None and prof.profile_id not in ids) \
                    or (sources is not None and prof.source not in sources):
                continue
            groups.setdefault((prof.connector_id, prof.source), []).append(prof.raw)
        if not groups:
            return {"status": "NoProfiles"}
        keys = sorted(groups)
        for i, (evse_id, source) in enumerate(keys):
            self.core.send_volatile("ReportChargingProfiles", {
                "requestId": p["requestId"], "chargingLimitSource": source,
                "tbc": i < len(keys) - 1, "evseId": evse_id,
                "chargingProfile": groups[(evse_id, source)]})
        return {"status": "Accepted"}

    def on_GetCompositeSchedule(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        core = self.core
        if p["evseId"] not in (0, core.cfg.connector_id):
            return {"status": "Rejected"}
        unit = p.get("chargingRateUnit", "W")
        tx = core.tx
        now = core.unix_s()
        periods = core.profiles.composite(now, int(p["duration"]),
                                          tx.start_unix_s if tx else now, self.tx_id(tx))
        return {"status": "Accepted", "schedule": {
            "evseId": p["evseId"], "duration": int(p["duration"]),
            "scheduleStart": core.timestamp(), "chargingRateUnit": unit,
            "chargingSchedulePeriod": [
                {"startPeriod": q.start_s,
                 "limit": limit_in_unit(q, unit, core.cfg.max_current_a, core.cfg.max_power_w)}
                for q in periods]}}


def _non_negative_number(value: str) -> bool:
    try:
        return float(value) >= 0 and value.strip().lower() not in ("nan", "inf", "infinity")
    except ValueError:
        return False


def _group(info: dict[str, Any]) -> str:
    """IdTokenInfo.groupIdToken.idToken ("" when absent): C09 / C16."""
    group = info.get("groupIdToken")
    return str(group.get("idToken", "")) if isinstance(group, dict) else ""


def _row(component: dict[str, Any], variable: str, attribute: dict[str, Any],
         data_type: str) -> dict[str, Any]:
    characteristics: dict[str, Any] = {"dataType": data_type, "supportsMonitoring": False}
    if data_type == "OptionList":
        characteristics["valuesList"] = "Available,Occupied,Reserved,Unavailable,Faulted"
    return {"component": component, "variable": {"name": variable},
            "variableAttribute": [attribute], "variableCharacteristics": characteristics}


def _component_key(comp: dict[str, Any]) -> tuple[str, str, int | None, int | None]:
    evse = comp.get("evse", {})
    return (comp["name"], comp.get("instance", ""), evse.get("id"), evse.get("connectorId"))


def _selects(wanted: dict[str, Any], row: dict[str, Any]) -> bool:
    """B08 componentVariable: the component by name (instance / evse when given), and the
    variable by name (and instance) when one is given."""
    want_c, comp = wanted["component"], row["component"]
    if want_c["name"] != comp["name"]:
        return False
    if "instance" in want_c and want_c["instance"] != comp.get("instance"):
        return False
    want_evse = want_c.get("evse")
    if want_evse is not None:
        evse = comp.get("evse", {})
        if want_evse["id"] != evse.get("id") or (
                "connectorId" in want_evse and want_evse["connectorId"] != evse.get(
                    "connectorId")):
            return False
    var = wanted.get("variable")
    if var is None:
        return True
    return bool(var["name"] == row["variable"]["name"] and (
        "instance" not in var or var["instance"] == row["variable"].get("instance")))


def _meets(criterion: str, variables: dict[str, str]) -> bool:
    """B08 componentCriteria on one component's variables (see on_GetReport)."""
    if criterion == "Available":
        return variables.get("Available", "true") == "true"
    return variables.get(criterion) == "true"
