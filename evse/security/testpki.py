"""A throw-away ISO 15118-2 PKI for tests and bench set-ups: V2G root -> CPO Sub-CA 1 ->
CPO Sub-CA 2 -> SECC leaf, all ECDSA on secp256r1 with SHA-256.

Profile (ISO 15118-2:2014 Annex F certificate profiles, [V2G2-006]/[V2G2-007] secp256r1
and 256-bit keys): CA certificates carry basicConstraints CA:TRUE with pathLen 1 (Sub-CA 1)
and 0 (Sub-CA 2) and keyUsage keyCertSign|cRLSign; the SECC leaf is CA:FALSE with keyUsage
digitalSignature|keyAgreement, its CN the SECC ID and DC "CPO"; every certificate carries
subject and authority key identifiers. Never use these keys for anything real: the private
keys are written unencrypted.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Validity periods: our choice for tests, shaped like the ISO 15118-2 Annex F ranges
# (long-lived root, shorter Sub-CAs, short-lived leaf).
ROOT_VALIDITY = datetime.timedelta(days=40 * 365)
SUB_CA_1_VALIDITY = datetime.timedelta(days=4 * 365)
SUB_CA_2_VALIDITY = datetime.timedelta(days=365)
SECC_LEAF_VALIDITY = datetime.timedelta(days=60)
DEFAULT_SECC_ID = "DE*TST*E1234"


@dataclass(frozen=True, slots=True)
class TestPki:
    """Paths of the generated PEM files."""

    __test__ = False  # not a pytest test class despite the name

    v2g_root_cert: Path
    cpo_sub_ca_1_cert: Path
    cpo_sub_ca_2_cert: Path
    secc_leaf_cert: Path
    secc_leaf_key: Path
    secc_chain: Path
    """Leaf, Sub-CA 2, Sub-CA 1 (the root is not sent: the EVCC has it)."""


def _name(common_name: str, domain: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "evse test PKI"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, domain),
        ]
    )


def _serial() -> int:
    return secrets.randbits(63) | 1  # positive and non-zero, as RFC 5280 4.1.2.2 requires


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime.datetime,
    validity: datetime.timedelta,
    path_length: int | None,
    is_ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_before + validity)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=not is_ca,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def generate_test_pki(
    directory: Path, *, not_before: datetime.datetime, secc_id: str = DEFAULT_SECC_ID
) -> TestPki:
    """Write a fresh chain into ``directory``. ``not_before`` is passed in (no clock here);
    use a moment slightly in the past so both ends accept the chain immediately."""
    directory.mkdir(parents=True, exist_ok=True)
    curve = ec.SECP256R1()
    root_key = ec.generate_private_key(curve)
    sub1_key = ec.generate_private_key(curve)
    sub2_key = ec.generate_private_key(curve)
    leaf_key = ec.generate_private_key(curve)

    root_name = _name("evse test V2G Root CA", "V2G")
    sub1_name = _name("evse test CPO Sub-CA 1", "CPO")
    sub2_name = _name("evse test CPO Sub-CA 2", "CPO")
    leaf_name = _name(secc_id, "CPO")

    root = _certificate(
        subject=root_name, issuer=root_name, public_key=root_key.public_key(),
        issuer_key=root_key, not_before=not_before, validity=ROOT_VALIDITY,
        path_length=None, is_ca=True,
    )  # fmt: skip
    sub1 = _certificate(
        subject=sub1_name, issuer=root_name, public_key=sub1_key.public_key(),
        issuer_key=root_key, not_before=not_before, validity=SUB_CA_1_VALIDITY,
        path_length=1, is_ca=True,
    )  # fmt: skip
    sub2 = _certificate(
        subject=sub2_name, issuer=sub1_name, public_key=sub2_key.public_key(),
        issuer_key=sub1_key, not_before=not_before, validity=SUB_CA_2_VALIDITY,
        path_length=0, is_ca=True,
    )  # fmt: skip
    leaf = _certificate(
        subject=leaf_name, issuer=sub2_name, public_key=leaf_key.public_key(),
        issuer_key=sub2_key, not_before=not_before, validity=SECC_LEAF_VALIDITY,
        path_length=None, is_ca=False,
    )  # fmt: skip

    pki = TestPki(
        v2g_root_cert=directory / "v2g_root.pem",
        cpo_sub_ca_1_cert=directory / "cpo_sub_ca_1.pem",
        cpo_sub_ca_2_cert=directory / "cpo_sub_ca_2.pem",
        secc_leaf_cert=directory / "secc_leaf.pem",
        secc_leaf_key=directory / "secc_leaf.key",
        secc_chain=directory / "secc_chain.pem",
    )
    pki.v2g_root_cert.write_bytes(_pem(root))
    pki.cpo_sub_ca_1_cert.write_bytes(_pem(sub1))
    pki.cpo_sub_ca_2_cert.write_bytes(_pem(sub2))
    pki.secc_leaf_cert.write_bytes(_pem(leaf))
    pki.secc_chain.write_bytes(_pem(leaf) + _pem(sub2) + _pem(sub1))
    pki.secc_leaf_key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pki.secc_leaf_key.chmod(0o600)
    return pki


# ---------------------------------------------------------------- contract (PnC) chain

#: Contract leaf validity: our test choice, shaped like Annex F (contract certificates
#: are short-lived compared with the Sub-CAs).
CONTRACT_LEAF_VALIDITY = datetime.timedelta(days=2 * 365)
DEFAULT_EMAID = "DEEVSC0000001A"


@dataclass(frozen=True, slots=True)
class ContractChain:
    """A Plug & Charge contract in memory: what the car stores after CertificateInstallation.

    V2G root -> MO Sub-CA 1 -> MO Sub-CA 2 -> contract leaf (CN = eMAID, DC = "MO"), ECDSA
    secp256r1/SHA-256 like the CPO chain above. The car sends leaf and sub-CAs (never the
    root) in PaymentDetailsReq and signs AuthorizationReq with `leaf_key`.
    """

    emaid: str
    leaf_der: bytes
    sub_cas_der: tuple[bytes, ...]  # Sub-CA 2, Sub-CA 1 (issuer order)
    root_der: bytes
    leaf_key: ec.EllipticCurvePrivateKey
    #: Keys of Sub-CA 2, Sub-CA 1 and the root (the CSMS simulator's OCSP responder signs
    #: with the issuing CA's key, RFC 6960 §4.2.2.2).
    ca_keys: tuple[ec.EllipticCurvePrivateKey, ...] = ()

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return (self.leaf_der, *self.sub_cas_der)


def generate_contract_chain(
    *, not_before: datetime.datetime, emaid: str = DEFAULT_EMAID,
    validity: datetime.timedelta | None = None,
) -> ContractChain:
    """A fresh contract chain; ``not_before`` is passed in (no clock here). ``validity``
    overrides every certificate's period (simulations that start at a fixed epoch)."""
    curve = ec.SECP256R1()
    root_key = ec.generate_private_key(curve)
    sub1_key = ec.generate_private_key(curve)
    sub2_key = ec.generate_private_key(curve)
    leaf_key = ec.generate_private_key(curve)
    root_name = _name("evse test V2G Root CA", "V2G")
    sub1_name = _name("evse test MO Sub-CA 1", "MO")
    sub2_name = _name("evse test MO Sub-CA 2", "MO")
    leaf_name = _name(emaid, "MO")
    root = _certificate(
        subject=root_name, issuer=root_name, public_key=root_key.public_key(),
        issuer_key=root_key, not_before=not_before, validity=validity or ROOT_VALIDITY,
        path_length=None, is_ca=True,
    )  # fmt: skip
    sub1 = _certificate(
        subject=sub1_name, issuer=root_name, public_key=sub1_key.public_key(),
        issuer_key=root_key, not_before=not_before, validity=validity or SUB_CA_1_VALIDITY,
        path_length=1, is_ca=True,
    )  # fmt: skip
    sub2 = _certificate(
        subject=sub2_name, issuer=sub1_name, public_key=sub2_key.public_key(),
        issuer_key=sub1_key, not_before=not_before, validity=validity or SUB_CA_2_VALIDITY,
        path_length=0, is_ca=True,
    )  # fmt: skip
    leaf = _certificate(
        subject=leaf_name, issuer=sub2_name, public_key=leaf_key.public_key(),
        issuer_key=sub2_key, not_before=not_before, validity=validity or CONTRACT_LEAF_VALIDITY,
        path_length=None, is_ca=False,
    )  # fmt: skip
    der = serialization.Encoding.DER
    return ContractChain(
        emaid=emaid, leaf_der=leaf.public_bytes(der),
        sub_cas_der=(sub2.public_bytes(der), sub1.public_bytes(der)),
        root_der=root.public_bytes(der), leaf_key=leaf_key,
        ca_keys=(sub2_key, sub1_key, root_key),
    )  # fmt: skip


def reissue_contract_sub_ca(
    contract: ContractChain, index: int, *, not_before: datetime.datetime,
    validity: datetime.timedelta,
) -> ContractChain:
    """The same contract with Sub-CA `index` (0 = Sub-CA 2, 1 = Sub-CA 1, the order the car
    sends them) issued again with the same subject, key and issuer but valid from
    ``not_before`` for ``validity``: every signature still holds, only that Sub-CA's
    validity changes (ISO 15118-4 PaymentDetails, an expired Sub-CA)."""
    if len(contract.ca_keys) < 3:
        raise ValueError("the contract carries no CA keys to issue a Sub-CA with")
    old = x509.load_der_x509_certificate(contract.sub_cas_der[index])
    key = contract.ca_keys[index]
    issuer_key = contract.ca_keys[index + 1]
    sub = _certificate(
        subject=old.subject, issuer=old.issuer, public_key=key.public_key(),
        issuer_key=issuer_key, not_before=not_before, validity=validity,
        path_length=1 if index == 1 else 0, is_ca=True,
    )  # fmt: skip
    subs = list(contract.sub_cas_der)
    subs[index] = sub.public_bytes(serialization.Encoding.DER)
    return dataclasses.replace(contract, sub_cas_der=tuple(subs))


def reissue_contract_leaf(
    contract: ContractChain, *, not_before: datetime.datetime,
    validity: datetime.timedelta = CONTRACT_LEAF_VALIDITY,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
) -> ContractChain:
    """The same contract (eMAID, Sub-CAs, root) with a new leaf and key, valid from
    ``not_before`` for ``validity``: e.g. an expired leaf for the ISO 15118-4 PaymentDetails
    family. ``issuer_key`` signs the leaf (default Sub-CA 2's key, so the chain holds; any
    other key makes a chain whose leaf is not signed by its Sub-CA)."""
    if not contract.ca_keys:
        raise ValueError("the contract carries no CA keys to issue a leaf with")
    sub2 = x509.load_der_x509_certificate(contract.sub_cas_der[0])
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        subject=_name(contract.emaid, "MO"), issuer=sub2.subject,
        public_key=leaf_key.public_key(), issuer_key=issuer_key or contract.ca_keys[0],
        not_before=not_before, validity=validity, path_length=None, is_ca=False,
    )  # fmt: skip
    return ContractChain(emaid=contract.emaid,
                         leaf_der=leaf.public_bytes(serialization.Encoding.DER),
                         sub_cas_der=contract.sub_cas_der, root_der=contract.root_der,
                         leaf_key=leaf_key, ca_keys=contract.ca_keys)
