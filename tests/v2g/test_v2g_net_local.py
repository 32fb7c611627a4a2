"""Adapter checks that need no namespace."""

from __future__ import annotations

import time

import pytest

from evse.io.v2g_net import (
    V2gNetConfig,
    V2gNetLocalError,
    V2gNetServer,
    link_local_address,
)
from evse.sdp import TlsPolicy


def test_unknown_interface_is_a_local_error() -> None:
    with pytest.raises(V2gNetLocalError, match="no network interface"):
        link_local_address("nosuchif0")


def test_interface_without_link_local_address_is_a_local_error() -> None:
    with pytest.raises(V2gNetLocalError, match="no usable IPv6 link-local"):
        link_local_address("lo")  # loopback carries ::1 only


def test_force_without_credentials_is_refused_at_construction() -> None:
    with pytest.raises(V2gNetLocalError):
        V2gNetServer(V2gNetConfig("lo", TlsPolicy.FORCE), lambda e: None, time.monotonic_ns)


def test_start_on_an_interface_without_link_local_opens_nothing() -> None:
    server = V2gNetServer(V2gNetConfig("lo", TlsPolicy.PROHIBIT), lambda e: None, time.monotonic_ns)
    with pytest.raises(V2gNetLocalError):
        server.start()
    with pytest.raises(V2gNetLocalError):
        _ = server.tcp_port
    server.close()
