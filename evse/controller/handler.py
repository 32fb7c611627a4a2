"""Named callbacks of fsm_specs/controller.yaml, bound to one `Controller` core (as a
`ControllerHost`, evse/controller/host.py).

Why a separate class: the chart's names and this class's public methods must be the same
set (checked by `evse validate` and a test); the core's own API stays out of that set.
"""

from __future__ import annotations

from evse.controller.host import ControllerHost
from evse.controller.plc_port import (
    AuthMethod,
    AuthStatus,
    ContractCertificateStatus,
    PlcFault,
    SessionCommandKind,
    StopReason,
)
from evse.controller.reservation import Reservation
from evse.controller.session import STOP_EV_DISCONNECTED, Token, TxStop
from evse.controller.tx_points import TxPoint
from evse.fsm import Event

#: plc.session_event stop reasons that mean the car ended a session on its own.
_EV_SIDE_STOPS = frozenset({StopReason.EV_REQUESTED, StopReason.EV_ERROR,
                            StopReason.V2G_TIMEOUT})


class ControllerHandler:
    def __init__(self, core: ControllerHost) -> None:
        self._core = core

    # ------------------------------------------------------------------ session facts
    def clear_session(self, ev: Event) -> None:
        c = self._core
        c.token = None
        c.auth_offline = False
        c.auth_requested = False
        c.tx_stop = None
        c.evccid = ""
        c.ev_mac = ""
        c.reservation_used = None
        c.held_contract = None

    def report_status(self, ev: Event) -> None:
        self._core.report_status()

    def note_plugged(self, ev: Event) -> None:
        self._core.ev_present = True
        self._core.publish_session_start()
        self._core.tx_condition(TxPoint.EV_CONNECTED, True)

    def note_ev_present(self, ev: Event) -> None:
        """A car plugged into an Unavailable or Faulted connector: the fact only. No
        TxStartPoint EVConnected is reached there (2.0.1 E01/E02 with G03/G04: an
        inoperative EVSE starts no transaction); `note_plugged` reaches it once the
        connector is Operative again with the car still there."""
        self._core.ev_present = True

    def note_unplugged(self, ev: Event) -> None:
        """Every TxStopPoint condition ends with the cable (StopTxOnEVSideDisconnect is
        true: a DC cable is fixed to the charger), so any open transaction ends."""
        c = self._core
        c.ev_present = False
        c.auth_requested = False
        c.note_stop(STOP_EV_DISCONNECTED)
        for point in TxPoint:
            c.tx_condition(point, False)
        c.end_transaction()

    # ------------------------------------------------------------------ authorization
    def begin_authorization(self, ev: Event) -> None:
        assert isinstance(ev.data, Token)
        self._core.begin_authorization(ev.data)

    def accept_remote_start(self, ev: Event) -> None:
        assert isinstance(ev.data, Token)
        c = self._core
        c.token = ev.data
        c.auth_offline = False
        if c.ev_present:
            c.send_auth_context()
            if c.auth_requested:
                c.send_auth(AuthStatus.ACCEPTED, "remote start")
        c.tx_condition(TxPoint.AUTHORIZED, True)

    def send_auth_pending(self, ev: Event) -> None:
        self._core.send_auth(AuthStatus.PENDING, "waiting for authorization")

    def send_auth_accepted(self, ev: Event) -> None:
        self._core.send_auth_context()
        self._core.send_auth(AuthStatus.ACCEPTED, "authorized")

    def send_auth_rejected(self, ev: Event) -> None:
        self._core.send_auth(AuthStatus.REJECTED, "not available")

    def send_auth_timeout(self, ev: Event) -> None:
        c = self._core
        c.send_auth(AuthStatus.REJECTED, "authorization timeout")
        c.token = None

    def grant_authorization(self, ev: Event) -> None:
        c = self._core
        held, c.held_contract = c.held_contract, None
        if held is not None:
            c.answer_contract(held, ContractCertificateStatus.ACCEPTED)
        if c.ev_present:
            c.send_auth_context()
            c.send_auth(AuthStatus.ACCEPTED, f"authorized ({ev.data})")
        c.tx_condition(TxPoint.AUTHORIZED, True)

    def accept_contract(self, ev: Event) -> None:
        """The car's contract in a session authorized already (by EIM, a remote start or
        AutoCharge): ACCEPTED, the session needs no other authorization. The transaction
        keeps the token that authorized it."""
        assert isinstance(ev.data, Token)
        self._core.answer_contract(ev.data, ContractCertificateStatus.ACCEPTED)

    def hold_contract(self, ev: Event) -> None:
        """A contract while an EIM token is being checked: answered with that verdict
        (grant_authorization) or checked itself after a refusal (begin_held_contract)."""
        assert isinstance(ev.data, Token)
        self._core.held_contract = ev.data

    def begin_held_contract(self, ev: Event) -> None:
        c = self._core
        held, c.held_contract = c.held_contract, None
        assert held is not None
        c.begin_authorization(held)

    def refuse_authorization(self, ev: Event) -> None:
        # The EV already waits (or it is its own contract): REJECTED lets the PLC end the
        # session at once (reference C7). Otherwise the EV will find us waiting (PENDING)
        # for another token when it reaches Authorization.
        c = self._core
        pnc = c.token is not None and c.token.method is AuthMethod.PNC
        if c.ev_present and (c.auth_requested or pnc):
            c.send_auth(AuthStatus.REJECTED, f"authorization rejected ({ev.data})")
        c.token = None

    def withdraw_authorization(self, ev: Event) -> None:
        c = self._core
        if c.ev_present:
            c.send_auth(AuthStatus.REJECTED, f"authorization withdrawn ({ev.data})")
            c.session_command(SessionCommandKind.STOP_GRACEFUL, "authorization withdrawn")
        c.tx_condition(TxPoint.AUTHORIZED, False)
        c.token = None

    # ------------------------------------------------------------------ transaction
    def note_energy_transfer(self, ev: Event) -> None:
        """PowerDelivery started: TxStartPoint EnergyTransfer (the transaction starts
        here by default, E01)."""
        self._core.tx_condition(TxPoint.ENERGY_TRANSFER, True)

    def note_energy_transfer_over(self, ev: Event) -> None:
        """The energy transfer is over (and the DC power path opens): TxStopPoint
        EnergyTransfer / PowerPathClosed end the transaction here (E06)."""
        c = self._core
        c.tx_condition(TxPoint.POWER_PATH_CLOSED, False)
        c.tx_condition(TxPoint.ENERGY_TRANSFER, False)
        if c.tx is not None:
            # the transaction outlives the energy transfer (TxStopPoint EVConnected /
            # Authorized): the reason the energy stopped is not the reason it will end
            c.tx_stop = None

    def command_stop(self, ev: Event) -> None:
        """A stop by token, RequestStop, Reset or Unlock ends the authorization too
        (TxStopPoint Authorized ends the transaction here)."""
        assert isinstance(ev.data, TxStop)
        self._core.note_stop(ev.data)
        self._core.session_command(SessionCommandKind.STOP_GRACEFUL, ev.data.reason_16.value)
        self._core.tx_condition(TxPoint.AUTHORIZED, False)

    def command_deauthorized_stop(self, ev: Event) -> None:
        self._core.deauthorized_stop()
        self._core.tx_condition(TxPoint.AUTHORIZED, False)

    def note_power_stop(self, ev: Event) -> None:
        assert isinstance(ev.data, StopReason)
        self._core.note_plc_stop(ev.data)

    def note_session_stop(self, ev: Event) -> None:
        assert isinstance(ev.data, StopReason)
        self._core.note_plc_stop(ev.data)

    def note_fault_stop(self, ev: Event) -> None:
        assert isinstance(ev.data, PlcFault)
        self._core.note_fault(ev.data)

    # ------------------------------------------------------------------ availability
    def disable_plc(self, ev: Event) -> None:
        self._core.session_command(SessionCommandKind.DISABLE, "ChangeAvailability Inoperative")

    def enable_plc(self, ev: Event) -> None:
        self._core.session_command(SessionCommandKind.ENABLE, "ChangeAvailability Operative")

    # ------------------------------------------------------------------ reservations
    def accept_reservation(self, ev: Event) -> None:
        assert isinstance(ev.data, Reservation)
        self._core.take_reservation(ev.data)

    def use_reservation(self, ev: Event) -> None:
        self._core.use_reservation()

    def release_reservation(self, ev: Event) -> None:
        self._core.release_reservation()

    def refuse_reserved_token(self, ev: Event) -> None:
        """H03 / 1.6 §5.13: another token on a reserved EVSE is refused locally; the CSMS is
        not asked and the PLC's car (if any) keeps waiting for the reserved one."""

    # ------------------------------------------------------------------ guards
    def ev_present(self, ev: Event) -> bool:
        return self._core.ev_present

    def ev_gave_up_waiting(self, ev: Event) -> bool:
        """The session ended on the car's side (its request, its error, a V2G timeout),
        not because authorization was refused or timed out or the station stopped."""
        return isinstance(ev.data, StopReason) and ev.data in _EV_SIDE_STOPS

    def contract_held(self, ev: Event) -> bool:
        return self._core.held_contract is not None

    def token_is_contract(self, ev: Event) -> bool:
        return isinstance(ev.data, Token) and ev.data.method is AuthMethod.PNC

    def token_matches_reservation(self, ev: Event) -> bool:
        res = self._core.reservation
        return isinstance(ev.data, Token) and res is not None and res.matches(ev.data.id_token)

    def same_reservation(self, ev: Event) -> bool:
        res = self._core.reservation
        return (isinstance(ev.data, Reservation) and res is not None
                and ev.data.reservation_id == res.reservation_id)
