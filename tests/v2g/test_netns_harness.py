"""The namespace harness skips with a reason instead of failing where it cannot run, and
leaves nothing behind where it can."""

from __future__ import annotations

import subprocess

import pytest

from . import netns


def test_not_root_gives_a_skip_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.unavailable_reason() == "network namespace tests need root"


def test_missing_ip_tool_gives_a_skip_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert netns.unavailable_reason() == "the `ip` tool (iproute2) is missing"


@pytest.mark.netns
@pytest.mark.skipif(netns.unavailable_reason() is not None, reason=str(netns.unavailable_reason()))
def test_namespaces_and_veth_are_removed_afterwards() -> None:
    with netns.veth_pair() as link:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert link.secc_ns in listed and link.ev_ns in listed
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert link.secc_ns not in listed and link.ev_ns not in listed
    assert link.secc_if not in links and link.ev_if not in links
