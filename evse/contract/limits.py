"""The limits in force on the CurrentDemand path, and what the charge loop made of a request.

One record, `EvseLimits`, flows the whole way: the contract guard makes it (hardware rating
min the controller's ctrl.evse_limits_dynamic, the safe default, or derated to zero once a
stop is requested; `PlcContractGuard.effective_limits`), the power path caps it by what its
devices can do now (modules, cable, temperature) and clamps every request with it
(`evse.power.current_loop.clamp_request`), and the SECC reports it as EVSEMaximum*Limit.
"Derated to zero" is the explicit `source` DERATED_TO_ZERO (`derated`), never a magic
timestamp. The clamp's `DemandClamp` is the one place the EVSE*LimitAchieved flags are
decided; the SECC copies them into CurrentDemandRes ([V2G2-xxx] CurrentDemandRes,
DIN SPEC 70121 [V2G-DC-...]).

Defined here, in a shared core, because the three users sit in layers that may not import
each other sideways (evse/devtools/layers.py): the guard (evse.contract), the power path
(evse.power) and the SECC (evse.secc).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class LimitsSource(enum.Enum):
    """Where the envelope in force comes from."""

    RATED = "rated"  # the hardware rating alone (CPD, or no envelope fed to the power path)
    CONTROLLER = "controller"  # ctrl.evse_limits_dynamic within its validity
    SAFE_DEFAULT = "safe_default"  # derated rating while the controller is silent (C2.2)
    DERATED_TO_ZERO = "derated_to_zero"  # a stop is requested: 0 A, 0 W (C2.3)


@dataclass(frozen=True, slots=True)
class EvseLimits:
    """The envelope in force: EVSEMaximum{Voltage,Current,Power}Limit, EVSEMinimum*Limit,
    with its origin and expiry (a silent controller stops the charge after a bounded time,
    ccs2_dc_reference.md P0 item 6)."""

    max_voltage_v: float
    max_current_a: float
    max_power_w: float
    min_current_a: float
    source: LimitsSource
    #: None: no expiry of its own (the rating, or derated to zero until the session ends).
    valid_until_ns: int | None = None
    #: EVSEMinimumVoltageLimit of ChargeParameterDiscoveryRes; a CurrentDemand target below
    #: it is raised to it (the battery voltage at least).
    min_voltage_v: float = 0.0

    @property
    def derated(self) -> bool:
        """A stop is requested: the envelope is 0 A / 0 W until the session ends."""
        return self.source is LimitsSource.DERATED_TO_ZERO

    def valid_at(self, now_ns: int) -> bool:
        return self.valid_until_ns is None or now_ns < self.valid_until_ns

    def capped(self, voltage_v: float, current_a: float, power_w: float) -> EvseLimits:
        """This envelope, never above what the devices can do right now."""
        return replace(self, max_voltage_v=min(self.max_voltage_v, voltage_v),
                       max_current_a=min(self.max_current_a, current_a),
                       max_power_w=min(self.max_power_w, power_w))


@dataclass(frozen=True, slots=True)
class DemandClamp:
    """The one answer of the charge loop to a CurrentDemandReq: the setpoint it regulates
    to (before the ramp) and which limit bound it, under `limits`. The SECC reports these
    flags as EVSECurrentLimitAchieved / EVSEVoltageLimitAchieved / EVSEPowerLimitAchieved
    and `limits` as the maxima, so what the car is told is what the loop regulates to."""

    voltage_v: float
    current_a: float
    current_limit_achieved: bool
    voltage_limit_achieved: bool
    power_limit_achieved: bool
    limits: EvseLimits

    @property
    def achieved(self) -> tuple[bool, bool, bool]:
        """(current, voltage, power) in the order the message builders take them."""
        return (self.current_limit_achieved, self.voltage_limit_achieved,
                self.power_limit_achieved)
