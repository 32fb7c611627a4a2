"""Property: whatever the PLC, the user, the CSMS and the network do, once the connection is
back every transaction the station opened reaches the CSMS once, in order, with one stop."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from evse.controller.plc_port import FaultCode, FaultSeverity, PlcFault, StopReason
from tests.controller.harness import Rig

OPS = st.sampled_from([
    "plug", "unplug", "auth", "token_ok", "token_bad", "power_on", "charge", "power_off",
    "session_end", "offline", "online", "fault", "clear", "remote_stop", "wait_long",
])


def apply(rig: Rig, op: str) -> None:
    if op == "plug":
        rig.plug()
    elif op == "unplug":
        rig.unplug()
    elif op == "auth":
        rig.ev_waits_for_auth()
    elif op == "token_ok":
        rig.token("TAG-OK")
    elif op == "token_bad":
        rig.token("TAG-BAD")
    elif op == "power_on":
        rig.power_on()
    elif op == "charge":
        rig.charge(70)
    elif op == "power_off":
        rig.power_off()
    elif op == "session_end":
        rig.session_end(StopReason.EV_REQUESTED)
    elif op == "offline":
        rig.link.set_online(False)
    elif op == "online":
        rig.link.set_online(True)
    elif op == "fault":
        rig.plc(PlcFault(FaultCode.ISOLATION_FAULT, FaultSeverity.ERROR))
    elif op == "clear":
        rig.plc(PlcFault(FaultCode.ISOLATION_FAULT, FaultSeverity.ERROR, active=False))
    elif op == "remote_stop":
        for tx_id in list(rig.csms.transactions):
            if rig.config.ocpp_version == "1.6":
                rig.csms.call("RemoteStopTransaction", {"transactionId": int(tx_id)})
            else:
                rig.csms.call("RequestStopTransaction", {"transactionId": tx_id})
        rig.link.pump()
    elif op == "wait_long":
        rig.run(65)


def _run(version: str, ops: list[str]) -> Rig:
    rig = Rig(version, allow_offline_tx_for_unknown_id=True, call_timeout_s=10.0)
    for op in ops:
        apply(rig, op)
    rig.unplug()
    rig.plc(PlcFault(FaultCode.ISOLATION_FAULT, FaultSeverity.ERROR, active=False))
    rig.link.set_online(True)
    rig.run(120)
    assert rig.csms.violations == [] and rig.csms.duplicates == []
    assert len(rig.store) == 0
    assert rig.state == "available"
    opened = rig.store._exec("SELECT COUNT(*) FROM tx").fetchone()[0]  # noqa: SLF001
    assert len(rig.csms.transactions) == opened
    for tx in rig.csms.transactions.values():
        assert tx.stop_reason is not None
        energies = [float(mv["sampledValue"][0]["value"]) for mv in tx.meter_values]
        assert energies == sorted(energies)
        assert tx.meter_stop_wh is not None and tx.meter_stop_wh >= tx.meter_start_wh
    return rig


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=30))
def test_16_every_transaction_reaches_the_csms_once_with_one_stop(ops: list[str]) -> None:
    rig = _run("1.6", ops)
    n = len(rig.csms.transactions)
    assert len(rig.csms.of("StartTransaction")) == len(rig.csms.of("StopTransaction")) == n
    stopped: set[int] = set()
    for s in rig.csms.seen:
        if s.action in ("MeterValues", "StopTransaction"):
            assert s.payload["transactionId"] not in stopped, "message after its stop"
            if s.action == "StopTransaction":
                stopped.add(s.payload["transactionId"])


@settings(max_examples=40, deadline=None)
@given(st.lists(OPS, max_size=30))
def test_201_every_transaction_has_contiguous_events_ending_once(ops: list[str]) -> None:
    rig = _run("2.0.1", ops)
    for tx in rig.csms.transactions.values():
        kinds = [e.split(":")[0] for e in tx.events]
        seqs = [int(e.split(":")[2]) for e in tx.events]
        assert kinds[0] == "Started" and kinds[-1] == "Ended" and kinds.count("Ended") == 1
        assert seqs == list(range(len(seqs)))
