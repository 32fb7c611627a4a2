"""The safety-MCU link protocol: the single definition the driver, the simulator, the
generated reference (docs/mcu_protocol.md, `drivers.board.mcu_render`) and a C firmware share.

Why this shape (reference/hardware.md §4.5/§4.6, modelled on EVerest phyVERSO/Yeti):
- UART 115200 8N1 between the CM4 and the MCU; the MCU owns CP PWM and sampling, PP, the
  contactor coils and their feedback, the e-stop chain and a watchdog that opens the
  contactors when the Linux side stops sending keep-alives.
- A frame is ``COBS(payload || CRC16) || 0x00``: COBS (Cheshire & Baker 1999) gives a unique
  0x00 delimiter so a receiver resynchronises after any garbage; CRC-16/CCITT-FALSE (poly
  0x1021, init 0xFFFF, no reflection, big-endian on the wire) catches line noise. Both are a
  few lines of C (or `nanocobs` + a table CRC).
- The payload is one CBOR map (RFC 8949) with small unsigned integer keys: key 0 is the
  message type, key 1 the sequence number, keys 2.. the message's fields. Only unsigned and
  negative integers, booleans, null and short text strings are used, so `tinycbor`/`QCBOR`/
  `nanocbor` decode it without floats or allocation.
- Every host→MCU message carries a fresh sequence number and is acknowledged by an ACK
  echoing it; a host message without ACK after `ACK_TIMEOUT_NS` is resent with the *same*
  sequence number, at most `MAX_RESENDS` times. Commands are absolute states (set duty, allow
  or not), so a duplicate applied twice is harmless. MCU→host STATUS frames are periodic
  state, never acknowledged: a lost one is replaced by the next.
- Malformed input never crashes either side: the receiver counts it and answers an ERROR
  frame (MCU) or records a typed `McuDecodeError` (host).

Everything below is data: message types, their fields (CBOR key, type, range, unit, doc),
enums and timing parameters, each with its source. The render module turns it into the
reference document; nothing else restates it.
"""

from __future__ import annotations

import binascii
import dataclasses
import enum
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cbor2

from evse.ports.board import BoardError

MS = 1_000_000

#: Protocol version exchanged in HELLO/VERSION; a different value refuses the link.
PROTOCOL_VERSION = 1
#: UART line speed (hardware.md §4.5: EVerest Yeti/phyVERSO use 115200 8N1).
DEFAULT_BAUD = 115200
#: Longest decoded frame (CBOR + CRC). A STATUS is ~40 bytes; 128 keeps MCU buffers small.
MAX_FRAME_BYTES = 128
#: Longest text field (firmware id, host id).
MAX_TEXT_BYTES = 32
#: CBOR map keys shared by every message.
KEY_TYPE = 0
KEY_SEQ = 1
SEQ_MODULO = 1 << 16


@dataclass(frozen=True, slots=True)
class TimingParam:
    name: str
    value_ns: int
    source: str


#: Timing parameters of the link, each a named value with its source.
KEEPALIVE_PERIOD = TimingParam(
    "KEEPALIVE_PERIOD", 1000 * MS,
    "host sends KEEPALIVE at 1 Hz (EVerest Yeti/phyVERSO; hardware.md §4.5; "
    "evse/cp/pilot.py KEEPALIVE_PERIOD_NS)",
)
MCU_WATCHDOG_TIMEOUT = TimingParam(
    "MCU_WATCHDOG_TIMEOUT", 3000 * MS,
    "MCU opens the contactors after 3 missed 1 Hz keep-alives (drivers/board/sim.py "
    "SimBoardParams.keepalive_timeout_ns; config board.keepalive_timeout_ms); only KEEPALIVE "
    "feeds it, so a hung host whose UART still works is caught too",
)
MCU_REACTION = TimingParam(
    "MCU_REACTION", 10 * MS,
    "MCU interlock reaction, one PWM-synchronous check (drivers/board/sim.py "
    "SimBoardParams.mcu_reaction_ns)",
)
STATUS_PERIOD = TimingParam(
    "STATUS_PERIOD", 20 * MS,
    "MCU streams STATUS at this period and at once on any change (chargebyte Charge SOM "
    "streams 'Charge State' at a short period, hardware.md §4.5); 2 CP samples per pilot "
    "debounce window of 30 ms (evse/cp/pilot.py CP_DEBOUNCE_SAMPLES x 10 ms)",
)
ACK_TIMEOUT = TimingParam(
    "ACK_TIMEOUT", 50 * MS,
    "host resends an unacknowledged message after this; a 128-byte frame takes 11 ms at "
    "115200 baud, so 50 ms is a round trip plus one MCU main-loop turn with margin",
)
MAX_RESENDS = 3  # after 3 resends (200 ms without ACK) the host declares the link lost
LINK_TIMEOUT = TimingParam(
    "LINK_TIMEOUT", 200 * MS,
    "host declares the link lost after 10 STATUS periods without a valid frame (and after "
    "MAX_RESENDS unacknowledged resends); well inside the 3 s MCU watchdog so Linux knows "
    "before the MCU acts",
)
HANDSHAKE_TIMEOUT = TimingParam(
    "HANDSHAKE_TIMEOUT", 1000 * MS,
    "VERSION must answer HELLO within this at start-up, else the device is reported missing",
)
TIMING: tuple[TimingParam, ...] = (
    KEEPALIVE_PERIOD, MCU_WATCHDOG_TIMEOUT, MCU_REACTION, STATUS_PERIOD, ACK_TIMEOUT,
    LINK_TIMEOUT, HANDSHAKE_TIMEOUT,
)


# --- enums ---------------------------------------------------------------------------------
class Direction(enum.Enum):
    HOST_TO_MCU = "host → MCU"
    MCU_TO_HOST = "MCU → host"


class MsgType(enum.IntEnum):
    """Key 0 of every payload."""

    HELLO = 0x01
    KEEPALIVE = 0x02
    SET_CP = 0x03
    ALLOW_POWER = 0x04
    CONTACTOR = 0x05
    RESET_FAULT = 0x06
    VERSION = 0x81
    STATUS = 0x82
    ACK = 0x83
    ERROR = 0x84


class CpMode(enum.IntEnum):
    """What the MCU drives on CP (IEC 61851-1 Annex A; hardware.md §4.2)."""

    X1 = 0  # steady +12 V
    PWM = 1  # 1 kHz +/-12 V with duty_permille (X2)
    F = 2  # steady -12 V


class PpCode(enum.IntEnum):
    UNKNOWN = 0
    DISCONNECTED = 1
    CONNECTED = 2
    FAULT = 3


class WatchdogState(enum.IntEnum):
    NOT_ARMED = 0  # no HELLO yet: contactors held open
    FED = 1  # keep-alives arrive within MCU_WATCHDOG_TIMEOUT
    EXPIRED = 2  # timed out: contactors forced open until the next KEEPALIVE


class FaultFlag(enum.IntFlag):
    """Bits of STATUS.fault_flags (phyVERSO error_flags, hardware.md §4.5)."""

    KEEPALIVE_TIMEOUT = 0x01
    CONTACTOR_FEEDBACK_DIVERGES = 0x02
    CP_SIGNAL_FAULT = 0x04
    DIODE_FAULT = 0x08
    PP_SIGNAL_FAULT = 0x10


class AckResult(enum.IntEnum):
    OK = 0
    REFUSED = 1  # well-formed but not applicable (e.g. version mismatch)


class ErrorCode(enum.IntEnum):
    """ERROR.code, and the code of the host's typed `McuDecodeError`."""

    COBS = 1  # bad COBS encoding (or an empty frame)
    CRC = 2  # CRC-16 mismatch
    CBOR = 3  # not one well-formed CBOR map with integer keys
    UNKNOWN_TYPE = 4  # key 0 missing or not a known message type
    BAD_FIELD = 5  # a field missing, of the wrong type or out of range
    TOO_LONG = 6  # decoded frame longer than MAX_FRAME_BYTES
    NOT_READY = 7  # a command before a HELLO of a matching protocol version


# --- errors --------------------------------------------------------------------------------
class McuDecodeError(BoardError):
    """What the other side sent is malformed (its fault, not ours); carries the code that an
    ERROR frame reports."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail


# --- messages ------------------------------------------------------------------------------
def _f(key: int, doc: str, *, lo: int | None = None, hi: int | None = None,
       unit: str = "", default: Any = dataclasses.MISSING) -> Any:
    meta = {"key": key, "doc": doc, "lo": lo, "hi": hi, "unit": unit}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


U8, U16, U32 = 0xFF, 0xFFFF, 0xFFFF_FFFF
I16_LO, I16_HI = -0x8000, 0x7FFF


@dataclass(frozen=True, slots=True)
class Hello:
    """Start of the handshake; arms the MCU watchdog (counts as the first keep-alive)."""

    TYPE: ClassVar[MsgType] = MsgType.HELLO
    DIRECTION: ClassVar[Direction] = Direction.HOST_TO_MCU
    protocol_version: int = _f(2, "PROTOCOL_VERSION the host speaks", lo=0, hi=U16)
    host_id: str = _f(3, "host software id, for the MCU's log")


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Feeds the MCU watchdog; the only message that does."""

    TYPE: ClassVar[MsgType] = MsgType.KEEPALIVE
    DIRECTION: ClassVar[Direction] = Direction.HOST_TO_MCU


@dataclass(frozen=True, slots=True)
class SetCp:
    """CP output: X1, PWM with duty, or F."""

    TYPE: ClassVar[MsgType] = MsgType.SET_CP
    DIRECTION: ClassVar[Direction] = Direction.HOST_TO_MCU
    mode: CpMode = _f(2, "CpMode")
    duty_permille: int = _f(3, "PWM duty (50 = 5 % = HLC); ignored unless mode is PWM",
                            lo=0, hi=1000, unit="‰")


@dataclass(frozen=True, slots=True)
class AllowPower:
    """Permission to energise (the MCU still interlocks: EV in C/D, PWM on, watchdog fed,
    e-stop released); withdrawing it opens the contactors at once."""

    TYPE: ClassVar[MsgType] = MsgType.ALLOW_POWER
    DIRECTION: ClassVar[Direction] = Direction.HOST_TO_MCU
    allowed: bool = _f(2, "true = power may be switched on")


@dataclass(frozen=True, slots=True)
class Contactor:
    """Request the DC contactor coils closed or open; closes only with AllowPower and the
    interlocks satisfied."""

    TYPE: ClassVar[MsgType] = MsgType.CONTACTOR
    DIRECTION: ClassVar[Direction] = Direction.HOST_TO_MCU
    close: bool = _f(2, "true = close request, false = open request")


@dataclass(frozen=True, slots=True)
class ResetFault:
    """Clear the MCU's latched fault flags that are no longer active (the operator's
    RESET_FAULT); ACK OK = cleared, REFUSED = a fault is still active. The host's pilot
    leaves F only after the ACK OK."""

    TYPE: ClassVar[MsgType] = MsgType.RESET_FAULT
    DIRECTION: ClassVar[Direction] = Direction.HOST_TO_MCU


@dataclass(frozen=True, slots=True)
class Version:
    """Answer to every HELLO, also of another protocol version (so the host can name it)."""

    TYPE: ClassVar[MsgType] = MsgType.VERSION
    DIRECTION: ClassVar[Direction] = Direction.MCU_TO_HOST
    protocol_version: int = _f(2, "PROTOCOL_VERSION the firmware speaks", lo=0, hi=U16)
    firmware_id: str = _f(3, "firmware name and version")
    watchdog_timeout_ms: int = _f(4, "the firmware's MCU_WATCHDOG_TIMEOUT", lo=0, hi=U32,
                                  unit="ms")


@dataclass(frozen=True, slots=True)
class Status:
    """Periodic state every STATUS_PERIOD and at once on a change; never acknowledged."""

    TYPE: ClassVar[MsgType] = MsgType.STATUS
    DIRECTION: ClassVar[Direction] = Direction.MCU_TO_HOST
    cp_high_mv: int = _f(2, "CP positive plateau", lo=I16_LO, hi=I16_HI, unit="mV")
    cp_low_mv: int = _f(3, "CP negative plateau (PWM low phase)", lo=I16_LO, hi=I16_HI,
                        unit="mV")
    pp_state: PpCode = _f(4, "PpCode")
    pp_ohm: int | None = _f(5, "PP-PE resistance, null when open or not measured",
                            lo=0, hi=U16, unit="Ω")
    contactor_closed: bool = _f(6, "mirror contacts report closed")
    coil_on: bool = _f(7, "the MCU drives the coils")
    estop: bool = _f(8, "e-stop chain open (coils cut in hardware)")
    fault_flags: int = _f(9, "FaultFlag bits currently active", lo=0, hi=U16)
    watchdog: WatchdogState = _f(10, "WatchdogState")
    mcu_time_ms: int = _f(11, "MCU uptime (wraps)", lo=0, hi=U32, unit="ms")
    cp_mode: CpMode = _f(12, "CpMode the MCU drives while it took this sample")
    duty_permille: int = _f(13, "PWM duty it drives (1000 unless PWM)", lo=0, hi=1000,
                            unit="‰")


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledges one host message; `seq` is the MCU's own, `acked_seq` the host's."""

    TYPE: ClassVar[MsgType] = MsgType.ACK
    DIRECTION: ClassVar[Direction] = Direction.MCU_TO_HOST
    acked_seq: int = _f(2, "sequence number of the host message", lo=0, hi=U16)
    result: AckResult = _f(3, "AckResult")


@dataclass(frozen=True, slots=True)
class Error:
    """The MCU could not use a frame; the host does not ack it and resends on its timer."""

    TYPE: ClassVar[MsgType] = MsgType.ERROR
    DIRECTION: ClassVar[Direction] = Direction.MCU_TO_HOST
    code: ErrorCode = _f(2, "ErrorCode")
    bad_seq: int | None = _f(3, "sequence number of the offending frame, null if unknown",
                             lo=0, hi=U16)


Message = Hello | KeepAlive | SetCp | AllowPower | Contactor | ResetFault | Version | Status \
    | Ack | Error
MESSAGES: tuple[type[Any], ...] = (
    Hello, KeepAlive, SetCp, AllowPower, Contactor, ResetFault, Version, Status, Ack, Error,
)
_BY_TYPE: dict[int, type[Any]] = {cls.TYPE: cls for cls in MESSAGES}
ENUMS: tuple[type[enum.IntEnum] | type[enum.IntFlag], ...] = (
    MsgType, CpMode, PpCode, WatchdogState, FaultFlag, AckResult, ErrorCode,
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: int
    name: str
    kind: str  # uint, int, bool, text, enum name
    nullable: bool
    lo: int | None
    hi: int | None
    unit: str
    doc: str
    enum_type: type[enum.IntEnum] | None


def fields_of(cls: type[Any]) -> tuple[FieldSpec, ...]:
    """The wire fields of a message class, from its dataclass metadata."""
    out = []
    hints = {"int": "int", "bool": "bool", "str": "text"}
    for f in dataclasses.fields(cls):
        ann = str(f.type)
        nullable = ann.endswith("| None")
        base = ann.replace("| None", "").strip()
        enum_type = next((e for e in ENUMS if e.__name__ == base), None)
        if enum_type is not None and issubclass(enum_type, enum.IntEnum):
            kind = base
        else:
            enum_type = None
            kind = hints[base]
            if kind == "int":
                lo = f.metadata["lo"]
                kind = "uint" if lo is not None and lo >= 0 else "int"
        out.append(FieldSpec(
            f.metadata["key"], f.name, kind, nullable, f.metadata["lo"], f.metadata["hi"],
            f.metadata["unit"], f.metadata["doc"], enum_type,
        ))
    return tuple(out)


_FIELDS: dict[type[Any], tuple[FieldSpec, ...]] = {cls: fields_of(cls) for cls in MESSAGES}


# --- CRC and COBS --------------------------------------------------------------------------
def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF; check("123456789") == 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """COBS: no 0x00 in the output; overhead 1 byte per 254."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    n = len(data)
    if n == 0:
        raise McuDecodeError(ErrorCode.COBS, "empty frame")
    while i < n:
        code = data[i]
        if code == 0:
            raise McuDecodeError(ErrorCode.COBS, f"zero byte at {i}")
        end = i + code
        if end > n:
            raise McuDecodeError(ErrorCode.COBS, f"block at {i} runs past the frame end")
        block = data[i + 1:end]
        if 0 in block:
            raise McuDecodeError(ErrorCode.COBS, "zero byte inside a block")
        out += block
        i = end
        if code != 255 and i < n:
            out.append(0)
    return bytes(out)


# --- payload -------------------------------------------------------------------------------
def encode_payload(msg: Message, seq: int) -> bytes:
    if not 0 <= seq < SEQ_MODULO:
        raise ValueError(f"seq {seq} out of range")
    body: dict[int, Any] = {KEY_TYPE: int(msg.TYPE), KEY_SEQ: seq}
    for spec in _FIELDS[type(msg)]:
        value = getattr(msg, spec.name)
        body[spec.key] = int(value) if isinstance(value, enum.IntEnum) else value
    return bytes(cbor2.dumps(body, canonical=True))


def encode_frame(msg: Message, seq: int) -> bytes:
    """One wire frame, delimiter included."""
    payload = encode_payload(msg, seq)
    crc = crc16_ccitt(payload)
    return cobs_encode(payload + crc.to_bytes(2, "big")) + b"\x00"


def _check_value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise McuDecodeError(ErrorCode.BAD_FIELD, f"{spec.name} is null")
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise McuDecodeError(ErrorCode.BAD_FIELD, f"{spec.name} is not a bool")
        return value
    if spec.kind == "text":
        if not isinstance(value, str) or len(value.encode()) > MAX_TEXT_BYTES:
            raise McuDecodeError(ErrorCode.BAD_FIELD, f"{spec.name} is not a short text")
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise McuDecodeError(ErrorCode.BAD_FIELD, f"{spec.name} is not an integer")
    if spec.enum_type is not None:
        try:
            return spec.enum_type(value)
        except ValueError:
            raise McuDecodeError(ErrorCode.BAD_FIELD,
                                 f"{spec.name}={value} is no {spec.kind}") from None
    if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
        raise McuDecodeError(ErrorCode.BAD_FIELD, f"{spec.name}={value} out of range")
    return value


def peek_seq(payload: bytes) -> int | None:
    """Best-effort sequence number of a frame that failed later checks (for ERROR)."""
    try:
        body = cbor2.loads(payload)
    except Exception:  # noqa: BLE001 - best effort on already-rejected input
        return None
    seq = body.get(KEY_SEQ) if isinstance(body, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= U16 \
        else None


def decode_payload(payload: bytes) -> tuple[Message, int]:
    """CBOR map -> (message, seq); any defect raises McuDecodeError."""
    stream = io.BytesIO(payload)
    try:
        body = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError,
            LookupError, MemoryError) as exc:
        raise McuDecodeError(ErrorCode.CBOR, f"not CBOR: {exc}") from None
    if stream.tell() != len(payload):
        raise McuDecodeError(ErrorCode.CBOR, "trailing bytes after the map")
    if not isinstance(body, dict) or not all(
        isinstance(k, int) and not isinstance(k, bool) for k in body
    ):
        raise McuDecodeError(ErrorCode.CBOR, "not a map with integer keys")
    mtype = body.get(KEY_TYPE)
    cls = _BY_TYPE.get(mtype) if isinstance(mtype, int) and not isinstance(mtype, bool) \
        else None
    if cls is None:
        raise McuDecodeError(ErrorCode.UNKNOWN_TYPE, f"message type {mtype!r}")
    seq = body.get(KEY_SEQ)
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < SEQ_MODULO:
        raise McuDecodeError(ErrorCode.BAD_FIELD, f"seq {seq!r}")
    specs = _FIELDS[cls]
    known = {KEY_TYPE, KEY_SEQ} | {s.key for s in specs}
    extra = set(body) - known
    if extra:
        raise McuDecodeError(ErrorCode.BAD_FIELD, f"unknown keys {sorted(extra)}")
    kwargs = {}
    for spec in specs:
        if spec.key not in body:
            raise McuDecodeError(ErrorCode.BAD_FIELD, f"{spec.name} (key {spec.key}) missing")
        kwargs[spec.name] = _check_value(spec, body[spec.key])
    msg: Message = cls(**kwargs)
    return msg, seq


def decode_frame(frame: bytes) -> tuple[Message, int]:
    """One frame without its 0x00 delimiter -> (message, seq), or McuDecodeError."""
    raw = cobs_decode(frame)
    if len(raw) > MAX_FRAME_BYTES:
        raise McuDecodeError(ErrorCode.TOO_LONG, f"{len(raw)} bytes")
    if len(raw) < 3:
        raise McuDecodeError(ErrorCode.CRC, "shorter than a CRC")
    payload, crc = raw[:-2], int.from_bytes(raw[-2:], "big")
    if crc16_ccitt(payload) != crc:
        raise McuDecodeError(ErrorCode.CRC, f"CRC {crc:#06x} != {crc16_ccitt(payload):#06x}")
    return decode_payload(payload)


class Deframer:
    """Splits a byte stream at 0x00 delimiters; bounded (an over-long run is dropped as one
    TOO_LONG error and the receiver resynchronises at the next delimiter)."""

    #: COBS of MAX_FRAME_BYTES adds at most one byte per 254.
    MAX_ENCODED = MAX_FRAME_BYTES + MAX_FRAME_BYTES // 254 + 1

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> Iterator[tuple[Message, int] | McuDecodeError]:
        """Yield each complete frame's (message, seq) or its typed error."""
        for b in data:
            if b != 0:
                if len(self._buf) < self.MAX_ENCODED:
                    self._buf.append(b)
                else:
                    self._overflow = True
                continue
            frame, overflow = bytes(self._buf), self._overflow
            self._buf.clear()
            self._overflow = False
            if overflow:
                yield McuDecodeError(ErrorCode.TOO_LONG, "frame longer than MAX_FRAME_BYTES")
            elif frame:  # back-to-back delimiters are idle fill, not frames
                try:
                    yield decode_frame(frame)
                except McuDecodeError as exc:
                    yield exc
