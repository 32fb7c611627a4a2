"""The controller <-> PLC contract (ccs2_dc_reference.md Deliverable 2), sans-IO.

Modules (import what you use; this package imports nothing on its own):

- `signals.yaml`   the single source of truth: signals, fields, units, ranges, owners,
                   rates, validity, fallbacks, time bounds, compatibility rules.
- `definition`     strict loader -> typed definitions (`DEFINITION`).
- `values`         GENERATED typed values (frozen slotted dataclasses, enums) that check
                   themselves against the definition; `python -m evse.contract.render`.
- `events`         `ContractPort` protocol and the events every transport returns.
- `inprocess`      `InProcessLink` (default single-process station).
- `link`           `StreamLink`: sans-IO CBOR stream link (hello, heartbeats, acks,
                   retransmission, reconnect, invalid-frame accounting).
- `guard`          `PlcContractGuard`: the PLC's watchdogs and fallbacks (section C2).
- `codec`, `framing`, `validate`, `errors`, `render`: the pieces behind those.

The socket/UART adapter lives in `evse.io.contract_link`.
"""
