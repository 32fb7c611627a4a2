"""Contract certificate chain checks and ISO 15118-2 signatures over EXI fragments."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from evse.controller.plc_port import ContractCertificateStatus as C
from evse.controller.pnc import (
    SignatureCheck,
    certificate_hash_data,
    check_chain,
    verify_exi_signature,
)
from tests.controller.certs import EPOCH, contract_chain, der, keys, make_cert

NOW = int(EPOCH.timestamp()) + 3600


def _root() -> x509.Certificate:
    return x509.load_der_x509_certificate(contract_chain()[2])


def test_valid_chain_is_accepted_only_when_anchored_to_a_trusted_root() -> None:
    chain = contract_chain()
    assert check_chain(chain[:2], NOW, [_root()]).status is C.ACCEPTED
    assert check_chain(chain, NOW, [_root()]).status is C.ACCEPTED  # root sent too
    # Self-consistent, but its root is not in the store: never accepted (issue 15).
    untrusted = check_chain(chain, NOW, [])
    assert untrusted.status is C.CERT_CHAIN_ERROR and untrusted.unknown_root


def test_chain_not_anchored_to_the_configured_root_is_a_chain_error() -> None:
    other_root_key = ec.generate_private_key(ec.SECP256R1())
    other = make_cert("Other Root", other_root_key, "Other Root", other_root_key, ca=True)
    got = check_chain(contract_chain()[:2], NOW, [other])
    assert got.status is C.CERT_CHAIN_ERROR and got.unknown_root
    # A root with the right name but another key is no anchor either.
    imposter = make_cert("MO Root", other_root_key, "MO Root", other_root_key, ca=True)
    assert check_chain(contract_chain()[:2], NOW, [imposter]).unknown_root
    # The car sending its own copy of a root that is not the trusted one.
    assert check_chain(contract_chain()[:2] + (der(imposter),), NOW, [_root()]).unknown_root


def test_expired_and_not_yet_valid_certificates() -> None:
    assert check_chain(contract_chain(days=1)[:2], NOW, [_root()]).status \
        is C.CERTIFICATE_EXPIRED
    root_k, sub_k, leaf_k = keys()
    future = make_cert("EMAID-OK", leaf_k, "MO Sub-CA", sub_k, ca=False,
                       start=EPOCH + datetime.timedelta(days=10))
    assert check_chain((der(future),) + contract_chain()[1:], NOW, [_root()]).status \
        is C.CERTIFICATE_EXPIRED


def test_leaf_not_signed_by_its_sub_ca_is_a_signature_error() -> None:
    root_k, sub_k, leaf_k = keys()
    forged = make_cert("EMAID-OK", leaf_k, "MO Sub-CA", leaf_k, ca=False)  # self-signed
    assert check_chain((der(forged),) + contract_chain()[1:], NOW, [_root()]).status \
        is C.SIGNATURE_ERROR


def test_garbage_and_empty_chains() -> None:
    assert check_chain((b"\x30\x00",), NOW, [_root()]).status is C.CERT_CHAIN_ERROR
    assert check_chain((), NOW, [_root()]).status is C.NO_CERTIFICATE_AVAILABLE


def test_iso15118_2_certificate_profile_is_enforced() -> None:
    """Annex F: leaf CA:FALSE + digitalSignature, Sub-CAs CA:TRUE + keyCertSign with a
    pathLen that allows the chain below, keyUsage present, secp256r1/ECDSA-SHA256, at
    most two Sub-CAs."""
    root_k, sub_k, leaf_k = keys()
    sub = contract_chain()[1]
    roots = [_root()]
    ca_leaf = make_cert("EMAID-OK", leaf_k, "MO Sub-CA", sub_k, ca=True)
    assert check_chain((der(ca_leaf), sub), NOW, roots).status is C.CERT_CHAIN_ERROR
    bare = make_cert("EMAID-OK", leaf_k, "MO Sub-CA", sub_k, ca=False, key_usage=False)
    assert "keyUsage" in check_chain((der(bare), sub), NOW, roots).detail
    # Sub-CA 2 with pathLen 0 cannot have another Sub-CA below it.
    mid_k = ec.generate_private_key(ec.SECP256R1())
    mid = make_cert("MO Sub-CA 3", mid_k, "MO Sub-CA", sub_k, ca=True)
    leaf3 = make_cert("EMAID-OK", leaf_k, "MO Sub-CA 3", mid_k, ca=False)
    got = check_chain((der(leaf3), der(mid), sub), NOW, roots)
    assert got.status is C.CERT_CHAIN_ERROR and "pathLen" in got.detail
    # RSA keys are outside [V2G2-007].
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_leaf = make_cert("EMAID-OK", rsa_k, "MO Sub-CA", sub_k, ca=False)  # type: ignore[arg-type]
    assert "secp256r1" in check_chain((der(rsa_leaf), sub), NOW, roots).detail


def test_more_than_two_sub_cas_is_a_chain_error() -> None:
    _, sub_k, leaf_k = keys()
    ks = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
    a = make_cert("A", ks[0], "MO Sub-CA", sub_k, ca=True)
    b = make_cert("B", ks[1], "A", ks[0], ca=True)
    leaf = make_cert("EMAID-OK", leaf_k, "B", ks[1], ca=False)
    got = check_chain((der(leaf), der(b), der(a), contract_chain()[1]), NOW, [_root()])
    assert got.status is C.CERT_CHAIN_ERROR and "Sub-CAs" in got.detail


def test_ocsp_request_data_names_issuer_hashes_serial_and_responder() -> None:
    data = certificate_hash_data(contract_chain())
    assert len(data) == 2
    assert certificate_hash_data(contract_chain()[:2], _root()) == data
    assert all(len(d["issuerNameHash"]) == 64 and len(d["issuerKeyHash"]) == 64 for d in data)
    assert {d["responderURL"] for d in data} == {"http://ocsp.example.test"}


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _digest(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def test_exi_signature_over_authorization_req_fragment() -> None:
    _, _, leaf_k = keys()
    leaf = contract_chain()[0]
    fragment = b"\x80\x04\x01\x52\x51\x0c\x40\x82"  # stands for the EXI AuthorizationReq
    signed_info = b"\x80\x81\x12\xb4\x3a" + _digest(fragment)
    sig = _sign(leaf_k, signed_info)
    digests = {"ID1": _digest(fragment)}
    assert verify_exi_signature(signed_info, sig, digests, {"ID1": fragment}, leaf) \
        is SignatureCheck.VALID
    assert verify_exi_signature(signed_info, sig, digests, {"ID1": fragment + b"\x00"}, leaf) \
        is SignatureCheck.DIGEST_MISMATCH
    assert verify_exi_signature(signed_info, sig, digests, {}, leaf) \
        is SignatureCheck.MISSING_FRAGMENT
    tampered = bytes([sig[0] ^ 1]) + sig[1:]
    assert verify_exi_signature(signed_info, tampered, digests, {"ID1": fragment}, leaf) \
        is SignatureCheck.BAD_SIGNATURE
    assert verify_exi_signature(signed_info, sig[:10], digests, {"ID1": fragment}, leaf) \
        is SignatureCheck.MALFORMED
