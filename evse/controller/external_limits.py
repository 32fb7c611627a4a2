"""The station's external-limit input (2.0.1 K11-K13): what an energy-management system or
the grid operator says, as commands for `Controller.set_external_limit` /
`clear_external_limit`. Sans-IO: the socket and the scenario clock live in
`evse/runtime/ems_input.py`.

Two drivers feed it (`ems.driver` in the station config):

* `sim`: a script of steps at scenario times (`{at_s, limit_w | limit_a | null}`), for
  simulation and tests.
* `udp_json`: one JSON object per UDP datagram, `{"limit_w": 11000}` (or `"limit_a"`),
  `{"limit_w": null}` to release. Why this one for integrators: the usual site controllers
  (Node-RED, Home Assistant, a PLC or Python script reading the house meter) can all send a
  datagram in one line, there is no connection state to lose, and every datagram is the
  whole truth (a lost one is repaired by the next); a Modbus-register or EEBus input would
  need a server or a stack on our side and is left for later. The datagram carries no
  authentication: bind it to a trusted interface (default 127.0.0.1).

A datagram that is not such an object is refused with `EmsInputError` (the adapter logs
and drops it); it never reaches the controller.

Fail-safe (the chart fsm_specs/ems_failsafe.yaml, run by evse/controller/ems_failsafe.py):
an EMS that goes silent must not leave the station at whatever it last said (a limit the
grid no longer needs, or no limit while the grid needs one). The behaviour is EEBus UC
LPC's (Limitation of Power Consumption, the use case the German §14a EnWG control boxes
speak): when no heartbeat arrives within the heartbeat timeout
(LPC: 120 s) the controllable system enters its failsafe state and applies its "Failsafe
Consumption Active Power Limit" until the energy manager speaks again. Here every valid
datagram is the heartbeat (each one is the whole truth), the timeout is
`ems.failsafe_timeout_s` and the limit `ems.failsafe_limit_w` / `failsafe_limit_a`
(default 4200 W, the minimum power a controlled load keeps under §14a EnWG, BNetzA
BK6-22-300, the LPC value evcc ships). OCPP 2.0.1 has no timeout of its own for an
external input: the fail-safe limit is an external limit like any other, so the CSMS gets
NotifyChargingLimit (K12), and ChargingRateChanged during a transaction (K11). LPC's
"Failsafe Duration Minimum" (`ems.failsafe_duration_min_s`, default 2 h, LPC-022 2..24 h)
is where the fail-safe ends when the EMS stays silent: after it the fail-safe limit is
released (LPC-922: "unlimited/autonomous"; here a ClearedChargingLimit, K13) until the EMS
speaks again; 0 holds it until then. An EMS that speaks again ends the fail-safe at once
(LPC-916: a heartbeat and a new limit; every datagram is both here).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from evse.controller.smart_charging import ExternalLimit, LimitSource, Period

#: The most a JSON datagram may carry (a limit is ~30 bytes; anything large is not ours).
MAX_DATAGRAM_BYTES = 512


class EmsInputError(ValueError):
    """An EMS message that is not a limit we understand (typed: the adapter drops it)."""


@dataclass(frozen=True, slots=True)
class EmsCommand:
    """Set a limit (`limit` with `unit`), or release it (`limit` None), for `source`."""

    limit: float | None
    unit: str = "W"
    source: LimitSource = LimitSource.EMS

    def external_limit(self) -> ExternalLimit | None:
        if self.limit is None:
            return None
        return ExternalLimit(self.source, (Period(0, self.limit),), self.unit)


def command_from(obj: object, source: LimitSource = LimitSource.EMS) -> EmsCommand:
    """`{"limit_w": W}` / `{"limit_a": A}` / either one null (release); nothing else."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise EmsInputError("an EMS message is one object with limit_w or limit_a")
    ((key, value),) = obj.items()
    if key not in ("limit_w", "limit_a"):
        raise EmsInputError(f"unknown EMS field {key!r} (limit_w | limit_a)")
    if value is None:
        return EmsCommand(None, source=source)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value < 0:
        raise EmsInputError(f"{key} must be a number >= 0 or null, got {value!r}")
    return EmsCommand(float(value), "W" if key == "limit_w" else "A", source)


def parse_datagram(data: bytes, source: LimitSource = LimitSource.EMS) -> EmsCommand:
    """One `udp_json` datagram as a command (EmsInputError when it is not one)."""
    if len(data) > MAX_DATAGRAM_BYTES:
        raise EmsInputError(f"datagram of {len(data)} bytes (at most {MAX_DATAGRAM_BYTES})")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EmsInputError(f"not JSON: {exc}") from None
    return command_from(obj, source)
