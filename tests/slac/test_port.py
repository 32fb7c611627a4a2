"""The HomePlug port contract, for the simulated modem and the real AF_PACKET socket alike."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from drivers.homeplug.port import SimHomePlugPort
from drivers.homeplug.sim import PowerlineMedium, cm_frame

ROOT = Path(__file__).resolve().parents[2]
A = bytes.fromhex("02000000000a")
B = bytes.fromhex("02000000000b")
FRAME = cm_frame(B, A, 0x6064, b"\x00\x00" + b"\x01" * 8)


def test_sim_port_delivers_after_the_line_delay_and_never_blocks() -> None:
    medium = PowerlineMedium(random.Random(0), line_delay_ns=2_000_000)
    a = SimHomePlugPort(medium, medium.attach("a", A, b"\x00\x01\x87\x00\x00\x0a"))
    b = SimHomePlugPort(medium, medium.attach("b", B, b"\x00\x01\x87\x00\x00\x0b"))
    medium.connect("a", "b", 20.0)
    a.send(FRAME, 0)
    assert b.poll(1_999_999) == []
    assert b.poll(2_000_000) == [FRAME]
    assert a.poll(10_000_000) == []  # no echo of our own frame unless asked for
    assert a.mac == A and a.fileno() == -1


_RAW_CHECK = """
import sys
from drivers.homeplug.port import RawHomePlugSocket
a, b = RawHomePlugSocket("pa"), RawHomePlugSocket("pb")
echo = RawHomePlugSocket("pa", drop_outgoing=False, listen_all=True)
guarded = RawHomePlugSocket("pa", listen_all=True)
frame = bytes.fromhex(sys.argv[1])
a.send(frame[:40], 0)  # short: the driver pads to 60 bytes
import select
select.select([b.fileno()], [], [], 1.0)
got = b.poll(0)
select.select([echo.fileno()], [], [], 1.0)
print(len(got), got[0][:40] == frame[:40] if got else None, len(got[0]) if got else 0,
      len(a.poll(0)), len(guarded.poll(0)), len(echo.poll(0)))
"""


@pytest.mark.netns
def test_raw_socket_sends_pads_receives_and_drops_its_own_echo() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a veth pair in a namespace")
    ns = f"slac-port-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (
            ["link", "add", "pa", "type", "veth", "peer", "pb"],
            ["link", "set", "pa", "up"],
            ["link", "set", "pb", "up", "promisc", "on"],
        ):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        res = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", _RAW_CHECK, FRAME.hex()],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    received, same, length, bound, all_dropped, all_echoed = res.stdout.split()
    assert (received, same, length) == ("1", "True", "60")
    assert bound == "0"  # bound to 0x88E1: the kernel does not loop our frame back
    assert all_echoed == "1"  # bound to ETH_P_ALL it does (slac_notes.md §2)...
    assert all_dropped == "0"  # ...and the driver drops it by packet type
