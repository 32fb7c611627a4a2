"""PLC-side power path control (sans-IO): cable check, precharge, current loop, measurement
snapshot, welding detection and the two shutdown paths (ccs2_dc_reference.md C9-C13, B4).

Entry point: `evse.power.controller.PowerPath`.
"""
