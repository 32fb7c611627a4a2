"""ISO 15118-3 SLAC durations and counts that are not chart state timers.

The chart (fsm_specs/slac_evse.yaml) owns the connector-wide timers. These are armed per
matching session by the handler, on the frame the standard names, and are never restarted by
another session's frames (slac_notes.md §3). Integer nanoseconds throughout.
"""

from __future__ import annotations

from typing import Final

NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000

# ISO 15118-3 TT_match_sequence: after our CM_SLAC_PARM.CNF the car's next request
# (CM_START_ATTEN_CHAR.IND) must follow within this; timing.md §2.
TT_MATCH_SEQUENCE_NS: Final = 400 * NS_PER_MS
# ISO 15118-3 TT_match_response: the car answers CM_ATTEN_CHAR.IND with CM_ATTEN_CHAR.RSP
# within this, else we repeat the indication; timing.md §2.
TT_MATCH_RESPONSE_NS: Final = 200 * NS_PER_MS
# ISO 15118-3 TT_EVSE_match_MNBC: sounding window from the first CM_START_ATTEN_CHAR.IND;
# announced as TimeOut 6 (x100 ms) in CM_SLAC_PARM.CNF; timing.md §2.
TT_EVSE_MATCH_MNBC_NS: Final = 600 * NS_PER_MS
TT_EVSE_MATCH_MNBC_100MS: Final = 6
# ISO 15118-3 TP_EVSE_avg_atten_calc <= 100 ms; EVerest waits 45 ms after the last sound
# so the modem's CM_ATTEN_PROFILE.IND for it can arrive (FINALIZE_SOUNDING_DELAY_MS);
# timing.md §2.
FINALIZE_SOUNDING_NS: Final = 45 * NS_PER_MS
# ISO 15118-3 TT_EVSE_match_session: after CM_ATTEN_CHAR.RSP, wait this long for
# CM_VALIDATE.REQ or CM_SLAC_MATCH.REQ; timing.md §2.
TT_EVSE_MATCH_SESSION_NS: Final = 10 * NS_PER_S
# ISO 15118-3 TT_EVSE_vald_toggle: window in which B/C toggles are counted; timing.md §2.
TT_EVSE_VALD_TOGGLE_NS: Final = 3500 * NS_PER_MS
# ISO 15118-3 TP_match_response: the EVSE's own processing bound for every SLAC answer
# (CM_SLAC_PARM.CNF, CM_SLAC_MATCH.CNF), tighter than the car's TT_match_response; timing.md §2.
TP_MATCH_RESPONSE_NS: Final = 100 * NS_PER_MS
# Time reserved inside TP_match_response for decoding, encoding and the socket once an early
# request is replayed (project budget; the bench answers in < 2 ms, bench/slac_bench.py).
EARLY_PARM_ANSWER_BUDGET_NS: Final = 20 * NS_PER_MS
# How old a CM_SLAC_PARM.REQ received before SLAC may answer (before the 5 % PWM, or while the
# fresh key is being set) may be and still be answered when SLAC becomes ready: the answer
# must still leave within TP_match_response of the request. An older one is dropped; the car
# repeats it after TT_match_response (Ioniq, Tesla every ~200 ms; slac_notes.md §3).
EARLY_PARM_MAX_AGE_NS: Final = TP_MATCH_RESPONSE_NS - EARLY_PARM_ANSWER_BUDGET_NS
# ISO 15118-3 T_step_EF >= 4 s: how long the controller holds E/F in the retry sequence;
# timing.md §2.
T_STEP_EF_NS: Final = 4 * NS_PER_S

# ISO 15118-3 C_EV_match_MNBC: sounds we ask for in CM_SLAC_PARM.CNF; timing.md §2.
C_EV_MATCH_MNBC: Final = 10
# ISO 15118-3 C_sequ_retry: E/F + 5 % retry sequences after TT_EVSE_SLAC_init; timing.md §2
# (PS/tux quote 2; libslac's tool uses 3).
C_SEQU_RETRY: Final = 2
# ISO 15118-3 C_EV_match_retry: repetitions of CM_ATTEN_CHAR.IND without a response;
# timing.md §2.
C_MATCH_RETRY: Final = 2
# Vendor: CM_SET_KEY is retried on timeout or a bad result (EVerest PR #2324, QCA7005;
# interop_failures.md §3).
C_SET_KEY_RETRY: Final = 2
# ISO 15118-3 C_EVSE_match_parallel: sessions at once (T4S uses 5; timing.md §2).
C_EVSE_MATCH_PARALLEL: Final = 5
