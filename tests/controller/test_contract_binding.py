"""The PLC port binds 1:1 to the merged contract: same enums, every command is a valid
contract value, every contract signal the controller acts on becomes the right event."""

from __future__ import annotations

import enum

import pytest

from evse.contract import values as cv
from evse.controller import plc_port as pp
from evse.controller.contract_binding import ContractBinding
from tests.controller.certs import contract_chain
from tests.controller.harness import Rig

PAIRS: list[tuple[type[enum.Enum], type[enum.Enum]]] = [
    (pp.V2gPhase, cv.V2gPhase), (pp.SessionCommandKind, cv.SessionCommand),
    (pp.AuthMethod, cv.AuthMethod), (pp.TokenType, cv.TokenType),
    (pp.AuthStatus, cv.AuthStatus), (pp.PaymentOption, cv.PaymentOption),
    (pp.DeratingReason, cv.DeratingReason), (pp.FaultCode, cv.FaultCode),
    (pp.FaultSeverity, cv.FaultSeverity), (pp.StopReason, cv.StopReason),
    (pp.ContractCertificateStatus, cv.ContractCertificateStatus),
]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=lambda c: c.__name__)
def test_port_enums_equal_the_contract_enums(ours: type[enum.Enum],
                                             theirs: type[enum.Enum]) -> None:
    assert [e.value for e in ours] == [e.value for e in theirs]


def test_presence_and_phase_refreshes_are_not_events() -> None:
    b = ContractBinding()
    present = cv.PlcEvPresent(present=True, connector_id=1)
    assert b.events(present) == [pp.EvPresent(True, 1)]
    assert b.events(present) == []
    assert b.events(cv.PlcSessionEvent(event=cv.SessionEventKind.EV_PLUGGED)) == []
    phase = cv.PlcV2gPhase(phase=cv.V2gPhase.AUTH)
    assert b.events(phase) == [pp.PhaseChanged(pp.V2gPhase.AUTH)]
    assert b.events(phase) == []
    b.link_lost()
    assert b.events(present) == [pp.EvPresent(True, 1)]


@pytest.mark.parametrize(("value", "expected"), [
    (cv.PlcSessionEvent(event=cv.SessionEventKind.POWER_DELIVERY_START),
     [pp.PowerDeliveryStarted()]),
    (cv.PlcSessionEvent(event=cv.SessionEventKind.POWER_DELIVERY_STOP,
                        stop_reason=cv.StopReason.LIMITS_EXPIRED),
     [pp.PowerDeliveryStopped(pp.StopReason.LIMITS_EXPIRED)]),
    (cv.PlcSessionEvent(event=cv.SessionEventKind.SESSION_STOPPED,
                        stop_reason=cv.StopReason.AUTH_TIMEOUT),
     [pp.SessionEnded(pp.StopReason.AUTH_TIMEOUT)]),
    (cv.PlcSessionEvent(event=cv.SessionEventKind.SLAC_MATCHED), []),
    (cv.PlcEvMac(mac="0A:1B:2C:3D:4E:5F", run_id="0102030405060708"),
     [pp.SlacMatched("0A:1B:2C:3D:4E:5F", "0102030405060708")]),
    (cv.PlcEvccid(evccid="0A1B2C3D4E5F", protocol=cv.V2gProtocol.ISO15118_2),
     [pp.EvccidReceived("0A1B2C3D4E5F")]),
    (cv.PlcAuthRequest(payment_option=cv.PaymentOption.CONTRACT),
     [pp.AuthRequested(pp.PaymentOption.CONTRACT)]),
    (cv.PlcFault(fault_code=cv.FaultCode.IMD_FAULT, severity=cv.FaultSeverity.ERROR,
                 active=True, latched=True, diagnostic_data="R_iso low"),
     [pp.PlcFault(pp.FaultCode.IMD_FAULT, pp.FaultSeverity.ERROR, True, True, "R_iso low")]),
    (cv.MeasDcOutput(present_voltage_v=400.0, present_current_a=100.0, energy_wh=5.0,
                     isolation_status=cv.IsolationStatus.VALID),
     [pp.Measurement(400.0, 100.0, 5.0)]),
    (cv.PlcPncCertificateRequest(request_id=1, operation=cv.CertificateOperation.UPDATE,
                                 schema_namespace="urn:iso:15118:2:2013:MsgDef",
                                 exi_request=b"\x80"),
     [pp.PncCertificateRequested(1, "UPDATE", "urn:iso:15118:2:2013:MsgDef", b"\x80")]),
    (cv.PlcCpState(state=cv.CpState.C2), []),
])
def test_contract_signal_to_port_event(value: object, expected: list[pp.PlcEvent]) -> None:
    assert ContractBinding().events(value) == expected


def test_every_command_of_a_whole_session_is_a_valid_contract_value() -> None:
    """Drive the controller through both versions' sessions via the binding only."""
    for version in ("1.6", "2.0.1"):
        rig = Rig(version)
        b = ContractBinding()

        def feed(value: object, rig: Rig = rig, b: ContractBinding = b) -> None:
            for ev in b.events(value):
                rig.plc(ev)

        feed(cv.PlcEvPresent(present=True, connector_id=1))
        feed(cv.PlcPncAuthorizationRequest(request_id=2, emaid="EMAID-OK",
                                           certificate_chain_der=contract_chain()))
        feed(cv.PlcAuthRequest(payment_option=cv.PaymentOption.CONTRACT))
        feed(cv.MeasDcOutput(present_voltage_v=400.0, present_current_a=0.0,
                             energy_wh=10_000.0, isolation_status=cv.IsolationStatus.VALID))
        feed(cv.PlcSessionEvent(event=cv.SessionEventKind.POWER_DELIVERY_START))
        rig.run(5)
        feed(cv.PlcSessionEvent(event=cv.SessionEventKind.POWER_DELIVERY_STOP,
                                stop_reason=cv.StopReason.EV_REQUESTED))
        feed(cv.PlcEvPresent(present=False, connector_id=1))
        values = [ContractBinding.value(c) for c in rig.commands]
        kinds = {type(v).__name__ for v in values}
        assert {"CtrlOcppErrorMapping", "CtrlEvseLimitsDynamic", "CtrlSchedule",
                "CtrlAuthStatus", "CtrlAuthContext", "CtrlPncAuthorizationResponse"} <= kinds
        statuses = [v.status.value for v in values if isinstance(v, cv.CtrlAuthStatus)]
        # ctrl.auth_status is a state signal: the verdict is published when granted and
        # again when the EV asks; it never says anything else in this session
        assert statuses and set(statuses) == {"ACCEPTED"}
        assert len(rig.csms.transactions) == 1


def test_certificate_response_and_session_command_bind() -> None:
    ok = ContractBinding.value(pp.PncCertificateResponseCmd(3, True, b"\x01"))
    assert ok == cv.CtrlPncCertificateResponse(
        request_id=3, status=cv.CertificateResponseStatus.ACCEPTED, exi_response=b"\x01")
    failed = ContractBinding.value(pp.PncCertificateResponseCmd(3, False))
    assert isinstance(failed, cv.CtrlPncCertificateResponse) and failed.exi_response is None
    stop = ContractBinding.value(pp.SessionCommandCmd(pp.SessionCommandKind.STOP_GRACEFUL,
                                                      "x" * 100))
    assert isinstance(stop, cv.CtrlSessionCommand) and stop.reason == "x" * 64


def test_controller_timing_defaults_respect_the_contract_bounds() -> None:
    from evse.contract.definition import DEFINITION
    from evse.controller.config import ControllerConfig
    from evse.controller.pnc import PNC_CERT_ANSWER_TIMEOUT_NS

    cfg = ControllerConfig()
    s = 1_000_000_000
    assert round(cfg.auth_timeout_eim_s * s) == DEFINITION.bound_ns("auth_timeout_eim")
    assert round(cfg.auth_timeout_pnc_s * s) == DEFINITION.bound_ns("auth_timeout_pnc")
    assert DEFINITION.bound_ns("pnc_cert_answer_timeout") == PNC_CERT_ANSWER_TIMEOUT_NS
    validity_ns = cfg.limits_validity_ms * 1_000_000
    assert DEFINITION.bound_ns("limits_validity_min") <= validity_ns \
        <= DEFINITION.bound_ns("limits_validity_max")
    # refreshed at least twice within its validity, so one lost sample never expires it
    assert cfg.limits_period_s * s * 2 <= validity_ns
