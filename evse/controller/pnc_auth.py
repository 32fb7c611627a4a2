"""Plug & Charge contract decisions: the one place that says whether a contract may charge
without the CSMS, and with which certificate status the car is refused.

Why here and not in the dialects: 1.6 (OCA PnC whitepaper, DataTransfer) and 2.0.1 (C07,
M06) differ only in framing; the trust decision is the same and must be made once.

- `check`: the chain against the trust store's V2G/MO roots (evse.controller.pnc
  check_chain) plus a cached OCSP "revoked" for any of its certificates
  (CERTIFICATE_REVOKED: revocation is final, so even a stale entry counts).
- `offline`: what `pnc_offline_policy` allows when the CSMS cannot be asked
  (default "cached_ocsp_good": every certificate below the root has a cached OCSP good
  that is still before its nextUpdate; 2.0.1 C07 / OCA §3.4 leave this to the station).
- `ocsp_requests` / `ocsp_answer`: GetCertificateStatus (2.0.1 M06; 1.6 DataTransfer)
  for each certificate of an anchored chain while online, verified (evse.controller.pnc
  parse_ocsp) and cached with its nextUpdate, so the next offline session can use it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evse.controller.errors import CsmsProtocolError
from evse.controller.plc_port import ContractCertificateStatus
from evse.controller.pnc import (
    ChainCheck,
    OcspStatus,
    cert_id,
    certificate_hash_data,
    check_chain,
    hash_data,
    parse_ocsp,
)
from evse.controller.session import Token
from evse.controller.trust_store import TrustStore


@dataclass(frozen=True, slots=True)
class OcspTag:
    """Correlates a GetCertificateStatus answer with the certificate it is about."""

    key: str
    cert_der: bytes
    issuer_der: bytes


@dataclass(frozen=True, slots=True)
class OfflineVerdict:
    accepted: bool
    #: Certificate status to tell the car (None: a policy refusal, not a certificate
    #: fault: the car gets the plain authorization FAILED).
    certificate_status: ContractCertificateStatus | None
    reason: str


def _chain_pairs(chain_der: tuple[bytes, ...], root: x509.Certificate | None
                 ) -> list[tuple[x509.Certificate, x509.Certificate]]:
    """(certificate, issuer) for every certificate below the root."""
    try:
        chain = [x509.load_der_x509_certificate(d) for d in chain_der]
    except ValueError:
        return []
    if root is not None and chain and chain[-1].subject == root.subject:
        chain.pop()  # the car sent the root too
    issuers = [*chain[1:], *([root] if root is not None else [])]
    return list(zip(chain, issuers, strict=False))


class PncAuthority:
    def __init__(self, trust: TrustStore, offline_policy: str) -> None:
        self.trust = trust
        self.offline_policy = offline_policy

    def check(self, chain_der: tuple[bytes, ...], now_unix_s: int) -> ChainCheck:
        check = check_chain(chain_der, now_unix_s, self.trust.roots())
        if not check.accepted:
            return check
        for cert, issuer in _chain_pairs(chain_der, check.root):
            entry = self.trust.ocsp_get(cert_id(hash_data(cert, issuer)))
            if entry is not None and entry.status is OcspStatus.REVOKED:
                return ChainCheck(ContractCertificateStatus.CERTIFICATE_REVOKED,
                                  "OCSP: a certificate of the chain is revoked", root=check.root)
        return check

    def offline(self, chain_der: tuple[bytes, ...], now_unix_s: int,
                allowed_by_csms: bool) -> OfflineVerdict:
        """`allowed_by_csms`: the CSMS's ContractValidationOffline variable (it may turn
        offline PnC off; it cannot loosen `pnc_offline_policy`)."""
        check = self.check(chain_der, now_unix_s)
        if not check.accepted:
            return OfflineVerdict(False, check.status, check.detail)
        if self.offline_policy == "never" or not allowed_by_csms:
            return OfflineVerdict(False, None, "offline Plug & Charge is disabled")
        if self.offline_policy == "chain_only":
            return OfflineVerdict(True, ContractCertificateStatus.ACCEPTED,
                                  "chain verified (revocation not checked)")
        pairs = _chain_pairs(chain_der, check.root)
        for cert, issuer in pairs:
            entry = self.trust.ocsp_get(cert_id(hash_data(cert, issuer)))
            if entry is None or entry.status is not OcspStatus.GOOD or \
                    not entry.fresh_at(now_unix_s):
                return OfflineVerdict(False, None, "no cached OCSP status good")
        return OfflineVerdict(bool(pairs), ContractCertificateStatus.ACCEPTED,
                              "chain verified, cached OCSP good")

    def ocsp_requests(self, chain_der: tuple[bytes, ...], root: x509.Certificate | None
                      ) -> list[tuple[dict[str, str], OcspTag]]:
        """OCSPRequestDataType + tag for every certificate of an anchored chain."""
        der = serialization.Encoding.DER
        out = []
        for cert, issuer in _chain_pairs(chain_der, root):
            data = certificate_hash_data((cert.public_bytes(der), issuer.public_bytes(der)))
            if data:
                out.append((data[0], OcspTag(cert_id(data[0]), cert.public_bytes(der),
                                             issuer.public_bytes(der))))
        return out

    def ocsp_answer(self, tag: OcspTag, response_der: bytes) -> bool:
        """Verify and cache one relayed OCSP response; False when it was unusable."""
        cert = x509.load_der_x509_certificate(tag.cert_der)
        issuer = x509.load_der_x509_certificate(tag.issuer_der)
        verdict = parse_ocsp(response_der, cert, issuer)
        if verdict is None:
            return False
        return self.trust.ocsp_put(tag.key, verdict)

    def hash_data_for_authorize(self, chain_der: tuple[bytes, ...],
                                root: x509.Certificate | None) -> list[dict[str, object]]:
        return list(certificate_hash_data(chain_der, root))


# ---------------------------------------------------------------- root management (M03-M05)
# The 2.0.1 request/response payloads; the 1.6 dialect carries the same JSON in
# DataTransfer (OCA PnC whitepaper, vendorId org.openchargealliance.iso15118pnc).


def install_certificate(trust: TrustStore, p: dict[str, object]) -> dict[str, object]:
    """M05 InstallCertificate: V2G/MO (and, over 1.6 or config, OEM) roots; other types
    (CSMSRootCertificate, ManufacturerRootCertificate) are not this store's: Rejected."""
    kind, pem = p.get("certificateType"), p.get("certificate")
    if not isinstance(kind, str) or not isinstance(pem, str):
        return {"status": "Rejected"}
    return {"status": trust.install(kind, pem).value}


def get_installed_certificate_ids(trust: TrustStore, p: dict[str, object],
                                  expressible: tuple[str, ...] = ()) -> dict[str, object]:
    """M03 GetInstalledCertificateIds (all root types when certificateType is omitted).
    `expressible`: the types the dialect's schema can name (2.0.1 has no
    OEMRootCertificate in GetCertificateIdUseEnumType; OCPP 2.1 added it)."""
    types = p.get("certificateType")
    wanted = [t for t in types if isinstance(t, str)] if isinstance(types, list) else None
    roots = [r for r in trust.installed(wanted)
             if not expressible or r.root_type.value in expressible]
    if not roots:
        return {"status": "NotFound"}
    return {"status": "Accepted", "certificateHashDataChain": [
        {"certificateType": r.root_type.value, "certificateHashData": r.hash_data}
        for r in roots]}


def delete_certificate(trust: TrustStore, p: dict[str, object]) -> dict[str, object]:
    """M04 DeleteCertificate by CertificateHashDataType."""
    data = p.get("certificateHashData")
    if not isinstance(data, dict):
        return {"status": "NotFound"}
    return {"status": trust.delete(data).value}




def chain_pem(chain_der: tuple[bytes, ...]) -> str:
    """The contract chain as PEM (2.0.1 AuthorizeRequest.certificate, at most 5500)."""
    try:
        return "".join(x509.load_der_x509_certificate(d).public_bytes(
            serialization.Encoding.PEM).decode() for d in chain_der)
    except ValueError:
        return ""


#: 2.0.1 AuthorizeRequest.certificate maxLength.
AUTHORIZE_CERTIFICATE_MAX = 5500


def authorize_pnc_data(pnc: PncAuthority, check: ChainCheck | None, token: Token
                       ) -> dict[str, Any]:
    """The 2.0.1 Authorize request for a contract (also the 1.6 DataTransfer data): the
    OCSP request data of the chain (with the trusted root as issuer of the top Sub-CA),
    plus the chain itself when the station could not anchor it (C07: the CSMS validates
    centrally). Both dialects send it (1.6 inside DataTransfer), so it lives here."""
    data: dict[str, Any] = {"idToken": {"idToken": token.id_token[:36], "type": "eMAID"}}
    hashes = pnc.hash_data_for_authorize(token.chain_der,
                                              None if check is None else check.root)
    if hashes:
        data["iso15118CertificateHashData"] = hashes
    if check is not None and check.unknown_root:
        pem = chain_pem(token.chain_der)
        if 0 < len(pem) <= AUTHORIZE_CERTIFICATE_MAX:
            data["certificate"] = pem
    return data


def ocsp_result(pnc: PncAuthority, tag: OcspTag, payload: dict[str, Any]) -> None:
    """A GetCertificateStatusResponse (2.0.1 M06 / 1.6 DataTransfer data): cache it."""
    if payload.get("status") != "Accepted":
        return
    try:
        der = base64.b64decode(str(payload.get("ocspResult", "")), validate=True)
    except ValueError:
        return
    pnc.ocsp_answer(tag, der)


def cert_status(text: str) -> ContractCertificateStatus:
    """The CSMS's certificateStatus (1.6 PnC DataTransfer and 2.0.1 Authorize), or a
    PropertyConstraintViolation for a value neither version defines."""
    table = {
        "Accepted": ContractCertificateStatus.ACCEPTED,
        "SignatureError": ContractCertificateStatus.SIGNATURE_ERROR,
        "CertificateExpired": ContractCertificateStatus.CERTIFICATE_EXPIRED,
        "CertificateRevoked": ContractCertificateStatus.CERTIFICATE_REVOKED,
        "NoCertificateAvailable": ContractCertificateStatus.NO_CERTIFICATE_AVAILABLE,
        "CertChainError": ContractCertificateStatus.CERT_CHAIN_ERROR,
        "ContractCancelled": ContractCertificateStatus.CONTRACT_CANCELLED,
    }
    try:
        return table[text]
    except KeyError:
        raise CsmsProtocolError("PropertyConstraintViolation",
                                f"certificateStatus {text!r}") from None
