"""Frame codec against every real SLAC frame of the vectors, plus malformed input."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from evse.slac.codec import decode_frame, encode_frame
from evse.slac.errors import SlacDecodeError, SlacTruncatedError, SlacUnsupportedError
from evse.slac.keys import nid_from_nmk
from evse.slac.messages import (
    AAG_GROUPS,
    BROADCAST_MAC,
    AmpMapCnf,
    AmpMapReq,
    AttenCharInd,
    AttenCharRsp,
    AttenProfileInd,
    Frame,
    GetKeyCnf,
    GetKeyReq,
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
)

DATA = Path(__file__).resolve().parents[1] / "data" / "slac" / "real_slac_frames.jsonl"
VECTORS = [json.loads(line) for line in DATA.read_text().splitlines()]
MODEL_OF = {
    "CM_SLAC_PARM.REQ": SlacParmReq,
    "CM_SLAC_PARM.CNF": SlacParmCnf,
    "CM_START_ATTEN_CHAR.IND": StartAttenCharInd,
    "CM_MNBC_SOUND.IND": MnbcSoundInd,
    "CM_ATTEN_PROFILE.IND": AttenProfileInd,
    "CM_ATTEN_CHAR.IND": AttenCharInd,
    "CM_ATTEN_CHAR.RSP": AttenCharRsp,
    "CM_SLAC_MATCH.REQ": SlacMatchReq,
    "CM_SLAC_MATCH.CNF": SlacMatchCnf,
    "CM_SET_KEY.REQ": SetKeyReq,
    "CM_SET_KEY.CNF": SetKeyCnf,
    "CM_GET_KEY.REQ": GetKeyReq,
    "CM_GET_KEY.CNF": GetKeyCnf,
}
REAL_CHARGERS = ("Compleo", "Alpitronic", "ABB", "Tesla")


def _ids(v: dict[str, object]) -> str:
    return f"{v['message']}-{str(v['source_path'])[-24:]}-{v['capture_packet']}"


def test_vector_file_holds_every_slac_message_type_seen_in_the_field() -> None:
    assert len(VECTORS) == 621
    assert {v["message"] for v in VECTORS} == set(MODEL_OF)


@pytest.mark.parametrize("vec", VECTORS, ids=_ids)
def test_real_frame_dissects_with_the_right_fields(vec: dict[str, object]) -> None:
    raw = bytes.fromhex(str(vec["hex"]))
    frame = decode_frame(raw)
    parsed = vec["collector_parsed"]
    assert isinstance(parsed, dict)
    assert isinstance(frame.mme, MODEL_OF[str(vec["message"])])
    assert frame.dst.hex() == parsed["dst_mac"] and frame.src.hex() == parsed["src_mac"]
    m = frame.mme
    if isinstance(m, SlacParmCnf):
        assert m.msound_target == BROADCAST_MAC and m.resp_type == 1
        assert m.forwarding_sta == frame.dst  # the car's MAC, as every charger sends it
    elif isinstance(m, StartAttenCharInd):
        assert m.num_sounds == 10 and m.forwarding_sta == frame.src
    elif isinstance(m, MnbcSoundInd):
        assert 0 <= m.countdown < 10
    elif isinstance(m, AttenProfileInd):
        assert len(m.aag_db) in (0, AAG_GROUPS)  # pyPLC's own profiles carry no groups
    elif isinstance(m, AttenCharInd):
        assert len(m.aag_db) == AAG_GROUPS and m.source_address == frame.dst
    elif isinstance(m, AttenCharRsp):
        assert m.source_address == frame.src and m.result == 0
    elif isinstance(m, SlacMatchReq):
        assert m.mvf_length == 0x3E and m.evse_mac == frame.dst
    elif isinstance(m, SlacMatchCnf):
        assert m.mvf_length == 0x56 and m.pev_mac == frame.dst and m.evse_mac == frame.src
    elif isinstance(m, SetKeyReq):
        assert m.key_type == 1 and m.pid == 4 and m.new_eks == 1
    elif isinstance(m, SetKeyCnf):
        assert m.result in (0x00, 0x01)
    elif isinstance(m, GetKeyCnf):
        assert m.result in (0, 1) and (m.result == 1 or any(m.key))


@pytest.mark.parametrize("vec", VECTORS, ids=_ids)
def test_real_frame_rebuilds_to_the_same_bytes(vec: dict[str, object]) -> None:
    """The MME part is byte-identical; stale bytes after it (BYD, XPENG, MG4) are not kept."""
    raw = bytes.fromhex(str(vec["hex"]))
    frame = decode_frame(raw)
    again = encode_frame(frame)
    body = encode_frame(frame, pad=False)
    assert raw.startswith(body)
    trailer = raw[len(body) :]
    if not any(trailer) and len(raw) == len(again):
        assert again == raw


@pytest.mark.parametrize("vec", VECTORS, ids=_ids)
def test_real_frame_round_trips_through_our_scapy_layers(vec: dict[str, object]) -> None:
    from evse.slac.scapy_layers import Ether

    raw = bytes.fromhex(str(vec["hex"]))
    assert bytes(Ether(raw)) == raw


def test_sloppy_frames_from_real_cars_decode_by_the_mme_lengths() -> None:
    junk = [v for v in VECTORS if str(v["ev"]).startswith(("BYD", "XPENG", "MG "))]
    assert junk
    for v in junk:
        raw = bytes.fromhex(str(v["hex"]))
        body = encode_frame(decode_frame(raw), pad=False)
        if len(raw) > max(60, len(body)) or any(raw[len(body) :]):
            assert decode_frame(raw) == decode_frame(body)


def test_nid_derivation_reproduces_real_chargers() -> None:
    cnfs = [
        decode_frame(bytes.fromhex(str(v["hex"]))).mme
        for v in VECTORS
        if v["message"] == "CM_SLAC_MATCH.CNF" and str(v["evse"]).startswith(REAL_CHARGERS)
    ]
    assert len(cnfs) >= 15
    for m in cnfs:
        assert isinstance(m, SlacMatchCnf)
        assert nid_from_nmk(m.nmk) == m.nid


def _first_real(message: str, charger: str) -> Frame:
    for v in VECTORS:
        if v["message"] == message and str(v["evse"]).startswith(charger):
            return decode_frame(bytes.fromhex(str(v["hex"])))
    raise LookupError((message, charger))


@pytest.mark.parametrize("charger", REAL_CHARGERS)
def test_our_parm_cnf_has_the_layout_of_real_chargers(charger: str) -> None:
    real = _first_real("CM_SLAC_PARM.CNF", charger)
    assert isinstance(real.mme, SlacParmCnf)
    ours = SlacParmCnf(
        forwarding_sta=real.dst, run_id=real.mme.run_id, num_sounds=10, timeout_100ms=6
    )
    assert encode_frame(Frame(real.dst, real.src, ours)) == encode_frame(real)


@pytest.mark.parametrize("charger", REAL_CHARGERS)
def test_our_match_cnf_has_the_layout_of_real_chargers(charger: str) -> None:
    real = _first_real("CM_SLAC_MATCH.CNF", charger)
    m = real.mme
    assert isinstance(m, SlacMatchCnf)
    ours = SlacMatchCnf(
        pev_mac=real.dst,
        evse_mac=real.src,
        run_id=m.run_id,
        nid=m.nid,
        nmk=m.nmk,
        pev_id=m.pev_id,
        evse_id=m.evse_id,
    )
    assert encode_frame(Frame(real.dst, real.src, ours)) == encode_frame(real)


@pytest.mark.parametrize("charger", REAL_CHARGERS)
def test_our_atten_char_ind_has_the_layout_of_real_chargers(charger: str) -> None:
    real = _first_real("CM_ATTEN_CHAR.IND", charger)
    m = real.mme
    assert isinstance(m, AttenCharInd)
    ours = AttenCharInd(
        source_address=real.dst, run_id=m.run_id, num_sounds=m.num_sounds, aag_db=m.aag_db
    )
    assert encode_frame(Frame(real.dst, real.src, ours)) == encode_frame(real)


MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


@pytest.mark.parametrize(
    "mme",
    [
        ValidateReq(timer=0, result=1),
        ValidateCnf(toggle_num=3, result=2),
        AmpMapReq((1, 2, 3, 15, 0)),
        AmpMapCnf(0),
        VsSwVerReq(),
        VsSwVerCnf(0, 0x20, b"MAC-QCA7000-1.2.5"),
        VsPlLnkStatusReq(),
        VsPlLnkStatusCnf(link_up=True),
        VsPlLnkStatusCnf(link_up=False),
        GetKeyReq(nid=b"\x01" * 7),
    ],
)
def test_messages_scapy_lacks_round_trip(mme: object) -> None:
    frame = Frame(MAC_A, MAC_B, mme)  # type: ignore[arg-type]
    assert decode_frame(encode_frame(frame)) == frame


def test_vendor_messages_carry_the_qualcomm_oui_and_mmv_0() -> None:
    raw = encode_frame(Frame(MAC_A, MAC_B, VsPlLnkStatusReq()))
    assert raw[12:14] == b"\x88\xe1" and raw[14] == 0 and raw[15:17] == b"\xb8\xa0"
    assert raw[17:20] == b"\x00\xb0\x52"


def test_truncated_frame_is_a_truncated_error() -> None:
    raw = bytes.fromhex(str(next(v for v in VECTORS if v["message"] == "CM_SLAC_MATCH.CNF")["hex"]))
    with pytest.raises(SlacTruncatedError):
        decode_frame(raw[:80])


def test_other_ethertype_is_unsupported() -> None:
    raw = bytearray(encode_frame(Frame(MAC_A, MAC_B, SlacParmReq(run_id=b"\x01" * 8))))
    raw[12:14] = b"\x86\xdd"
    with pytest.raises(SlacUnsupportedError):
        decode_frame(bytes(raw))


def test_unknown_mmtype_and_wrong_mmv_are_unsupported() -> None:
    raw = bytearray(encode_frame(Frame(MAC_A, MAC_B, SlacParmReq(run_id=b"\x01" * 8))))
    raw[15:17] = b"\x34\x12"
    with pytest.raises(SlacUnsupportedError):
        decode_frame(bytes(raw))
    raw2 = bytearray(encode_frame(Frame(MAC_A, MAC_B, SlacParmReq(run_id=b"\x01" * 8))))
    raw2[14] = 0x00
    with pytest.raises(SlacUnsupportedError):
        decode_frame(bytes(raw2))


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=140))
def test_any_bytes_after_a_slac_header_either_parse_or_raise_decode_error(tail: bytes) -> None:
    """Invariant: any input either parses or raises SlacDecodeError."""
    for mmtype in (0x6064, 0x6065, 0x606E, 0x6076, 0x607C, 0x607D, 0x6086, 0x6009, 0x601C):
        raw = MAC_A + MAC_B + b"\x88\xe1\x01" + mmtype.to_bytes(2, "little") + tail
        with contextlib.suppress(SlacDecodeError):
            decode_frame(raw)


def test_scapy_is_not_imported_until_the_first_frame() -> None:
    """scapy costs ~0.3 s of CPU to import; the station must not pay it at start-up."""
    code = (
        "import sys, time\n"
        "import evse.slac.evse_core, evse.slac.ev\n"
        "assert 'scapy' not in sys.modules, 'scapy imported eagerly'\n"
        "t = time.process_time()\n"
        "import evse.slac.codec\n"
        "evse.slac.codec.warm_up()\n"
        "assert 'scapy' in sys.modules\n"
        "print(round((time.process_time() - t) * 1000))\n"
    )
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(res.stdout.strip()) > 0


FAST_KINDS = ("CM_MNBC_SOUND.IND", "CM_ATTEN_PROFILE.IND")


def test_fast_path_equals_scapy_on_every_real_sound_and_profile() -> None:
    vecs = [v for v in VECTORS if v["message"] in FAST_KINDS]
    assert len(vecs) > 90
    for v in vecs:
        raw = bytes.fromhex(str(v["hex"]))
        assert decode_frame(raw) == decode_frame(raw, use_fast_path=False)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([0x6076, 0x6086]), st.binary(min_size=0, max_size=90))
def test_fast_path_agrees_with_scapy_on_any_payload(mmtype: int, payload: bytes) -> None:
    """Invariant: both paths give the same message, or both raise SlacDecodeError."""
    raw = MAC_A + MAC_B + b"\x88\xe1\x01" + mmtype.to_bytes(2, "little") + b"\x00\x00" + payload
    results = []
    for fast in (True, False):
        try:
            results.append(decode_frame(raw, use_fast_path=fast))
        except SlacDecodeError as exc:
            results.append(type(exc))
    assert results[0] == results[1]


def test_a_frame_cut_anywhere_inside_its_mme_is_a_truncated_error() -> None:
    """scapy would dissect a short frame into short fields; we refuse it."""
    firsts: dict[str, bytes] = {}
    for v in VECTORS:
        firsts.setdefault(str(v["message"]), bytes.fromhex(str(v["hex"])))
    for message, raw in firsts.items():
        end = len(encode_frame(decode_frame(raw), pad=False))
        for cut in range(17, end):
            with pytest.raises(SlacTruncatedError):
                decode_frame(raw[:cut])
            with pytest.raises(SlacTruncatedError):
                decode_frame(raw[:cut], use_fast_path=False)
        assert decode_frame(raw[:end]).mme == decode_frame(raw).mme, message


def test_after_warm_up_the_5pct_pwm_and_the_first_answers_cost_no_lazy_loading() -> None:
    """A fresh process replays a real Ioniq 5 SLAC (tests/data/slac) into the EVSE core and
    measures the CPU of the 5 % PWM step (the fresh key goes to the modem) and of each call
    that answers the car. Cold, the 5 % PWM step pays scapy's import (hundreds of ms: a car
    asking meanwhile would miss TP_match_response = 100 ms); after `evse_core.warm_up()` no
    step loads anything. CPU time, so a loaded machine does not make it flaky."""
    code = (
        "import json, random, sys, time\n"
        "from pathlib import Path\n"
        "from evse.slac import evse_core\n"
        "from evse.slac.evse_core import EvseSlac, PilotState\n"
        "from evse.slac.evse_handler import SlacConfig\n"
        "from evse.slac.outputs import SendFrame\n"
        "rows = [json.loads(x) for x in Path('tests/data/slac/session_ioniq5.jsonl')"
        ".read_text().splitlines()[1:]]\n"
        "if sys.argv[1] == 'warm':\n"
        "    assert evse_core.warm_up() == 17 and evse_core.warm_up() == 0\n"
        "evse_mac = next(bytes.fromhex(r['hex'])[6:12]\n"
        "                for r in rows if r['kind'] == 'SlacParmCnf')\n"
        "core = EvseSlac(SlacConfig(evse_mac=evse_mac), random.Random(0))\n"
        "core.start(0)\n"
        "t = time.process_time()\n"
        "(req,) = [o for o in core.handle_cp(PilotState.B, True, 0) if isinstance(o, SendFrame)]\n"
        "costs = {'pwm_on': (time.process_time() - t) * 1000}\n"
        "cnf = req.raw[6:12] + bytes.fromhex('0001870ea348' '88e1010960000001') + b'\\0' * 4\n"
        "cnf += req.raw[20:24] + req.raw[28:33]\n"
        "core.handle_frame(cnf + b'\\0' * (60 - len(cnf)), 1)\n"
        "for r in rows:\n"
        "    if r['kind'] in ('SlacParmCnf', 'AttenCharInd', 'SlacMatchCnf'):\n"
        "        continue\n"
        "    t_ns = int(r['t_us']) * 1000 + 10_000_000\n"
        "    t = time.process_time()\n"
        "    outs = []\n"
        "    while (d := core.next_deadline_ns()) is not None and d <= t_ns:\n"
        "        outs += core.handle_timer(d)\n"
        "    outs += core.handle_frame(bytes.fromhex(r['hex']), t_ns)\n"
        "    if any(isinstance(o, SendFrame) for o in outs):\n"
        "        ms = (time.process_time() - t) * 1000\n"
        "        costs[r['kind']] = max(costs.get(r['kind'], 0.0), ms)\n"
        "print(json.dumps({'state': core.state, 'costs_ms': costs}))\n"
    )
    root = Path(__file__).resolve().parents[2]

    def run(mode: str) -> dict[str, float]:
        res = subprocess.run(
            [sys.executable, "-c", code, mode],
            cwd=root,
            env={"PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            check=True,
        )
        out = json.loads(res.stdout)
        assert out["state"] == "wait_link.polling"  # the replay matched
        return {str(k): float(v) for k, v in out["costs_ms"].items()}

    cold, warm = run("cold"), run("warm")
    assert set(warm) == {"pwm_on", "SlacParmReq", "AttenProfileInd", "SlacMatchReq"}
    assert cold["pwm_on"] > 100.0  # what warm_up() is for: this test sees lazy loading
    assert warm["pwm_on"] < 10.0, warm
    # CM_SLAC_PARM.CNF and CM_SLAC_MATCH.CNF within a small part of TP_match_response, the
    # 58-group CM_ATTEN_CHAR.IND (~15 ms of scapy on a desktop) within TP_EVSE_avg_atten_calc
    assert warm["SlacParmReq"] < 20.0 and warm["SlacMatchReq"] < 20.0, warm
    assert warm["AttenProfileInd"] < 60.0, warm


def test_scapy_vendor_table_is_dropped_and_macs_still_round_trip() -> None:
    """The OUI vendor table scapy loads at import (12 MB of RSS, evse/slac/scapy_layers.py)
    is empty once the codec's layers are loaded, and a MAC still encodes and decodes."""
    from scapy import data as scapy_data

    import evse.slac.scapy_layers  # noqa: F401 - the import is what empties the table

    assert len(scapy_data.MANUFDB.d) == 0
    frame = Frame(dst=BROADCAST_MAC, src=bytes.fromhex("00b052000001"),
                  mme=SetKeyCnf(result=0, my_nonce=1, your_nonce=2))
    assert decode_frame(encode_frame(frame)).src == bytes.fromhex("00b052000001")
