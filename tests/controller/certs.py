"""A throw-away PKI for Plug & Charge tests, generated with `cryptography` (no files)."""

from __future__ import annotations

import datetime
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer_cn: str,
              issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, days: int = 365,
              start: datetime.datetime = EPOCH - datetime.timedelta(days=1),
              path_length: int | None = None, key_usage: bool = True) -> x509.Certificate:
    """ISO 15118-2 Annex F shaped: CAs keyCertSign|cRLSign, leaves digitalSignature|
    keyAgreement (`key_usage=False` leaves keyUsage out, to test the profile check)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(_name(issuer_cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP,
            x509.UniformResourceIdentifier("http://ocsp.example.test"))]), critical=False)
    )
    if key_usage:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=not ca, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@cache
def keys() -> tuple[ec.EllipticCurvePrivateKey, ...]:
    return tuple(ec.generate_private_key(ec.SECP256R1()) for _ in range(3))


@cache
def contract_chain(days: int = 365) -> tuple[bytes, ...]:
    """Leaf (eMAID contract) <- MO sub-CA <- MO root."""
    root_k, sub_k, leaf_k = keys()
    root = make_cert("MO Root", root_k, "MO Root", root_k, ca=True, days=3650)
    sub = make_cert("MO Sub-CA", sub_k, "MO Root", root_k, ca=True, days=3650, path_length=0)
    leaf = make_cert("EMAID-OK", leaf_k, "MO Sub-CA", sub_k, ca=False, days=days)
    return (der(leaf), der(sub), der(root))


def pem(cert_der: bytes) -> str:
    return x509.load_der_x509_certificate(cert_der).public_bytes(
        serialization.Encoding.PEM).decode()
