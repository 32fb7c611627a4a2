"""Plug & Charge contract checks with `cryptography`.

What is checked locally (ISO 15118-2 leaves the verdict to the backend; OCPP 2.0.1
C07 and the OCA 1.6 whitepaper let the station pre-check): every certificate of the chain
(leaf first) is within its validity at `now`, each is signed by the next one, and, when the
station has Mobility-Operator/V2G roots configured, the last one is signed by one of them.
`verify_exi_signature` (ISO 15118-2 signatures over EXI fragments) lives in
evse.security.xmldsig, shared with the SECC and the EV simulator; re-exported here.
`certificate_hash_data` builds the OCSPRequestDataType list (hashAlgorithm, issuerNameHash,
issuerKeyHash, serialNumber, responderURL) that 2.0.1 Authorize and GetCertificateStatus
carry, so the CSMS can ask the OCSP responder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from evse.controller.plc_port import ContractCertificateStatus
from evse.security.xmldsig import SignatureCheck, verify_exi_signature

__all__ = [
    "PNC_CERT_ANSWER_TIMEOUT_NS", "SignatureCheck", "certificate_hash_data", "check_chain",
    "signed_by", "verify_exi_signature",
]

if TYPE_CHECKING:
    from evse.controller.config import ControllerConfig


#: Contract bound pnc_cert_answer_timeout (4.5 s: V2G_EVCC_Msg_Timeout of
#: CertificateInstallation/Update 5 s minus EXI and TLS time; timing.md §4). Past it the
#: PLC has answered the EV FAILED, so the call stops occupying the OCPP send window.
PNC_CERT_ANSWER_TIMEOUT_NS = 4_500_000_000


def _load(chain_der: tuple[bytes, ...]) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(der) for der in chain_der]


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    algo = cert.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algo is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algo))
        elif isinstance(key, rsa.RSAPublicKey) and algo is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, PKCS1v15(), algo)
        else:
            return False
    except InvalidSignature:
        return False
    return cert.issuer == issuer.subject


def check_chain(chain_der: tuple[bytes, ...], now_unix_s: int,
                config: ControllerConfig | None = None,
                roots_der: tuple[bytes, ...] = ()) -> ContractCertificateStatus:
    if not chain_der:
        return ContractCertificateStatus.NO_CERTIFICATE_AVAILABLE
    try:
        chain = _load(chain_der)
        roots = _load(roots_der)
    except ValueError:
        return ContractCertificateStatus.CERT_CHAIN_ERROR
    now = datetime.fromtimestamp(now_unix_s, UTC)
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return ContractCertificateStatus.CERTIFICATE_EXPIRED
    for cert, issuer in zip(chain, chain[1:]):
        if not signed_by(cert, issuer):
            return ContractCertificateStatus.SIGNATURE_ERROR
    if roots and not any(signed_by(chain[-1], r) for r in roots):
        return ContractCertificateStatus.CERT_CHAIN_ERROR
    return ContractCertificateStatus.ACCEPTED


def certificate_hash_data(chain_der: tuple[bytes, ...]) -> list[dict[str, Any]]:
    """OCPP 2.0.1 OCSPRequestDataType for each certificate whose issuer is in the chain."""
    try:
        chain = _load(chain_der)
    except ValueError:
        return []
    out: list[dict[str, Any]] = []
    for cert, issuer in zip(chain, chain[1:]):
        name_hash = hashes.Hash(hashes.SHA256())
        name_hash.update(issuer.subject.public_bytes())
        key_hash = hashes.Hash(hashes.SHA256())
        key_hash.update(issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        out.append({
            "hashAlgorithm": "SHA256",
            "issuerNameHash": name_hash.finalize().hex(),
            "issuerKeyHash": key_hash.finalize().hex(),
            "serialNumber": format(cert.serial_number, "x"),
            "responderURL": _ocsp_url(cert) or "http://ocsp.invalid",
        })
    return out[:4]


def _ocsp_url(cert: x509.Certificate) -> str | None:
    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    except x509.ExtensionNotFound:
        return None
    value = aia.value
    if not isinstance(value, x509.AuthorityInformationAccess):
        return None
    for desc in value:
        if desc.access_method == AuthorityInformationAccessOID.OCSP:
            return str(desc.access_location.value)
    return None
