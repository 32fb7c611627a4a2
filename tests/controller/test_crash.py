"""Crash mid-transaction (kill -9): restart, PowerLoss stop with the last meter reading,
no queued message lost (issue 8 item 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.controller.harness import Rig

ROOT = Path(__file__).resolve().parents[2]


def crash_child(db: Path, version: str, mode: str = "online_then_lost"
                ) -> tuple[float, str, list[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "controller" / "crash_child.py"), str(db), version,
         mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line and line[0] == "READY", line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()  # SIGKILL cannot be caught: waitpid returns
    assert proc.returncode == -signal.SIGKILL
    return float(line[1]), line[2], line[3].split(",")[1:]


@pytest.mark.realtime  # a real child process (its own time is still virtual)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_kill_9_mid_transaction_then_restart_closes_it_with_power_loss(
        version: str, tmp_path: Path) -> None:
    db = tmp_path / "controller.db"
    energy_at_crash, tx_id, seen_before = crash_child(db, version)
    rig = Rig(version, db=str(db), online=False)  # the restarted station
    assert rig.state == "available"
    rig.link.set_online(True)
    after = [s for s in rig.csms.seen
             if s.action in ("MeterValues", "StopTransaction", "TransactionEvent")]
    ids_before = {item.split("@")[1] for item in seen_before}
    assert not ids_before & {s.unique_id for s in after}  # nothing twice
    last_sampled_wh = 10_000 + 80_000 * 300 / 3600  # the 300 s sample, taken before the crash
    if version == "1.6":
        assert [s.action for s in after] == ["MeterValues"] * 3 + ["StopTransaction"]
        assert {s.payload["transactionId"] for s in after} == {int(tx_id)}
        stop = after[-1].payload
        assert stop["reason"] == "PowerLoss"
        assert stop["meterStop"] == round(energy_at_crash)  # the last reading, not a sample
        assert stop["timestamp"].startswith("2026-01-01T00:05:4")
    else:
        assert [s.payload["eventType"] for s in after] == ["Updated"] * 3 + ["Ended"]
        assert [s.payload["seqNo"] for s in after] == [3, 4, 5, 6]
        end = after[-1].payload
        assert end["transactionInfo"]["stoppedReason"] == "PowerLoss"
        assert end["transactionInfo"]["transactionId"] == tx_id
        assert end["meterValue"][0]["sampledValue"][0]["value"] == pytest.approx(
            energy_at_crash, abs=0.1)
    assert energy_at_crash > last_sampled_wh + 500  # 50 s after the last periodic sample
    assert len(rig.store) == 0 and rig.csms.violations == []
    # a second restart does not close it again
    again = Rig(version, db=str(db))
    assert [s.action for s in again.csms.seen if s.action not in (
        "StatusNotification", "SecurityEventNotification")] == ["BootNotification"]


@pytest.mark.realtime
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_kill_9_in_a_session_that_never_reached_the_csms(version: str, tmp_path: Path) -> None:
    db = tmp_path / "controller.db"
    _, tx_id, seen_before = crash_child(db, version, "never_online")
    assert tx_id == "none" and seen_before == []
    rig = Rig(version, db=str(db), online=False)
    rig.link.set_online(True)
    actions = [s.action for s in rig.csms.seen
               if s.action not in ("StatusNotification", "SecurityEventNotification")]
    # A04: the killed station's StartupOfTheDevice, queued while it never got online,
    # survived the kill -9 and reaches the CSMS with the restart's own one.
    assert [p["type"] for p in rig.csms.of("SecurityEventNotification")] == [
        "StartupOfTheDevice"] * 2
    if version == "1.6":
        assert actions == ["BootNotification", "StartTransaction"] + ["MeterValues"] * 5 + [
            "StopTransaction"]
        (tx,) = rig.csms.transactions.values()
        assert tx.stop_reason == "PowerLoss" and len(tx.meter_values) == 5
        assert {p["transactionId"] for p in rig.csms.of("MeterValues")} == {int(tx.tx_id)}
    else:
        assert actions == ["BootNotification"] + ["TransactionEvent"] * 7
        (tx,) = rig.csms.transactions.values()
        assert tx.stop_reason == "PowerLoss"
        assert [e.split(":")[2] for e in tx.events] == [str(i) for i in range(7)]
    assert len(rig.store) == 0 and rig.csms.violations == []
