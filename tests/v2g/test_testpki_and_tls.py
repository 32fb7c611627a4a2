"""The generated chain follows the ISO 15118-2 profile, and the TLS contexts offer exactly
what ISO 15118-2 allows and this OpenSSL can do."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evse.io.v2g_net import (
    ISO15118_2_CIPHERS_OPENSSL,
    TlsServerCredentials,
    V2gNetLocalError,
    available_iso15118_2_ciphers,
    make_evcc_tls_context,
    make_secc_tls_context,
    tls_cipher_report,
)
from evse.security.testpki import TestPki, generate_test_pki

NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return generate_test_pki(tmp_path_factory.mktemp("pki"), not_before=NOT_BEFORE)


def _load(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_chain_is_leaf_then_sub_ca_2_then_sub_ca_1_each_signed_by_the_next(pki: TestPki) -> None:
    leaf, sub2, sub1 = _load(pki.secc_chain)
    (root,) = _load(pki.v2g_root_cert)
    for child, parent in ((leaf, sub2), (sub2, sub1), (sub1, root), (root, root)):
        child.verify_directly_issued_by(parent)


def test_every_certificate_is_ecdsa_secp256r1_sha256(pki: TestPki) -> None:
    for cert in [*_load(pki.secc_chain), *_load(pki.v2g_root_cert)]:
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp256r1"  # [V2G2-006], 256-bit [V2G2-007]
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == "sha256"
        assert cert.version is x509.Version.v3


def test_ca_and_leaf_extensions_match_the_profile(pki: TestPki) -> None:
    leaf, sub2, sub1 = _load(pki.secc_chain)
    (root,) = _load(pki.v2g_root_cert)
    for cert, path_len in ((sub1, 1), (sub2, 0)):
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == path_len
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_agreement
    assert not ku.value.key_cert_sign
    cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    dc = leaf.subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)[0].value
    assert (cn, dc) == ("DE*TST*E1234", "CPO")
    assert root.subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)[0].value == "V2G"


def test_leaf_key_file_is_private(pki: TestPki) -> None:
    assert pki.secc_leaf_key.stat().st_mode & 0o077 == 0


def test_this_openssl_offers_only_the_ecdhe_iso_suite() -> None:
    """Finding: OpenSSL 3 dropped static-ECDH suites, so TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256
    cannot be offered; TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 can."""
    report = tls_cipher_report()
    assert set(report) == set(ISO15118_2_CIPHERS_OPENSSL)
    assert report["ECDHE-ECDSA-AES128-SHA256"] is True
    if ssl.OPENSSL_VERSION_INFO >= (3, 0):
        assert report["ECDH-ECDSA-AES128-SHA256"] is False
    assert available_iso15118_2_ciphers() == tuple(n for n, ok in report.items() if ok)


def test_secc_context_is_tls_1_2_only_with_iso_ciphers_and_no_client_certificate(
    pki: TestPki,
) -> None:
    ctx = make_secc_tls_context(TlsServerCredentials(pki.secc_chain, pki.secc_leaf_key))
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode is ssl.CERT_NONE
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(available_iso15118_2_ciphers())


def test_evcc_context_verifies_against_the_v2g_root(pki: TestPki) -> None:
    ctx = make_evcc_tls_context(pki.v2g_root_cert)
    assert ctx.verify_mode is ssl.CERT_REQUIRED and not ctx.check_hostname


def test_unreadable_key_is_a_local_configuration_error(pki: TestPki, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_text("not a key")
    with pytest.raises(V2gNetLocalError):
        make_secc_tls_context(TlsServerCredentials(pki.secc_chain, wrong))


def test_keylog_path_is_passed_to_openssl_for_bench_captures(pki: TestPki, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"
    ctx = make_secc_tls_context(
        TlsServerCredentials(pki.secc_chain, pki.secc_leaf_key, keylog_path=keylog)
    )
    assert ctx.keylog_filename == str(keylog)
