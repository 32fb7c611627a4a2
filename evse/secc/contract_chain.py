"""What the SECC can tell about a contract chain in PaymentDetailsReq on its own.

The trust decision (a chain anchored at a root of the station's trust store, revocation by
OCSP) belongs to the controller (evse/controller/pnc.py `check_chain`, through the
contract) and reaches the car in AuthorizationRes. Two faults need no trust store and the
ISO 15118-4 PaymentDetails family expects them in PaymentDetailsRes itself, so the SECC
checks them when the request arrives:

- the contract leaf outside its validity period at the station's time:
  FAILED_CertificateExpired and the session ends (T4 TC_SECC_CMN_VTB_PaymentDetails_007,
  "contract leaf expired -> PaymentDetailsRes FAILED_CertificateExpired, TCP closed within
  par_CMN_TCP_Connection_Termination_Timeout");
- a chain that is not one: a certificate that does not parse, or one not signed
  by the next (leaf by Sub-CA 2, Sub-CA 2 by Sub-CA 1): FAILED_CertChainError
  (ISO 15118-2 responseCodeType; the same verdict the controller's check gives);
- a Sub-CA outside its validity period (T4 TC_SECC_CMN_VTB_PaymentDetails_009/010, Sub-CA 2
  and Sub-CA 1): plain FAILED, one of the codes those cases accept (FAILED,
  FAILED_NoCertificateAvailable, FAILED_CertificateNotAllowedAtThisEVSE: the case
  descriptions as carried by the public ISO15118_4_TestEnv port); the
  FAILED_CertificateExpired of 007 names the contract certificate itself, not its issuers.

Everything else (root, Sub-CA validity against the trust store, profile, revocation) is
left to the controller; "" means "nothing the SECC can refuse here".
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec


class ChainFault(enum.Enum):
    NONE = "OK"
    EXPIRED = "FAILED_CertificateExpired"
    SUB_CA_EXPIRED = "FAILED"
    CHAIN_ERROR = "FAILED_CertChainError"

    @property
    def response_code(self) -> str:
        return self.value


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    except InvalidSignature:
        return False
    return cert.issuer == issuer.subject


def check_contract_chain(chain_der: Sequence[bytes], now_unix_s: int) -> ChainFault:
    """Leaf first, then the Sub-CAs as the car sent them (ContractSignatureCertChain)."""
    if not chain_der:
        return ChainFault.CHAIN_ERROR
    try:
        chain = [x509.load_der_x509_certificate(bytes(d)) for d in chain_der]
    except ValueError:
        return ChainFault.CHAIN_ERROR
    for cert, issuer in zip(chain, chain[1:], strict=False):
        if not _signed_by(cert, issuer):
            return ChainFault.CHAIN_ERROR
    now = datetime.fromtimestamp(now_unix_s, UTC)
    leaf, *sub_cas = chain
    if not _valid_at(leaf, now):
        return ChainFault.EXPIRED
    if not all(_valid_at(sub, now) for sub in sub_cas):
        return ChainFault.SUB_CA_EXPIRED
    return ChainFault.NONE


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
