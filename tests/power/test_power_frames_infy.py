"""Golden frames of InfyPower V1.13 (hardware.md §1.2), both directions."""

from __future__ import annotations

import can
import pytest

from drivers.power import infy
from drivers.power.protocol import (
    ReplyCapabilities,
    ReplyModuleCount,
    ReplyStatus,
    ReplyVoltageCurrent,
)
from evse.ports.power import ModuleAlarm, PowerRemoteError, PowerUsageError
from tests.power.golden import by_name

P = infy.InfyProtocol()


def frame(v: dict[str, object]) -> can.Message:
    return can.Message(arbitration_id=int(str(v["id"]), 16), data=bytes.fromhex(str(v["data"])),
                       is_extended_id=True)


def assert_same(msg: can.Message, v: dict[str, object]) -> None:
    assert (f"{msg.arbitration_id:08X}", bytes(msg.data).hex().upper()) == (v["id"], v["data"])
    assert msg.is_extended_id


def test_read_requests_are_zero_payload_frames_addressed_to_the_module() -> None:
    reads = P.poll_requests(1, capabilities_known=False)
    assert_same(reads[0], by_name("infy_v113", "read V/I request to module 1"))
    assert_same(reads[1], by_name("infy_v113", "status request"))
    assert reads[2].arbitration_id == 0x028A01F0 and bytes(reads[2].data) == bytes(8)


def test_set_voltage_current_is_millivolts_and_milliamps_big_endian() -> None:
    (msg,) = P.set_output_requests(1, 400.0, 12.5)
    assert_same(msg, by_name("infy_v113", "set 400 V 12.5 A request"))


def test_on_is_0x00_and_off_is_0x01() -> None:
    assert_same(P.on_off_requests(1, True)[0], by_name("infy_v113", "on request"))
    assert_same(P.on_off_requests(1, False)[0], by_name("infy_v113", "off request"))


def test_setpoint_below_one_amp_is_raised_to_the_module_minimum() -> None:
    (msg,) = P.set_output_requests(1, 400.0, 0.0)
    assert int.from_bytes(bytes(msg.data)[4:8], "big") == 1000  # 1 A, §1.2 min export current


def test_voltage_current_reply_is_float32() -> None:
    v = by_name("infy_v113", "read V/I reply 400 V 12.5 A")
    assert P.parse_reply(frame(v)) == ReplyVoltageCurrent(1, 400.0, 12.5)
    assert infy.encode_voltage_current(400.0, 12.5).hex().upper() == v["data"]


def test_status_reply_bits_map_to_alarms_and_dc_off() -> None:
    v = by_name("infy_v113", "status reply: DC off, over-temperature, phase lost, output short")
    reply = P.parse_reply(frame(v))
    assert isinstance(reply, ReplyStatus)
    assert reply.alarms == {ModuleAlarm(a) for a in v["alarms"]}
    assert reply.output_off is True
    flags = frozenset({"Status1DcOff", "Status1OverTemperature", "Status2InputPhaseLost",
                       "Status0OutputShort"})
    assert infy.encode_status(flags).hex().upper() == v["data"]


def test_capabilities_reply_scalings() -> None:
    v = by_name("infy_v113", "capabilities reply 1000 V / 150 V / 100.0 A / 30 kW")
    reply = P.parse_reply(frame(v))
    assert isinstance(reply, ReplyCapabilities)
    assert reply.max_voltage_v == v["max_voltage_v"]
    assert reply.min_voltage_v == v["min_voltage_v"]
    assert reply.max_current_a == pytest.approx(v["max_current_a"])
    assert reply.rated_power_w == v["rated_power_w"]
    assert infy.encode_capabilities(1000, 150, 100.0, 30000).hex().upper() == v["data"]


def test_group_module_count_reply() -> None:
    v = by_name("infy_v113", "module count reply, group 2, 3 modules")
    assert P.parse_reply(frame(v)) == ReplyModuleCount(group=2, count=3)


def test_after_diode_reply_scaling() -> None:
    v = by_name("infy_v113", "V/I after diode reply 350.0 V 50.0 A")
    assert infy.encode_after_diode(350.0, 50.0).hex().upper() == v["data"]


def test_reply_with_error_code_raises_remote_error() -> None:
    v = by_name("infy_v113", "read V/I reply with error code 3 (data invalid)")
    with pytest.raises(PowerRemoteError, match="error code 3"):
        P.parse_reply(frame(v))


def test_short_reply_raises_remote_error() -> None:
    msg = can.Message(arbitration_id=0x0283F001, data=b"\x43\xc8", is_extended_id=True)
    with pytest.raises(PowerRemoteError, match="DLC"):
        P.parse_reply(msg)


def test_frames_for_another_controller_and_standard_frames_are_ignored() -> None:
    other = can.Message(arbitration_id=0x0283F101, data=bytes(8), is_extended_id=True)
    standard = can.Message(arbitration_id=0x123, data=bytes(8), is_extended_id=False)
    assert P.parse_reply(other) is None
    assert P.parse_reply(standard) is None


def test_id_round_trip_keeps_every_field() -> None:
    fid = infy.InfyId(3, infy.InfyDevice.GROUP, infy.InfyCommand.SET_VOLTAGE_CURRENT, 0x3E, 0xF8)
    assert infy.decode_id(infy.encode_id(fid)) == fid


def test_unknown_command_id_is_a_remote_error() -> None:
    with pytest.raises(PowerRemoteError):
        infy.decode_id(0x02BF01F0)


def test_out_of_range_address_and_negative_setpoint_are_usage_errors() -> None:
    with pytest.raises(PowerUsageError):
        P.poll_requests(0x3F, True)
    with pytest.raises(PowerUsageError):
        infy.encode_set_voltage_current(-1.0, 1.0)


def test_every_dbc_message_is_an_extended_frame_named_by_its_command_bits() -> None:
    from drivers.power.dbc import load

    for message in load("infy_v113.dbc").messages:
        assert message.is_extended_frame and message.length == 8
        assert message.frame_id & ~infy.DBC_ID_MASK == 0  # addresses masked out
        infy.InfyCommand(message.frame_id >> 16)  # raises if not a V1.13 command
