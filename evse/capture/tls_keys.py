"""TLS 1.2 key-log lines and hello randoms: one reading for the capture writer and the reader.

The capture writer (evse/io/capture.py) keeps, for each session file, the key-log lines of
the connections whose ClientHello the file holds; the reader (evse/replay/tls12.py) finds
a connection's master secret by its ClientHello random. Both sides name a connection by
that random, so both read it and the NSS key-log format here:

- NSS key log (the SSLKEYLOGFILE format Wireshark reads): `CLIENT_RANDOM <64 hex> <96 hex>`
  lines, client random then master secret.
- A hello's random: RFC 5246 §7.4.1.2, after the handshake header (type 1, length 3) and
  the protocol version (2): handshake bytes 6..38.
"""

from __future__ import annotations

#: Handshake message types (RFC 5246 §7.4).
HANDSHAKE_CLIENT_HELLO = 0x01
HANDSHAKE_SERVER_HELLO = 0x02
#: TLS record content type handshake (RFC 5246 §6.2.1) and the record header length.
CONTENT_HANDSHAKE = 0x16
RECORD_HEADER_LEN = 5
#: Where a hello's 32-byte random lies in its handshake message.
_RANDOM = slice(6, 38)
_KEY_LOG_LABEL = b"CLIENT_RANDOM"
#: A TLS 1.2 client random is 32 bytes (RFC 5246 §7.4.1.2), its master secret 48 (§8.1):
#: a line with other lengths could never name a connection or decrypt one.
_RANDOM_LEN = 32
_MASTER_SECRET_LEN = 48


def hello_random(handshake: bytes) -> bytes:
    """The random of a Client/ServerHello handshake message (b"" when it is cut short)."""
    return handshake[_RANDOM] if len(handshake) >= _RANDOM.stop else b""


def client_hello_random(segment: bytes) -> bytes | None:
    """The random of a ClientHello record at the start of a TCP payload, else None (a V2G
    ClientHello is a few hundred bytes: it is the first record of one segment)."""
    if (len(segment) < RECORD_HEADER_LEN + _RANDOM.stop or segment[0] != CONTENT_HANDSHAKE
            or segment[1] != 0x03 or segment[RECORD_HEADER_LEN] != HANDSHAKE_CLIENT_HELLO):
        return None
    return hello_random(segment[RECORD_HEADER_LEN:])


def _line(line: bytes) -> tuple[bytes, bytes] | None:
    """(client random, master secret) of one key-log line; None for any other line, and
    for a CLIENT_RANDOM line that is not two hex fields of the TLS 1.2 lengths."""
    parts = line.split()
    if len(parts) != 3 or parts[0] != _KEY_LOG_LABEL:
        return None
    try:
        random = bytes.fromhex(parts[1].decode("ascii"))
        secret = bytes.fromhex(parts[2].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if len(random) != _RANDOM_LEN or len(secret) != _MASTER_SECRET_LEN:
        return None
    return random, secret


def parse_key_log(text: bytes) -> dict[bytes, bytes]:
    """Client random -> master secret of every CLIENT_RANDOM line (other lines are skipped:
    a key log also holds comments and TLS 1.3 labels)."""
    keys: dict[bytes, bytes] = {}
    for line in text.splitlines():
        entry = _line(line)
        if entry is not None:
            keys[entry[0]] = entry[1]
    return keys


def key_log_lines(text: bytes, randoms: set[bytes]) -> bytes:
    """The whole lines of these connections, in the log's order. A last line without its
    newline is one the TLS stack is still writing and is left out."""
    out = b""
    for line in text.split(b"\n")[:-1]:
        entry = _line(line)
        if entry is not None and entry[0] in randoms:
            out += line + b"\n"
    return out
