"""The Plug & Charge trust store: V2G, MO and OEM roots plus cached OCSP answers.

Why a store of its own: offline, the station alone decides whether a contract is genuine,
so it must hold the roots contracts are checked against (OCPP 2.0.1 M05 InstallCertificate,
M03 GetInstalledCertificateIds, M04 DeleteCertificate; the 1.6 OCA PnC whitepaper carries
the same messages in DataTransfer) and the revocation answers it got while online (M06
GetCertificateStatus), each usable until its nextUpdate.

Layout (one directory, 0700; every file 0600, written tmp+fsync+rename+dir fsync by
evse.security.files, so a kill -9 mid-write leaves either the old or the new file and a
stale `.*.tmp` that the next open deletes):

    <dir>/roots/<V2GRootCertificate|MORootCertificate|OEMRootCertificate>/<sha256>.pem
    <dir>/ocsp/<sha256 of the cert id>.json   {"id", "status", "this_update", "next_update"}
    <dir>/seeded                               first-boot seeding done (config seeds once)

`directory=None` keeps everything in memory (tests, `evse sim`): same behaviour, no files.
Certificates are public, but the directory is private anyway (it is where a CPO adds keys
later, and its contents decide who may charge); nothing here logs certificate contents.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from evse.controller.pnc import OcspStatus, OcspVerdict, cert_id, hash_data, is_self_signed
from evse.security.files import (
    ensure_private_dir,
    remove_private,
    remove_stale_tmp,
    write_private_atomic,
)

log = logging.getLogger(__name__)


class RootType(enum.Enum):
    """OCPP 2.0.1 InstallCertificateUseEnumType values this store keeps (M05)."""

    V2G = "V2GRootCertificate"
    MO = "MORootCertificate"
    OEM = "OEMRootCertificate"


#: Roots a contract chain may end at (ISO 15118-2 §7.9.2: contract certificates are
#: issued under the V2G root or a mobility operator's own root; OEM roots anchor the
#: provisioning certificate, never a contract).
CONTRACT_ROOTS = (RootType.V2G, RootType.MO)


class InstallResult(enum.Enum):
    """2.0.1 InstallCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    FAILED = "Failed"


class DeleteResult(enum.Enum):
    """2.0.1 DeleteCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    NOT_FOUND = "NotFound"
    FAILED = "Failed"


class TrustStoreError(Exception):
    """A seed root that cannot be used (named by file, never by content)."""


@dataclass(frozen=True, slots=True)
class InstalledRoot:
    root_type: RootType
    cert: x509.Certificate

    @property
    def hash_data(self) -> dict[str, str]:
        return hash_data(self.cert, self.cert)  # a root is its own issuer


#: Clock skew tolerated on an OCPP answer's thisUpdate (the station's clock may lag the
#: responder's): 5 min, OpenSSL's default OCSP validity_period leeway (`openssl ocsp`).
OCSP_CLOCK_SKEW_S = 300


@dataclass(frozen=True, slots=True)
class OcspEntry:
    status: OcspStatus
    this_update_unix_s: int
    next_update_unix_s: int

    def fresh_at(self, now_unix_s: int) -> bool:
        """RFC 6960 §4.2.2.1: usable from thisUpdate (minus the skew) until nextUpdate."""
        return (self.this_update_unix_s - OCSP_CLOCK_SKEW_S <= now_unix_s
                < self.next_update_unix_s)


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def parse_root(pem: bytes) -> x509.Certificate | None:
    """One self-signed CA certificate in PEM (the only thing a root install may carry)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    if not bc.ca or not is_self_signed(cert):
        return None
    return cert


class TrustStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._roots: dict[str, InstalledRoot] = {}  # fingerprint -> root
        self._ocsp: dict[str, OcspEntry] = {}
        self._seeded = False
        if directory is not None:
            self._load(directory)

    # ------------------------------------------------------------------ persistence
    def _load(self, d: Path) -> None:
        ensure_private_dir(d)
        for sub in (d / "roots", d / "ocsp", *(d / "roots" / t.value for t in RootType)):
            ensure_private_dir(sub)
            stale = remove_stale_tmp(sub)
            if stale:
                log.warning("trust store: removed %d interrupted write(s) in %s", stale, sub)
        remove_stale_tmp(d)
        for t in RootType:
            for path in sorted((d / "roots" / t.value).glob("*.pem")):
                cert = parse_root(path.read_bytes())
                if cert is None:
                    log.warning("trust store: ignoring unusable root file %s", path.name)
                    continue
                self._roots[_fingerprint(cert)] = InstalledRoot(t, cert)
        for path in sorted((d / "ocsp").glob("*.json")):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                self._ocsp[str(raw["id"])] = OcspEntry(
                    OcspStatus(raw["status"]), int(raw["this_update"]), int(raw["next_update"]))
            except (ValueError, KeyError, TypeError):
                log.warning("trust store: ignoring unusable OCSP cache file %s", path.name)
        self._seeded = (d / "seeded").exists()

    def _root_path(self, root: InstalledRoot) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / "roots" / root.root_type.value / f"{_fingerprint(root.cert)}.pem"

    def _ocsp_path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.directory / "ocsp" / f"{name}.json"

    # ------------------------------------------------------------------ seeding
    def seed(self, seeds: Mapping[str, Sequence[str]]) -> int:
        """First boot only: install the configured roots (config `pnc_seed_roots`). Later
        boots keep what OCPP made of the store (a root the CSMS deleted stays deleted)."""
        if self._seeded:
            return 0
        n = 0
        for type_name, files in seeds.items():
            root_type = RootType(type_name)
            for file in files:
                cert = parse_root(Path(file).read_bytes())
                if cert is None:
                    raise TrustStoreError(f"{file}: not a self-signed CA certificate (PEM)")
                if self._put(root_type, cert) is InstallResult.ACCEPTED:
                    n += 1
        self._seeded = True
        if self.directory is not None:
            write_private_atomic(self.directory / "seeded", b"1\n")
        return n

    # ------------------------------------------------------------------ roots (M03/M04/M05)
    def install(self, type_name: str, pem: str) -> InstallResult:
        """2.0.1 M05 InstallCertificate: one self-signed CA certificate of a root type."""
        try:
            root_type = RootType(type_name)
        except ValueError:
            return InstallResult.REJECTED  # a CSMSRootCertificate / ManufacturerRoot: not ours
        cert = parse_root(pem.encode())
        if cert is None:
            return InstallResult.REJECTED
        return self._put(root_type, cert)

    def _put(self, root_type: RootType, cert: x509.Certificate) -> InstallResult:
        """Install (or re-type: one certificate is one root, of one type)."""
        root = InstalledRoot(root_type, cert)
        path = self._root_path(root)
        old = self._roots.get(_fingerprint(cert))
        if path is not None:
            try:
                write_private_atomic(path, cert.public_bytes(serialization.Encoding.PEM))
                old_path = None if old is None else self._root_path(old)
                if old_path is not None and old_path != path:
                    remove_private(old_path)
            except OSError:
                log.error("trust store: cannot write a root (%s)", root_type.value)
                return InstallResult.FAILED
        self._roots[_fingerprint(cert)] = root
        return InstallResult.ACCEPTED

    def installed(self, types: Iterable[str] | None = None) -> list[InstalledRoot]:
        """2.0.1 M03 GetInstalledCertificateIds (all types when `types` is empty)."""
        wanted = set(types or ())
        return [r for r in self._roots.values()
                if not wanted or r.root_type.value in wanted]

    def delete(self, data: Mapping[str, object]) -> DeleteResult:
        """2.0.1 M04 DeleteCertificate by CertificateHashDataType."""
        try:
            key = cert_id(data)
        except KeyError:
            return DeleteResult.NOT_FOUND
        for fp, root in list(self._roots.items()):
            if cert_id(root.hash_data) == key:
                path = self._root_path(root)
                if path is not None:
                    try:
                        remove_private(path)
                    except OSError:
                        return DeleteResult.FAILED
                del self._roots[fp]
                return DeleteResult.ACCEPTED
        return DeleteResult.NOT_FOUND

    def roots(self, types: Sequence[RootType] = CONTRACT_ROOTS) -> list[x509.Certificate]:
        return [r.cert for r in self._roots.values() if r.root_type in types]

    # ------------------------------------------------------------------ OCSP cache (M06)
    def ocsp_put(self, key: str, verdict: OcspVerdict) -> bool:
        """Cache a verified answer until its nextUpdate; one without nextUpdate is not
        cacheable (RFC 6960 §4.2.2.1: newer information is always available)."""
        if verdict.next_update_unix_s is None:
            self._ocsp.pop(key, None)
            return False
        entry = OcspEntry(verdict.status, verdict.this_update_unix_s,
                          verdict.next_update_unix_s)
        path = self._ocsp_path(key)
        if path is not None:
            try:
                write_private_atomic(path, json.dumps({
                    "id": key, "status": entry.status.value,
                    "this_update": entry.this_update_unix_s,
                    "next_update": entry.next_update_unix_s}).encode())
            except OSError:
                log.error("trust store: cannot write an OCSP cache entry")
                return False
        self._ocsp[key] = entry
        return True

    def ocsp_get(self, key: str) -> OcspEntry | None:
        return self._ocsp.get(key)
