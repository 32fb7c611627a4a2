"""Controller bench: messages per second through the persistent queue (enqueue, send over
the OCPP-J framing with schema validation, CSMS answer, ack), and the replay time of
10,000 queued messages after a reconnect. Prints figures; asserts nothing.

    python bench/controller_bench.py [--db-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evse.controller.config import ControllerConfig  # noqa: E402
from evse.controller.core import Controller  # noqa: E402
from evse.controller.plc_port import (  # noqa: E402
    AuthRequested,
    EvPresent,
    Measurement,
    PaymentOption,
    PowerDeliveryStarted,
)
from evse.controller.store import Store  # noqa: E402
from evse.csms_sim.core import CsmsSim  # noqa: E402
from evse.csms_sim.link import VirtualLink  # noqa: E402

S = 1_000_000_000


def charging_rig(db: str, online: bool) -> tuple[Controller, VirtualLink]:
    cfg = ControllerConfig(meter_sample_interval_s=1.0, allow_offline_tx_for_unknown_id=True)
    ctrl = Controller(cfg, Store(db))
    csms = CsmsSim("1.6")
    csms.tokens["TAG"] = "Accepted"
    link = VirtualLink(ctrl, csms)
    link.start(online=online)
    link.plc(EvPresent(True))
    link.plc(AuthRequested(PaymentOption.EIM))
    link.token("TAG")
    link.plc(Measurement(400.0, 200.0, 1000.0))
    link.plc(PowerDeliveryStarted())
    return ctrl, link


def bench_online(db: str, n: int) -> float:
    """Online: every MeterValues is committed, sent, answered and acked."""
    ctrl, link = charging_rig(db, online=True)
    t0 = time.perf_counter()
    link.run_for(n)  # one MeterValues per second of virtual time
    dt = time.perf_counter() - t0
    assert len(ctrl.store) == 0
    return n / dt


def bench_replay(db: str, n: int) -> tuple[float, float]:
    """Offline: queue n messages, then time the replay after reconnect."""
    ctrl, link = charging_rig(db, online=False)
    t0 = time.perf_counter()
    link.run_for(n - 1)
    enqueue_s = time.perf_counter() - t0
    queued = len(ctrl.store)
    t1 = time.perf_counter()
    link.set_online(True)
    replay_s = time.perf_counter() - t1
    assert len(ctrl.store) == 0, len(ctrl.store)
    seen = sum(1 for s in link.csms.seen if s.action in ("StartTransaction", "MeterValues"))
    assert seen == queued, (seen, queued)
    return queued / enqueue_s, replay_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db-dir", default=None, help="where the SQLite files go (default: tmp)")
    ap.add_argument("-n", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.db_dir) as d:
        online = bench_online(str(Path(d) / "online.db"), 2000)
        enq, replay = bench_replay(str(Path(d) / "replay.db"), args.n)
        mem = bench_online(":memory:", 2000)
    print(f"online, durable (WAL, synchronous=FULL): {online:8.0f} messages/s "
          "(enqueue+send+validate+answer+ack)")
    print(f"online, :memory: store (no fsync):       {mem:8.0f} messages/s")
    print(f"offline enqueue (durable):               {enq:8.0f} messages/s")
    print(f"replay of {args.n} queued messages:        {replay:8.2f} s "
          f"({args.n / replay:.0f} messages/s)")


if __name__ == "__main__":
    main()
