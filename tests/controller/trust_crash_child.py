"""Child process of test_trust_store: installs a root, then starts a second install and
stops between the fsync of its tmp file and the rename (where a kill -9 hurts most).

Run as `python tests/controller/trust_crash_child.py DIR FIRST_PEM SECOND_PEM` from the
repository root. Prints `READY` once the tmp file of the second root is on disk.
"""

from __future__ import annotations

import sys
from pathlib import Path

import evse.security.files as files
from evse.controller.trust_store import TrustStore


def main() -> None:
    directory, first, second = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    store = TrustStore(directory)
    assert store.install("V2GRootCertificate", Path(first).read_text()).value == "Accepted"

    def stop_before_rename(src: object, dst: object) -> None:
        print("READY", flush=True)
        sys.stdin.read()  # blocks until the parent kills us

    files.os.replace = stop_before_rename  # type: ignore[assignment]
    store.install("MORootCertificate", Path(second).read_text())


if __name__ == "__main__":
    main()
