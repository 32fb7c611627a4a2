"""The station's own certificates: CSMS / manufacturer roots, and the leaf certificates the
station holds a private key for (OCPP 2.0.1 A02/A03, 1.6 security whitepaper §3/§4).

Why here: the private key of a leaf is generated on the station, sits in the key directory
and never leaves it (only the CSR does, 2.0.1 A02.FR.02); the chain the CSMS sends back is
verified against the installed root before it replaces anything (A02.FR.06 / A03.FR.?), and
the replacement is atomic, so a power cut leaves the old pair or the new one, never a new
certificate with the old key.

Two leaves (`LeafUse`): ChargingStationCertificate (the client certificate of security
profile 3, verified against a CSMSRootCertificate) and V2GCertificate (the SECC's
ISO 15118-2 TLS server certificate, verified against a V2G root of the PnC trust store).

Layout (0700 directory, 0600 files, `evse.security.files`):

    <dir>/roots/<CSMSRootCertificate|ManufacturerRootCertificate>/<sha256>.pem
    <dir>/pending/<use>.key                 key of the CSR waiting for its certificate
    <dir>/<use>/key.pem, <dir>/<use>/chain.pem   the pair in use (leaf first)

The pair is switched by writing key then chain under new names and renaming the chain
last; a reader (the TLS server) loads `chain.pem` + `key.pem` and checks they match
(`leaf_matches_key`), so a crash between the two renames is detected and the previous key
is kept as `key.prev.pem` until the new chain is in place. `directory=None` keeps everything
in memory (tests, `evse sim`). Nothing here logs key or certificate contents.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from evse.security.files import (
    ensure_private_dir,
    remove_private,
    remove_stale_tmp,
    write_private_atomic,
)


class LeafUse(enum.Enum):
    """2.0.1 CertificateSigningUseEnumType."""

    CHARGING_STATION = "ChargingStationCertificate"
    V2G = "V2GCertificate"


class StationRoot(enum.Enum):
    """Roots of the station's own connections (2.0.1 InstallCertificateUseEnumType)."""

    CSMS = "CSMSRootCertificate"
    MANUFACTURER = "ManufacturerRootCertificate"


class SignedResult(enum.Enum):
    """Why a CertificateSigned chain was refused (or that it was taken)."""

    ACCEPTED = "Accepted"
    NO_PENDING_REQUEST = "no CSR of this type is waiting"
    UNPARSABLE = "not a PEM certificate chain"
    KEY_MISMATCH = "leaf does not carry the key of our CSR"
    NOT_YET_VALID = "a certificate of the chain is not yet valid"
    EXPIRED = "a certificate of the chain has expired"
    BROKEN_CHAIN = "chain signatures do not link"
    UNKNOWN_ROOT = "chain does not end at an installed root"
    WRITE_FAILED = "cannot store the certificate"


_Pair = tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey]


@dataclass(frozen=True, slots=True)
class LeafPaths:
    chain: Path
    key: Path


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    pub = issuer.public_key()
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            assert cert.signature_hash_algorithm is not None
            pub.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(pub, rsa.RSAPublicKey):
            assert cert.signature_hash_algorithm is not None
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        else:
            return False
    except (InvalidSignature, ValueError, AssertionError):
        return False
    return True


def _pub_der(key: ec.EllipticCurvePublicKey | object) -> bytes:
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_chain(pem: str | bytes) -> list[x509.Certificate] | None:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        return None
    return certs or None


#: Tolerated lag of the station clock behind the signer's: a certificate signed just now
#: carries notBefore = the CSMS's "now" (seen with openssl x509 -req against the strict
#: peer: the station's whole-second clock was 1 s behind). 300 s, the leeway OpenSSL
#: allows OCSP answers (the trust store uses the same for thisUpdate).
NOT_BEFORE_SKEW_S = 300


def verify_chain(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate],
                 now_unix_s: int) -> SignedResult:
    """Leaf first; each certificate signed by the next; the last signed by (or being) an
    installed root; every certificate (root included) valid at `now_unix_s`."""
    now = datetime.fromtimestamp(now_unix_s, UTC)
    early = datetime.fromtimestamp(now_unix_s + NOT_BEFORE_SKEW_S, UTC)
    for c in chain:
        if c.not_valid_before_utc > early:
            return SignedResult.NOT_YET_VALID
        if c.not_valid_after_utc <= now:
            return SignedResult.EXPIRED
    for child, parent in zip(chain, chain[1:], strict=False):
        if not signed_by(child, parent):
            return SignedResult.BROKEN_CHAIN
    top = chain[-1]
    for root in roots:
        if fingerprint(root) == fingerprint(top) or signed_by(top, root):
            if not (root.not_valid_before_utc <= now < root.not_valid_after_utc):
                return SignedResult.EXPIRED
            return SignedResult.ACCEPTED
    return SignedResult.UNKNOWN_ROOT


class StationCerts:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._roots: dict[str, tuple[StationRoot, x509.Certificate]] = {}
        self._pending: dict[LeafUse, ec.EllipticCurvePrivateKey] = {}
        self._leaf: dict[LeafUse, _Pair] = {}
        if directory is not None:
            self._load(directory)

    # ------------------------------------------------------------------ persistence
    def _load(self, d: Path) -> None:
        ensure_private_dir(d)
        subdirs = [d / "roots", d / "pending", *(d / "roots" / r.value for r in StationRoot),
                   *(d / u.value for u in LeafUse)]
        for sub in subdirs:
            ensure_private_dir(sub)
            remove_stale_tmp(sub)
        for r in StationRoot:
            for path in sorted((d / "roots" / r.value).glob("*.pem")):
                chain = load_chain(path.read_bytes())
                if chain:
                    self._roots[fingerprint(chain[0])] = (r, chain[0])
        for use in LeafUse:
            key = self._read_key(d / "pending" / f"{use.value}.key")
            if key is not None:
                self._pending[use] = key
            pair = self._read_pair(d / use.value)
            if pair is not None:
                self._leaf[use] = pair

    @staticmethod
    def _read_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), None)
        except (OSError, ValueError, TypeError):
            return None
        return key if isinstance(key, ec.EllipticCurvePrivateKey) else None

    def _read_pair(self, d: Path) -> _Pair | None:
        try:
            chain = load_chain((d / "chain.pem").read_bytes())
        except OSError:
            return None
        if not chain:
            return None
        for name in ("key.pem", "key.prev.pem"):  # a crash between the renames: see above
            key = self._read_key(d / name)
            if key is not None and _pub_der(key.public_key()) == _pub_der(chain[0].public_key()):
                return chain, key
        return None

    # ------------------------------------------------------------------ roots
    def install_root(self, root_type: StationRoot, pem: str) -> bool:
        chain = load_chain(pem)
        if chain is None or len(chain) != 1:
            return False
        cert = chain[0]
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            return False
        if not bc.ca or not signed_by(cert, cert):
            return False
        if self.directory is not None:
            write_private_atomic(self.directory / "roots" / root_type.value
                                 / f"{fingerprint(cert)}.pem",
                                 cert.public_bytes(serialization.Encoding.PEM))
        self._roots[fingerprint(cert)] = (root_type, cert)
        return True

    def roots(self, root_type: StationRoot | None = None) -> list[x509.Certificate]:
        return [c for t, c in self._roots.values() if root_type is None or t is root_type]

    def installed(self) -> list[tuple[StationRoot, x509.Certificate]]:
        return list(self._roots.values())

    def delete_root(self, fp: str) -> bool:
        entry = self._roots.pop(fp, None)
        if entry is None:
            return False
        if self.directory is not None:
            remove_private(self.directory / "roots" / entry[0].value / f"{fp}.pem")
        return True

    def roots_pem(self, root_type: StationRoot = StationRoot.CSMS) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.roots(root_type))

    # ------------------------------------------------------------------ CSR (A02/A03)
    def make_csr(self, use: LeafUse, common_name: str, organization: str,
                 country: str = "", domain_component: str = "") -> str:
        """A fresh secp256r1 key (kept in the key directory) and its PKCS#10 CSR in PEM.

        A new CSR replaces a pending one of the same use (its certificate would no longer
        match our key, so a late CertificateSigned for it is refused)."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64])]
        if country:
            attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country[:2]))
        if domain_component:
            attrs.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, domain_component))
        csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
               .sign(key, hashes.SHA256()))
        if self.directory is not None:
            write_private_atomic(self.directory / "pending" / f"{use.value}.key", _key_pem(key))
        self._pending[use] = key
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def pending(self, use: LeafUse) -> bool:
        return use in self._pending

    def accept_signed(self, use: LeafUse, chain_pem: str, roots: Sequence[x509.Certificate],
                      now_unix_s: int) -> SignedResult:
        """CertificateSigned: verify, then make the new pair the one in use."""
        key = self._pending.get(use)
        if key is None:
            return SignedResult.NO_PENDING_REQUEST
        chain = load_chain(chain_pem)
        if chain is None:
            return SignedResult.UNPARSABLE
        if _pub_der(chain[0].public_key()) != _pub_der(key.public_key()):
            return SignedResult.KEY_MISMATCH
        verdict = verify_chain(chain, roots, now_unix_s)
        if verdict is not SignedResult.ACCEPTED:
            return verdict
        if self.directory is not None:
            d = self.directory / use.value
            try:
                old = d / "key.pem"
                if old.exists():
                    write_private_atomic(d / "key.prev.pem", old.read_bytes())
                write_private_atomic(d / "key.pem", _key_pem(key))
                write_private_atomic(d / "chain.pem", b"".join(
                    c.public_bytes(serialization.Encoding.PEM) for c in chain))
                remove_private(d / "key.prev.pem")
                remove_private(self.directory / "pending" / f"{use.value}.key")
            except OSError:
                return SignedResult.WRITE_FAILED
        del self._pending[use]
        self._leaf[use] = (chain, key)
        return SignedResult.ACCEPTED

    # ------------------------------------------------------------------ the pair in use
    def leaf(self, use: LeafUse) -> x509.Certificate | None:
        pair = self._leaf.get(use)
        return None if pair is None else pair[0][0]

    def leaf_not_after_unix_s(self, use: LeafUse) -> int | None:
        leaf = self.leaf(use)
        return None if leaf is None else int(leaf.not_valid_after_utc.timestamp())

    def paths(self, use: LeafUse) -> LeafPaths | None:
        """Files for a TLS stack (`ssl.load_cert_chain`); None in memory mode or unset."""
        if self.directory is None or use not in self._leaf:
            return None
        d = self.directory / use.value
        return LeafPaths(d / "chain.pem", d / "key.pem")

    def key_fingerprint(self, use: LeafUse) -> str | None:
        """SHA-256 of the public key in use (tests, diagnostics: never the private key)."""
        pair = self._leaf.get(use)
        if pair is None:
            return None
        return hashlib.sha256(_pub_der(pair[1].public_key())).hexdigest()
