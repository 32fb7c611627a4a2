"""`evse run` and the operator's CSMS: the OCPP websocket client on a thread of its own.

`evse run`'s loop is a selector loop (`RealtimeRunner`) that must never wait for a network
peer; the OCPP-J client (`OcppWsClient`, asyncio + websockets) gets its own thread and
event loop. The controller core is touched only on that thread: what the station side
calls (`plc_event`, `present_token`) is handed over with `call_soon_threadsafe`, and the
commands the controller emits come back through `on_commands` into the station side's
deque (`ExternalOcppSide`), which the station drains on its own contract tick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.external_limits import EmsCommand
from evse.controller.plc_port import PlcEvent
from evse.controller.store import Store
from evse.io.host_services import HostServices
from evse.io.ocpp_ws import OcppWsClient, WsSecurity, realtime_epoch_unix_s
from evse.runtime.clock import MonotonicClock
from evse.runtime.config import OcppSection, StationConfig

#: How long `stop()` waits for the client thread to close its websocket.
STOP_TIMEOUT_S = 5.0


class OcppSetupError(OSError):
    """The `ocpp:` section names a file that is missing or unreadable (exit 2)."""


def _read_secret(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise OcppSetupError(f"ocpp.password_file {path}: {exc.strerror}") from None


def ws_security(section: OcppSection) -> WsSecurity:
    """The client's security settings from `ocpp:` (files checked now, not at connect)."""
    for key in ("ca_file", "client_cert", "client_key"):
        path = section.path(getattr(section, key))
        if path is not None and not Path(path).is_file():
            raise OcppSetupError(f"ocpp.{key}: no such file {path}")
    password_path = section.path(section.password_file)
    return WsSecurity(
        profile=section.security_profile,
        basic_user=section.charge_point_id,
        basic_password="" if password_path is None else _read_secret(password_path),
        ca_file=section.path(section.ca_file) or "",
        client_cert=section.path(section.client_cert) or "",
        client_key=section.path(section.client_key) or "",
    )


def controller_for(config: StationConfig, section: OcppSection, clock: MonotonicClock,
                   *, max_voltage_v: float, max_current_a: float,
                   max_power_w: float) -> Controller:
    cfg = ControllerConfig(
        ocpp_version=section.version, serial=section.charge_point_id,
        max_voltage_v=max_voltage_v, max_current_a=max_current_a, max_power_w=max_power_w,
        heartbeat_interval_s=section.heartbeat_s,
        auth_timeout_eim_s=config.auth.timeout_eim_s,
        auth_timeout_pnc_s=config.auth.timeout_pnc_s,
        epoch_unix_s=realtime_epoch_unix_s(clock),
        station_cert_dir=section.path(section.station_cert_dir) or "",
    )
    cfg = dataclasses.replace(cfg, **config.pnc.controller_settings())  # type: ignore[arg-type]
    store = section.path(section.store) or ":memory:"
    return Controller(cfg, Store(store))


def host_services_for(section: OcppSection, restart: Callable[[str], None],
                      log_source: Callable[[str], bytes]) -> HostServices:
    """The board's side of the controller's maintenance requests, from the `ocpp:` section:
    transfers under `maintenance_dir` (refused with a reason without one), the restart as
    `restart` ("exit": the caller's hook ends the run for the service manager; "none":
    recorded only), uploads from `log_source`."""
    base = section.path(section.maintenance_dir)
    root = Path(base) if base is not None else None
    return HostServices(
        root / "staging" if root is not None else None,
        root / "firmware" if root is not None else None,
        restart=restart if section.restart == "exit" else _restart_recorded,
        log_source=log_source,
    )


def _restart_recorded(kind: str) -> None:
    """`ocpp.restart: none`: the request is in HostServices.history, the process goes on."""


class ThreadedOcppClient(OcppWsClient):
    """An `OcppWsClient` whose asyncio loop runs on its own daemon thread.

    Built on that thread (`spawn`): the controller's SQLite store may only be used by the
    thread that opened it, so the controller is created, started and run there."""

    def __init__(self, controller: Controller, url: str, security: WsSecurity,
                 clock: MonotonicClock, loop: asyncio.AbstractEventLoop,
                 host: HostServices | None = None) -> None:
        super().__init__(controller, url, security, clock, host=host)
        self._loop = loop
        self._go = threading.Event()
        self._cancelled = False
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()
        #: Every frame sent, for logs and tests (appended on the client thread).
        self.sent_log = []

    @classmethod
    def spawn(cls, build: Callable[[], Controller], url: str, security: WsSecurity,
              clock: MonotonicClock, host: HostServices | None = None) -> ThreadedOcppClient:
        """Start the thread, build the controller on it; `start()` then connects."""
        box: list[ThreadedOcppClient | BaseException] = []
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                client = cls(build(), url, security, clock, loop, host)
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
                box.append(exc)
                ready.set()
                loop.close()
                return
            box.append(client)
            ready.set()
            client._go.wait()
            try:
                if not client._cancelled:
                    client.controller.start(client.now_ns())
                    loop.run_until_complete(client.run())
            finally:
                loop.close()
                client.finished.set()

        thread = threading.Thread(target=main, name="ocpp-ws", daemon=True)
        thread.start()
        if not ready.wait(STOP_TIMEOUT_S * 2):
            raise OcppSetupError("the OCPP client thread did not start")
        result = box[0]
        if isinstance(result, BaseException):
            raise OcppSetupError(f"ocpp: {result}") from None
        result._thread = thread
        return result

    def start(self) -> None:
        self._go.set()

    def plc_event(self, event: PlcEvent) -> None:
        self._call(super().plc_event, event)

    def present_token(self, id_token: str) -> None:
        self._call(super().present_token, id_token)

    def ems_command(self, cmd: EmsCommand) -> None:
        self._call(super().ems_command, cmd)

    def _call(self, fn: Callable[[Any], None], arg: object) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(fn, arg)

    def stop(self) -> None:
        if self._thread is None:
            return
        if not self._go.is_set():
            self._cancelled = True
            self._go.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(super().stop)
        self._thread.join(STOP_TIMEOUT_S)
