"""The protocol definition: framing facts, round trips, hostile input, the generated doc."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import cbor2
from hypothesis import given, settings, strategies as st

from drivers.board import mcu_protocol as P
from drivers.board.mcu_render import DOC_PATH, main, render
from drivers.board.mcu_sim import McuSimulator
from drivers.board.sim import SimBoard
from evse.runtime.scheduler import Scheduler

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=100, deadline=None)


def test_committed_doc_matches_the_definition() -> None:
    assert (ROOT / DOC_PATH).read_text(encoding="utf-8") == render(), \
        f"{DOC_PATH} is stale: run python -m drivers.board.mcu_render"


def test_check_mode_reports_a_stale_doc(tmp_path: Path) -> None:
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0


def test_doc_lists_every_message_field_and_timing_param() -> None:
    doc = render()
    for cls in P.MESSAGES:
        assert f"#### `{cls.TYPE.name}` (type 0x{int(cls.TYPE):02x})" in doc
        for f in P.fields_of(cls):
            assert f"| {f.key} | `{f.name}` |" in doc
    for t in P.TIMING:
        assert f"| `{t.name}` | {t.value_ns // P.MS} ms | {t.source} |" in doc


def test_crc_is_ccitt_false_and_cobs_removes_every_zero() -> None:
    assert P.crc16_ccitt(b"123456789") == 0x29B1
    for data in (b"", b"\x00", b"\x00" * 600, bytes(range(256)) * 3, b"\x11" * 254):
        enc = P.cobs_encode(data)
        assert 0 not in enc and P.cobs_decode(enc) == data


def _value(spec: P.FieldSpec) -> st.SearchStrategy[Any]:
    if spec.enum_type is not None:
        base: st.SearchStrategy[Any] = st.sampled_from(list(spec.enum_type))
    elif spec.kind == "bool":
        base = st.booleans()
    elif spec.kind == "text":
        base = st.text(max_size=8)
    else:
        base = st.integers(spec.lo, spec.hi)
    return st.none() | base if spec.nullable else base


MESSAGE = st.one_of(*[
    st.fixed_dictionaries({f.name: _value(f) for f in P.fields_of(cls)}).map(
        lambda kw, cls=cls: cls(**kw))
    for cls in P.MESSAGES
])


@FUZZ
@given(MESSAGE, st.integers(0, P.SEQ_MODULO - 1))
def test_every_message_round_trips_through_one_frame(msg: Any, seq: int) -> None:
    frame = P.encode_frame(msg, seq)
    assert frame.endswith(b"\x00") and 0 not in frame[:-1]
    assert len(P.cobs_decode(frame[:-1])) <= P.MAX_FRAME_BYTES
    assert list(P.Deframer().feed(frame)) == [(msg, seq)]


@FUZZ
@given(st.binary(max_size=400))
def test_any_byte_stream_yields_messages_or_typed_errors(data: bytes) -> None:
    """Invariant: the deframer never raises; every item is (message, seq) or McuDecodeError."""
    for item in P.Deframer().feed(data):
        assert isinstance(item, (tuple, P.McuDecodeError))


CBOR_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=40)
    | st.binary(max_size=10) | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.integers(-2, 20) | st.text(max_size=2), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 15), CBOR_VALUE, max_size=14)
       | CBOR_VALUE.map(lambda v: {0: v}))
def test_any_cbor_payload_parses_or_raises_decode_error(body: dict[Any, Any]) -> None:
    """Invariant: a well-framed payload of any CBOR shape parses or raises McuDecodeError."""
    payload = cbor2.dumps(body)
    try:
        msg, _seq = P.decode_payload(payload)
    except P.McuDecodeError as exc:
        assert isinstance(exc.code, P.ErrorCode)
    else:
        assert isinstance(msg, P.MESSAGES)


@FUZZ
@given(MESSAGE, st.integers(0, 200), st.integers(1, 255))
def test_a_corrupted_frame_is_a_typed_error_and_the_next_frame_still_decodes(
    msg: Any, pos: int, flip: int
) -> None:
    frame = bytearray(P.encode_frame(msg, 1))
    i = pos % (len(frame) - 1)
    frame[i] ^= flip
    if frame[i] == 0:
        frame[i] = 0x01 if frame[i] != 0x01 else 0x02
    items = list(P.Deframer().feed(bytes(frame) + P.encode_frame(P.KeepAlive(), 2)))
    assert items[-1] == (P.KeepAlive(), 2)
    for item in items[:-1]:
        assert isinstance(item, (tuple, P.McuDecodeError))


def test_an_overlong_run_is_one_too_long_error_then_resync() -> None:
    items = list(P.Deframer().feed(b"\x01" * 1000 + b"\x00" + P.encode_frame(P.KeepAlive(), 3)))
    assert isinstance(items[0], P.McuDecodeError) and items[0].code is P.ErrorCode.TOO_LONG
    assert items[1] == (P.KeepAlive(), 3)


def test_a_frame_with_trailing_bytes_or_unknown_keys_is_refused() -> None:
    ok = P.encode_payload(P.KeepAlive(), 1)
    for payload, code in (
        (ok + b"\x00", P.ErrorCode.CBOR),
        (cbor2.dumps({0: 2, 1: 1, 9: 1}), P.ErrorCode.BAD_FIELD),
        (cbor2.dumps({0: 0x7F, 1: 1}), P.ErrorCode.UNKNOWN_TYPE),
        (cbor2.dumps({0: 3, 1: 1, 2: 1, 3: 1001}), P.ErrorCode.BAD_FIELD),
        (cbor2.dumps({0: 3, 1: 1, 2: 9, 3: 50}), P.ErrorCode.BAD_FIELD),
        (cbor2.dumps({0: 4, 1: 1, 2: 1}), P.ErrorCode.BAD_FIELD),  # int is not bool
        (cbor2.dumps([0, 1]), P.ErrorCode.CBOR),
    ):
        try:
            P.decode_payload(payload)
        except P.McuDecodeError as exc:
            assert exc.code is code, payload.hex()
        else:
            raise AssertionError(f"accepted {payload.hex()}")


@FUZZ
@given(st.binary(max_size=300))
def test_the_simulated_firmware_answers_garbage_with_error_frames_never_an_exception(
    data: bytes,
) -> None:
    sched = Scheduler()
    sim = McuSimulator(SimBoard(sched.now_ns, sched.rng))
    sim.receive(data + b"\x00", 0)
    sim.step(1_000_000)
    for item in P.Deframer().feed(sim.data_to_send()):
        assert isinstance(item, tuple)
        msg, _ = item
        assert isinstance(msg, (P.Error, P.Version, P.Ack, P.Status))


def test_enums_are_small_integers_a_c_enum_can_hold() -> None:
    for e in P.ENUMS:
        for m in e:
            assert isinstance(m, enum.Enum) and 0 <= int(m) <= 0xFF
