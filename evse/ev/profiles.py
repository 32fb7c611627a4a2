"""Car profiles for the EV simulator: real behaviours that break chargers.

Each flag reproduces a documented deviation or strictness (interop_failures.md §1/§2);
the default profile is a well-behaved car.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from evse.ev.battery import Battery
from evse.secc.env import AppProtocol
from evse.security.testpki import ContractChain, generate_contract_chain

MS = 1_000_000
S = 1_000 * MS

#: Validity origin and span of the simulated car's contract chain: the simulation runs at
#: a fixed epoch (evse/controller/config.py DEFAULT_EPOCH_UNIX_S = 2026-01-01), so the
#: chain starts a year before and lasts ten (test choice, no clock read).
PNC_NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
PNC_VALIDITY = datetime.timedelta(days=10 * 365)


@dataclass(slots=True)
class EvProfile:
    name: str = "generic"
    #: Protocols the car offers in supportedAppProtocol, most preferred first.
    protocols: tuple[AppProtocol, ...] = (AppProtocol.ISO15118_2, AppProtocol.DIN70121)
    evccid: bytes = bytes.fromhex("0a0b0c0d0e0f")
    #: SessionID sent in SessionSetupReq (0, 4, 6 or 8 bytes; all-zero means "new").
    setup_session_id: bytes = b"\x00"
    battery: Battery = field(default_factory=Battery)
    #: CurrentDemandReq period (the car's cadence; DIN/ISO cars send every 50-250 ms).
    cadence_ns: int = 100 * MS
    #: Delay before repeating a request answered with EVSEProcessing=Ongoing.
    ongoing_repeat_ns: int = 200 * MS
    #: PreChargeReq period.
    precharge_period_ns: int = 100 * MS
    #: Abort when DIN CPD lacks EVSEMaximumPowerLimit (the classic real-car abort).
    abort_if_no_max_power: bool = True
    #: Abort when reported present voltage differs from the inlet measurement by more
    #: than this (Tesla Model Y / Polestar 2 check the inlet; interop §1). None: no check.
    present_voltage_tolerance_v: float | None = 20.0
    present_current_tolerance_a: float | None = 10.0
    #: Response timeout for ChargeParameterDiscoveryRes (Tata Nexon waits ~400 ms).
    cpd_timeout_ns: int = 2 * S
    #: Ask for TLS in SDP and proceed on TCP if offered (Tesla Model X, Audi Q4, VW ID.4).
    sdp_requests_tls: bool = False
    #: Send SessionStopReq right after SessionSetup (Audi Q4 with Josev).
    stop_after_session_setup: bool = False
    #: EVReady=False in ChargeParameterDiscoveryReq (VW ID.4).
    ev_not_ready_in_cpd: bool = False
    #: After this much charging the car reports `ev_error_code` (a DC_EVErrorCodeType
    #: value, e.g. FAILED_RESSTemperatureInhibit) in every CurrentDemandReq: a car-side
    #: fault the EVSE must answer by stopping the energy transfer. None: never.
    ev_error_after_ns: int | None = None
    ev_error_code: str = "FAILED_RESSTemperatureInhibit"
    #: The car reports `ev_error_code` already in this request: "cable_check" (every
    #: CableCheckReq) or "power_delivery" (PowerDeliveryReq Start). None: never.
    ev_error_in: str | None = None
    #: Request a negative target current in the first CurrentDemandReq (Skoda Enyaq).
    negative_first_target: bool = False
    #: ISO-2 only: pause (SessionStop Pause) after this much charging, else terminate.
    pause_after_ns: int | None = None
    #: ISO-2 only: PowerDelivery(Renegotiate) after this much charging.
    renegotiate_after_ns: int | None = None
    #: ISO-2 only: after the renegotiated ChargeParameterDiscovery, CableCheck and PreCharge
    #: again before PowerDelivery(Start) (the dSPACE test system, capture
    #: ISO-2_DC_Renegotiation_DS5366_RiseV2G); False: straight to PowerDelivery(Start), as
    #: VW group cars do.
    cable_check_after_renegotiation: bool = False
    #: ISO-2 only: the ChargingProfile of PowerDeliveryReq(Start), (start s, max power W)
    #: entries (optional there, [V2G2-224]; most DC cars send none). None: none sent.
    charging_profile: tuple[tuple[int, float], ...] | None = None
    #: Keep charging through the EVSE's controlled stop (EVSENotification StopCharging and
    #: EVSE_Shutdown); it still stops on EVSE_EmergencyShutdown / EVSE_Malfunction.
    ignores_stop_notification: bool = False
    #: Stop after this much charging regardless of SOC (keeps tests short).
    charge_for_ns: int | None = 3 * S
    #: Use PnC (Contract) if offered ([V2G2-634/635]: only on TLS; needs `contract`).
    wants_contract: bool = False
    #: The contract the car holds (eMAID, chain, leaf key) for PaymentDetails/Authorization.
    contract: ContractChain | None = None
    #: Send CertificateInstallationReq before PaymentDetailsReq (PnC only).
    install_certificate: bool = False
    #: ISO-2: hold V2G_EVCC_Ongoing_Timeout (60 s) while the SECC answers
    #: EVSEProcessing=Ongoing_WaitingForCustomerInteraction (the car shows "present your
    #: card" and waits for the driver); False: 60 s of any Ongoing ends the session, as
    #: Josev's EVCC does (peers/josev_evcc/README.md) and every DIN car must.
    waits_for_customer: bool = False


def profile(name: str) -> EvProfile:
    """Named profiles reproducing documented cars (interop_failures.md)."""
    p = EvProfile(name=name)
    if name == "din_only":  # Tesla Model 3/Y EU, Mercedes EQC, Kona 2017
        p.protocols = (AppProtocol.DIN70121,)
    elif name == "iso_only":
        p.protocols = (AppProtocol.ISO15118_2,)
    elif name == "iso_charging_plan":  # an ISO-2 car that states its plan (OCPP K15)
        p.protocols = (AppProtocol.ISO15118_2,)
        p.charging_profile = ((0, 20_000.0), (600, 10_000.0))
    elif name == "iso_renegotiate_recheck":  # renegotiates, then CableCheck again (dSPACE)
        p.protocols = (AppProtocol.ISO15118_2,)
        p.renegotiate_after_ns = 5 * S
        p.cable_check_after_renegotiation = True
    elif name == "iso_waits_for_customer":
        p.protocols = (AppProtocol.ISO15118_2,)
        p.waits_for_customer = True
    elif name == "tata_nexon":
        p.cpd_timeout_ns = 400 * MS
    elif name == "vw_id4":
        p.ev_not_ready_in_cpd = True
        p.sdp_requests_tls = True
    elif name == "skoda_enyaq":
        p.negative_first_target = True
    elif name == "audi_q4_stop_early":
        p.evccid = bytes.fromhex("007dfa063894")  # from the Audi Q4 capture
        p.protocols = (AppProtocol.ISO15118_2,)
        p.stop_after_session_setup = True
    elif name == "tesla_short_session_id":
        p.protocols = (AppProtocol.DIN70121,)
        p.setup_session_id = b"\x00\x00\x00\x00"
    elif name in ("pnc", "pnc_install"):
        p.protocols = (AppProtocol.ISO15118_2,)
        p.wants_contract = True
        p.contract = generate_contract_chain(not_before=PNC_NOT_BEFORE, validity=PNC_VALIDITY)
        p.install_certificate = name == "pnc_install"
    elif name != "generic":
        raise ValueError(f"unknown EV profile {name!r}")
    return p


PROFILES = ("generic", "din_only", "iso_only", "iso_waits_for_customer", "tata_nexon",
            "vw_id4", "skoda_enyaq", "audi_q4_stop_early", "tesla_short_session_id", "pnc",
            "pnc_install")
