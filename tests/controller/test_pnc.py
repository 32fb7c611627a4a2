"""Contract certificate chain checks and ISO 15118-2 signatures over EXI fragments."""

from __future__ import annotations

import datetime

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


def test_valid_chain_is_accepted_and_anchored_to_a_configured_root() -> None:
    chain = contract_chain()
    assert check_chain(chain, NOW) is C.ACCEPTED
    assert check_chain(chain[:2], NOW, roots_der=(chain[2],)) is C.ACCEPTED


def test_chain_not_anchored_to_the_configured_root_is_a_chain_error() -> None:
    other_root_key = ec.generate_private_key(ec.SECP256R1())
    other = make_cert("Other Root", other_root_key, "Other Root", other_root_key, ca=True)
    assert check_chain(contract_chain()[:2], NOW, roots_der=(der(other),)) is C.CERT_CHAIN_ERROR


def test_expired_and_not_yet_valid_certificates() -> None:
    assert check_chain(contract_chain(days=1), NOW) is C.CERTIFICATE_EXPIRED
    root_k, sub_k, leaf_k = keys()
    future = make_cert("EMAID-OK", leaf_k, "MO Sub-CA", sub_k, ca=False,
                       start=EPOCH + datetime.timedelta(days=10))
    assert check_chain((der(future),) + contract_chain()[1:], NOW) is C.CERTIFICATE_EXPIRED


def test_leaf_not_signed_by_its_sub_ca_is_a_signature_error() -> None:
    root_k, sub_k, leaf_k = keys()
    forged = make_cert("EMAID-OK", leaf_k, "MO Sub-CA", leaf_k, ca=False)  # self-signed
    assert check_chain((der(forged),) + contract_chain()[1:], NOW) is C.SIGNATURE_ERROR


def test_garbage_and_empty_chains() -> None:
    assert check_chain((b"\x30\x00",), NOW) is C.CERT_CHAIN_ERROR
    assert check_chain((), NOW) is C.NO_CERTIFICATE_AVAILABLE


def test_ocsp_request_data_names_issuer_hashes_serial_and_responder() -> None:
    data = certificate_hash_data(contract_chain())
    assert len(data) == 2
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
