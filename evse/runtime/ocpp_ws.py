"""The controller on a real websocket: asyncio `websockets` client with security profiles.

The only module of the controller with sockets and asyncio. It owns a `Controller` core,
feeds it frames and time (monotonic clock; wall time only to stamp OCPP timestamps), and
sends what the core emits. Profiles (OCPP security whitepaper, 2.0.1 A00.FR):
1 = basic auth, no TLS; 2 = TLS (server certificate verified against the configured CA)
+ basic auth; 3 = TLS with a client certificate (no basic auth). A profile that does not
match the URL scheme is a configuration error, never a silent downgrade.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from evse.controller.core import Controller
from evse.controller.errors import ControllerUsageError
from evse.controller.plc_port import PlcEvent
from evse.runtime.clock import NS_PER_S, MonotonicClock, wall_time_s

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
#: Reconnect back-off (OCPP 2.0.1 B10 RetryBackOffWaitMinimum 1 s ... RepeatTimes; 60 s cap).
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 60.0


@dataclass(frozen=True, slots=True)
class WsSecurity:
    profile: int = 1
    basic_user: str = ""  # the charge point identity (OCPP: username = identity)
    basic_password: str = ""
    ca_file: str = ""  # CSMS root (profiles 2, 3)
    client_cert: str = ""  # PEM (profile 3)
    client_key: str = ""

    def check(self, url: str) -> None:
        secure = url.startswith("wss://")
        if self.profile not in (1, 2, 3):
            raise ControllerUsageError(f"security profile {self.profile} does not exist")
        if (self.profile == 1) == secure:
            raise ControllerUsageError(
                f"security profile {self.profile} needs a {'wss' if not secure else 'ws'}:// URL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.profile == 1:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.profile == 3:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx

    def headers(self) -> dict[str, str]:
        if self.profile == 3:
            return {}
        token = base64.b64encode(f"{self.basic_user}:{self.basic_password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def realtime_epoch_unix_s(clock: MonotonicClock) -> int:
    """Wall-clock origin of `clock`, for `ControllerConfig.epoch_unix_s` (timestamps only)."""
    return int(wall_time_s() - clock.now_ns() / NS_PER_S)


class OcppWsClient:
    """Runs a controller against `url` until `stop()`; reconnects with back-off."""

    def __init__(self, controller: Controller, url: str, security: WsSecurity,
                 clock: MonotonicClock | None = None,
                 on_commands: Callable[[list[object]], None] | None = None) -> None:
        security.check(url)
        self.controller = controller
        self.url = url
        self.security = security
        self.clock = clock or MonotonicClock()
        self.on_commands = on_commands
        self.connected = asyncio.Event()
        self.last_error: Exception | None = None
        self._ws: ClientConnection | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def plc_event(self, event: PlcEvent) -> None:
        self.controller.plc_event(event, self.now_ns())
        self._wake.set()

    def present_token(self, id_token: str) -> None:
        self.controller.present_token(id_token, self.now_ns())
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        timer = asyncio.create_task(self._timer_loop())
        delay = RECONNECT_MIN_S
        try:
            while not self._stop.is_set():
                try:
                    await self._session()
                    delay = RECONNECT_MIN_S
                except (OSError, InvalidHandshake, ConnectionClosed) as exc:
                    # Refused credentials (HTTP 401) or an untrusted certificate are kept
                    # for the operator and retried with back-off like any other failure.
                    self.last_error = exc
                self.connected.clear()
                self.controller.disconnected(self.now_ns())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _session(self) -> None:
        async with connect(
            self.url, subprotocols=[SUBPROTOCOL[self.controller.cfg.ocpp_version]],  # type: ignore[list-item]
            ssl=self.security.ssl_context(), additional_headers=self.security.headers(),
            open_timeout=10,
        ) as ws:
            self._ws = ws
            self.connected.set()
            self.controller.connected(self.now_ns())
            await self._flush()
            stopper = asyncio.create_task(self._stop.wait())
            try:
                while not self._stop.is_set():
                    recv = asyncio.create_task(ws.recv())
                    done, _ = await asyncio.wait({recv, stopper},
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if recv not in done:
                        recv.cancel()
                        break
                    text = recv.result()
                    self.controller.receive_text(
                        text if isinstance(text, str) else text.decode(), self.now_ns())
                    await self._flush()
            finally:
                stopper.cancel()
                self._ws = None

    async def _flush(self) -> None:
        ws = self._ws
        for text in self.controller.data_to_send():
            if ws is not None:
                await ws.send(text)
        commands = self.controller.plc_commands()
        if commands and self.on_commands is not None:
            self.on_commands(list(commands))

    async def _timer_loop(self) -> None:
        while not self._stop.is_set():
            deadline = self.controller.next_deadline_ns()
            now = self.now_ns()
            delay_s = 1.0 if deadline is None else max(0.0, (deadline - now) / NS_PER_S)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(delay_s, 1.0))
            now = self.now_ns()
            deadline = self.controller.next_deadline_ns()
            if deadline is not None and deadline <= now:
                self.controller.handle_timer(now)
            await self._flush()
