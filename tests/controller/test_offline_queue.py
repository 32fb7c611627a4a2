"""Nothing lost (issue 8 item 7): offline sessions, replay in order, exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evse.controller.store import Store
from tests.controller.harness import Rig


def session(rig: Rig, minutes: int = 10) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(minutes * 60)
    rig.power_off()
    rig.session_end()
    rig.unplug()


def tx_messages(rig: Rig) -> list[tuple[str, str]]:
    return [(s.unique_id, s.action) for s in rig.csms.seen
            if s.action in ("StartTransaction", "MeterValues", "StopTransaction",
                            "TransactionEvent")]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_csms_down_for_the_whole_session_gets_every_message_once_in_order(
        version: str, tmp_path: Path) -> None:
    rig = Rig(version, db=str(tmp_path / "q.db"), allow_offline_tx_for_unknown_id=True)
    rig.link.set_online(False)
    session(rig)
    assert tx_messages(rig) == []
    assert len(rig.store) == 12  # start + 10 periodic samples + stop
    rig.run(30)
    rig.link.set_online(True)
    seen = tx_messages(rig)
    assert len(seen) == 12 and rig.csms.duplicates == [] and rig.csms.violations == []
    assert len(rig.store) == 0
    (tx,) = rig.csms.transactions.values()
    energies = [float(mv["sampledValue"][0]["value"]) for mv in tx.meter_values]
    assert energies == sorted(energies)  # replayed in the order they were taken
    if version == "1.6":
        assert [a for _, a in seen] == (["StartTransaction"] + ["MeterValues"] * 10
                                        + ["StopTransaction"])
        # every queued MeterValues/StopTransaction got the id the CSMS assigned on replay
        assert {p["transactionId"] for p in rig.csms.of("MeterValues")} == {int(tx.tx_id)}
        assert len(tx.meter_values) == 10
    else:
        seqs = [p["seqNo"] for p in rig.csms.of("TransactionEvent")]
        assert seqs == list(range(12))
        assert all(p.get("offline") is True for p in rig.csms.of("TransactionEvent"))
    assert tx.meter_stop_wh == pytest.approx(rig.energy_wh, abs=0.6)


def test_station_that_never_reached_the_csms_boots_first_then_replays() -> None:
    rig = Rig("1.6", online=False, allow_offline_tx_for_unknown_id=True)
    session(rig, minutes=2)
    rig.link.set_online(True)
    actions = rig.csms.actions()
    assert actions[0] == "BootNotification"
    assert [a for a in actions if a != "StatusNotification"] == [
        "BootNotification", "StartTransaction", "MeterValues", "MeterValues",
        "StopTransaction"]


def test_connection_drop_mid_replay_resends_with_the_same_message_id() -> None:
    rig = Rig("1.6", online=False, allow_offline_tx_for_unknown_id=True)
    session(rig, minutes=3)
    rig.link.set_online(True)
    rig.link.set_online(False)
    rig.link.set_online(True)
    seen = tx_messages(rig)
    ids = [uid for uid, _ in seen]
    assert len(set(ids)) == 5 and rig.csms.duplicates == []


def test_lost_answer_is_resent_with_the_same_id_so_the_csms_sees_a_duplicate_id() -> None:
    rig = Rig("1.6")
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    answers = rig.csms.data_to_send
    rig.csms.data_to_send = lambda: (answers(), [])[1]  # type: ignore[method-assign]
    rig.power_on()  # the CSMS gets StartTransaction; its answer is lost
    rig.csms.data_to_send = answers  # type: ignore[method-assign]
    (first,) = [s for s in rig.csms.seen if s.action == "StartTransaction"]
    rig.link.set_online(False)
    rig.link.set_online(True)
    assert rig.csms.duplicates == [first.unique_id]
    assert len(rig.store) == 0


def test_csms_call_error_on_a_transaction_message_is_retried_then_dropped() -> None:
    rig = Rig("1.6", tx_message_attempts=3, tx_message_retry_interval_s=10)
    rig.csms._on_MeterValues = None  # type: ignore[assignment,method-assign]
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(100)
    tries = [s.at_ns // 1_000_000_000 for s in rig.csms.seen if s.action == "MeterValues"]
    assert tries == [60, 70, 90]  # retry interval grows: 10 s, then 20 s; 3 attempts
    assert len(rig.store) == 0


def test_queue_survives_reopening_the_database(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    store = Store(db)
    store.enqueue("MeterValues", {"connectorId": 1}, None)
    store.close()
    again = Store(db)
    head = again.head()
    assert head is not None and head.action == "MeterValues"


def unchecked_answers(rig: Rig) -> None:
    """Let the simulated CSMS send answers its own schema check would refuse."""
    rig.csms.rpc.make_result = (  # type: ignore[method-assign]
        lambda uid, action, payload: json.dumps([3, uid, payload]))


def test_schema_invalid_answer_to_start_transaction_is_retried_not_taken() -> None:
    rig = Rig("1.6", tx_message_retry_interval_s=5)
    original = rig.csms._on_StartTransaction
    calls = {"n": 0}

    def flaky(p: dict[str, object], now: int) -> dict[str, object]:
        calls["n"] += 1
        if calls["n"] == 1:
            return {"transactionId": "not-an-int", "idTagInfo": {"status": "Accepted"}}
        return original(p, now)

    rig.csms._on_StartTransaction = flaky  # type: ignore[method-assign,assignment]
    unchecked_answers(rig)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    assert len(rig.store) == 1  # not acked on a bad answer
    rig.run(6)
    assert len(rig.store) == 0 and calls["n"] == 2
    assert rig.ctrl.tx is not None and rig.ctrl.tx.remote_id is not None


def test_garbage_boot_answer_is_retried_after_the_boot_retry_interval() -> None:
    rig = Rig("1.6", online=False, boot_retry_s=30)
    rig.csms.boot_status = "Accepted"
    rig.csms._on_BootNotification = lambda p, now: {"status": "Sure"}  # type: ignore[method-assign,assignment]
    unchecked_answers(rig)
    rig.link.set_online(True)
    assert not rig.ctrl.booted
    rig.run(31)
    assert len(rig.csms.of("BootNotification")) == 2
