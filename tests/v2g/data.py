"""Loaders for tests/data/v2g (see its PROVENANCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "v2g"


def _jsonl(name: str) -> list[dict[str, Any]]:
    with (DATA_DIR / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sdp_datagrams() -> list[dict[str, Any]]:
    """Every SDP datagram in the shared captures (requests and responses)."""
    return _jsonl("sdp_real.jsonl")


def real_v2gtp_frames() -> list[dict[str, Any]]:
    """Whole V2GTP frames (SDP and EXI) from real sessions."""
    return _jsonl("v2gtp_real_frames.jsonl")


def real_sap_requests() -> list[bytes]:
    """Every distinct supportedAppProtocolReq EXI payload cars sent in the real sessions of
    tests/data/exi/real_world_exi.jsonl (provenance in that folder)."""
    path = DATA_DIR.parent / "exi" / "real_world_exi.jsonl"
    seen: dict[bytes, None] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if '"supportedAppProtocolReq"' in line:
                row = json.loads(line)
                if row.get("message") == "supportedAppProtocolReq":
                    seen[bytes.fromhex(row["hex"])] = None
    return list(seen)
