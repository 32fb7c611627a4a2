"""Typed, scapy-free model of the HomePlug GreenPHY MMEs used by ISO 15118-3 SLAC.

Layouts: hardware.md §3.3 (ISO 15118-3 Annex A, HomePlug GreenPHY 1.1). MAC addresses, RunIDs,
NMKs and NIDs are `bytes` of fixed length; `encode_frame` checks the lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

ETHERTYPE_HOMEPLUG_AV = 0x88E1  # hardware.md §3.2
MMV_AV_1_0 = 0x00  # Qualcomm vendor MMEs; hardware.md §3.2
MMV_AV_1_1 = 0x01  # every CM_* SLAC MME; hardware.md §3.2
QUALCOMM_OUI = b"\x00\xb0\x52"
MIN_FRAME_LEN = 60  # Ethernet minimum without FCS; EVerest MME_MIN_LENGTH (hardware.md §3.2)

BROADCAST_MAC = b"\xff" * 6
# Destination of modem-local MMEs (CM_SET_KEY, VS_*): hardware.md §3.2 (EVerest, pyslac).
LOCAL_MODEM_MAC = b"\x00\xb0\x52\x00\x00\x01"

RUN_ID_LEN = 8
NMK_LEN = 16
NID_LEN = 7
ID_LEN = 17  # SenderID / SOURCE_ID / RESP_ID / PEV ID / EVSE ID
AAG_GROUPS = 58  # CM_ATTEN_PROFILE.IND / CM_ATTEN_CHAR.IND NumGroups; hardware.md §3.3


class MmType(IntEnum):
    """MMTYPE codes (REQ/CNF/IND/RSP are the low two bits); hardware.md §3.2."""

    CM_SET_KEY_REQ = 0x6008
    CM_SET_KEY_CNF = 0x6009
    CM_GET_KEY_REQ = 0x600C
    CM_GET_KEY_CNF = 0x600D
    CM_AMP_MAP_REQ = 0x601C
    CM_AMP_MAP_CNF = 0x601D
    CM_SLAC_PARM_REQ = 0x6064
    CM_SLAC_PARM_CNF = 0x6065
    CM_START_ATTEN_CHAR_IND = 0x606A
    CM_ATTEN_CHAR_IND = 0x606E
    CM_ATTEN_CHAR_RSP = 0x606F
    CM_MNBC_SOUND_IND = 0x6076
    CM_VALIDATE_REQ = 0x6078
    CM_VALIDATE_CNF = 0x6079
    CM_SLAC_MATCH_REQ = 0x607C
    CM_SLAC_MATCH_CNF = 0x607D
    CM_ATTEN_PROFILE_IND = 0x6086
    VS_SW_VER_REQ = 0xA000
    VS_SW_VER_CNF = 0xA001
    VS_PL_LNK_STATUS_REQ = 0xA0B8
    VS_PL_LNK_STATUS_CNF = 0xA0B9


class ValidateResult(IntEnum):
    """CM_VALIDATE Result codes (ISO 15118-3 A.9.4; hardware.md §3.3)."""

    NOT_READY = 0
    READY = 1
    SUCCESS = 2
    FAILURE = 3
    NOT_REQUIRED = 4


class SetKeyResult(IntEnum):
    """CM_SET_KEY.CNF result byte. 0x00 is the specification's success; every QCA modem in the
    captures answers 0x01 after a successful key change (slac_notes.md §1), so both mean done."""

    SUCCESS = 0x00
    QCA_SUCCESS = 0x01


_Z17 = b"\x00" * ID_LEN
_Z8 = b"\x00" * 8


@dataclass(frozen=True, slots=True)
class SlacParmReq:
    run_id: bytes
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class SlacParmCnf:
    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int
    timeout_100ms: int
    resp_type: int = 1
    msound_target: bytes = BROADCAST_MAC
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class StartAttenCharInd:
    num_sounds: int
    timeout_100ms: int
    resp_type: int
    forwarding_sta: bytes
    run_id: bytes
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class MnbcSoundInd:
    countdown: int
    run_id: bytes
    sender_id: bytes = _Z17
    reserved: bytes = _Z8
    random_value: bytes = b"\x00" * 16
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class AttenProfileInd:
    """From the local modem: attenuation (dB per carrier group) of one sound from `pev_mac`."""

    pev_mac: bytes
    aag_db: tuple[int, ...]
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class AttenCharInd:
    source_address: bytes
    run_id: bytes
    num_sounds: int
    aag_db: tuple[int, ...]
    source_id: bytes = _Z17
    resp_id: bytes = _Z17
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class AttenCharRsp:
    source_address: bytes
    run_id: bytes
    result: int = 0
    source_id: bytes = _Z17
    resp_id: bytes = _Z17
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class ValidateReq:
    timer: int
    result: int
    signal_type: int = 0


@dataclass(frozen=True, slots=True)
class ValidateCnf:
    toggle_num: int
    result: int
    signal_type: int = 0


@dataclass(frozen=True, slots=True)
class SlacMatchReq:
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    pev_id: bytes = _Z17
    evse_id: bytes = _Z17
    reserved: bytes = _Z8
    mvf_length: int = 0x3E
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class SlacMatchCnf:
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    nid: bytes
    nmk: bytes
    pev_id: bytes = _Z17
    evse_id: bytes = _Z17
    reserved: bytes = _Z8
    reserved2: int = 0
    mvf_length: int = 0x56
    application_type: int = 0
    security_type: int = 0


@dataclass(frozen=True, slots=True)
class SetKeyReq:
    nid: bytes
    new_key: bytes
    key_type: int = 1  # NMK
    my_nonce: int = 0
    your_nonce: int = 0
    pid: int = 4  # HLE protocol
    prn: int = 0
    pmn: int = 0
    cco_capability: int = 0
    new_eks: int = 1


@dataclass(frozen=True, slots=True)
class SetKeyCnf:
    result: int
    my_nonce: int = 0
    your_nonce: int = 0
    pid: int = 4
    prn: int = 0
    pmn: int = 0
    cco_capability: int = 0


@dataclass(frozen=True, slots=True)
class GetKeyReq:
    nid: bytes
    request_type: int = 0
    requested_key_type: int = 1
    my_nonce: int = 0
    pid: int = 4
    prn: int = 0
    pmn: int = 0


@dataclass(frozen=True, slots=True)
class GetKeyCnf:
    result: int
    nid: bytes
    key: bytes
    requested_key_type: int = 1
    my_nonce: int = 0
    your_nonce: int = 0
    eks: int = 0
    pid: int = 4
    prn: int = 0
    pmn: int = 0


@dataclass(frozen=True, slots=True)
class AmpMapReq:
    """Amplitude map, one 4-bit value per carrier (ISO 15118-3 A.9.5, optional)."""

    amplitudes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AmpMapCnf:
    res_type: int = 0


@dataclass(frozen=True, slots=True)
class VsSwVerReq:
    pass


@dataclass(frozen=True, slots=True)
class VsSwVerCnf:
    status: int
    device_id: int
    version: bytes
    upgradable: int = 0


@dataclass(frozen=True, slots=True)
class VsPlLnkStatusReq:
    pass


@dataclass(frozen=True, slots=True)
class VsPlLnkStatusCnf:
    link_up: bool
    status: int = 0


Mme = (
    SlacParmReq
    | SlacParmCnf
    | StartAttenCharInd
    | MnbcSoundInd
    | AttenProfileInd
    | AttenCharInd
    | AttenCharRsp
    | ValidateReq
    | ValidateCnf
    | SlacMatchReq
    | SlacMatchCnf
    | SetKeyReq
    | SetKeyCnf
    | GetKeyReq
    | GetKeyCnf
    | AmpMapReq
    | AmpMapCnf
    | VsSwVerReq
    | VsSwVerCnf
    | VsPlLnkStatusReq
    | VsPlLnkStatusCnf
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One Ethernet frame carrying one MME: the unit the cores consume and produce."""

    dst: bytes
    src: bytes
    mme: Mme


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def mac_from_str(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)
