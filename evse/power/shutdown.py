"""Named time bounds of the two shutdown paths.

Error shutdown: ramp the current down, switch the modules off, wait for the current to stop,
then open. Emergency shutdown: modules off and contactors open in the same instant.
"""

from __future__ import annotations

#: Error shutdown ramps the current setpoint to zero over this time [assumed; short against
#: the 1 s bound below].
ERROR_RAMP_DOWN_NS = 200_000_000
#: Current must be below SAFE_OPEN_CURRENT_A within 1 s (IEC 61851-23 CC.4.1.2: < 5 A within
#: 1 s, hardware.md §2.5 step 6; module turn-off <= 1 s, §6.2). After this the contactors are
#: opened even without confirmation, and the fault says so.
ERROR_CURRENT_OFF_BOUND_NS = 1_000_000_000
SAFE_OPEN_CURRENT_A = 5.0
#: Contactor actuation plus feedback is 20-50 ms (hardware.md §6.2); allow twice the top.
CONTACTOR_FEEDBACK_BOUND_NS = 100_000_000
#: Contactors are physically open this long after an error is detected, at the latest.
ERROR_SHUTDOWN_OPEN_BOUND_NS = ERROR_CURRENT_OFF_BOUND_NS + CONTACTOR_FEEDBACK_BOUND_NS
#: Emergency: open commanded in the same call; open within 100 ms, the strictest opening time
#: in the references (IEC 61851-1 Table A.6 seq. 8.1, timing.md §1).
EMERGENCY_OPEN_BOUND_NS = 100_000_000
#: Software over-voltage must persist this long before an error shutdown
#: (EVerest internal_over_voltage_duration_ms, timing.md §7).
INTERNAL_OVER_VOLTAGE_DURATION_NS = 400_000_000


def emergency_over_voltage_v(ev_max_voltage_v: float) -> float:
    """IEC 61851-23 Table 103 as quoted in hardware.md §2.5 "Emergency OVP"."""
    if ev_max_voltage_v > 1000.0:
        return 1375.0
    if ev_max_voltage_v > 850.0:
        return 1100.0
    if ev_max_voltage_v > 750.0:
        return 935.0
    if ev_max_voltage_v > 500.0:
        return 825.0
    return 550.0
