"""Waiting on the real event loop in the websocket tests (shared by tests/controller/test_ws_*)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: The basic-auth password the websocket tests' CSMS simulator accepts.
PASSWORD = "s3cret-password-16"


async def until(pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll `pred` every 10 ms on the running loop; fail the test after `timeout_s`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
