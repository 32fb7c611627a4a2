"""`evse run` on a veth pair with `board: mcu_uart`: the station's pilot on the real MCU
driver against the simulated firmware on a pty, running on the real clock in its own
thread (as `python -m evse.runtime.mcu_sim_run` does in its own process); our EV simulator
in the other namespace charges a whole DIN session over SDP + TCP. The simulated car's
pilot states go to the firmware's virtual EV; the simulated plant follows the contactor
feedback the MCU reports. Skipped without root / iproute2.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.board.mcu import LinkState, McuBoard
from evse.runtime.mcu_sim_run import McuSimService
from evse.runtime.warmup import is_warm
from evse.secc.env import AppProtocol
from tests.station.test_run_iface import one_session, running_station
from tests.v2g.netns import VethLink, unavailable_reason, veth_pair

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]
S = 1_000_000_000


@pytest.fixture(scope="module")
def veth() -> Iterator[VethLink]:
    try:
        with veth_pair() as pair:
            yield pair
    except Exception as exc:  # noqa: BLE001 - environment without netns support
        pytest.skip(f"cannot create network namespaces: {exc}")


def test_evse_run_with_the_mcu_link_charges_a_din_car_over_the_veth(
    veth: VethLink, tmp_path: Path,
) -> None:
    svc = McuSimService()
    fw = threading.Thread(target=svc.run, args=(120 * S,), daemon=True)
    fw.start()
    cfg = tmp_path / "cm4-bench.yaml"
    # link_timeout_ms 1500: the firmware runs on a thread of this process and shares its
    # GIL with the station; under the shared 2-core test load a 236 ms stall of either
    # thread was seen (a real MCU has its own core; the default 200 ms stays for it).
    cfg.write_text(
        "station: {name: cm4-veth, seed: 4}\n"
        f"board: {{driver: mcu_uart, device: {svc.device}, link_timeout_ms: 1500}}\n"
        "plc: {driver: none}\n"
        "session: {protocols: [din], ocpp: \"none\", auth_delay_s: 0.2}\n",
        encoding="utf-8",
    )
    try:
        with running_station(veth, cfg, duration_s=60.0, start_timeout_s=30.0,
                             join_s=15.0, pilot_ev=svc.world) as bench:
            assert isinstance(bench.board, McuBoard)
            # READY (systemd) goes out only warm, and says what the warm-up built.
            assert is_warm() and bench.runner.ready_status.startswith("running; warm-up")
            assert "exi" in bench.runner.ready_status
            # ... and the start-up heap is out of the collector's full scans (heap.py).
            assert "start-up objects frozen" in bench.runner.ready_status
            assert bench.heap.frozen_objects > 50_000 and gc.get_freeze_count() > 50_000
            assert bench.board.link.state is LinkState.UP
            one_session(veth, bench, AppProtocol.DIN70121)
            # The MCU's own (simulated) contactor closed and opened again; the plant followed.
            assert [c for _, c in svc.world.contact_log][:2] == [True, False]
            assert [c for _, c in bench.station.world.contactor.history][:2] == [True, False]
            assert bench.board.link.stats.link_losses == 0
            assert svc.pty.sim is not None and svc.pty.sim.stats.rx_errors == {}
    finally:
        svc.stop()
        fw.join(5)
        svc.close()
