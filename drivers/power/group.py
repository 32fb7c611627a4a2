"""Module-group manager: parallel modules behind one `PowerModuleGroup` port.

Behaviour copied from EVerest's proven drivers (hardware.md §1.2 "Timing and addressing",
§6.1 item 2): equal current split, capabilities = sum of I and P and min of max V, polls that
double as heartbeat, hot-plug re-send, an offline timeout longer than the module's own comm
timeout, and `off` confirmed only by measured current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import can

from drivers.power.protocol import (
    ModuleProtocol,
    ReplyAck,
    ReplyCapabilities,
    ReplyModuleCount,
    ReplyStatus,
    ReplyVoltageCurrent,
)
from evse.ports.power import (
    TRIPPING_ALARMS,
    CapabilitiesChanged,
    GroupCapabilities,
    GroupMeasurement,
    ModuleAlarm,
    ModuleAlarmCleared,
    ModuleAlarmRaised,
    ModuleFrameRejected,
    ModuleOffline,
    ModuleOnline,
    OutputOffConfirmed,
    PowerError,
    PowerEvent,
    PowerModuleGroup,
    PowerRemoteError,
    PowerUsageError,
)

#: Drop a silent module from capabilities after 15 s; must exceed the module's own 10 s comm
#: timeout, since overestimating capability is safe and underestimating it is not (§1.2).
OFFLINE_TIMEOUT_NS = 15_000_000_000
#: The per-request reply timeout: a module that has not answered this long after it was
#: asked has not answered (hardware.md §1.3: DPM1000's 250 ms per-request timeout; the
#: simulated modules answer within 5-30 ms, §6.2).
REPLY_TIMEOUT_NS = 250_000_000


def measurement_fresh_ns(poll_period_ns: int) -> int:
    """How long a module's V/I reading is part of the group's present voltage and current.

    The module is asked again every status poll (`poll_period_ns`: Infy 1 s, 0x060 family
    250 ms, hardware.md §1.2/§1.3); a reading older than one poll period plus one reply
    timeout means the module missed its next answer. Its frames stopped, so its last
    reading is history, not the present: a silent module's frozen charging voltage must
    not stand for the bus at the welding check (fault campaign, module_comm_lost@welding:
    a 368 V reading counted for 3 s on a dead bus and the check reported a weld). Offline
    (capabilities) still takes OFFLINE_TIMEOUT_NS; only the measurement ages out here."""
    return poll_period_ns + REPLY_TIMEOUT_NS


#: `off` is confirmed once the summed measured current is below this. 1 A is the smallest
#: current an Infy module accepts as a setpoint (§1.2 min_export_current_A) [threshold assumed].
OFF_CURRENT_THRESHOLD_A = 1.0
#: While waiting for `off` confirmation, read V/I this often [assumed; must be well below the
#: 1 s turn-off bound of hardware.md §6.2].
OFF_CONFIRM_POLL_PERIOD_NS = 50_000_000
#: Rate limit for setpoint frames: 20 Hz, the low end of plc.power_setpoint's 20-100 Hz
#: (ccs2_dc_reference.md B4 item 11), keeps a 125 kbps bus below half load with 4 modules.
SETPOINT_MIN_INTERVAL_NS = 50_000_000
#: Changes smaller than this are not worth a frame [assumed: below module resolution of 0.1].
SETPOINT_DEADBAND = 0.05


@dataclass(slots=True)
class _Module:
    address: int
    online: bool = False
    last_rx_ns: int | None = None
    max_voltage_v: float | None = None
    min_voltage_v: float | None = None
    max_current_a: float | None = None
    rated_power_w: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    measured_ns: int = -1
    alarms: frozenset[ModuleAlarm] = frozenset()
    output_off: bool = True
    power_limited: bool = False

    @property
    def capabilities_known(self) -> bool:
        return None not in (self.max_voltage_v, self.min_voltage_v, self.max_current_a,
                            self.rated_power_w)

    @property
    def usable(self) -> bool:
        return self.online and self.capabilities_known and not (self.alarms & TRIPPING_ALARMS)


class ModuleGroupManager(PowerModuleGroup):
    """Drives modules at fixed addresses over one python-can bus; polled, no threads."""

    def __init__(
        self,
        bus: can.BusABC,
        protocol: ModuleProtocol,
        addresses: Sequence[int],
        *,
        offline_timeout_ns: int = OFFLINE_TIMEOUT_NS,
        off_current_threshold_a: float = OFF_CURRENT_THRESHOLD_A,
        setpoint_min_interval_ns: int = SETPOINT_MIN_INTERVAL_NS,
        discovery_group: int | None = None,
    ) -> None:
        """Fixed addresses, or `discovery_group`: ask the group for its module count every
        round and drive modules 0..count-1 (Infy group mode, hardware.md §1.2)."""
        if discovery_group is not None and protocol.group_count_request(discovery_group) is None:
            raise PowerUsageError("this module protocol has no group discovery")
        if not addresses and discovery_group is None:
            raise PowerUsageError("a module group needs addresses or a discovery group")
        if len(set(addresses)) != len(addresses):
            raise PowerUsageError(f"duplicate module addresses {list(addresses)}")
        self._bus = bus
        self._protocol = protocol
        self._discovery_group = discovery_group
        self._modules: dict[int, _Module] = {}
        for a in addresses:
            self._add_module(a)
        self._offline_timeout_ns = offline_timeout_ns
        self._off_threshold_a = off_current_threshold_a
        self._setpoint_interval_ns = setpoint_min_interval_ns
        self._fresh_ns = measurement_fresh_ns(protocol.poll_period_ns)
        self._fresh_addresses: frozenset[int] = frozenset()
        self._voltage_v = 0.0
        self._current_a = 0.0
        self._enabled = False
        self._sent_setpoint: tuple[float, float, int] | None = None
        self._setpoint_dirty = False
        self._off_since_ns: int | None = None
        self._next_poll_ns: int | None = None
        self._next_fast_poll_ns: int | None = None
        self._usable_addresses: tuple[int, ...] = ()
        self._caps = self._aggregate()
        self._events: list[PowerEvent] = []

    # --- port API -------------------------------------------------------------------------

    @property
    def capabilities(self) -> GroupCapabilities:
        return self._caps

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_output(self, voltage_v: float, current_a: float, now_ns: int) -> None:
        if voltage_v < 0 or current_a < 0:
            raise PowerUsageError(f"negative setpoint {voltage_v} V / {current_a} A")
        self._voltage_v, self._current_a = voltage_v, current_a
        self._setpoint_dirty = True
        self._flush_setpoint(now_ns)

    def enable(self, now_ns: int) -> None:
        self._enabled = True
        self._off_since_ns = None
        self._next_fast_poll_ns = None
        self._send_setpoint(now_ns)
        self._send_on_off(True, now_ns)

    def disable(self, now_ns: int) -> None:
        self._enabled = False
        self._send_on_off(False, now_ns)
        self._off_since_ns = now_ns
        self._next_fast_poll_ns = now_ns + OFF_CONFIRM_POLL_PERIOD_NS

    def poll(self, now_ns: int) -> list[PowerEvent]:
        self._drain(now_ns)
        if self._next_poll_ns is None or now_ns >= self._next_poll_ns:
            self._poll_round(now_ns)
            self._next_poll_ns = now_ns + self._protocol.poll_period_ns
        if self._next_fast_poll_ns is not None and now_ns >= self._next_fast_poll_ns:
            for m in self._modules.values():
                self._send(self._protocol.poll_requests(m.address, True)[:1], now_ns)
            self._next_fast_poll_ns = now_ns + OFF_CONFIRM_POLL_PERIOD_NS
        self._check_offline(now_ns)
        self._expire_measurements(now_ns)
        self._update_membership(now_ns)
        self._flush_setpoint(now_ns)
        events, self._events = self._events, []
        return events

    def next_deadline_ns(self) -> int | None:
        candidates = [self._next_poll_ns, self._next_fast_poll_ns]
        if self._setpoint_dirty and self._sent_setpoint is not None:
            candidates.append(self._sent_setpoint[2] + self._setpoint_interval_ns)
        for m in self._modules.values():
            if m.online and m.last_rx_ns is not None:
                candidates.append(m.last_rx_ns + self._offline_timeout_ns)
            if m.address in self._fresh_addresses:
                candidates.append(m.measured_ns + self._fresh_ns)
        present = [c for c in candidates if c is not None]
        return min(present) if present else 0

    # --- internals ------------------------------------------------------------------------

    def _add_module(self, address: int) -> None:
        m = _Module(address)
        self._merge_caps(m, self._protocol.default_capabilities(address))
        self._modules[address] = m

    def _apply_count(self, count: int, now_ns: int) -> None:
        """Group mode: modules 0..count-1 exist; the rest left the group (hot unplug)."""
        for a in range(count):
            if a not in self._modules:
                self._add_module(a)
        for a in [a for a in self._modules if a >= count]:
            if self._modules.pop(a).online:
                self._events.append(ModuleOffline(a, now_ns))

    def _send(self, frames: list[can.Message], now_ns: int) -> None:
        for frame in frames:
            frame.timestamp = now_ns / 1e9
            self._bus.send(frame)

    def _targets(self) -> list[int]:
        return list(self._usable_addresses) or list(self._modules)

    def _send_setpoint(self, now_ns: int) -> None:
        targets = self._targets()
        self._sent_setpoint = (self._voltage_v, self._current_a, now_ns)
        self._setpoint_dirty = False
        if not targets:
            return  # group mode before the first count reply: sent once modules appear
        share_a = self._current_a / len(targets)
        for a in targets:
            self._send(self._protocol.set_output_requests(a, self._voltage_v, share_a), now_ns)

    def _flush_setpoint(self, now_ns: int) -> None:
        if not self._setpoint_dirty:
            return
        last = self._sent_setpoint
        if last is not None:
            unchanged = (abs(last[0] - self._voltage_v) < SETPOINT_DEADBAND
                         and abs(last[1] - self._current_a) < SETPOINT_DEADBAND)
            if unchanged:
                self._setpoint_dirty = False
                return
            if now_ns < last[2] + self._setpoint_interval_ns:
                return
        self._send_setpoint(now_ns)

    def _send_on_off(self, on: bool, now_ns: int) -> None:
        for a in self._modules:
            self._send(self._protocol.on_off_requests(a, on), now_ns)

    def _poll_round(self, now_ns: int) -> None:
        if self._discovery_group is not None:
            count_request = self._protocol.group_count_request(self._discovery_group)
            assert count_request is not None  # checked in __init__
            self._send([count_request], now_ns)
        for m in self._modules.values():
            self._send(self._protocol.poll_requests(m.address, m.capabilities_known), now_ns)
        if self._enabled:
            # Re-sending the setpoint every round keeps late-joining modules consistent (§1.3
            # DPM1000 re-sends every 250 ms) and is part of the heartbeat.
            self._send_setpoint(now_ns)
            self._send_on_off(True, now_ns)

    def _drain(self, now_ns: int) -> None:
        while True:
            msg = self._bus.recv(timeout=0)
            if msg is None:
                return
            try:
                reply = self._protocol.parse_reply(msg)
            except PowerError as exc:
                if isinstance(exc, PowerRemoteError):
                    self._events.append(ModuleFrameRejected(str(exc), now_ns))
                    continue
                raise
            if reply is None:
                continue
            if isinstance(reply, ReplyModuleCount):
                if reply.group == self._discovery_group:
                    self._apply_count(reply.count, now_ns)
                continue
            m = self._modules.get(reply.address)
            if m is None:
                self._events.append(
                    ModuleFrameRejected(f"reply from unconfigured address {reply.address}",
                                        now_ns))
                continue
            m.last_rx_ns = now_ns
            if not m.online:
                m.online = True
                self._events.append(ModuleOnline(m.address, now_ns))
                if not self._enabled:
                    # A module that was off the bus missed the OFF of the disable (it is
                    # sent once, not as a heartbeat): it would keep driving its last ON
                    # with nobody asking (fault campaign seed 640: modules on while idle
                    # after no_modules, then an injection's safe state measured 708 ms).
                    self._send(self._protocol.on_off_requests(m.address, False), now_ns)
            if isinstance(reply, ReplyVoltageCurrent):
                if reply.voltage_v is not None:
                    m.voltage_v = reply.voltage_v
                if reply.current_a is not None:
                    m.current_a = reply.current_a
                m.measured_ns = now_ns
                self._emit_measurement(now_ns)
            elif isinstance(reply, ReplyStatus):
                self._apply_status(m, reply, now_ns)
            elif isinstance(reply, ReplyCapabilities):
                self._merge_caps(m, reply)
            else:
                assert isinstance(reply, ReplyAck)

    @staticmethod
    def _merge_caps(m: _Module, caps: ReplyCapabilities) -> None:
        if caps.max_voltage_v is not None:
            m.max_voltage_v = caps.max_voltage_v
        if caps.min_voltage_v is not None:
            m.min_voltage_v = caps.min_voltage_v
        if caps.max_current_a is not None:
            m.max_current_a = caps.max_current_a
        if caps.rated_power_w is not None:
            m.rated_power_w = caps.rated_power_w

    def _apply_status(self, m: _Module, status: ReplyStatus, now_ns: int) -> None:
        m.output_off = status.output_off
        m.power_limited = status.power_limited
        if status.alarms != m.alarms:
            if status.alarms:
                self._events.append(ModuleAlarmRaised(m.address, status.alarms, now_ns))
            else:
                self._events.append(ModuleAlarmCleared(m.address, now_ns))
            m.alarms = status.alarms

    def _fresh(self, now_ns: int) -> list[_Module]:
        """The modules whose V/I reading is present, not history (measurement_fresh_ns)."""
        return [m for m in self._modules.values() if m.online and m.voltage_v is not None
                and m.measured_ns >= 0 and now_ns - m.measured_ns < self._fresh_ns]

    def _emit_measurement(self, now_ns: int) -> None:
        live = self._fresh(now_ns)
        self._fresh_addresses = frozenset(m.address for m in live)
        if not live:
            return
        voltage_v = max(m.voltage_v or 0.0 for m in live)
        current_a = sum(m.current_a or 0.0 for m in live)
        # Stamped with its oldest reading, not with now: re-measured after another module's
        # reading aged out, the rest is not newer than when those modules last answered
        # (the welding check asks whether the module side was measured after the opening).
        measured_ns = min(m.measured_ns for m in live)
        self._events.append(GroupMeasurement(voltage_v, current_a, measured_ns))
        if (self._off_since_ns is not None and current_a < self._off_threshold_a
                and all(m.measured_ns > self._off_since_ns for m in live)):
            self._events.append(OutputOffConfirmed(now_ns))
            self._off_since_ns = None
            self._next_fast_poll_ns = None

    def _expire_measurements(self, now_ns: int) -> None:
        """A reading that aged out leaves the present voltage now, not at the next answer
        of another module: re-measure over the fresh rest. With none left nothing is
        reported, and the power path treats the module side as unknown."""
        fresh = frozenset(m.address for m in self._fresh(now_ns))
        if fresh < self._fresh_addresses:
            self._emit_measurement(now_ns)

    def _check_offline(self, now_ns: int) -> None:
        for m in self._modules.values():
            if m.online and m.last_rx_ns is not None and (
                now_ns - m.last_rx_ns >= self._offline_timeout_ns
            ):
                m.online = False
                m.voltage_v = m.current_a = None
                self._events.append(ModuleOffline(m.address, now_ns))

    def _update_membership(self, now_ns: int) -> None:
        usable = tuple(a for a, m in self._modules.items() if m.usable)
        if usable == self._usable_addresses:
            return
        self._usable_addresses = usable
        self._caps = self._aggregate()
        self._events.append(CapabilitiesChanged(self._caps, now_ns))
        if self._enabled:
            # Hot plug: the per-module share changed, so re-send V/I and mode (§1.2).
            self._send_setpoint(now_ns)
            self._send_on_off(True, now_ns)

    def _aggregate(self) -> GroupCapabilities:
        usable = [self._modules[a] for a in self._usable_addresses]
        if not usable:
            return GroupCapabilities(0.0, 0.0, 0.0, 0.0, 0)
        return GroupCapabilities(
            max_voltage_v=min(m.max_voltage_v or 0.0 for m in usable),
            min_voltage_v=max(m.min_voltage_v or 0.0 for m in usable),
            max_current_a=sum(m.max_current_a or 0.0 for m in usable),
            max_power_w=sum(m.rated_power_w or 0.0 for m in usable),
            module_count=len(usable),
        )
