"""Station configuration: one YAML file names the driver behind each port and overrides params.

Errors name the file and line (`ConfigError`), never a traceback: a charger integrator edits
these files by hand on site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.registry import DriverParamError, PortKind, driver
from evse.fsm.yamlstrict import FileLineError, LMap, YamlError, line_of, load_yaml
from evse.slac.config import slac_config_from_section
from evse.slac.errors import SlacUsageError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "station.yaml"


class ConfigError(FileLineError):
    """A station config is invalid."""


class DeviceOpenError(OSError):
    """A bus or device a valid config names cannot be opened at start (missing interface,
    no permission): the message names the section, interface and channel; the entry points
    exit 2 with it (an OSError, as `evse run` already treats a missing interface)."""


@dataclass(frozen=True, slots=True)
class BoardConfig:
    """`board:` the board driver (drivers/registry.py, kind board) and its parameters: the
    simulated board's as fields, every parameter of the chosen driver in `params` (a board
    driver with other parameters, e.g. an MCU link, reads them there)."""

    driver: str = "sim"
    noise_v: float = 0.3
    contactor_close_ms: float = 30.0
    contactor_open_ms: float = 30.0
    keepalive_timeout_ms: float = 3000.0
    params: dict[str, object] = field(
        default_factory=lambda: driver(PortKind.BOARD, "sim").defaults())


@dataclass(frozen=True, slots=True)
class DriverSection:
    """`power:`, `imd:`, `meter:` the driver a port is built from and every parameter it
    takes, checked against its registry row (drivers/registry.py) and defaulted there."""

    driver: str
    params: dict[str, object] = field(default_factory=dict)

    def number(self, name: str) -> float:
        value = self.params[name]
        assert isinstance(value, int | float)
        return float(value)

    def integer(self, name: str) -> int:
        value = self.params[name]
        assert isinstance(value, int)
        return value

    def text(self, name: str) -> str | None:
        value = self.params[name]
        assert value is None or isinstance(value, str)
        return value


def _default_section(kind: PortKind, name: str) -> DriverSection:
    return DriverSection(name, driver(kind, name).defaults())


#: The embedded defaults: the InfyPower rack, the Bender iso165C, the simulated meter.
DEFAULT_POWER_DRIVER = "infy"
DEFAULT_IMD_DRIVER = "iso165c"
DEFAULT_METER_DRIVER = "sim"


@dataclass(frozen=True, slots=True)
class CpSection:
    sample_period_ms: float = 10.0
    hlc_enabled: bool = True
    ventilation_available: bool = False
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class V2gSection:
    """`v2g:` how the SECC is reached on a real interface (evse run)."""

    tls_policy: str = "allow"  # allow | force | prohibit (issue 4, SDP)
    cert_chain: str | None = None  # PEM, leaf first then Sub-CAs; relative to the config file
    private_key: str | None = None
    key_password: str | None = None
    max_payload_bytes: int | None = None  # None: the V2GTP layer's default
    tcp_port: int | None = None  # None: a random port in the dynamic range
    # Admission (evse/secc/admission.py): pending (pre-supportedAppProtocol) connections
    # kept at once, None: its default 8; the communication setup time in seconds, None:
    # V2G_SECC_CommunicationSetup_Performance_Time 18 s [V2G2-716] (timing.md §3). Only a
    # bench should shorten it; above the car's 20 s the car gives up first.
    max_pending_connections: int | None = None
    communication_setup_s: float | None = None


@dataclass(frozen=True, slots=True)
class PlcSection:
    """`plc:` the PLC modem: none (link assumed up, evse run bench) or raw (AF_PACKET)."""

    driver: str = "none"
    iface: str | None = None  # --iface overrides it
    local_modem_mac: str = "00:b0:52:00:00:01"


@dataclass(frozen=True, slots=True)
class SlacSection:
    """`slac:` enabled, plus the keys evse.slac.config.slac_config_from_section takes."""

    enabled: bool = False
    settings: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionSection:
    """`session:` what the station offers and who decides (controller + CSMS simulator)."""

    protocols: tuple[str, ...] = ("iso2", "din")  # offered, our preference order
    ocpp: str = "1.6"  # none | 1.6 | 2.0.1
    auth_delay_s: float = 1.0


@dataclass(frozen=True, slots=True)
class AuthSection:
    """`auth:` how long the station waits for an authorization, per payment mode.

    Defaults are the contract bounds (evse/contract/signals.yaml auth_timeout_eim 300 s,
    auth_timeout_pnc 55 s: EVerest EvseV2G's auth_timeout_eim / auth_timeout_pnc, timing.md
    §7). They reach the PLC's guard, the SECC charts (t_auth_eim / t_auth_pnc) and the
    controller (t_auth_eim / t_auth_pnc) alike."""

    timeout_eim_s: float = 300.0
    timeout_pnc_s: float = 55.0


@dataclass(frozen=True, slots=True)
class PncSection:
    """`pnc:` the controller's Plug & Charge trust store (evse.controller.trust_store):
    `trust_store_dir` (private directory; null = memory only), `seed_roots` (first boot:
    certificate type -> PEM files) and `offline_policy` (cached_ocsp_good | chain_only |
    never); validated by evse.controller.config, the keys map onto its pnc_* settings."""

    trust_store_dir: str = ""
    seed_roots: dict[str, list[str]] = field(default_factory=dict)
    offline_policy: str = "cached_ocsp_good"

    def controller_settings(self) -> dict[str, object]:
        return {"pnc_trust_store_dir": self.trust_store_dir,
                "pnc_seed_roots": self.seed_roots, "pnc_offline_policy": self.offline_policy}


# ---------------------------------------------------------------- power_faults: (life helper)
@dataclass(frozen=True, slots=True)
class PowerFaultsSection:
    """`power_faults:` the power path's detection thresholds (evse/power/controller.py
    PowerPathConfig; their defaults and sources, all [assumed], are there): over-current
    margin and duration, connector temperature derate and trip, stale-meter age, and the
    charging cable's current rating (null: the station rating is the cable's); and
    `store`, the file that keeps latched and permanent faults across restarts
    (evse/runtime/fault_store.py; relative to the config file; null: not kept, a restart
    forgets them, for simulation only)."""

    over_current_margin_a: float = 5.0
    over_current_margin_fraction: float = 0.10
    over_current_duration_ms: float = 400.0
    temperature_derate_c: float = 80.0
    temperature_trip_c: float = 90.0
    meter_stale_ms: float = 2000.0
    cable_rating_a: float | None = None
    store: str | None = None


#: key -> (low, high) of each `power_faults:` number (inclusive).
_POWER_FAULT_RANGES: dict[str, tuple[float, float]] = {
    "over_current_margin_a": (0.5, 100.0),
    "over_current_margin_fraction": (0.0, 1.0),
    "over_current_duration_ms": (10.0, 10_000.0),
    "temperature_derate_c": (20.0, 150.0),
    "temperature_trip_c": (20.0, 150.0),
    "meter_stale_ms": (50.0, 60_000.0),
    "cable_rating_a": (1.0, 1000.0),
}


def _power_faults_section(raw: LMap, file: str) -> PowerFaultsSection:
    v = _raw_body(raw, "power_faults", file, {*_POWER_FAULT_RANGES, "store"})
    out: dict[str, float | str | None] = {}
    store = v.get("store")
    if store is not None:
        if not isinstance(store, str) or not store.strip():
            raise ConfigError(file, _line(raw, "power_faults", "store"),
                              f"power_faults.store must be a file path or null, got {store!r}")
        path = Path(store)
        if not path.is_absolute() and not file.startswith("<"):
            path = Path(file).resolve().parent / path
        out["store"] = str(path)
    for key, (low, high) in _POWER_FAULT_RANGES.items():
        if key not in v or (key == "cable_rating_a" and v[key] is None):
            continue
        value = v[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                low <= value <= high):
            raise ConfigError(file, _line(raw, "power_faults", key),
                              f"power_faults.{key} must be {low:g}..{high:g}, got {value!r}")
        out[key] = float(value)
    section = PowerFaultsSection(**out)  # type: ignore[arg-type]
    if not section.temperature_derate_c < section.temperature_trip_c:
        raise ConfigError(file, _line(raw, "power_faults", "temperature_derate_c"),
                          "power_faults.temperature_derate_c must be below temperature_trip_c")
    return section
# ---------------------------------------------------------------- end power_faults


# ---------------------------------------------------------------- capture: (issue 13)
@dataclass(frozen=True, slots=True)
class CaptureSection:
    """`capture:` session captures for Wireshark (evse/io/capture.py): one pcapng per
    plug-in of every SLAC, SDP and V2G frame on the PLC interface, written by `evse run`.
    `dir` (relative to the config file), `max_files` closed captures kept (oldest removed
    first), `max_session_mb` per session file, `tls_keys` puts the session's TLS key log
    into its capture (bench only: whoever has the file reads the session)."""

    dir: str
    max_files: int = 200
    max_session_mb: int = 64
    tls_keys: bool = False


#: key -> (low, high): a session is ~6 MB for 30 min of CurrentDemand
#: (bench/capture_bench.py), a day of sessions at most a few hundred files; an SD card is
#: not a capture server.
_CAPTURE_RANGES = {"max_files": (1, 100_000), "max_session_mb": (1, 4096)}


def _capture_section(raw: LMap, file: str) -> CaptureSection | None:
    if raw.get("capture") is None:
        return None
    v = _raw_body(raw, "capture", file, {"dir", *_CAPTURE_RANGES, "tls_keys"})
    directory = v.get("dir")
    if not isinstance(directory, str) or not directory.strip():
        raise ConfigError(file, _line(raw, "capture", "dir"),
                          f"capture.dir must be a directory path, got {directory!r}")
    path = Path(directory)
    if not path.is_absolute() and not file.startswith("<"):
        path = Path(file).resolve().parent / path
    out: dict[str, Any] = {"dir": str(path)}
    for key, (low, high) in _CAPTURE_RANGES.items():
        if key not in v:
            continue
        value = v[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(file, _line(raw, "capture", key),
                              f"capture.{key} must be an integer {low}..{high}, got {value!r}")
        out[key] = value
    if "tls_keys" in v:
        if not isinstance(v["tls_keys"], bool):
            raise ConfigError(file, _line(raw, "capture", "tls_keys"),
                              f"capture.tls_keys must be true or false, got {v['tls_keys']!r}")
        out["tls_keys"] = v["tls_keys"]
    return CaptureSection(**out)
# ---------------------------------------------------------------- end capture


# ---------------------------------------------------------------- ocpp: (cm4 helper)
@dataclass(frozen=True, slots=True)
class OcppSection:
    """`ocpp:` the operator's CSMS that `evse run` connects to (OCPP-J over a websocket).

    Without this section `evse run` runs the CSMS simulator in-process (session.ocpp picks
    its version, or none). With it, `session.ocpp` is not used: the controller speaks
    `version` to `url`/`charge_point_id` (OCPP-J 1.6 §3.1.1 / 2.0.1 Part 4 §3.1.1: the
    identity is the last path segment). Security profiles (OCPP security whitepaper /
    2.0.1 A00.FR): 1 = ws:// + basic auth, 2 = wss:// + basic auth (server certificate
    checked against `ca_file`, or the system store when null), 3 = wss:// with a client
    certificate (no basic auth). Paths are relative to the config file."""

    url: str
    charge_point_id: str
    version: str = "1.6"
    security_profile: int = 1
    password_file: str | None = None
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    #: Heartbeat until the CSMS's BootNotification response sets an interval (interval 0:
    #: this one stays), OCPP 1.6 HeartbeatInterval / 2.0.1 HeartbeatInterval.
    heartbeat_s: float = 300.0
    #: SQLite file of the controller's message queue and transaction journal; it survives
    #: a restart (queued StopTransaction/MeterValues reach the CSMS later). null: memory.
    store: str | None = None
    #: The id token the bench's simulated driver presents (session.auth_delay_s after the
    #: car asks); null: none (authorized remotely by the CSMS, or by Plug & Charge).
    id_token: str | None = "SIM-RFID-0001"
    #: Where firmware and logs are handled on the board (UpdateFirmware, GetLog,
    #: GetDiagnostics; evse/io/host_services.py): downloads land in `staging/`, an install
    #: moves the image into `firmware/`. null: every transfer is refused with that reason
    #: (the CSMS hears DownloadFailed / UploadFailure, not a silent success).
    maintenance_dir: str | None = None
    #: What an OCPP Reset (1.6 Reset, 2.0.1 B11/B12) or a firmware install's restart does:
    #: "exit" ends `evse run` cleanly with EXIT_RESTART (75), which the systemd unit's
    #: Restart= policy turns into a new process (deploy/evse.service); "none" records it
    #: and goes on (a bench that must not stop).
    restart: str = "exit"
    #: Directory of the station's own certificates and keys (CSMS roots, the profile-3
    #: client certificate, the SECC's V2G leaf; evse/security/station_certs.py), so what
    #: the CSMS installs survives a restart. null: kept in memory.
    station_cert_dir: str | None = None
    #: The config file these paths are relative to.
    base_dir: str = "."

    @property
    def endpoint(self) -> str:
        return f"{self.url.rstrip('/')}/{self.charge_point_id}"

    def path(self, value: str | None) -> str | None:
        if value is None:
            return None
        return str(Path(self.base_dir) / value)


_OCPP_KEYS = {"url", "charge_point_id", "version", "security_profile", "password_file",
              "ca_file", "client_cert", "client_key", "heartbeat_s", "store", "id_token",
              "maintenance_dir", "restart", "station_cert_dir"}
#: `ocpp.restart` values (OcppSection.restart).
OCPP_RESTART_MODES = ("exit", "none")
#: OCPP 1.6 chargeBoxIdentity (CiString48) / 2.0.1 identity: no '/' (it is a URL segment).
_CP_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,48}$")


def _ocpp_section(raw: LMap, file: str) -> OcppSection | None:
    if raw.get("ocpp") is None:
        return None
    v = _raw_body(raw, "ocpp", file, _OCPP_KEYS)

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(file, _line(raw, "ocpp", key), f"ocpp.{key} {message}")

    for key in ("url", "charge_point_id"):
        if key not in v:
            raise ConfigError(file, line_of(raw, "ocpp"), f"ocpp.{key} is required")
    url = v["url"]
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise fail("url", f"must be a ws:// or wss:// URL, got {url!r}")
    cp_id = v["charge_point_id"]
    if not isinstance(cp_id, str) or not _CP_ID_RE.match(cp_id):
        raise fail("charge_point_id", "must be 1..48 characters of A-Z a-z 0-9 . _ : -")
    version = v.get("version", "1.6")
    if version not in ("1.6", "2.0.1"):
        raise fail("version", f"must be \"1.6\" or \"2.0.1\" (quoted), got {version!r}")
    profile = v.get("security_profile", 1)
    if isinstance(profile, bool) or profile not in (1, 2, 3):
        raise fail("security_profile", f"must be 1, 2 or 3, got {profile!r}")
    if (profile == 1) != url.startswith("ws://"):
        raise fail("security_profile", f"{profile} needs a "
                   f"{'ws' if profile == 1 else 'wss'}:// url (no silent downgrade)")
    paths: dict[str, str | None] = {}
    for key in ("password_file", "ca_file", "client_cert", "client_key", "store",
                "maintenance_dir", "station_cert_dir"):
        value = v.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise fail(key, "must be a path or null")
        paths[key] = value
    if profile == 3 and (paths["client_cert"] is None or paths["client_key"] is None):
        raise fail("security_profile", "3 needs ocpp.client_cert and ocpp.client_key")
    if profile != 3 and (paths["client_cert"] is not None or paths["client_key"] is not None):
        raise fail("client_cert" if paths["client_cert"] is not None else "client_key",
                   "is used by security profile 3 only")
    if profile == 1 and paths["ca_file"] is not None:
        raise fail("ca_file", "is used by security profiles 2 and 3 only (TLS)")
    if profile == 3 and paths["password_file"] is not None:
        raise fail("password_file", "is not used by security profile 3 (client certificate)")
    hb = v.get("heartbeat_s", 300.0)
    if isinstance(hb, bool) or not isinstance(hb, int | float) or not 1 <= hb <= 86_400:
        raise fail("heartbeat_s", f"must be seconds 1..86400, got {hb!r}")
    token = v.get("id_token", "SIM-RFID-0001")
    if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= 20):
        raise fail("id_token", "must be 1..20 characters (OCPP 1.6 IdToken) or null")
    restart = v.get("restart", "exit")
    if restart not in OCPP_RESTART_MODES:
        raise fail("restart", f"must be one of {', '.join(OCPP_RESTART_MODES)}, got {restart!r}")
    return OcppSection(url=url, charge_point_id=cp_id, version=version,
                       security_profile=profile, heartbeat_s=float(hb), id_token=token,
                       restart=restart, base_dir=str(Path(file).resolve().parent), **paths)
# ---------------------------------------------------------------- end ocpp


# ---------------------------------------------------------------- ems: (ocpp helper)
#: `ems.driver`: none (no input), sim (steps at scenario times), udp_json (datagrams).
EMS_DRIVERS = ("none", "sim", "udp_json")
#: 2.0.1 ChargingLimitSourceEnumType values an external input may claim (CSO is the CSMS).
EMS_SOURCES = ("EMS", "SO", "Other")
EMS_DEFAULT_PORT = 50120
#: `ems.failsafe_timeout_s` default: EEBus UC LPC's heartbeat timeout (120 s), after which
#: the station applies its fail-safe limit; the override of fsm_specs/ems_failsafe.yaml
#: `t_failsafe` (the same default there, tests/controller/test_ems_failsafe_chart.py).
EMS_FAILSAFE_TIMEOUT_S = 120.0
#: `ems.failsafe_limit_w` default: 4.2 kW, the power a controlled load keeps under §14a
#: EnWG (BNetzA BK6-22-300), LPC's usual Failsafe Consumption Active Power Limit.
EMS_FAILSAFE_LIMIT_W = 4200.0
#: `ems.failsafe_duration_min_s` default: EEBus UC LPC's Failsafe Duration Minimum, 2 h
#: (LPC-022: 2..24 h). A fail-safe the EMS never ends (it stays silent) is released after
#: it (LPC-922: the station goes "unlimited/autonomous"); 0 holds it until the EMS speaks.
#: The override of fsm_specs/ems_failsafe.yaml `t_failsafe_min`.
EMS_FAILSAFE_DURATION_MIN_S = 7200.0


@dataclass(frozen=True, slots=True)
class EmsStep:
    """One `ems.steps` entry: at `at_s` (scenario time) the limit becomes `limit` in
    `unit` (W or A), or is released (`limit` None)."""

    at_s: float
    limit: float | None
    unit: str = "W"


@dataclass(frozen=True, slots=True)
class EmsSection:
    """`ems:` the station's external-limit input (OCPP 2.0.1 K11-K13; evse/runtime/
    ems_input.py, message format in evse/controller/external_limits.py): `driver` (none |
    sim | udp_json), `source` (the ChargingLimitSource reported: EMS | SO | Other),
    `steps` (sim: a list of {at_s, limit_w | limit_a}, a null limit releases), `bind` and
    `port` (udp_json: where the datagrams arrive; default 127.0.0.1:50120, no
    authentication, so a trusted interface only), `failsafe_timeout_s` (udp_json: after
    this long without a valid datagram the fail-safe limit applies; default 120 s, EEBus
    LPC's heartbeat timeout; 0: never), `failsafe_limit_w` | `failsafe_limit_a` (that
    limit; default 4200 W) and `failsafe_duration_min_s` (udp_json: a fail-safe the EMS
    does not end by speaking again is released after this long; default 7200 s, LPC's
    Failsafe Duration Minimum; 0: held until the EMS speaks)."""

    driver: str = "none"
    source: str = "EMS"
    steps: tuple[EmsStep, ...] = ()
    bind: str = "127.0.0.1"
    port: int = EMS_DEFAULT_PORT
    failsafe_timeout_s: float = EMS_FAILSAFE_TIMEOUT_S
    failsafe_limit: float = EMS_FAILSAFE_LIMIT_W
    failsafe_unit: str = "W"
    failsafe_duration_min_s: float = EMS_FAILSAFE_DURATION_MIN_S


def _ems_section(raw: LMap, file: str) -> EmsSection:
    if raw.get("ems") is None:
        return EmsSection()
    v = _raw_body(raw, "ems", file, {"driver", "source", "steps", "bind", "port",
                                     "failsafe_timeout_s", "failsafe_limit_w",
                                     "failsafe_limit_a", "failsafe_duration_min_s"})

    def fail(key: str, message: str, line: int | None = None) -> ConfigError:
        return ConfigError(file, line or _line(raw, "ems", key), f"ems.{key} {message}")

    name = v.get("driver")
    if name not in EMS_DRIVERS:
        raise fail("driver", f"must be one of {list(EMS_DRIVERS)}, got {name!r}")
    source = v.get("source", "EMS")
    if source not in EMS_SOURCES:
        raise fail("source", f"must be one of {list(EMS_SOURCES)}, got {source!r}")
    for key, owner in (("steps", "sim"), ("bind", "udp_json"), ("port", "udp_json"),
                       ("failsafe_timeout_s", "udp_json"), ("failsafe_limit_w", "udp_json"),
                       ("failsafe_limit_a", "udp_json"),
                       ("failsafe_duration_min_s", "udp_json")):
        if key in v and name != owner:
            raise fail(key, f"is used by ems.driver {owner} only")
    steps: list[EmsStep] = []
    body = v.get("steps", [])
    if not isinstance(body, list):
        raise fail("steps", "must be a list of {at_s, limit_w | limit_a}")
    for item in body:
        line = line_of(item, default=_line(raw, "ems", "steps"))
        if not isinstance(item, LMap) or "at_s" not in item or len(item) != 2 or not (
                {"limit_w", "limit_a"} & set(item)):
            raise fail("steps", "entries are {at_s: S, limit_w: W} or {at_s: S, limit_a: A} "
                       "(null limit: release)", line)
        at = item["at_s"]
        if isinstance(at, bool) or not isinstance(at, int | float) or at < 0 or (
                steps and at < steps[-1].at_s):
            raise fail("steps", f"at_s must be seconds >= 0, in order, got {at!r}",
                       line_of(item, "at_s"))
        unit = "W" if "limit_w" in item else "A"
        key = "limit_w" if unit == "W" else "limit_a"
        limit = item[key]
        if limit is not None and (isinstance(limit, bool) or not isinstance(
                limit, int | float) or limit < 0):
            raise fail("steps", f"{key} must be >= 0 or null, got {limit!r}",
                       line_of(item, key))
        steps.append(EmsStep(float(at), None if limit is None else float(limit), unit))
    bind = v.get("bind", "127.0.0.1")
    if not isinstance(bind, str) or not bind:
        raise fail("bind", f"must be an address, got {bind!r}")
    port = v.get("port", EMS_DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65_535:
        raise fail("port", f"must be 1..65535, got {port!r}")
    timeout = v.get("failsafe_timeout_s", EMS_FAILSAFE_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
            0 <= timeout <= 86_400):
        raise fail("failsafe_timeout_s", f"must be seconds 0..86400 (0: never), got {timeout!r}")
    if "failsafe_limit_w" in v and "failsafe_limit_a" in v:
        raise fail("failsafe_limit_a", "and failsafe_limit_w: one fail-safe limit, W or A")
    unit = "A" if "failsafe_limit_a" in v else "W"
    key = f"failsafe_limit_{unit.lower()}"
    fs_limit = v.get(key, EMS_FAILSAFE_LIMIT_W)
    if isinstance(fs_limit, bool) or not isinstance(fs_limit, int | float) or fs_limit < 0:
        raise fail(key, f"must be a number >= 0, got {fs_limit!r}")
    duration = v.get("failsafe_duration_min_s", EMS_FAILSAFE_DURATION_MIN_S)
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not (
            0 <= duration <= 86_400):
        raise fail("failsafe_duration_min_s",
                   f"must be seconds 0..86400 (0: held until the EMS speaks), got {duration!r}")
    return EmsSection(name, source, tuple(steps), bind, port, float(timeout),
                      float(fs_limit), unit, float(duration))
# ---------------------------------------------------------------- end ems


@dataclass(frozen=True, slots=True)
class StationConfig:
    name: str = "sim-dc"
    seed: int = 1
    board: BoardConfig = field(default_factory=BoardConfig)
    power: DriverSection = field(
        default_factory=lambda: _default_section(PortKind.POWER, DEFAULT_POWER_DRIVER))
    imd: DriverSection = field(
        default_factory=lambda: _default_section(PortKind.IMD, DEFAULT_IMD_DRIVER))
    meter: DriverSection = field(
        default_factory=lambda: _default_section(PortKind.METER, DEFAULT_METER_DRIVER))
    cp: CpSection = field(default_factory=CpSection)
    v2g: V2gSection = field(default_factory=V2gSection)
    plc: PlcSection = field(default_factory=PlcSection)
    slac: SlacSection = field(default_factory=SlacSection)
    session: SessionSection = field(default_factory=SessionSection)
    auth: AuthSection = field(default_factory=AuthSection)
    pnc: PncSection = field(default_factory=PncSection)
    power_faults: PowerFaultsSection = field(default_factory=PowerFaultsSection)
    ocpp: OcppSection | None = None
    capture: CaptureSection | None = None
    ems: EmsSection = field(default_factory=EmsSection)
    file: str = "<defaults>"


_SECTIONS = {"station", "board", "power", "imd", "meter", "cp", "v2g", "plc", "slac", "session",
             "auth", "pnc", "power_faults", "ocpp", "capture", "ems"}
#: auth.timeout_eim_s: a driver fetching a card or an app needs minutes; beyond an hour the
#: connector is blocked for nothing (EVerest's 0 = "infinite" is not offered).
AUTH_TIMEOUT_EIM_RANGE_S = (1.0, 3600.0)
#: auth.timeout_pnc_s: the car has presented its contract and waits at most its
#: V2G_EVCC_Ongoing_Timeout, 60 s (timing.md §4); a longer wait would never end by us.
AUTH_TIMEOUT_PNC_RANGE_S = (1.0, 60.0)
_TLS_POLICIES = ("allow", "force", "prohibit")
_PROTOCOL_NAMES = ("din", "iso2")
_OCPP_VERSIONS = ("none", "1.6", "2.0.1")
#: Modbus RTU line speeds (drivers/modbus/link.py SERIAL_BAUDS).
_RTU_BAUDS = (9600, 19200, 38400, 57600, 115200)
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def _section(raw: LMap, key: str, file: str, allowed: dict[str, type]) -> dict[str, Any]:
    body = raw.get(key)
    if body is None:
        return {}
    if not isinstance(body, LMap):
        raise ConfigError(file, line_of(raw, key), f"section {key!r} must be a mapping")
    out: dict[str, Any] = {}
    for k, v in body.items():
        line = line_of(body, k)
        if k not in allowed:
            raise ConfigError(file, line, f"unknown key {key}.{k} (allowed: {sorted(allowed)})")
        want = allowed[k]
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if want is dict:
            if not isinstance(v, LMap):
                raise ConfigError(file, line, f"{key}.{k} must be a mapping")
            for pk, pv in v.items():
                if not isinstance(pv, int | float) or isinstance(pv, bool) or pv < 0:
                    raise ConfigError(
                        file, line_of(v, pk), f"{key}.{k}.{pk} must be seconds >= 0"
                    )
            v = {pk: float(pv) for pk, pv in v.items()}
        elif not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
            raise ConfigError(file, line, f"{key}.{k} must be {want.__name__}, got {v!r}")
        out[k] = v
    return out


def load_config(path: str | Path | None = None) -> StationConfig:
    """Load a station config (default: config/station.yaml)."""
    file = str(path or DEFAULT_CONFIG)
    try:
        raw = load_yaml(file)
    except YamlError as exc:
        raise ConfigError(exc.file, exc.line, exc.message) from exc
    if not isinstance(raw, LMap):
        raise ConfigError(file, 1, "a station config must be a mapping")
    for k in raw:
        if k not in _SECTIONS:
            raise ConfigError(file, line_of(raw, k), f"unknown section {k!r}")
    st = _section(raw, "station", file, {"name": str, "seed": int})
    board_name, board = _driver_section(raw, "board", PortKind.BOARD, "sim", file)
    if board_name == "mcu_uart" and board.get("device") is None:
        raise ConfigError(file, _line(raw, "board", "device"),
                          "board.driver mcu_uart needs board.device (the MCU's UART, e.g. "
                          "/dev/ttyAMA0)")
    cp = _section(
        raw,
        "cp",
        file,
        {
            "sample_period_ms": float,
            "hlc_enabled": bool,
            "ventilation_available": bool,
            "params": dict,
        },
    )
    if not 1.0 <= cp.get("sample_period_ms", 10.0) <= 20.0:
        # Debounce (3 samples) plus one period must stay well inside the 100 ms of
        # IEC 61851-1 Table A.6 seq. 8.1.
        raise ConfigError(
            file, line_of(raw.get("cp"), "sample_period_ms"), "cp.sample_period_ms must be 1..20"
        )
    return StationConfig(
        name=st.get("name", "sim-dc"),
        seed=st.get("seed", 1),
        board=_board_config(board_name, board),
        power=DriverSection(*_driver_section(raw, "power", PortKind.POWER,
                                             DEFAULT_POWER_DRIVER, file)),
        imd=DriverSection(*_driver_section(raw, "imd", PortKind.IMD, DEFAULT_IMD_DRIVER, file)),
        meter=DriverSection(*_driver_section(raw, "meter", PortKind.METER,
                                             DEFAULT_METER_DRIVER, file)),
        cp=CpSection(**cp),
        v2g=_v2g_section(raw, file),
        plc=_plc_section(raw, file),
        slac=_slac_section(raw, file),
        session=_session_section(raw, file),
        auth=_auth_section(raw, file),
        pnc=_pnc_section(raw, file),
        power_faults=_power_faults_section(raw, file),
        capture=_capture_section(raw, file),
        ocpp=_ocpp_section(raw, file),
        ems=_ems_section(raw, file),
        file=file,
    )


def _board_config(name: str, params: dict[str, object]) -> BoardConfig:
    sim = BoardConfig()
    merged = {k: params.get(k, getattr(sim, k)) for k in
              ("noise_v", "contactor_close_ms", "contactor_open_ms", "keepalive_timeout_ms")}
    section = DriverSection(name, merged)
    return BoardConfig(name, section.number("noise_v"), section.number("contactor_close_ms"),
                       section.number("contactor_open_ms"),
                       section.number("keepalive_timeout_ms"), params=dict(params))


def _driver_section(raw: LMap, key: str, kind: PortKind, default: str,
                    file: str) -> tuple[str, dict[str, object]]:
    """`key: {driver: NAME, PARAM: value, ...}` checked against the registry row of NAME:
    an unknown driver, a parameter NAME does not take, a wrong type or a value out of range
    is a ConfigError at the offending key's line."""
    body = raw.get(key)
    if body is None:
        return default, driver(kind, default).defaults()
    if not isinstance(body, LMap):
        raise ConfigError(file, line_of(raw, key), f"section {key!r} must be a mapping")
    try:
        info = driver(kind, body.get("driver", default))
        params = info.check({str(k): v for k, v in body.items() if k != "driver"})
    except DriverParamError as exc:
        line = line_of(body, exc.key) if exc.key in body else line_of(raw, key)
        raise ConfigError(file, line, exc.message) from None
    if kind is PortKind.POWER or kind is PortKind.IMD:
        _check_can(raw, key, params, file)
    if "baud" in params and kind in (PortKind.IMD, PortKind.METER) \
            and params["baud"] not in _RTU_BAUDS:
        raise ConfigError(file, _line(raw, key, "baud"),
                          f"{key}.baud must be one of {list(_RTU_BAUDS)}, got {params['baud']!r}")
    return info.name, params


def _check_can(raw: LMap, key: str, params: dict[str, object], file: str) -> None:
    """A socketcan bus is a device the operator names; a private virtual bus needs none."""
    if params.get("interface") == "socketcan" and params.get("channel") is None:
        raise ConfigError(file, _line(raw, key, "interface"),
                          f"{key}.interface socketcan needs {key}.channel (e.g. can0)")


def _line(raw: LMap, section: str, key: str) -> int:
    body = raw.get(section)
    return line_of(body, key) if isinstance(body, LMap) else line_of(raw, section)


def _raw_body(raw: LMap, key: str, file: str, allowed: set[str]) -> dict[str, Any]:
    body = raw.get(key)
    if body is None:
        return {}
    if not isinstance(body, LMap):
        raise ConfigError(file, line_of(raw, key), f"section {key!r} must be a mapping")
    for k in body:
        if k not in allowed:
            raise ConfigError(file, line_of(body, k),
                              f"unknown key {key}.{k} (allowed: {sorted(allowed)})")
    return dict(body.items())


def _v2g_section(raw: LMap, file: str) -> V2gSection:
    keys = {"tls_policy", "cert_chain", "private_key", "key_password", "max_payload_bytes",
            "tcp_port", "max_pending_connections", "communication_setup_s"}
    v = _raw_body(raw, "v2g", file, keys)
    policy = v.get("tls_policy", "allow")
    if policy not in _TLS_POLICIES:
        raise ConfigError(file, _line(raw, "v2g", "tls_policy"),
                          f"v2g.tls_policy must be one of {list(_TLS_POLICIES)}, got {policy!r}")
    out: dict[str, Any] = {"tls_policy": policy}
    for key in ("cert_chain", "private_key", "key_password"):
        value = v.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(file, _line(raw, "v2g", key), f"v2g.{key} must be a path or null")
        out[key] = value
    if (out["cert_chain"] is None) != (out["private_key"] is None):
        raise ConfigError(file, line_of(raw, "v2g"),
                          "v2g.cert_chain and v2g.private_key go together")
    if policy == "force" and out["cert_chain"] is None:
        raise ConfigError(file, _line(raw, "v2g", "tls_policy"),
                          "v2g.tls_policy force needs cert_chain and private_key")
    for key, low, high in (("max_payload_bytes", 64, 2**32 - 1), ("tcp_port", 1, 65535),
                           ("max_pending_connections", 1, 64)):
        value = v.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not low <= value <= high):
            raise ConfigError(file, _line(raw, "v2g", key),
                              f"v2g.{key} must be an integer {low}..{high} or null")
        out[key] = value
    setup = v.get("communication_setup_s")
    if setup is not None and (isinstance(setup, bool) or not isinstance(setup, int | float)
                              or not 0.1 <= setup <= 20.0):
        raise ConfigError(file, _line(raw, "v2g", "communication_setup_s"),
                          "v2g.communication_setup_s must be a number of seconds 0.1..20 or "
                          "null (null: 18 s, V2G_SECC_CommunicationSetup_Performance_Time)")
    out["communication_setup_s"] = None if setup is None else float(setup)
    return V2gSection(**out)


def _plc_section(raw: LMap, file: str) -> PlcSection:
    name, v = _driver_section(raw, "plc", PortKind.PLC, "none", file)
    mac = v["local_modem_mac"]
    if not isinstance(mac, str) or not _MAC_RE.match(mac):
        raise ConfigError(file, _line(raw, "plc", "local_modem_mac"),
                          f"plc.local_modem_mac must be a MAC aa:bb:cc:dd:ee:ff, got {mac!r}")
    iface = v["iface"]
    assert iface is None or isinstance(iface, str)
    return PlcSection(driver=name, iface=iface, local_modem_mac=mac.lower())


def _slac_section(raw: LMap, file: str) -> SlacSection:
    body = raw.get("slac")
    if body is None:
        return SlacSection()
    if not isinstance(body, LMap):
        raise ConfigError(file, line_of(raw, "slac"), "section 'slac' must be a mapping")
    enabled = body.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(file, line_of(body, "enabled"), "slac.enabled must be true or false")
    settings = {k: v for k, v in body.items() if k != "enabled"}
    try:
        slac_config_from_section(settings, b"\x00" * 6)
    except SlacUsageError as exc:
        key = next((k for k in settings if f"slac.{k}" in str(exc) or f"'{k}'" in str(exc)), None)
        line = line_of(body, key) if key is not None else line_of(raw, "slac")
        raise ConfigError(file, line, str(exc)) from exc
    return SlacSection(enabled=enabled, settings=settings)


def _session_section(raw: LMap, file: str) -> SessionSection:
    v = _raw_body(raw, "session", file, {"protocols", "ocpp", "auth_delay_s"})
    protocols = v.get("protocols", ["iso2", "din"])
    if (not isinstance(protocols, list) or not protocols
            or any(p not in _PROTOCOL_NAMES for p in protocols)
            or len(set(protocols)) != len(protocols)):
        raise ConfigError(file, _line(raw, "session", "protocols"),
                          f"session.protocols must be a list of {list(_PROTOCOL_NAMES)}")
    ocpp = v.get("ocpp", "1.6")
    if not isinstance(ocpp, str) or ocpp not in _OCPP_VERSIONS:
        raise ConfigError(file, _line(raw, "session", "ocpp"),
                          f"session.ocpp must be one of {list(_OCPP_VERSIONS)} (quoted)")
    delay = v.get("auth_delay_s", 1.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 60:
        raise ConfigError(file, _line(raw, "session", "auth_delay_s"),
                          "session.auth_delay_s must be seconds 0..60")
    return SessionSection(protocols=tuple(protocols), ocpp=ocpp, auth_delay_s=float(delay))


def _auth_section(raw: LMap, file: str) -> AuthSection:
    v = _raw_body(raw, "auth", file, {"timeout_eim_s", "timeout_pnc_s"})
    out: dict[str, float] = {}
    for key, (low, high) in (("timeout_eim_s", AUTH_TIMEOUT_EIM_RANGE_S),
                             ("timeout_pnc_s", AUTH_TIMEOUT_PNC_RANGE_S)):
        if key not in v:
            continue
        value = v[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                low <= value <= high):
            raise ConfigError(file, _line(raw, "auth", key),
                              f"auth.{key} must be seconds {low:g}..{high:g}, got {value!r}")
        out[key] = float(value)
    return AuthSection(**out)
_PNC_KEYS = {"trust_store_dir": "pnc_trust_store_dir", "seed_roots": "pnc_seed_roots",
             "offline_policy": "pnc_offline_policy"}


def _pnc_section(raw: LMap, file: str) -> PncSection:
    """Checked by the controller's own validation (one decision in one place): a bad
    value is reported at the line of the key it names."""
    from evse.controller.config import config_from_mapping
    from evse.controller.errors import ControllerUsageError

    v = _raw_body(raw, "pnc", file, set(_PNC_KEYS))
    if v.get("trust_store_dir") is None:
        v.pop("trust_store_dir", None)
    mapped: dict[str, object] = {_PNC_KEYS[k]: value for k, value in v.items()}
    seed_map = mapped.get("pnc_seed_roots")
    if isinstance(seed_map, dict):  # LMap/LList -> plain dict/list for the controller
        mapped["pnc_seed_roots"] = {str(t): list(files) if isinstance(files, list) else files
                                    for t, files in seed_map.items()}
    try:
        cfg = config_from_mapping(mapped)
    except ControllerUsageError as exc:
        text = str(exc)
        key = next((k for k, c in _PNC_KEYS.items() if c in text), None)
        line = _line(raw, "pnc", key) if key else line_of(raw, "pnc")
        seeds = raw["pnc"].get("seed_roots") if isinstance(raw.get("pnc"), LMap) else None
        if isinstance(seeds, LMap):  # point at the root type the message names
            kind = next((t for t in seeds if f"pnc_seed_roots.{t}:" in text), None)
            line = line_of(seeds, kind) if kind is not None else line
        raise ConfigError(file, line, text.replace("controller.pnc_", "pnc.")) from None
    return PncSection(trust_store_dir=cfg.pnc_trust_store_dir,
                      seed_roots=cfg.pnc_seed_roots, offline_policy=cfg.pnc_offline_policy)
