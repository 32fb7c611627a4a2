"""PLC-side power path control (sans-IO): cable check, precharge, current loop, measurement
snapshot, welding detection and the two shutdown paths (ccs2_dc_reference.md C9-C13, B4,
P0 items 2, 5, 6).

How the SECC and the runtime drive `evse.power.controller.PowerPath`:

    core = PowerPath(PowerPathConfig(max_voltage_v=..., max_current_a=..., max_power_w=...))
    # SECC, per request
    core.start_cable_check(ev_max_voltage_v, now_ns)    # first CableCheckReq
    core.status.cable_check_processing / .isolation_level / .fault   # every CableCheckRes
    core.precharge(EvRequest(v, i), now_ns); core.status.precharge_reached / .present
    core.start_charging(now_ns)                          # PowerDeliveryReq(Start)
    res = core.current_demand(EvRequest(v, i), now_ns)   # the one clamp (DemandClamp):
        # CurrentDemandRes reports its flags and limits, and core.snapshot as present V/I
    core.stop(now_ns); core.status.welding               # PowerDelivery(Stop), WeldingDetection
    core.end_session(now_ns)      # unplug (CP A): never raises; self-clearing faults clear
    core.reset_fault(now_ns)      # operator RESET_FAULT -> ResetResult(accepted, reason)
    core.emergency_stop(detail, now_ns)                  # controller STOP_EMERGENCY
    core.available                # a new session may start (cable check accepted)
    # runtime, per device event and timer
    core.handle(event, now_ns)    # MeterReading, GroupMeasurement, module/IMD/board events,
                                  # evse.contract.limits.EvseLimits (the guard's
                                  # envelope), EmergencyStop
    core.handle_timer(now_ns); core.next_deadline_ns()
    for cmd in core.take_commands(): ...   # SetModuleOutput -> PowerModuleGroup.set_output,
        # Enable/DisableModules -> enable/disable, SetContactors -> Board.allow_power_on,
        # ImdStart/ImdStop/ImdSelfTest -> IsolationMonitor.start/stop/start_self_test
    core.fault.severity, .reason       # to the car: the SECC's status code (StationEnv.fault
                                       # -> evse/secc/handler.py _status, the one mapping)
    core.fault.fault_code              # to the controller: the contract FaultCode (table row)

The sequencing is fsm_specs/power_path.yaml; the faults and how they clear are
evse/power/fault_table.yaml.
"""
