"""`evse run --config FILE --iface IFACE`: the station on the real clock on a real interface.

The embedded station (`DcStation(car=False)`) with simulated power hardware, reached by an
external car over the network: SDP, V2GTP over TCP or TLS 1.2 (`V2gNetServer`) on the
interface's link-local address. Two link modes (issues 4 and 5):

- no modem (`plc.driver: none`, config/bench.yaml): the link is assumed up and the V2G
  server listens from the start;
- SLAC (`slac.enabled: true`, config/slac-bench.yaml): the station's SLAC core on an
  AF_PACKET socket on the interface (car and local modem on the same wire, as on the CM4);
  the V2G server starts on D-LINK_READY.

A car that speaks only SDP/TCP has no pilot wire, so the pilot is simulated for it: a car is
"plugged" (B, then 5 % PWM) when the station starts and again after every session (unplug,
then plug, so the guard and the controller see a new session), and the car's S2 follows its
V2G phase (C from CableCheck until PowerDelivery stop, B after) so the power path can close
the contactors. The simulated EV load behind the inlet takes the car's PreCharge target as
its battery voltage, so precharge and charging physics stay plausible for any car.

Admission (evse/secc/admission.py, in the server): only the connection whose first frame is
a supportedAppProtocolReq reaches the station; the simulated plug-in (5 % PWM on: the setup
timer then starts at the car's first SDP request or connection, there being no modem to
report its link) or, with SLAC, D-LINK_READY calls `server.link_up()`, and the owner's
SessionSetupRes `server.session_established()`. When the communication setup time [V2G2-716] passes
without a session the server goes silent (no SDP answer, no connection accepted); the
simulated cable is then pulled and plugged again, which is the "next plug-in" that opens
it again. Every closure and refusal is a `v2g` trace record with its reason.

Everything runs on one thread: `RealtimeRunner` waits on the server's selector (and the raw
socket); reader callbacks only read and post to the scheduler, the posted events reach the
station in the scheduler's order.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from drivers.board.sim import EvCpState, SimBoard
from drivers.homeplug.port import HomePlugPort, RawHomePlugSocket
from drivers.sim.loads import Battery as PlantBattery
from evse.fsm import Event
from evse.io.capture import CaptureConfig, CaptureError, PacketTap, SessionCaptures
from evse.io.host_services import HostServices
from evse.io.journal import (
    PRIORITY_NOTICE,
    JournalHandler,
    JournalSink,
    journal_wanted,
    trace_entry,
    trace_to_journal,
)
from evse.io.v2g_net import (
    CommunicationSetupExpired,
    ConnectionClosed,
    ConnectionOpened,
    ConnectionRefused,
    PayloadReceived,
    TlsServerCredentials,
    V2gNetConfig,
    V2gNetError,
    V2gNetEvent,
    V2gNetServer,
)
from evse.power.types import Phase as PowerPhase
from evse.runtime import heap
from evse.runtime.board_wiring import open_board
from evse.runtime.clock import MonotonicClock, ms_to_ns, ns_to_s, s_to_ns
from evse.runtime.config import StationConfig, load_config
from evse.runtime.dc_station import (
    DcStation,
    ExternalCar,
    SessionConfig,
    _power_path_config as power_path_config,
    warm_up_protocols,
)
from evse.runtime.ocpp_thread import (
    ThreadedOcppClient,
    controller_for,
    host_services_for,
    ws_security,
)
from evse.runtime.realtime import RealtimeRunner
from evse.runtime.scheduler import CallbackComponent
from evse.runtime.trace import Trace
from evse.runtime.warmup import is_warm, report as warm_report
from evse.sdp.policy import TlsPolicy
from evse.secc.admission import AdmissionConfig
from evse.secc.core import CloseConnection, SendPayload
from evse.secc.env import AppProtocol, SessionEndReason
from evse.slac.outputs import LinkError, LinkReady

#: How often the simulated car's hardware (S2, its contactors) looks at its V2G phase; the
#: pilot samples every 10 ms (config cp.sample_period_ms), so 10 ms keeps the two in step.
CAR_FOLLOW_PERIOD_NS = ms_to_ns(10)
#: Fallback poll of the V2G server for its own timers (TLS handshake timeout, 2 s class):
#: readable sockets wake the loop at once, this only bounds timer lateness.
SERVER_POLL_PERIOD_NS = ms_to_ns(50)
#: Time the simulated cable stays unplugged between sessions: longer than the pilot's
#: debounce (3 samples of 10 ms, config.py) so it sees state A and ends the session.
REPLUG_GAP_NS = ms_to_ns(100)
#: Battery voltage of the simulated EV load until a car sends its PreCharge target
#: (within every car's range; hardware.md §6.2 reference vehicle is 96 NMC cells).
DEFAULT_EV_BATTERY_V = 350.0
#: Internal resistance of the simulated EV battery (evse/ev/battery.py default).
EV_BATTERY_R_OHM = 0.08

_PROTOCOLS = {"din": AppProtocol.DIN70121, "iso2": AppProtocol.ISO15118_2}
#: SECC chart states (top level) in which a car holds S2 closed (CP C): CableCheck through
#: the PowerDelivery stop exchange (IEC 61851-23 CC.5.1, ISO 15118-2 [V2G2-847]).
#: `evse run`'s exit status when the controller asked for a restart (sysexits EX_TEMPFAIL):
#: not 0, so the unit's Restart=on-failure starts the station again (deploy/evse.service
#: also names it in RestartForceExitStatus=); 2 stays "bad config or interface".
EXIT_RESTART = 75
#: Timeline lines kept for an uploaded log: a day of sessions at ~60 lines each, ~2 MB.
TIMELINE_LINES = 20_000
_CAR_C_STATES = {"cable_check", "precharge", "power_delivery_pending", "charging", "stopping"}
#: States in which its contactors are closed (it closes them after PowerDeliveryRes start).
_CAR_CONTACTOR_STATES = {"charging", "stopping"}
#: Pilot state with the car in B and 5 % PWM on (fsm_specs/iec61851.yaml): the point from
#: which a car with a pilot wire starts SLAC, hence high-level communication.
_PWM_READY_STATE = "plugged.B.B2"
#: The pilot state of an empty socket (IEC 61851-1 state A): a re-plug waits for it.
_UNPLUGGED_STATE = "A"
#: With an `ocpp:` section the simulated car is plugged once the CSMS accepted the boot,
#: or after this long without it (a charger offline at start still charges).
BOOT_WAIT_NS = s_to_ns(10)
_POWER_IDLE = {PowerPhase.IDLE, PowerPhase.STOPPED, PowerPhase.FAULTED}


class RunError(Exception):
    """A station that cannot start (local: config, interface, certificates)."""


def session_captures(config: StationConfig, iface: str,
                     wall_ns: Callable[[], int]) -> SessionCaptures | None:
    """The `capture:` section as the capture adapter (None without the section)."""
    c = config.capture
    if c is None:
        return None
    try:
        return SessionCaptures(
            CaptureConfig(Path(c.dir), max_files=c.max_files,
                          max_session_bytes=c.max_session_mb << 20, tls_keys=c.tls_keys),
            iface, wall_ns)
    except CaptureError as exc:
        raise RunError(f"{config.file}: {exc}") from exc


class ExternalCarBattery(PlantBattery):
    """The battery behind the inlet of a car we do not simulate: at the voltage the car
    announced as its PreCharge target (the car precharges to its own battery voltage)."""

    def __init__(self) -> None:
        super().__init__(soc=0.5, internal_resistance_ohm=EV_BATTERY_R_OHM)
        self.voltage_v = DEFAULT_EV_BATTERY_V

    def ocv_v(self) -> float:
        return self.voltage_v

    def charge(self, current_a: float, dt_s: float) -> None:
        """The real car keeps its own SOC; this load only has to be plausible."""


@dataclass
class RunStats:
    """What a test or the CLI reports after a run."""

    connections: int = 0
    sessions_ended: int = 0
    replugs: int = 0
    link_ready: int = 0
    events: list[tuple[int, str]] = field(default_factory=list)


class IfaceStation:
    """The composition: DcStation(car=False) + V2gNetServer (+ SLAC on a raw socket)."""

    def __init__(self, config: StationConfig, iface: str, *,
                 pilot_ev: SimBoard | None = None) -> None:
        """`pilot_ev`: with a board on a device (`board: mcu_uart`), the SimBoard the
        simulated car's pilot states go to (an MCU simulator's, in tests); None: nobody's
        (a real car is on the real pilot)."""
        self.config = config
        self.iface = iface
        # Before the clock and the first timer: a car's first CM_SLAC_PARM.REQ is answered
        # within TP_match_response and no timer starts out late (issue 13).
        warm_up_protocols()
        # Then the collection of the start-up garbage, once, while no timer is armed yet (it
        # walks everything built so far: ~90 ms here), and the freeze (evse/runtime/heap.py).
        settled = heap.settle()
        self.clock = MonotonicClock()
        # The board first: a missing or silent MCU is the one error of this start.
        self.board = open_board(config, self.clock.now_ns)
        s = config.session
        self.slac_mode = config.slac.enabled
        port: HomePlugPort | None = None
        if self.slac_mode:
            if config.plc.driver != "raw":
                raise RunError(f"{config.file}: slac.enabled needs plc.driver raw")
            port = RawHomePlugSocket(iface)
        # Days of operation: keep no trace in memory; listeners still see every record.
        #: The newest timeline lines, for GetLog / GetDiagnostics (`log_text`).
        self.timeline: deque[str] = deque(maxlen=TIMELINE_LINES)
        self.trace = Trace(self.clock.now_ns, keep=False)
        self.trace.add_listener(self._keep_timeline)
        # `ocpp:`: the operator's CSMS over a websocket (its own thread), instead of the
        # in-process CSMS simulator that session.ocpp selects.
        self.ocpp_client = self._ocpp_client(config)
        self.battery = ExternalCarBattery()
        self.station = DcStation(
            config,
            SessionConfig(ocpp=s.ocpp, auth_delay_s=s.auth_delay_s),
            clock=self.clock, car=False, slac_port=port, trace=self.trace,
            board=self.board, pilot_ev=pilot_ev, external_csms=self.ocpp_client,
            slac=self.slac_mode,
            external_car=ExternalCar(
                v2g_sink=self._secc_output, link_sink=self._link_event,
                precharge_sink=self._precharge_target,
                protocols=tuple(_PROTOCOLS[p] for p in s.protocols), battery=self.battery),
        )
        st = self.station
        # `capture:`: one pcapng per plug-in of what the interface carries (the tap opens
        # in start(), in the thread's network namespace).
        self.captures: SessionCaptures | None = None
        self.tap: PacketTap | None = None
        if config.capture is not None:
            clock = self.clock
            self.captures = session_captures(config, iface,
                                             lambda: clock.epoch_unix_ns + clock.now_ns())
            self.trace.add_listener(self._capture_boundary)
        self.server = V2gNetServer(self._net_config(), self._net_event, st.sched.now_ns)
        self.server_started = False
        self.runner = RealtimeRunner(st.sched)
        if not is_warm():  # READY (systemd) only once nothing is left to build lazily
            raise RunError("the warm-up did not build every EXI codec")
        warm = warm_report()
        # Last of the build: the station's own objects join the frozen ones without a second
        # collection (the timers are armed now; a collection here would make them late).
        self.heap = heap.freeze_rest(settled)
        self.runner.ready_status = (
            f"running; warm-up {warm.total_ms:.0f} ms ("
            + ", ".join(f"{k} {v:.0f} ms" for k, v in warm.parts_ms.items())
            + f"); {self.heap.frozen_objects} start-up objects frozen")
        self.stats = RunStats()
        self._conn: int | None = None
        self._owners: set[int] = set()  # connections the server admitted (ConnectionOpened)
        self._held: list[V2gNetEvent] = []  # events that arrive while the cable is "out"
        self._replug_at_ns: int | None = None
        #: The car paused its session (SessionStop Pause) and stays plugged.
        self._paused = False
        self._plug_at_boot_ns: int | None = None
        self._waiting_pwm = False
        self._session_open = False
        self._stop = threading.Event()
        #: `run` returned (its time was up, a signal, or a restart).
        self.loop_ended = False
        #: The restart the controller asked for (`request_restart`), None: none.
        self.restart_kind: str | None = None
        #: The board's maintenance side (`ocpp:` section only).
        self.host: HostServices | None = None
        self.echo: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ setup
    def _ocpp_client(self, config: StationConfig) -> ThreadedOcppClient | None:
        section = config.ocpp
        if section is None:
            return None
        security = ws_security(section)
        # The hardware rating the controller publishes is the power path's.
        rating = power_path_config(config)
        clock = self.clock
        self.host = host_services_for(section, self.request_restart, self.log_text)
        return ThreadedOcppClient.spawn(
            lambda: controller_for(config, section, clock, max_voltage_v=rating.max_voltage_v,
                                   max_current_a=rating.max_current_a,
                                   max_power_w=rating.max_power_w),
            section.endpoint, security, clock, self.host)

    def _net_config(self) -> V2gNetConfig:
        v = self.config.v2g
        base = Path(self.config.file).resolve().parent
        creds = None
        if v.cert_chain is not None and v.private_key is not None:
            chain, key = base / v.cert_chain, base / v.private_key
            for path in (chain, key):
                if not path.is_file():
                    raise RunError(f"{self.config.file}: no such file {path}")
            creds = TlsServerCredentials(
                chain, key, v.key_password,
                keylog_path=None if self.captures is None
                else self.captures.config.key_log_path)
        extra: dict[str, Any] = {}
        if v.max_payload_bytes is not None:
            extra["max_payload_length"] = v.max_payload_bytes
        admission: dict[str, int] = {}
        if v.max_pending_connections is not None:
            admission["max_pending"] = v.max_pending_connections
        if v.communication_setup_s is not None:
            admission["setup_timeout_ns"] = s_to_ns(v.communication_setup_s)
        if admission:
            extra["admission"] = AdmissionConfig(**admission)
        return V2gNetConfig(interface=self.iface, tls_policy=TlsPolicy(v.tls_policy),
                            tls=creds, tcp_port=v.tcp_port, **extra)

    def start(self) -> None:
        """Open the sockets (in the calling thread's network namespace) and plug the car."""
        st = self.station
        if self.ocpp_client is not None:
            self.ocpp_client.start()
            self._note(f"OCPP {self.config.ocpp.version if self.config.ocpp else ''} to "
                       f"{self.ocpp_client.url}")
        if self.captures is not None:
            try:
                self.tap = PacketTap(self.iface)
            except CaptureError as exc:
                raise RunError(str(exc)) from exc
            self.runner.add_reader(self.tap.fileno(), self._tap_readable)
        st.start()
        sched = st.sched
        sched.register("v2g", CallbackComponent(self._net_input))
        sched.call_every(CAR_FOLLOW_PERIOD_NS, self._follow_car, "car.follow")
        sched.call_every(SERVER_POLL_PERIOD_NS, self._poll_server, "v2g.poll")
        if self.slac_mode:
            self.runner.add_reader(st.slac_port.fileno(), st.slac_port_readable)
        else:
            self._start_server()
        if self.ocpp_client is not None:
            # The bench's car arrives once the charger is online (the CSMS sees the connector
            # Available, then Preparing), or after BOOT_WAIT_NS without a CSMS (offline).
            self._plug_at_boot_ns = st.sched.now_ns() + BOOT_WAIT_NS
        else:
            self._plug(st.sched.now_ns())

    def _start_server(self) -> None:
        if self.server_started:
            return
        self.server.start()
        self.server_started = True
        self.runner.add_reader(self.server.fileno(), self._readable)
        tls = self.server.tls_port
        self._note(f"V2G server on [{self.server.secc_address}%{self.iface}] "
                   f"tcp {self.server.tcp_port}" + (f" tls {tls}" if tls else ""))

    # ------------------------------------------------------------------ running
    def run(self, duration_s: float | None = None) -> None:
        end = (self.clock.now_ns() + s_to_ns(duration_s) if duration_s is not None
               else 2**62)
        self.runner.run_until(end, stop=self._stop.is_set)
        self.loop_ended = True

    def stop(self) -> None:
        """Thread- and signal-safe: the loop returns within one timer period."""
        self._stop.set()

    def _keep_timeline(self, t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> None:
        line = timeline_line(t_ns, source, kind, payload)
        if line is not None:
            self.timeline.append(line)

    def log_text(self, log_type: str) -> bytes:
        """What GetLog / GetDiagnostics upload: the operator's timeline of this run (every
        chart transition and fault, as `evse run` prints or journals it), newest
        TIMELINE_LINES lines, under a header naming the station and the log type."""
        head = f"# {self.config.name} {log_type}: last {len(self.timeline)} timeline lines\n"
        return (head + "\n".join(self.timeline) + "\n").encode()

    def request_restart(self, kind: str) -> None:
        """The controller's restart (OCPP Reset, a firmware install) with `ocpp.restart:
        exit`: called on a host-services worker thread after the answer went out; the loop
        ends as on SIGTERM and `evse run` exits with EXIT_RESTART for the service manager."""
        self.restart_kind = kind
        self._stop.set()

    def close(self) -> None:
        if self.ocpp_client is not None:
            self.ocpp_client.stop()
        if self.server_started:
            self.server.close()
        if self.captures is not None:
            self._tap_readable(0)
            self.captures.close()
        if self.tap is not None:
            self.tap.close()
        self.station.slac_port.close()
        self.station.close()
        if self.board is not None:
            self.board.close()
        heap.thaw()

    # ------------------------------------------------------------------ captures
    def _tap_readable(self, now_ns: int) -> None:
        if self.tap is not None and self.captures is not None:
            self.captures.write(self.tap.read())

    def _capture_boundary(self, t_ns: int, source: str, kind: str,
                          payload: dict[str, Any]) -> None:
        """A plug-in opens the session's capture, the unplug closes it (after the frames
        still waiting in the tap)."""
        captures = self.captures
        if captures is None or source != "cp" or kind != "notice":
            return
        if payload.get("notice") == "plugged":
            self._tap_readable(t_ns)  # what came before belongs to no session
            captures.session_started()
        elif payload.get("notice") == "unplugged":
            self._tap_readable(t_ns)
            path = captures.session_ended()
            if path is not None:
                self._note(f"session capture {path}")

    # ------------------------------------------------------------------ network
    def _readable(self, now_ns: int) -> None:
        self.server.poll(0)

    def _poll_server(self, now_ns: int) -> None:
        if self.server_started:
            self.server.poll(0)

    def _net_event(self, ev: V2gNetEvent) -> None:
        """Called from inside server.poll(): only post."""
        if isinstance(ev, ConnectionOpened):
            self._owners.add(ev.conn_id)
        if isinstance(ev, ConnectionOpened | PayloadReceived | ConnectionClosed
                      | ConnectionRefused | CommunicationSetupExpired):
            self.station.sched.post("v2g", ev, source="net")

    def _net_input(self, ev: V2gNetEvent, now_ns: int) -> None:
        if isinstance(ev, ConnectionRefused):
            self.trace.record("v2g", "connection_refused", {
                "peer": str(ev.peer.address), "reason": ev.reason.value, "detail": ev.detail})
            return
        if isinstance(ev, ConnectionClosed) and ev.conn_id not in self._owners:
            # A connection that never owned the session (idle, evicted, not SAP, timed out).
            self.trace.record("v2g", "connection_closed", {
                "conn": ev.conn_id, "reason": ev.reason.value, "detail": ev.detail})
            return
        if isinstance(ev, CommunicationSetupExpired):
            self._setup_expired(ev, now_ns)
            return
        if self._paused and isinstance(ev, ConnectionOpened):
            # The paused car is back (its own resume, or after the station's wake-up): the
            # simulated pilot takes its connection as the car's wish for HLC, 5 % PWM again
            # (iec61851.yaml hlc_resume), and the car talks once it is on, as after a plug-in.
            self._paused = False
            self._note("the paused car is back: 5 % PWM again (simulated pilot)")
            self.station.sched.post("cp", Event("hlc_resume"), source="bench")
            self._waiting_pwm = True
        if (self._replug_at_ns is not None or self._waiting_pwm
                or self._plug_at_boot_ns is not None):
            # The cable is "out" (or not yet in: the charger waits for its CSMS), or the
            # pilot has not started 5 % PWM yet: a car with a
            # pilot wire would not talk before that, this one waits for its answer.
            self._held.append(ev)
            return
        st = self.station
        if isinstance(ev, ConnectionOpened):
            self._conn = ev.conn_id
            self._session_open = True
            self.stats.connections += 1
            self._note(f"car connected from {ev.peer} ({'TLS' if ev.tls else 'TCP'})")
            st.open_connection(now_ns, tls=ev.tls)
        elif isinstance(ev, PayloadReceived):
            if ev.conn_id == self._conn:
                st.receive_payload(ev.payload, now_ns)
        elif isinstance(ev, ConnectionClosed) and ev.conn_id == self._conn:
            self._owners.discard(ev.conn_id)
            self._conn = None
            self.trace.record("v2g", "connection_closed", {
                "conn": ev.conn_id, "reason": ev.reason.value, "detail": ev.detail})
            self._note(f"car connection closed ({ev.reason.value})")
            st.connection_lost(now_ns)
        self._follow_car(now_ns)

    def _secc_output(self, out: object) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            if isinstance(out, SendPayload):
                self.server.send(conn, out.payload)
                if out.message == "SessionSetupRes":
                    self.server.session_established(conn)  # [V2G2-714]: setup done
            elif isinstance(out, CloseConnection):
                self.server.close_connection(conn)
        except V2gNetError as exc:
            self._note(f"answer not sent: {exc}")

    def _link_event(self, out: object) -> None:
        if isinstance(out, LinkReady):
            self.stats.link_ready += 1
            self._note("SLAC link ready")
            if self.server_started:
                self.server.link_up()  # D-LINK_READY again: the next plug-in / wake-up
            else:
                self._start_server()
        elif isinstance(out, LinkError):
            self._note(f"SLAC link error {out.reason}")

    # ------------------------------------------------------------------ the simulated car
    def _precharge_target(self, target_voltage_v: float) -> None:
        self.battery.voltage_v = target_voltage_v

    def _follow_car(self, now_ns: int) -> None:
        """The car's S2 and contactors follow its V2G phase; a new plug after each session."""
        st = self.station
        if self._plug_at_boot_ns is not None:
            client = self.ocpp_client
            booted = client is not None and client.controller.booted
            if not booted and now_ns < self._plug_at_boot_ns:
                return
            self._plug_at_boot_ns = None
            self._plug(now_ns)
            return
        if self._replug_at_ns is not None:
            # Plug again only once the pilot has seen the cable out (state A): on a loaded
            # host the gap can be shorter than the pilot's sampling and debounce, and a
            # re-plug the pilot never saw leaves it in B1 without 5 % PWM for good.
            if now_ns >= self._replug_at_ns and st.cp.state == _UNPLUGGED_STATE:
                self._replug_at_ns = None
                self._plug(now_ns)
            return
        if self._waiting_pwm:
            if not st.cp.state.startswith(_PWM_READY_STATE):
                return
            self._waiting_pwm = False
            self._note("5 % PWM on: V2G traffic goes through")
            if not self.slac_mode and self.server_started:
                # No modem, so no D-LINK_READY: the car's setup time starts when it first
                # shows up (SDP or a connection), not at our simulated plug-in.
                self.server.link_up(on_first_contact=True)
            held, self._held = self._held, []
            for ev in held:
                self._net_input(ev, now_ns)
        secc = st.secc
        state = secc.state.split(".")[0] if secc is not None and not secc.closed else None
        board, inlet = st.world.board, st.world.ev_inlet
        if state in _CAR_C_STATES and board.ev_state is EvCpState.B:
            board.set_ev_state(EvCpState.C)
        elif state not in _CAR_C_STATES and board.ev_state is EvCpState.C:
            board.set_ev_state(EvCpState.B)
        if state in _CAR_CONTACTOR_STATES and not inlet.ev_contactors_closed:
            inlet.close_ev_contactors(st.world.plant.connector_voltage_v)
        elif state not in _CAR_CONTACTOR_STATES and inlet.ev_contactors_closed:
            inlet.open_ev_contactors()
        ended = secc is not None and secc.closed
        if (self._session_open and ended and self._conn is None
                and st.power.phase in _POWER_IDLE and not st.cp.contactors_closed):
            self._session_open = False
            self.stats.sessions_ended += 1
            if st.last_end_reason is SessionEndReason.EV_PAUSE:
                # ISO 15118-2 SessionStop(Pause): the car stays plugged (the pilot in B1,
                # HLC suspended) and keeps its SessionID for the resume; a re-plug would
                # forget the paused session (evse probe PAUSE-001 got OK_NewSessionEstablished).
                self._paused = True
                self._note("session paused: the car stays plugged (simulated pilot)")
                if not self.slac_mode:
                    # No modem: the link stays; SDP and a connection are admitted again
                    # so the car can come back (its setup time runs from that contact).
                    self.server.link_up(on_first_contact=True)
                return
            self.stats.replugs += 1
            self._note("session over: cable out and in again (simulated pilot)")
            st.unplug()
            # The cable leaves the car's inlet, whose capacitance may still hold the battery
            # voltage (its contactors opened after the DC contactor): the next car's inlet
            # starts uncharged, or its CableCheck would see the old car's voltage.
            st.world.plant.connector_voltage_v = 0.0
            self._replug_at_ns = now_ns + REPLUG_GAP_NS

    def _setup_expired(self, ev: CommunicationSetupExpired, now_ns: int) -> None:
        """[V2G2-716]: no session within the setup time; the server is silent until the
        next plug-in. A car that had passed supportedAppProtocol ends its session through
        its connection's close (then the usual re-plug); without one, re-plug here."""
        self.trace.record("v2g", "communication_setup_expired", {
            "closed": ev.closed, "had_owner": ev.had_owner})
        self._note(f"communication setup time over ({ev.closed} connection(s) closed)")
        if (ev.had_owner or self._session_open or self._replug_at_ns is not None
                or self._paused):
            return
        self.stats.replugs += 1
        self._note("no session: cable out and in again (simulated pilot)")
        self.station.unplug()
        self._waiting_pwm = False
        self._replug_at_ns = now_ns + REPLUG_GAP_NS

    def _plug(self, now_ns: int) -> None:
        self.station.plug_in()
        self._waiting_pwm = True
        self._note("car plugged (simulated pilot)")

    def _note(self, what: str) -> None:
        now = self.station.sched.now_ns()
        self.stats.events.append((now, what))
        if self.echo is not None:
            self.echo(f"{ns_to_s(now):10.3f} s  {what}")


def timeline_line(t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> str | None:
    """One line of the operator's timeline (every state change of the pilot, SLAC and the
    SECC; every fault raised or cleared), or None for a record that is not in it: what
    stdout, the journal and an uploaded log show."""
    entry = trace_entry(t_ns, source, kind, payload)
    return None if entry is None else f"{ns_to_s(t_ns):10.3f} s  {entry[0]}"


def _print_entry(t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> None:
    """The operator's timeline on stdout: what the journal would get."""
    line = timeline_line(t_ns, source, kind, payload)
    if line is not None:
        print(line)


def _to_journal(bench: IfaceStation, sink: JournalSink) -> None:
    """Under systemd: the same timeline as structured journal entries, and Python's log
    records too (evse/io/journal.py)."""
    bench.trace.add_listener(trace_to_journal(sink))
    bench.echo = lambda line: sink.send(line.strip(), PRIORITY_NOTICE)
    root = logging.getLogger()
    root.addHandler(JournalHandler(sink))
    root.setLevel(logging.INFO)


def main(args: argparse.Namespace) -> int:
    """`evse run`: until SIGINT/SIGTERM or `--duration` seconds."""
    config = load_config(args.config)
    iface = args.iface or config.plc.iface
    if not iface:
        print("error: no interface (--iface IFACE or plc.iface in the config)", file=sys.stderr)
        return 2
    try:
        bench = IfaceStation(config, iface)
    except (RunError, V2gNetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    journal = JournalSink() if journal_wanted() else None
    if journal is not None:
        _to_journal(bench, journal)
    else:
        bench.echo = print
        bench.trace.add_listener(_print_entry)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        bench.stop()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            bench.start()
        except (RunError, V2gNetError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        mode = "SLAC on the raw socket" if bench.slac_mode else "no modem, link assumed up"
        print(f"station {config.name} on {iface} ({mode}); Ctrl-C stops")
        bench.run(args.duration)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        bench.close()
        if journal is not None:
            journal.close()
            if journal.lost:
                print(f"journal: {journal.lost} of {journal.sent + journal.lost} entries lost")
    s, rs = bench.stats, bench.runner.stats
    causes = ", ".join(f"{k} {n}" for k, n in sorted(rs.late_causes().items()))
    print(f"stopped: {s.connections} connections, {s.sessions_ended} sessions ended, "
          f"{rs.overruns} timer overruns "
          f"(worst {rs.worst_lateness_ns / 1e6:.1f} ms late"
          + (f"; causes of the worst {len(rs.late_turns)}: {causes}" if causes else "") + ")")
    if bench.restart_kind is not None:
        print(f"restart requested by the CSMS ({bench.restart_kind}): exit {EXIT_RESTART} "
              "for the service manager")
        return EXIT_RESTART
    return 0
