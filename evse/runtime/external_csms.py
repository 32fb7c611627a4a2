"""`evse sim --csms URL`: the simulated station and car on the real clock, against an
operator's CSMS over OCPP-J websockets (what charger integrators run before a field test).

Everything but the CSMS is the embedded default station (evse/runtime/dc_station.py); the
scheduler and the websocket client share one asyncio loop (`run_async`), so the controller
core is only ever touched from that loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.store import Store
from evse.controller.tx_points import DEFAULT as DEFAULT_TX_POINTS
from evse.io.host_services import HostServices
from evse.io.ocpp_ws import OcppWsClient, WsSecurity, realtime_epoch_unix_s
from evse.runtime.clock import MonotonicClock, s_to_ns
from evse.runtime.config import OcppSection, StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import SIM_TOKEN
from evse.runtime.realtime import run_async

#: How long the CSMS gets to accept the BootNotification before the car is plugged in.
BOOT_TIMEOUT_S = 30.0
#: After the car's session, time to unplug and for the queue to drain to the CSMS.
WIND_DOWN_S = 5.0


@dataclass
class ExternalRunResult:
    ev_result: str | None
    frames_sent: list[str]
    milestones: list[tuple[int, str]]
    #: What the host services did for the CSMS's maintenance calls (downloads, uploads,
    #: installs, restart requests: recorded, never performed in a simulation).
    host_log: list[str] = field(default_factory=list)


async def run_with_external_csms(
    url: str,
    version: str,
    charge_seconds: float,
    *,
    protocol: str = "din",
    security: WsSecurity | None = None,
    id_token: str | None = None,
    limit_s: float = 600.0,
    tx_start_points: str = DEFAULT_TX_POINTS,
    tx_stop_points: str = DEFAULT_TX_POINTS,
) -> ExternalRunResult:
    """`tx_start_points` / `tx_stop_points`: the 2.0.1 TxCtrlr.TxStartPoint / TxStopPoint
    the controller boots with (E01/E06; `evse sim --tx-start-point`), so each variant can
    be run against an operator's CSMS; 1.6 ignores them."""
    clock = MonotonicClock()
    ctrl = Controller(
        ControllerConfig(ocpp_version=version, epoch_unix_s=realtime_epoch_unix_s(clock),
                         tx_start_points=tx_start_points, tx_stop_points=tx_stop_points),
        Store(":memory:"),
    )
    ctrl.start(clock.now_ns())
    scratch = tempfile.TemporaryDirectory(prefix="evse-sim-host-")
    host = HostServices(Path(scratch.name) / "staging", Path(scratch.name) / "firmware",
                        log_source=lambda kind: f"evse sim {kind}\n".encode())
    client = OcppWsClient(
        ctrl, url, security or WsSecurity(1 if url.startswith("ws:") else 2), clock,
        host=host,
    )
    client.sent_log = []
    # The CSMS this run connects to, as an `ocpp:` section would name it: the station takes
    # the driver's card (id_token, else the simulator's) from it where the controller is built.
    base, _, charge_point_id = url.rstrip("/").rpartition("/")
    section = OcppSection(url=base, charge_point_id=charge_point_id, version=version,
                          id_token=id_token or SIM_TOKEN)
    station = DcStation(
        StationConfig(ocpp=section),
        SessionConfig(protocol=protocol, charge_s=charge_seconds, ocpp=version),
        clock=clock, external_csms=client,
    )
    stop = asyncio.Event()
    client_task = asyncio.create_task(client.run())
    loop_task: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(client.connected.wait(), BOOT_TIMEOUT_S)
        while not ctrl.booted:
            await asyncio.sleep(0.05)
        station.start()
        loop_task = asyncio.create_task(run_async(station.sched, stop))
        await asyncio.sleep(1.0)
        station.plug_in()
        deadline = clock.now_ns() + s_to_ns(limit_s)
        while station.log.ev_result is None and clock.now_ns() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        station.unplug()
        end = clock.now_ns() + s_to_ns(WIND_DOWN_S)
        while clock.now_ns() < end and (len(ctrl.store) or clock.now_ns() < end - s_to_ns(3)):
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        if loop_task is not None:
            await loop_task
        client.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await client_task
        station.close()
        scratch.cleanup()
    return ExternalRunResult(station.log.ev_result, client.sent_log or [],
                             station.log.milestones, list(host.history))
