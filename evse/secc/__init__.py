"""SECC application layer: supportedAppProtocol, DIN SPEC 70121 DC and ISO 15118-2 DC.

Sans-IO: `SeccCore` takes V2GTP payloads (EXI bytes) with `now_ns` and returns payloads to
send, plus its next deadline. It talks to the rest of the station only through the
`SeccEnv` protocol (evse/secc/env.py).
"""
