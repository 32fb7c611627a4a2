"""Throughput and latency of the controller <-> PLC contract on this machine.

    PYTHONPATH=. python bench/contract_bench.py [--samples 20000] [--latency-samples 1000]

1. in-process link: publish -> poll, typed values handed over as they are;
2. sans-IO stream link in memory: validate, CBOR-encode, frame, CRC, decode, check;
3. real Unix socket, two endpoints in two threads: burst throughput of EVENT samples
   (each one delivered; the publisher backs off when 512 wait), then one-way
   latency (publish -> SignalReceived on the peer) at a paced 200 Hz, i.e. faster
   than the fastest contract signal (plc.power_setpoint, 100 Hz max).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from evse.contract.events import SignalReceived
from evse.contract.inprocess import InProcessLink
from evse.contract.link import LinkState, StreamLink
from evse.contract.values import (
    IsolationStatus,
    MeasDcOutput,
    PlcSessionEvent,
    Role,
    SessionEventKind,
)
from evse.io.contract_link import ContractLinkAdapter


def sample(i: int) -> MeasDcOutput:
    return MeasDcOutput(present_voltage_v=400.0 + (i % 100) * 0.1, present_current_a=200.0,
                        energy_wh=float(i), isolation_status=IsolationStatus.VALID)


def event(i: int) -> PlcSessionEvent:
    return PlcSessionEvent(event=SessionEventKind.SLAC_MATCHED, session_id=f"{i:X}")


def bench_inprocess(n: int) -> float:
    values = [sample(i) for i in range(n)]
    link = InProcessLink()
    t0 = time.perf_counter()
    for v in values:
        link.plc.publish(v, 0)
        link.controller.poll(0)
    return n / (time.perf_counter() - t0)


def bench_sans_io(n: int) -> tuple[float, int]:
    values = [sample(i) for i in range(n)]
    plc, ctrl = StreamLink(Role.PLC, 1), StreamLink(Role.CONTROLLER, 2)
    plc.connection_made(0)
    ctrl.connection_made(0)
    ctrl.receive_bytes(plc.data_to_send(), 0)
    plc.receive_bytes(ctrl.data_to_send(), 0)
    received = 0
    wire_bytes = 0
    t0 = time.perf_counter()
    for start in range(0, n, 50):  # 50-sample batches, acked per batch
        for v in values[start:start + 50]:
            plc.publish(v, 0)
        data = plc.data_to_send()
        wire_bytes += len(data)
        ctrl.receive_bytes(data, 0)
        plc.receive_bytes(ctrl.data_to_send(), 0)
        received += sum(isinstance(e, SignalReceived) for e in ctrl.poll(0))
    elapsed = time.perf_counter() - t0
    assert received == n
    return n / elapsed, wire_bytes // n


def bench_unix(n: int, latency_n: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sock"
        plc = ContractLinkAdapter.unix_server(path, Role.PLC, now_ns=time.monotonic_ns)
        ctrl = ContractLinkAdapter.unix_client(path, Role.CONTROLLER, now_ns=time.monotonic_ns)
        rx_ns: dict[int, int] = {}
        expected = n + latency_n
        done = threading.Event()

        def controller() -> None:
            while len(rx_ns) < expected and not done.is_set():
                ctrl.service(timeout_s=0.01)
                for e in ctrl.poll(time.monotonic_ns()):
                    if isinstance(e, SignalReceived) and isinstance(e.value, MeasDcOutput):
                        rx_ns[int(e.value.energy_wh)] = time.monotonic_ns()
                    elif isinstance(e, SignalReceived) and isinstance(e.value, PlcSessionEvent):
                        rx_ns[int(e.value.session_id or "0", 16)] = time.monotonic_ns()

        worker = threading.Thread(target=controller)
        worker.start()
        try:
            while plc.link.state is not LinkState.ESTABLISHED:
                plc.service(timeout_s=0.01)
            # burst throughput: EVENT samples (never coalesced), respecting backpressure
            t0 = time.perf_counter()
            i = 0
            while i < n:
                if plc.link.pending_count < 512:
                    plc.publish(event(i), time.monotonic_ns())
                    i += 1
                    if i % 64 == 0:
                        plc.service(timeout_s=0.0)
                else:
                    plc.service(timeout_s=0.0005)
            while len(rx_ns) < n:
                plc.service(timeout_s=0.001)
            throughput = n / (time.perf_counter() - t0)
            # paced one-way latency
            sent_ns: dict[int, int] = {}
            period_ns = 5_000_000
            next_ns = time.monotonic_ns()
            for k in range(latency_n):
                i = n + k
                while time.monotonic_ns() < next_ns:
                    plc.service(timeout_s=(next_ns - time.monotonic_ns()) / 1e9)
                sent_ns[i] = time.monotonic_ns()
                plc.publish(sample(i), sent_ns[i])
                plc.service(timeout_s=0.0)
                next_ns += period_ns
            while len(rx_ns) < expected:
                plc.service(timeout_s=0.001)
        finally:
            done.set()
            worker.join(timeout=10)
            plc.close()
            ctrl.close()
        latencies_us = [(rx_ns[i] - t) / 1000 for i, t in sent_ns.items()]
        return throughput, latencies_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--latency-samples", type=int, default=1000)
    args = parser.parse_args()
    print(f"in-process link:           {bench_inprocess(args.samples):>10,.0f} signals/s")
    rate, per = bench_sans_io(args.samples)
    print(f"stream link core (memory): {rate:>10,.0f} signals/s  ({per} bytes/sample on wire)")
    rate, lat = bench_unix(args.samples, args.latency_samples)
    q = statistics.quantiles(lat, n=100)
    print(f"Unix socket, 2 threads:    {rate:>10,.0f} signals/s (burst)")
    print(f"Unix socket latency @200 Hz: p50 {q[49]:.0f} us, p99 {q[98]:.0f} us, "
          f"max {max(lat):.0f} us over {len(lat)} samples")


if __name__ == "__main__":
    main()
