"""SLAC bench: CP B -> link-up in virtual time with real-world EV timing; CPU per MNBC sound.

    PYTHONPATH=. python bench/slac_bench.py

EV timing: Hyundai Ioniq 5 against an EVerest charger (tests/data/slac/ev_timing_ioniq5.json):
START_ATTEN_CHAR 210 ms after PARM.REQ, 20 ms pacing, MATCH.REQ 1220 ms after the first START.
The modem's AVLN join after both keys are set is taken as the Ioniq 5's MATCH.CNF -> first
IPv6 frame (2.18 s); the car is assumed to send its first CM_SLAC_PARM.REQ as soon as it sees
the 5 % PWM (Tesla-like; TP_EV_SLAC_init allows up to 10 s). `key_set_ms` is CP B -> the
modem's CM_SET_KEY.CNF for the session's fresh key, which comes before any matching.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from drivers.homeplug.sim import ModemBehaviour
from evse.slac.codec import decode_frame, encode_frame
from evse.slac.evse_core import EvseSlac, PilotState
from evse.slac.evse_handler import SlacConfig
from evse.slac.messages import (
    AAG_GROUPS,
    BROADCAST_MAC,
    AttenProfileInd,
    Frame,
    MnbcSoundInd,
    SetKeyCnf,
    SetKeyReq,
    SlacParmReq,
    StartAttenCharInd,
)
from evse.slac.outputs import KeySet, LinkReady, MatchingStarted, SendFrame
from tests.slac.virtual import VirtualSlac

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000_000
MS = 1_000_000
IONIQ5_JOIN_NS = 2_180 * MS
EVSE = bytes.fromhex("02000000e001")
CAR = bytes.fromhex("9012a10140b3")
MODEM = bytes.fromhex("0001870ea348")


def virtual_cp_b_to_link_up(seed: int) -> dict[str, float]:
    v = VirtualSlac(seed=seed)
    v.add_evse("evse", EVSE, behaviour=ModemBehaviour(join_delay_ns=IONIQ5_JOIN_NS))
    v.add_ev("car", CAR, connector="evse", behaviour=ModemBehaviour(join_delay_ns=IONIQ5_JOIN_NS))
    v.connect("evse", "car", 20.0)
    t_b = 1 * S
    v.plug("car", t_b)
    node = v.nodes["evse"]
    v.run_until(60 * S, until=lambda: bool(node.of_type(LinkReady)))
    first = lambda kind: node.of_type(kind)[0][0]  # noqa: E731
    return {
        "parm_req_ms": (first(MatchingStarted) - t_b) / MS,
        "key_set_ms": (first(KeySet) - t_b) / MS,
        "link_up_ms": (first(LinkReady) - t_b) / MS,
    }


def cpu_per_sound(n: int = 2000) -> dict[str, float]:
    core = EvseSlac(SlacConfig(evse_mac=EVSE), random.Random(1))
    core.start(0)
    (set_key,) = [decode_frame(o.raw) for o in core.handle_cp(PilotState.B, True, 0)
                  if isinstance(o, SendFrame)]
    assert isinstance(set_key.mme, SetKeyReq)  # the session's key goes to the modem first
    confirm = SetKeyCnf(0x01, your_nonce=set_key.mme.my_nonce)
    core.handle_frame(encode_frame(Frame(EVSE, MODEM, confirm)), 1)
    run = CAR + b"\x00\x00"
    core.handle_frame(encode_frame(Frame(BROADCAST_MAC, CAR, SlacParmReq(run_id=run))), 1)
    core.handle_frame(
        encode_frame(Frame(BROADCAST_MAC, CAR, StartAttenCharInd(10, 6, 1, CAR, run))), 2
    )
    sound = encode_frame(Frame(BROADCAST_MAC, CAR, MnbcSoundInd(countdown=5, run_id=run)))
    profile = encode_frame(
        Frame(BROADCAST_MAC, MODEM, AttenProfileInd(CAR, tuple(range(10, 10 + AAG_GROUPS))))
    )
    assert core.state == "matching"
    t0 = time.process_time_ns()
    for _ in range(n):
        core.handle_frame(sound, 3)
    t1 = time.process_time_ns()
    for _ in range(n):
        core.handle_frame(profile, 3)
    t2 = time.process_time_ns()
    for _ in range(n):
        decode_frame(sound)
    t3 = time.process_time_ns()
    return {
        "sound_us": (t1 - t0) / n / 1000,
        "profile_us": (t2 - t1) / n / 1000,
        "sound_plus_profile_us": (t2 - t0) / n / 1000,
        "decode_only_us": (t3 - t2) / n / 1000,
    }


def scapy_import_ms() -> float:
    code = (
        "import time; t=time.process_time(); import evse.slac.scapy_layers; "
        "print((time.process_time()-t)*1000)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def cold_first_frame_ms() -> float:
    """CPU of the first CM_SLAC_PARM.REQ in a fresh process: scapy's import lands here
    unless the station called `evse.slac.codec.warm_up()` beforehand."""
    code = (
        "import time\n"
        "from evse.slac.codec import decode_frame\n"
        f"raw = bytes.fromhex('{'ff' * 6}{CAR.hex()}88e10164600000' + '00' * 43)\n"
        "t = time.process_time(); decode_frame(raw); print((time.process_time() - t) * 1000)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    runs = [virtual_cp_b_to_link_up(seed) for seed in range(5)]
    print("virtual time, CP B (5 % PWM) -> ... (Ioniq 5 timing, 5 seeds)")
    for key in ("parm_req_ms", "key_set_ms", "link_up_ms"):
        values = [r[key] for r in runs]
        print(f"  {key:12s} median {statistics.median(values):8.1f} ms  max {max(values):8.1f} ms")
    cpu = cpu_per_sound()
    print("CPU per received frame while sounding (this host):")
    for key, value in cpu.items():
        print(f"  {key:22s} {value:8.1f} us")
    print(f"scapy import (evse.slac.scapy_layers), CPU: {scapy_import_ms():.0f} ms")
    print(f"first CM_SLAC_PARM.REQ decode without warm_up(), CPU: {cold_first_frame_ms():.0f} ms")


if __name__ == "__main__":
    main()
