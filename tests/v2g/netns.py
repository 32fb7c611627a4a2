"""Two network namespaces joined by a veth pair, with fixed IPv6 link-local addresses.

The SECC end gets fe80::1, the EV end fe80::2, both without duplicate address detection so
they are usable at once (no waiting for DAD). Namespaces are named per test run and always
deleted afterwards (deleting a namespace deletes its veth end, and with it the pair).

Code runs "inside" a namespace by switching the calling thread with setns(2) for as long as
it creates its sockets: a socket stays in the namespace it was created in, so one thread can
then drive both ends.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
SECC_ADDRESS = ipaddress.IPv6Address("fe80::1")
EV_ADDRESS = ipaddress.IPv6Address("fe80::2")


def unavailable_reason() -> str | None:
    """Why namespace tests cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "network namespace tests need root"
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is missing"
    if not os.path.exists("/proc/thread-self/ns/net"):
        return "no /proc/thread-self/ns/net (not Linux?)"
    return None


@dataclass(frozen=True)
class VethLink:
    secc_ns: str
    ev_ns: str
    secc_if: str
    ev_if: str
    secc_address: ipaddress.IPv6Address = SECC_ADDRESS
    ev_address: ipaddress.IPv6Address = EV_ADDRESS


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def _configure_end(ns: str, ifname: str, address: ipaddress.IPv6Address) -> None:
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip("-n", ns, "link", "set", "dev", ifname, "addrgenmode", "none")
    _ip("-n", ns, "addr", "add", f"{address}/64", "dev", ifname, "nodad")
    _ip("-n", ns, "link", "set", "dev", ifname, "up")


@contextmanager
def veth_pair() -> Iterator[VethLink]:
    tag = f"{os.getpid() % 100000:05d}{secrets.token_hex(2)}"
    link = VethLink(f"v2gs-{tag}", f"v2ge-{tag}", f"vs{tag}", f"ve{tag}")
    created: list[str] = []
    try:
        for ns in (link.secc_ns, link.ev_ns):
            _ip("netns", "add", ns)
            created.append(ns)
        _ip("link", "add", link.secc_if, "type", "veth", "peer", "name", link.ev_if)
        _ip("link", "set", link.secc_if, "netns", link.secc_ns)
        _ip("link", "set", link.ev_if, "netns", link.ev_ns)
        _configure_end(link.secc_ns, link.secc_if, link.secc_address)
        _configure_end(link.ev_ns, link.ev_if, link.ev_address)
        yield link
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=10)
        # If the pair never moved into a namespace it still lives in ours.
        subprocess.run(
            ["ip", "link", "del", link.secc_if], check=False, capture_output=True, timeout=10
        )


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the block (this thread only) inside network namespace ``name``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)
