"""Private files for certificates, keys and cached revocation data.

Why one helper: a trust store or key directory must never be readable by other users and
must never be left half-written by a power cut or `kill -9`. Every write goes
tmp (O_EXCL, 0600) -> write -> fsync -> rename over the target -> fsync of the directory
(POSIX rename is atomic; the directory fsync makes the new entry durable). A crash before
the rename leaves only a `*.tmp` file, which `remove_stale_tmp` deletes at the next open;
a crash after it leaves the complete new file. Contents are never logged.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

#: Directory and file modes of private material (owner only).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
TMP_SUFFIX = ".tmp"


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) as 0700; tighten an existing directory to 0700."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably, mode 0600."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_private(path: Path) -> None:
    """Delete `path` durably (missing is fine)."""
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_tmp(directory: Path) -> int:
    """Delete what an interrupted `write_private_atomic` left behind; returns the count."""
    n = 0
    for leftover in directory.glob(f".*{TMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        n += 1
    return n
