"""`power_faults.store`: a restart is not a reset. Latched and permanent faults keep the
connector out of service across a process restart until RESET_FAULT (latched) or service
(permanent); a broken store file is a clear error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evse.cli import main
from evse.power.faults import FaultReason
from evse.runtime.config import ConfigError, StationConfig, load_config
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.fault_store import FaultStore, FaultStoreError, HeldFaults
from tests.station.test_lifecycle import (
    S,
    csms_call,
    finish,
    plug_and_charge,
    short_session,
    side,
    statuses,
)


def config(tmp_path: Path) -> StationConfig:
    p = tmp_path / "station.yaml"
    p.write_text("station: {name: t}\npower_faults:\n  store: state/faults.json\n")
    return load_config(p)


def boot(cfg: StationConfig) -> DcStation:
    st = DcStation(cfg, SessionConfig(ocpp="1.6", charge_s=300.0))
    st.start()
    st.sched.run_for(3 * S)
    return st


def test_the_store_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    assert config(tmp_path).power_faults.store == str(tmp_path / "state" / "faults.json")
    assert StationConfig().power_faults.store is None


@pytest.mark.parametrize("value", ["''", "3", "[a]"])
def test_a_bad_store_value_is_an_error_at_its_line(tmp_path: Path, value: str) -> None:
    p = tmp_path / "station.yaml"
    p.write_text(f"power_faults:\n  store: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert err.value.line == 2 and "power_faults.store" in err.value.message


@pytest.mark.req("PLC-6.2")
def test_a_latched_insulation_fault_survives_a_restart_until_the_operator_resets(
        tmp_path: Path) -> None:
    cfg = config(tmp_path)
    st = boot(cfg)
    imd = st.world.imd_physics
    healthy = imd.resistance_ohm
    plug_and_charge(st)
    imd.inject_insulation_fault(20_000.0)
    st.sched.run_until_true(lambda: st.power.fault is not None, limit_ns=15 * S)
    finish(st)
    st.unplug()
    st.sched.run_for(3 * S)
    assert statuses(st)[-1] == "Faulted"
    st.close()
    stored = json.loads(Path(cfg.power_faults.store or "").read_text())
    assert [f["reason"] for f in stored["faults"]] == ["insulation_fault"]
    # The process restarts (the cable was repaired meanwhile): still out of service.
    st = boot(cfg)
    assert st.power.fault is not None and st.power.fault.reason is FaultReason.INSULATION_FAULT
    assert st.cp.state == "F" and statuses(st)[-1] == "Faulted"
    st.plug_in(short_session())
    st.sched.run_for(5 * S)
    assert not st.cp.handler.pwm_on and st.secc is None, "a car was offered PWM while faulted"
    st.unplug()
    st.sched.run_for(1 * S)
    assert st.world.imd_physics.resistance_ohm == healthy
    csms_call(st, "Reset", {"type": "Soft"})
    st.sched.run_for(2 * S)
    assert side(st).ctrl.command_results[-1].accepted
    assert statuses(st)[-1] == "Available"
    assert json.loads(Path(cfg.power_faults.store or "").read_text())["faults"] == []
    plug_and_charge(st, short_session())
    assert finish(st).startswith("OK")
    st.close()
    # Cleared is cleared: the next restart starts Available.
    st = boot(cfg)
    assert st.power.fault is None and statuses(st)[-1] == "Available"
    st.close()


def test_a_permanent_fault_survives_restarts_and_refuses_every_reset(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    FaultStore(cfg.power_faults.store or "").save(HeldFaults(
        ((FaultReason.CONTACTOR_WELDED_REPEATED, "welded twice"),), welded_unresolved=True))
    for _ in range(2):
        st = boot(cfg)
        csms_call(st, "Reset", {"type": "Soft"})
        st.sched.run_for(1 * S)
        result = side(st).ctrl.command_results[-1]
        assert not result.accepted and result.reason
        assert statuses(st)[-1] == "Faulted" and st.cp.state == "F"
        st.close()


def test_a_self_clearing_fault_in_the_store_is_not_restored(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    FaultStore(cfg.power_faults.store or "").save(HeldFaults(
        ((FaultReason.LIMITS_EXPIRED, "old"),)))
    st = boot(cfg)
    assert st.power.fault is None and statuses(st)[-1] == "Available"
    st.close()


@pytest.mark.parametrize("text", ["{not json", '{"version": 9, "faults": [], '
                                  '"welded_unresolved": false}',
                                  '{"version": 1, "faults": [{"reason": "nope", "detail": ""}],'
                                  ' "welded_unresolved": false}'])
def test_a_broken_store_is_an_error_naming_the_file_not_a_traceback(
        tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path)
    path = Path(cfg.power_faults.store or "")
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(FaultStoreError, match=str(path)):
        DcStation(cfg, SessionConfig(ocpp="1.6")).start()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"scenario: s\nduration_s: 1\nconfig: {tmp_path / 'station.yaml'}\n"
                        "session: {protocol: din}\nsteps: []\n")
    rc = main(["sim", str(scenario), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and str(path) in err and "Traceback" not in err


def test_a_store_that_cannot_be_written_does_not_stop_the_station(tmp_path: Path) -> None:
    """The store's directory is a file (a read-only or full disk alike): the latched fault
    is still in force, the failure is logged once, and the next car is still refused."""
    (tmp_path / "state").write_text("not a directory")
    cfg = config(tmp_path)
    st = boot(cfg)
    plug_and_charge(st)
    st.world.imd_physics.inject_insulation_fault(20_000.0)
    st.sched.run_until_true(lambda: st.power.fault is not None, limit_ns=15 * S)
    finish(st)
    st.unplug()
    st.sched.run_for(3 * S)
    failures = [m for _, m in st.log.milestones if m.startswith("fault store not written")]
    assert len(failures) == 1 and "faults.json" in failures[0]
    assert statuses(st)[-1] == "Faulted" and st.cp.state == "F"
    st.close()
