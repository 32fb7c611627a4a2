"""OCPP-J RPC framing (Call / CallResult / CallError) without I/O.

Why sans-IO: the same endpoint runs in virtual time under test and behind a websocket in
production; it takes JSON text and `now_ns` and returns JSON text. Every incoming Call and
CallResult is validated against the OCPP JSON schemas shipped with the `ocpp` library
(`ocpp.messages`); an invalid Call is answered with the CallError code the library's
validation names (OCPP-J 1.6 §4.2.3 / 2.0.1 §4.3) and is not handed to the application.
Outgoing payloads are validated too: an invalid one is our bug (`ControllerUsageError`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator, unpack

from evse.controller.errors import ControllerUsageError, CsmsProtocolError

#: OCPP-J: an unanswered Call is given up after this (1.6J §4.1.1 leaves it to the
#: implementation; EVerest MessageTimeout default 30 s).
CALL_TIMEOUT_NS = 30_000_000_000


@dataclass(frozen=True, slots=True)
class IncomingCall:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IncomingResult:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IncomingError:
    unique_id: str
    action: str
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class CallTimedOut:
    unique_id: str
    action: str


Incoming = IncomingCall | IncomingResult | IncomingError | CallTimedOut


def _plain(payload: Any) -> Any:
    """Decimal back to float after the library's 1.6 Decimal parsing of charging schedules."""
    return json.loads(json.dumps(payload, default=float))


class OcppRpc:
    """One side's OCPP-J framing: ids, pending call, validation, timeouts."""

    def __init__(self, version: str, *, id_prefix: str = "",
                 call_timeout_ns: int = CALL_TIMEOUT_NS) -> None:
        if version not in ("1.6", "2.0.1"):
            raise ControllerUsageError(f"unsupported OCPP version {version!r}")
        self.version = version
        self._prefix = id_prefix
        self._timeout_ns = call_timeout_ns
        self._next_id = 0
        self._pending: dict[str, tuple[str, int]] = {}  # unique_id -> (action, deadline)

    # ------------------------------------------------------------------ outgoing
    def make_call(
        self, action: str, payload: dict[str, Any], now_ns: int, unique_id: str | None = None,
        timeout_ns: int | None = None,
    ) -> tuple[str, str]:
        """Return (unique_id, text). Raises ControllerUsageError if our payload is invalid."""
        if unique_id is None:
            unique_id = self.new_id()
        call = Call(unique_id, action, payload)
        try:
            self._check(MessageType.Call, action, payload)
        except CsmsProtocolError as exc:
            raise ControllerUsageError(f"outgoing {action} invalid: {exc}") from exc
        self._pending[unique_id] = (action, now_ns + (timeout_ns or self._timeout_ns))
        return unique_id, str(call.to_json())

    def new_id(self) -> str:
        self._next_id += 1
        return f"{self._prefix}{self._next_id}"

    def set_prefix(self, prefix: str) -> None:
        self._prefix = prefix

    def make_result(self, unique_id: str, action: str, payload: dict[str, Any]) -> str:
        try:
            self._check(MessageType.CallResult, action, payload)
        except CsmsProtocolError as exc:
            raise ControllerUsageError(f"outgoing {action} response invalid: {exc}") from exc
        return str(CallResult(unique_id, payload).to_json())

    @staticmethod
    def make_error(unique_id: str, code: str, description: str) -> str:
        return str(CallError(unique_id, code, description, {}).to_json())

    @property
    def pending(self) -> int:
        return len(self._pending)

    def forget_pending(self) -> list[CallTimedOut]:
        """The connection dropped: every outstanding call is lost."""
        lost = [CallTimedOut(uid, action) for uid, (action, _) in self._pending.items()]
        self._pending.clear()
        return lost

    def next_deadline_ns(self) -> int | None:
        return min((d for _, d in self._pending.values()), default=None)

    def handle_timer(self, now_ns: int) -> list[CallTimedOut]:
        due = [uid for uid, (_, d) in self._pending.items() if d <= now_ns]
        return [CallTimedOut(uid, self._pending.pop(uid)[0]) for uid in due]

    # ------------------------------------------------------------------ incoming
    def receive(self, text: str, now_ns: int) -> Incoming:
        """Parse and validate one frame. Raises CsmsProtocolError with the CallError code.

        The caller answers an invalid Call with `make_error(exc.unique_id, exc.code, ...)`
        when `exc.unique_id` is known, and drops the frame otherwise.
        """
        try:
            msg = unpack(text)
        except OCPPError as exc:
            code = exc.code
            if code == "FormatViolation":
                # Not JSON at all: 1.6J §4.2.3 FormationViolation; 2.0.1 §4.3 RpcFrameworkError
                code = self._format_code if self.version == "1.6" else "RpcFrameworkError"
            raise CsmsProtocolError(code, str(exc.description), _peek_id(text)) from exc
        except (IndexError, KeyError) as exc:
            raise CsmsProtocolError("ProtocolError", "malformed frame", _peek_id(text)) from exc
        if isinstance(msg, Call):
            if not isinstance(msg.payload, dict) or not isinstance(msg.action, str):
                raise CsmsProtocolError(self._format_code, "payload not an object",
                                        str(msg.unique_id))
            try:
                self._check(MessageType.Call, msg.action, msg.payload)
            except CsmsProtocolError as exc:
                exc.unique_id = str(msg.unique_id)
                raise
            return IncomingCall(str(msg.unique_id), msg.action, _plain(msg.payload))
        if isinstance(msg, CallResult):
            uid = str(msg.unique_id)
            entry = self._pending.pop(uid, None)
            if entry is None:
                raise CsmsProtocolError("ProtocolError", f"result for unknown call {uid}")
            action = entry[0]
            if not isinstance(msg.payload, dict):
                raise CsmsProtocolError(self._format_code, f"{action} response not an object",
                                        answered=(uid, action))
            try:
                self._check(MessageType.CallResult, action, msg.payload)
            except CsmsProtocolError as exc:
                exc.answered = (uid, action)
                raise
            return IncomingResult(uid, action, _plain(msg.payload))
        uid = str(msg.unique_id)
        entry = self._pending.pop(uid, None)
        if entry is None:
            raise CsmsProtocolError("ProtocolError", f"error for unknown call {uid}")
        return IncomingError(uid, entry[0], str(msg.error_code), str(msg.error_description))


    # ------------------------------------------------------------------ schema
    @property
    def _format_code(self) -> str:
        # OCPP-J 1.6 spells it FormationViolation; 2.0.1 FormatViolation.
        return "FormationViolation" if self.version == "1.6" else "FormatViolation"

    def _check(self, message_type: int, action: str, payload: Any) -> None:
        """Validate against the shipped schema and name the OCPP-J error code for a failure.

        The mapping follows the CallError definitions of OCPP-J (1.6 §4.2.3, 2.0.1 §4.3):
        missing field = occurrence, wrong JSON type = type, value out of its allowed set or
        bounds = property, unknown field = format; unknown action = NotImplemented.
        """
        try:
            validator = get_validator(message_type, action, self.version)
        except (OSError, ValueError):
            raise CsmsProtocolError("NotImplemented", f"unknown action {action!r}") from None
        if validator.is_valid(payload):
            return  # the common case; collecting every error costs twice as much
        error = next(iter(sorted(validator.iter_errors(payload), key=_error_rank)), None)
        if error is None:
            return
        raise CsmsProtocolError(self._code_for(error), f"{action}: {error.message}")

    def _code_for(self, error: Any) -> str:  # jsonschema ValidationError (untyped)
        kind = error.validator
        if kind == "required":
            return ("OccurenceConstraintViolation" if self.version == "1.6"
                    else "OccurrenceConstraintViolation")
        if kind == "type":
            return "TypeConstraintViolation"
        if kind in ("enum", "maxLength", "minLength", "minimum", "maximum", "pattern",
                    "multipleOf", "maxItems", "minItems", "format"):
            return "PropertyConstraintViolation"
        return self._format_code


def _error_rank(error: Any) -> tuple[int, str]:
    order = {"additionalProperties": 0, "required": 1, "type": 2}
    return (order.get(str(error.validator), 3), str(error.path))


def _peek_id(text: str) -> str | None:
    try:
        frame = json.loads(text)
    except (ValueError, TypeError):
        return None
    if isinstance(frame, list) and len(frame) >= 2 and frame[0] == 2 and isinstance(
        frame[1], str
    ):
        return frame[1]
    return None
