"""NMK and NID generation for a fresh AVLN per matching session."""

from __future__ import annotations

import hashlib
import random

from evse.slac.messages import NID_LEN, NMK_LEN

# HomePlug AV: NID = leftmost 52 bits of SHA-256 applied 5 times to the NMK, security level
# bits (b5..b4 of the last byte) = 0b00. hardware.md §3.3 (EVerest generate_nid_from_nmk);
# reproduces the NIDs of real Compleo, Alpitronic, ABB and Tesla chargers (tests).
_NID_HASH_ROUNDS = 5
_NID_LAST_BYTE_SHIFT = 4


def nid_from_nmk(nmk: bytes) -> bytes:
    digest = nmk
    for _ in range(_NID_HASH_ROUNDS):
        digest = hashlib.sha256(digest).digest()
    nid = bytearray(digest[:NID_LEN])
    nid[-1] >>= _NID_LAST_BYTE_SHIFT
    return bytes(nid)


def fresh_nmk(rng: random.Random) -> bytes:
    """A random NMK from the injected generator (deterministic in tests; `SystemRandom` live)."""
    return rng.randbytes(NMK_LEN)
