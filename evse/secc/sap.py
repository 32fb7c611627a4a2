"""supportedAppProtocol negotiation (ISO 15118-2 8.2 / DIN SPEC 70121 8.2).

The car lists protocols with priorities (1 = most preferred). We pick the car's most
preferred entry among the protocols this station is configured for, never our own
preference [V2G2-172]; unknown namespaces (Tesla's, -20) are skipped; the car's SchemaID
is echoed whatever its value.
"""

from __future__ import annotations

from dataclasses import dataclass

from evse.secc.env import AppProtocol
from exi import app

#: Major version we implement per namespace (DIN SPEC 70121:2014 and ISO 15118-2:2014 both
#: announce 2.0). A different major is not negotiable; a different minor is a deviation.
SUPPORTED_MAJOR: dict[AppProtocol, tuple[int, int]] = {
    AppProtocol.DIN70121: (2, 0),
    AppProtocol.ISO15118_2: (2, 0),
}


@dataclass(frozen=True, slots=True)
class SapResult:
    response: app.supportedAppProtocolRes
    protocol: AppProtocol | None
    schema_id: int | None


def negotiate(req: app.supportedAppProtocolReq,
              configured: tuple[AppProtocol, ...]) -> SapResult:
    by_ns = {p.value: p for p in configured}
    for entry in sorted(req.AppProtocol, key=lambda e: e.Priority):
        proto = by_ns.get(entry.ProtocolNamespace)
        if proto is None:
            continue
        major, minor = SUPPORTED_MAJOR[proto]
        if entry.VersionNumberMajor != major:
            continue
        code = (app.responseCodeType.OK_SuccessfulNegotiation
                if entry.VersionNumberMinor == minor
                else app.responseCodeType.OK_SuccessfulNegotiationWithMinorDeviation)
        return SapResult(app.supportedAppProtocolRes(ResponseCode=code,
                                                     SchemaID=entry.SchemaID),
                         proto, entry.SchemaID)
    return SapResult(app.supportedAppProtocolRes(
        ResponseCode=app.responseCodeType.Failed_NoNegotiation), None, None)
