"""Run an EV simulator against a SECC core in virtual time (no sockets, no clock).

The loop jumps from one instant to the next: the earliest of a payload in flight, the
EV's deadline and the SECC's deadline. `link_delay_ns` models the PLC/TCP latency and
`secc_delay_ns` a slow SECC host (every answer leaves that much later).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evse.ev.sim import EvResult, EvSim
from evse.secc.core import CloseConnection, SeccCore, SeccOutput, SendPayload

MS = 1_000_000


@dataclass(slots=True)
class LoopResult:
    ev: EvResult
    secc_outputs: list[SeccOutput]
    end_ns: int
    responses: list[tuple[int, Any]] = field(default_factory=list)


def run(ev: EvSim, secc: SeccCore, *, start_ns: int = 0, limit_ns: int = 600 * 1_000 * MS,
        link_delay_ns: int = 1 * MS, secc_delay_ns: int = 0,
        on_step: Callable[[int], None] | None = None) -> LoopResult:
    now = start_ns
    q: list[tuple[int, int, str, bytes]] = []
    seq = 0
    all_out: list[SeccOutput] = []

    def to_secc(payloads: list[bytes]) -> None:
        nonlocal seq
        for p in payloads:
            seq += 1
            heapq.heappush(q, (now + link_delay_ns, seq, "secc", p))

    def from_secc(outs: list[SeccOutput]) -> None:
        nonlocal seq
        all_out.extend(outs)
        for o in outs:
            seq += 1
            if isinstance(o, SendPayload):
                heapq.heappush(q, (now + secc_delay_ns + link_delay_ns, seq, "ev", o.payload))
            elif isinstance(o, CloseConnection):
                heapq.heappush(q, (now + secc_delay_ns + link_delay_ns, seq, "close", b""))

    from_secc(secc.connection_opened(now))
    to_secc(ev.start(now))
    while ev.result is None and now <= limit_ns:
        cands = [t for t in (q[0][0] if q else None, ev.next_deadline_ns(),
                             secc.next_deadline_ns()) if t is not None]
        if not cands:
            break
        now = max(now, min(cands))
        if on_step is not None:
            on_step(now)
        if q and q[0][0] <= now:
            _, _, dest, payload = heapq.heappop(q)
            if dest == "secc":
                if not secc.closed:
                    from_secc(secc.receive(payload, now))
            elif dest == "ev":
                to_secc(ev.receive(payload, now))
            else:
                ev.connection_closed(now)
            continue
        d = secc.next_deadline_ns()
        if d is not None and d <= now:
            from_secc(secc.handle_timer(now))
            continue
        to_secc(ev.handle_timer(now))
    if ev.result is None:
        ev.connection_closed(now)
    assert ev.result is not None
    if not secc.closed:
        all_out.extend(secc.connection_lost(now))
    return LoopResult(ev.result, all_out, now)
