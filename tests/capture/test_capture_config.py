"""`capture:` keys: each one changes what `evse run` writes, and a wrong one is a
`file:line` error before anything starts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from evse.capture.pcapng import Direction
from evse.io.capture import TappedFrame
from evse.runtime.config import ConfigError, StationConfig, load_config
from evse.runtime.run_iface import RunError, session_captures

T0_NS = 1_796_000_000_000_000_000


def _config(tmp: Path, body: str) -> StationConfig:
    path = tmp / "station.yaml"
    path.write_text("station: {name: cap, seed: 1}\ncapture:\n" + body, encoding="utf-8")
    return load_config(path)


def _sessions(cfg: StationConfig, n: int, frames: int = 1, size: int = 60) -> list[Path]:
    cap = session_captures(cfg, "eth1", lambda: T0_NS)
    assert cap is not None
    out = []
    for i in range(n):
        cap.session_started()
        cap.write([TappedFrame(b"\x00" * 12 + b"\x86\xdd" + bytes([i]) * size, T0_NS + j,
                               Direction.INBOUND) for j in range(frames)])
        path = cap.session_ended()
        assert path is not None
        out.append(path)
    return out


def test_each_capture_key_changes_what_is_written(tmp_path: Path) -> None:
    # dir: relative to the config file
    cfg = _config(tmp_path, "  dir: caps\n  max_files: 2\n")
    files = _sessions(cfg, 3)
    assert all(p.parent == tmp_path / "caps" for p in files)
    # max_files: only the 2 newest are kept
    assert sorted((tmp_path / "caps").glob("*.pcapng")) == files[1:]
    # max_session_mb: 1 MB of a 3 MB session is written
    big = _sessions(_config(tmp_path, "  dir: big\n  max_session_mb: 1\n"), 1, frames=2000,
                    size=1500)[0]
    assert 0.9 * (1 << 20) < big.stat().st_size <= 1 << 20
    unbounded = _sessions(_config(tmp_path, "  dir: unb\n"), 1, frames=2000, size=1500)[0]
    assert unbounded.stat().st_size > 2 * (1 << 20)
    # tls_keys: the key log the TLS context writes to, owner-only; none without it
    _sessions(_config(tmp_path, "  dir: keys\n  tls_keys: true\n"), 1)
    assert stat.S_IMODE((tmp_path / "keys" / "tls-keys.log").stat().st_mode) == 0o600
    assert not (tmp_path / "unb" / "tls-keys.log").exists()
    assert session_captures(StationConfig(), "eth1", lambda: T0_NS) is None  # no section


@pytest.mark.parametrize(("body", "line", "words"), [
    ("  dir: c\n  max_file: 3\n", 4, "unknown key capture.max_file"),
    ("  max_files: 3\n", 3, "capture.dir must be a directory path"),
    ("  dir: c\n  max_files: 0\n", 4, "capture.max_files must be an integer 1..100000"),
    ("  dir: c\n  max_session_mb: 1.5\n", 4, "capture.max_session_mb must be an integer"),
    ("  dir: c\n  tls_keys: yes please\n", 4, "capture.tls_keys must be true or false"),
])
def test_a_wrong_capture_key_is_a_file_line_error(tmp_path: Path, body: str, line: int,
                                                  words: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, body)
    assert err.value.line == line and words in err.value.message


def test_an_unusable_capture_directory_stops_the_start_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    cfg = _config(tmp_path, "  dir: file/caps\n")
    with pytest.raises(RunError, match="capture directory .*file/caps"):
        session_captures(cfg, "eth1", lambda: T0_NS)
