"""A controller wired to the CSMS simulator in virtual time, plus a scripted PLC."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.host_requests import HostRequest, RestartRequest
from evse.controller.plc_port import (
    AuthRequested,
    AuthStatus,
    AuthStatusCmd,
    EvPresent,
    Measurement,
    PaymentOption,
    PlcCommand,
    PowerDeliveryStarted,
    PowerDeliveryStopped,
    SessionCommandCmd,
    SessionEnded,
    StopReason,
)
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim
from evse.csms_sim.link import VirtualLink
from evse.io.host_services import HostServices

S = 1_000_000_000


class Rig:
    def __init__(self, version: str = "1.6", *, db: str = ":memory:", online: bool = True,
                 host: HostServices | None = None, **cfg: Any) -> None:
        self.config = replace(ControllerConfig(ocpp_version=version), **cfg)
        self.store = Store(db)
        self.ctrl = Controller(self.config, self.store)
        self.csms = CsmsSim(version)
        self.csms.tokens.update({"TAG-OK": "Accepted", "TAG-BAD": "Invalid",
                                 "REMOTE-1": "Accepted", "AC-TOKEN": "Accepted",
                                 "EMAID-OK": "Accepted"})
        self.link = VirtualLink(self.ctrl, self.csms)
        self.commands: list[PlcCommand] = []
        #: The host side of maintenance requests, run synchronously (None: recorded only).
        self.host = host
        self.host_requests: list[HostRequest] = []
        #: (virtual time, frames the CSMS had received) at each restart request.
        self.restarts: list[tuple[int, int, str]] = []
        self.energy_wh = 10_000.0
        self.link.start(online=online)
        self.collect()

    # ------------------------------------------------------------------ PLC side
    def plc(self, ev: Any) -> None:
        self.link.plc(ev)
        self.collect()

    def collect(self) -> list[PlcCommand]:
        new = self.ctrl.plc_commands()
        self.commands.extend(new)
        self._run_host()
        return new

    def _run_host(self) -> None:
        while reqs := self.ctrl.host_requests():
            for req in reqs:
                self.host_requests.append(req)
                if isinstance(req, RestartRequest):
                    self.restarts.append((self.link.now_ns, len(self.csms.seen), req.kind))
                if self.host is None:
                    continue
                result = self.host.execute(req)
                if result is not None:
                    self.ctrl.host_result(result, self.link.now_ns)
                    self.link.pump()
            self.commands.extend(self.ctrl.plc_commands())

    def auth_statuses(self) -> list[AuthStatus]:
        self.collect()
        return [c.status for c in self.commands if isinstance(c, AuthStatusCmd)]

    def session_commands(self) -> list[str]:
        self.collect()
        return [c.command.value for c in self.commands if isinstance(c, SessionCommandCmd)]

    def plug(self) -> None:
        self.plc(EvPresent(True))

    def unplug(self) -> None:
        self.plc(EvPresent(False))

    def ev_waits_for_auth(self, option: PaymentOption = PaymentOption.EIM) -> None:
        self.plc(AuthRequested(option))

    def meas(self, current_a: float = 200.0, voltage_v: float = 400.0) -> None:
        self.plc(Measurement(voltage_v, current_a, self.energy_wh))

    def power_on(self) -> None:
        self.meas(0.0)
        self.plc(PowerDeliveryStarted())

    def charge(self, seconds: int, current_a: float = 200.0, voltage_v: float = 400.0) -> None:
        """Energy rises each second as a DC meter would report it."""
        for _ in range(seconds):
            self.energy_wh += voltage_v * current_a / 3600.0
            self.meas(current_a, voltage_v)
            self.run(1.0)

    def power_off(self, reason: StopReason = StopReason.EV_REQUESTED) -> None:
        self.meas(0.0)
        self.plc(PowerDeliveryStopped(reason))

    def session_end(self, reason: StopReason = StopReason.EV_REQUESTED) -> None:
        self.plc(SessionEnded(reason))

    def run(self, seconds: float) -> None:
        self.link.run_for(seconds)
        self.collect()

    def token(self, id_token: str) -> None:
        self.link.token(id_token)
        self.collect()

    @property
    def state(self) -> str:
        return self.ctrl.state

    # ------------------------------------------------------------------ PnC trust store
    def root_call(self, message_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """A 2.0.1 root-management call from the CSMS (M03/M04/M05), natively in 2.0.1 and
        in DataTransfer (OCA PnC whitepaper) in 1.6; returns the 2.0.1-shaped answer."""
        import json

        if self.config.ocpp_version == "2.0.1":
            uid = self.csms.call(message_id, data, self.link.now_ns)
            self.link.pump()
            answer = self.csms.answers[uid]
            assert answer.error is None and answer.payload is not None, answer
            return answer.payload
        uid = self.csms.call("DataTransfer", {
            "vendorId": "org.openchargealliance.iso15118pnc", "messageId": message_id,
            "data": json.dumps(data)}, self.link.now_ns)
        self.link.pump()
        answer = self.csms.answers[uid]
        assert answer.payload is not None and answer.payload["status"] == "Accepted", answer
        result: dict[str, Any] = json.loads(answer.payload["data"])
        return result


def ask(rig: Rig, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A CSMS call through the rig, answered: its payload (a CALLERROR fails the test)."""
    uid = rig.csms.call(action, payload, rig.link.now_ns)
    rig.link.pump()
    rig.collect()
    answer = rig.csms.answers[uid]
    assert answer.error is None, answer.error
    assert answer.payload is not None
    return answer.payload
