"""Emulates the charger's and the car's PLC modems on a plain Ethernet link (veth, bench NIC).

On a wire without HomePlug modems nobody answers CM_SET_KEY, VS_PL_LNK_STATUS or reports
CM_ATTEN_PROFILE.IND. This emulator runs next to the EV side and plays both modems, so the
EVSE side sees exactly what a QCA7000 would give it (hardware.md §3, slac_notes.md §1, §5, §6):

- a frame from the charger to its modem's local-management address (`charger_local_mac`,
  00:B0:52:00:00:01 on a QCA7000) is the charger's modem's business: CM_SET_KEY.REQ
  is answered with CM_SET_KEY.CNF result 0x01, VS_PL_LNK_STATUS.REQ with link up once the car's
  modem holds the same NMK;
- a frame from the car to 00:B0:52:00:00:01 never reaches the wire (the car's own modem);
- every CM_MNBC_SOUND.IND the car sends is followed by a CM_ATTEN_PROFILE.IND to the charger.

Sans-IO: it takes frames and returns frames; the caller owns the socket.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from drivers.homeplug.sim import (
    AAG_GROUPS,
    BROADCAST,
    LOCAL_MODEM_MAC,
    MMTYPE_ATTEN_PROFILE_IND,
    MMTYPE_MNBC_SOUND_IND,
    MMTYPE_SET_KEY_CNF,
    MMTYPE_SET_KEY_REQ,
    MMTYPE_VS_PL_LNK_STATUS_CNF,
    MMTYPE_VS_PL_LNK_STATUS_REQ,
    cm_frame,
    mmtype_of,
    vs_frame,
)

_SK_KEY = slice(41, 57)  # NewKey in a CM_SET_KEY.REQ frame (19 + 22 .. 19 + 38)
_SK_MY_NONCE = slice(20, 24)
_SK_TAIL = slice(28, 33)  # PID, PRN, PMN, CCo capability


@dataclass(slots=True)
class WireModemEmulator:
    charger_modem_mac: bytes
    car_modem_mac: bytes
    car_host_mac: bytes
    attenuation_db: float = 20.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    set_key_result: int = 0x01
    charger_nmk: bytes | None = None
    car_nmk: bytes | None = None
    charger_local_mac: bytes = LOCAL_MODEM_MAC

    def link_up(self) -> bool:
        return self.charger_nmk is not None and self.charger_nmk == self.car_nmk

    def from_charger(self, raw: bytes) -> list[bytes]:
        """A frame the charger host sent; returns the charger modem's replies for the wire."""
        if raw[0:6] != self.charger_local_mac:
            return []
        mmtype = mmtype_of(raw)
        charger = raw[6:12]
        if mmtype == MMTYPE_SET_KEY_REQ:
            self.charger_nmk = bytes(raw[_SK_KEY])
            return [self._set_key_cnf(charger, self.charger_modem_mac, raw)]
        if mmtype == MMTYPE_VS_PL_LNK_STATUS_REQ:
            payload = b"\x00" + (b"\x01" if self.link_up() else b"\x00")
            return [vs_frame(charger, self.charger_modem_mac, MMTYPE_VS_PL_LNK_STATUS_CNF, payload)]
        return []

    def from_car(self, raw: bytes, charger_host_mac: bytes) -> tuple[list[bytes], list[bytes]]:
        """A frame the car host sent: (frames back to the car, frames for the wire)."""
        mmtype = mmtype_of(raw)
        if raw[0:6] == LOCAL_MODEM_MAC:
            if mmtype == MMTYPE_SET_KEY_REQ:
                self.car_nmk = bytes(raw[_SK_KEY])
                return [self._set_key_cnf(self.car_host_mac, self.car_modem_mac, raw)], []
            return [], []
        wire = [raw]
        if mmtype == MMTYPE_MNBC_SOUND_IND:
            groups = bytes(
                max(0, min(255, round(self.attenuation_db + self.rng.uniform(-1.0, 1.0))))
                for _ in range(AAG_GROUPS)
            )
            payload = raw[6:12] + bytes([AAG_GROUPS, 0]) + groups
            profile = cm_frame(BROADCAST, self.charger_modem_mac, MMTYPE_ATTEN_PROFILE_IND, payload)
            wire.append(profile)
        return [], wire

    def _set_key_cnf(self, host: bytes, modem: bytes, req: bytes) -> bytes:
        payload = (
            bytes([self.set_key_result])
            + b"\x00\x00\x00\x00"
            + bytes(req[_SK_MY_NONCE])
            + bytes(req[_SK_TAIL])
        )
        return cm_frame(host, modem, MMTYPE_SET_KEY_CNF, payload)
