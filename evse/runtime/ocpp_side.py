"""The OCPP controller of a simulated station: controller core + CSMS simulator, bound to
the contract, in virtual time.

The controller (evse/controller) sees the PLC only through the contract (its
`ContractBinding`); the CSMS simulator (evse/csms_sim) validates every message it receives
against the OCPP schemas and records violations. The wire between them has no latency; a
driver presents an RFID token `token_delay_ns` after the car first asks for authorization,
as a person at the charger would: once per plug-in (a second tap of the same card would
withdraw the authorization, OCPP 1.6 §3.5), even if the car asks again in a new V2G session.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from typing import TYPE_CHECKING

from evse.contract.events import ContractPort, LinkDown, SignalReceived
from evse.contract.inprocess import InProcessEndpoint
from evse.contract.values import PaymentOption, PlcAuthRequest, PlcEvPresent
from evse.controller.config import ControllerConfig
from evse.controller.contract_binding import ContractBinding
from evse.controller.core import Controller
from evse.controller.external_limits import EmsCommand
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim
from evse.fsm.engine import TraceSink
from evse.runtime.config import PncSection
from evse.runtime.rearm import Rearm
from evse.runtime.scheduler import Scheduler
from evse.security.testpki import DEFAULT_EMAID

if TYPE_CHECKING:  # websockets and the ocpp server stack only load for an external CSMS
    from evse.io.ocpp_ws import OcppWsClient

#: The token the simulated driver presents, accepted by the simulated CSMS.
SIM_TOKEN = "SIM-RFID-0001"
#: Frames exchanged in one pump before it is called a livelock (a bug, not a session).
PUMP_BUDGET = 10_000


class OcppSide:
    def __init__(
        self,
        sched: Scheduler,
        port: ContractPort,
        *,
        version: str,
        token_delay_ns: int | None,
        max_voltage_v: float,
        max_current_a: float,
        max_power_w: float,
        store_path: str = ":memory:",
        trace: TraceSink | None = None,
        auth_timeouts_s: tuple[float, float] | None = None,
        pnc: PncSection | None = None,
    ) -> None:
        """`auth_timeouts_s`: (EIM, PnC) authorization waits from the station config; None
        keeps the controller's defaults (the contract bounds)."""
        self.sched = sched
        self.port = port
        config = ControllerConfig(
            ocpp_version=version, max_voltage_v=max_voltage_v, max_current_a=max_current_a,
            max_power_w=max_power_w, meter_sample_interval_s=10.0,
            epoch_unix_s=sched.clock.epoch_unix_ns // 1_000_000_000,
        )
        if auth_timeouts_s is not None:
            config = dataclasses.replace(config, auth_timeout_eim_s=auth_timeouts_s[0],
                                         auth_timeout_pnc_s=auth_timeouts_s[1])
        if pnc is not None:  # the station's `pnc:` section: the PnC trust store
            config = dataclasses.replace(config, **pnc.controller_settings())  # type: ignore[arg-type]
        self.config = config
        self.ctrl = Controller(self.config, Store(store_path), trace=trace)
        self.csms = CsmsSim(version)
        self.csms.tokens[SIM_TOKEN] = "Accepted"
        # The simulated car's contract (evse.security.testpki) is known to the CSMS.
        self.csms.tokens[DEFAULT_EMAID] = "Accepted"
        self.binding = ContractBinding()
        #: Every PLC event the binding produced, for diagnostics and tests.
        self.binding_log: list[object] = []
        self.token = SIM_TOKEN
        #: When the driver taps the card after the car asks for authorization (None: the
        #: driver does not tap: authorized before plug-in, remotely, or never).
        self.token_delay_ns = token_delay_ns
        self._tapped = False  # the driver's card was (or will be) presented this plug-in
        self._plug_ins = 0  # counts unplugs: a tap armed for a car that left is not made
        self.online = True
        self.silent = False  # tests: the controller process hangs (publishes nothing)
        self._timer = Rearm(sched, "controller", self._deadline, self._fire)

    def start(self, now_ns: int) -> None:
        self.ctrl.start(now_ns)
        self.ctrl.connected(now_ns)
        self._pump(now_ns)

    def set_online(self, online: bool, now_ns: int) -> None:
        """Take the CSMS connection down or up (offline queue tests and scenarios)."""
        if online == self.online:
            return
        self.online = online
        if online:
            self.ctrl.connected(now_ns)
        else:
            self.ctrl.disconnected(now_ns)
            self.csms.connection_lost()
            self.csms.data_to_send()
        self._pump(now_ns)

    def step(self, now_ns: int) -> None:
        """Contract input from the PLC, then whatever the controller wants to say."""
        for ev in self.port.poll(now_ns):
            if isinstance(ev, SignalReceived):
                for pe in self.binding.events(ev.value):
                    self.binding_log.append(pe)
                    self.ctrl.plc_event(pe, now_ns)
                # The simulated driver taps a card only for a car that pays by EIM: a Plug &
                # Charge car authorizes by its contract, and a tap meanwhile raced the
                # contract's authorization (evse probe's PnC families on the bench: the EIM
                # token authorized, was withdrawn, the contract verdict never came).
                if (isinstance(ev.value, PlcAuthRequest) and not self._tapped
                        and ev.value.payment_option is PaymentOption.EIM
                        and self.token_delay_ns is not None):
                    self._tapped = True
                    self.sched.start_timer(self.token_delay_ns,
                                           functools.partial(self._tap_if_still_plugged,
                                                             self._plug_ins), "rfid")
                elif isinstance(ev.value, PlcEvPresent) and not ev.value.present:
                    self._tapped = False
                    self._plug_ins += 1
            elif isinstance(ev, LinkDown):
                self.binding.link_lost()
        self._pump(now_ns)

    def _tap_if_still_plugged(self, armed_for: int, now_ns: int) -> None:
        """The simulated driver's tap, unless the car it was meant for has left: on the
        bench a car re-plugs within the tap delay, and a stale tap authorized the next
        session by EIM before its own request (a Plug & Charge car then never got its
        contract's verdict)."""
        if armed_for == self._plug_ins:
            self.present_token(now_ns)

    def present_token(self, now_ns: int) -> None:
        """The driver taps the card on the reader now (before plug-in, to authorize; while
        charging, to stop)."""
        self.ctrl.present_token(self.token, now_ns)
        self._pump(now_ns)

    def ems_command(self, cmd: EmsCommand, now_ns: int) -> None:
        """The station's external-limit input (`ems:`) sets or releases a limit now."""
        self.ctrl.apply_ems(cmd, now_ns)
        self._pump(now_ns)

    def csms_call(self, action: str, payload: dict[str, object], now_ns: int) -> None:
        """The operator's backend sends a call now (remote start/stop, reset, availability)."""
        self.csms.call(action, payload, now_ns)
        self._pump(now_ns)

    def _deadline(self) -> int | None:
        times = [self.ctrl.next_deadline_ns(), self.csms.next_deadline_ns()]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def _fire(self, now_ns: int) -> None:
        d = self.ctrl.next_deadline_ns()
        if d is not None and d <= now_ns:
            self.ctrl.handle_timer(now_ns)
        self._pump(now_ns)

    def _pump(self, now_ns: int) -> None:
        for _ in range(PUMP_BUDGET):
            up = self.ctrl.data_to_send()
            down = self.csms.data_to_send()
            if not up and not down:
                break
            if not self.online:
                continue
            for text in up:
                self.sched.trace.record("ocpp", "tx", {"frame": text})
                self.csms.receive(text, now_ns)
            for text in down:
                self.sched.trace.record("ocpp", "rx", {"frame": text})
                self.ctrl.receive_text(text, now_ns)
        else:
            raise RuntimeError("livelock between the controller and the CSMS simulator")
        commands = self.ctrl.plc_commands()
        if not self.silent:
            for cmd in commands:
                self.port.publish(self.binding.value(cmd), now_ns)  # type: ignore[arg-type]
        self._timer.update()


class ExternalOcppSide:
    """The OCPP controller against an external CSMS over websockets (`evse sim --csms`).

    The controller core is the same; its wire is `OcppWsClient` on the asyncio loop that also
    hosts the scheduler (`run_async`), so both run in one thread and never race. The client
    drives the controller's own timers; this side only carries contract traffic.
    """

    def __init__(
        self,
        sched: Scheduler,
        port: InProcessEndpoint,
        client: OcppWsClient,
        *,
        token: str,
        token_delay_ns: int | None,
    ) -> None:
        self.sched = sched
        self.port = port
        self.client = client
        self.ctrl = client.controller
        self.binding = ContractBinding()
        self.token = token
        self.token_delay_ns = token_delay_ns
        self.silent = False
        # A deque: the client may hand commands over from its own thread (evse run's
        # websocket thread, evse/runtime/ocpp_thread.py); append/popleft are atomic.
        self._commands: deque[object] = deque()
        client.on_commands = self._commands.extend

    def start(self, now_ns: int) -> None:
        """The client starts and connects on the asyncio loop (`run_with_external_csms`)."""

    def step(self, now_ns: int) -> None:
        for ev in self.port.poll(now_ns):
            if isinstance(ev, SignalReceived):
                for pe in self.binding.events(ev.value):
                    self.client.plc_event(pe)
                if isinstance(ev.value, PlcAuthRequest) and self.token_delay_ns is not None:
                    self.sched.start_timer(self.token_delay_ns, self._present_token, "rfid")
            elif isinstance(ev, LinkDown):
                self.binding.link_lost()
        commands: list[object] = []
        while self._commands:
            commands.append(self._commands.popleft())
        if not self.silent:
            for cmd in commands:
                self.port.publish(self.binding.value(cmd), now_ns)  # type: ignore[arg-type]

    def _present_token(self, now_ns: int) -> None:
        self.client.present_token(self.token)

    def ems_command(self, cmd: EmsCommand, now_ns: int) -> None:
        """The external-limit input, handed to the client (its own thread in `evse run`)."""
        self.client.ems_command(cmd)
