"""ISO 15118-3 SLAC: typed HomePlug GreenPHY messages, frame codec, EVSE and EV matching cores.

Modules
-------
messages      frozen dataclasses for every MME SLAC uses (scapy-free), MMTYPEs, constants
codec         `decode_frame(bytes) -> Frame`, `encode_frame(Frame) -> bytes` on scapy's HomePlug
              layers (`scapy_layers` adds what scapy lacks); `SlacDecodeError` family in `errors`
evse_core     `EvseSlac`: the charger side, sans-IO, owning the `slac_evse` chart
evse_handler  the chart's named callbacks and the per-car matching sessions; `SlacConfig`
outputs       what `EvseSlac` returns (frames to send, link events for the controller)
ev            `EvSlac`: the car side, for the EV simulator
timing        per-session ISO 15118-3 durations and counts (the chart owns the others)
keys          fresh NMK per session (set in the modem before matching), NID from NMK
config        the station config's `slac:` section -> `SlacConfig` + chart overrides

Wiring on a station (composition root)
--------------------------------------
- port = drivers.homeplug.port.RawHomePlugSocket(iface)  (or SimHomePlugPort in simulation);
  register `port.fileno()` as a reader; on readable: `for raw in port.poll(now)`:
  `outs = core.handle_frame(raw, now)`.
- core = EvseSlac(SlacConfig(evse_mac=port.mac, ...), random.SystemRandom(), trace=...);
  `core.start(now)`; call `evse.slac.evse_core.warm_up()` before the clock and timers start
  and before the 5 % PWM (it imports scapy and builds/dissects every MME once), so no lazy
  loading lands on the CM_SET_KEY at 5 % PWM or on a car's first CM_SLAC_PARM.REQ.
- pilot: every `CpNotice` -> `core.handle_cp_notice(kind, data, now)` (or `handle_cp`).
- controller's D-LINK_TERMINATE -> `core.terminate(now)`.
- after every call, (re)arm one scheduler timer at `core.next_deadline_ns()` that calls
  `core.handle_timer(now)`.
- outputs: `SendFrame.raw` -> `port.send`; `LinkReady(ev_mac, run_id, nid)` = D-LINK_READY
  (start SDP/SECC; `ev_mac` is `plc.ev_mac`); `LinkError(reason, ...)` = D-LINK_ERROR;
  `LinkTerminated`; `MatchingStarted` (report "matching" at the first CM_SLAC_PARM.REQ);
  `EfRetryRequested(attempt, step_ef_ns)` -> pilot core: E/F for T_step_EF, then 5 % again;
  `SessionEnded`, `KeySet`, `ModemFound`, `FrameDropped` -> log/trace.
"""
