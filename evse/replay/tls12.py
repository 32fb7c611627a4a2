"""TLS 1.2 records of a captured V2G connection decrypted with the session's key log.

Why: a session capture (`capture: {tls_keys: true}`, evse/io/capture.py) carries its NSS
key log in a Decryption Secrets Block, so Wireshark decrypts it; `evse replay` and
`evse exi decode --pcap` should read the same file without Wireshark. ISO 15118-2 allows
TLS 1.2 only [V2G2-067] with the [V2G2-602] suites TLS_ECDH(E)_ECDSA_WITH_AES_128_CBC_SHA256,
whose record protection is the same: AES-128-CBC with an explicit IV per record and
HMAC-SHA256 (RFC 5246 §6.2.3.2), keys from the master secret by the SHA-256 PRF
(RFC 5246 §5, §6.3). Other suites (a charger of someone else's offering GCM) are reported,
not guessed at. Every record's MAC is checked, so a wrong key is an error, never garbage.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from evse.capture.tls_keys import (
    CONTENT_HANDSHAKE,
    HANDSHAKE_CLIENT_HELLO,
    HANDSHAKE_SERVER_HELLO,
    RECORD_HEADER_LEN,
    hello_random,
    parse_key_log as parse_key_log,
)

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_APPLICATION_DATA = 23
#: RFC 7366 encrypt_then_mac extension.
EXT_ENCRYPT_THEN_MAC = 0x0016
#: [V2G2-602] suites (IANA numbers): both AES-128-CBC + HMAC-SHA256.
AES128_CBC_SHA256_SUITES = frozenset({0xC023, 0xC025})
_MAC_LEN, _KEY_LEN, _IV_LEN = 32, 16, 16
_RECORD_HEADER = RECORD_HEADER_LEN


class TlsDecryptError(Exception):
    """The connection cannot be decrypted (no key for it, a suite we do not read, a record
    whose MAC does not verify)."""


@dataclass(frozen=True, slots=True)
class Record:
    content_type: int
    version: int
    fragment: bytes
    offset: int  # where the record starts in its direction's byte stream


def records(stream: bytes) -> list[Record]:
    """The whole TLS records of one direction (a record cut by the capture's end is left)."""
    out = []
    pos = 0
    while pos + _RECORD_HEADER <= len(stream):
        ctype, version, length = struct.unpack_from(">BHH", stream, pos)
        end = pos + _RECORD_HEADER + length
        if end > len(stream):
            break
        out.append(Record(ctype, version, stream[pos + _RECORD_HEADER:end], pos))
        pos = end
    return out


def _p_sha256(secret: bytes, seed: bytes, size: int) -> bytes:
    out, a = b"", seed
    while len(out) < size:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + seed, hashlib.sha256).digest()
    return out[:size]


def _hello(recs: list[Record], kind: int) -> bytes:
    """The Client/ServerHello handshake message (first in its record, RFC 5246 §7.4)."""
    for rec in recs:
        if rec.content_type == CONTENT_HANDSHAKE and rec.fragment[:1] == bytes([kind]):
            return rec.fragment
        if rec.content_type == CONTENT_CHANGE_CIPHER_SPEC:
            break
    raise TlsDecryptError("no " + ("ClientHello" if kind == HANDSHAKE_CLIENT_HELLO
                                   else "ServerHello") + " in the capture")


@dataclass(frozen=True, slots=True)
class Plaintext:
    """Application data of one direction: (offset of its record in the TLS stream, bytes)."""

    chunks: list[tuple[int, bytes]]


def decrypt_connection(client: bytes, server: bytes,
                       keys: dict[bytes, bytes]) -> tuple[Plaintext, Plaintext]:
    """Both directions' application data of one TLS 1.2 connection."""
    c_recs, s_recs = records(client), records(server)
    ch, sh = _hello(c_recs, HANDSHAKE_CLIENT_HELLO), _hello(s_recs, HANDSHAKE_SERVER_HELLO)
    client_random, server_random = hello_random(ch), hello_random(sh)
    sid_len = sh[38]
    (suite,) = struct.unpack_from(">H", sh, 39 + sid_len)
    etm = EXT_ENCRYPT_THEN_MAC in _extensions(sh, 39 + sid_len + 3)
    if suite not in AES128_CBC_SHA256_SUITES:
        raise TlsDecryptError(f"cipher suite 0x{suite:04X} is not one of [V2G2-602]'s "
                              "AES-128-CBC-SHA256 suites")
    master = keys.get(client_random)
    if master is None:
        raise TlsDecryptError(f"no key log line for client random {client_random.hex()}")
    block = _p_sha256(master, b"key expansion" + server_random + client_random,
                      2 * (_MAC_LEN + _KEY_LEN))
    c_mac, s_mac = block[:_MAC_LEN], block[_MAC_LEN:2 * _MAC_LEN]
    c_key = block[2 * _MAC_LEN:2 * _MAC_LEN + _KEY_LEN]
    s_key = block[2 * _MAC_LEN + _KEY_LEN:]
    return (_direction(c_recs, c_mac, c_key, "client", etm),
            _direction(s_recs, s_mac, s_key, "server", etm))


def _extensions(hello: bytes, pos: int) -> set[int]:
    """Extension types of a ServerHello from `pos` (RFC 5246 §7.4.1.4; none: empty)."""
    if pos + 2 > len(hello):
        return set()
    (total,) = struct.unpack_from(">H", hello, pos)
    pos, end, out = pos + 2, min(len(hello), pos + 2 + total), set()
    while pos + 4 <= end:
        ext, length = struct.unpack_from(">HH", hello, pos)
        out.add(ext)
        pos += 4 + length
    return out


def _direction(recs: list[Record], mac_key: bytes, enc_key: bytes, who: str,
               etm: bool) -> Plaintext:
    """One direction's records after its ChangeCipherSpec. MAC-then-encrypt (RFC 5246
    §6.2.3.2) or, when the ServerHello agreed encrypt_then_mac (RFC 7366, OpenSSL's
    default with a client that offers it), the MAC over IV + ciphertext after them."""
    chunks: list[tuple[int, bytes]] = []
    encrypted = False
    seq = 0
    for rec in recs:
        if not encrypted:
            encrypted = rec.content_type == CONTENT_CHANGE_CIPHER_SPEC
            continue
        frag = rec.fragment
        sealed, mac = (frag[:-_MAC_LEN], frag[-_MAC_LEN:]) if etm else (frag, b"")
        if len(sealed) < _IV_LEN + 16 or (len(sealed) - _IV_LEN) % 16:
            raise TlsDecryptError(f"{who} record at {rec.offset}: {len(frag)} bytes is no "
                                  "AES-CBC record")
        if etm:
            mac_input = struct.pack(">QBHH", seq, rec.content_type, rec.version,
                                    len(sealed)) + sealed
        dec = Cipher(algorithms.AES(enc_key), modes.CBC(sealed[:_IV_LEN])).decryptor()
        plain = dec.update(sealed[_IV_LEN:]) + dec.finalize()
        pad = plain[-1]
        if pad + 1 + (0 if etm else _MAC_LEN) > len(plain) or (
                plain[-pad - 1:] != bytes([pad]) * (pad + 1)):
            raise TlsDecryptError(f"{who} record at {rec.offset}: bad padding (wrong key?)")
        body = plain[:-pad - 1]
        if not etm:
            body, mac = body[:-_MAC_LEN], body[-_MAC_LEN:]
            mac_input = struct.pack(">QBHH", seq, rec.content_type, rec.version,
                                    len(body)) + body
        want = hmac.new(mac_key, mac_input, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, want):
            raise TlsDecryptError(f"{who} record at {rec.offset}: MAC does not verify "
                                  "(wrong key?)")
        seq += 1
        if rec.content_type == CONTENT_APPLICATION_DATA:
            chunks.append((rec.offset, body))
    return Plaintext(chunks)
