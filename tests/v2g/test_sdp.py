"""SDP against real frames: we read every request and response ever captured, and what we
send has the layout, addressing and port range of real chargers' responses."""

from __future__ import annotations

import ipaddress

import pytest

from evse.sdp import (
    TCP_PORT_MAX,
    TCP_PORT_MIN,
    Endpoint,
    SdpClient,
    SdpDiscovered,
    SdpDiscoveryFailed,
    SdpLocalError,
    SdpRemoteError,
    SdpRequest,
    SdpRequestAnswered,
    SdpRequestIgnored,
    SdpResponseIgnored,
    SdpServer,
    SdpServerConfig,
    Security,
    SendSdpRequest,
    TlsPolicy,
    TransportProtocol,
    choose_security,
    decode_request_datagram,
    decode_response_datagram,
    encode_request_datagram,
    encode_response_datagram,
)
from evse.v2gtp import HeaderErrorAction

from .data import sdp_datagrams

SECC = ipaddress.IPv6Address("fe80::1")
EV = Endpoint(ipaddress.IPv6Address("fe80::2"), 50123)
TLS_CARS = (
    "Audi__Q4",
    "VW__id.4_fw_3.5",
    "VW__id.buzz",
    "tesla_model_x",
)


def _server(policy: TlsPolicy, tls_port: int | None = 50001) -> SdpServer:
    return SdpServer(SdpServerConfig(SECC, tcp_port=50000, tls_port=tls_port, policy=policy))


def _requests() -> list[dict[str, object]]:
    return [r for r in sdp_datagrams() if r["message"] == "SECCDiscoveryReq"]


def _responses() -> list[dict[str, object]]:
    return [r for r in sdp_datagrams() if r["message"] == "SECCDiscoveryRes"]


def test_every_captured_request_parses_and_reencodes_byte_for_byte() -> None:
    requests = _requests()
    assert len(requests) >= 300
    for row in requests:
        frame = bytes.fromhex(str(row["v2gtp_hex"]))
        request = decode_request_datagram(frame)
        assert request.transport is TransportProtocol.TCP
        assert encode_request_datagram(request) == frame


def test_every_captured_response_parses_and_reencodes_byte_for_byte() -> None:
    responses = _responses()
    assert len(responses) >= 150
    for row in responses:
        frame = bytes.fromhex(str(row["v2gtp_hex"]))
        response = decode_response_datagram(frame)
        assert encode_response_datagram(response) == frame
        # Real chargers announce the address they send from.
        assert str(response.secc_address) == str(row["src"]).split("]")[0][1:]


@pytest.mark.req("PLC-3")
def test_our_response_to_each_real_request_has_real_chargers_layout() -> None:
    server = _server(TlsPolicy.PROHIBIT)
    for req_row in _requests():
        ev_address, ev_port = str(req_row["src"])[1:].split("]:")
        source = Endpoint(ipaddress.IPv6Address(ev_address), int(ev_port))
        result = server.handle_datagram(bytes.fromhex(str(req_row["v2gtp_hex"])), source, 0)
        assert result.reply is not None
        assert result.reply.destination == source  # unicast back to the requester's port
        ours = result.reply.datagram
        assert ours[:8] == bytes.fromhex("01fe900100000014")  # the header every real one has
        assert len(ours) == 28
        assert ours[8:24] == SECC.packed and ours[26:28] == b"\x10\x00"


def test_captured_responses_go_unicast_from_port_15118_to_the_requesters_port() -> None:
    by_packet = {(r["capture"], r["packet"]): r for r in _requests()}
    for res in _responses():
        req = by_packet[(res["capture"], res["answers_packet"])]
        assert res["dst"] == req["src"]
        assert str(res["src"]).endswith(":15118")
        assert str(req["dst"]) == "[ff02::1]:15118"


@pytest.mark.parametrize("car", TLS_CARS)
def test_cars_that_ask_for_tls_were_answered_with_tcp_and_carried_on(car: str) -> None:
    """The capture evidence behind the 'allow' rule: these cars requested TLS (0x00) and
    continued after a no-TLS (0x10) answer."""
    rows = [r for r in sdp_datagrams() if car.lower() in str(r["capture"]).lower()]
    assert any(
        decode_request_datagram(bytes.fromhex(str(r["v2gtp_hex"]))).security is Security.TLS
        for r in rows
        if r["message"] == "SECCDiscoveryReq"
    )
    answers = [
        decode_response_datagram(bytes.fromhex(str(r["v2gtp_hex"])))
        for r in rows
        if r["message"] == "SECCDiscoveryRes"
    ]
    assert answers and all(a.security is Security.NO_TLS for a in answers)


@pytest.mark.parametrize(
    ("policy", "requested", "tls_available", "offered"),
    [
        (TlsPolicy.ALLOW, Security.TLS, True, Security.TLS),
        (TlsPolicy.ALLOW, Security.NO_TLS, True, Security.NO_TLS),
        (TlsPolicy.ALLOW, Security.TLS, False, Security.NO_TLS),  # always answer
        (TlsPolicy.ALLOW, Security.NO_TLS, False, Security.NO_TLS),
        (TlsPolicy.FORCE, Security.TLS, True, Security.TLS),
        (TlsPolicy.FORCE, Security.NO_TLS, True, Security.TLS),
        (TlsPolicy.PROHIBIT, Security.TLS, True, Security.NO_TLS),
        (TlsPolicy.PROHIBIT, Security.NO_TLS, False, Security.NO_TLS),
    ],
)
@pytest.mark.req("PLC-3")
def test_tls_policy_table(
    policy: TlsPolicy, requested: Security, tls_available: bool, offered: Security
) -> None:
    assert choose_security(policy, requested, tls_available=tls_available) is offered


def test_force_without_tls_credentials_is_a_configuration_error() -> None:
    with pytest.raises(SdpLocalError):
        choose_security(TlsPolicy.FORCE, Security.TLS, tls_available=False)
    with pytest.raises(SdpLocalError):
        _server(TlsPolicy.FORCE, tls_port=None)


@pytest.mark.req("PLC-3")
def test_offered_port_matches_the_offered_security() -> None:
    server = _server(TlsPolicy.ALLOW)
    tls = server.respond(SdpRequest(Security.TLS, TransportProtocol.TCP))
    tcp = server.respond(SdpRequest(Security.NO_TLS, TransportProtocol.TCP))
    assert (tls.security, tls.secc_port) == (Security.TLS, 50001)
    assert (tcp.security, tcp.secc_port) == (Security.NO_TLS, 50000)


def test_request_for_udp_transport_still_gets_a_tcp_offer() -> None:
    response = _server(TlsPolicy.PROHIBIT).respond(
        SdpRequest(Security.NO_TLS, TransportProtocol.UDP)
    )
    assert response.transport is TransportProtocol.TCP


@pytest.mark.parametrize(
    "datagram",
    [
        "01fe9000000000021020",  # TransportProtocol 0x20 undefined
        "01fe9000000000020500",  # Security 0x05 undefined
        "01fe900000000003100000",  # payload 3 bytes
        "01fe90000000000110",  # payload 1 byte
        "01fe9001000000021000",  # a response type sent to the server
        "02fd9000000000021000",  # wrong version
        "01fe8001000000021000",  # EXI type on UDP
        "",
    ],
)
@pytest.mark.req("PLC-3")
def test_bad_sdp_request_is_ignored_without_reply(datagram: str) -> None:
    result = _server(TlsPolicy.ALLOW).handle_datagram(bytes.fromhex(datagram), EV, 5)
    assert result.reply is None
    assert isinstance(result.event, SdpRequestIgnored)
    assert result.event.error.action is HeaderErrorAction.IGNORE_DATAGRAM
    assert result.event.received_ns == 5


def test_answered_event_reports_request_response_and_time() -> None:
    result = _server(TlsPolicy.ALLOW).handle_datagram(bytes.fromhex("01fe9000000000020000"), EV, 9)
    assert isinstance(result.event, SdpRequestAnswered)
    assert result.event.request.security is Security.TLS
    assert result.event.response.security is Security.TLS
    assert result.event.received_ns == 9


def test_response_payload_rejects_bad_length_and_values() -> None:
    with pytest.raises(SdpRemoteError):
        decode_response_datagram(bytes.fromhex("01fe900100000013") + bytes(19))
    with pytest.raises(SdpRemoteError):
        decode_response_datagram(bytes.fromhex("01fe900100000014") + bytes(18) + b"\x42\x00")


def test_tcp_port_constants_are_the_iana_dynamic_range() -> None:
    assert (TCP_PORT_MIN, TCP_PORT_MAX) == (49152, 65535)


# -- EV side -------------------------------------------------------------------------


def test_ev_client_retries_every_250_ms_up_to_50_requests_then_fails() -> None:
    client = SdpClient(Security.NO_TLS)
    first = client.start(now_ns=0)
    assert first.datagram == bytes.fromhex("01fe9000000000021000")
    sent = 1
    now = 0
    while not client.done:
        deadline = client.next_deadline_ns()
        assert deadline == now + 250_000_000
        now = deadline
        for out in client.handle_timer(now):
            if isinstance(out, SendSdpRequest):
                sent += 1
            else:
                assert isinstance(out, SdpDiscoveryFailed) and out.attempts == 50
    assert sent == 50
    assert now == 50 * 250_000_000


def test_ev_client_asking_tls_accepts_a_tcp_offer_when_configured_to() -> None:
    offer = encode_response_datagram(
        _server(TlsPolicy.PROHIBIT).respond(SdpRequest(Security.TLS, TransportProtocol.TCP))
    )
    lenient = SdpClient(Security.TLS, accept_plain_tcp=True)
    lenient.start(0)
    (found,) = lenient.handle_datagram(offer, 10)
    assert isinstance(found, SdpDiscovered) and found.response.security is Security.NO_TLS
    strict = SdpClient(Security.TLS, accept_plain_tcp=False)
    strict.start(0)
    (failed,) = strict.handle_datagram(offer, 10)
    assert isinstance(failed, SdpDiscoveryFailed)


def test_ev_client_ignores_garbage_and_keeps_waiting() -> None:
    client = SdpClient(Security.NO_TLS)
    client.start(0)
    (ignored,) = client.handle_datagram(b"\x01\xfe\x90\x01junk", 1)
    assert isinstance(ignored, SdpResponseIgnored)
    assert not client.done and client.next_deadline_ns() == 250_000_000
