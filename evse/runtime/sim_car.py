"""One simulated car for one plug-in: its SLAC, SDP client, V2G stack and its hardware.

Why a car of its own: a station lives through many sessions, a car through one. Everything
session-scoped on the EV side (its SLAC run, its SDP client, the EV simulator's state, its
battery, its S2 switch and inlet contactors) is born at plug-in and dropped at unplug, so no
state of one car can leak into the next (the station, not the session, is what lasts).

The car talks to the station only through what a real car has: the pilot (it sees PWM and
closes S2 through the simulated board), the powerline (its modem on the shared medium), SDP
datagrams and a V2GTP byte stream, each with the link latency of the simulation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.board.sim import EvCpState
from drivers.homeplug.port import SimHomePlugPort
from evse.ev.profiles import EvProfile, profile
from evse.ev.sim import EvSim, Phase as EvPhase
from evse.runtime.clock import s_to_ns
from evse.runtime.rearm import Rearm
from evse.runtime.scheduler import Scheduler
from evse.runtime.sim_world import EV_MAC, EvBatteryAdapter, SimWorld
from evse.sdp.client import SdpClient, SdpDiscovered, SendSdpRequest
from evse.sdp.messages import Security
from evse.secc.env import AppProtocol
from evse.slac.ev import EvSlac, EvTiming
from evse.slac.outputs import SendFrame
from evse.v2gtp.header import PayloadType, encode_frame
from evse.v2gtp.stream import FrameReceived, V2gtpStreamDecoder


class CarsStation(Protocol):
    """What the simulated car drives of the station (`DcStation` satisfies it): the
    station's scheduler and world, and its car-facing entry points. A Protocol, so this
    module never imports dc_station.py (which builds the car): no import circle."""

    sched: Scheduler
    world: SimWorld

    def car_session_over(self) -> None: ...
    def car_closed_connection(self, now_ns: int) -> None: ...
    def slac_medium_changed(self) -> None: ...
    def sdp_datagram_from_car(self, datagram: bytes, now_ns: int) -> None: ...
    def car_connects(self, now_ns: int) -> None: ...
    def frame_from_car(self, frame: bytes, now_ns: int) -> None: ...

#: One-way latency of the PLC link + TCP stack between car and SECC in the simulation.
V2G_LINK_DELAY_NS = 1_000_000
#: SDP datagram latency (UDP over the same PLC link).
SDP_LINK_DELAY_NS = 2_000_000

_C_PHASES = {
    EvPhase.CABLE_CHECK, EvPhase.PRECHARGE, EvPhase.POWER_DELIVERY_START, EvPhase.CHARGING,
    EvPhase.RENEGOTIATE, EvPhase.POWER_DELIVERY_STOP,
}
_OPEN_PHASES = {EvPhase.WELDING, EvPhase.SESSION_STOP, EvPhase.DONE}
PROTOCOLS = {"din": AppProtocol.DIN70121, "iso2": AppProtocol.ISO15118_2}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What the simulated car does in a full session (and, for the first car, which
    controller the station runs: `ocpp`)."""

    protocol: str = "din"  # din | iso2
    ev_profile: str = "generic"
    soc_start_pct: float = 30.0
    soc_target_pct: float = 80.0
    charge_s: float | None = 60.0  # stop after this much charging (None: at target SOC)
    auth_delay_s: float = 2.0  # the driver's RFID tap (or the stand-in's decision) delay
    ocpp: str = "1.6"  # "1.6" | "2.0.1": controller + CSMS simulator; "none": stand-in
    #: The simulated car's V2G link counts as TLS (the in-memory link does not model TLS),
    #: so Contract payment (Plug & Charge) is offered [V2G2-634/635].
    tls: bool = False


@dataclass
class SessionLog:
    """What a test or the CLI checks after a session."""

    milestones: list[tuple[int, str]] = field(default_factory=list)
    responses: int = 0
    ev_result: str | None = None

    def add(self, now_ns: int, what: str) -> None:
        self.milestones.append((now_ns, what))


def make_profile(session: SessionConfig) -> EvProfile:
    p = profile(session.ev_profile)
    if session.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {session.protocol!r} (din or iso2)")
    p.protocols = (PROTOCOLS[session.protocol],)
    p.battery.soc_pct = session.soc_start_pct
    p.battery.target_soc_pct = session.soc_target_pct
    p.charge_for_ns = None if session.charge_s is None else s_to_ns(session.charge_s)
    return p


class SimCar:
    """The EV side of one plug-in. Built by the station's `plug_in`, closed at unplug."""

    def __init__(self, station: CarsStation, session: SessionConfig, ev_profile: EvProfile,
                 rng: random.Random, log: SessionLog) -> None:
        self.station = station
        self.session = session
        self.profile = ev_profile
        self.log = log
        sched = station.sched
        self.sched = sched
        w = station.world
        self.world = w
        w.ev_inlet.battery = EvBatteryAdapter(ev_profile.battery)
        w.cable_connected(True)
        self.slac = EvSlac(EV_MAC, random.Random(rng.random()), EvTiming())
        self.slac_port = SimHomePlugPort(w.medium, w.ev_plc)
        plant = w.plant
        self.ev = EvSim(ev_profile,
                        inlet_voltage_v=lambda now: plant.connector_voltage_v,
                        inlet_current_a=lambda now: plant.connector_current_a)
        self.sdp: SdpClient | None = None
        self._rx = V2gtpStreamDecoder()
        self._timer = Rearm(sched, "ev", self._deadline, self._fire)
        self._slac_timer = Rearm(sched, "ev.slac", self._slac_deadline, self._slac_fire)
        self.link_up = False
        self.phase = EvPhase.SAP
        self.plugged = True
        self.slac_started = False

    # ------------------------------------------------------------------ plug / unplug
    def plug_in(self) -> None:
        """CP B: the car's S2 is open, its pilot resistor and diode are on the line."""
        self.world.board.set_ev_state(EvCpState.B)

    def unplug(self) -> None:
        """CP A: the car leaves; its modem leaves the powerline network with it."""
        self.plugged = False
        self.world.board.set_ev_state(EvCpState.A)
        self.world.cable_connected(False)  # opens the inlet contactors too
        self._timer.cancel()
        self._slac_timer.cancel()

    # ------------------------------------------------------------------ pilot
    def sees_pwm(self, now_ns: int) -> None:
        """5 % PWM: the car starts SLAC (after its own start delay, ISO 15118-3). PWM back
        after its V2G session ended (a wake-up): a fresh EVCC session of the same car, with
        the same battery, SLAC and SDP from the start (ISO 15118-3 B1 -> B2)."""
        if not self.plugged:
            return
        if self.ev.result is not None:
            self._new_session(now_ns)
        if not self.slac_started and self.phase is EvPhase.SAP:
            self.slac_started = True
            self._route_slac(self.slac.plug_in(now_ns))

    def _new_session(self, now_ns: int) -> None:
        """After a SessionStop(Pause) the car offers its paused SessionID again, as ISO
        15118-2 cars do to resume (SessionSetupRes OK_OldSessionJoined)."""
        plant = self.world.plant
        last = self.ev.result
        self.ev = EvSim(self.profile,
                        inlet_voltage_v=lambda now: plant.connector_voltage_v,
                        inlet_current_a=lambda now: plant.connector_current_a,
                        resume_session_id=last.session_id if last and last.paused else None)
        self.sdp = None
        self.link_up = False
        self.slac_started = False
        self.phase = EvPhase.SAP
        self.log.ev_result = None
        self.log.add(now_ns, "ev starts a new session")
        self.station.car_session_over()

    # ------------------------------------------------------------------ SLAC
    def _slac_deadline(self) -> int | None:
        if not self.plugged:
            return None
        times = [self.slac.next_deadline_ns(),
                 self.world.medium.next_delivery_ns(self.world.ev_plc)]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def _slac_fire(self, now_ns: int) -> None:
        for raw in self.slac_port.poll(now_ns):
            self._route_slac(self.slac.handle_frame(raw, now_ns))
        d = self.slac.next_deadline_ns()
        if d is not None and d <= now_ns:
            self._route_slac(self.slac.handle_timer(now_ns))
        self.check_link(now_ns)

    def check_link(self, now_ns: int) -> None:
        """The car's host learns from its modem that the AVLN is up (it joined the network
        with the NMK from CM_SLAC_MATCH.CNF): D-LINK_READY, SDP starts."""
        if self.plugged and not self.link_up and self.world.medium.link_up(self.world.ev_plc,
                                                                           now_ns):
            self.link_up = True
            self._start_sdp(now_ns)

    def _route_slac(self, outputs: list[Any]) -> None:
        now = self.sched.now_ns()
        for out in outputs:
            if isinstance(out, SendFrame):
                self.slac_port.send(out.raw, now)
        self._slac_timer.update()
        self.station.slac_medium_changed()

    def medium_changed(self) -> None:
        """Something was put on the line: the car's modem may have frames to deliver."""
        self._slac_timer.update()

    # ------------------------------------------------------------------ SDP
    def _start_sdp(self, now_ns: int) -> None:
        security = Security.TLS if self.profile.sdp_requests_tls else Security.NO_TLS
        self.sdp = SdpClient(security, accept_plain_tcp=True)
        self._sdp_out([self.sdp.start(now_ns)])

    def _sdp_out(self, outs: list[Any]) -> None:
        for out in outs:
            if isinstance(out, SendSdpRequest):
                self.sched.start_timer(SDP_LINK_DELAY_NS, self._to_sdp_server(out.datagram),
                                       "sdp")
            elif isinstance(out, SdpDiscovered):
                self.log.add(self.sched.now_ns(), "sdp discovered")
                self.station.car_connects(self.sched.now_ns())
                self._rx = V2gtpStreamDecoder()
                self._out(self.ev.start(self.sched.now_ns()))
        self._timer.update()

    def sdp_reply(self, datagram: bytes) -> None:
        """The station's SDP answer, sent back over the link."""
        def deliver(now_ns: int) -> None:
            if self.plugged and self.sdp is not None:
                self._sdp_out(self.sdp.handle_datagram(datagram, now_ns))

        self.sched.start_timer(SDP_LINK_DELAY_NS, deliver, "sdp")

    # ------------------------------------------------------------------ V2G
    def _out(self, payloads: list[bytes]) -> None:
        for p in payloads:
            self.sched.start_timer(V2G_LINK_DELAY_NS,
                                   self._to_secc(encode_frame(PayloadType.EXI, p)),
                                   "v2g.ev->secc")
        self.after()

    def _to_secc(self, frame: bytes) -> Callable[[int], None]:
        return lambda now_ns: self.station.frame_from_car(frame, now_ns)

    def _to_sdp_server(self, datagram: bytes) -> Callable[[int], None]:
        return lambda now_ns: self.station.sdp_datagram_from_car(datagram, now_ns)

    def frame_from_secc(self, frame: bytes) -> None:
        def deliver(now_ns: int) -> None:
            if not self.plugged:
                return
            for ev in self._rx.feed(frame, now_ns):
                if isinstance(ev, FrameReceived):
                    self._out(self.ev.receive(ev.payload, now_ns))

        self.sched.start_timer(V2G_LINK_DELAY_NS, deliver, "v2g.secc->ev")

    def connection_closed_by_secc(self) -> None:
        def deliver(now_ns: int) -> None:
            if self.ev.result is None:
                self.ev.connection_closed(now_ns)
            self.after()

        self.sched.start_timer(V2G_LINK_DELAY_NS, deliver, "v2g.close")

    def _deadline(self) -> int | None:
        if not self.plugged:
            return None
        times = [self.ev.next_deadline_ns(), self.sdp.next_deadline_ns() if self.sdp else None]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def _fire(self, now_ns: int) -> None:
        if self.sdp is not None:
            d = self.sdp.next_deadline_ns()
            if d is not None and d <= now_ns:
                self._sdp_out(self.sdp.handle_timer(now_ns))
        d = self.ev.next_deadline_ns()
        if d is not None and d <= now_ns:
            self._out(self.ev.handle_timer(now_ns))

    def after(self) -> None:
        """The car's hardware follows its protocol phase: S2 (CP C) and its contactors."""
        if not self.plugged:
            return
        now = self.sched.now_ns()
        phase = self.ev.phase
        board, inlet = self.world.board, self.world.ev_inlet
        if phase is not self.phase:
            self.phase = phase
            self.log.add(now, f"ev {phase.value}")
        if phase in _C_PHASES and board.ev_state is EvCpState.B:
            board.set_ev_state(EvCpState.C)
        if phase is EvPhase.CHARGING and not inlet.ev_contactors_closed:
            inlet.close_ev_contactors(self.world.plant.connector_voltage_v)
        if phase in _OPEN_PHASES:
            if inlet.ev_contactors_closed:
                inlet.open_ev_contactors()
            if board.ev_state is EvCpState.C:
                board.set_ev_state(EvCpState.B)
        if self.ev.result is not None and self.log.ev_result is None:
            verdict = "OK" if self.ev.result.ok else "FAILED"
            self.log.ev_result = f"{verdict}: {self.ev.result.reason}"
            self.log.add(now, f"ev session result {self.log.ev_result}")
            if not self.ev.result.ok:
                # An EVCC that gives up (a timeout) closes its TCP connection.
                self.sched.start_timer(V2G_LINK_DELAY_NS, self.station.car_closed_connection,
                                       "v2g.ev-close")
        self._timer.update()
