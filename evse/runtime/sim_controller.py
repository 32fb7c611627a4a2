"""A minimal controller on the contract, for stations run without OCPP.

It answers what the PLC needs to charge and nothing more: every authorization request is
accepted after `auth_delay_ns` (a driver presenting a card), and `evse_limits_dynamic` is
refreshed at 1 Hz with a 5 s validity (contract: 1-10 Hz, `validity_ms`), so the PLC's
limits watchdog stays satisfied while the stand-in runs. The OCPP controller replaces it
when the station is configured with a CSMS.
"""

from __future__ import annotations

from evse.contract.events import ContractPort, SignalReceived
from evse.contract.values import (
    AuthStatus,
    CtrlAuthStatus,
    CtrlEvseLimitsDynamic,
    PlcAuthRequest,
)

S = 1_000_000_000
#: Limits refresh period and validity (contract ctrl.evse_limits_dynamic: 1-10 Hz).
LIMITS_PERIOD_NS = 1 * S
LIMITS_VALIDITY_MS = 5_000


class StandInController:
    def __init__(
        self,
        port: ContractPort,
        *,
        auth_delay_ns: int,
        max_voltage_v: float = 1000.0,
        max_current_a: float = 200.0,
        max_power_w: float = 60_000.0,
        accept: bool = True,
    ) -> None:
        self.port = port
        self.auth_delay_ns = auth_delay_ns
        self.accept = accept
        self.limits = CtrlEvseLimitsDynamic(
            max_voltage_v=max_voltage_v, max_current_a=max_current_a, max_power_w=max_power_w,
            min_current_a=0.0, validity_ms=LIMITS_VALIDITY_MS,
        )
        self._auth_at_ns: int | None = None
        self._next_limits_ns = 0
        self.received: list[object] = []
        self.silent = False  # tests: the controller stops talking

    def step(self, now_ns: int) -> None:
        for ev in self.port.poll(now_ns):
            if isinstance(ev, SignalReceived):
                self.received.append(ev.value)
                if isinstance(ev.value, PlcAuthRequest):
                    self._auth_at_ns = now_ns + self.auth_delay_ns
        if self.silent:
            return
        if self._auth_at_ns is not None and now_ns >= self._auth_at_ns:
            self._auth_at_ns = None
            status = AuthStatus.ACCEPTED if self.accept else AuthStatus.REJECTED
            self.port.publish(CtrlAuthStatus(status=status), now_ns)
        if now_ns >= self._next_limits_ns:
            self._next_limits_ns = now_ns + LIMITS_PERIOD_NS
            self.port.publish(self.limits, now_ns)
