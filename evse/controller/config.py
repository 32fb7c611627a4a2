"""Controller configuration: what a station integrator sets, with each default's source."""

from __future__ import annotations

from dataclasses import dataclass, field

#: 2026-01-01T00:00:00Z: the wall-clock origin of virtual time (tests, simulation). The
#: runtime sets the real offset; the core never reads a clock.
DEFAULT_EPOCH_UNIX_S = 1_767_225_600


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    ocpp_version: str = "1.6"  # "1.6" | "2.0.1"
    vendor: str = "EVSE-Ref"
    model: str = "CCS2-DC-150"
    serial: str = "SIM0001"
    firmware: str = "0.1.0"
    connector_id: int = 1
    #: Hardware rating of the DC output (the ceiling of every limit we publish).
    max_voltage_v: float = 1000.0
    max_current_a: float = 300.0
    max_power_w: float = 150_000.0
    min_current_a: float = 0.0
    #: OCPP 1.6 §9.1 LocalAuthorizeOffline / LocalPreAuthorize / AllowOfflineTxForUnknownId /
    #: AuthorizationCacheEnabled / LocalAuthListEnabled (offline policy: reference C2 item 4).
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    allow_offline_tx_for_unknown_id: bool = False
    authorization_cache_enabled: bool = True
    local_auth_list_enabled: bool = True
    #: 1.6 AuthorizeRemoteTxRequests: false = a remote start is authorized by the CSMS itself.
    authorize_remote_tx_requests: bool = False
    #: 1.6 StopTransactionOnInvalidId.
    stop_transaction_on_invalid_id: bool = True
    #: AutoCharge: EVCCID (hex) or SLAC MAC (AA:BB:..) -> id token (reference C4).
    autocharge_tokens: dict[str, str] = field(default_factory=dict)
    #: Plug & Charge offered to the EV (ISO 15118-2 Contract payment option).
    pnc_enabled: bool = True
    #: PnC offline policy (OCA "ISO 15118 support for OCPP 1.6" §3.4 / 2.0.1 C07): accept a
    #: contract whose chain verifies locally when the CSMS is unreachable.
    pnc_accept_offline_if_chain_valid: bool = True
    #: Authorization wait (contract bounds auth_timeout_eim 300 s / auth_timeout_pnc 55 s;
    #: EVerest EvseV2G defaults, timing.md §7). The station config's auth section sets both.
    auth_timeout_eim_s: float = 300.0
    auth_timeout_pnc_s: float = 55.0
    #: 1.6 ConnectionTimeOut: a token accepted before plug-in expires after this.
    connection_timeout_s: float = 60.0
    #: 1.6 HeartbeatInterval until the BootNotification response sets it.
    heartbeat_interval_s: float = 300.0
    #: 1.6 MeterValueSampleInterval / ClockAlignedDataInterval (0 = off).
    meter_sample_interval_s: float = 60.0
    clock_aligned_interval_s: float = 0.0
    #: 1.6 TransactionMessageAttempts / TransactionMessageRetryInterval.
    tx_message_attempts: int = 3
    tx_message_retry_interval_s: float = 60.0
    #: OCPP-J: an unanswered Call is given up after this (EVerest MessageTimeout 30 s).
    call_timeout_s: float = 30.0
    #: Retry of a BootNotification that got no answer (the response's interval wins).
    boot_retry_s: float = 30.0
    #: ctrl.evse_limits_dynamic refresh period and validity (contract: 100..5000 ms).
    limits_period_s: float = 1.0
    limits_validity_ms: int = 3000
    epoch_unix_s: int = DEFAULT_EPOCH_UNIX_S


def config_from_mapping(raw: dict[str, object]) -> ControllerConfig:
    """Build a config from the `controller:` section of a station YAML.

    Unknown keys and wrong types raise `ControllerUsageError` naming the key (a station
    integrator edits these by hand; a typo must not silently keep a default).
    """
    import dataclasses

    from evse.controller.errors import ControllerUsageError

    fields = {f.name: f for f in dataclasses.fields(ControllerConfig)}
    defaults = ControllerConfig()
    values: dict[str, object] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ControllerUsageError(f"controller.{key}: unknown setting")
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ControllerUsageError(
                f"controller.{key}: expected {expected.__name__}, got {type(value).__name__}")
        values[key] = value
    if values.get("ocpp_version", "1.6") not in ("1.6", "2.0.1"):
        raise ControllerUsageError("controller.ocpp_version: must be 1.6 or 2.0.1")
    return dataclasses.replace(defaults, **values)  # type: ignore[arg-type]
