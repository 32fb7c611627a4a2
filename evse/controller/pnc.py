"""Plug & Charge contract checks with `cryptography`: the chain to a trusted root, the
ISO 15118-2 certificate profile, and OCSP answers relayed by the CSMS.

Why local checks matter: offline, the station is the only judge of a contract
(OCPP 2.0.1 C07, OCA "ISO 15118 support for OCPP 1.6" §3.4), so a chain is accepted only
when it ends at a root in the station's trust store (evse.controller.trust_store) — a
self-consistent chain to an unknown root is a CERT_CHAIN_ERROR, never a charge.

`check_chain` verifies, in this order (the first failure wins, and the order is chosen so
that nothing is said about an untrusted chain beyond "untrusted"):
1. structure: at least one DER certificate, every one parses;
2. depth: leaf + at most two Sub-CAs (+ optionally the root): the ISO 15118-2:2014
   Annex F PKI has exactly two Sub-CA levels under a root (the chain the EV sends in
   ContractSignatureCertChain/SubCertificates);
3. profile (ISO 15118-2:2014 Annex F certificate profiles; [V2G2-006]/[V2G2-007] as
   evse.security.testpki cites them): ECDSA with SHA-256 on secp256r1; the leaf is
   basicConstraints CA:FALSE with keyUsage digitalSignature and without keyCertSign;
   every Sub-CA is CA:TRUE with keyCertSign and a pathLenConstraint that allows the
   Sub-CAs below it (Annex F: Sub-CA 1 pathLen 1, Sub-CA 2 pathLen 0);
4. links: each certificate is signed by the next one (else SIGNATURE_ERROR);
5. anchor: the last one is signed by a trusted root of the allowed kinds (contracts: V2G
   or MO roots) whose subject is its issuer (else CERT_CHAIN_ERROR, `unknown_root`);
6. validity at `now` (the injected clock, never the wall clock) of every certificate,
   root included (else CERTIFICATE_EXPIRED).
Revocation is separate (`parse_ocsp`): the CSMS relays OCSP responses (2.0.1 M06
GetCertificateStatus), which are checked here against the issuer before they are cached.

`verify_exi_signature` (ISO 15118-2 signatures over EXI fragments) lives in
evse.security.xmldsig, shared with the SECC and the EV simulator; re-exported here.
`certificate_hash_data` builds the OCSPRequestDataType list (hashAlgorithm, issuerNameHash,
issuerKeyHash, serialNumber, responderURL) that 2.0.1 Authorize and GetCertificateStatus
carry; the key hash is RFC 6960 §4.1.1's (over the subjectPublicKey bit string).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID

from evse.controller.plc_port import ContractCertificateStatus
from evse.security.xmldsig import SignatureCheck, verify_exi_signature

__all__ = [
    "PNC_CERT_ANSWER_TIMEOUT_NS", "ChainCheck", "OcspStatus", "OcspVerdict", "SignatureCheck",
    "cert_id", "certificate_hash_data", "check_chain", "parse_ocsp", "signed_by",
    "verify_exi_signature",
]


#: Contract bound pnc_cert_answer_timeout (4.5 s: V2G_EVCC_Msg_Timeout of
#: CertificateInstallation/Update 5 s minus EXI and TLS time; timing.md §4). Past it the
#: PLC has answered the EV FAILED, so the call stops occupying the OCPP send window.
PNC_CERT_ANSWER_TIMEOUT_NS = 4_500_000_000
#: ISO 15118-2:2014 Annex F: two Sub-CA levels between a root and a leaf.
MAX_SUB_CAS = 2


def _load(chain_der: Sequence[bytes]) -> list[x509.Certificate]:
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


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and signed_by(cert, cert)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """Verdict on a contract chain: the certificate status to report, whether the only
    problem is a root the store does not hold (2.0.1 C07: the CSMS may then validate it
    centrally), the anchor that was used, and a log-safe reason (no key material)."""

    status: ContractCertificateStatus
    detail: str
    unknown_root: bool = False
    root: x509.Certificate | None = None

    @property
    def accepted(self) -> bool:
        return self.status is ContractCertificateStatus.ACCEPTED


def _fail(status: ContractCertificateStatus, detail: str, *,
          unknown_root: bool = False) -> ChainCheck:
    return ChainCheck(status, detail, unknown_root)


def _profile_problem(cert: x509.Certificate, *, ca: bool, cas_below: int) -> str:
    """What breaks the ISO 15118-2 Annex F profile of one chain member ("" when nothing)."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return "key is not secp256r1 ([V2G2-007])"
    if not isinstance(cert.signature_hash_algorithm, hashes.SHA256):
        return "signature is not ECDSA-SHA256 ([V2G2-006])"
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        return f"missing {exc.oid.dotted_string} (Annex F requires basicConstraints and keyUsage)"
    if ca:
        if not bc.ca or not ku.key_cert_sign:
            return "Sub-CA without CA:TRUE/keyCertSign (Annex F)"
        if bc.path_length is not None and bc.path_length < cas_below:
            return f"pathLenConstraint {bc.path_length} < {cas_below} Sub-CA(s) below"
        return ""
    if bc.ca or ku.key_cert_sign:
        return "leaf is a CA (Annex F: CA:FALSE, no keyCertSign)"
    if not ku.digital_signature:
        return "leaf without digitalSignature (it signs AuthorizationReq)"
    return ""


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def check_chain(chain_der: Sequence[bytes], now_unix_s: int,
                roots: Sequence[x509.Certificate]) -> ChainCheck:
    """Verify a contract chain (leaf first, DER) against `roots` at `now_unix_s`."""
    C = ContractCertificateStatus  # noqa: N806
    if not chain_der:
        return _fail(C.NO_CERTIFICATE_AVAILABLE, "no contract certificate")
    try:
        chain = _load(chain_der)
    except ValueError:
        return _fail(C.CERT_CHAIN_ERROR, "undecodable certificate")
    sent_root: x509.Certificate | None = None
    if len(chain) > 1 and is_self_signed(chain[-1]):
        sent_root = chain.pop()  # the car may send the root too; it proves nothing itself
    if len(chain) > 1 + MAX_SUB_CAS:
        return _fail(C.CERT_CHAIN_ERROR, f"{len(chain) - 1} Sub-CAs (Annex F: at most 2)")
    for i, cert in enumerate(chain):
        problem = _profile_problem(cert, ca=i > 0, cas_below=max(0, i - 1))
        if problem:
            return _fail(C.CERT_CHAIN_ERROR, f"certificate {i}: {problem}")
    for cert, issuer in zip(chain, chain[1:], strict=False):
        if not signed_by(cert, issuer):
            return _fail(C.SIGNATURE_ERROR, "a certificate is not signed by the next one")
    top = chain[-1]
    anchors = [r for r in roots if r.subject == top.issuer and signed_by(top, r)]
    if sent_root is not None:
        fp = sent_root.fingerprint(hashes.SHA256())
        anchors = [r for r in anchors if r.fingerprint(hashes.SHA256()) == fp]
    if not anchors:
        return _fail(C.CERT_CHAIN_ERROR, "chain does not end at a trusted root",
                     unknown_root=True)
    root = anchors[0]
    root_bc = _basic_constraints(root)
    if root_bc is not None and root_bc.path_length is not None and \
            root_bc.path_length < len(chain) - 1:
        return _fail(C.CERT_CHAIN_ERROR, "root pathLenConstraint exceeded")
    now = datetime.fromtimestamp(now_unix_s, UTC)
    if not all(_valid_at(c, now) for c in (*chain, root)):
        return _fail(C.CERTIFICATE_EXPIRED, "a certificate is outside its validity period")
    return ChainCheck(C.ACCEPTED, "chain verified to a trusted root", root=root)


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


# ---------------------------------------------------------------- OCSP request data


def _key_bit_string(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING value (RFC 6960 §4.1.1 issuerKeyHash input)."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _sha256(data: bytes) -> str:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize().hex()


def hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """OCPP 2.0.1 CertificateHashDataType of `cert` (its issuer's name and key hashes)."""
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": _sha256(issuer.subject.public_bytes()),
        "issuerKeyHash": _sha256(_key_bit_string(issuer)),
        "serialNumber": format(cert.serial_number, "x"),
    }


def cert_id(data: Mapping[str, object]) -> str:
    """Cache key of one certificate: its hash data (2.0.1 CertificateHashDataType)."""
    return "-".join(str(data[k]).lower() for k in
                    ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"))


def certificate_hash_data(chain_der: Sequence[bytes],
                          root: x509.Certificate | None = None) -> list[dict[str, Any]]:
    """OCPP 2.0.1 OCSPRequestDataType for each certificate whose issuer is known: the
    next one in the chain, or `root` for the last (the car never sends the root)."""
    try:
        chain = _load(chain_der)
    except ValueError:
        return []
    issuers: list[x509.Certificate] = chain[1:]
    if root is not None and chain and not is_self_signed(chain[-1]):
        issuers.append(root)
    out: list[dict[str, Any]] = []
    for cert, issuer in zip(chain, issuers, strict=False):
        if cert.issuer != issuer.subject or cert is issuer:
            continue
        out.append({**hash_data(cert, issuer),
                    "responderURL": _ocsp_url(cert) or "http://ocsp.invalid"})
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


# ---------------------------------------------------------------- OCSP responses


class OcspStatus(enum.Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OcspVerdict:
    """A verified OCSP single response: status, and the window it may be used in
    (RFC 6960 §4.2.2.1 thisUpdate/nextUpdate; None = no nextUpdate, not cacheable)."""

    status: OcspStatus
    this_update_unix_s: int
    next_update_unix_s: int | None


_OCSP_STATUS = {
    ocsp.OCSPCertStatus.GOOD: OcspStatus.GOOD,
    ocsp.OCSPCertStatus.REVOKED: OcspStatus.REVOKED,
    ocsp.OCSPCertStatus.UNKNOWN: OcspStatus.UNKNOWN,
}


def _verify_with(signer: x509.Certificate, resp: ocsp.OCSPResponse) -> bool:
    key = signer.public_key()
    algo = resp.signature_hash_algorithm
    if not isinstance(key, ec.EllipticCurvePublicKey) or algo is None:
        return False
    try:
        key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(algo))
    except InvalidSignature:
        return False
    return True


def _responder_ok(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """RFC 6960 §4.2.2.2: signed by the issuing CA itself, or by a delegated responder
    certificate the issuer signed with extendedKeyUsage id-kp-OCSPSigning."""
    if _verify_with(issuer, resp):
        return True
    for delegate in resp.certificates:
        try:
            eku = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in eku and signed_by(delegate, issuer) and \
                _verify_with(delegate, resp):
            return True
    return False


def parse_ocsp(response_der: bytes, cert: x509.Certificate,
               issuer: x509.Certificate) -> OcspVerdict | None:
    """The verified status of `cert` in a DER OCSPResponse, or None when the response is
    unusable (undecodable, not successful, about another certificate, badly signed)."""
    try:
        resp = ocsp.load_der_ocsp_response(response_der)
        if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        expected = ocsp.OCSPRequestBuilder().add_certificate(
            cert, issuer, resp.hash_algorithm).build()
        if (resp.serial_number != cert.serial_number
                or resp.issuer_name_hash != expected.issuer_name_hash
                or resp.issuer_key_hash != expected.issuer_key_hash):
            return None
        if not _responder_ok(resp, issuer):
            return None
        nxt = resp.next_update_utc
        return OcspVerdict(_OCSP_STATUS[resp.certificate_status],
                           int(resp.this_update_utc.timestamp()),
                           None if nxt is None else int(nxt.timestamp()))
    except (ValueError, TypeError):
        return None
