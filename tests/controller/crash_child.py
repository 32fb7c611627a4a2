"""Child process of test_crash: charges, loses the CSMS, then waits to be killed (-9).

Run as `python tests/controller/crash_child.py DB VERSION MODE` from the repository root
(MODE: `online_then_lost` or `never_online`).
Prints one line `READY <energy_wh> <seen actions,...>` once the state to crash in is on disk.
"""

from __future__ import annotations

import sys

from tests.controller.harness import Rig


def main() -> None:
    db, version, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    never_online = mode == "never_online"
    rig = Rig(version, db=db, online=not never_online, allow_offline_tx_for_unknown_id=True)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(150)  # two MeterValues (reach the CSMS unless never online)
    rig.link.set_online(False)
    rig.charge(200)  # three more only reach the queue
    seen = ",".join(["-"] + [f"{s.action}@{s.unique_id}" for s in rig.csms.seen
                    if s.action in ("StartTransaction", "MeterValues", "TransactionEvent")])
    tx_id = next(iter(rig.csms.transactions), "none")
    print(f"READY {rig.energy_wh:.3f} {tx_id} {seen}", flush=True)
    sys.stdin.read()  # blocks until the parent kills us


if __name__ == "__main__":
    main()
