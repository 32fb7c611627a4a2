"""SECC response latency on loopback TCP: CurrentDemandReq -> CurrentDemandRes.

An EV client (this process) walks a DIN session up to the charge loop against a SECC
server process (SeccCore + SimEnv behind a plain TCP socket, V2GTP framing from
evse.v2gtp), then sends N CurrentDemandReq, either at the car's cadence or as fast as
possible, optionally with a CPU-hog process running. Latency is measured on the client
from just before `sendall` to the last byte of the response frame. A response later than
the EV's 250 ms CurrentDemand timeout (timing.md §4) counts as missed.

    PYTHONPATH=. /work/venv/bin/python bench/secc_latency.py            # all four runs
    PYTHONPATH=. /work/venv/bin/python bench/secc_latency.py --count 10000 --cadence-ms 100
    PYTHONPATH=. /work/venv/bin/python bench/secc_latency.py --realtime   # SECC on SCHED_FIFO
Target on the CM4-class machine: p99 <= 5 ms, none missed. The client runs at normal
priority; the hog is one busy-looping process (on a 2-core machine shared with others).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import time
from typing import Any

import exi
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.secc.core import CloseConnection, SeccCore, SendPayload
from evse.secc.env import AppProtocol
from evse.secc.units import split
from evse.v2gtp import FrameReceived, PayloadType, V2gtpStreamDecoder, encode_frame
from exi import app, din

MISS_NS = 250_000_000  # V2G_EVCC_Msg_Timeout CurrentDemand (timing.md §4)


def serve(port_q: Any, realtime: bool) -> None:
    if realtime:
        # what the station does on the CM4: the V2G process on SCHED_FIFO above the rest
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.bind(("::1", 0))
    srv.listen(1)
    port_q.put(srv.getsockname()[1])
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    env = SimEnv(SimEnvConfig(cable_check_delay_ns=0, voltage_tau_ns=1_000_000,
                              contactor_delay_ns=0, output_enable_delay_ns=0))
    core = SeccCore(env)
    core.connection_opened(time.monotonic_ns())
    dec = V2gtpStreamDecoder()
    while True:
        data = conn.recv(65536)
        if not data:
            return
        for ev in dec.feed(data, time.monotonic_ns()):
            if not isinstance(ev, FrameReceived):
                continue
            now = time.monotonic_ns()
            out = core.receive(ev.payload, now)
            while not any(isinstance(o, SendPayload | CloseConnection) for o in out):
                d = core.next_deadline_ns()
                if d is None:
                    break
                now = time.monotonic_ns()
                if d > now:
                    time.sleep((d - now) / 1e9)
                out += core.handle_timer(max(d, time.monotonic_ns()))
            for o in out:
                if isinstance(o, SendPayload):
                    conn.sendall(encode_frame(PayloadType.EXI, o.payload))
                elif isinstance(o, CloseConnection):
                    conn.close()
                    return


def hog(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("::1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.dec = V2gtpStreamDecoder()
        self.sid = b"\x00"
        self.pending: list[bytes] = []

    def recv_frame(self, deadline_ns: int | None = None) -> bytes:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("SECC closed")
            self.pending += [e.payload for e in self.dec.feed(data, time.monotonic_ns())
                             if isinstance(e, FrameReceived)]
        return self.pending.pop(0)

    def call(self, body: Any) -> Any:
        msg = din.V2G_Message(Header=din.MessageHeaderType(SessionID=self.sid),
                              Body=din.BodyType(BodyElement=body))
        self.sock.sendall(encode_frame(PayloadType.EXI, exi.encode("din", msg)))
        res = exi.decode("din", self.recv_frame())
        self.sid = bytes(res.Header.SessionID)
        return res.Body.BodyElement


def pv(value: float, unit: str) -> din.PhysicalValueType:
    v, m = split(value)
    return din.PhysicalValueType(Multiplier=m, Unit=din.unitSymbolType[unit], Value=v)


def ev_status() -> din.DC_EVStatusType:
    return din.DC_EVStatusType(EVReady=True, EVErrorCode=din.DC_EVErrorCodeType.NO_ERROR,
                               EVRESSSOC=50)


def to_charge_loop(c: Client) -> None:
    sap = app.supportedAppProtocolReq(AppProtocol=[app.AppProtocolType(
        ProtocolNamespace=AppProtocol.DIN70121.value, VersionNumberMajor=2,
        VersionNumberMinor=0, SchemaID=1, Priority=1)])
    c.sock.sendall(encode_frame(PayloadType.EXI, exi.encode("app", sap)))
    c.recv_frame()
    c.call(din.SessionSetupReqType(EVCCID=bytes(6)))
    c.call(din.ServiceDiscoveryReqType())
    c.call(din.ServicePaymentSelectionReqType(
        SelectedPaymentOption=din.paymentOptionType.ExternalPayment,
        SelectedServiceList=din.SelectedServiceListType(
            SelectedService=[din.SelectedServiceType(ServiceID=1)])))
    while c.call(din.ContractAuthenticationReqType()).EVSEProcessing.value != "Finished":
        time.sleep(0.01)
    c.call(din.ChargeParameterDiscoveryReqType(
        EVRequestedEnergyTransferType=din.EVRequestedEnergyTransferType.DC_extended,
        EVChargeParameter=din.DC_EVChargeParameterType(
            DC_EVStatus=ev_status(), EVMaximumCurrentLimit=pv(200, "A"),
            EVMaximumVoltageLimit=pv(450, "V"))))
    while c.call(din.CableCheckReqType(DC_EVStatus=ev_status())).EVSEProcessing.value != (
            "Finished"):
        time.sleep(0.01)
    for _ in range(5):
        c.call(din.PreChargeReqType(DC_EVStatus=ev_status(), EVTargetVoltage=pv(380, "V"),
                                    EVTargetCurrent=pv(1, "A")))
        time.sleep(0.01)
    res = c.call(din.PowerDeliveryReqType(
        ReadyToChargeState=True, EVPowerDeliveryParameter=din.DC_EVPowerDeliveryParameterType(
            DC_EVStatus=ev_status(), ChargingComplete=False)))
    assert res.ResponseCode.value == "OK", res


def run(count: int, cadence_ms: float, with_hog: bool,
        realtime: bool = False) -> dict[str, float]:
    q: Any = mp.Queue()
    server = mp.Process(target=serve, args=(q, realtime), daemon=True)
    server.start()
    stop = mp.Event()
    hogp = mp.Process(target=hog, args=(stop,), daemon=True) if with_hog else None
    if hogp is not None:
        hogp.start()
    c = Client(q.get())
    to_charge_loop(c)
    frames = []
    for k in range(count):
        body = din.CurrentDemandReqType(
            DC_EVStatus=ev_status(), EVTargetCurrent=pv(100 + k % 50, "A"),
            EVMaximumVoltageLimit=pv(450, "V"), EVMaximumCurrentLimit=pv(200, "A"),
            EVMaximumPowerLimit=pv(150_000, "W"), ChargingComplete=False,
            EVTargetVoltage=pv(390, "V"))
        msg = din.V2G_Message(Header=din.MessageHeaderType(SessionID=c.sid),
                              Body=din.BodyType(BodyElement=body))
        frames.append(encode_frame(PayloadType.EXI, exi.encode("din", msg)))
    lat: list[int] = []
    missed = 0
    next_t = time.monotonic_ns()
    for f in frames:
        if cadence_ms > 0:
            now = time.monotonic_ns()
            if next_t > now:
                time.sleep((next_t - now) / 1e9)
            next_t += int(cadence_ms * 1e6)
        t0 = time.monotonic_ns()
        c.sock.sendall(f)
        raw = c.recv_frame()
        dt = time.monotonic_ns() - t0
        lat.append(dt)
        res = exi.decode("din", raw).Body.BodyElement
        if dt > MISS_NS or type(res).__name__ != "CurrentDemandResType" or (
                res.ResponseCode.value != "OK"):
            missed += 1
    c.sock.close()
    stop.set()
    if hogp is not None:
        hogp.join(2)
    server.join(2)
    lat.sort()
    return {
        "n": float(len(lat)),
        "p50_ms": statistics.median(lat) / 1e6,
        "p99_ms": lat[int(0.99 * (len(lat) - 1))] / 1e6,
        "max_ms": lat[-1] / 1e6,
        "missed": float(missed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--cadence-ms", type=float, default=50.0,
                    help="the car's CurrentDemand period for the cadence runs")
    ap.add_argument("--cadence-count", type=int, default=None,
                    help="requests in the cadence runs (default: --count)")
    ap.add_argument("--realtime", action="store_true",
                    help="run the SECC process on SCHED_FIFO (needs root)")
    ap.add_argument("--only", choices=["fast", "cadence"], default=None)
    args = ap.parse_args()
    for with_hog in (False, True):
        for mode, cadence, n in (("fast", 0.0, args.count),
                                 ("cadence", args.cadence_ms,
                                  args.cadence_count or args.count)):
            if args.only is not None and mode != args.only:
                continue
            r = run(n, cadence, with_hog, args.realtime)
            print(f"{mode:8s} hog={'yes' if with_hog else 'no ':3s} "
                  f"rt={'yes' if args.realtime else 'no '} n={int(r['n']):6d} "
                  f"p50={r['p50_ms']:.2f} ms p99={r['p99_ms']:.2f} ms "
                  f"max={r['max_ms']:.2f} ms missed={int(r['missed'])}", flush=True)


if __name__ == "__main__":
    main()
