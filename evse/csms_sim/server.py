"""The CSMS simulator on a real websocket (asyncio `websockets` server), with TLS.

Each charger connection is an `ocpp` library `ChargePoint` (its receive loop and send
path); `route_message` hands every frame to the sans-IO `CsmsSim` core, so the socket
server and the virtual-time tests share one behaviour. Security profiles (OCPP security
whitepaper / 2.0.1 A00): 1 basic auth without TLS, 2 TLS + basic auth, 3 TLS with a client
certificate (the server's `ssl` context requires and verifies it).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.charge_point import ChargePoint
from websockets.asyncio.server import Server, ServerConnection, basic_auth, serve

from evse.csms_sim.core import CsmsSim

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


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

    async def __aenter__(self) -> CsmsServer:
        sec = self.security
        process_request: Any = None
        if sec.profile in (1, 2):
            process_request = basic_auth(realm="csms", credentials=(sec.basic_user,
                                                                    sec.basic_password))
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
        except Exception:  # noqa: BLE001 - the connection closed; the sim keeps its log
            self.sim.connection_lost()
        finally:
            self.connections.pop(cp_id, None)

    async def call(self, cp_id: str, action: str, payload: dict[str, Any]) -> str:
        """Send a CSMS-initiated call (RemoteStart, Reset, ...) to a connected charger."""
        uid = self.sim.call(action, payload, self.now_ns())
        await self.connections[cp_id].flush()
        return uid
