"""`python -m evse.ev` (the core of `evse ev`): one EV-simulator session against our SECC
and a simulated power path, in virtual time. Prints the message sequence and the result.

    PYTHONPATH=. python -m evse.ev --profile din_only
    PYTHONPATH=. python -m evse.ev --profile iso_only --charge-s 30 --auth-delay-s 5
"""

from __future__ import annotations

import argparse
import sys

from evse.ev.loopback import run
from evse.ev.profiles import PROFILES, profile
from evse.ev.sim import EvSim
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.secc.core import SeccCore

S = 1_000_000_000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="evse ev", description=__doc__)
    ap.add_argument("--profile", choices=PROFILES, default="generic")
    ap.add_argument("--charge-s", type=float, default=5.0)
    ap.add_argument("--auth-delay-s", type=float, default=0.0)
    ap.add_argument("--cable-check-s", type=float, default=2.0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    env = SimEnv(SimEnvConfig(auth_delay_ns=int(args.auth_delay_s * S),
                              cable_check_delay_ns=int(args.cable_check_s * S)))
    p = profile(args.profile)
    p.charge_for_ns = int(args.charge_s * S)
    ev = EvSim(p, inlet_voltage_v=env.physical_voltage_v, inlet_current_a=env.physical_current_a)
    r = run(ev, SeccCore(env))
    if not args.quiet:
        last = ""
        for t, d, body in ev.transcript:
            name = body if isinstance(body, str) else type(body).__name__.removesuffix("Type")
            if name != last:
                code = getattr(getattr(body, "ResponseCode", None), "value", "")
                print(f"{t / 1e9:9.3f} s  {'EV ->' if d == 'req' else '<- SECC'} {name} {code}")
            last = name
    res = r.ev
    print(f"{'OK' if res.ok else 'FAILED'}: {res.reason}; protocol "
          f"{res.protocol.name if res.protocol else '-'}; {res.messages} answers, "
          f"{res.current_demands} CurrentDemand; SOC {p.battery.soc_pct:.1f} %; "
          f"session end at the station: {env.ended.value if env.ended else '-'}")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
