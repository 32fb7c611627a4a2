"""Which TCP/TLS connection gets the V2G session, and when the SECC stops listening.

Sans-IO: the socket adapter (`evse.io.v2g_net.V2gNetServer`) reports what happened
(link up, connection accepted, first complete V2GTP frame, SessionSetupRes sent, a
connection gone) with `now_ns`; this core answers with typed decisions (`Admit`, `Close`)
and its next deadline. It never touches a socket and never reads a clock.

Why it exists: one EVSE serves one V2G communication session per plug-in. Before this, a
server with a fixed connection limit could be starved: connections that never send
anything (a hung earlier attempt, a scanner on the PLC link) filled the limit and the real
car's supportedAppProtocolReq met a TCP reset. The rules here:

- **Pending** connections (accepted, no supportedAppProtocolReq yet) are bounded
  (`AdmissionConfig.max_pending`, default 8). When a new one arrives at the bound, the
  oldest *idle* pending connection (nothing received at all) is dropped, else the oldest
  pending one; never a connection that has delivered its supportedAppProtocolReq, because
  that one is admitted at once, in the same call.
- The **first complete frame** of a pending connection must be an EXI frame (payload
  type 0x8001) that decodes as a supportedAppProtocolReq (ISO 15118-2 8.2 / [V2G2-541]:
  the first message of a V2G communication session; DIN SPEC 70121 9.1 likewise).
  Anything else closes that connection alone (`Close(NOT_SAP)`), the others are unaffected.
  A frame the V2GTP header check only discards (unknown payload type) leaves it pending.
- The first connection that delivers a valid supportedAppProtocolReq **owns the session**
  (`Admit`); the other pending connections are closed (`SESSION_OWNED`) and every further
  connection is refused at accept (`SESSION_OWNED`) while the owner is open. One V2G
  communication session per EVSE: a second car cannot exist on one charging cable, and a
  second connection of the same car would only race the first.
- **Communication setup timer** [V2G2-714]: started on D-LINK_READY (`link_up`), stopped
  when the owner's SessionSetupRes has been sent (`session_established`). When it reaches
  V2G_SECC_CommunicationSetup_Performance_Time without that, the SECC stops waiting for
  SessionSetupReq [V2G2-716] and terminates per [V2G2-034]: every pending connection and a
  not yet established owner are closed (`SETUP_TIMEOUT`). This covers both a car that
  connects and sends nothing and one that goes silent after supportedAppProtocol.
- Without a D-LINK_READY from a modem (a bench with no PLC modem, where "plug-in" is
  simulated and the car is started by hand), `link_up(..., on_first_contact=True)` starts
  the same timer at the car's first contact instead: its first SDP request or TCP
  connection. An idle connection is such a contact, so it is still bounded.
- After that, and after the owner's session is over, the SECC **neither answers SDP nor
  accepts connections** until the next D-LINK_READY (`link_up`: next plug-in or wake-up);
  refused connections and unanswered SDP requests carry the reason `NOT_ACCEPTING`.

The timer value is `COMMUNICATION_SETUP_TIMEOUT_NS` of `evse.secc.timing` (18 s, timing.md
§3; the 20 s figure is the EV's V2G_EVCC_CommunicationSetup_Timeout, which this must stay
below so the station gives up first). The per-connection pre-SAP timer of `SeccCore` is not
duplicated here: the SECC core only ever sees the admitted connection, whose
supportedAppProtocolReq it receives in the same instant it is opened.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import exi
from evse.secc.errors import SeccLocalError
from evse.secc.timing import COMMUNICATION_SETUP_TIMEOUT_NS
from exi import app

#: Pending (pre-SAP) connections kept at once. A car opens one; a few more cover a car that
#: retries (TLS refused, then TCP) and a stray peer; 8 is our choice, not a standard's.
DEFAULT_MAX_PENDING = 8
#: EXI payload type of V2GTP (ISO 15118-2 Table 10): supportedAppProtocolReq travels in it.
_EXI_PAYLOAD_TYPE = 0x8001


class Phase(enum.Enum):
    LINK_DOWN = "link_down"  # no D-LINK_READY yet (or link lost): nothing is accepted
    SETUP = "setup"  # communication setup timer runs; SDP answered, connections pending
    CLAIMED = "claimed"  # one connection sent supportedAppProtocolReq; timer still runs
    ESTABLISHED = "established"  # its SessionSetupRes went out: timer stopped [V2G2-714]
    ENDED = "ended"  # timer expired or the session is over: silent until next link_up


class CloseCause(enum.Enum):
    SETUP_TIMEOUT = "communication_setup_timeout"  # [V2G2-716] -> [V2G2-034]
    PENDING_LIMIT = "pending_limit"  # oldest pending dropped for a newer connection
    NOT_SAP = "first_frame_not_sap"  # first frame is no supportedAppProtocolReq
    SESSION_OWNED = "session_owned"  # another connection owns the V2G session
    NOT_ACCEPTING = "not_accepting"  # setup expired or session over: until next link_up
    LINK_DOWN = "link_down"  # D-LINK_ERROR / unplug


@dataclass(frozen=True, slots=True)
class Admit:
    """This connection owns the V2G session: hand it (and its first frame) to the SECC."""

    conn_id: int


@dataclass(frozen=True, slots=True)
class Close:
    """Close (or, for a connection just accepted, refuse) this connection."""

    conn_id: int
    cause: CloseCause
    detail: str


Decision = Admit | Close


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    #: V2G_SECC_CommunicationSetup_Performance_Time [V2G2-714/716], timing.md §3.
    setup_timeout_ns: int = COMMUNICATION_SETUP_TIMEOUT_NS
    max_pending: int = DEFAULT_MAX_PENDING

    def __post_init__(self) -> None:
        if self.max_pending < 1:
            raise SeccLocalError(f"max_pending must be >= 1, got {self.max_pending}")
        if self.setup_timeout_ns <= 0:
            raise SeccLocalError(f"setup_timeout_ns must be > 0, got {self.setup_timeout_ns}")


@dataclass(slots=True)
class _Pending:
    opened_ns: int
    bytes_seen: bool = False


def is_supported_app_protocol_req(payload_type: int, payload: bytes) -> str | None:
    """None when the frame is a decodable supportedAppProtocolReq, else why not."""
    if payload_type != _EXI_PAYLOAD_TYPE:
        return f"payload type 0x{payload_type:04x}, expected EXI 0x8001"
    try:
        msg = exi.decode("app", payload)
    except exi.DecodeError as exc:
        return f"undecodable EXI: {exc}"
    if not isinstance(msg, app.supportedAppProtocolReq):
        return f"{type(msg).__name__} instead of supportedAppProtocolReq"
    return None


class ConnectionAdmission:
    """The SECC's admission of V2G connections for one EVSE (one charging cable)."""

    def __init__(
        self,
        config: AdmissionConfig | None = None,
        *,
        classify: Callable[[int, bytes], str | None] = is_supported_app_protocol_req,
    ) -> None:
        self.config = config or AdmissionConfig()
        self._classify = classify
        self._phase = Phase.LINK_DOWN
        self._ended_by: CloseCause | None = None
        self._deadline_ns: int | None = None
        self._pending: dict[int, _Pending] = {}  # insertion order = acceptance order
        self._owner: int | None = None
        self._arm_on_contact = False

    # ------------------------------------------------------------------ state
    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def owner(self) -> int | None:
        return self._owner

    @property
    def pending(self) -> tuple[int, ...]:
        return tuple(self._pending)

    @property
    def ended_by(self) -> CloseCause | None:
        """Why the phase is ENDED (setup timeout, session over = None)."""
        return self._ended_by

    def is_pending(self, conn_id: int) -> bool:
        return conn_id in self._pending

    @property
    def answers_sdp(self) -> bool:
        """SDP is answered only while a car may still connect (before the setup timer
        expired and before a connection owns the session)."""
        return self._phase is Phase.SETUP

    def next_deadline_ns(self) -> int | None:
        return self._deadline_ns

    # ------------------------------------------------------------------ inputs
    def link_up(self, now_ns: int, *, on_first_contact: bool = False) -> list[Decision]:
        """D-LINK_READY (plug-in with the link up, or wake-up): the setup timer starts
        [V2G2-714], or with `on_first_contact` at the first SDP request or connection
        (no modem to say when the car's link came up). While a connection owns the
        session this changes nothing."""
        if self._phase in (Phase.CLAIMED, Phase.ESTABLISHED):
            return []
        self._phase = Phase.SETUP
        self._ended_by = None
        # Connections already waiting are contacts: they never wait unbounded.
        lazy = on_first_contact and not self._pending
        self._arm_on_contact = lazy
        self._deadline_ns = None if lazy else now_ns + self.config.setup_timeout_ns
        return []

    def sdp_request(self, now_ns: int) -> None:
        """An SDP request arrived (answered or not): a contact for `on_first_contact`."""
        self._contact(now_ns)

    def link_down(self, now_ns: int) -> list[Decision]:
        """D-LINK_ERROR / unplug: every connection goes, nothing is accepted."""
        out = self._close_all(CloseCause.LINK_DOWN, "data link down", owner_too=True)
        self._phase = Phase.LINK_DOWN
        self._deadline_ns = None
        return out

    def accepted(self, conn_id: int, now_ns: int) -> list[Decision]:
        """A TCP/TLS connection was accepted. A `Close` naming `conn_id` refuses it; other
        `Close`s are pending connections dropped to make room."""
        if conn_id in self._pending or conn_id == self._owner:
            raise SeccLocalError(f"connection {conn_id} reported twice")
        if self._phase is not Phase.SETUP:
            return [self._refusal(conn_id)]
        self._contact(now_ns)
        out: list[Decision] = []
        if len(self._pending) >= self.config.max_pending:
            victim = next((c for c, p in self._pending.items() if not p.bytes_seen),
                          next(iter(self._pending)))
            del self._pending[victim]
            out.append(Close(victim, CloseCause.PENDING_LIMIT,
                             f"{self.config.max_pending} pending connections: the oldest "
                             "makes room for a newer one"))
        self._pending[conn_id] = _Pending(opened_ns=now_ns)
        return out

    def bytes_received(self, conn_id: int, now_ns: int) -> None:
        """Part of a frame arrived: the connection is no longer idle (evicted last)."""
        p = self._pending.get(conn_id)
        if p is not None:
            p.bytes_seen = True

    def first_frame(self, conn_id: int, payload_type: int, payload: bytes,
                    now_ns: int) -> list[Decision]:
        """The first complete V2GTP frame of a pending connection: `Admit` (and the other
        pending ones closed) when it is a supportedAppProtocolReq, else `Close` of it."""
        if conn_id not in self._pending:
            raise SeccLocalError(f"connection {conn_id} is not pending")
        why_not = self._classify(payload_type, payload)
        if why_not is not None:
            del self._pending[conn_id]
            return [Close(conn_id, CloseCause.NOT_SAP, why_not)]
        del self._pending[conn_id]
        self._owner = conn_id
        self._phase = Phase.CLAIMED
        out: list[Decision] = [Admit(conn_id)]
        out += self._close_all(CloseCause.SESSION_OWNED,
                               f"connection {conn_id} owns the V2G session", owner_too=False)
        return out

    def session_established(self, conn_id: int, now_ns: int) -> list[Decision]:
        """The owner's SessionSetupRes went out: the setup timer stops [V2G2-714/716]."""
        if conn_id == self._owner and self._phase is Phase.CLAIMED:
            self._phase = Phase.ESTABLISHED
            self._deadline_ns = None
        return []

    def closed(self, conn_id: int, now_ns: int) -> list[Decision]:
        """The adapter closed a connection for its own reason (peer closed, V2GTP header
        error, TLS failure, the SECC ended the session). The owner gone means the session
        is over: nothing more until the next link_up."""
        self._pending.pop(conn_id, None)
        if conn_id == self._owner:
            self._owner = None
            self._phase = Phase.ENDED
            self._ended_by = None
            self._deadline_ns = None
        return []

    def handle_timer(self, now_ns: int) -> list[Decision]:
        """The communication setup timer, when due: [V2G2-716] then [V2G2-034]."""
        if self._deadline_ns is None or now_ns < self._deadline_ns:
            return []
        owner_too = self._phase is Phase.CLAIMED
        out = self._close_all(
            CloseCause.SETUP_TIMEOUT,
            f"no SessionSetupRes {self.config.setup_timeout_ns / 1e9:g} s after link-up "
            "(V2G_SECC_CommunicationSetup_Performance_Time, [V2G2-716])",
            owner_too=owner_too)
        self._phase = Phase.ENDED
        self._ended_by = CloseCause.SETUP_TIMEOUT
        self._deadline_ns = None
        return out

    # ------------------------------------------------------------------ internals
    def _contact(self, now_ns: int) -> None:
        if self._phase is Phase.SETUP and self._arm_on_contact and self._deadline_ns is None:
            self._arm_on_contact = False
            self._deadline_ns = now_ns + self.config.setup_timeout_ns

    def _refusal(self, conn_id: int) -> Close:
        if self._phase in (Phase.CLAIMED, Phase.ESTABLISHED):
            return Close(conn_id, CloseCause.SESSION_OWNED,
                         f"connection {self._owner} owns the V2G session")
        if self._phase is Phase.LINK_DOWN:
            return Close(conn_id, CloseCause.LINK_DOWN, "no data link")
        why = ("communication setup timed out" if self._ended_by is CloseCause.SETUP_TIMEOUT
               else "the V2G session is over")
        return Close(conn_id, CloseCause.NOT_ACCEPTING, f"{why}: waiting for the next plug-in")

    def _close_all(self, cause: CloseCause, detail: str, *, owner_too: bool) -> list[Decision]:
        out: list[Decision] = [Close(c, cause, detail) for c in self._pending]
        self._pending.clear()
        if owner_too and self._owner is not None:
            out.append(Close(self._owner, cause, detail))
            self._owner = None
        return out
