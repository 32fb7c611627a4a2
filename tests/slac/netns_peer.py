"""One end of the veth SLAC test, run inside a network namespace by test_socket_veth.py.

    python tests/slac/netns_peer.py evse IFACE SECONDS
    python tests/slac/netns_peer.py ev IFACE SECONDS EVSE_MAC

A real-time loop (monotonic clock, select on the socket) around the sans-IO cores. It prints
one JSON line per event. After link-up (EVSE: LinkReady; EV: key set and the charger's
link-status answer up) both ends run one SECC Discovery (evse.sdp) over UDP/IPv6 link-local on
the same interface, as D-LINK_READY starts it on a charger. Exit 0 when that is done, 1 on
timeout or failure. The EV end also plays both PLC modems (drivers.homeplug.emulator), since a
veth has none.
"""

from __future__ import annotations

import ipaddress
import json
import random
import select
import socket
import sys
import time

from drivers.homeplug.emulator import WireModemEmulator
from drivers.homeplug.port import RawHomePlugSocket
from evse.io.v2g_net import link_local_address
from evse.sdp import (
    SDP_MULTICAST_ADDRESS,
    SDP_PORT,
    Endpoint,
    SdpClient,
    SdpDiscovered,
    SdpServer,
    SdpServerConfig,
    Security,
    SendSdpRequest,
    TlsPolicy,
)
from evse.slac.ev import EvFailed, EvKeySet, EvSlac
from evse.slac.evse_core import EvseSlac, PilotState, warm_up
from evse.slac.evse_handler import SlacConfig
from evse.slac.outputs import LinkError, LinkReady, SendFrame

SECC_TCP_PORT = 50000


def _say(**kw: object) -> None:
    print(
        json.dumps({k: v.hex() if isinstance(v, bytes) else v for k, v in kw.items()}), flush=True
    )


def run_evse(iface: str, seconds: float) -> int:
    port = RawHomePlugSocket(iface)
    warm_up()  # as the station does before its 5 % PWM: nothing loads on the car's time
    core = EvseSlac(SlacConfig(evse_mac=port.mac), random.Random(11))
    t0 = time.monotonic_ns()
    # The pilot here is a stand-in: "plugged with 5 % PWM" when the car's first frame arrives,
    # so the modems the car's process emulates are up when the session's CM_SET_KEY goes out
    # (on a real charger the modem is always there).
    outs = core.start(0)
    pwm_on = False
    end = t0 + int(seconds * 1e9)
    _say(event="ready")
    while True:
        for o in outs:
            if isinstance(o, SendFrame):
                port.send(o.raw, 0)
            elif isinstance(o, LinkReady):
                _say(event="link_ready", ev_mac=o.ev_mac, run_id=o.run_id, nid=o.nid)
                return sdp_server(iface, end)
            elif isinstance(o, LinkError):
                _say(event="link_error", reason=o.reason.value)
                return 1
            else:
                _say(event=type(o).__name__)
        now = time.monotonic_ns()
        if now > end:
            _say(event="timeout", state=core.state)
            return 1
        deadline = core.next_deadline_ns()
        wait_ns = end - now if deadline is None else max(0, min(deadline + t0 - now, end - now))
        select.select([port.fileno()], [], [], wait_ns / 1e9)
        now = time.monotonic_ns() - t0
        outs = []
        for raw in port.poll(now):
            if not pwm_on:
                pwm_on = True
                outs += core.handle_cp(PilotState.B, True, now)
            outs += core.handle_frame(raw, now)
        outs += core.handle_timer(now)


def run_ev(iface: str, seconds: float, evse_mac: bytes) -> int:
    port = RawHomePlugSocket(iface)
    ev = EvSlac(port.mac, random.Random(12))
    modem = WireModemEmulator(
        charger_modem_mac=bytes.fromhex("0001870ea348"),
        car_modem_mac=bytes.fromhex("0001870ea349"),
        car_host_mac=port.mac,
    )
    t0 = time.monotonic_ns()
    end = t0 + int(seconds * 1e9)
    outs: list[object] = list(ev.plug_in(0))
    joined = False
    while True:
        now = time.monotonic_ns() - t0
        for o in outs:
            if isinstance(o, SendFrame):
                back, wire = modem.from_car(o.raw, evse_mac)
                for raw in wire:
                    port.send(raw, now)
                for raw in back:
                    outs.extend(ev.handle_frame(raw, now))
            elif isinstance(o, EvKeySet):
                joined = True
                _say(event="ev_key_set", nid=o.nid)
            elif isinstance(o, EvFailed):
                _say(event="ev_failed", reason=o.reason)
                return 1
        outs = []
        if joined and modem.link_up():
            # answer the charger's next link-status poll, then discover its SECC
            linger_end = time.monotonic_ns() + 300_000_000
            while time.monotonic_ns() < linger_end:
                select.select([port.fileno()], [], [], 0.05)
                for raw in port.poll(0):
                    for reply in modem.from_charger(raw):
                        port.send(reply, 0)
            _say(event="ev_link_up")
            return sdp_client(iface, t0 + int(seconds * 1e9))
        if time.monotonic_ns() > end:
            _say(event="timeout", phase=ev.phase.value)
            return 1
        deadline = ev.next_deadline_ns()
        now = time.monotonic_ns() - t0
        wait_ns = 50_000_000 if deadline is None else max(0, min(deadline - now, 50_000_000))
        select.select([port.fileno()], [], [], wait_ns / 1e9)
        now = time.monotonic_ns() - t0
        for raw in port.poll(now):
            for reply in modem.from_charger(raw):
                port.send(reply, now)
            outs.extend(ev.handle_frame(raw, now))
        outs.extend(ev.handle_timer(now))


def sdp_server(iface: str, end_ns: int) -> int:
    """Answer one SECCDiscoveryReq on `iface` (port 15118, all-nodes multicast)."""
    local = link_local_address(iface)
    server = SdpServer(SdpServerConfig(local.address, SECC_TCP_PORT, None, TlsPolicy.PROHIBIT))
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind(("::", SDP_PORT))
    while time.monotonic_ns() < end_ns:
        readable, _, _ = select.select([sock], [], [], 0.1)
        if not readable:
            continue
        data, addr = sock.recvfrom(1500)
        src = Endpoint(ipaddress.IPv6Address(addr[0].split("%")[0]), addr[1])
        result = server.handle_datagram(data, src, time.monotonic_ns())
        if result.reply is not None:
            dst = result.reply.destination
            sock.sendto(result.reply.datagram, (str(dst.address), dst.port, 0, local.scope_id))
            _say(event="sdp_answered", secc=str(local.address), port=SECC_TCP_PORT)
            return 0
    _say(event="timeout", phase="sdp")
    return 1


def sdp_client(iface: str, end_ns: int) -> int:
    """Discover the SECC on `iface` like a car does after its link is up."""
    local = link_local_address(iface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind((str(local.address), 0, 0, local.scope_id))
    client = SdpClient(Security.NO_TLS)
    t0 = time.monotonic_ns()
    outs: list[object] = [client.start(0)]
    while time.monotonic_ns() < end_ns:
        for o in outs:
            if isinstance(o, SendSdpRequest):
                dst = (str(SDP_MULTICAST_ADDRESS), SDP_PORT, 0, local.scope_id)
                sock.sendto(o.datagram, dst)
            elif isinstance(o, SdpDiscovered):
                r = o.response
                _say(event="sdp_discovered", secc=str(r.secc_address), port=r.secc_port)
                return 0
        now = time.monotonic_ns() - t0
        deadline = client.next_deadline_ns()
        wait_s = 0.05 if deadline is None else max(0.0, (deadline - now) / 1e9)
        readable, _, _ = select.select([sock], [], [], wait_s)
        now = time.monotonic_ns() - t0
        outs = []
        if readable:
            data, _ = sock.recvfrom(1500)
            outs.extend(client.handle_datagram(data, now))
        outs.extend(client.handle_timer(now))
    _say(event="timeout", phase="sdp")
    return 1


def main(argv: list[str]) -> int:
    role, iface, seconds = argv[1], argv[2], float(argv[3])
    if role == "evse":
        return run_evse(iface, seconds)
    return run_ev(iface, seconds, bytes.fromhex(argv[4]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
