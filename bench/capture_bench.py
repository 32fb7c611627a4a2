"""Cost of session captures (evse/io/capture.py): µs per frame written, and the size of a
30-minute DC session's file (CurrentDemand at 4 Hz request/response + TCP ACKs).

    python bench/capture_bench.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from evse.capture.pcapng import Direction
from evse.io.capture import CaptureConfig, SessionCaptures, TappedFrame

FRAMES = 20_000
#: A CurrentDemandReq/Res on the wire: ~60 B EXI + V2GTP 8 + TCP/IPv6/Ethernet 86.
FRAME_BYTES = 160
#: 30 min × 4 exchanges/s × (request, response, 2 ACKs).
SESSION_FRAMES = 30 * 60 * 4 * 4


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cap = SessionCaptures(CaptureConfig(Path(tmp)), "eth1", time.time_ns)
        cap.session_started()
        frame = TappedFrame(b"\x00" * 12 + b"\x86\xdd" + b"\x01" * (FRAME_BYTES - 14),
                            time.time_ns(), Direction.INBOUND)
        t0 = time.perf_counter()
        for _ in range(FRAMES):
            cap.write([frame])  # one frame per readiness: the worst case
        per_frame_us = (time.perf_counter() - t0) / FRAMES * 1e6
        path = cap.session_ended()
        assert path is not None
        size = path.stat().st_size
    per_session_mb = size / FRAMES * SESSION_FRAMES / 1e6
    print(f"capture write: {per_frame_us:.1f} us/frame ({FRAME_BYTES} B frames, one per call)")
    rate = SESSION_FRAMES / 1800
    print(f"30-min DC session: {SESSION_FRAMES} frames, ~{per_session_mb:.1f} MB; "
          f"{rate:.0f} frames/s costs {per_frame_us * rate / 1e4:.2f} % of one core")


if __name__ == "__main__":
    main()
