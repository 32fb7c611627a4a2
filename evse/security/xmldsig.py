"""ISO 15118-2 XML signatures over EXI (both ends: the car signs, the SECC and the
controller verify).

Why a neutral module: the SECC (AuthorizationReq) and the controller (OCPP pre-checks)
verify the same construction, and the EV simulator must produce it; none of them may
depend on another. The EXI encoding itself is the exi layer's job: everything here takes
or returns EXI bytes, so the check is the same whichever codec produced them.

ISO 15118-2 §7.9.2.4: each Reference's DigestValue is SHA-256 over the EXI fragment of the
referenced element (e.g. AuthorizationReq with its Id and GenChallenge); SignatureValue is
ECDSA on secp256r1 with SHA-256 over the EXI fragment of SignedInfo, encoded as r || s
(32 bytes each).
"""

from __future__ import annotations

import enum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

import exi
from exi import iso2

#: ISO 15118-2 §7.9.2.4: ECDSA on secp256r1, SignatureValue = r || s (32 bytes each).
P256_COORD_BYTES = 32
#: Algorithm URIs ISO 15118-2 §7.9.2.4 prescribes for SignedInfo.
CANONICALIZATION_EXI = "http://www.w3.org/TR/canonical-exi/"
SIGNATURE_ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


class SignatureCheck(enum.Enum):
    VALID = "valid"
    DIGEST_MISMATCH = "digest_mismatch"
    MISSING_FRAGMENT = "missing_fragment"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"


def sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def sign_raw(key: ec.EllipticCurvePrivateKey, signed_info_exi: bytes) -> bytes:
    """ECDSA-SHA256 over the EXI SignedInfo, as the r || s the V2G SignatureValue carries."""
    r, s = decode_dss_signature(key.sign(signed_info_exi, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(P256_COORD_BYTES, "big") + s.to_bytes(P256_COORD_BYTES, "big")


def verify_exi_signature(
    signed_info_exi: bytes,
    signature_value: bytes,
    digests: dict[str, bytes],
    fragments_exi: dict[str, bytes],
    signer_der: bytes,
) -> SignatureCheck:
    """Check every Reference digest against its fragment, then the signature with the
    signer certificate's public key."""
    for ref_id, digest in digests.items():
        fragment = fragments_exi.get(ref_id)
        if fragment is None:
            return SignatureCheck.MISSING_FRAGMENT
        if sha256(fragment) != digest:
            return SignatureCheck.DIGEST_MISMATCH
    if len(signature_value) != 2 * P256_COORD_BYTES:
        return SignatureCheck.MALFORMED
    try:
        key = x509.load_der_x509_certificate(signer_der).public_key()
    except ValueError:
        return SignatureCheck.MALFORMED
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return SignatureCheck.MALFORMED
    r = int.from_bytes(signature_value[:P256_COORD_BYTES], "big")
    s = int.from_bytes(signature_value[P256_COORD_BYTES:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signed_info_exi, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return SignatureCheck.BAD_SIGNATURE
    return SignatureCheck.VALID


# ---------------------------------------------------------------- ISO 15118-2 messages


def signed_info_for(references: dict[str, bytes]) -> iso2.SignedInfoType:
    """SignedInfo over `references` (element Id -> EXI fragment), with the algorithms
    ISO 15118-2 §7.9.2.4 prescribes."""
    return iso2.SignedInfoType(
        CanonicalizationMethod=iso2.CanonicalizationMethodType(Algorithm=CANONICALIZATION_EXI),
        SignatureMethod=iso2.SignatureMethodType(Algorithm=SIGNATURE_ECDSA_SHA256),
        Reference=[
            iso2.ReferenceType(
                URI=f"#{ref_id}",
                Transforms=iso2.TransformsType(
                    Transform=[iso2.TransformType(Algorithm=CANONICALIZATION_EXI)]),
                DigestMethod=iso2.DigestMethodType(Algorithm=DIGEST_SHA256),
                DigestValue=sha256(fragment))
            for ref_id, fragment in references.items()
        ])


def sign_body(body: Any, key: ec.EllipticCurvePrivateKey) -> iso2.SignatureType:
    """The header Signature for one signed body element (AuthorizationReq, MeteringReceiptReq):
    the body's Id attribute names the Reference."""
    if not body.Id:
        raise ValueError(f"{type(body).__name__} needs an Id to be signed")
    info = signed_info_for({body.Id: exi.encode_fragment("iso2", body)})
    value = sign_raw(key, exi.encode_fragment("iso2", info))
    return iso2.SignatureType(SignedInfo=info,
                              SignatureValue=iso2.SignatureValueType(value=value))


def check_body_signature(body: Any, signature: Any, signer_der: bytes) -> SignatureCheck:
    """Verify the header Signature of a signed body element (what the SECC does with
    AuthorizationReq): the Reference must point at the body's Id, its digest match the
    body's EXI fragment, and SignatureValue verify with the signer's key."""
    if signature is None or not getattr(body, "Id", None):
        return SignatureCheck.MISSING_FRAGMENT
    try:
        fragment = exi.encode_fragment("iso2", body)
        info_exi = exi.encode_fragment("iso2", signature.SignedInfo)
    except exi.EncodeError:
        return SignatureCheck.MALFORMED
    digests: dict[str, bytes] = {}
    for ref in signature.SignedInfo.Reference:
        uri = ref.URI or ""
        if not uri.startswith("#"):
            return SignatureCheck.MALFORMED
        digests[uri[1:]] = bytes(ref.DigestValue)
    if body.Id not in digests:
        return SignatureCheck.MISSING_FRAGMENT
    return verify_exi_signature(info_exi, bytes(signature.SignatureValue.value), digests,
                                {body.Id: fragment}, signer_der)
