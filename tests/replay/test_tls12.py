"""TLS 1.2 decryption of captured V2G connections (evse/replay/tls12.py), checked against
OpenSSL itself: a real handshake between our SECC's TLS context and the car's, in memory,
with OpenSSL's key log; what we decrypt from the recorded bytes is what was sent, in both
record layouts (encrypt-then-MAC, OpenSSL's default, and the classic MAC-then-encrypt);
a wrong key or an unknown client is a typed error."""

from __future__ import annotations

import contextlib
import datetime
import ssl
from pathlib import Path

import pytest

from evse.io.v2g_net import TlsServerCredentials, make_evcc_tls_context, make_secc_tls_context
from evse.replay.tls12 import TlsDecryptError, decrypt_connection, parse_key_log
from evse.security.testpki import TestPki, generate_test_pki

#: OpenSSL SSL_OP_NO_ENCRYPT_THEN_MAC (openssl/ssl.h); Python has no name for it.
OP_NO_ENCRYPT_THEN_MAC = 0x00080000


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    not_before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    return generate_test_pki(tmp_path_factory.mktemp("pki"), not_before=not_before)


def _session(pki: TestPki, tmp: Path, *, etm: bool,
             messages: list[tuple[str, bytes]]) -> tuple[bytes, bytes, bytes]:
    """Client and server byte streams of one connection, and the key log."""
    keylog = tmp / "keys.log"
    server_ctx = make_secc_tls_context(TlsServerCredentials(
        pki.secc_chain, pki.secc_leaf_key, keylog_path=keylog))
    client_ctx = make_evcc_tls_context(pki.v2g_root_cert)
    if not etm:
        client_ctx.options |= OP_NO_ENCRYPT_THEN_MAC
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    c_bytes, s_bytes = bytearray(), bytearray()

    def pump() -> None:
        for _ in range(10):
            moved = False
            if c_out.pending:
                data = c_out.read()
                c_bytes.extend(data)
                s_in.write(data)
                moved = True
            if s_out.pending:
                data = s_out.read()
                s_bytes.extend(data)
                c_in.write(data)
                moved = True
            if not moved:
                return

    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):  # its peer's turn
                side.do_handshake()
        pump()
    for who, data in messages:
        (client if who == "car" else server).write(data)
        pump()
        (server if who == "car" else client).read(65536)
    return bytes(c_bytes), bytes(s_bytes), keylog.read_bytes()


@pytest.mark.parametrize("etm", [True, False], ids=["encrypt-then-mac", "mac-then-encrypt"])
def test_what_openssl_sent_is_what_we_decrypt(pki: TestPki, tmp_path: Path, etm: bool) -> None:
    sent = [("car", b"\x01\xfe\x80\x01\x00\x00\x00\x03abc"), ("secc", b"\x01\xfe" + b"x" * 300),
            ("car", b"\x01\xfe" + b"y" * 17)]
    client, server, keylog = _session(pki, tmp_path, etm=etm, messages=sent)
    c_plain, s_plain = decrypt_connection(client, server, parse_key_log(keylog))
    assert [d for _, d in c_plain.chunks] == [d for who, d in sent if who == "car"]
    assert [d for _, d in s_plain.chunks] == [d for who, d in sent if who == "secc"]


def test_a_wrong_key_or_an_unknown_client_is_a_typed_error(pki: TestPki, tmp_path: Path) -> None:
    client, server, keylog = _session(pki, tmp_path, etm=True, messages=[("car", b"hello")])
    keys = parse_key_log(keylog)
    (random,) = keys
    with pytest.raises(TlsDecryptError, match="wrong key"):
        decrypt_connection(client, server, {random: b"\x00" * 48})
    with pytest.raises(TlsDecryptError, match="no key log line"):
        decrypt_connection(client, server, {})
    with pytest.raises(TlsDecryptError, match="no ServerHello"):
        decrypt_connection(client, b"", keys)
