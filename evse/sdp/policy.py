"""Which security the SECC offers in SECCDiscoveryRes: the station's TLS policy.

The three policies match the ``allow | force | prohibit`` setting of the issue (and of
EVerest's EvseV2G ``tls_security``). The rule that matters in the field: *always answer*.
Cars that ask for TLS (Audi Q4, VW ID.4 fw 3.5, ID.Buzz, Tesla Model X in
tests/data/v2g/sdp_real.jsonl) accept a TCP offer and go on without TLS; pyPLC, which did not
answer them, left them retrying until their 50-request limit (interop_failures.md §1, §4;
uhi22/pyPLC PR #42; pyPLC 2026-02-08 Audi Q4 capture: 50 TLS requests, then 0x10).
"""

from __future__ import annotations

import enum

from evse.sdp.errors import SdpLocalError
from evse.sdp.messages import Security


class TlsPolicy(enum.Enum):
    ALLOW = "allow"
    """Offer TLS when the car asks for it and we have TLS credentials; otherwise plain TCP."""

    FORCE = "force"
    """Always offer TLS, even to a car that asked for plain TCP (it may then give up)."""

    PROHIBIT = "prohibit"
    """Never offer TLS; a car asking for it is offered plain TCP."""


def choose_security(policy: TlsPolicy, requested: Security, *, tls_available: bool) -> Security:
    """The security to announce for one SECCDiscoveryReq.

    Raises SdpLocalError for FORCE without TLS credentials: that is a station configuration
    error, caught at start-up rather than per car.
    """
    if policy is TlsPolicy.PROHIBIT:
        return Security.NO_TLS
    if policy is TlsPolicy.FORCE:
        if not tls_available:
            raise SdpLocalError("TLS policy 'force' needs a TLS server (certificate chain)")
        return Security.TLS
    if requested is Security.TLS and tls_available:
        return Security.TLS
    return Security.NO_TLS
