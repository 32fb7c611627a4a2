"""Golden frames of the PROTNO 0x060 protocol with the Winline and DPM1000 tables (§1.3)."""

from __future__ import annotations

import can
import pytest

from drivers.power import reg060
from drivers.power.protocol import ReplyCapabilities, ReplyStatus, ReplyVoltageCurrent
from evse.ports.power import ModuleAlarm, PowerRemoteError
from tests.power.golden import by_name

WL = reg060.Reg060Protocol(reg060.WINLINE)
DPM = reg060.Reg060Protocol(reg060.DPM1000)


def frame(v: dict[str, object]) -> can.Message:
    return can.Message(arbitration_id=int(str(v["id"]), 16), data=bytes.fromhex(str(v["data"])),
                       is_extended_id=True)


def assert_same(msg: can.Message, v: dict[str, object]) -> None:
    assert (f"{msg.arbitration_id:08X}", bytes(msg.data).hex().upper()) == (v["id"], v["data"])


def test_winline_read_voltage_request() -> None:
    assert_same(WL.poll_requests(1, True)[0],
                by_name("winline", "read output voltage request to module 1"))


def test_winline_setpoint_frames_float_voltage_and_integer_current() -> None:
    volt, amp = WL.set_output_requests(1, 400.0, 50.0)
    assert_same(volt, by_name("winline", "set output voltage 400 V"))
    assert_same(amp, by_name("winline", "set current 50 A as integer A x 1024"))


def test_winline_on_off_values() -> None:
    assert_same(WL.on_off_requests(1, True)[0], by_name("winline", "power on"))
    assert_same(WL.on_off_requests(1, False)[0], by_name("winline", "power off"))


def test_winline_voltage_reply_and_status_bits() -> None:
    assert WL.parse_reply(frame(by_name("winline", "output voltage reply 400.0 V"))) == (
        ReplyVoltageCurrent(1, 400.0, None))
    v = by_name("winline", "status reply: module fault, DCDC off, over-temperature")
    reply = WL.parse_reply(frame(v))
    assert isinstance(reply, ReplyStatus)
    assert reply.alarms == {ModuleAlarm(a) for a in v["alarms"]}
    assert reply.output_off


def test_error_byte_other_than_f0_raises_remote_error() -> None:
    with pytest.raises(PowerRemoteError, match="0xF2"):
        WL.parse_reply(frame(by_name("winline", "error reply 0xF2")))


def test_dpm1000_reads_current_register_7_with_its_own_function_and_id_bits() -> None:
    reads = DPM.poll_requests(1, True)
    assert_same(reads[1], by_name("dpm1000", "read current (register 0x0007) request to module 1"))


def test_dpm1000_current_limit_is_per_unit_float() -> None:
    volt, amp = DPM.set_output_requests(1, 400.0, 50.0)
    assert_same(volt, by_name("dpm1000", "set voltage 400 V"))
    assert_same(amp, by_name("dpm1000", "set current 50 A as per-unit 0.5 of 100 A"))


def test_dpm1000_alarm_bits() -> None:
    v = by_name("dpm1000", "alarm reply: phase loss, DCDC off")
    reply = DPM.parse_reply(frame(v))
    assert isinstance(reply, ReplyStatus)
    assert reply.alarms == {ModuleAlarm(a) for a in v["alarms"]}
    assert reply.output_off


def test_winline_rated_current_read_feeds_capabilities() -> None:
    value = reg060.float_to_u32(100.0).to_bytes(4, "big")
    msg = can.Message(arbitration_id=0x060F8008, data=bytes.fromhex("41F00012") + value,
                      is_extended_id=True)
    reply = WL.parse_reply(msg)
    assert isinstance(reply, ReplyCapabilities) and reply.max_current_a == 100.0


def test_id_round_trip_and_foreign_protno_rejected() -> None:
    fid = reg060.Reg060Id(True, 0x3F, 0xF0, 5)
    assert reg060.decode_id(reg060.encode_id(fid)) == fid
    with pytest.raises(PowerRemoteError):
        reg060.decode_id(0x0283F001)


def test_wrong_length_is_a_remote_error() -> None:
    msg = can.Message(arbitration_id=0x060F8008, data=b"\x41\xf0", is_extended_id=True)
    with pytest.raises(PowerRemoteError, match="DLC"):
        WL.parse_reply(msg)
