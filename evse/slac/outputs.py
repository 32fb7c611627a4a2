"""What the EVSE SLAC core hands back to the station: frames to send and link events.

The station wires them as follows: `SendFrame` to the HomePlug driver; `MatchingStarted`,
`LinkReady`, `LinkError`, `LinkTerminated` to the controller (D-LINK_READY starts SDP/SECC;
`LinkReady.ev_mac` is the contract signal `plc.ev_mac`); `EfRetryRequested` to the control
pilot core; `SessionEnded`, `FrameDropped`, `KeySet`, `ModemFound` to the log/trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LinkErrorReason(Enum):
    INIT_TIMEOUT = "init_timeout"  # no CM_SLAC_PARM.REQ after C_sequ_retry retries
    SET_KEY_FAILED = "set_key_failed"  # modem never confirmed the key
    JOIN_TIMEOUT = "join_timeout"  # TT_match_join: no link-up from the modem
    LINK_LOST = "link_lost"  # link down while linked
    RESTARTED = "restarted"  # the matched car started a new SLAC


class SessionEndReason(Enum):
    TOO_FAR = "too_far"
    NO_SOUNDS = "no_sounds"
    PARM_TIMEOUT = "parm_timeout"
    NO_ATTEN_RSP = "no_atten_rsp"
    MATCH_SESSION_TIMEOUT = "match_session_timeout"
    SUPERSEDED = "superseded"  # same car, new RunID (restart mid-way)
    NOT_MATCHED = "not_matched"  # another car was matched


@dataclass(frozen=True, slots=True)
class SendFrame:
    raw: bytes


@dataclass(frozen=True, slots=True)
class MatchingStarted:
    """First CM_SLAC_PARM.REQ of a car: the controller's 'matching' report (EVerest#1500)."""

    ev_mac: bytes
    run_id: bytes


@dataclass(frozen=True, slots=True)
class LinkReady:
    """D-LINK_READY: start SDP/SECC. `ev_mac` feeds AutoCharge and log correlation."""

    ev_mac: bytes
    run_id: bytes
    nid: bytes


@dataclass(frozen=True, slots=True)
class LinkError:
    """D-LINK_ERROR."""

    reason: LinkErrorReason
    ev_mac: bytes | None = None
    run_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class LinkTerminated:
    """Link torn down on the controller's request or a pilot change; key cleared."""

    ev_mac: bytes | None
    run_id: bytes | None


@dataclass(frozen=True, slots=True)
class EfRetryRequested:
    """Ask the pilot core for E/F during `step_ef_ns`, then 5 % PWM again (C_sequ_retry)."""

    attempt: int
    step_ef_ns: int


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """A matching session other than the matched one ended (diagnostics)."""

    ev_mac: bytes
    run_id: bytes
    reason: SessionEndReason
    attenuation_db: float | None = None


@dataclass(frozen=True, slots=True)
class KeySet:
    """The modem confirmed CM_SET_KEY; `modem_result` is 0x00 (spec) or 0x01 (QCA)."""

    nid: bytes
    modem_result: int


@dataclass(frozen=True, slots=True)
class ModemFound:
    """The local modem answered VS_SW_VER: which chip and firmware carry our link (logs)."""

    modem_mac: bytes
    device_id: int
    version: str


@dataclass(frozen=True, slots=True)
class FrameDropped:
    """A received frame was ignored: malformed, our own echo, stale run, unknown car."""

    reason: str
    src: bytes | None = None


Output = (
    SendFrame
    | MatchingStarted
    | LinkReady
    | LinkError
    | LinkTerminated
    | EfRetryRequested
    | SessionEnded
    | KeySet
    | ModemFound
    | FrameDropped
)
