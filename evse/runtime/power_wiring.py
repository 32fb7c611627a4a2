"""Where the power path's commands go: the module group, the IMD and the contactors.

One dispatch for every composition (the station, the power test rig), so a new command type
is wired once. Contactors are a callback because who drives them differs: in the station the
pilot chart grants them (IEC 61851 interlock), in the power rig the contactor model directly.
"""

from __future__ import annotations

from collections.abc import Callable

from evse.ports.imd import IsolationMonitor
from evse.ports.power import PowerModuleGroup
from evse.power.types import (
    DisableModules,
    EnableModules,
    ImdSelfTest,
    ImdStart,
    ImdStop,
    PowerCommand,
    SetContactors,
    SetModuleOutput,
)


def apply_power_command(
    cmd: PowerCommand,
    now_ns: int,
    *,
    group: PowerModuleGroup,
    imd: IsolationMonitor,
    contactors: Callable[[bool], None],
) -> None:
    if isinstance(cmd, SetModuleOutput):
        group.set_output(cmd.voltage_v, cmd.current_a, now_ns)
    elif isinstance(cmd, EnableModules):
        group.enable(now_ns)
    elif isinstance(cmd, DisableModules):
        group.disable(now_ns)
    elif isinstance(cmd, SetContactors):
        contactors(cmd.closed)
    elif isinstance(cmd, ImdStart):
        imd.start(now_ns)
    elif isinstance(cmd, ImdStop):
        imd.stop(now_ns)
    elif isinstance(cmd, ImdSelfTest):
        imd.start_self_test(cmd.test_voltage_v, now_ns)
