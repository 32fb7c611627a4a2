"""The OCPP 2.0.1 use-case registry: every use case of the six certification profiles issue 15
names, whether the controller implements it, and the test(s) that prove it.

Why data and not prose: `docs/ocpp.md` is generated from this table
(`python -m evse.controller.use_cases --write`) and a test runs `--check`, so the document
cannot claim more than the tests show. A use case counts as implemented only when a test
proves it (`check()` refuses an implemented row without a test, a test reference that does
not exist, and a test named after a use case (`test_h01_...`) that the row does not list).

Where the IDs and titles come from: OCPP 2.0.1 Part 2 "Specification" (Open Charge Alliance,
edition 2, 2020), the use-case headings of functional blocks A (Security), B (Provisioning),
C (Authorization), D (LocalAuthorizationList Management), E (Transactions), F (RemoteControl),
G (Availability), H (Reservation), J (MeterValues), K (SmartCharging), L (FirmwareManagement),
M (ISO 15118 CertificateManagement), N (Diagnostics), P (DataTransfer). The same IDs name the
OCA test cases (e.g. TC_H_07 "Use case: H01(S2), H04"), and EVerest libocpp's v201 sources
cite them. The assignment of use cases to the OCA certification profiles (Core, Advanced
Security, Local Authorization List Management, Smart Charging, ISO 15118 support,
Reservation) follows the OCA's description of the profiles; a use case belongs to the first
profile that requires it.

Merge note: the security rows (block A and the certificate-lifecycle rows of the Advanced
Security and ISO 15118 profiles) are in their own section, `SECURITY_USE_CASES`, owned by the
security work (branch `ocpps`); everything else is in `MANAGEMENT_USE_CASES`.
"""

from __future__ import annotations

import argparse
import enum
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "ocpp.md"


class Profile(enum.Enum):
    """OCA OCPP 2.0.1 certification profiles (issue 15)."""

    CORE = "Core"
    ADVANCED_SECURITY = "Advanced Security"
    LOCAL_AUTH_LIST = "Local Authorization List Management"
    SMART_CHARGING = "Smart Charging"
    ISO15118 = "ISO 15118 support"
    RESERVATION = "Reservation"


class Status(enum.Enum):
    YES = "yes"
    #: Implemented in part; the note says what is missing. Needs a test like YES.
    PARTIAL = "partial"
    NO = "no"


@dataclass(frozen=True, slots=True)
class UseCase:
    id: str
    title: str
    profile: Profile
    status: Status
    #: "tests/<path>.py::test_name" (parametrized tests by their function name).
    tests: tuple[str, ...] = ()
    note: str = ""


Y, P, N = Status.YES, Status.PARTIAL, Status.NO
CORE, SEC, LAL, SC, ISO, RES = (Profile.CORE, Profile.ADVANCED_SECURITY,
                                Profile.LOCAL_AUTH_LIST, Profile.SMART_CHARGING,
                                Profile.ISO15118, Profile.RESERVATION)

_S = "tests/controller/test_sessions.py::"
_C = "tests/controller/test_csms_calls.py::"
_Q = "tests/controller/test_offline_queue.py::"
_T = "tests/controller/test_trust_store.py::"
_K = "tests/controller/test_smart_charging.py::"
_U = "tests/controller/test_use_cases_201.py::"
_UC = "tests/controller/test_use_cases_201_core.py::"
_EMS = "tests/runtime/test_ems_input.py::"
_WU = "tests/controller/test_ws_use_cases_201.py::"
_TP = "tests/controller/test_tx_points.py::"
_R = "tests/controller/test_reservation.py::"
_F = "tests/controller/test_firmware_logs.py::"
_I = "tests/controller/test_iso15118_smart_charging.py::"
_W = "tests/controller/test_ws_management.py::"
_P = "tests/station/test_pnc_trust.py::"
_SE = "tests/controller/test_security.py::"
_X = "tests/station/test_external_csms.py::"
_WS = "tests/controller/test_ws_security.py::"
_CL = "tests/controller/test_ws_clock_sync.py::"

# =========================================================================================
# Management use cases (branch ocppm)
# =========================================================================================
MANAGEMENT_USE_CASES: tuple[UseCase, ...] = (
    # ---- B Provisioning
    UseCase("B01", "Cold Boot Charging Station", CORE, Y,
            (_U + "test_b01_cold_boot_accepted_then_status_and_heartbeat",
             _CL + "test_b01_g02_csms_current_time_becomes_the_timestamps_of_the_next_messages",
             _CL + "test_b01_g02_malformed_current_time_is_ignored_with_a_warning"),
            "currentTime sets the controller's wall clock (a step beyond 2 s, with a "
            "SettingSystemTime security event); a malformed one is logged and ignored"),
    UseCase("B02", "Cold Boot Charging Station - Pending", CORE, Y,
            (_U + "test_b02_b03_boot_pending_or_rejected_is_retried_and_nothing_else_sent",)),
    UseCase("B03", "Cold Boot Charging Station - Rejected", CORE, Y,
            (_U + "test_b02_b03_boot_pending_or_rejected_is_retried_and_nothing_else_sent",)),
    UseCase("B04", "Offline Behavior Idle Charging Station", CORE, Y,
            (_Q + "test_station_that_never_reached_the_csms_boots_first_then_replays",
             _UC + "test_b04_status_after_reconnect_follows_the_offline_threshold"),
            "OCPPCommCtrlr.OfflineThreshold (default 0 s: every status again after any "
            "outage)"),
    UseCase("B05", "Set Variables", CORE, Y, (_C + "test_get_and_set_variables_201",)),
    UseCase("B06", "Get Variables", CORE, Y, (_C + "test_get_and_set_variables_201",)),
    UseCase("B07", "Get Base Report", CORE, Y,
            (_C + "test_201_get_base_report_sends_the_device_model",
             _UC + "test_b07_summary_inventory_reports_availability_and_problems",
             _UC + "test_b07_full_inventory_is_paged_with_tbc_and_seq_no"),
            "NotifyReport in pages of 20 rows; no monitoring (supportsMonitoring false)"),
    UseCase("B08", "Get Custom Report", CORE, Y,
            (_UC + "test_b08_get_report_by_component_and_variable",
             _UC + "test_b08_get_report_by_component_criteria",
             _WU + "test_b08_e14_p01_k12_over_a_real_websocket"),
            "criteria over the reported variables (no Active variable anywhere: Active "
            "matches nothing)"),
    UseCase("B11", "Reset - Without Ongoing Transaction", CORE, Y,
            (_U + "test_b11_reset_idle_requests_a_restart_from_the_service_manager",
             _U + "test_b11_the_restarted_process_boots_with_reason_remote_reset")),
    UseCase("B12", "Reset - With Ongoing Transaction", CORE, Y,
            (_U + "test_b12_reset_on_idle_restarts_after_the_transaction_ended",
             _U + "test_b12_reset_immediate_stops_the_transaction_then_restarts",
             _U + "test_b12_reset_immediate_offline_restarts_without_waiting_for_the_csms"),
            "restart = the service manager hook (evse.io.host_services); the process is "
            "not restarted in tests"),
    # ---- C Authorization
    UseCase("C01", "EV Driver Authorization using RFID", CORE, Y,
            (_S + "test_rfid_session_online",)),
    UseCase("C02", "Authorization using a start button", CORE, N,
            note="no start button on this charger"),
    UseCase("C03", "Authorization using credit/debit card", CORE, N,
            note="no payment terminal"),
    UseCase("C04", "Authorization using PIN-code", CORE, N, note="no keypad"),
    UseCase("C05", "Authorization for CSMS initiated transactions", CORE, Y,
            (_S + "test_remote_start_with_authorize_remote_tx_requests_asks_the_csms",)),
    UseCase("C06", "Authorization using local id type", CORE, P,
            (_S + "test_autocharge_by_evccid",),
            "MacAddress tokens (AutoCharge) only"),
    UseCase("C09", "Authorization by GroupId", CORE, Y,
            (_UC + "test_c09_a_token_of_the_same_group_from_the_csms_stops_the_transaction",
             _UC + "test_c09_the_group_from_the_local_list_stops_offline"),
            "groupIdToken from the AuthorizeResponse, the local list or the cache; the "
            "group decides, not the stopping token's status"),
    UseCase("C10", "Store Authorization Data in the Authorization Cache", CORE, Y,
            (_S + "test_cached_token_authorizes_offline_and_cache_can_be_cleared",)),
    UseCase("C11", "Clear Authorization Data in Authorization Cache", CORE, Y,
            (_S + "test_cached_token_authorizes_offline_and_cache_can_be_cleared",)),
    UseCase("C12", "Start Transaction - Cached Id", CORE, Y,
            (_S + "test_cached_token_authorizes_offline_and_cache_can_be_cleared",)),
    UseCase("C15", "Offline Authorization of unknown Id", CORE, Y,
            (_S + "test_unknown_token_offline_follows_allow_offline_tx_for_unknown_id",)),
    UseCase("C16", "Stop Transaction with a Master Pass", CORE, Y,
            (_UC + "test_c16_master_pass_stops_any_transaction_but_starts_none",),
            "one EVSE: no UI to pick the transaction to stop"),
    # ---- D LocalAuthorizationList Management
    UseCase("D01", "Send Local Authorization List", LAL, Y,
            (_U + "test_d01_d02_send_local_list_full_and_differential_and_version",)),
    UseCase("D02", "Get Local List Version", LAL, Y,
            (_U + "test_d01_d02_send_local_list_full_and_differential_and_version",)),
    UseCase("C13", "Offline Authorization through Local Authorization List", LAL, Y,
            (_S + "test_local_list_authorizes_offline",)),
    UseCase("C14", "Online Authorization through Local Authorization List", LAL, Y,
            (_UC + "test_c14_local_pre_authorize_starts_from_the_local_list_without_asking",)),
    # ---- E Transactions
    UseCase("E01", "Start Transaction options", CORE, Y,
            (_S + "test_rfid_session_online",
             _TP + "test_ev_connected_start_and_stop_points_span_the_plug_in",
             _TP + "test_authorized_start_and_stop_points_from_set_variables",
             _TP + "test_power_path_closed_start_and_stop_points",
             _TP + "test_default_energy_transfer_points_and_a_session_that_never_charges",
             _TP + "test_tx_points_config_and_unsupported_values",
             _TP + "test_E01_G03_no_transaction_starts_while_the_connector_is_unavailable",
             _TP + "test_E01_G04_no_transaction_starts_while_the_connector_is_faulted",
             _TP + "test_J02_E01_periodic_samples_run_from_the_transaction_start_not_the_"
                   "energy",
             _X + "test_E01_E06_ev_connected_points_through_the_whole_station_over_websocket"),
            "TxStartPoint EVConnected, Authorized, PowerPathClosed (cable check), "
            "EnergyTransfer (default), from the config, SetVariables or `evse sim "
            "--tx-start-point`; each run against the independent strict CSMS (schema-clean); "
            "an Unavailable or Faulted connector starts none; ParkingBayOccupancy and "
            "DataSigned are refused (no bay sensor, no signed meter)"),
    UseCase("E02", "Start Transaction - Cable Plugin First", CORE, Y,
            (_S + "test_rfid_session_online",
             _U + "test_suspended_ev_and_suspended_evse_from_the_contract_signals",
             _U + "test_suspended_evse_by_a_charging_profile_of_zero_201"),
            "chargingState Charging / SuspendedEV / SuspendedEVSE from the PLC signals"),
    UseCase("E03", "Start Transaction - IdToken First", CORE, Y,
            (_S + "test_remote_start_before_plug_in",)),
    UseCase("E04", "Transaction started while Charging Station is offline", CORE, Y,
            (_Q + "test_csms_down_for_the_whole_session_gets_every_message_once_in_order",)),
    UseCase("E05", "Start Transaction - Id not Accepted", CORE, Y,
            (_U + "test_e05_token_not_accepted_by_the_transaction_event_deauthorizes",)),
    UseCase("E06", "Stop Transaction options", CORE, Y,
            (_S + "test_unplug_during_charging_ends_with_ev_disconnected",
             _TP + "test_ev_connected_start_and_stop_points_span_the_plug_in",
             _TP + "test_authorized_start_and_stop_points_from_set_variables",
             _TP + "test_power_path_closed_start_and_stop_points",
             _TP + "test_tx_points_config_and_unsupported_values",
             _X + "test_E01_E06_ev_connected_points_through_the_whole_station_over_websocket"),
            "TxStopPoint EVConnected, Authorized, PowerPathClosed, EnergyTransfer "
            "(default); an unplug ends any transaction (StopTxOnEVSideDisconnect true)"),
    UseCase("E07", "Transaction locally stopped by IdToken", CORE, Y,
            (_S + "test_same_token_during_charging_stops_with_reason_local",)),
    UseCase("E08", "Transaction stopped while Charging Station is offline", CORE, Y,
            (_Q + "test_csms_down_for_the_whole_session_gets_every_message_once_in_order",)),
    UseCase("E09", "When cable disconnected on EV-side: Stop Transaction", CORE, Y,
            (_S + "test_unplug_during_charging_ends_with_ev_disconnected",)),
    UseCase("E10", "When cable disconnected on EV-side: Suspend Transaction", CORE, N,
            note="a DC cable is fixed to the charger; StopTxOnEVSideDisconnect is true"),
    UseCase("E11", "Connection Loss During Transaction", CORE, Y,
            (_Q + "test_connection_drop_mid_replay_resends_with_the_same_message_id",)),
    UseCase("E12", "Inform CSMS of an Offline Occurred Transaction", CORE, Y,
            (_Q + "test_csms_down_for_the_whole_session_gets_every_message_once_in_order",)),
    UseCase("E13", "Transaction-related message not accepted by CSMS", CORE, Y,
            (_Q + "test_csms_call_error_on_a_transaction_message_is_retried_then_dropped",)),
    UseCase("E14", "Check transaction status", CORE, Y,
            (_UC + "test_e14_get_transaction_status_ongoing_and_messages_in_queue",
             _WU + "test_b08_e14_p01_k12_over_a_real_websocket")),
    UseCase("E15", "End of charging process", CORE, Y,
            (_UC + "test_e15_end_of_charging_reports_ev_connected_then_available_at_unplug",),
            "TxStopPoint EnergyTransfer: the Ended event itself carries EVConnected"),
    # ---- F RemoteControl
    UseCase("F01", "Remote Start Transaction - Cable Plugin First", CORE, Y,
            (_S + "test_remote_start_after_plug_in_while_the_ev_waits",)),
    UseCase("F02", "Remote Start Transaction - Remote Start First", CORE, Y,
            (_S + "test_remote_start_before_plug_in",)),
    UseCase("F03", "Remote Stop Transaction", CORE, Y,
            (_S + "test_remote_stop_ends_the_transaction_with_reason_remote",)),
    UseCase("F05", "Remotely Unlock Connector", CORE, P, (_C + "test_reset_unlock_trigger_201",),
            "OngoingAuthorizedTransaction only; no lock actuator feedback"),
    UseCase("F06", "Trigger Message", CORE, P,
            (_C + "test_reset_unlock_trigger_201",
             _U + "test_f06_trigger_message_boot_notification_says_triggered",
             _UC + "test_f06_trigger_message_meter_values_sends_meter_values_idle_and_charging",
             _U + "test_f06_trigger_message_for_an_unknown_evse_is_rejected",
             _WU + "test_f06_trigger_status_notification_without_evse_reports_every_connector"),
            "every MessageTrigger but SignCombinedCertificate and "
            "PublishFirmwareStatusNotification (NotImplemented); an unknown evse is Rejected "
            "(UnknownEvse) for the EVSE messages, ignored for the others (F06.FR.02); "
            "BootNotification only while not registered (F06.FR.17); StatusNotification "
            "without an evse: every connector (this station has one)"),
    # ---- G Availability
    UseCase("G01", "Status Notification", CORE, Y, (_S + "test_rfid_session_online",)),
    UseCase("G02", "Heartbeat", CORE, Y,
            (_U + "test_b01_cold_boot_accepted_then_status_and_heartbeat",
             _CL + "test_b01_g02_csms_current_time_becomes_the_timestamps_of_the_next_messages",
             _CL + "test_b01_g02_malformed_current_time_is_ignored_with_a_warning",
             _R + "test_g02_h04_a_clock_step_moves_the_reservation_expiry",
             _UC + "test_g02_j01_a_clock_step_moves_the_aligned_samples_to_the_csms_boundaries",
             _F + "test_16_update_firmware_retrieve_date_follows_a_clock_step"),
            "currentTime sets the controller's wall clock, as in B01; what is due at a "
            "wall-clock moment (reservation expiry, clock-aligned samples, a firmware "
            "retrieveDateTime) is re-armed on the new clock"),
    UseCase("G03", "Change Availability EVSE/Connector", CORE, Y,
            (_U + "test_g03_g04_change_availability_idle_and_scheduled",
             _TP + "test_E01_G03_no_transaction_starts_while_the_connector_is_unavailable")),
    UseCase("G04", "Change Availability Charging Station", CORE, Y,
            (_U + "test_g03_g04_change_availability_idle_and_scheduled",
             _TP + "test_E01_G04_no_transaction_starts_while_the_connector_is_faulted")),
    UseCase("G05", "Lock Failure", CORE, N, note="no connector lock feedback from the PLC"),
    # ---- J MeterValues
    UseCase("J01", "Sending Meter Values not related to a transaction", CORE, Y,
            (_UC + "test_j01_clock_aligned_meter_values_outside_a_transaction",
             _UC + "test_j01_nothing_is_sent_without_a_meter_reading",
             _UC + "test_g02_j01_a_clock_step_moves_the_aligned_samples_to_the_csms_boundaries"),
            "AlignedDataCtrlr.Interval on the CSMS's clock (B01/G02); the EVSE's meter (no "
            "main meter, evseId 0)"),
    UseCase("J02", "Sending transaction related Meter Values", CORE, Y,
            (_S + "test_rfid_session_online",
             _TP + "test_J02_E01_periodic_samples_run_from_the_transaction_start_not_the_"
                   "energy",
             _TP + "test_J02_authorized_start_point_samples_before_the_car_charges",
             _TP + "test_J02_16_meter_values_follow_the_sample_interval_from_start_"
                   "transaction",
             _TP + "test_J02_a_new_tx_updated_interval_applies_to_the_running_transaction"),
            "SampledDataCtrlr.TxUpdatedInterval from the transaction's start (an earlier "
            "TxStartPoint too, chargingState EVConnected before the energy); no "
            "TxEndedInterval samples"),
    # ---- L FirmwareManagement
    UseCase("L01", "Secure Firmware Update", CORE, Y,
            (_F + "test_l01_secure_firmware_update_downloads_verifies_installs_restarts",
             _F + "test_l01_bad_signature_is_refused_with_invalid_signature",
             _F + "test_l01_install_waits_for_the_running_transaction_to_end",
             _F + "test_l01_download_failure_is_retried_then_reported",
             _F + "test_l01_a_new_update_during_a_job_cancels_it_with_accepted_canceled",
             _F + "test_l01_signing_certificate_not_trusted_is_refused_with_invalid_certificate",
             _F + "test_l01_a_refused_certificate_leaves_the_scheduled_job_running",
             _F + "test_l01_invalid_signature_is_a_security_event"),
            "signing certificate checked against the installed ManufacturerRootCertificates; "
            "no revocation check (RevokedCertificate never answered); "
            "no install at installDateTime"),
    UseCase("L02", "Non-Secure Firmware Update", CORE, N,
            note="2.0.1 UpdateFirmware always carries a signing certificate here"),
    # ---- N Diagnostics
    UseCase("N01", "Retrieve Log Information", CORE, Y,
            (_F + "test_n01_get_log_uploads_to_the_http_server_with_status_notifications",
             _F + "test_n01_get_log_to_an_unsupported_location_reports_upload_failure"),
            "HTTP(S) PUT only; retries not honoured"),
    UseCase("N07", "Alert Event", CORE, P,
            (_C + "test_201_fault_is_reported_with_notify_event_and_cleared",),
            "hard-wired fault events only; no monitors"),
    # ---- P DataTransfer
    UseCase("P01", "Data Transfer to the Charging Station", CORE, Y,
            (_UC + "test_p01_data_transfer_from_the_csms_unknown_vendor_message_and_registered",
             _UC + "test_p01_data_transfer_16_answers_from_the_same_registry_with_string_data",
             _WU + "test_b08_e14_p01_k12_over_a_real_websocket"),
            "vendor messages through Controller.data_transfer_handlers; none registered "
            "by default"),
    UseCase("P02", "Data Transfer to the CSMS", CORE, Y,
            (_UC + "test_p02_data_transfer_to_the_csms_with_its_answer",),
            "Controller.data_transfer (the API; no station module sends one yet)"),
    # ---- K SmartCharging
    UseCase("K01", "SetChargingProfile", SC, Y, (_K + "test_201_set_profile_and_composite",)),
    UseCase("K02", "Central Smart Charging", SC, Y, (_K + "test_201_set_profile_and_composite",)),
    UseCase("K03", "Local Smart Charging", SC, N, note="no local controller"),
    UseCase("K04", "Internal Load Balancing", SC, N, note="one EVSE"),
    UseCase("K05", "Remote Start Transaction with Charging Profile", SC, Y,
            (_UC + "test_k05_remote_start_with_a_tx_profile_limits_that_transaction_only",)),
    UseCase("K06", "Offline Behavior Smart Charging During Transaction", SC, Y,
            (_UC + "test_k06_the_profile_in_force_keeps_applying_offline",)),
    UseCase("K07", "Offline Behavior Smart Charging at Start of Transaction", SC, Y,
            (_UC + "test_k07_offline_start_uses_the_stored_profiles_from_the_transaction_start",
             _UC + "test_k07_the_stored_profiles_survive_a_restart_and_apply_to_an_offline_"
                   "start",
             _K + "test_external_limits_survive_a_restart_and_a_restated_limit_costs_no_"
                  "store_write"),
            "the CSMS's profiles and the external limits are kept in the store (TxProfiles "
            "are not)"),
    UseCase("K08", "Get Composite Schedule", SC, Y, (_K + "test_201_set_profile_and_composite",)),
    UseCase("K09", "Get Charging Profiles", SC, Y,
            (_K + "test_k09_get_charging_profiles_reports_the_installed_profiles_by_criteria",)),
    UseCase("K10", "Clear Charging Profile", SC, Y,
            (_K + "test_k10_clear_charging_profile_by_id_criteria_and_evse_201",)),
    UseCase("K11", "Set / Update External Charging Limit With Ongoing Transaction", SC, Y,
            (_K + "test_k11_external_limit_in_a_transaction_changes_the_rate_and_renegotiates",
             _UC + "test_k11_limit_change_significance_reports_only_changes_at_least_that_large",
             _EMS + "test_ems_sim_step_is_notified_to_the_csms_and_the_cars_current_drops",
             _EMS + "test_ems_udp_json_datagram_limits_the_charge_and_bad_ones_are_refused",
             _EMS + "test_ems_failsafe_timeout_applies_the_failsafe_limit_when_the_ems_goes_"
                    "silent",
             _EMS + "test_ems_udp_json_and_its_failsafe_reach_the_csms_through_the_evse_run_"
                    "thread"),
            "the station's `ems:` input (sim steps or udp_json datagrams) feeds it; a silent "
            "udp_json EMS gets the fail-safe limit after ems.failsafe_timeout_s (EEBus LPC "
            "failsafe state), released after ems.failsafe_duration_min_s of further silence "
            "(LPC Failsafe Duration Minimum); SmartChargingCtrlr.LimitChangeSignificance "
            "bounds the reports"),
    UseCase("K12", "Set / Update External Charging Limit Without Ongoing Transaction", SC, Y,
            (_K + "test_k12_external_limit_without_transaction_is_notified_and_caps_the_limits",
             _K + "test_k12_k13_limits_set_and_released_offline_reach_the_csms_after_reconnect",
             _WU + "test_b08_e14_p01_k12_over_a_real_websocket"),
            "NotifyChargingLimit always carries the schedule; an unchanged limit is not "
            "notified again"),
    UseCase("K13", "Reset / Release External Charging Limit", SC, Y,
            (_K + "test_k13_release_sends_cleared_charging_limit_and_restores_the_rate",
             _K + "test_k12_k13_limits_set_and_released_offline_reach_the_csms_after_reconnect",
             _EMS + "test_ems_sim_step_is_notified_to_the_csms_and_the_cars_current_drops",
             _EMS + "test_K13_ems_failsafe_duration_min_releases_a_failsafe_the_ems_never_ends"),
            "released by a null limit from the `ems:` input, and a silent EMS's fail-safe "
            "limit after ems.failsafe_duration_min_s (EEBus LPC-922)"),
    UseCase("K15", "Charging with load leveling based on High Level Communication", ISO, P,
            (_K + "test_k15_the_cars_charging_needs_go_to_the_csms_once_and_its_profile_applies",
             _I + "test_k15_k16_station_reports_the_cars_needs_and_renegotiates_a_csms_profile",
             _K + "test_k15_the_cars_charging_profile_goes_to_the_csms_as_notify_ev_charging_"
                  "schedule",
             "tests/runtime/test_ems_input.py::test_the_cars_charging_profile_reaches_the_csms_"
             "from_a_whole_station_session"),
            "NotifyEVChargingNeeds from plc.ev_limits; the car is not held in "
            "ChargeParameterDiscovery for the CSMS's profile (the contract cannot); with "
            "TxStartPoint EnergyTransfer the CSMS can answer with a TxDefaultProfile only "
            "(an earlier start point allows a TxProfile); NotifyEVChargingSchedule from the "
            "car's PowerDeliveryReq ChargingProfile (contract plc.ev_charging_profile, 1.2)"),
    UseCase("K16", "Renegotiation initiated by CSMS", ISO, Y,
            (_K + "test_k16_k17_renegotiation_from_the_csms_and_from_the_car",
             _I + "test_k15_k16_station_reports_the_cars_needs_and_renegotiates_a_csms_profile",
             _I + "test_K16_the_cars_plan_after_a_csms_renegotiation_is_notified_again"),
            "the renegotiate request is ScheduleCmd.renegotiate (not a contract field: the PLC "
            "renegotiates on a new ctrl.schedule); the car's new PowerDeliveryReq "
            "ChargingProfile goes out as NotifyEVChargingSchedule again"),
    UseCase("K17", "Renegotiation initiated by EV", ISO, P,
            (_K + "test_k16_k17_renegotiation_from_the_csms_and_from_the_car",
             _I + "test_K17_the_cars_plan_after_its_own_renegotiation_is_notified_again"),
            "new needs are reported again; plc.ev_limits does not say it came from a new "
            "ChargeParameterDiscovery, so a renegotiation with the same needs is not; the "
            "car's new PowerDeliveryReq ChargingProfile goes out as NotifyEVChargingSchedule "
            "again"),
    # ---- H Reservation
    UseCase("H01", "Reservation", RES, Y,
            (_R + "test_h01_reserve_now_reserves_the_evse_and_refuses_other_tokens",
             _R + "test_h01_reserve_now_refused_while_occupied_faulted_or_unavailable",
             _R + "test_h01_a_fault_removes_the_reservation_201",
             _R + "test_h01_change_availability_inoperative_ends_the_reservation",
             _W + "test_h01_h02_reserve_and_cancel_over_a_real_websocket",
             _R + "test_h01_a_reservation_survives_a_restart",
             _R + "test_h01_a_reservation_that_expired_while_the_station_was_down_is_dropped",
             _WU + "test_h01_reserved_evse_with_tx_start_point_ev_connected"),
            "kept in the store across a restart; one that expired while the station was "
            "down is dropped without its ReservationStatusUpdate; under TxStartPoint "
            "EVConnected the transaction opens at the plug-in and the reserved token's "
            "Updated Authorized event carries the reservationId"),
    UseCase("H02", "Cancel Reservation", RES, Y,
            (_R + "test_h02_cancel_reservation_makes_the_evse_available",
             _W + "test_h01_h02_reserve_and_cancel_over_a_real_websocket")),
    UseCase("H03", "Use a reserved EVSE", RES, Y,
            (_R + "test_h03_the_reserved_token_charges_with_the_reservation_id",
             _R + "test_h03_another_driver_plugging_in_is_refused",
             _R + "test_h03_remote_start_for_the_reserved_token_uses_the_reservation")),
    UseCase("H04", "Reservation Ended, not used", RES, Y,
            (_R + "test_h04_expiry_ends_the_reservation_with_reservation_status_update",
             _R + "test_g02_h04_a_clock_step_moves_the_reservation_expiry"),
            "the expiry is on the CSMS's clock (B01/G02)"),
    # ---- ISO 15118 support (non-security part)
    UseCase("C07", "Authorization using Contract Certificates", ISO, Y,
            (_S + "test_plug_and_charge_session",
             _T + "test_c07_online_unknown_root_goes_to_the_csms_with_the_certificate",
             _S + "test_a_contract_in_a_session_authorized_by_eim_is_answered_accepted",
             _S + "test_a_contract_while_the_card_is_checked_gets_the_cards_verdict_or_its_"
                  "own"),
            "a contract in a session authorized already (EIM, remote start) is answered "
            "ACCEPTED; one that arrives while a card is checked gets the card's verdict, or "
            "is checked itself after a refused card"),
    UseCase("C08", "Authorization at EVSE using ISO 15118 External Identification Means (EIM)",
            ISO, Y, (_S + "test_rfid_session_online",)),
    UseCase("F04", "Remote Stop ISO 15118 charging from CSMS", ISO, P,
            (_S + "test_remote_stop_ends_the_transaction_with_reason_remote",),
            "the stop reaches the PLC as STOP_GRACEFUL; the 15118 side is the SECC's"),
)

# =========================================================================================
# Security use cases (A, B09, M): security events, certificates, profiles, trust store
# =========================================================================================
SECURITY_USE_CASES: tuple[UseCase, ...] = (
    UseCase("A01", "Update Charging Station Password for HTTP Basic Authentication", SEC, Y,
            (_WS + "test_A01_password_rotation_reconnects_with_the_new_password",
             _WS + "test_A01_too_short_password_is_rejected_and_the_connection_stays"),
            "no fall-back to the old password (no rule found in the spec)"),
    UseCase("A02", "Update Charging Station Certificate by request of CSMS", SEC, Y,
            (_SE + "test_A02_trigger_sign_certificate_then_certificate_signed_is_stored",
             _SE + "test_A02_chain_not_from_the_installed_root_is_rejected",
             _SE + "test_A02_certificate_signed_without_a_pending_csr"
             "_or_for_another_key_is_rejected",
             _SE + "test_A02_no_certificate_signed_repeats_with_a_doubling_wait",
             _SE + "test_A02_the_pair_survives_a_restart_and_renewal_is_rearmed",
             _SE + "test_A02_v2g_leaf_signed_through_the_csms",
             _SE + "test_A02_a_just_signed_certificate_is_taken_despite_a_clock_a_second_behind",
             _WS + "test_A02_signed_client_certificate_is_used_for_profile_3",
             "tests/v2g/test_secc_tls_reload.py::"
             "test_A02_v2g_leaf_from_the_csms_is_presented_by_the_secc_tls_server")),
    UseCase("A03", "Update Charging Station Certificate initiated by the Charging Station",
            SEC, Y, (_SE + "test_A03_renewal_before_expiry_replaces_the_pair",
                     _SE + "test_A03_renewal_margin_is_configurable")),
    UseCase("A04", "Security Event Notification", SEC, P,
            (_SE + "test_A04_startup_event_is_queued_offline_and_sent_once_online",
             _SE + "test_A04_critical_event_raised_offline_survives_a_restart",
             _SE + "test_A04_reset_raises_reset_or_reboot",
             _SE + "test_A04_invalid_message_is_logged_not_sent",
             _SE + "test_A04_clearing_the_security_log_is_reported",
             _SE + "test_A04_every_event_type_via_the_public_api_in_each_dialect",
             _SE + "test_A04_tech_info_never_carries_a_secret",
             _SE + "test_A04_a_csms_without_security_events_does_not_hold_the_queue",
             _WS + "test_A04_wrong_password_and_untrusted_csms_certificate_are_security_events",
             _CL + "test_b01_g02_csms_current_time_becomes_the_timestamps_of_the_next_messages"),
            "every event type can be raised; SettingSystemTime is raised when the CSMS's "
            "currentTime steps the controller's wall clock (B01/G02; the host's NTP still "
            "sets the OS clock); MemoryExhaustion, "
            "FirmwareUpdated, replay and tamper events have no detector yet (the invalid "
            "firmware signature / signing certificate ones do, L01); the security log is in "
            "memory"),
    UseCase("A05", "Upgrade Charging Station Security Profile", SEC, Y,
            (_WS + "test_A05_B09_upgrade_1_to_2_with_set_network_profile",
             _WS + "test_whitepaper_16_security_profile_key_upgrades_to_wss_and_never_down")),
    UseCase("B09", "Setting a new NetworkConnectionProfile", SEC, P,
            (_WS + "test_A05_B09_upgrade_1_to_2_with_set_network_profile",),
            "one slot, used at once by reconnecting; no NetworkConfigurationPriority"),
    # M01-M06 were done on main before this registry (trust store, issue 15 item 3); their
    # rows cite the tests that exist. The security branch owns them from here.
    UseCase("M01", "Certificate installation EV", ISO, P,
            (_C + "test_get_15118_ev_certificate_is_relayed_201_and_16",),
            "relayed to the CSMS; no 15118 schema check of the EXI"),
    UseCase("M02", "Certificate Update EV", ISO, P,
            (_C + "test_get_15118_ev_certificate_is_relayed_201_and_16",),
            "same relay as M01 (action Update)"),
    UseCase("M03", "Retrieve list of available certificates from a Charging Station", ISO, Y,
            (_T + "test_m05_m03_m04_install_list_delete_a_root_over_ocpp",)),
    UseCase("M04", "Delete a specific certificate from a Charging Station", ISO, Y,
            (_T + "test_m05_m03_m04_install_list_delete_a_root_over_ocpp",)),
    UseCase("M05", "Install CA certificate in a Charging Station", ISO, Y,
            (_T + "test_m05_m03_m04_install_list_delete_a_root_over_ocpp",
             _T + "test_m05_a_leaf_or_garbage_is_not_installed_as_a_root",
             _T + "test_m05_oem_root_over_16_data_transfer_is_kept_but_anchors_no_contract",
             _P + "test_m05_expired_contract_reaches_the_car_as_failed_certificate_expired")),
    UseCase("M06", "Get Charging Station Certificate status", ISO, Y,
            (_T + "test_m06_offline_pnc_with_a_cached_ocsp_good_status_charges",
             _T + "test_m06_offline_pnc_revoked_contract_cached_is_refused_with_"
                  "certificate_revoked",
             _T + "test_m06_offline_pnc_cached_status_past_its_next_update_is_not_used",
             _T + "test_m06_a_forged_ocsp_answer_is_not_cached",
             _T + "test_m06_ocsp_cache_persists_with_its_next_update",
             _P + "test_m06_revoked_contract_cached_online_is_refused_offline_after_a_reboot",
             _P + "test_m06_valid_contract_with_a_cached_good_status_charges_offline_"
                  "after_a_reboot"),
            "GetCertificateStatus (OCSP) for contract chains, cached"),
)

USE_CASES: tuple[UseCase, ...] = MANAGEMENT_USE_CASES + SECURITY_USE_CASES


# =========================================================================================
# OCPP 1.6J feature profiles (OCPP 1.6 edition 2 §3.2 table "Feature Profiles"): each
# message, who sends it, and the tests that show it. A CSMS->CP message counts only if the
# 1.6 dialect has its handler (checked by introspection). The 1.6 Security whitepaper's
# messages belong to the security work (branch ocpps) and are not listed here.
# =========================================================================================
@dataclass(frozen=True, slots=True)
class Message16:
    profile: str
    action: str
    #: True: the CSMS calls the charger (needs Ocpp16.on_<action>); False: the charger sends.
    incoming: bool
    tests: tuple[str, ...] = ()
    note: str = ""


_SC16 = "tests/controller/test_smart_charging.py::"
_IN, _OUT = True, False
MESSAGES_16: tuple[Message16, ...] = (
    Message16("Core", "Authorize", _OUT, (_S + "test_rfid_session_online",)),
    Message16("Core", "BootNotification", _OUT,
              (_C + "test_boot_pending_is_retried_after_its_interval_and_nothing_else_is_sent",
               _CL + "test_b01_g02_csms_current_time_becomes_the_timestamps_of_the_next_messages"),
              "currentTime sets the wall clock (§4.2)"),
    Message16("Core", "ChangeAvailability", _IN,
              (_C + "test_change_availability_idle_and_scheduled",)),
    Message16("Core", "ChangeConfiguration", _IN, (_C + "test_get_and_change_configuration",)),
    Message16("Core", "ClearCache", _IN,
              (_S + "test_cached_token_authorizes_offline_and_cache_can_be_cleared",)),
    Message16("Core", "DataTransfer", _IN,
              (_T + "test_m05_m03_m04_install_list_delete_a_root_over_ocpp",),
              "the OCA Plug & Charge whitepaper's vendorId only"),
    Message16("Core", "DataTransfer", _OUT, (_S + "test_plug_and_charge_session",),
              "Plug & Charge Authorize / GetCertificateStatus / Get15118EVCertificate"),
    Message16("Core", "GetConfiguration", _IN, (_C + "test_get_and_change_configuration",)),
    Message16("Core", "Heartbeat", _OUT,
              (_C + "test_heartbeat_follows_the_boot_interval",
               _CL + "test_b01_g02_csms_current_time_becomes_the_timestamps_of_the_next_messages"),
              "currentTime sets the wall clock"),
    Message16("Core", "MeterValues", _OUT, (_S + "test_rfid_session_online",)),
    Message16("Core", "RemoteStartTransaction", _IN, (_S + "test_remote_start_before_plug_in",)),
    Message16("Core", "RemoteStopTransaction", _IN,
              (_S + "test_remote_stop_ends_the_transaction_with_reason_remote",)),
    Message16("Core", "Reset", _IN,
              (_C + "test_reset_during_charging_stops_with_soft_reset",
               _U + "test_16_reset_soft_restarts_after_stop_transaction")),
    Message16("Core", "StartTransaction", _OUT, (_S + "test_rfid_session_online",)),
    Message16("Core", "StatusNotification", _OUT,
              (_S + "test_rfid_session_online",
               _U + "test_suspended_ev_and_suspended_evse_from_the_contract_signals"),
              "incl. Reserved, SuspendedEV, SuspendedEVSE"),
    Message16("Core", "StopTransaction", _OUT, (_S + "test_rfid_session_online",)),
    Message16("Core", "UnlockConnector", _IN,
              (_C + "test_unlock_connector_during_charging_stops_with_unlock_command",)),
    Message16("Firmware Management", "GetDiagnostics", _IN,
              (_F + "test_16_get_diagnostics_uploads_with_diagnostics_status",),
              "HTTP(S) PUT; ftp:// ends UploadFailed"),
    Message16("Firmware Management", "DiagnosticsStatusNotification", _OUT,
              (_F + "test_16_get_diagnostics_uploads_with_diagnostics_status",)),
    Message16("Firmware Management", "UpdateFirmware", _IN,
              (_F + "test_16_update_firmware_downloads_installs_and_restarts",
               _F + "test_16_update_firmware_waits_for_its_retrieve_date"),
              "unsigned (1.6 core); signed firmware is the security whitepaper's"),
    Message16("Firmware Management", "FirmwareStatusNotification", _OUT,
              (_F + "test_16_update_firmware_downloads_installs_and_restarts",)),
    Message16("Local Auth List Management", "GetLocalListVersion", _IN,
              (_C + "test_local_list_versions_and_differential_updates",)),
    Message16("Local Auth List Management", "SendLocalList", _IN,
              (_C + "test_local_list_versions_and_differential_updates",)),
    Message16("Reservation", "ReserveNow", _IN,
              (_R + "test_h01_reserve_now_reserves_the_evse_and_refuses_other_tokens",
               _R + "test_h04_expiry_ends_the_reservation_with_reservation_status_update",
               _W + "test_h01_h02_reserve_and_cancel_over_a_real_websocket"),
              "connector 0 Rejected (ReserveConnectorZeroSupported false); parentIdTag kept, "
              "not matched"),
    Message16("Reservation", "CancelReservation", _IN,
              (_R + "test_h02_cancel_reservation_makes_the_evse_available",)),
    Message16("Smart Charging", "SetChargingProfile", _IN,
              (_SC16 + "test_tx_default_profile_limits_power_and_schedule",)),
    Message16("Smart Charging", "ClearChargingProfile", _IN,
              (_SC16 + "test_clear_charging_profile_by_purpose_and_unknown",
               _SC16 + "test_clear_charging_profile_16_by_id_connector_and_stack_level")),
    Message16("Smart Charging", "GetCompositeSchedule", _IN,
              (_SC16 + "test_composite_in_amps_converts_power_at_nominal_voltage",)),
    Message16("Remote Trigger", "TriggerMessage", _IN,
              (_C + "test_trigger_message_sends_what_was_asked",
               _C + "test_trigger_message_for_an_unknown_connector_is_rejected_16",
               _C + "test_trigger_diagnostics_and_firmware_status_send_the_current_status")),
)

_ID = re.compile(r"^[A-P]\d{2}$")
_NAMED = re.compile(r"def (test_((?:[a-p]\d{2}_)+)\w*)\(")


def check(root: Path = ROOT) -> list[str]:
    """Everything wrong with the registry, as messages (empty = consistent)."""
    problems: list[str] = []
    ids = [u.id for u in USE_CASES]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{dup}: listed twice")
    listed: dict[str, set[str]] = {}
    for u in USE_CASES:
        if not _ID.match(u.id):
            problems.append(f"{u.id}: not a use-case ID")
        if u.status is not Status.NO and not u.tests:
            problems.append(f"{u.id}: {u.status.value} without a test that proves it")
        if u.status is Status.NO and u.tests:
            problems.append(f"{u.id}: tests listed for a use case marked not implemented")
        for ref in u.tests:
            path, _, name = ref.partition("::")
            f = root / path
            if not f.is_file() or not re.search(rf"def {re.escape(name)}\(", f.read_text()):
                problems.append(f"{u.id}: test {ref} does not exist")
            listed.setdefault(ref, set()).add(u.id)
    problems += _check_16(root)
    # a test named after use cases must be listed under each of them
    for f in sorted((root / "tests").rglob("test_*.py")):
        rel = f.relative_to(root).as_posix()
        for m in _NAMED.finditer(f.read_text()):
            ref = f"{rel}::{m.group(1)}"
            for uc in m.group(2).rstrip("_").split("_"):
                if uc.upper() in ids and uc.upper() not in listed.get(ref, set()):
                    problems.append(f"{uc.upper()}: {ref} is named after it but not listed")
    return problems


def _check_16(root: Path) -> list[str]:
    from evse.controller.ocpp16 import Ocpp16

    problems = []
    for m in MESSAGES_16:
        if not m.tests:
            problems.append(f"1.6 {m.action}: no test")
        if m.incoming and not hasattr(Ocpp16, f"on_{m.action}"):
            problems.append(f"1.6 {m.action}: listed but Ocpp16 has no on_{m.action}")
        for ref in m.tests:
            path, _, name = ref.partition("::")
            f = root / path
            if not f.is_file() or not re.search(rf"def {re.escape(name)}\(", f.read_text()):
                problems.append(f"1.6 {m.action}: test {ref} does not exist")
    return problems


def render() -> str:
    """docs/ocpp.md: one table per certification profile."""
    lines = [
        "# OCPP 2.0.1 certification use cases",
        "",
        "<!-- generated by `python -m evse.controller.use_cases --write` from",
        "     evse/controller/use_cases.py; tests/controller/test_use_case_registry.py fails",
        "     when this file is stale. Do not edit by hand. -->",
        "",
        "Every use case of the six OCA certification profiles named in issue 15 (IDs and",
        "titles from OCPP 2.0.1 Part 2). *implemented* is `yes` only when a test proves it;",
        "`partial` says in the note what is missing. Tests run the real controller core",
        "against the project's CSMS simulator (`evse/csms_sim/`), which validates every",
        "frame against the OCPP JSON schemas.",
        "",
    ]
    total = {s: 0 for s in Status}
    for u in USE_CASES:
        total[u.status] += 1
    lines.append(f"Summary: {total[Status.YES]} yes, {total[Status.PARTIAL]} partial, "
                 f"{total[Status.NO]} no, of {len(USE_CASES)} use cases.")
    lines.append("")
    for profile in Profile:
        rows = sorted((u for u in USE_CASES if u.profile is profile), key=lambda u: u.id)
        lines += [f"## {profile.value}", "",
                  "| ID | use case | implemented | proven by | note |",
                  "|---|---|---|---|---|"]
        for u in rows:
            tests = "<br>".join(f"`{t.split('::')[1]}` ({t.split('::')[0].rsplit('/', 1)[-1]})"
                                for t in u.tests) or "-"
            lines.append(f"| {u.id} | {u.title} | {u.status.value} | {tests} | {u.note} |")
        lines.append("")
    lines += ["# OCPP 1.6J feature profiles", "",
              "Every message of the Core, Firmware Management, Local Auth List Management,",
              "Reservation, Smart Charging and Remote Trigger profiles (OCPP 1.6 §3.2), with",
              "the tests that show it; a CSMS call is listed only if the 1.6 dialect handles",
              "it. The Security and Plug & Charge whitepaper messages are not in this table.",
              "", "| profile | message | direction | shown by | note |", "|---|---|---|---|---|"]
    for m in MESSAGES_16:
        tests = "<br>".join(f"`{t.split('::')[1]}`" for t in m.tests)
        direction = "CSMS -> charger" if m.incoming else "charger -> CSMS"
        lines.append(f"| {m.profile} | {m.action} | {direction} | {tests} | {m.note} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--write", action="store_true", help="regenerate docs/ocpp.md")
    ap.add_argument("--check", action="store_true",
                    help="fail if the registry is inconsistent or docs/ocpp.md is stale")
    args = ap.parse_args(argv)
    problems = check()
    for p in problems:
        print(f"use_cases: {p}", file=sys.stderr)
    text = render()
    if args.write:
        DOC_PATH.write_text(text + "\n")
    elif args.check and (not DOC_PATH.is_file() or DOC_PATH.read_text() != text + "\n"):
        print("use_cases: docs/ocpp.md is stale (run with --write)", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
