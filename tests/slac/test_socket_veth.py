"""EVSE SLAC and the EV simulator's SLAC over real AF_PACKET sockets on a veth pair.

The test creates two network namespaces joined by a veth pair, runs tests/slac/netns_peer.py as
the charger in one and as the car (plus both emulated PLC modems) in the other, and removes
everything afterwards. It needs root and iproute2; otherwise it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.homeplug.port import HomePlugInterfaceError, RawHomePlugSocket

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]
PEER = Path(__file__).with_name("netns_peer.py")
EVSE_MAC = "02000000e0a1"
EV_MAC = "02000000c0a1"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def veth_pair() -> Iterator[tuple[str, str]]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and raw sockets")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 `ip` not installed")
    tag = uuid.uuid4().hex[:6]
    ns_evse, ns_ev = f"slac-evse-{tag}", f"slac-ev-{tag}"
    try:
        _ip("netns", "add", ns_evse)
        _ip("netns", "add", ns_ev)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create network namespaces: {exc.stderr.decode().strip()}")
    try:
        _ip("link", "add", "plc0", "netns", ns_evse, "type", "veth", "peer", "plc1", "netns", ns_ev)
        _ip(
            "-n",
            ns_evse,
            "link",
            "set",
            "plc0",
            "address",
            ":".join(EVSE_MAC[i : i + 2] for i in range(0, 12, 2)),
        )
        _ip(
            "-n",
            ns_ev,
            "link",
            "set",
            "plc1",
            "address",
            ":".join(EV_MAC[i : i + 2] for i in range(0, 12, 2)),
        )
        for ns, dev in ((ns_evse, "plc0"), (ns_ev, "plc1")):
            # no duplicate address detection: the link-local address is usable at once
            subprocess.run(
                ["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0"],
                check=True,
                capture_output=True,
            )
        _ip("-n", ns_evse, "link", "set", "plc0", "up")
        _ip("-n", ns_ev, "link", "set", "plc1", "up", "promisc", "on")
        yield ns_evse, ns_ev
    finally:
        for ns in (ns_evse, ns_ev):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _peer(ns: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, str(PEER), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_evse_and_ev_match_over_a_veth_pair_then_link_up_and_sdp(
    veth_pair: tuple[str, str],
) -> None:
    ns_evse, ns_ev = veth_pair
    evse = _peer(ns_evse, "evse", "plc0", "30")
    # The car (3 CM_SLAC_PARM.REQ, then it gives up) starts once the charger listens.
    assert evse.stdout is not None
    first = evse.stdout.readline()
    assert "ready" in first, first + (evse.stderr.read() if evse.stderr else "")
    ev = _peer(ns_ev, "ev", "plc1", "20", EVSE_MAC)
    ev_out, ev_err = ev.communicate(timeout=60)
    evse_out, evse_err = evse.communicate(timeout=60)
    evse_out = first + evse_out
    assert evse.returncode == 0, evse_out + evse_err
    assert ev.returncode == 0, ev_out + ev_err
    ready = [json.loads(line) for line in evse_out.splitlines() if "link_ready" in line]
    assert ready and ready[0]["ev_mac"] == EV_MAC and ready[0]["run_id"] == EV_MAC + "0000"
    key_set = [json.loads(line) for line in ev_out.splitlines() if "ev_key_set" in line]
    assert key_set and key_set[0]["nid"] == ready[0]["nid"]
    answered = [json.loads(line) for line in evse_out.splitlines() if "sdp_answered" in line]
    found = [json.loads(line) for line in ev_out.splitlines() if "sdp_discovered" in line]
    assert answered and found and found[0]["secc"] == answered[0]["secc"]
    assert found[0]["port"] == answered[0]["port"]


def test_opening_a_missing_interface_is_a_local_interface_error() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for raw sockets")
    with pytest.raises(HomePlugInterfaceError):
        RawHomePlugSocket("no-such-if0")
