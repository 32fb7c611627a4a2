"""Registry of known real-car deviations and the tolerance the SECC grants each.

Why a registry and not global leniency: every tolerance weakens a check the standards ask
for, so each one names the car(s), what they send, what we do about it and the test that
proves it (tests/secc/test_quirks.py). An entry matches on the car's EVCCID (or its MAC
vendor prefix), the negotiated protocol and the situation (state + message); `None` is a
wildcard, used only where the deviation is seen from many makes (the source says so).

Sources: /work/shared/reference/interop_failures.md §1, §2 (copied facts, our wording).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evse.secc.env import AppProtocol


class Deviation(enum.Enum):
    EARLY_SESSION_STOP = "SessionStopReq before PowerDelivery(Stop)"
    EV_NOT_READY_BEFORE_CABLE_CHECK = "EVReady=False in CPD/CableCheck"
    TARGET_BELOW_BATTERY = "EVTargetVoltage/Current below battery voltage or negative"
    REPEATED_REQUEST = "same request repeated after it was answered"
    NO_CABLE_CHECK_AFTER_CPD = "stalls after ChargeParameterDiscovery"
    SHORT_SESSION_ID = "SessionID of fewer than 8 bytes"
    DIN_STOP_BY_STATUS_ONLY = "DIN stop only understood as EVSE_Shutdown"
    TLS_THEN_TCP = "asks for TLS in SDP, proceeds on TCP when offered"
    EARLY_POWER_DELIVERY_STOP = "PowerDelivery(Stop) before ChargeParameterDiscovery"


@dataclass(frozen=True, slots=True)
class Quirk:
    name: str  # the car(s)
    deviation: Deviation
    tolerance: str  # what the SECC does about it
    source: str  # interop_failures.md row
    test: str  # the test proving the tolerance
    evccid_prefix: bytes | None = None  # EVCCID / MAC OUI prefix; None: any car
    protocol: AppProtocol | None = None  # None: any protocol
    states: tuple[str, ...] = ()  # chart states where it applies; () = any
    #: True: the tolerance is what the standard asks anyway (applied to every car; the
    #: entry records which car broke stricter stacks). False: a real deviation, tolerated
    #: only when the entry matches (the chart's guard asks the registry).
    standard: bool = False


@dataclass(frozen=True, slots=True)
class QuirkContext:
    evccid: bytes
    protocol: AppProtocol | None
    state: str


QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        "Audi Q4 e-tron (ISO-2)", Deviation.EARLY_SESSION_STOP,
        "accept SessionStopReq right after SessionSetup/ServiceDiscovery, answer OK, end",
        "interop_failures.md §1 Audi Q4 (EcoG-io/iso15118#432)",
        "test_audi_q4_session_stop_after_session_setup_is_answered_ok",
        evccid_prefix=bytes.fromhex("007dfa"),  # VW group OUI (Audi Q4 EVCCIDs in captures)
        protocol=AppProtocol.ISO15118_2,
        states=("wait_service_discovery", "wait_payment_selection"),
    ),
    Quirk(
        "Mahindra XUV400", Deviation.EARLY_SESSION_STOP,
        "accept SessionStopReq after ChargeParameterDiscovery, answer OK, end",
        "interop_failures.md §1 Mahindra XUV400 (Sevenstax/FreeV2G#170)",
        "test_session_stop_after_cpd_is_answered_ok",
        states=("cable_check",),
    ),
    Quirk(
        "Seres 3 (DC); in captures also Tesla Model Y, Polestar 2, Renault Zoe, Opel Ampera-E "
        "aborting in PreCharge", Deviation.EARLY_SESSION_STOP,
        "accept SessionStopReq after CableCheck / during PreCharge, answer OK, end",
        "interop_failures.md §1 Seres 3 (EcoG-io/iso15118#184)",
        "test_session_stop_after_cable_check_is_answered_ok",
        states=("precharge",),
    ),
    Quirk(
        "VW ID.4 (and nearly every car in tests/data/secc/cars.json)",
        Deviation.EV_NOT_READY_BEFORE_CABLE_CHECK,
        "ignore EVReady=False before CableCheck ([V2G-DC-639]); never treat as error",
        "interop_failures.md §1 VW ID.4 (Sevenstax/FreeV2G#58)",
        "test_ev_not_ready_in_cpd_is_not_an_error",
        states=("charge_parameters", "cable_check"), standard=True,
    ),
    Quirk(
        "Skoda Enyaq; Hyundai Ioniq 28kWh (pyPLC captures)", Deviation.TARGET_BELOW_BATTERY,
        "clamp negative target current to 0 A and target voltage below the measured "
        "voltage to the measured voltage at the start of CurrentDemand",
        "interop_failures.md §1 Skoda Enyaq (EvseManager hack_skoda_enyaq)",
        "test_negative_target_current_is_clamped_not_failed",
        states=("charging",), standard=True,
    ),
    Quirk(
        "Hyundai Ioniq 28kWh (Compleo/Alpitronic captures)", Deviation.REPEATED_REQUEST,
        "answer a repeated ChargeParameterDiscoveryReq/PreChargeReq again instead of "
        "FAILED_SequenceError",
        "interop_failures.md §7 theme 1 (sequence rigidity)",
        "test_repeated_cpd_is_answered_again",
        evccid_prefix=bytes.fromhex("e00ee1"),  # Hyundai OUI of the Ioniq 28kWh captures
        states=("cable_check", "precharge"),
    ),
    Quirk(
        "Subaru Solterra (0 bytes), Seres 3 (6 bytes), Citroen/Opel (stale 8-byte IDs)",
        Deviation.SHORT_SESSION_ID,
        "accept any SessionID of 0..8 bytes in SessionSetupReq; an unknown one starts a new "
        "session; we always assign 8 bytes",
        "interop_failures.md §2 (pyPLC bug_analysis Issue 18)",
        "test_session_setup_accepts_short_session_ids", standard=True,
    ),
    Quirk(
        "Volvo XC40 (DIN)", Deviation.DIN_STOP_BY_STATUS_ONLY,
        "signal charger-initiated stop in DIN by EVSE_Shutdown only, EVSENotification=None",
        "interop_failures.md §1 Volvo XC40 (Sevenstax/FreeV2G#309, [V2G-DC-500])",
        "test_din_charger_stop_uses_status_code_never_notification",
        protocol=AppProtocol.DIN70121, standard=True,
    ),
    Quirk(
        "Hyundai Ioniq 28kWh (bench capture ioniq28 CCM_SPI_powerOn_and_SLAC_until_"
        "contractAuth)", Deviation.EARLY_POWER_DELIVERY_STOP,
        "answer a PowerDeliveryReq(ReadyToChargeState=False / Stop) right after "
        "authorization like any stop: output stays off, OK, welding detection, SessionStop",
        "capture (car aborts after ContractAuthentication; pyPLC answered OK); a stop "
        "request is always safe to honour",
        "test_power_delivery_stop_right_after_authorization_is_honoured",
        states=("charge_parameters",), standard=True,
    ),
    Quirk(
        "Tesla Model X, Kia EV3, Audi Q4, VW ID.4/ID.Buzz", Deviation.TLS_THEN_TCP,
        "SDP under TLS policy `allow` answers with what we offer; the car proceeds on TCP "
        "(handled by evse/sdp; the SECC accepts the session on either transport)",
        "interop_failures.md §1 Tesla Model X (uhi22/pyPLC PR #42); issue 4 item 1",
        "test_ev_sim_tls_then_tcp_profile_completes_a_session", standard=True,
    ),
)


def find(deviation: Deviation, ctx: QuirkContext,
         registry: tuple[Quirk, ...] = QUIRKS) -> Quirk | None:
    """The registry entry that tolerates `deviation` for this car in this state, if any."""
    for q in registry:
        if q.deviation is not deviation:
            continue
        if q.evccid_prefix is not None and not ctx.evccid.startswith(q.evccid_prefix):
            continue
        if q.protocol is not None and q.protocol is not ctx.protocol:
            continue
        if q.states and not set(ctx.state.split(".")) & set(q.states):
            continue
        return q
    return None
