"""Timing constants of the SECC application layer, each with its source.

Values come from /work/shared/reference/timing.md (public code constants and conformance
test re-implementations; the standards themselves are not quoted). Where sources disagree
the choice is explained next to the constant.
"""

from __future__ import annotations

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

# The authorization waits are chart params (fsm_specs/secc_*.yaml t_auth_eim 300 s,
# t_auth_pnc 55 s = V2G_SECC_Ongoing_Performance_Time; timing.md §4, §7), not constants here.

#: SECC budget for the whole CableCheck (chart param t_cable_check): the EVCC's nominal
#: timeout is 40 s (timing.md §4) but real cars waited up to 55 s with EVerest (Hyundai Kona
#: 2017, Tesla Model Y; tests/data/secc/cars.json), so the SECC gives up only at the
#: sequence timeout, 60 s. (A Porsche Taycan gives up after < 20 s: the power path must
#: finish the isolation test well before; interop_failures.md §1.)
CABLE_CHECK_TIMEOUT_NS = 60 * S

#: V2G_EVCC_PreCharge_Timeout = 7 s (ISO-2 and DIN; timing.md §4/§5). The EV owns this
#: timer; the SECC only reports the measured voltage each round.
EV_PRECHARGE_TIMEOUT_NS = 7 * S

#: How long a deferred PowerDelivery(Start) answer may wait for contactors + output ready
#: before we answer FAILED_PowerDeliveryNotApplied: just inside the per-protocol
#: performance times above.
POWER_DELIVERY_READY_TIMEOUT_ISO_NS = PERF_POWER_DELIVERY_ISO_NS - 100 * MS
POWER_DELIVERY_READY_TIMEOUT_DIN_NS = PERF_POWER_DELIVERY_DIN_NS - 100 * MS

#: How often the SECC looks at the environment while an answer is deferred (power-ready).
ENV_POLL_PERIOD_NS = 5 * MS

#: Limits watchdog: limits older than this are treated as lost, the SECC derates to 0 A
#: and stops (ccs2_dc_reference.md C2.3 "no refresh for > 1-5 s"; P0 item 6).
LIMITS_VALIDITY_NS = 5 * S

#: EVSE-initiated stop grace period: after signalling StopCharging/EVSE_Shutdown the car
#: has this long to send PowerDelivery(Stop) before we answer FAILED (EvseV2G: 10 s,
#: ISO15118_chargerImpl.cpp; timing.md §4).
EVSE_STOP_GRACE_NS = 10 * S

#: NotificationMaxDelay we announce with EVSENotification (seconds, [V2G2-??] field):
#: the car must react within this time; equal to the grace period.
NOTIFICATION_MAX_DELAY_S = 10

#: PreCharge is "done" when |EVTargetVoltage - measured| is within this (EVerest/pyPLC use
#: 10-20 V; ccs2_dc_reference.md S10 "precharge_accuracy").
PRECHARGE_ACCURACY_V = 20.0

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
