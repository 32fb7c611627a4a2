"""What a probe case reports: family, case id, expected, got, verdict, clause."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evse.security.testpki import ContractChain

MS = 1_000_000
S = 1_000 * MS

#: par_CMN_TCP_Connection_Termination_Timeout: the bound within which the SUT must close
#: TCP after an error response. 5.0 s in the ISO 15118-4 timer set as re-implemented in
#: rcuquemelle/ISO15118_4_TestEnv (TestManagement/include/TimerCfg.h, "Non-standardised CMN
#: Processing timeouts"); timing.md's source key T4.
TCP_TERMINATION_TIMEOUT_NS = 5 * S
#: V2G_EVCC_Msg_Timeout (timing.md §4/§5): how long the car waits for an answer.
MSG_TIMEOUT_NS = 2 * S
MSG_TIMEOUT_CURRENT_DEMAND_NS = 250 * MS
#: V2G_EVCC_Msg_Timeout for CertificateInstallation/Update and PaymentDetails: 5 s
#: (timing.md §4).
MSG_TIMEOUT_CERTIFICATE_NS = 5 * S
#: V2G_SECC_Msg_Performance_Time for CurrentDemandRes: 25 ms (DIN SPEC 70121 Table 75 as
#: quoted in EcoG-io/iso15118#157; timing.md §4).
CURRENT_DEMAND_PERFORMANCE_NS = 25 * MS
#: SDP_REQ (timing.md §3, [V2G2-159]) is 250 ms; the ISO 15118-4 tester waits
#: par_EVCC_SDP_Timeout = 1.25 s (T4) before it calls an SDP request ignored.
SDP_IGNORE_WAIT_NS = 1250 * MS
#: V2G_SECC_Sequence_Timeout 60 s [V2G2-443] (DIN Table 75 likewise).
SEQUENCE_TIMEOUT_NS = 60 * S
#: V2G_SECC_CommunicationSetup_Performance_Time 18 s [V2G2-714/716] (timing.md §3).
COMMUNICATION_SETUP_TIMEOUT_NS = 18 * S


class Verdict(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"  # not run, with the reason in `got`
    INCONCLUSIVE = "INCONCLUSIVE"  # the session never reached the step under test


class Family(enum.Enum):
    GOOD_CASE = "GoodCase"
    SDP = "SDP"
    V2GTP = "V2GTP"
    SAP = "SupportedAppProtocol"
    SESSION_SETUP = "SessionSetup"
    SERVICE_DISCOVERY = "ServiceDiscovery"
    SERVICE_DETAIL = "ServiceDetail"
    PAYMENT_SELECTION = "PaymentServiceSelection"
    PAYMENT_DETAILS = "PaymentDetails"
    CERTIFICATE_INSTALLATION = "CertificateInstallation"
    CERTIFICATE_UPDATE = "CertificateUpdate"
    AUTHORIZATION = "Authorization"
    CHARGE_PARAMETERS = "ChargeParameterDiscovery"
    CABLE_CHECK = "CableCheck"
    PRECHARGE = "PreCharge"
    POWER_DELIVERY = "PowerDelivery"
    CURRENT_DEMAND = "CurrentDemand"
    METERING_RECEIPT = "MeteringReceipt"
    WELDING = "WeldingDetection"
    SESSION_STOP = "SessionStop"
    PAUSE_RESUME = "PauseResume"


@dataclass(frozen=True, slots=True)
class CaseResult:
    family: Family
    case_id: str
    title: str
    expected: str
    got: str
    verdict: Verdict
    clause: str
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family.value, "case": self.case_id, "title": self.title,
                "expected": self.expected, "got": self.got, "verdict": self.verdict.value,
                "clause": self.clause, "duration_s": round(self.duration_s, 3)}


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """How long the probe may wait, and what the SUT is configured to."""

    protocol: str = "iso2"  # "din" | "iso2"
    #: The SUT's V2G_SECC_CommunicationSetup time (its config, e.g. v2g.communication_setup_s).
    communication_setup_ns: int = COMMUNICATION_SETUP_TIMEOUT_NS
    #: The SUT's V2G_SECC_Sequence_Timeout.
    sequence_timeout_ns: int = SEQUENCE_TIMEOUT_NS
    #: The longest silence a case may sit through; longer timeout cases are skipped.
    max_wait_ns: int = 30 * S
    #: CurrentDemandReq sent back to back in the repetition case.
    repetitions: int = 20
    #: Charging time of the good case.
    charge_ns: int = 2 * S
    #: SessionSetupReq .. ChargeParameterDiscovery may take this long (EIM wait included).
    step_limit_ns: int = 90 * S
    #: The contract the probe's car holds in the Plug & Charge cases (over TLS only,
    #: [V2G2-634/635]); None: a fresh test contract (evse/ev/profiles.py "pnc"), whose root
    #: the SUT does not trust unless it was given it.
    contract: ContractChain | None = None
