"""OCPP over real websockets: the controller's client and the CSMS simulator's server.

The only module of the controller and of the CSMS simulator with sockets and asyncio
(the layering contract keeps `evse/controller` and `evse/csms_sim` sans-IO).

Client: `OcppWsClient`. It owns a `Controller` core,
feeds it frames and time (monotonic clock; wall time only to stamp OCPP timestamps), and
sends what the core emits. Profiles (OCPP security whitepaper, 2.0.1 A00.FR):
1 = basic auth, no TLS; 2 = TLS (server certificate verified against the configured CA)
+ basic auth; 3 = TLS with a client certificate (no basic auth). A profile that does not
match the URL scheme is a configuration error, never a silent downgrade.

Server: `CsmsServer`. Each charger connection is an `ocpp` library `ChargePoint` (its
receive loop and send path); `route_message` hands every frame to the sans-IO `CsmsSim`
core, so the socket server and the virtual-time tests share one behaviour. The same three
profiles: 1 basic auth without TLS, 2 TLS + basic auth, 3 TLS requiring a client
certificate signed by the configured CA.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ocpp.charge_point import ChargePoint
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, basic_auth, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from evse.controller.core import Controller
from evse.controller.errors import ControllerUsageError
from evse.controller.external_limits import EmsCommand
from evse.controller.host_requests import HostRequest, RestartRequest, TransferResult
from evse.controller.plc_port import PlcEvent
from evse.controller.security_events import SecurityEvent
from evse.csms_sim.core import CsmsSim
from evse.io.host_services import HostServices
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
    #: CSMS roots installed over OCPP (PEM); when set they replace `ca_file` (profile 2/3).
    ca_pem: bytes = b""

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
        if self.ca_pem:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                             cadata=self.ca_pem.decode())
        else:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                             cafile=self.ca_file or None)
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
                 on_commands: Callable[[list[object]], None] | None = None,
                 host: HostServices | None = None) -> None:
        security.check(url)
        #: Executes the controller's restarts and file transfers (None: they fail).
        self.host = host
        self._host_tasks: set[asyncio.Task[None]] = set()
        controller.adopt_security_profile(security.profile)
        self.controller = controller
        self.url = url
        self.security = security
        self.clock = clock or MonotonicClock()
        self.on_commands = on_commands
        self.connected = asyncio.Event()
        self.last_error: Exception | None = None
        self._ws: ClientConnection | None = None
        self.sent_log: list[str] | None = None
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

    def ems_command(self, cmd: EmsCommand) -> None:
        """The station's external-limit input (K11-K13) to the controller."""
        self.controller.apply_ems(cmd, self.now_ns())
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
                    self._security_event_for(exc)
                self.connected.clear()
                self.controller.disconnected(self.now_ns())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    def _security_event_for(self, exc: Exception) -> None:
        """A04: connection failures that are security events (never with credentials)."""
        kind: SecurityEvent | None = None
        if isinstance(exc, ssl.SSLCertVerificationError):
            kind = SecurityEvent.INVALID_CSMS_CERTIFICATE
        elif isinstance(exc, ssl.SSLError) and "VERSION" in str(exc.reason or "").upper():
            kind = SecurityEvent.INVALID_TLS_VERSION
        elif isinstance(exc, ssl.SSLError) and "CIPHER" in str(exc.reason or "").upper():
            kind = SecurityEvent.INVALID_TLS_CIPHER_SUITE
        elif isinstance(exc, InvalidStatus) and exc.response.status_code == 401:
            kind = SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CSMS
        if kind is not None:
            self.controller.security_event(kind, type(exc).__name__)
            self._wake.set()

    def effective(self) -> tuple[str, WsSecurity]:
        """URL and security of the next connection: the configured ones, upgraded by what
        the CSMS changed over OCPP (profile, password, CSMS roots, client certificate)."""
        conn = self.controller.network.connection()
        sec = self.security
        url = conn.url or self.url
        if conn.profile >= 2 and url.startswith("ws://"):
            url = "wss://" + url[len("ws://"):]  # 1.6 SecurityProfile upgrade: same endpoint
        client_cert, client_key = sec.client_cert, sec.client_key
        if conn.client_cert is not None:
            client_cert, client_key = str(conn.client_cert[0]), str(conn.client_cert[1])
        return url, replace(sec, profile=max(sec.profile, conn.profile),
                            basic_password=conn.password or sec.basic_password,
                            ca_pem=conn.csms_roots_pem or sec.ca_pem,
                            client_cert=client_cert, client_key=client_key)

    async def _session(self) -> None:
        url, security = self.effective()
        async with connect(
            url, subprotocols=[SUBPROTOCOL[self.controller.cfg.ocpp_version]],  # type: ignore[list-item]
            ssl=security.ssl_context(), additional_headers=security.headers(),
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
                    if self.controller.network.take_change():
                        break  # A01/A05: reconnect with the new password / profile
            finally:
                stopper.cancel()
                self._ws = None

    async def _flush(self) -> None:
        ws = self._ws
        for text in self.controller.data_to_send():
            if ws is not None:
                await ws.send(text)
                if self.sent_log is not None:
                    self.sent_log.append(text)
        commands = self.controller.plc_commands()
        if commands and self.on_commands is not None:
            self.on_commands(list(commands))
        for req in self.controller.host_requests():
            # after the frames above: an answer (Reset.conf) leaves before its restart
            task = asyncio.create_task(self._host_request(req))
            self._host_tasks.add(task)
            task.add_done_callback(self._host_tasks.discard)

    async def _host_request(self, req: HostRequest) -> None:
        """A transfer or restart runs in a worker thread; its result goes back to the core
        from this loop's thread (the core is only ever touched from here)."""
        if self.host is None:
            result = None if isinstance(req, RestartRequest) else TransferResult(
                req.job_id, req.kind, False, detail="no host services configured")
        else:
            result = await asyncio.to_thread(self.host.execute, req)
        if result is not None:
            self.controller.host_result(result, self.now_ns())
            await self._flush()

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


# ============================================================== CSMS simulator server


@dataclass(frozen=True, slots=True)
class ServerSecurity:
    profile: int = 1
    basic_user: str = ""
    basic_password: str = ""
    server_cert: str = ""  # PEM paths (profiles 2, 3)
    server_key: str = ""
    client_ca: str = ""  # CA that signs accepted client certificates (profile 3)

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.profile == 1:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP security: TLS 1.2 or higher
        ctx.load_cert_chain(self.server_cert, self.server_key)
        if self.profile == 3:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.client_ca)
        return ctx


class SimChargePoint(ChargePoint):  # type: ignore[misc]  # ocpp is untyped
    """One connected charger; frames go to the shared sans-IO core."""

    def __init__(self, cp_id: str, connection: ServerConnection, sim: CsmsSim,
                 now_ns: Callable[[], int]) -> None:
        super().__init__(cp_id, connection)
        self.sim = sim
        self._now_ns = now_ns

    async def route_message(self, raw_msg: str) -> None:
        self.sim.receive(raw_msg, self._now_ns())
        await self.flush()

    async def flush(self) -> None:
        for text in self.sim.data_to_send():
            await self._send(text)


class CsmsServer:
    """`async with CsmsServer(sim, ...) as srv:` then `srv.port`; `await srv.call(...)`."""

    def __init__(self, sim: CsmsSim, now_ns: Callable[[], int], *, host: str = "127.0.0.1",
                 port: int = 0, security: ServerSecurity | None = None) -> None:
        self.sim = sim
        self.now_ns = now_ns
        self.host = host
        self.port = port
        self.security = security or ServerSecurity()
        self.connections: dict[str, SimChargePoint] = {}
        self._server: Server | None = None
        #: Basic-auth passwords accepted now (a test rotates them like a CSMS would, A01).
        self.passwords = {self.security.basic_password}
        #: One entry per basic-auth check: did the charger's credentials match?
        self.auth_results: list[bool] = []

    async def __aenter__(self) -> CsmsServer:
        sec = self.security
        process_request: Any = None
        if sec.profile in (1, 2):
            def check(user: str, password: str) -> bool:
                ok = user == sec.basic_user and password in self.passwords
                self.auth_results.append(ok)
                return ok

            process_request = basic_auth(realm="csms", check_credentials=check)
        self._server = await serve(
            self._handle, self.host, self.port, ssl=sec.ssl_context(),
            subprotocols=[SUBPROTOCOL[self.sim.version]],  # type: ignore[list-item]
            process_request=process_request)
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else "/"
        cp_id = path.rstrip("/").rsplit("/", 1)[-1]
        cp = SimChargePoint(cp_id, connection, self.sim, self.now_ns)
        self.connections[cp_id] = cp
        try:
            await cp.start()
        except ConnectionClosed:  # the charger went away; the sim keeps its log
            self.sim.connection_lost()
        finally:
            self.connections.pop(cp_id, None)

    async def call(self, cp_id: str, action: str, payload: dict[str, Any]) -> str:
        """Send a CSMS-initiated call (RemoteStart, Reset, ...) to a connected charger."""
        uid = self.sim.call(action, payload, self.now_ns())
        await self.connections[cp_id].flush()
        return uid
