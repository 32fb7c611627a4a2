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
    #: PnC offline policy (OCA "ISO 15118 support for OCPP 1.6" §3.4 / 2.0.1 C07), what a
    #: contract needs when the CSMS is unreachable, beyond a chain verified to a trusted
    #: root: "cached_ocsp_good" (default: every certificate of the chain has a cached OCSP
    #: status good, still before its nextUpdate), "chain_only" (the verified chain
    #: suffices: revocation unknown), "never" (no offline Plug & Charge).
    pnc_offline_policy: str = "cached_ocsp_good"
    #: Directory of the PnC trust store (roots + OCSP cache, evse.controller.trust_store);
    #: "" keeps it in memory (lost at restart).
    pnc_trust_store_dir: str = ""
    #: Roots installed at the first boot of the trust store: certificate type
    #: (V2GRootCertificate | MORootCertificate | OEMRootCertificate) -> PEM files.
    pnc_seed_roots: dict[str, list[str]] = field(default_factory=dict)
    #: Directory of the station's own certificates and keys (CSMS roots, the client
    #: certificate of security profile 3, the SECC's V2G leaf; evse.security.station_certs);
    #: "" keeps them in memory (lost at restart).
    station_cert_dir: str = ""
    #: A leaf certificate is renewed (SignCertificate, 2.0.1 A03) this long before it
    #: expires. 30 days: our choice, well inside a 1-year leaf and longer than any CSMS
    #: outage we plan for.
    cert_renewal_margin_s: float = 30 * 86_400.0
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
    #: 2.0.1 TxCtrlr.TxStartPoint / TxStopPoint at boot (comma-separated, E01/E06,
    #: evse/controller/tx_points.py); the CSMS may change them with SetVariables. 1.6
    #: ignores them (EnergyTransfer to EnergyTransfer).
    tx_start_points: str = "EnergyTransfer"
    tx_stop_points: str = "EnergyTransfer"
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

    def __post_init__(self) -> None:
        """TxStartPoint / TxStopPoint are checked here, once, however the config is built
        (the station YAML's `controller:` section or in code)."""
        from evse.controller.errors import ControllerUsageError
        from evse.controller.tx_points import SUPPORTED, parse_points

        for key in ("tx_start_points", "tx_stop_points"):
            text = getattr(self, key)
            if parse_points(text) is None:
                raise ControllerUsageError(
                    f"controller.{key}: {text!r} is not a comma-separated list of "
                    f"{', '.join(SUPPORTED)}")


#: Values of `pnc_offline_policy` (see ControllerConfig).
PNC_OFFLINE_POLICIES = ("cached_ocsp_good", "chain_only", "never")
#: Certificate types `pnc_seed_roots` may name (evse.controller.trust_store.RootType).
PNC_ROOT_TYPES = ("V2GRootCertificate", "MORootCertificate", "OEMRootCertificate")


def _check_seed_roots(raw: dict[object, object]) -> dict[str, list[str]]:
    """Every seed names a root type and PEM files that hold a self-signed CA certificate
    (checked now: a typo must not leave the station without its trust anchors)."""
    from pathlib import Path

    from evse.controller.errors import ControllerUsageError
    from evse.controller.trust_store import parse_root

    out: dict[str, list[str]] = {}
    for kind, files in raw.items():
        key = f"controller.pnc_seed_roots.{kind}"
        if kind not in PNC_ROOT_TYPES:
            raise ControllerUsageError(
                f"{key}: unknown type (allowed: {', '.join(PNC_ROOT_TYPES)})")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ControllerUsageError(f"{key}: expected a list of PEM file paths")
        for f in files:
            try:
                pem = Path(f).read_bytes()
            except OSError as exc:
                raise ControllerUsageError(f"{key}: {f}: {exc.strerror}") from None
            if parse_root(pem) is None:
                raise ControllerUsageError(f"{key}: {f}: not a self-signed CA certificate (PEM)")
        out[str(kind)] = list(files)
    return out


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
    if values.get("pnc_offline_policy", defaults.pnc_offline_policy) not in PNC_OFFLINE_POLICIES:
        raise ControllerUsageError(
            f"controller.pnc_offline_policy: must be one of {', '.join(PNC_OFFLINE_POLICIES)}")
    seeds = values.get("pnc_seed_roots")
    if isinstance(seeds, dict):
        values["pnc_seed_roots"] = _check_seed_roots(seeds)
    return dataclasses.replace(defaults, **values)  # type: ignore[arg-type]
