"""bytes <-> `Frame` for HomePlug GreenPHY MMEs, built on scapy's HomePlug layers.

scapy is imported on first use (`evse.slac.scapy_layers`), not at module import: it costs
about 0.3 s of CPU on a desktop (measured in tests/slac/test_codec.py), far more on a CM4, and
the station pays it in `warm_up()` before it offers the 5 % PWM, never on a car's request.

Parsing follows the MME's own lengths and ignores whatever follows: real cars append stale
bytes or leave junk in the padding (slac_notes.md §4, BYD Atto 3, XPENG P7, MG4).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from types import ModuleType
from typing import Any

from evse.slac.errors import (
    SlacDecodeError,
    SlacTruncatedError,
    SlacUnsupportedError,
    SlacUsageError,
)
from evse.slac.messages import (
    AAG_GROUPS,
    BROADCAST_MAC,
    ETHERTYPE_HOMEPLUG_AV,
    ID_LEN,
    MIN_FRAME_LEN,
    MMV_AV_1_0,
    MMV_AV_1_1,
    NID_LEN,
    NMK_LEN,
    QUALCOMM_OUI,
    RUN_ID_LEN,
    AmpMapCnf,
    AmpMapReq,
    AttenCharInd,
    AttenCharRsp,
    AttenProfileInd,
    Frame,
    GetKeyCnf,
    GetKeyReq,
    Mme,
    MmType,
    MnbcSoundInd,
    SetKeyCnf,
    SetKeyReq,
    SlacMatchCnf,
    SlacMatchReq,
    SlacParmCnf,
    SlacParmReq,
    StartAttenCharInd,
    ValidateCnf,
    ValidateReq,
    VsPlLnkStatusCnf,
    VsPlLnkStatusReq,
    VsSwVerCnf,
    VsSwVerReq,
    mac_from_str,
    mac_str,
)

_ETH_HEADER_LEN = 14
_layers: ModuleType | None = None
_warmed = False  # every SLAC MME has been built and dissected once in this process


def _scapy() -> ModuleType:
    global _layers
    if _layers is None:
        from evse.slac import scapy_layers as layers

        _layers = layers
    return _layers


def _warm_up_samples() -> tuple[Mme, ...]:
    """One MME of every type the EVSE role sends or receives, with realistic field sizes."""
    car, evse = b"\x02\x00\x00\xee\x00\x01", b"\x02\x00\x00\x00\xe0\x01"
    run = car + b"\x00\x00"
    nid, nmk = b"\x01" * NID_LEN, b"\x02" * NMK_LEN
    aag = (20,) * AAG_GROUPS
    return (
        SlacParmReq(run_id=run),
        SlacParmCnf(forwarding_sta=car, run_id=run, num_sounds=10, timeout_100ms=6),
        StartAttenCharInd(10, 6, 1, car, run),
        MnbcSoundInd(countdown=9, run_id=run),
        AttenProfileInd(car, aag),
        AttenCharInd(source_address=car, run_id=run, num_sounds=10, aag_db=aag),
        AttenCharRsp(source_address=car, run_id=run),
        ValidateReq(timer=0, result=1),
        ValidateCnf(toggle_num=0, result=1),
        SlacMatchReq(pev_mac=car, evse_mac=evse, run_id=run),
        SlacMatchCnf(pev_mac=car, evse_mac=evse, run_id=run, nid=nid, nmk=nmk),
        SetKeyReq(nid=nid, new_key=nmk, my_nonce=1),
        SetKeyCnf(result=1, your_nonce=1),
        VsSwVerReq(),
        VsSwVerCnf(status=0, device_id=0x20, version=b"warm-up"),
        VsPlLnkStatusReq(),
        VsPlLnkStatusCnf(link_up=True),
    )


def warm_up() -> int:
    """Import scapy and round-trip one frame of every SLAC MME, so no car pays for it.

    scapy's import costs ~0.3 s of CPU, and the first build and dissection of each HomePlug
    layer another 1-10 ms (its field caches fill lazily; measured on a desktop, far more on a
    CM4). A car waits only TT_match_response (200 ms) for CM_SLAC_PARM.CNF and the EVSE must
    answer within TP_match_response (100 ms), so the station calls this before it offers the
    5 % PWM and before its timers run (timing.md §2). Returns how many MMEs were warmed by
    this call: 0 once the process is warm, so calling it again costs nothing."""
    global _warmed
    if _warmed:
        return 0
    _scapy()
    samples = _warm_up_samples()
    for mme in samples:
        raw = encode_frame(Frame(BROADCAST_MAC, b"\x02\x00\x00\x00\x00\x01", mme))
        decode_frame(raw)
        decode_frame(raw, use_fast_path=False)
    _warmed = True
    return len(samples)


def peek_mmtype(raw: bytes) -> int | None:
    """MMTYPE of a HomePlug AV frame without dissecting it, or None for any other frame.

    Lets drivers and the simulated modem route frames cheaply."""
    if len(raw) < _ETH_HEADER_LEN + 3 or raw[12:14] != ETHERTYPE_HOMEPLUG_AV.to_bytes(2, "big"):
        return None
    return int.from_bytes(raw[15:17], "little")


def decode_frame(raw: bytes, *, use_fast_path: bool = True) -> Frame:
    """Parse one Ethernet frame; raise a `SlacDecodeError` subclass if it is not a usable MME.

    The two MMEs that arrive ten times per car and session (CM_MNBC_SOUND.IND and the modem's
    CM_ATTEN_PROFILE.IND) are read with `struct` offsets; tests hold them equal to the scapy
    dissection (`use_fast_path=False`) on every real frame and on random input."""
    if len(raw) < _ETH_HEADER_LEN + 3:
        raise SlacTruncatedError(f"frame of {len(raw)} bytes is shorter than an MME header")
    ethertype = int.from_bytes(raw[12:14], "big")
    if ethertype != ETHERTYPE_HOMEPLUG_AV:
        raise SlacUnsupportedError(f"EtherType 0x{ethertype:04x} is not HomePlug AV")
    mmv = raw[14]
    code = int.from_bytes(raw[15:17], "little")
    try:
        mmtype = MmType(code)
    except ValueError:
        raise SlacUnsupportedError(f"MMTYPE 0x{code:04x} not handled") from None
    vendor = code >= 0xA000
    if vendor and mmv != MMV_AV_1_0:
        raise SlacUnsupportedError(f"vendor MME 0x{code:04x} with MMV {mmv} (expected 0)")
    if not vendor and mmv != MMV_AV_1_1:
        raise SlacUnsupportedError(f"CM MME 0x{code:04x} with MMV {mmv} (expected 1)")
    header_len = _ETH_HEADER_LEN + 3 + (3 if vendor else 2)
    if len(raw) < header_len:
        raise SlacTruncatedError(f"{mmtype.name}: frame ends inside the MME header")
    if vendor and raw[17:20] != QUALCOMM_OUI:
        raise SlacUnsupportedError(f"{mmtype.name}: OUI {raw[17:20].hex()} is not Qualcomm")
    available = len(raw) - header_len
    if available < _MIN_PAYLOAD.get(mmtype, 0):
        raise SlacTruncatedError(
            f"{mmtype.name}: {available} payload bytes, layout needs {_MIN_PAYLOAD[mmtype]}"
        )
    fast = _FAST.get(mmtype)
    if fast is not None and use_fast_path:
        return Frame(dst=raw[0:6], src=raw[6:12], mme=fast(raw, header_len))
    layers = _scapy()
    pkt = layers.Ether(raw)
    hpav = pkt.getlayer(layers.HomePlugAV)
    if hpav is None:  # pragma: no cover - the EtherType check above makes this unreachable
        raise SlacDecodeError("scapy did not dissect a HomePlug AV header")
    body = hpav.payload
    expected = _LAYER_OF[mmtype]
    if expected is not None and not isinstance(body, _layer_class(layers, expected)):
        raise SlacDecodeError(f"{mmtype.name}: scapy dissected {type(body).__name__}")
    mme = _to_model(mmtype, body)
    return Frame(dst=raw[0:6], src=raw[6:12], mme=mme)


def encode_frame(frame: Frame, *, pad: bool = True) -> bytes:
    """Serialise `frame`, zero-padded to the 60-byte Ethernet minimum (hardware.md §3.2).

    `pad=False` gives the MME's own bytes only (tests compare it with captured frames)."""
    _check_len("dst", frame.dst, 6)
    _check_len("src", frame.src, 6)
    layers = _scapy()
    mmtype, body = _to_layer(layers, frame.mme)
    vendor = mmtype >= 0xA000
    hpav = layers.HomePlugAV(version=MMV_AV_1_0 if vendor else MMV_AV_1_1, HPtype=int(mmtype))
    pkt = layers.Ether(dst=mac_str(frame.dst), src=mac_str(frame.src), type=ETHERTYPE_HOMEPLUG_AV)
    raw = bytes(pkt / hpav / body)
    if pad and len(raw) < MIN_FRAME_LEN:
        raw += b"\x00" * (MIN_FRAME_LEN - len(raw))
    return raw


# --- fast path for the per-sound MMEs ----------------------------------------------------

_MNBC = struct.Struct("<BB17sB8s8s16s")  # hardware.md §3.3: 52 bytes


def _fast_mnbc(raw: bytes, at: int) -> Mme:
    if len(raw) < at + _MNBC.size:
        raise SlacTruncatedError(f"CM_MNBC_SOUND_IND: {len(raw) - at} payload bytes, needs 52")
    app, sec, sender, countdown, run_id, reserved, rnd = _MNBC.unpack_from(raw, at)
    return MnbcSoundInd(countdown, run_id, sender, reserved, rnd, app, sec)


def _fast_profile(raw: bytes, at: int) -> Mme:
    if len(raw) < at + 8:
        raise SlacTruncatedError(f"CM_ATTEN_PROFILE_IND: {len(raw) - at} payload bytes, needs 8")
    groups = raw[at + 6]
    if len(raw) < at + 8 + groups:
        raise SlacTruncatedError(f"CM_ATTEN_PROFILE_IND: {groups} groups announced, frame ends")
    return AttenProfileInd(raw[at : at + 6], tuple(raw[at + 8 : at + 8 + groups]), raw[at + 7])


_FAST: dict[MmType, Callable[[bytes, int], Mme]] = {
    MmType.CM_MNBC_SOUND_IND: _fast_mnbc,
    MmType.CM_ATTEN_PROFILE_IND: _fast_profile,
}


# --- scapy <-> model mapping --------------------------------------------------------------

_LAYER_OF: dict[MmType, str | None] = {
    MmType.CM_SET_KEY_REQ: "gp.CM_SET_KEY_REQ",
    MmType.CM_SET_KEY_CNF: "gp.CM_SET_KEY_CNF",
    MmType.CM_GET_KEY_REQ: "CM_GET_KEY_REQ",
    MmType.CM_GET_KEY_CNF: "CM_GET_KEY_CNF",
    MmType.CM_AMP_MAP_REQ: "CM_AMP_MAP_REQ",
    MmType.CM_AMP_MAP_CNF: "CM_AMP_MAP_CNF",
    MmType.CM_SLAC_PARM_REQ: "gp.CM_SLAC_PARM_REQ",
    MmType.CM_SLAC_PARM_CNF: "gp.CM_SLAC_PARM_CNF",
    MmType.CM_START_ATTEN_CHAR_IND: "gp.CM_START_ATTEN_CHAR_IND",
    MmType.CM_ATTEN_CHAR_IND: "gp.CM_ATTEN_CHAR_IND",
    MmType.CM_ATTEN_CHAR_RSP: "gp.CM_ATTEN_CHAR_RSP",
    MmType.CM_MNBC_SOUND_IND: "gp.CM_MNBC_SOUND_IND",
    MmType.CM_VALIDATE_REQ: "CM_VALIDATE_REQ",
    MmType.CM_VALIDATE_CNF: "CM_VALIDATE_CNF",
    MmType.CM_SLAC_MATCH_REQ: "gp.CM_SLAC_MATCH_REQ",
    MmType.CM_SLAC_MATCH_CNF: "gp.CM_SLAC_MATCH_CNF",
    MmType.CM_ATTEN_PROFILE_IND: "CM_ATTEN_PROFILE_IND",
    MmType.VS_SW_VER_REQ: None,
    MmType.VS_SW_VER_CNF: "GetDeviceVersion",
    MmType.VS_PL_LNK_STATUS_REQ: None,
    MmType.VS_PL_LNK_STATUS_CNF: "VS_PL_LNK_STATUS_CNF",
}


# Fixed part of each payload (hardware.md §3.3), checked before dissection because scapy
# quietly dissects a short frame into short fields; variable tails are checked after it.
_MIN_PAYLOAD: dict[MmType, int] = {
    MmType.CM_SLAC_PARM_REQ: 10,
    MmType.CM_SLAC_PARM_CNF: 25,
    MmType.CM_START_ATTEN_CHAR_IND: 19,
    MmType.CM_MNBC_SOUND_IND: 52,
    MmType.CM_ATTEN_PROFILE_IND: 8,
    MmType.CM_ATTEN_CHAR_IND: 52,
    MmType.CM_ATTEN_CHAR_RSP: 51,
    MmType.CM_VALIDATE_REQ: 3,
    MmType.CM_VALIDATE_CNF: 3,
    MmType.CM_SLAC_MATCH_REQ: 66,
    MmType.CM_SLAC_MATCH_CNF: 90,
    MmType.CM_SET_KEY_REQ: 38,
    MmType.CM_SET_KEY_CNF: 14,
    MmType.CM_GET_KEY_REQ: 17,
    MmType.CM_GET_KEY_CNF: 38,
    MmType.CM_AMP_MAP_REQ: 2,
    MmType.CM_AMP_MAP_CNF: 1,
    MmType.VS_SW_VER_CNF: 68,
    MmType.VS_PL_LNK_STATUS_CNF: 2,
}


def _layer_class(layers: ModuleType, dotted: str) -> Any:
    if dotted == "GetDeviceVersion":
        from scapy.contrib.homeplugav import GetDeviceVersion

        return GetDeviceVersion
    obj: Any = layers
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise SlacUsageError(f"{name} must be {size} bytes, got {len(value)}")


def _check_count(mmtype: MmType, announced: int, present: int) -> None:
    """scapy quietly takes fewer bytes than a length field announces; we do not."""
    if present < announced:
        raise SlacTruncatedError(f"{mmtype.name}: {announced} announced, {present} present")


def _groups(body: Any, attr: str) -> tuple[int, ...]:
    return tuple(int(g.group) for g in getattr(body, attr))


def _to_model(mmtype: MmType, b: Any) -> Mme:
    M = MmType
    if mmtype is M.CM_SLAC_PARM_REQ:
        return SlacParmReq(bytes(b.RunID), b.ApplicationType, b.SecurityType)
    if mmtype is M.CM_SLAC_PARM_CNF:
        return SlacParmCnf(
            forwarding_sta=mac_from_str(b.ForwardingSTA),
            run_id=bytes(b.RunID),
            num_sounds=b.NumberMSounds,
            timeout_100ms=b.TimeOut,
            resp_type=b.ResponseType,
            msound_target=mac_from_str(b.MSoundTargetMAC),
            application_type=b.ApplicationType,
            security_type=b.SecurityType,
        )
    if mmtype is M.CM_START_ATTEN_CHAR_IND:
        return StartAttenCharInd(
            num_sounds=b.NumberOfSounds,
            timeout_100ms=b.TimeOut,
            resp_type=b.ResponseType,
            forwarding_sta=mac_from_str(b.ForwardingSTA),
            run_id=bytes(b.RunID),
            application_type=b.ApplicationType,
            security_type=b.SecurityType,
        )
    if mmtype is M.CM_MNBC_SOUND_IND:
        return MnbcSoundInd(
            countdown=b.Countdown,
            run_id=bytes(b.RunID),
            sender_id=bytes(b.SenderID),
            reserved=bytes(b.RSVD),
            random_value=bytes(b.RandomValue),
            application_type=b.ApplicationType,
            security_type=b.SecurityType,
        )
    if mmtype is M.CM_ATTEN_PROFILE_IND:
        _check_count(mmtype, b.NumGroups, len(bytes(b.AAG)))
        return AttenProfileInd(mac_from_str(b.PEVMAC), tuple(bytes(b.AAG)), b.Reserved)
    if mmtype is M.CM_ATTEN_CHAR_IND:
        _check_count(mmtype, b.NumberOfGroups, len(b.Groups))
        return AttenCharInd(
            source_address=mac_from_str(b.SourceAdress),
            run_id=bytes(b.RunID),
            num_sounds=b.NumberOfSounds,
            aag_db=_groups(b, "Groups"),
            source_id=bytes(b.SourceID),
            resp_id=bytes(b.ResponseID),
            application_type=b.ApplicationType,
            security_type=b.SecurityType,
        )
    if mmtype is M.CM_ATTEN_CHAR_RSP:
        return AttenCharRsp(
            source_address=mac_from_str(b.SourceAdress),
            run_id=bytes(b.RunID),
            result=b.Result,
            source_id=bytes(b.SourceID),
            resp_id=bytes(b.ResponseID),
            application_type=b.ApplicationType,
            security_type=b.SecurityType,
        )
    if mmtype is M.CM_VALIDATE_REQ:
        return ValidateReq(timer=b.Timer, result=b.Result, signal_type=b.SignalType)
    if mmtype is M.CM_VALIDATE_CNF:
        return ValidateCnf(toggle_num=b.ToggleNum, result=b.Result, signal_type=b.SignalType)
    if mmtype is M.CM_SLAC_MATCH_REQ:
        v = b.VariableField
        return SlacMatchReq(
            pev_mac=mac_from_str(v.EVMAC),
            evse_mac=mac_from_str(v.EVSEMAC),
            run_id=bytes(v.RunID),
            pev_id=bytes(v.EVID),
            evse_id=bytes(v.EVSEID),
            reserved=bytes(v.RSVD),
            mvf_length=b.MatchVariableFieldLen,
            application_type=b.ApplicationType,
            security_type=b.SecurityType,
        )
    if mmtype is M.CM_SLAC_MATCH_CNF:
        v = b.VariableField
        return SlacMatchCnf(
            pev_mac=mac_from_str(v.EVMAC),
            evse_mac=mac_from_str(v.EVSEMAC),
            run_id=bytes(v.RunID),
            nid=bytes(v.NetworkID),
            nmk=bytes(v.NMK),
            pev_id=bytes(v.EVID),
            evse_id=bytes(v.EVSEID),
            reserved=bytes(v.RSVD),
            reserved2=v.Reserved,
            mvf_length=b.MatchVariableFieldLen,
            application_type=b.ApplicationType,
            security_type=b.SecurityType,
        )
    if mmtype is M.CM_SET_KEY_REQ:
        return SetKeyReq(
            nid=bytes(b.NetworkID),
            new_key=bytes(b.NewKey),
            key_type=b.KeyType,
            my_nonce=b.MyNonce,
            your_nonce=b.YourNonce,
            pid=b.PID,
            prn=b.ProtoRunNumber,
            pmn=b.ProtoMessNumber,
            cco_capability=b.CCoCapability,
            new_eks=b.NewEncKeySelect,
        )
    if mmtype is M.CM_SET_KEY_CNF:
        return SetKeyCnf(
            result=b.Result,
            my_nonce=b.MyNonce,
            your_nonce=b.YourNonce,
            pid=b.PID,
            prn=b.ProtoRunNumber,
            pmn=b.ProtoMessNumber,
            cco_capability=b.CCoCapability,
        )
    if mmtype is M.CM_GET_KEY_REQ:
        return GetKeyReq(
            nid=bytes(b.NID),
            request_type=b.RequestType,
            requested_key_type=b.RequestedKeyType,
            my_nonce=b.MyNonce,
            pid=b.PID,
            prn=b.PRN,
            pmn=b.PMN,
        )
    if mmtype is M.CM_GET_KEY_CNF:
        return GetKeyCnf(
            result=b.Result,
            nid=bytes(b.NID),
            key=bytes(b.Key),
            requested_key_type=b.RequestedKeyType,
            my_nonce=b.MyNonce,
            your_nonce=b.YourNonce,
            eks=b.EKS,
            pid=b.PID,
            prn=b.PRN,
            pmn=b.PMN,
        )
    if mmtype is M.CM_AMP_MAP_REQ:
        packed = bytes(b.AMDATA)
        _check_count(mmtype, (b.AMLEN + 1) // 2, len(packed))
        nibbles = [v for byte in packed for v in (byte & 0x0F, byte >> 4)]
        return AmpMapReq(tuple(nibbles[: b.AMLEN]))
    if mmtype is M.CM_AMP_MAP_CNF:
        return AmpMapCnf(b.ResType)
    if mmtype is M.VS_SW_VER_REQ:
        return VsSwVerReq()
    if mmtype is M.VS_SW_VER_CNF:
        return VsSwVerCnf(b.Status, b.DeviceID, bytes(b.DeviceVersion), b.Upgradable)
    if mmtype is M.VS_PL_LNK_STATUS_REQ:
        return VsPlLnkStatusReq()
    if mmtype is M.VS_PL_LNK_STATUS_CNF:
        return VsPlLnkStatusCnf(link_up=b.LinkStatus == 0x01, status=b.MStatus)
    raise SlacUnsupportedError(f"{mmtype.name} has no model")  # pragma: no cover


def _to_layer(layers: ModuleType, mme: Mme) -> tuple[MmType, Any]:
    gp = layers.gp
    M = MmType
    if isinstance(mme, SlacParmReq):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        return M.CM_SLAC_PARM_REQ, gp.CM_SLAC_PARM_REQ(
            ApplicationType=mme.application_type, SecurityType=mme.security_type, RunID=mme.run_id
        )
    if isinstance(mme, SlacParmCnf):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        return M.CM_SLAC_PARM_CNF, gp.CM_SLAC_PARM_CNF(
            MSoundTargetMAC=mac_str(mme.msound_target),
            NumberMSounds=mme.num_sounds,
            TimeOut=mme.timeout_100ms,
            ResponseType=mme.resp_type,
            ForwardingSTA=mac_str(mme.forwarding_sta),
            ApplicationType=mme.application_type,
            SecurityType=mme.security_type,
            RunID=mme.run_id,
        )
    if isinstance(mme, StartAttenCharInd):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        return M.CM_START_ATTEN_CHAR_IND, gp.CM_START_ATTEN_CHAR_IND(
            ApplicationType=mme.application_type,
            SecurityType=mme.security_type,
            NumberOfSounds=mme.num_sounds,
            TimeOut=mme.timeout_100ms,
            ResponseType=mme.resp_type,
            ForwardingSTA=mac_str(mme.forwarding_sta),
            RunID=mme.run_id,
        )
    if isinstance(mme, MnbcSoundInd):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        _check_len("sender_id", mme.sender_id, ID_LEN)
        return M.CM_MNBC_SOUND_IND, gp.CM_MNBC_SOUND_IND(
            ApplicationType=mme.application_type,
            SecurityType=mme.security_type,
            SenderID=mme.sender_id,
            Countdown=mme.countdown,
            RunID=mme.run_id,
            RSVD=mme.reserved,
            RandomValue=mme.random_value,
        )
    if isinstance(mme, AttenProfileInd):
        return M.CM_ATTEN_PROFILE_IND, layers.CM_ATTEN_PROFILE_IND(
            PEVMAC=mac_str(mme.pev_mac), Reserved=mme.reserved, AAG=bytes(mme.aag_db)
        )
    if isinstance(mme, AttenCharInd):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        return M.CM_ATTEN_CHAR_IND, gp.CM_ATTEN_CHAR_IND(
            ApplicationType=mme.application_type,
            SecurityType=mme.security_type,
            SourceAdress=mac_str(mme.source_address),
            RunID=mme.run_id,
            SourceID=mme.source_id,
            ResponseID=mme.resp_id,
            NumberOfSounds=mme.num_sounds,
            Groups=[gp.HPGP_GROUP(group=g) for g in mme.aag_db],
        )
    if isinstance(mme, AttenCharRsp):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        return M.CM_ATTEN_CHAR_RSP, gp.CM_ATTEN_CHAR_RSP(
            ApplicationType=mme.application_type,
            SecurityType=mme.security_type,
            SourceAdress=mac_str(mme.source_address),
            RunID=mme.run_id,
            SourceID=mme.source_id,
            ResponseID=mme.resp_id,
            Result=mme.result,
        )
    if isinstance(mme, ValidateReq):
        return M.CM_VALIDATE_REQ, layers.CM_VALIDATE_REQ(
            SignalType=mme.signal_type, Timer=mme.timer, Result=mme.result
        )
    if isinstance(mme, ValidateCnf):
        return M.CM_VALIDATE_CNF, layers.CM_VALIDATE_CNF(
            SignalType=mme.signal_type, ToggleNum=mme.toggle_num, Result=mme.result
        )
    if isinstance(mme, SlacMatchReq):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        var = gp.SLAC_varfield(
            EVID=mme.pev_id,
            EVMAC=mac_str(mme.pev_mac),
            EVSEID=mme.evse_id,
            EVSEMAC=mac_str(mme.evse_mac),
            RunID=mme.run_id,
            RSVD=mme.reserved,
        )
        return M.CM_SLAC_MATCH_REQ, gp.CM_SLAC_MATCH_REQ(
            ApplicationType=mme.application_type,
            SecurityType=mme.security_type,
            MatchVariableFieldLen=mme.mvf_length,
            VariableField=var,
        )
    if isinstance(mme, SlacMatchCnf):
        _check_len("run_id", mme.run_id, RUN_ID_LEN)
        _check_len("nid", mme.nid, NID_LEN)
        _check_len("nmk", mme.nmk, NMK_LEN)
        var_cnf = gp.SLAC_varfield_cnf(
            EVID=mme.pev_id,
            EVMAC=mac_str(mme.pev_mac),
            EVSEID=mme.evse_id,
            EVSEMAC=mac_str(mme.evse_mac),
            RunID=mme.run_id,
            RSVD=mme.reserved,
            NetworkID=mme.nid,
            Reserved=mme.reserved2,
            NMK=mme.nmk,
        )
        return M.CM_SLAC_MATCH_CNF, gp.CM_SLAC_MATCH_CNF(
            ApplicationType=mme.application_type,
            SecurityType=mme.security_type,
            MatchVariableFieldLen=mme.mvf_length,
            VariableField=var_cnf,
        )
    if isinstance(mme, SetKeyReq):
        _check_len("nid", mme.nid, NID_LEN)
        _check_len("new_key", mme.new_key, NMK_LEN)
        return M.CM_SET_KEY_REQ, gp.CM_SET_KEY_REQ(
            KeyType=mme.key_type,
            MyNonce=mme.my_nonce,
            YourNonce=mme.your_nonce,
            PID=mme.pid,
            ProtoRunNumber=mme.prn,
            ProtoMessNumber=mme.pmn,
            CCoCapability=mme.cco_capability,
            NetworkID=mme.nid,
            NewEncKeySelect=mme.new_eks,
            NewKey=mme.new_key,
        )
    if isinstance(mme, SetKeyCnf):
        return M.CM_SET_KEY_CNF, gp.CM_SET_KEY_CNF(
            Result=mme.result,
            MyNonce=mme.my_nonce,
            YourNonce=mme.your_nonce,
            PID=mme.pid,
            ProtoRunNumber=mme.prn,
            ProtoMessNumber=mme.pmn,
            CCoCapability=mme.cco_capability,
        )
    if isinstance(mme, GetKeyReq):
        _check_len("nid", mme.nid, NID_LEN)
        return M.CM_GET_KEY_REQ, layers.CM_GET_KEY_REQ(
            RequestType=mme.request_type,
            RequestedKeyType=mme.requested_key_type,
            NID=mme.nid,
            MyNonce=mme.my_nonce,
            PID=mme.pid,
            PRN=mme.prn,
            PMN=mme.pmn,
        )
    if isinstance(mme, GetKeyCnf):
        _check_len("nid", mme.nid, NID_LEN)
        _check_len("key", mme.key, NMK_LEN)
        return M.CM_GET_KEY_CNF, layers.CM_GET_KEY_CNF(
            Result=mme.result,
            RequestedKeyType=mme.requested_key_type,
            MyNonce=mme.my_nonce,
            YourNonce=mme.your_nonce,
            NID=mme.nid,
            EKS=mme.eks,
            PID=mme.pid,
            PRN=mme.prn,
            PMN=mme.pmn,
            Key=mme.key,
        )
    if isinstance(mme, AmpMapReq):
        if any(not 0 <= a <= 0x0F for a in mme.amplitudes):
            raise SlacUsageError("CM_AMP_MAP amplitudes are 4-bit values")
        padded = list(mme.amplitudes) + [0] * (len(mme.amplitudes) % 2)
        packed = bytes(padded[i] | (padded[i + 1] << 4) for i in range(0, len(padded), 2))
        return M.CM_AMP_MAP_REQ, layers.CM_AMP_MAP_REQ(AMLEN=len(mme.amplitudes), AMDATA=packed)
    if isinstance(mme, AmpMapCnf):
        return M.CM_AMP_MAP_CNF, layers.CM_AMP_MAP_CNF(ResType=mme.res_type)
    if isinstance(mme, VsSwVerReq):
        return M.VS_SW_VER_REQ, layers.VS_SW_VER_REQ()
    if isinstance(mme, VsSwVerCnf):
        from scapy.contrib.homeplugav import GetDeviceVersion

        return M.VS_SW_VER_CNF, GetDeviceVersion(
            Status=mme.status,
            DeviceID=mme.device_id,
            VersionLen=len(mme.version),  # scapy's count_of counts a bytes value as 1
            DeviceVersion=mme.version,
            DeviceVersion_pad=b"\x00" * (64 - len(mme.version)),
            Upgradable=mme.upgradable,
        )
    if isinstance(mme, VsPlLnkStatusReq):
        return M.VS_PL_LNK_STATUS_REQ, layers.VS_PL_LNK_STATUS_REQ()
    if isinstance(mme, VsPlLnkStatusCnf):
        return M.VS_PL_LNK_STATUS_CNF, layers.VS_PL_LNK_STATUS_CNF(
            MStatus=mme.status, LinkStatus=0x01 if mme.link_up else 0x00
        )
    raise SlacUsageError(f"cannot encode {type(mme).__name__}")  # pragma: no cover


_ = AAG_GROUPS
