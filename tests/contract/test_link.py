"""The CBOR stream link (sans-IO) in virtual time: delivery, corruption, versions, reconnect."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings, strategies as st

from evse.contract.errors import ContractUsageError, LinkBackpressureError, ViolationKind
from evse.contract.events import (
    FrameDropped,
    LinkDown,
    LinkDownReason,
    LinkUp,
    PeerRestarted,
    RejectedByPeer,
    SampleRejected,
    SignalReceived,
)
from evse.contract.framing import FrameDecoder, encode_frame
from evse.contract.link import (
    DEAD_TIMEOUT_NS,
    HEARTBEAT_INTERVAL_NS,
    MAX_PENDING_EVENTS,
    LinkState,
    StreamLink,
)
from evse.contract.values import (
    CONTRACT_MAJOR,
    CONTRACT_MINOR,
    AuthStatus,
    CtrlAuthStatus,
    IsolationStatus,
    MeasDcOutput,
    PlcEvccid,
    PlcSessionEvent,
    PlcV2gPhase,
    Role,
    SessionEventKind,
    V2gPhase,
    V2gProtocol,
)
from tests.contract.strategies import signal_values
from tests.contract.wire import CTRL_INSTANCE, PLC_INSTANCE, Wire

MS = 1_000_000
S = 1_000_000_000


def meas(voltage_v: float) -> MeasDcOutput:
    return MeasDcOutput(present_voltage_v=voltage_v, present_current_a=10.0, energy_wh=1.0,
                        isolation_status=IsolationStatus.VALID)


def event(kind: SessionEventKind) -> PlcSessionEvent:
    return PlcSessionEvent(event=kind)


# ----------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    plc_values=st.lists(signal_values("plc_to_ctrl"), max_size=25),
    ctrl_values=st.lists(signal_values("ctrl_to_plc"), max_size=25),
    chunk=st.integers(1, 97),
)
def test_any_sequence_of_valid_signals_round_trips_unchanged(
    plc_values: list[Any], ctrl_values: list[Any], chunk: int
) -> None:
    wire = Wire()
    wire.connect()
    for v in plc_values:
        wire.plc.publish(v, wire.now_ns)
    for v in ctrl_values:
        wire.ctrl.publish(v, wire.now_ns)
    # deliver in arbitrary chunk sizes: framing must not depend on read boundaries
    to_ctrl, to_plc = wire.plc.data_to_send(), wire.ctrl.data_to_send()
    for i in range(0, len(to_ctrl), chunk):
        wire.ctrl.receive_bytes(to_ctrl[i:i + chunk], wire.now_ns)
    for i in range(0, len(to_plc), chunk):
        wire.plc.receive_bytes(to_plc[i:i + chunk], wire.now_ns)
    wire.pump()
    assert wire.received(Role.CONTROLLER) == plc_values
    assert wire.received(Role.PLC) == ctrl_values
    assert wire.plc.unacked_count == 0 and wire.ctrl.unacked_count == 0
    assert wire.plc.counters.invalid_total == 0 and wire.ctrl.counters.invalid_total == 0


corruption = st.lists(
    st.tuples(st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 10_000),
              st.integers(1, 255)),
    min_size=1, max_size=6,
)


def _corrupt(ops: list[tuple[str, int, int]]) -> Any:
    def mangle(data: bytes) -> bytes:
        buf = bytearray(data)
        for op, pos, val in ops:
            if not buf:
                break
            i = pos % len(buf)
            if op == "flip":
                buf[i] ^= val
            elif op == "insert":
                buf[i:i] = bytes([val]) * (val % 7 + 1)
            else:
                del buf[i:i + val % 9 + 1]
        return bytes(buf)
    return mangle


@settings(max_examples=60, deadline=None)
@given(
    plc_values=st.lists(signal_values("plc_to_ctrl"), min_size=1, max_size=12),
    ctrl_values=st.lists(signal_values("ctrl_to_plc"), max_size=8),
    ops_to_ctrl=corruption,
    ops_to_plc=corruption,
)
def test_random_corruption_never_crashes_and_never_delivers_a_corrupted_signal(
    plc_values: list[Any], ctrl_values: list[Any], ops_to_ctrl: Any, ops_to_plc: Any
) -> None:
    """Invariant: every delivered sample is the next one sent; once the line is clean,
    everything accepted by publish() arrives exactly once, in order."""
    wire = Wire()
    wire.connect()
    wire.mangle_to_ctrl = _corrupt(ops_to_ctrl)
    wire.mangle_to_plc = _corrupt(ops_to_plc)
    for v in plc_values:
        wire.plc.publish(v, wire.now_ns)
    for v in ctrl_values:
        wire.ctrl.publish(v, wire.now_ns)
    wire.pump()
    got = wire.received(Role.CONTROLLER)
    assert got == plc_values[:len(got)]
    # the line heals; the adapter reconnects whenever the core declares the link down
    wire.mangle_to_ctrl = wire.mangle_to_plc = lambda data: data
    for _ in range(40):
        wire.advance(100 * MS)
        if LinkState.DISCONNECTED in (wire.plc.state, wire.ctrl.state):
            wire.cut()
            wire.connect()
    assert wire.received(Role.CONTROLLER) == plc_values
    assert wire.received(Role.PLC) == ctrl_values


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_link(data: bytes) -> None:
    """Any input either parses or is counted and dropped."""
    wire = Wire()
    wire.connect()
    wire.ctrl.receive_bytes(data, wire.now_ns)
    wire.ctrl.receive_bytes(encode_frame(data or b"\x00"), wire.now_ns)
    assert wire.ctrl.state in (LinkState.ESTABLISHED, LinkState.INCOMPATIBLE)
    assert all(not isinstance(e, SignalReceived) for e in wire.ctrl.poll(wire.now_ns))


# ----------------------------------------------------------------------- a raw peer


class RawPeer:
    """Speaks the frame format by hand, to send what a correct link never would."""

    def __init__(self, target: StreamLink, role: Role = Role.PLC) -> None:
        self.target = target
        self.role = role
        self.seq = 0
        target.connection_made(0)

    def send(self, body: Any) -> None:
        self.target.receive_bytes(encode_frame(cbor2.dumps(body)), 0)

    def hello(self, major: int = CONTRACT_MAJOR, minor: int = CONTRACT_MINOR) -> None:
        self.send([3, {"contract": "ccs2_dc_controller_plc", "major": major, "minor": minor,
                       "role": self.role.value, "instance": 77, "peer_instance": None,
                       "rx_next": 0, "tx_base": 0}])

    def data(self, name: str, payload: Any) -> None:
        self.send([0, self.seq, name, payload])
        self.seq += 1

    def replies(self) -> list[Any]:
        frames = FrameDecoder().feed(self.target.data_to_send())
        return [cbor2.loads(f) for f in frames if isinstance(f, bytes)]


def test_invalid_frames_are_counted_logged_and_dropped_without_taking_the_link_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctrl = StreamLink(Role.CONTROLLER, CTRL_INSTANCE)
    peer = RawPeer(ctrl)
    peer.hello()
    ctrl.receive_bytes(encode_frame(b"\xff\xfe not cbor"), 0)  # bad CBOR, good CRC
    bad_crc = bytearray(encode_frame(cbor2.dumps([2, 0])))
    bad_crc[-1] ^= 1
    ctrl.receive_bytes(bytes(bad_crc), 0)
    peer.data("plc.no_such_signal", {"x": 1})
    peer.data("plc.v2g_phase", {"phase": 3})  # wrong type
    peer.data("meas.dc_output", {"present_voltage_v": 5000.0, "present_current_a": 1.0,
                                 "energy_wh": 0.0, "isolation_status": "VALID"})  # range
    peer.data("plc.evccid", {"protocol": "DIN70121"})  # missing required field
    peer.data("plc.v2g_phase", {"phase": "WARP_SPEED"})  # unknown enum value
    peer.data("ctrl.auth_status", {"status": "ACCEPTED"})  # wrong direction
    peer.data("plc.v2g_phase", {"phase": "AUTH"})  # finally a good one
    events = ctrl.poll(0)

    rejected = [e.violation for e in events if isinstance(e, SampleRejected)]
    assert [(v.kind, v.signal, v.field) for v in rejected] == [
        (ViolationKind.UNKNOWN_SIGNAL, "plc.no_such_signal", ""),
        (ViolationKind.WRONG_TYPE, "plc.v2g_phase", "phase"),
        (ViolationKind.OUT_OF_RANGE, "meas.dc_output", "present_voltage_v"),
        (ViolationKind.MISSING_REQUIRED, "plc.evccid", "evccid"),
        (ViolationKind.UNKNOWN_ENUM_VALUE, "plc.v2g_phase", "phase"),
        (ViolationKind.WRONG_DIRECTION, "ctrl.auth_status", ""),
    ]
    assert [e.value for e in events if isinstance(e, SignalReceived)] == [
        PlcV2gPhase(phase=V2gPhase.AUTH)
    ]
    assert {e.kind for e in events if isinstance(e, FrameDropped)} >= {"bad_cbor"}
    assert ctrl.state is LinkState.ESTABLISHED
    assert ctrl.counters.invalid == {
        "bad_cbor": 1, "bad_crc": 1, "bad_magic": ctrl.counters.invalid["bad_magic"],
        "unknown_signal": 1, "wrong_type": 1, "out_of_range": 1, "missing_required": 1,
        "unknown_enum_value": 1, "wrong_direction": 1,
    }
    replies = peer.replies()
    assert [r[1] for r in replies if r[0] == 4] == [0, 1, 2, 3, 4, 5]  # REJECT per sample
    assert [r[1] for r in replies if r[0] == 1][-1] == 7  # all 7 consumed and acked
    assert "rejected" in caplog.text


def test_sender_learns_which_sample_the_peer_rejected() -> None:
    wire = Wire()
    wire.connect()
    wire.plc.receive_bytes(encode_frame(cbor2.dumps([4, 0, "out_of_range: x"])), wire.now_ns)
    assert wire.of_type(Role.PLC, RejectedByPeer) == [] and \
        wire.plc.poll(0) == [RejectedByPeer(0, "out_of_range: x")]


def test_newer_minor_peer_with_extra_optional_field_still_works() -> None:
    ctrl = StreamLink(Role.CONTROLLER, CTRL_INSTANCE)
    peer = RawPeer(ctrl)
    peer.hello(minor=CONTRACT_MINOR + 1)
    peer.data("plc.v2g_phase", {"phase": "CPD", "added_in_next_minor": [1, 2]})
    events = ctrl.poll(0)
    assert [e.value for e in events if isinstance(e, SignalReceived)] == [
        PlcV2gPhase(phase=V2gPhase.CPD)
    ]
    assert ctrl.counters.ignored_fields == 1


def test_unknown_field_from_a_same_minor_peer_is_rejected() -> None:
    ctrl = StreamLink(Role.CONTROLLER, CTRL_INSTANCE)
    peer = RawPeer(ctrl)
    peer.hello()
    peer.data("plc.v2g_phase", {"phase": "CPD", "typo_field": 1})
    [rejected] = [e for e in ctrl.poll(0) if isinstance(e, SampleRejected)]
    assert rejected.violation.kind is ViolationKind.UNKNOWN_FIELD


def test_incompatible_major_version_keeps_the_link_down() -> None:
    ctrl = StreamLink(Role.CONTROLLER, CTRL_INSTANCE)
    peer = RawPeer(ctrl)
    peer.hello(major=CONTRACT_MAJOR + 1)
    assert ctrl.state is LinkState.INCOMPATIBLE
    assert [e.reason for e in ctrl.poll(0) if isinstance(e, LinkDown)] == [
        LinkDownReason.VERSION_MISMATCH
    ]
    peer.data("plc.v2g_phase", {"phase": "CPD"})
    assert ctrl.poll(0) == []


def test_two_peers_of_the_same_role_refuse_each_other() -> None:
    ctrl = StreamLink(Role.CONTROLLER, CTRL_INSTANCE)
    RawPeer(ctrl, role=Role.CONTROLLER).hello()
    assert ctrl.state is LinkState.INCOMPATIBLE


# ----------------------------------------------------------------------- liveness


def test_heartbeats_keep_an_idle_link_up_in_both_directions() -> None:
    wire = Wire()
    wire.connect()
    wire.advance(60 * S)
    assert wire.of_type(Role.PLC, LinkDown) == [] and wire.of_type(Role.CONTROLLER, LinkDown) == []
    expected = 60 * S // HEARTBEAT_INTERVAL_NS
    assert wire.plc.counters.frames_rx >= expected and wire.ctrl.counters.frames_rx >= expected


def test_a_silent_peer_is_declared_down_exactly_at_link_dead_timeout() -> None:
    wire = Wire()
    wire.connect()
    wire.advance(3 * S)
    silent_from = wire.now_ns
    wire.mangle_to_ctrl = lambda data: b""  # the PLC process hangs
    wire.advance(5 * S)
    [down] = wire.of_type(Role.CONTROLLER, LinkDown)
    assert isinstance(down, LinkDown) and down.reason is LinkDownReason.PEER_SILENT
    last_heard = silent_from - silent_from % HEARTBEAT_INTERVAL_NS
    assert last_heard <= silent_from and down.at_ns - last_heard <= DEAD_TIMEOUT_NS
    assert down.at_ns - silent_from <= DEAD_TIMEOUT_NS


# ----------------------------------------------------------------------- reconnect


def test_link_drop_mid_session_loses_no_accepted_signal() -> None:
    wire = Wire()
    wire.connect()
    wire.plc.publish(event(SessionEventKind.SLAC_MATCHED), wire.now_ns)
    wire.pump()
    # in flight when the cable is cut: published, sent, never acked
    wire.plc.publish(event(SessionEventKind.SESSION_SETUP), wire.now_ns)
    wire.plc.publish(meas(400.0), wire.now_ns)
    wire.cut()
    # published while down: events all kept, state coalesced to the latest
    wire.plc.publish(event(SessionEventKind.POWER_DELIVERY_START), wire.now_ns)
    for v in (401.0, 402.0, 403.0):
        wire.plc.publish(meas(v), wire.now_ns)
    assert wire.plc.pending_count == 2
    wire.advance(2 * S)
    wire.connect()
    got = wire.received(Role.CONTROLLER)
    assert got == [
        event(SessionEventKind.SLAC_MATCHED),
        event(SessionEventKind.SESSION_SETUP),
        meas(400.0),
        event(SessionEventKind.POWER_DELIVERY_START),
        meas(403.0),
    ]
    ups = wire.of_type(Role.PLC, LinkUp)
    assert isinstance(ups[-1], LinkUp) and ups[-1].resumed


def test_lost_acks_cause_retransmission_but_never_double_delivery() -> None:
    wire = Wire()
    wire.connect()
    wire.mangle_to_plc = lambda data: b""  # the controller's acks are lost
    for kind in (SessionEventKind.EV_PLUGGED, SessionEventKind.SLAC_MATCHED):
        wire.plc.publish(event(kind), wire.now_ns)
    wire.advance(600 * MS)  # past link_retransmit_timeout: the PLC resends both
    assert wire.plc.counters.retransmits == 2 and wire.ctrl.counters.duplicates == 2
    wire.mangle_to_plc = lambda data: data
    wire.advance(1 * S)
    assert wire.plc.unacked_count == 0
    wire.cut()
    wire.connect()  # the hello carries the resume point: nothing is sent twice
    wire.advance(1 * S)
    assert wire.received(Role.CONTROLLER) == [
        event(SessionEventKind.EV_PLUGGED), event(SessionEventKind.SLAC_MATCHED)
    ]


def test_controller_restart_is_reported_and_plc_state_is_republished() -> None:
    wire = Wire()
    wire.connect()
    wire.plc.publish(PlcV2gPhase(phase=V2gPhase.CURRENTDEMAND), wire.now_ns)
    wire.plc.publish(PlcEvccid(evccid="00112233AABB", protocol=V2gProtocol.ISO15118_2),
                     wire.now_ns)
    wire.ctrl.publish(CtrlAuthStatus(status=AuthStatus.ACCEPTED), wire.now_ns)
    wire.pump()
    wire.cut()
    wire.ctrl = StreamLink(Role.CONTROLLER, CTRL_INSTANCE + 1)  # a new controller process
    wire.connect()
    restarts = wire.of_type(Role.PLC, PeerRestarted)
    assert restarts == [PeerRestarted(CTRL_INSTANCE, CTRL_INSTANCE + 1)]
    # level-like state comes back; session-scoped facts are not replayed to a stranger
    assert [e.value for e in wire.ctrl.poll(wire.now_ns) if isinstance(e, SignalReceived)] \
        == [] and wire.received(Role.CONTROLLER)[-1] == PlcV2gPhase(phase=V2gPhase.CURRENTDEMAND)
    assert wire.received(Role.CONTROLLER).count(
        PlcEvccid(evccid="00112233AABB", protocol=V2gProtocol.ISO15118_2)) == 1
    wire.ctrl.publish(CtrlAuthStatus(status=AuthStatus.REJECTED), wire.now_ns)
    wire.pump()
    assert wire.received(Role.PLC)[-1] == CtrlAuthStatus(status=AuthStatus.REJECTED)


def test_plc_restart_is_seen_by_the_controller_with_a_fresh_sequence() -> None:
    wire = Wire()
    wire.connect()
    for _ in range(3):
        wire.plc.publish(event(SessionEventKind.EV_PLUGGED), wire.now_ns)
    wire.pump()
    wire.cut()
    wire.plc = StreamLink(Role.PLC, PLC_INSTANCE + 5)
    wire.connect()
    wire.plc.publish(event(SessionEventKind.EV_UNPLUGGED), wire.now_ns)
    wire.pump()
    assert wire.received(Role.CONTROLLER)[-1] == event(SessionEventKind.EV_UNPLUGGED)
    assert wire.of_type(Role.CONTROLLER, PeerRestarted) == [
        PeerRestarted(PLC_INSTANCE, PLC_INSTANCE + 5)
    ]


# ----------------------------------------------------------------------- local misuse


def test_publishing_against_the_signal_direction_is_a_local_error() -> None:
    wire = Wire()
    with pytest.raises(ContractUsageError):
        wire.plc.publish(CtrlAuthStatus(status=AuthStatus.ACCEPTED), 0)
    with pytest.raises(ContractUsageError):
        wire.ctrl.publish(PlcV2gPhase(phase=V2gPhase.IDLE), 0)


def test_event_backlog_is_bounded_and_refused_loudly_while_state_coalesces() -> None:
    link = StreamLink(Role.PLC, PLC_INSTANCE)
    for i in range(5000):
        link.publish(meas(float(i % 1000)), i)
    assert link.pending_count == 1
    for _ in range(MAX_PENDING_EVENTS):
        link.publish(event(SessionEventKind.EV_PLUGGED), 0)
    with pytest.raises(LinkBackpressureError):
        link.publish(event(SessionEventKind.EV_PLUGGED), 0)


def test_crossing_hello_retries_settle_instead_of_ping_ponging() -> None:
    wire = Wire()
    held: list[bytes] = []

    def hold(data: bytes) -> bytes:
        held.append(data)
        return b""

    wire.mangle_to_ctrl = hold  # the PLC's hello is delayed on the way
    wire.connect()
    assert wire.plc.state is LinkState.ESTABLISHED and wire.ctrl.state is LinkState.AWAIT_HELLO
    wire.advance(600 * MS)  # the controller retries its hello; the PLC answers (held too)
    wire.mangle_to_ctrl = lambda data: data
    for chunk in held:  # both PLC hellos arrive late, back to back
        wire.ctrl.receive_bytes(chunk, wire.now_ns)
    wire.pump(rounds=50)
    assert wire.plc.data_to_send() == b"" and wire.ctrl.data_to_send() == b""  # quiet
    assert wire.ctrl.state is LinkState.ESTABLISHED
    before = wire.plc.counters.frames_tx + wire.ctrl.counters.frames_tx
    wire.advance(2 * S)
    sent = wire.plc.counters.frames_tx + wire.ctrl.counters.frames_tx - before
    assert sent <= 2 * (2 * S // HEARTBEAT_INTERVAL_NS) + 2  # heartbeats only
