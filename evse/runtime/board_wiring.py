"""The board a station config names, opened at start (`evse run`).

`board: {driver: sim}` needs nothing here: the simulated world owns its board. A board on a
device (`mcu_uart`: the safety MCU on a UART) is opened from its registry row
(drivers/registry.py) and its handshake completed before anything else starts, so a missing
or silent device is one clear error naming it (`BoardOpenError`, `evse run` exits 2) and
never a fault that appears later in a half-started station.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.board.mcu import McuBoard, McuLinkError
from drivers.registry import PortKind, driver
from evse.runtime.config import DeviceOpenError, StationConfig


class BoardOpenError(DeviceOpenError):
    """The configured board device is missing, not a tty, silent or refused (its message
    names the config section and the device)."""


def open_board(config: StationConfig, clock: Callable[[], int], *,
               handshake: bool = True) -> McuBoard | None:
    """The board of `config.board` (None: the simulated world's own board).

    `handshake`: block until the MCU answered (real clock only; a virtual-time test lets the
    pilot's first polls complete it)."""
    name = config.board.driver
    if name == "sim":
        return None
    info = driver(PortKind.BOARD, name)
    cls = info.load()
    assert cls is McuBoard, f"board driver {name} has no opener"
    try:
        board = McuBoard.from_params(config.board.params, clock=clock)
    except McuLinkError as exc:
        raise BoardOpenError(f"{config.file}: board ({name}) {exc}") from None
    if handshake:
        try:
            board.wait_ready()
        except McuLinkError as exc:
            board.close()
            raise BoardOpenError(f"{config.file}: board ({name}) {exc}") from None
    return board
