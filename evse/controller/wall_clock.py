"""The controller's wall clock: the configured epoch plus the correction the CSMS gives.

Why it exists: every timestamp the controller sends (TransactionEvent, MeterValues,
StatusNotification, security events) and every wall-clock decision it takes (reservation
expiry, clock-aligned sampling, scheduled firmware, certificate validity) must follow the
CSMS's clock, which a station learns from the `currentTime` of BootNotificationResponse
and HeartbeatResponse (OCPP 2.0.1 per B01/G02; 1.6 §4.2 BootNotification: "RECOMMENDED to
synchronize its internal clock with the supplied Central System's current time", §4.6
Heartbeat). The core never reads the OS clock: the wall time is `epoch_unix_s` (the
composition root's origin of the scheduler clock) + the adopted correction + `now_ns`
(the scheduler's time), so "the CSMS's time + the elapsed scheduler time" after a step.

The correction is a step, not a slew: a station that boots with the wrong date must send
the right one in its next message. A difference within `SYNC_TOLERANCE_NS` is left alone:
`currentTime` is most often whole seconds and is stamped before the network delay, so a
smaller correction would only move our millisecond timestamps back and forth (and
backwards) at every Heartbeat without making them more right.

A malformed `currentTime` (the schema's `format: date-time` is not checked by the JSON
schema validation; a CSMS may send anything in the string) changes nothing: it is logged
as a warning and reported to the caller as `ClockSync.MALFORMED`, never raised.
"""

from __future__ import annotations

import enum
import logging
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
#: Differences up to this are not corrected (see the module doc: whole-second currentTime
#: plus the network delay).
SYNC_TOLERANCE_NS = 2 * NS_PER_S
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ClockSync(enum.Enum):
    """What `WallClock.adopt` did with a currentTime."""

    STEPPED = "stepped"
    WITHIN_TOLERANCE = "within_tolerance"
    MALFORMED = "malformed"


def parse_current_time(value: object) -> int | None:
    """An RFC 3339 date-time (OCPP's dateTime: `2026-01-01T00:00:00Z`, fractional
    seconds and a numeric offset allowed) as Unix nanoseconds; None when it is not one.
    A time without an offset is refused: its zone is unknown, and guessing UTC would step
    the clock by hours on a CSMS that sends local time."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return (parsed - _UNIX_EPOCH) // timedelta(microseconds=1) * 1000


class WallClock:
    """Unix time for the core, from the scheduler's `now_ns` (never from the OS)."""

    def __init__(self, epoch_unix_s: int) -> None:
        self._epoch_unix_ns = epoch_unix_s * NS_PER_S
        #: The CSMS's clock minus ours at the last step (0 until one).
        self.offset_ns = 0

    def unix_ns(self, now_ns: int) -> int:
        return self._epoch_unix_ns + self.offset_ns + now_ns

    def adopt(self, current_time: object, now_ns: int, source: str) -> ClockSync:
        """Take the CSMS's `current_time` (from `source`, e.g. "BootNotificationResponse")
        as the wall time at `now_ns`."""
        csms_ns = parse_current_time(current_time)
        if csms_ns is None:
            log.warning("%s: currentTime %r is not an RFC 3339 date-time with an offset; "
                        "the clock is left as it is", source, current_time)
            return ClockSync.MALFORMED
        step_ns = csms_ns - self.unix_ns(now_ns)
        if abs(step_ns) <= SYNC_TOLERANCE_NS:
            return ClockSync.WITHIN_TOLERANCE
        self.offset_ns += step_ns
        log.info("%s: wall clock stepped by %.3f s to the CSMS's %s", source,
                 step_ns / NS_PER_S, current_time)
        return ClockSync.STEPPED
