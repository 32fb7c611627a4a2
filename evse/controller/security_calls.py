"""CSMS calls of the security use cases, for both dialects (2.0.1 A02/A03/M03/M04/M05 for
the station's own roots; 1.6 security whitepaper §3-§5 native messages).

Why shared functions: the 2.0.1 messages and the 1.6 whitepaper ones carry the same facts
with different enum spellings; one implementation keeps the rules in one place and the
dialects stay thin (they map names and call these).
"""

from __future__ import annotations

from typing import Any

from evse.controller.host import ControllerHost
from evse.controller.pnc import cert_id, hash_data
from evse.controller.security_events import SecurityEvent
from evse.security.station_certs import LeafUse, SignedResult, StationRoot, fingerprint

#: 1.6 whitepaper CertificateUseEnumType -> our root types.
ROOT_16 = {"CentralSystemRootCertificate": StationRoot.CSMS,
           "ManufacturerRootCertificate": StationRoot.MANUFACTURER}
ROOT_16_BACK = {v: k for k, v in ROOT_16.items()}
#: 2.0.1 names (InstallCertificateUseEnumType / GetCertificateIdUseEnumType).
ROOT_201 = {r.value: r for r in StationRoot}


def certificate_signed(core: ControllerHost, use: LeafUse, chain_pem: str) -> dict[str, Any]:
    """A02.FR.06..08 / whitepaper §3.3: Accepted only for a chain that verifies."""
    result = core.cert_lifecycle.certificate_signed(use, chain_pem)
    return {"status": "Accepted" if result is SignedResult.ACCEPTED else "Rejected"}


def install_station_root(core: ControllerHost, root: StationRoot, pem: str) -> dict[str, Any]:
    """InstallCertificate of a CSMS / manufacturer root (M05, whitepaper §4.1)."""
    ok = core.station_certs.install_root(root, pem)
    if ok:
        core.security_event(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                            f"{root.value} installed")
    return {"status": "Accepted" if ok else "Rejected"}


def station_root_hashes(core: ControllerHost, wanted: set[StationRoot] | None
                        ) -> list[tuple[StationRoot, dict[str, str]]]:
    return [(t, hash_data(c, c)) for t, c in core.station_certs.installed()
            if wanted is None or t in wanted]


def delete_station_root(core: ControllerHost, data: dict[str, Any]) -> str | None:
    """DeleteCertificate of a station root: "Accepted", "Failed" (the last CSMS root: the
    station could never connect again over TLS, 2.0.1 M04.FR.06) or None (not ours)."""
    try:
        key = cert_id(data)
    except KeyError:
        return None
    for t, cert in core.station_certs.installed():
        if cert_id(hash_data(cert, cert)) == key:
            if t is StationRoot.CSMS and len(core.station_certs.roots(StationRoot.CSMS)) == 1:
                return "Failed"
            core.station_certs.delete_root(fingerprint(cert))
            core.security_event(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                                f"{t.value} deleted")
            return "Accepted"
    return None
