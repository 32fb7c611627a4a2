"""Fuzz the parsers: any frame either parses or raises the layer's remote error."""

from __future__ import annotations

import contextlib

import can
import pytest
from hypothesis import given, settings, strategies as st

from drivers.imd import iso165c, isocha425
from drivers.power import infy, reg060
from drivers.power.protocol import ModuleProtocol
from drivers.power.select import protocol_by_name
from evse.ports.imd import ImdRemoteError
from evse.ports.power import PowerRemoteError, PowerUsageError

PROTOCOLS: dict[str, ModuleProtocol] = {
    n: protocol_by_name(n).protocol for n in ("infy", "winline", "dpm1000")
}

frames = st.builds(
    lambda i, d, ext: can.Message(arbitration_id=i if ext else i & 0x7FF, data=d,
                                  is_extended_id=ext),
    st.integers(0, 0x1FFF_FFFF), st.binary(min_size=0, max_size=8), st.booleans())


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@settings(max_examples=300, deadline=None)
@given(msg=frames)
def test_any_module_frame_parses_or_raises_remote_error(name: str, msg: can.Message) -> None:
    """Invariant: parse_reply returns a reply or None, or raises PowerRemoteError."""
    with contextlib.suppress(PowerRemoteError):
        PROTOCOLS[name].parse_reply(msg)


@settings(max_examples=200, deadline=None)
@given(addr_bits=st.integers(0, 0xFFFF), data=st.binary(min_size=8, max_size=8))
def test_replies_addressed_to_us_parse_or_raise(addr_bits: int, data: bytes) -> None:
    """Frames that reach the decoder proper (our address) also never escape another error."""
    for proto, arb in ((PROTOCOLS["infy"], 0x0A << 22 | 0x03 << 16 | 0xF0 << 8 | addr_bits & 0xFF),
                       (PROTOCOLS["winline"], reg060.encode_id(
                           reg060.Reg060Id(True, 0xF0, addr_bits & 0xFF, 0)))):
        with contextlib.suppress(PowerRemoteError):
            proto.parse_reply(can.Message(arbitration_id=arb, data=data, is_extended_id=True))


@settings(max_examples=200, deadline=None)
@given(volts=st.floats(0, 4_000_000, allow_nan=False), amps=st.floats(0, 4_000_000,
                                                                       allow_nan=False))
def test_infy_setpoint_round_trips_to_the_millivolt(volts: float, amps: float) -> None:
    data = infy.encode_set_voltage_current(volts, amps)
    assert int.from_bytes(data[0:4], "big") == round(volts * 1000)
    assert int.from_bytes(data[4:8], "big") == round(amps * 1000)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=0, max_size=12))
def test_imd_frames_parse_or_raise_remote_error(data: bytes) -> None:
    for decode in (iso165c.decode_info, iso165c.decode_command):
        with contextlib.suppress(ImdRemoteError):
            decode(data)
    regs = [int.from_bytes(data[i:i + 2].ljust(2, b"\0"), "big") for i in range(0, len(data), 2)]
    with contextlib.suppress(ImdRemoteError):
        isocha425.decode_channel(regs)


def test_unknown_protocol_name_is_a_usage_error() -> None:
    with pytest.raises(PowerUsageError, match="known"):
        protocol_by_name("tonhe")
