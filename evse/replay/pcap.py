"""Car-side V2G sessions out of a pcap/pcapng (a tool, not a core: it reads files).

Groups IPv6 TCP segments by connection, reassembles each direction by sequence number
(retransmissions dropped), cuts V2GTP frames, decodes the client's first frame as
supportedAppProtocolReq and the rest with the negotiated schema. DC sessions
(ChargeParameterDiscoveryReq with DC parameters) are kept; the CurrentDemand loop is
shortened to its first KEEP_HEAD and last KEEP_TAIL requests.
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

import exi

NS = {"urn:din:70121:2012:MsgDef": "din", "urn:iso:15118:2:2013:MsgDef": "iso2"}
KEEP_HEAD, KEEP_TAIL = 20, 5


def car_name(fname: str) -> str | None:
    if fname.startswith("everest-logfiles__"):
        parts = fname.split("__")
        if parts[2][:1].isdigit():  # no model folder (Seres)
            return parts[1]
        return f"{parts[1]} {parts[2]}".replace("_", " ")
    if fname.startswith("ioniq28__"):
        return "Hyundai Ioniq 28kWh"
    m = re.search(r"(Ioniq|ModelY|polestar2|tesla_model_x|AudiQ4)", fname)
    if fname.startswith("pyplc__") and m:
        return {"Ioniq": "Hyundai Ioniq 28kWh", "ModelY": "Tesla Model Y",
                "polestar2": "Polestar 2", "tesla_model_x": "Tesla Model X",
                "AudiQ4": "Audi Q4"}[m.group(1)] + " (pyPLC EVSE)"
    return None


def streams(path: Path) -> dict[tuple[object, ...], list[tuple[float, int, bytes]]]:
    out: dict[tuple[object, ...], list[tuple[float, int, bytes]]] = {}
    for pkt in rdpcap(str(path)):
        if IPv6 not in pkt or TCP not in pkt:
            continue
        data = bytes(pkt[TCP].payload)
        if not data:
            continue
        key = (pkt[IPv6].src, pkt[TCP].sport, pkt[IPv6].dst, pkt[TCP].dport)
        out.setdefault(key, []).append((float(pkt.time), int(pkt[TCP].seq), data))
    return out


def frames(segs: list[tuple[float, int, bytes]]) -> list[tuple[float, bytes]]:
    seen: set[int] = set()
    buf = b""
    times: list[tuple[int, float]] = []
    for t, seq, data in sorted(segs, key=lambda s: (s[1], s[0])):
        if seq in seen:
            continue
        seen.add(seq)
        times.append((len(buf), t))
        buf += data
    res = []
    pos = 0
    while pos + 8 <= len(buf):
        ver, inv, ptype, length = struct.unpack(">BBHI", buf[pos:pos + 8])
        if ver != 1 or inv != 0xFE:
            break
        t = max((tt for off, tt in times if off <= pos), default=0.0)
        res.append((t, buf[pos + 8:pos + 8 + length]))
        pos += 8 + length
    return res


def sessions(path: Path) -> list[dict[str, object]]:
    """Every DC V2G session (car side + the charger's first response codes) of a capture."""
    st = streams(path)
    found = []
    for key, segs in st.items():
        fr = frames(segs)
        if not fr:
            continue
        try:
            sap = exi.decode("app", fr[0][1])
        except exi.ExiError:
            continue
        if type(sap).__name__ != "supportedAppProtocolReq":
            continue
        back = (key[2], key[3], key[0], key[1])
        rfr = frames(st.get(back, []))
        if not rfr:
            continue
        sap_res = exi.decode("app", rfr[0][1])
        if sap_res.SchemaID is None:
            continue
        ns = next(e.ProtocolNamespace for e in sap.AppProtocol if e.SchemaID == sap_res.SchemaID)
        schema = NS.get(ns)
        if schema is None:
            continue
        msgs = []
        dc = False
        for t, payload in fr[1:]:
            try:
                body = exi.decode(schema, payload).Body.BodyElement
            except exi.ExiError as exc:
                print(f"  {path.name}: undecodable car frame: {exc}", file=sys.stderr)
                continue
            name = type(body).__name__
            if name == "ChargeParameterDiscoveryReqType" and hasattr(
                    body.EVChargeParameter, "EVMaximumVoltageLimit"):
                mode = getattr(body, "RequestedEnergyTransferMode", None) or getattr(
                    body, "EVRequestedEnergyTransferType", None)
                dc = mode is None or str(mode.value).startswith("DC")
            msgs.append({"t_ms": round((t - fr[0][0]) * 1000), "type": name,
                         "exi": payload.hex()})
        evse = []
        for _t, payload in rfr[1:]:
            try:
                b = exi.decode(schema, payload).Body.BodyElement
                evse.append(f"{type(b).__name__}:{b.ResponseCode.value}")
            except exi.ExiError:
                evse.append("undecodable")
        if not dc:
            continue
        cd = [i for i, m in enumerate(msgs) if m["type"] == "CurrentDemandReqType"]
        if len(cd) > KEEP_HEAD + KEEP_TAIL:
            drop = set(cd[KEEP_HEAD:len(cd) - KEEP_TAIL])
            msgs = [m for i, m in enumerate(msgs) if i not in drop]
        found.append({"sap": fr[0][1].hex(), "schema": schema, "car_messages": msgs,
                      "evse_first_codes": evse[:12], "current_demands_total": len(cd)})
    return found


