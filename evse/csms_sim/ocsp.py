"""The CSMS simulator's OCSP responder: what a backend relays in GetCertificateStatus.

Why: the controller's offline Plug & Charge rests on cached OCSP answers (OCPP 2.0.1 M06),
so tests need real RFC 6960 responses, signed by the issuing CA, with thisUpdate and
nextUpdate on the simulator's virtual clock. The responder knows CAs (certificate + key)
and answers by the request's issuerKeyHash and serialNumber; a serial marked revoked is
answered revoked, an unknown issuer is a Failed GetCertificateStatus.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

#: Validity of an answer (nextUpdate - thisUpdate): our test choice, a day as many
#: responders use.
DEFAULT_VALIDITY_S = 86_400


def _key_hash(cert: x509.Certificate) -> str:
    h = hashes.Hash(hashes.SHA256())
    h.update(cert.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint))
    return h.finalize().hex()


@dataclass(slots=True)
class OcspResponder:
    validity_s: int = DEFAULT_VALIDITY_S
    _cas: dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey]] = field(
        default_factory=dict)
    revoked: set[int] = field(default_factory=set)

    def add_ca(self, cert_der: bytes, key: ec.EllipticCurvePrivateKey,
               *, answers_for_der: bytes | None = None) -> None:
        """Sign answers about certificates issued by `cert_der` with `key`.
        `answers_for_der` (tests of the charger's checks): answer for that CA instead,
        i.e. a responder that is not who it claims to be."""
        cert = x509.load_der_x509_certificate(cert_der)
        claimed = cert if answers_for_der is None else x509.load_der_x509_certificate(
            answers_for_der)
        self._cas[_key_hash(claimed)] = (cert, key)

    def revoke(self, cert_der: bytes) -> None:
        self.revoked.add(x509.load_der_x509_certificate(cert_der).serial_number)

    def answer(self, request_data: dict[str, Any], now_unix_s: int) -> bytes | None:
        """DER OCSPResponse for one OCSPRequestDataType, or None (unknown issuer)."""
        ca = self._cas.get(str(request_data.get("issuerKeyHash", "")).lower())
        if ca is None or request_data.get("hashAlgorithm") != "SHA256":
            return None
        issuer, key = ca
        serial = int(str(request_data["serialNumber"]), 16)
        now = datetime.datetime.fromtimestamp(now_unix_s, datetime.UTC)
        revoked = serial in self.revoked
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=bytes.fromhex(str(request_data["issuerNameHash"])),
            issuer_key_hash=bytes.fromhex(str(request_data["issuerKeyHash"])),
            serial_number=serial, algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now, next_update=now + datetime.timedelta(seconds=self.validity_s),
            revocation_time=now if revoked else None, revocation_reason=None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
