"""Timing constants of the SECC application layer, each with its source.

Values come from /work/shared/reference/timing.md (public code constants and conformance
test re-implementations; the standards themselves are not quoted). Where sources disagree
the choice is explained next to the constant.
"""

from __future__ import annotations

from evse.contract.definition import DEFINITION

MS = 1_000_000
S = 1_000 * MS

#: V2G_SECC_Sequence_Timeout [V2G2-443], DIN Table 75: no request for 60 s ends the session.
#: timing.md §4 and §5 (EVerest, Josev, RISE-V2G, ISO 15118-4 test set all agree).
SEQUENCE_TIMEOUT_NS = 60 * S

#: V2G_SECC_CommunicationSetup_Performance_Time [V2G2-714]: connection to
#: supportedAppProtocolReq. timing.md §3 (18 s; Josev's 20 s is its TODO).
COMMUNICATION_SETUP_TIMEOUT_NS = 18 * S

#: V2G_SECC_Msg_Performance_Time for CurrentDemandRes: 25 ms (DIN Table 75 quoted in
#: EcoG-io/iso15118#157; timing.md §4). Logged as an overrun when exceeded.
PERF_CURRENT_DEMAND_NS = 25 * MS
#: V2G_SECC_Msg_Performance_Time for PowerDeliveryRes: 4.5 s [V2G2-862/865] (ISO-2;
#: EvseV2G comment, timing.md §4).
PERF_POWER_DELIVERY_ISO_NS = 4_500 * MS
#: DIN PowerDelivery: the EVCC waits only 2 s (Josev din_spec/timeouts.py, timing.md §5;
#: FreeV2G#250 reports sessions lost above ~1.5 s), so we must answer within 1.5 s.
PERF_POWER_DELIVERY_DIN_NS = 1_500 * MS
#: V2G_SECC_Msg_Performance_Time of the other messages: 1.5 s (evcc-io/evcc PR #31468,
#: timing.md §4; not confirmed by an anchor, but below every EVCC timeout of 2 s).
PERF_DEFAULT_NS = 1_500 * MS

# The timers the charts own are chart params, not constants here (fsm_specs/secc_*.yaml,
# each with its source): t_auth_eim 300 s and t_auth_pnc 55 s (authorization waits),
# t_cable_check 60 s (the whole CableCheck), t_power_ready (PowerDelivery(Start) waiting for
# contactors and output: 1.4 s DIN, inside the performance times above), t_output_off,
# t_certificate_answer. The EV's own timers (V2G_EVCC_PreCharge_Timeout, CableCheck 40 s)
# live in the EV simulator (evse/ev/sim.py).

#: How often the SECC looks at the environment while an answer is deferred (power-ready).
ENV_POLL_PERIOD_NS = 5 * MS

#: EVSE-initiated stop grace period: after signalling StopCharging/EVSE_Shutdown the car
#: has this long to send PowerDelivery(Stop) before we answer FAILED (EvseV2G: 10 s,
#: ISO15118_chargerImpl.cpp; timing.md §4). The same bound as the contract guard's
#: `controlled_stop_timeout` (evse/contract/signals.yaml), read from there so the SECC and
#: the guard can never disagree on how long a car may ignore a stop.
EVSE_STOP_GRACE_NS = DEFINITION.bound_ns("controlled_stop_timeout")

#: NotificationMaxDelay we announce with EVSENotification (seconds, [V2G2-??] field):
#: the car must react within this time; equal to the grace period.
NOTIFICATION_MAX_DELAY_S = 10

#: How long the SECC waits for the CSMS's CertificateInstallationRes/UpdateRes before it
#: answers FAILED itself: the EV waits V2G_EVCC_Msg_Timeout = 5 s for these (timing.md §4,
#: J-2/R/T4 agree) and ISO 15118-2 has no EVSEProcessing=Ongoing for them, so the answer
#: must leave 0.5 s for EXI, TLS and the link (same bound as the contract's
#: pnc_cert_answer_timeout).
CERTIFICATE_ANSWER_TIMEOUT_NS = 4_500 * MS

#: Performance time per response message name (what the SECC supervises and logs).
def performance_time_ns(message: str, din: bool) -> int:
    if message == "CurrentDemandRes":
        return PERF_CURRENT_DEMAND_NS
    if message == "PowerDeliveryRes":
        return PERF_POWER_DELIVERY_DIN_NS if din else PERF_POWER_DELIVERY_ISO_NS
    if message in ("CertificateInstallationRes", "CertificateUpdateRes"):
        return CERTIFICATE_ANSWER_TIMEOUT_NS
    return PERF_DEFAULT_NS
