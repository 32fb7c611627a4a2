"""`evse probe`: the EV side of the stack as a conformance tester for any SECC.

A good-case session, then the adversarial variants of each ISO 15118-4 / DIN 70122 test
family (wrong SessionID, out-of-sequence request, out-of-range parameters, silence past a
timeout, invalid V2GTP headers, repetition at the car's fastest cadence) plus the
reference's P0 checks. The case logic (`evse.probe.cases`) talks to a `ProbeLink`
(`evse.probe.link`): real sockets (`evse.probe.net`) or a SECC core in virtual time
(`evse.probe.inproc`). Bad answers are verdicts, never a crash.
"""

from evse.probe.model import CaseResult, Family, ProbeOptions, Verdict

__all__ = ["CaseResult", "Family", "ProbeOptions", "Verdict"]
