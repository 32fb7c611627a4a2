"""Sans-IO EVSE-side SLAC core: bytes, pilot changes and time in; frames and link events out.

Wiring (the station's composition root does this):

- every HomePlug frame the raw socket receives -> `handle_frame(raw, now_ns)`;
- every pilot change from the CP core -> `handle_cp(PilotState, pwm_5pct, now_ns)`;
- the controller's D-LINK_TERMINATE -> `terminate(now_ns)`;
- the scheduler calls `handle_timer(now_ns)` at `next_deadline_ns()`.

Each call returns the outputs of `evse.slac.outputs`: `SendFrame` goes to the socket, the link
events to the controller and the pilot core. The core owns its chart `Machine` and a private
timer table (the chart's state timers and the per-session ISO 15118-3 timers), so it runs the
same under the real scheduler, in virtual-time tests and in the bench.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path

from evse.fsm import Event, Machine, MachineSpec, load_spec
from evse.fsm.engine import TraceSink
from evse.slac.codec import decode_frame, encode_frame, warm_up as codec_warm_up
from evse.slac.errors import SlacDecodeError
from evse.slac.evse_handler import Ports, SlacConfig, SlacEvseHandler
from evse.slac.messages import (
    BROADCAST_MAC,
    AttenCharRsp,
    AttenProfileInd,
    Frame,
    Mme,
    MnbcSoundInd,
    SetKeyCnf,
    SlacMatchReq,
    SlacParmReq,
    StartAttenCharInd,
    ValidateReq,
    VsPlLnkStatusCnf,
    VsSwVerCnf,
    VsSwVerReq,
)
from evse.slac.outputs import FrameDropped, ModemFound, Output, SendFrame

CHART_PATH = Path(__file__).resolve().parents[2] / "fsm_specs" / "slac_evse.yaml"


@lru_cache(maxsize=4)
def load_chart(path: Path = CHART_PATH) -> MachineSpec:
    return load_spec(path)


def warm_up() -> int:
    """Everything the EVSE SLAC path loads lazily, loaded now: the chart and every MME's
    encode/decode (`evse.slac.codec.warm_up`). Call before the 5 % PWM and before the
    station's timers run, so the first CM_SLAC_PARM.REQ is answered within
    TP_match_response (100 ms, timing.md §2). Returns the MMEs warmed by this call."""
    load_chart()
    return codec_warm_up()


class PilotState(Enum):
    """IEC 61851-1 control pilot states as the CP core reports them."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"


_PILOT_OF = {p.value: p for p in PilotState}

# Frames a car or our modem sends to the EVSE role, and the chart event each becomes.
_EVENT_OF: dict[type, str] = {
    SlacParmReq: "parm_req",
    StartAttenCharInd: "start_atten",
    MnbcSoundInd: "sound",
    AttenProfileInd: "profile",
    AttenCharRsp: "atten_rsp",
    ValidateReq: "validate_req",
    SlacMatchReq: "match_req",
    SetKeyCnf: "set_key_cnf",
    VsPlLnkStatusCnf: "link_status",
}


@dataclass(eq=False, slots=True)
class _Timer:
    deadline_ns: int
    seq: int
    callback: Callable[[int], None]
    label: str
    cancelled: bool = False

    def __lt__(self, other: _Timer) -> bool:
        return (self.deadline_ns, self.seq) < (other.deadline_ns, other.seq)


@dataclass(slots=True)
class _TimerTable:
    """One-shot timers relative to the core's current time (the chart's `TimerService`)."""

    now_ns: int = 0
    heap: list[_Timer] = field(default_factory=list)
    seq: int = 0

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        self.seq += 1
        t = _Timer(self.now_ns + delay_ns, self.seq, callback, label)
        heapq.heappush(self.heap, t)
        return t

    def cancel_timer(self, handle: object) -> None:
        if isinstance(handle, _Timer):
            handle.cancelled = True

    def next_deadline_ns(self) -> int | None:
        while self.heap and self.heap[0].cancelled:
            heapq.heappop(self.heap)
        return self.heap[0].deadline_ns if self.heap else None

    def pop_due(self, now_ns: int) -> _Timer | None:
        deadline = self.next_deadline_ns()
        if deadline is None or deadline > now_ns:
            return None
        return heapq.heappop(self.heap)


class EvseSlac:
    """EVSE-side SLAC for one connector (one PLC modem)."""

    def __init__(
        self,
        config: SlacConfig,
        rng: random.Random,
        *,
        trace: TraceSink | None = None,
        chart: MachineSpec | None = None,
        param_overrides: dict[str, float] | None = None,
    ) -> None:
        self.config = config
        self._timers = _TimerTable()
        self._out: list[Output] = []
        ports = Ports(
            now_ns=lambda: self._timers.now_ns,
            start_timer=self._timers.start_timer,
            cancel_timer=self._timers.cancel_timer,
            encode=encode_frame,
            emit=self._out.append,
            send=self._send,
            post=self._post,
        )
        self.handler = SlacEvseHandler(config, rng, ports)
        self.machine = Machine(
            chart or load_chart(),
            self.handler,
            timers=self._timers,
            trace=trace,
            name="slac_evse",
            param_overrides=param_overrides,
        )
        self._pilot: PilotState = PilotState.A
        self._pwm = False

    # ------------------------------------------------------------------ inputs
    def start(self, now_ns: int) -> list[Output]:
        self._timers.now_ns = now_ns
        self.machine.start(now_ns)
        return self._drain(now_ns)

    def handle_frame(self, raw: bytes, now_ns: int) -> list[Output]:
        self._timers.now_ns = now_ns
        try:
            frame = decode_frame(raw)
        except SlacDecodeError as exc:
            self._out.append(
                FrameDropped(f"malformed: {exc}", raw[6:12] if len(raw) >= 12 else None)
            )
            return self._take()
        if frame.src == self.config.evse_mac:
            # Our own frame read back on the raw socket (slac_notes.md §2): never an answer.
            self._out.append(FrameDropped("own frame read back", frame.src))
            return self._take()
        if frame.dst not in (self.config.evse_mac, BROADCAST_MAC):
            self._out.append(FrameDropped("addressed to another station", frame.src))
            return self._take()
        if isinstance(frame.mme, VsSwVerCnf):
            # Diagnostics only: the chart has no business with the firmware version.
            version = frame.mme.version.split(b"\x00")[0].decode("ascii", "replace")
            self._out.append(ModemFound(frame.src, frame.mme.device_id, version))
            return self._take()
        event = _EVENT_OF.get(type(frame.mme))
        if event is None:
            self._out.append(
                FrameDropped(f"{type(frame.mme).__name__} is not for the EVSE role", frame.src)
            )
            return self._take()
        self._post(Event(event, frame, now_ns))
        return self._drain(now_ns)

    def handle_cp(self, pilot: PilotState, pwm_5pct: bool, now_ns: int) -> list[Output]:
        """Pilot state and PWM as the CP core reports them; only changes matter."""
        self._timers.now_ns = now_ns
        prev_pilot, prev_pwm = self._pilot, self._pwm
        self._pilot, self._pwm = pilot, pwm_5pct
        if pilot is PilotState.A:
            if prev_pilot is not PilotState.A:
                self._post(Event("cp_a", None, now_ns))
        elif pilot in (PilotState.E, PilotState.F):
            if prev_pilot not in (PilotState.E, PilotState.F):
                self._post(Event("cp_e_f", None, now_ns))
        else:
            plugged_before = prev_pilot in (PilotState.B, PilotState.C, PilotState.D)
            if pwm_5pct and not (plugged_before and prev_pwm):
                self._post(Event("cp_5pct", None, now_ns))
            elif not pwm_5pct and (not plugged_before or prev_pwm):
                self._post(Event("cp_no_pwm", None, now_ns))
            elif pwm_5pct and prev_pilot is PilotState.B and pilot is PilotState.C:
                self._post(Event("cp_toggle", None, now_ns))
        return self._drain(now_ns)

    def handle_cp_notice(self, kind: str, data: Mapping[str, object], now_ns: int) -> list[Output]:
        """The pilot core's notices as they are (`evse.cp.pilot.CpNotice` kind and data).

        `cp_level` carries the measured level, `pwm` whether the 5 % PWM is on; a level
        outside A-F (INVALID, DIODE_FAULT) is a pilot fault and tears the link down like E/F.
        Every other notice is not SLAC's business."""
        if kind == "cp_level":
            level = str(data.get("level"))
            pilot = _PILOT_OF.get(level, PilotState.F)
            return self.handle_cp(pilot, self._pwm, now_ns)
        if kind == "pwm":
            return self.handle_cp(self._pilot, bool(data.get("on")), now_ns)
        return []

    def query_modem(self, now_ns: int) -> list[Output]:
        """Ask the local modem for its firmware version (VS_SW_VER); answered by `ModemFound`."""
        self._timers.now_ns = now_ns
        self._send(self.config.modem_mac, VsSwVerReq())
        return self._take()

    def terminate(self, now_ns: int) -> list[Output]:
        """D-LINK_TERMINATE from the controller."""
        self._timers.now_ns = now_ns
        self._post(Event("terminate", None, now_ns))
        return self._drain(now_ns)

    def handle_timer(self, now_ns: int) -> list[Output]:
        self._timers.now_ns = now_ns
        while True:
            t = self._timers.pop_due(now_ns)
            if t is None:
                break
            self._timers.now_ns = t.deadline_ns
            t.callback(t.deadline_ns)
            self._dispatch_pending(t.deadline_ns)
        self._timers.now_ns = now_ns
        return self._take()

    def next_deadline_ns(self) -> int | None:
        return self._timers.next_deadline_ns()

    @property
    def state(self) -> str:
        return self.machine.state

    # ------------------------------------------------------------------ plumbing
    def _send(self, dst: bytes, mme: Mme) -> None:
        self._out.append(SendFrame(encode_frame(Frame(dst, self.config.evse_mac, mme))))

    def _post(self, event: Event) -> None:
        self.handler.pending_events.append(event)

    def _drain(self, now_ns: int) -> list[Output]:
        self._dispatch_pending(now_ns)
        return self._take()

    def _dispatch_pending(self, now_ns: int) -> None:
        """Dispatch queued events one at a time (actions post, they never dispatch)."""
        queue = self.handler.pending_events
        while queue:
            self.machine.dispatch(queue.popleft(), now_ns)

    def _take(self) -> list[Output]:
        out = list(self._out)
        self._out.clear()
        return out
