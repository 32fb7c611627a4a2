"""A simulated Modbus RTU slave's loop on a byte link, on pymodbus' server-side framer (an
independent implementation facing our client codec, drivers/modbus/rtu.py). The device
simulators (drivers/sim/imd.py isoCHA425, drivers/meter/modbus_sdm.py SDM meter) give
only their register answers."""

from __future__ import annotations

from collections.abc import Callable

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU

from drivers.modbus.link import ByteLink

Answer = Callable[[ModbusPDU], ModbusPDU | None]


class RtuSlave:
    """Reads requests from `link`, answers those for `device_address` with `answer(pdu)`
    (None: no answer). Fault injection: `silent` (no answers), `corrupt_next` (that many
    answers with a damaged CRC)."""

    def __init__(self, link: ByteLink, device_address: int, answer: Answer) -> None:
        self.link = link
        self.device_address = device_address
        self._reply_to = answer
        self._framer = FramerRTU(DecodePDU(True))
        self._rx = b""
        self.silent = False
        self.corrupt_next = 0
        self.requests = 0

    def pump(self) -> None:
        self._rx += self.link.read()
        while self._rx:
            used, pdu = self._framer.handleFrame(self._rx, 0, 0)
            if pdu is None:
                if used == 0:
                    break  # incomplete: wait for the rest
                self._rx = self._rx[used:]
                continue
            self._rx = self._rx[used:]
            if pdu.dev_id != self.device_address or self.silent:
                continue
            self.requests += 1
            reply = self._reply_to(pdu)
            if reply is None:
                continue
            frame = bytes(self._framer.buildFrame(reply))
            if self.corrupt_next:
                self.corrupt_next -= 1
                frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
            self.link.write(frame)
