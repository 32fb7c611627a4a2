"""Simulated HomePlug GreenPHY powerline in virtual time: hosts, their modems, one shared medium.

Each `SimStation` is a host (charger controller or car) behind its own PLC modem, as on the
CM4 (QCA7000 via qcaspi). The modem behaves like a QCA7000 towards its host:

- modem-local MMEs (addressed to the modem's local-management address, 00:B0:52:00:00:01 on a
  QCA7000 unless configured otherwise, to its own MAC or to broadcast) never reach the line:
  CM_SET_KEY.REQ is answered with CM_SET_KEY.CNF (result
  0x01 by default, as every QCA modem in the captures does; slac_notes.md §1), the vendor
  VS_PL_LNK_STATUS.REQ with the link state, VS_SW_VER.REQ with a version string;
- every CM_MNBC_SOUND.IND heard on the line is followed by a CM_ATTEN_PROFILE.IND (58 groups)
  to the host (slac_notes.md §6), built from the pair's attenuation plus seeded noise;
- the link is "up" once two modems hold the same NMK and `join_delay_ns` has passed.

The line has per-pair attenuation, loss probability and a fixed delay; `drop` lets a test
remove chosen frames. A station may read back its own frames, like an AF_PACKET socket does
(slac_notes.md §2). Frames are raw bytes: this module needs nothing above `drivers/`.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

ETHERTYPE = b"\x88\xe1"
LOCAL_MODEM_MAC = b"\x00\xb0\x52\x00\x00\x01"
BROADCAST = b"\xff" * 6
QUALCOMM_OUI = b"\x00\xb0\x52"
MIN_FRAME_LEN = 60

MMTYPE_SET_KEY_REQ = 0x6008
MMTYPE_SET_KEY_CNF = 0x6009
MMTYPE_MNBC_SOUND_IND = 0x6076
MMTYPE_ATTEN_PROFILE_IND = 0x6086
MMTYPE_VS_SW_VER_REQ = 0xA000
MMTYPE_VS_SW_VER_CNF = 0xA001
MMTYPE_VS_PL_LNK_STATUS_REQ = 0xA0B8
MMTYPE_VS_PL_LNK_STATUS_CNF = 0xA0B9
AAG_GROUPS = 58

# Offsets in a CM_SET_KEY.REQ frame (14 Ethernet + 5 MME header; hardware.md §3.3).
_SK = 19
_SK_MY_NONCE = slice(_SK + 1, _SK + 5)
_SK_PID_PRN_PMN_CCO = slice(_SK + 9, _SK + 14)
_SK_NID = slice(_SK + 14, _SK + 21)
_SK_KEY = slice(_SK + 22, _SK + 38)
_SK_LEN = _SK + 38

# Defaults for a modem on the bench; sources in the parameter docs.
DEFAULT_LINE_DELAY_NS = 2_000_000  # one MME over the powerline, order of a few ms
DEFAULT_MODEM_REPLY_NS = 1_000_000  # host <-> QCA7000 over SPI
DEFAULT_JOIN_DELAY_NS = 1_500_000_000  # AVLN join after both keys are set (pyslac settles 10 s)


def mmtype_of(raw: bytes) -> int | None:
    if len(raw) < 17 or raw[12:14] != ETHERTYPE:
        return None
    return int.from_bytes(raw[15:17], "little")


def _pad(raw: bytes) -> bytes:
    return raw + b"\x00" * (MIN_FRAME_LEN - len(raw)) if len(raw) < MIN_FRAME_LEN else raw


def cm_frame(dst: bytes, src: bytes, mmtype: int, payload: bytes) -> bytes:
    """HomePlug AV 1.1 MME (MMV 1, FMI 0)."""
    return _pad(
        dst + src + ETHERTYPE + b"\x01" + mmtype.to_bytes(2, "little") + b"\x00\x00" + payload
    )


def vs_frame(dst: bytes, src: bytes, mmtype: int, payload: bytes) -> bytes:
    """Qualcomm vendor MME (MMV 0, OUI 00:B0:52)."""
    return _pad(
        dst + src + ETHERTYPE + b"\x00" + mmtype.to_bytes(2, "little") + QUALCOMM_OUI + payload
    )


@dataclass(slots=True)
class ModemBehaviour:
    """How a simulated modem answers its host (faults for tests)."""

    set_key_result: int = 0x01
    answers_set_key: bool = True
    answers_link_status: bool = True
    reply_delay_ns: int = DEFAULT_MODEM_REPLY_NS
    join_delay_ns: int = DEFAULT_JOIN_DELAY_NS
    profile_noise_db: float = 1.0
    version: bytes = b"SIM-QCA7000-GP"
    # Where the host reaches its modem's management (QCA: 00:B0:52:00:00:01, hardware.md §3.2).
    local_mac: bytes = LOCAL_MODEM_MAC


@dataclass(slots=True)
class SimStation:
    name: str
    host_mac: bytes
    modem_mac: bytes
    behaviour: ModemBehaviour
    echo_own: bool = False
    nmk: bytes | None = None
    nid: bytes | None = None
    key_set_at_ns: int | None = None
    set_key_count: int = 0
    sent: list[tuple[int, bytes]] = field(default_factory=list)
    received: list[tuple[int, bytes]] = field(default_factory=list)  # what the host was handed


@dataclass(slots=True)
class _Link:
    attenuation_db: float
    loss: float


class PowerlineMedium:
    """A shared line in virtual time; `receive(station, now_ns)` returns what arrived by then."""

    def __init__(self, rng: random.Random, *, line_delay_ns: int = DEFAULT_LINE_DELAY_NS) -> None:
        self.rng = rng
        self.line_delay_ns = line_delay_ns
        self.stations: dict[str, SimStation] = {}
        self._links: dict[frozenset[str], _Link] = {}
        self._inbox: dict[str, list[tuple[int, int, bytes]]] = {}
        self._seq = 0
        # drop(src_station, dst_station, mmtype) -> True removes the frame on the line.
        self.drop: Callable[[str, str, int | None], bool] = lambda a, b, m: False
        self.delivered = 0
        self.lost = 0

    def attach(
        self,
        name: str,
        host_mac: bytes,
        modem_mac: bytes,
        behaviour: ModemBehaviour | None = None,
        *,
        echo_own: bool = False,
    ) -> SimStation:
        st = SimStation(name, host_mac, modem_mac, behaviour or ModemBehaviour(), echo_own)
        self.stations[name] = st
        self._inbox[name] = []
        return st

    def connect(self, a: str, b: str, attenuation_db: float, loss: float = 0.0) -> None:
        self._links[frozenset((a, b))] = _Link(attenuation_db, loss)

    def disconnect(self, a: str, b: str) -> None:
        """The cable between two modems is gone (unplug): nothing passes any more."""
        self._links.pop(frozenset((a, b)), None)

    def link(self, a: str, b: str) -> _Link | None:
        return self._links.get(frozenset((a, b)))

    # ------------------------------------------------------------------ host side
    def send(self, station: SimStation, raw: bytes, now_ns: int) -> None:
        """The host hands a frame to its modem."""
        station.sent.append((now_ns, raw))
        if station.echo_own:
            self._queue(now_ns, station.name, raw)
        mmtype = mmtype_of(raw)
        local = raw[0:6] in (station.behaviour.local_mac, station.modem_mac, BROADCAST)
        if mmtype == MMTYPE_SET_KEY_REQ and local:
            self._local_set_key(station, raw, now_ns)
            return
        if mmtype is not None and 0xA000 <= mmtype <= 0xAFFF:
            if local:
                self._local_vendor(station, raw, mmtype, now_ns)
            return  # vendor MMEs for another modem are not forwarded (QCA7000)
        self._transmit(station, raw, mmtype, now_ns)

    def receive(self, station: SimStation, now_ns: int) -> list[bytes]:
        box = self._inbox[station.name]
        out: list[bytes] = []
        while box and box[0][0] <= now_ns:
            out.append(heapq.heappop(box)[2])
        station.received.extend((now_ns, raw) for raw in out)
        return out

    def next_delivery_ns(self, station: SimStation | None = None) -> int | None:
        names = [station.name] if station is not None else list(self._inbox)
        times = [self._inbox[n][0][0] for n in names if self._inbox[n]]
        return min(times) if times else None

    def link_up(self, station: SimStation, now_ns: int) -> bool:
        if station.nmk is None or station.key_set_at_ns is None:
            return False
        for other in self.stations.values():
            if other is station or other.nmk != station.nmk or other.key_set_at_ns is None:
                continue
            if self.link(station.name, other.name) is None:
                continue
            joined_at = max(station.key_set_at_ns, other.key_set_at_ns)
            if now_ns >= joined_at + station.behaviour.join_delay_ns:
                return True
        return False

    # ------------------------------------------------------------------ internals
    def _queue(self, at_ns: int, to: str, raw: bytes) -> None:
        self._seq += 1
        heapq.heappush(self._inbox[to], (at_ns, self._seq, raw))

    def _local_set_key(self, st: SimStation, raw: bytes, now_ns: int) -> None:
        if len(raw) < _SK_LEN or not st.behaviour.answers_set_key:
            return
        st.nmk = bytes(raw[_SK_KEY])
        st.nid = bytes(raw[_SK_NID])
        st.key_set_at_ns = now_ns
        st.set_key_count += 1
        payload = (
            bytes([st.behaviour.set_key_result])
            + b"\x00\x00\x00\x00"
            + bytes(raw[_SK_MY_NONCE])
            + bytes(raw[_SK_PID_PRN_PMN_CCO])
        )
        cnf = cm_frame(st.host_mac, st.modem_mac, MMTYPE_SET_KEY_CNF, payload)
        self._queue(now_ns + st.behaviour.reply_delay_ns, st.name, cnf)

    def _local_vendor(self, st: SimStation, raw: bytes, mmtype: int, now_ns: int) -> None:
        at = now_ns + st.behaviour.reply_delay_ns
        if mmtype == MMTYPE_VS_PL_LNK_STATUS_REQ and st.behaviour.answers_link_status:
            up = self.link_up(st, at)
            payload = b"\x00" + (b"\x01" if up else b"\x00")
            self._queue(
                at,
                st.name,
                vs_frame(st.host_mac, st.modem_mac, MMTYPE_VS_PL_LNK_STATUS_CNF, payload),
            )
        elif mmtype == MMTYPE_VS_SW_VER_REQ:
            ver = st.behaviour.version[:64]
            payload = b"\x00\x20" + bytes([len(ver)]) + ver + b"\x00" * (64 - len(ver)) + b"\x00"
            self._queue(
                at, st.name, vs_frame(st.host_mac, st.modem_mac, MMTYPE_VS_SW_VER_CNF, payload)
            )

    def _transmit(self, src: SimStation, raw: bytes, mmtype: int | None, now_ns: int) -> None:
        dst_mac = raw[0:6]
        for other in self.stations.values():
            if other is src:
                continue
            link = self.link(src.name, other.name)
            if link is None:
                continue
            if self.drop(src.name, other.name, mmtype) or (
                link.loss > 0 and self.rng.random() < link.loss
            ):
                self.lost += 1
                continue
            at = now_ns + self.line_delay_ns
            if dst_mac in (other.host_mac, BROADCAST):
                self._queue(at, other.name, raw)
                self.delivered += 1
            if mmtype == MMTYPE_MNBC_SOUND_IND:
                self._queue(
                    at + other.behaviour.reply_delay_ns, other.name, self._profile(other, raw, link)
                )

    def _profile(self, st: SimStation, sound: bytes, link: _Link) -> bytes:
        noise = st.behaviour.profile_noise_db
        groups = bytes(
            max(0, min(255, round(link.attenuation_db + self.rng.uniform(-noise, noise))))
            for _ in range(AAG_GROUPS)
        )
        payload = sound[6:12] + bytes([AAG_GROUPS, 0]) + groups
        return cm_frame(BROADCAST, st.modem_mac, MMTYPE_ATTEN_PROFILE_IND, payload)
