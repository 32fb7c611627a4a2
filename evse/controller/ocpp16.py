"""OCPP 1.6J: message payloads the controller sends and the CSMS calls it answers.

Plug & Charge rides on DataTransfer as the OCA whitepaper "Using ISO 15118 Plug & Charge
with OCPP 1.6" describes: vendorId `org.openchargealliance.iso15118pnc`, messageId the 2.0.1
message name (Authorize, Get15118EVCertificate, GetCertificateStatus), data the 2.0.1
request JSON as a string.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from evse.controller.auth import IdInfo, IdStatus
from evse.controller.errors import CsmsProtocolError
from evse.controller.host import ControllerHost
from evse.controller.management import Management16
from evse.controller.plc_port import (
    AuthMethod,
    CommandResult,
    ContractCertificateStatus,
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
    ROOT_16,
    certificate_signed,
    delete_station_root,
    install_station_root,
    station_root_hashes,
)
from evse.controller.session import (
    STOP_HARD_RESET,
    STOP_SOFT_RESET,
    STOP_UNLOCK,
    ConnectorStatus,
    OpenTx,
    Token,
    TxStop,
)
from evse.controller.settings import Settings
from evse.controller.smart_charging import (
    ExternalLimit,
    LimitSource,
    Purpose,
    limit_in_unit,
    parse_time,
    profile_from_16,
)
from evse.controller.store import QueuedMessage
from evse.controller.tx_points import TxPoint
from evse.security.station_certs import LeafUse

PNC_VENDOR_ID = "org.openchargealliance.iso15118pnc"
#: 1.6 §9.4 ChargeProfileMaxStackLevel / ChargingScheduleMaxPeriods we advertise.
MAX_STACK_LEVEL = 8
MAX_PERIODS = 24
#: 1.6 §9.4 LocalAuthListMaxLength / SendLocalListMaxLength.
LOCAL_LIST_MAX = 1000


@dataclass(frozen=True, slots=True)
class PncCertTag:
    """Correlates a Get15118EVCertificate answer with the PLC's request."""

    request_id: int


def id_info_16(info: dict[str, Any]) -> IdInfo:
    expiry = info.get("expiryDate")
    return IdInfo(IdStatus(info["status"]), None if expiry is None else parse_time(expiry),
                  str(info.get("parentIdTag", "")))


class Ocpp16(Management16):
    version = "1.6"

    def __init__(self, core: ControllerHost) -> None:
        self.core = core

    # ------------------------------------------------------------------ settings
    def default_settings(self) -> Settings:
        c = self.core.cfg
        core = self.core
        s = Settings()
        s.add("HeartbeatInterval", int(c.heartbeat_interval_s),
              on_change=lambda v: core.set_heartbeat_interval(float(v)))
        s.add("ConnectionTimeOut", int(c.connection_timeout_s))
        s.add("MeterValueSampleInterval", int(c.meter_sample_interval_s),
              on_change=core.sample_interval_changed)
        s.add("ClockAlignedDataInterval", int(c.clock_aligned_interval_s),
              on_change=core.clock_aligned_changed)
        s.add("MeterValuesSampledData",
              "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage")
        s.add("LocalAuthorizeOffline", c.local_authorize_offline,
              on_change=lambda v: setattr(core.auth, "local_authorize_offline", v == "true"))
        s.add("LocalPreAuthorize", c.local_pre_authorize,
              on_change=lambda v: setattr(core.auth, "local_pre_authorize", v == "true"))
        s.add("AllowOfflineTxForUnknownId", c.allow_offline_tx_for_unknown_id,
              on_change=lambda v: setattr(core.auth, "allow_offline_unknown", v == "true"))
        s.add("AuthorizationCacheEnabled", c.authorization_cache_enabled,
              on_change=lambda v: setattr(core.auth, "cache_enabled", v == "true"))
        s.add("LocalAuthListEnabled", c.local_auth_list_enabled,
              on_change=lambda v: setattr(core.auth, "list_enabled", v == "true"))
        s.add("AuthorizeRemoteTxRequests", c.authorize_remote_tx_requests)
        s.add("StopTransactionOnInvalidId", c.stop_transaction_on_invalid_id)
        s.add("TransactionMessageAttempts", c.tx_message_attempts)
        s.add("TransactionMessageRetryInterval", int(c.tx_message_retry_interval_s))
        s.add("NumberOfConnectors", 1, readonly=True)
        s.add("SupportedFeatureProfiles",
              "Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,"
              "SmartCharging", readonly=True)
        s.add("ReserveConnectorZeroSupported", False, readonly=True)
        s.add("ChargeProfileMaxStackLevel", MAX_STACK_LEVEL, readonly=True)
        s.add("ChargingScheduleAllowedChargingRateUnit", "Current,Power", readonly=True)
        s.add("ChargingScheduleMaxPeriods", MAX_PERIODS, readonly=True)
        s.add("MaxChargingProfilesInstalled", 16, readonly=True)
        s.add("LocalAuthListMaxLength", LOCAL_LIST_MAX, readonly=True)
        s.add("SendLocalListMaxLength", LOCAL_LIST_MAX, readonly=True)
        s.add("GetConfigurationMaxKeys", 64, readonly=True)
        # OCA "ISO 15118 support for OCPP 1.6" §3.1 configuration keys
        s.add("ISO15118PnCEnabled", c.pnc_enabled)
        s.add("CentralContractValidationAllowed", True)
        s.add("ContractValidationOffline", c.pnc_offline_policy != "never")
        return s

    # ------------------------------------------------------------------ outgoing
    def boot(self) -> tuple[str, dict[str, Any]]:
        c = self.core.cfg
        return "BootNotification", {
            "chargePointVendor": c.vendor, "chargePointModel": c.model,
            "chargePointSerialNumber": c.serial, "firmwareVersion": c.firmware,
        }

    def parse_boot(self, payload: dict[str, Any]) -> tuple[bool, float]:
        return payload["status"] == "Accepted", float(payload["interval"])

    def status(self, status: ConnectorStatus, error16: str) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "connectorId": self.core.cfg.connector_id, "status": status.value,
            "errorCode": error16, "timestamp": self.core.timestamp(),
        }
        vendor = self.core.fault_vendor_16
        if error16 != "NoError" and vendor is not None:
            # 1.6 §6.48 vendorErrorCode (CiString50): the fault behind the errorCode.
            payload["vendorErrorCode"] = vendor[:50]
        return "StatusNotification", payload

    def authorize(self, token: Token) -> tuple[str, dict[str, Any]]:
        if token.method is AuthMethod.PNC:
            data = authorize_pnc_data(self.core.pnc, self.core.contract_check, token)
            return "DataTransfer", {"vendorId": PNC_VENDOR_ID, "messageId": "Authorize",
                                    "data": json.dumps(data)}
        return "Authorize", {"idTag": token.id_token[:20]}

    def parse_authorize(self, action: str, payload: dict[str, Any]
                        ) -> tuple[IdInfo, ContractCertificateStatus | None]:
        if action == "DataTransfer":
            if payload.get("status") != "Accepted" or "data" not in payload:
                return IdInfo(IdStatus.INVALID), ContractCertificateStatus.NO_CERTIFICATE_AVAILABLE
            try:
                data = json.loads(payload["data"])
                info = data["idTokenInfo"]
                cert = data.get("certificateStatus", "Accepted")
                return (IdInfo(IdStatus(info["status"])), cert_status(cert))
            except (ValueError, KeyError, TypeError) as exc:
                raise CsmsProtocolError("FormationViolation",
                                        f"PnC Authorize data: {exc}") from exc
        return id_info_16(payload["idTagInfo"]), None

    def tx_id(self, tx: OpenTx | None) -> str | None:
        return None if tx is None else tx.remote_id

    def ev_charging_schedule(self, ev: EvChargingProfile) -> None:
        """1.6 has no NotifyEVChargingSchedule: the car's plan stays with the SECC."""

    def tx_point_reached(self, tx: OpenTx, point: TxPoint) -> None:
        """1.6 has no TxStartPoint: its transaction opens at the energy transfer, so no
        point is reached inside one that needs a message."""

    def tx_start(self, tx: OpenTx) -> tuple[str, dict[str, Any]]:
        # 1.6: the transaction always starts at the energy transfer, authorized
        id_tag = "" if tx.token is None else tx.token.id_token[:20]
        payload: dict[str, Any] = {
            "connectorId": self.core.cfg.connector_id, "idTag": id_tag,
            "meterStart": round(tx.meter_start_wh), "timestamp": self.core.timestamp(),
        }
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id  # §5.13: the reservation ends
        return "StartTransaction", payload

    def tx_meter(self, tx: OpenTx, meter: Measurement, context: str, ts: str
                 ) -> tuple[str, dict[str, Any]]:
        def sv(value: float, measurand: str, unit: str) -> dict[str, Any]:
            return {"value": f"{value:.1f}", "context": context, "measurand": measurand,
                    "unit": unit, "location": "Outlet"}

        return "MeterValues", {
            "connectorId": self.core.cfg.connector_id, "transactionId": 0,
            "meterValue": [{"timestamp": ts, "sampledValue": [
                sv(meter.energy_wh, "Energy.Active.Import.Register", "Wh"),
                sv(meter.voltage_v * meter.current_a, "Power.Active.Import", "W"),
                sv(meter.current_a, "Current.Import", "A"),
                sv(meter.voltage_v, "Voltage", "V"),
            ]}],
        }

    def idle_meter(self, meter: Measurement, ts: str) -> tuple[str, dict[str, Any]]:
        """§9.1.4 ClockAlignedDataInterval outside a transaction: MeterValues of the
        connector without a transactionId (the register only: no power flows)."""
        return "MeterValues", {
            "connectorId": self.core.cfg.connector_id,
            "meterValue": [{"timestamp": ts, "sampledValue": [{
                "value": f"{meter.energy_wh:.1f}", "context": "Sample.Clock",
                "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                "location": "Outlet"}]}]}

    def tx_stop(self, tx: OpenTx, stop: TxStop, meter_wh: float, ts: str
                ) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "transactionId": 0, "meterStop": round(meter_wh), "timestamp": ts,
            "reason": stop.reason_16.value,
        }
        if stop.reason_16.value in ("Local", "DeAuthorized") and tx.token is not None:
            payload["idTag"] = tx.token.id_token[:20]
        return "StopTransaction", payload

    def resolve_tx_ids(self, msg: QueuedMessage) -> dict[str, Any]:
        """Queued while the CSMS id was unknown: put the id it gave us in now."""
        payload = dict(msg.payload)
        if msg.action in ("MeterValues", "StopTransaction") and msg.tx_local is not None:
            rec = self.core.store.tx(msg.tx_local)
            if rec is not None and rec.remote_id is not None:
                payload["transactionId"] = int(rec.remote_id)
        return payload

    def on_tx_result(self, msg: QueuedMessage, payload: dict[str, Any]
                     ) -> tuple[int, str] | None:
        if msg.action != "StartTransaction" or msg.tx_local is None:
            return None
        remote = str(payload["transactionId"])
        tx = self.core.tx
        if tx is not None and tx.local_id == msg.tx_local:
            tx.remote_id = remote
        info = id_info_16(payload["idTagInfo"])
        self.core.auth.cache_put(str(msg.payload["idTag"]), info)
        if info.status is not IdStatus.ACCEPTED and tx is not None \
                and tx.local_id == msg.tx_local:
            self.core.tx_deauthorized()
        return (msg.tx_local, remote)

    def on_other_result(self, res: IncomingResult, tag: object) -> None:
        if isinstance(tag, OcspTag):
            try:
                data = json.loads(res.payload.get("data", "{}"))
            except (ValueError, TypeError):
                return
            if isinstance(data, dict):
                ocsp_result(self.core.pnc, tag, data)
            return
        if not isinstance(tag, PncCertTag):
            return
        accepted = False
        exi = b""
        if res.payload.get("status") == "Accepted" and "data" in res.payload:
            try:
                data = json.loads(res.payload["data"])
                accepted = data.get("status") == "Accepted"
                exi = base64.b64decode(data.get("exiResponse", ""))
            except (ValueError, TypeError):
                accepted = False
        self.core.emit(PncCertificateResponseCmd(tag.request_id, accepted,
                                                 exi if accepted else b""))

    def sign_certificate(self, use: LeafUse, csr: str, tag: object) -> bool:
        """Security whitepaper §3.3 SignCertificate (the charge point certificate); the V2G
        leaf through the PnC whitepaper's DataTransfer SignCertificate (2.0.1 payload)."""
        if use is LeafUse.CHARGING_STATION:
            return self.core.send_volatile("SignCertificate", {"csr": csr}, tag)
        return self.core.send_volatile("DataTransfer", {
            "vendorId": PNC_VENDOR_ID, "messageId": "SignCertificate",
            "data": json.dumps({"csr": csr, "certificateType": use.value})}, tag)

    @staticmethod
    def sign_accepted(res: IncomingResult) -> bool:
        if res.action != "DataTransfer":
            return res.payload.get("status") == "Accepted"
        try:
            data = json.loads(res.payload.get("data", "{}"))
        except (ValueError, TypeError):
            return False
        return (res.payload.get("status") == "Accepted" and isinstance(data, dict)
                and data.get("status") == "Accepted")

    # ---- security whitepaper (edition 3) native 1.6 messages ----
    def on_CertificateSigned(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """Whitepaper §3.3: the charge point certificate for our CSR."""
        return certificate_signed(self.core, LeafUse.CHARGING_STATION, p["certificateChain"])

    def on_InstallCertificate(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """Whitepaper §4.1 (CentralSystemRootCertificate / ManufacturerRootCertificate)."""
        ans = install_station_root(self.core, ROOT_16[p["certificateType"]], p["certificate"])
        return {"status": ans["status"]}

    def on_GetInstalledCertificateIds(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """Whitepaper §4.2."""
        hashes = station_root_hashes(self.core, {ROOT_16[p["certificateType"]]})
        if not hashes:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashData": [h for _, h in hashes]}

    def on_DeleteCertificate(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """Whitepaper §4.3."""
        return {"status": delete_station_root(self.core, p["certificateHashData"])
                or "NotFound"}

    def on_ExtendedTriggerMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """Whitepaper §5: TriggerMessage plus SignChargePointCertificate."""
        what = p["requestedMessage"]
        if what == "SignChargePointCertificate":
            self.core.request_certificate(LeafUse.CHARGING_STATION)
            return {"status": "Accepted"}
        if what in ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues"):
            inner = {"requestedMessage": what}
            if "connectorId" in p:
                inner["connectorId"] = p["connectorId"]
            return self.on_TriggerMessage(inner)
        return {"status": "NotImplemented"}

    def on_other_failed(self, tag: object) -> None:
        if isinstance(tag, PncCertTag):
            self.core.emit(PncCertificateResponseCmd(tag.request_id, False))

    def request_ev_certificate(self, ev: PncCertificateRequested) -> None:
        data = {"iso15118SchemaVersion": ev.schema_namespace,
                "action": "Install" if ev.operation == "INSTALLATION" else "Update",
                "exiRequest": base64.b64encode(ev.exi_request).decode()}
        sent = self.core.send_volatile("DataTransfer", {
            "vendorId": PNC_VENDOR_ID, "messageId": "Get15118EVCertificate",
            "data": json.dumps(data)}, PncCertTag(ev.request_id),
            timeout_ns=PNC_CERT_ANSWER_TIMEOUT_NS)
        if not sent:  # offline: the EV gets FAILED now instead of after its timeout
            self.core.emit(PncCertificateResponseCmd(ev.request_id, False))

    def certificate_status(self, ocsp_request_data: dict[str, Any], tag: OcspTag) -> bool:
        """OCA 1.6 whitepaper: GetCertificateStatus wrapped in DataTransfer (2.0.1 M06)."""
        return self.core.send_volatile("DataTransfer", {
            "vendorId": PNC_VENDOR_ID, "messageId": "GetCertificateStatus",
            "data": json.dumps({"ocspRequestData": ocsp_request_data})}, tag)

    def charging_state_changed(self, tx: OpenTx) -> None:
        """1.6 §4.9: SuspendedEV / SuspendedEVSE are connector statuses (the core sends the
        StatusNotification); no transaction message."""

    def ev_charging_needs(self, ev: EvChargingNeeds) -> None:
        """1.6 has no NotifyEVChargingNeeds."""

    def charging_rate_changed(self, tx: OpenTx) -> None:
        """1.6 has no message for a changed charging rate."""

    def charging_limit_set(self, limit: ExternalLimit, schedule: dict[str, Any]) -> None:
        """1.6 has no NotifyChargingLimit: the external limit applies unreported."""

    def charging_limit_cleared(self, source: LimitSource, evse_id: int) -> None:
        """1.6 has no ClearedChargingLimit."""

    def fault_event(self, fault: PlcFault) -> None:
        """1.6 reports faults through StatusNotification.errorCode (the core sends it)."""

    def command_refused(self, result: CommandResult) -> None:
        """1.6 has no message for a refused fault reset: Reset.conf was already sent and the
        connector stays Faulted with its errorCode/vendorErrorCode (the core keeps the
        reason in `command_results` for the local log)."""

    def install_profile(self, connector_id: int, profile: dict[str, Any]) -> None:
        self.core.profiles.install(profile_from_16(connector_id, profile))
        self.core.profiles_changed()

    # ------------------------------------------------------------------ incoming calls
    def handle_call(self, action: str, p: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"on_{action}", None)
        if handler is None:
            raise CsmsProtocolError("NotSupported", f"{action} is not supported")
        result: dict[str, Any] = handler(p)
        return result

    def on_RemoteStartTransaction(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        connector = p.get("connectorId", self.core.cfg.connector_id)
        profile = p.get("chargingProfile")
        if connector != self.core.cfg.connector_id or (
            profile is not None and profile["chargingProfilePurpose"] != "TxProfile"
        ):
            return {"status": "Rejected"}
        token = Token(p["idTag"], TokenType.CENTRAL, AuthMethod.REMOTE_START)
        ok = self.core.remote_start(token, profile)
        return {"status": "Accepted" if ok else "Rejected"}

    def on_RemoteStopTransaction(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        ok = self.core.remote_stop(str(p["transactionId"]))
        return {"status": "Accepted" if ok else "Rejected"}

    def on_Reset(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.core.reset(str(p["type"]),
                        STOP_HARD_RESET if p["type"] == "Hard" else STOP_SOFT_RESET)
        return {"status": "Accepted"}

    def on_ChangeAvailability(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if p["connectorId"] not in (0, self.core.cfg.connector_id):
            return {"status": "Rejected"}
        return {"status": self.core.change_availability(p["type"] == "Operative")}

    def on_UnlockConnector(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if p["connectorId"] != self.core.cfg.connector_id:
            return {"status": "NotSupported"}
        self.core.stop_for(STOP_UNLOCK)
        return {"status": "Unlocked"}

    def on_TriggerMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """1.6 §5.17: the connectorId matters only to StatusNotification and MeterValues
        (otherwise ignored); a connector this station does not have is Rejected."""
        what = p["requestedMessage"]
        core = self.core
        if what in ("StatusNotification", "MeterValues") and p.get(
                "connectorId", core.cfg.connector_id) not in (0, core.cfg.connector_id):
            return {"status": "Rejected"}
        if what == "BootNotification":
            core.send_volatile(*self.boot())
        elif what == "Heartbeat":
            core.send_volatile("Heartbeat", {})
        elif what == "StatusNotification":
            core.send_volatile(*self.status(core.connector_status(), core.fault_error_16))
        elif what == "MeterValues":
            if core.tx is None or core.meter is None:
                return {"status": "Rejected"}
            action, payload = self.tx_meter(core.tx, core.meter, "Trigger", core.timestamp())
            core.enqueue_tx_message(action, payload, core.tx)
        elif not self.trigger_management(what):
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    def on_GetConfiguration(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        s = self.core.settings
        keys = p.get("key") or s.keys()
        # a write-only key (AuthorizationKey, security whitepaper §2.3) is listed without
        # its value
        known = [{"key": k, "readonly": s.item(k).readonly}
                 | ({} if s.item(k).write_only else {"value": s.get(k)})
                 for k in keys if s.has(k)]
        unknown = [k for k in keys if not s.has(k)]
        out: dict[str, Any] = {"configurationKey": known}
        if unknown:
            out["unknownKey"] = unknown
        return out

    def on_ChangeConfiguration(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"status": self.core.settings.change(p["key"], p["value"])}

    def on_SendLocalList(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        auth = self.core.auth
        if not self.core.settings.get_bool("LocalAuthListEnabled"):
            return {"status": "NotSupported"}
        entries = p.get("localAuthorizationList", [])
        if len(entries) > LOCAL_LIST_MAX:
            return {"status": "Failed"}
        full = p["updateType"] == "Full"
        if not full and p["listVersion"] <= auth.list_version:
            return {"status": "VersionMismatch"}
        parsed = {e["idTag"]: (id_info_16(e["idTagInfo"]) if "idTagInfo" in e else None)
                  for e in entries}
        auth.update_list(p["listVersion"], full, parsed)
        return {"status": "Accepted"}

    def on_GetLocalListVersion(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if not self.core.settings.get_bool("LocalAuthListEnabled"):
            return {"listVersion": -1}
        return {"listVersion": self.core.auth.list_version}

    def on_ClearCache(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self.core.auth.clear_cache()
        return {"status": "Accepted"}

    def on_SetChargingProfile(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        prof = p["csChargingProfiles"]
        connector = p["connectorId"]
        purpose = prof["chargingProfilePurpose"]
        core = self.core
        if connector not in (0, core.cfg.connector_id) or prof["stackLevel"] > MAX_STACK_LEVEL \
                or len(prof["chargingSchedule"]["chargingSchedulePeriod"]) > MAX_PERIODS:
            return {"status": "Rejected"}
        if purpose == "ChargePointMaxProfile" and connector != 0:
            return {"status": "Rejected"}
        if purpose == "TxProfile":
            # 1.6 §5.16.3: a TxProfile needs a transaction on that connector.
            if connector == 0 or core.tx is None:
                return {"status": "Rejected"}
            if "transactionId" in prof and str(prof["transactionId"]) != core.tx.remote_id:
                return {"status": "Rejected"}
        self.install_profile(connector, prof)
        return {"status": "Accepted"}

    def on_ClearChargingProfile(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        purpose = p.get("chargingProfilePurpose")
        n = self.core.profiles.clear(
            profile_id=p.get("id"), purpose=None if purpose is None else Purpose(purpose),
            stack_level=p.get("stackLevel"), connector_id=p.get("connectorId"))
        if n:
            self.core.profiles_changed()
        return {"status": "Accepted" if n else "Unknown"}

    def on_GetCompositeSchedule(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        core = self.core
        if p["connectorId"] not in (0, core.cfg.connector_id):
            return {"status": "Rejected"}
        unit = p.get("chargingRateUnit", "W")
        tx = core.tx
        now = core.unix_s()
        periods = core.profiles.composite(now, int(p["duration"]),
                                          tx.start_unix_s if tx else now, self.tx_id(tx))
        sched_periods = [{"startPeriod": q.start_s,
                          "limit": limit_in_unit(q, unit, core.cfg.max_current_a,
                                                 core.cfg.max_power_w)} for q in periods]
        return {
            "status": "Accepted", "connectorId": p["connectorId"],
            "scheduleStart": core.timestamp(),
            "chargingSchedule": {"duration": int(p["duration"]), "startSchedule":
                                 core.timestamp(), "chargingRateUnit": unit,
                                 "chargingSchedulePeriod": sched_periods},
        }

    def on_DataTransfer(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """OCA PnC whitepaper: the 2.0.1 root management calls in DataTransfer, data the
        2.0.1 request JSON: InstallCertificate (M05), GetInstalledCertificateIds (M03),
        DeleteCertificate (M04). OEMRootCertificate is accepted here (1.6 data is not
        bound to the 2.0.1 enum)."""
        if p["vendorId"] != PNC_VENDOR_ID:
            return self.core.answer_data_transfer(p)  # the vendor registry (§5.6)
        if p.get("messageId") in ("CertificateSigned", "TriggerMessage"):
            return self._pnc_cert_call(p)
        handler = _ROOT_CALLS.get(p.get("messageId", ""))
        if handler is None:
            return {"status": "UnknownMessageId"}
        try:
            data = json.loads(p.get("data", "{}"))
        except (ValueError, TypeError):
            return {"status": "Rejected"}
        if not isinstance(data, dict):
            return {"status": "Rejected"}
        answer = handler(self.core.pnc.trust, data)
        return {"status": "Accepted", "data": json.dumps(answer)}


    def _pnc_cert_call(self, p: dict[str, Any]) -> dict[str, Any]:
        """PnC whitepaper: CertificateSigned (V2G leaf) and TriggerMessage
        SignV2GCertificate in DataTransfer, data the 2.0.1 request JSON."""
        try:
            data = json.loads(p.get("data", "{}"))
        except (ValueError, TypeError):
            return {"status": "Rejected"}
        if not isinstance(data, dict):
            return {"status": "Rejected"}
        if p["messageId"] == "CertificateSigned":
            chain = data.get("certificateChain")
            if not isinstance(chain, str):
                return {"status": "Rejected"}
            answer = certificate_signed(self.core, LeafUse.V2G, chain)
        elif data.get("requestedMessage") == "SignV2GCertificate":
            self.core.request_certificate(LeafUse.V2G)
            answer = {"status": "Accepted"}
        else:
            answer = {"status": "NotImplemented"}
        return {"status": "Accepted", "data": json.dumps(answer)}


_ROOT_CALLS = {
    "InstallCertificate": install_certificate,
    "GetInstalledCertificateIds": get_installed_certificate_ids,
    "DeleteCertificate": delete_certificate,
}
