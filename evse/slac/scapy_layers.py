"""scapy layers for the HomePlug GreenPHY MMEs that scapy's contrib modules lack or mislabel.

Importing this module imports scapy (about 0.3 s of CPU on a desktop, several times that on a
CM4), so only the frame codec imports it, lazily, on first use.

What is added or fixed (hardware.md §3.4):
- CM_VALIDATE.REQ/CNF, CM_AMP_MAP.REQ/CNF, CM_GET_KEY.REQ/CNF: absent from scapy.
- VS_PL_LNK_STATUS.REQ/CNF (0xA0B8/0xA0B9): scapy only names the type.
- CM_ATTEN_PROFILE.IND (0x6086): scapy calls it CM_ATTENUATION_CHARACTERISTICS_MME and names
  the reserved byte "NumberOfCarrierPerGroupe"; rebound here to a correctly named layer.
"""

from __future__ import annotations

from scapy import data as _scapy_data
from scapy.contrib import homepluggp as _gp
from scapy.contrib.homeplugav import HomePlugAV
from scapy.fields import (
    ByteField,
    FieldLenField,
    LEShortField,
    MACField,
    StrFixedLenField,
    StrLenField,
    XIntField,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers, split_layers

__all__ = [
    "CM_AMP_MAP_CNF",
    "CM_AMP_MAP_REQ",
    "CM_ATTEN_PROFILE_IND",
    "CM_GET_KEY_CNF",
    "CM_GET_KEY_REQ",
    "CM_VALIDATE_CNF",
    "CM_VALIDATE_REQ",
    "VS_PL_LNK_STATUS_CNF",
    "VS_PL_LNK_STATUS_REQ",
    "Ether",
    "HomePlugAV",
    "gp",
]

gp = _gp

#: scapy's import loads Wireshark's OUI table (52,417 vendor names from
#: /usr/share/wireshark/manuf, or scapy's own copy when Wireshark is absent) only to print
#: vendor names next to MAC addresses. The station never resolves a vendor (it logs MACs as
#: hex), and the table is 12 MB of the process's RSS on this machine, against the CM4's
#: budget of 80 MB (issue 13 item 6): it is emptied once, here, where scapy is imported.
#: MACField still encodes, decodes and prints addresses as before.
_scapy_data.MANUFDB.d.clear()


class CM_ATTEN_PROFILE_IND(Packet):  # noqa: N801 - scapy naming follows the MME name
    """Per-sound attenuation report from the local modem to its host (ISO 15118-3 A.9.2)."""

    name = "CM_ATTEN_PROFILE_IND"
    fields_desc = [
        MACField("PEVMAC", "00:00:00:00:00:00"),
        FieldLenField("NumGroups", None, length_of="AAG", fmt="B"),
        ByteField("Reserved", 0),
        StrLenField("AAG", b"", length_from=lambda pkt: pkt.NumGroups),
    ]


class CM_VALIDATE_REQ(Packet):  # noqa: N801
    name = "CM_VALIDATE_REQ"
    fields_desc = [ByteField("SignalType", 0), ByteField("Timer", 0), ByteField("Result", 0)]


class CM_VALIDATE_CNF(Packet):  # noqa: N801
    name = "CM_VALIDATE_CNF"
    fields_desc = [ByteField("SignalType", 0), ByteField("ToggleNum", 0), ByteField("Result", 0)]


class CM_AMP_MAP_REQ(Packet):  # noqa: N801
    """Amplitude map: AMLEN carriers, 4 bits each, packed two per byte (ISO 15118-3 A.9.5)."""

    name = "CM_AMP_MAP_REQ"
    fields_desc = [
        LEShortField("AMLEN", 0),
        StrLenField("AMDATA", b"", length_from=lambda pkt: (pkt.AMLEN + 1) // 2),
    ]


class CM_AMP_MAP_CNF(Packet):  # noqa: N801
    name = "CM_AMP_MAP_CNF"
    fields_desc = [ByteField("ResType", 0)]


class CM_GET_KEY_REQ(Packet):  # noqa: N801
    """HomePlug AV 1.1 §11.5.4; seen from pyPLC and from modems in the captures."""

    name = "CM_GET_KEY_REQ"
    fields_desc = [
        ByteField("RequestType", 0),
        ByteField("RequestedKeyType", 1),
        StrFixedLenField("NID", b"\x00" * 7, 7),
        XIntField("MyNonce", 0),
        ByteField("PID", 4),
        LEShortField("PRN", 0),
        ByteField("PMN", 0),
    ]


class CM_GET_KEY_CNF(Packet):  # noqa: N801
    name = "CM_GET_KEY_CNF"
    fields_desc = [
        ByteField("Result", 0),
        ByteField("RequestedKeyType", 1),
        XIntField("MyNonce", 0),
        XIntField("YourNonce", 0),
        StrFixedLenField("NID", b"\x00" * 7, 7),
        ByteField("EKS", 0),
        ByteField("PID", 4),
        LEShortField("PRN", 0),
        ByteField("PMN", 0),
        StrFixedLenField("Key", b"\x00" * 16, 16),
    ]


class VS_PL_LNK_STATUS_REQ(Packet):  # noqa: N801
    """Qualcomm vendor link-status request: payload is the OUI only (EVerest libslac)."""

    name = "VS_PL_LNK_STATUS_REQ"
    fields_desc = []


class VS_PL_LNK_STATUS_CNF(Packet):  # noqa: N801
    """Qualcomm vendor link-status confirmation: MSTATUS, then LINK_STATUS (0x01 = up)."""

    name = "VS_PL_LNK_STATUS_CNF"
    fields_desc = [ByteField("MStatus", 0), ByteField("LinkStatus", 0)]


class VS_SW_VER_REQ(Packet):  # noqa: N801
    name = "VS_SW_VER_REQ"
    fields_desc = []


split_layers(HomePlugAV, gp.CM_ATTENUATION_CHARACTERISTICS_MME, HPtype=0x6086)
bind_layers(HomePlugAV, CM_ATTEN_PROFILE_IND, HPtype=0x6086)
bind_layers(HomePlugAV, CM_VALIDATE_REQ, HPtype=0x6078)
bind_layers(HomePlugAV, CM_VALIDATE_CNF, HPtype=0x6079)
bind_layers(HomePlugAV, CM_AMP_MAP_REQ, HPtype=0x601C)
bind_layers(HomePlugAV, CM_AMP_MAP_CNF, HPtype=0x601D)
bind_layers(HomePlugAV, CM_GET_KEY_REQ, HPtype=0x600C)
bind_layers(HomePlugAV, CM_GET_KEY_CNF, HPtype=0x600D)
bind_layers(HomePlugAV, VS_PL_LNK_STATUS_REQ, HPtype=0xA0B8)
bind_layers(HomePlugAV, VS_PL_LNK_STATUS_CNF, HPtype=0xA0B9)
bind_layers(HomePlugAV, VS_SW_VER_REQ, HPtype=0xA000)
