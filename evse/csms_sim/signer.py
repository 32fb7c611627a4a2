"""The CSMS simulator's certificate authority: signs the CSRs a station sends in
SignCertificate (2.0.1 A02/A03, 1.6 security whitepaper §3.3) so tests can run the whole
lifecycle SignCertificate -> CertificateSigned against a real chain.

Why generated in memory: no private key of a test CA is ever written to disk or committed.
`not_before_unix_s` is passed in (the simulator has no clock of its own).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class SignedChain:
    pem: str
    leaf: x509.Certificate


class SimCa:
    def __init__(self, name: str, not_before_unix_s: int, *, validity_days: int = 3650) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = datetime.datetime.fromtimestamp(not_before_unix_s, datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(validity_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign_csr(self, csr_pem: str, now_unix_s: int, validity_s: int,
                 *, server: bool = False) -> SignedChain | None:
        """Leaf for the CSR's subject and key, then this CA (leaf first), or None for a
        CSR whose self-signature does not verify."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            return None
        if not csr.is_signature_valid:
            return None
        start = datetime.datetime.fromtimestamp(now_unix_s - 60, datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        leaf = (
            x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.name)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(seconds=validity_s + 60))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self.key, hashes.SHA256()))
        pem = leaf.public_bytes(serialization.Encoding.PEM).decode() + self.pem
        return SignedChain(pem, leaf)
