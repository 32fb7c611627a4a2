"""The live timeline of `evse sim` and `evse run --role plc|controller`: one line per chart
transition, scenario step and notice a user watches (repeated self-transitions and ignored
events only with --verbose)."""

from __future__ import annotations

from typing import Any

from evse.runtime.clock import ns_to_s


def timeline_printer(verbose: bool) -> Any:
    def show(t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> None:
        t = f"{ns_to_s(t_ns):10.3f} s"
        if kind == "transition":
            if payload["from"] == payload["to"] and not verbose:
                return  # repeated requests (CurrentDemand, link polls): --verbose shows them
            print(f"{t}  {source:<6} {payload['from']} -> {payload['to']}  ({payload['event']})")
        elif kind == "step":
            print(f"{t}  {'world':<6} {payload['do']}")
        elif kind == "notice" and payload.get("notice") in (
            "power_granted", "power_withdrawn", "contactors", "fault", "emergency", "cp_error",
            "fault_cause",
        ):
            extra = {k: v for k, v in payload.items() if k != "notice"}
            print(f"{t}  {source:<6} * {payload['notice']} {extra if extra else ''}")
        elif verbose and kind in ("ignored", "notice"):
            print(f"{t}  {source:<6} . {kind} {payload}")

    return show
