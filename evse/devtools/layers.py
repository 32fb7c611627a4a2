"""The layering of the source tree as data: docs/architecture.md shows it, the import-graph
tool draws it (evse/devtools/imports.py) and tests/test_layering.py enforces it.

Units (see `evse.devtools.imports.unit_of`) sit in layers listed top to bottom. A unit may
import a unit of any *lower* layer; inside a layer only the pairs in `LATERAL` are allowed.
No module imports another that (directly or not) imports it back, and no two units do.
A new package has no layer until it is added here, so the test names it.
"""

from __future__ import annotations

#: Modules of evse/runtime that form the kernel (one clock, one scheduler with its timers,
#: the realtime loop, the trace); the rest of evse/runtime composes stations and the world.
KERNEL_MODULES = frozenset({
    "evse.runtime.clock", "evse.runtime.scheduler", "evse.runtime.rearm",
    "evse.runtime.realtime", "evse.runtime.sdnotify", "evse.runtime.trace",
    "evse.runtime.timeline",
})
KERNEL_UNIT = "evse.runtime.kernel"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry points and tools", ("evse", "evse.cli", "evse.devtools")),
    ("fault campaigns over the whole station", ("evse.campaign",)),
    ("composition roots, runners, simulated world", ("evse.runtime",)),
    ("I/O adapters (sockets, serial, websockets)", ("evse.io",)),
    ("kernel (clock, scheduler, realtime loop, trace)", (KERNEL_UNIT,)),
    ("simulators and tools on the cores", ("evse.audit", "evse.csms_sim", "evse.ev",
                                           "evse.probe", "evse.replay")),
    ("drivers (behind the ports)", ("drivers", "drivers.registry", "drivers.board",
                                    "drivers.homeplug", "drivers.imd", "drivers.meter",
                                    "drivers.modbus",
                                    "drivers.power",
                                    "drivers.sim")),
    ("OCPP controller core", ("evse.controller",)),
    ("station cores", ("evse.cp", "evse.power", "evse.secc", "evse.sdp", "evse.slac")),
    ("shared cores", ("evse.capture", "evse.contract", "evse.ports", "evse.security",
                      "evse.v2gtp")),
    ("chart engine and strict YAML loader", ("evse.fsm",)),
    ("EXI codec", ("exi",)),
)

#: Imports inside one layer: the simulator backend is built from the vendor drivers' codecs;
#: the probe is the EV simulator stopped at each step; the replayer's station is the EV
#: simulator's stand-in station (evse/ev/sim_env.py).
LATERAL: frozenset[tuple[str, str]] = frozenset({
    ("drivers.sim", "drivers.imd"),
    ("evse.probe", "evse.ev"),  # the conformance probe drives the EV simulator
    ("evse.replay", "evse.ev"),  # a replay runs the SECC against the simulated station
    ("drivers.sim", "drivers.power"),
    # the RS-485 drivers on the one Modbus RTU codec, byte links and simulated-slave loop
    ("drivers.meter", "drivers.modbus"),
    ("drivers.imd", "drivers.modbus"),
    ("drivers.sim", "drivers.modbus"),
})

LAYER_OF: dict[str, str] = {unit: name for name, units in LAYERS for unit in units}
RANK_OF: dict[str, int] = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}


def allowed(src: str, dst: str) -> bool:
    """May unit `src` import unit `dst`?"""
    if src not in RANK_OF or dst not in RANK_OF:
        return False
    if RANK_OF[dst] > RANK_OF[src]:
        return True
    return (src, dst) in LATERAL
