"""Socket level: the controller's websocket client against the CSMS simulator's server,
over TLS with security profiles 2 (server certificate + basic auth) and 3 (client
certificate), on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.errors import ControllerUsageError
from evse.controller.plc_port import (
    AuthRequested,
    EvPresent,
    Measurement,
    PaymentOption,
    PowerDeliveryStarted,
    PowerDeliveryStopped,
    SessionCommandCmd,
    StopReason,
)
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim
from evse.io.ocpp_ws import (
    CsmsServer,
    OcppWsClient,
    ServerSecurity,
    WsSecurity,
    realtime_epoch_unix_s,
)
from evse.runtime.clock import MonotonicClock
from tests.controller.ws_wait import until

pytestmark = pytest.mark.realtime
NOW = datetime.datetime.now(datetime.UTC)


def _cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, server: bool = False,
          client: bool = False) -> x509.Certificate:
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(days=1))
         .not_valid_after(NOW + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def make_pki(d: Path, name: str) -> Path:
    """CA + server cert (127.0.0.1) + client cert for CP1, all signed by that CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = _cert(f"{name} CA", ca_key, ca_name, ca_key, ca=True)
    _write(d / f"{name}-ca", ca, ca_key)
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("CP1" if role == "client" else "localhost", key, ca_name, ca_key,
                     ca=False, server=role == "server", client=role == "client")
        _write(d / f"{name}-{role}", cert, key)
    return d


async def session(version: str, server_sec: ServerSecurity, client_sec: WsSecurity,
                  scheme: str = "wss") -> CsmsSim:
    sim = CsmsSim(version)
    sim.tokens["TAG-OK"] = "Accepted"
    clock = MonotonicClock()
    commands: list[object] = []
    async with CsmsServer(sim, clock.now_ns, security=server_sec) as srv:
        ctrl = Controller(ControllerConfig(ocpp_version=version,
                                           epoch_unix_s=realtime_epoch_unix_s(clock)),
                          Store(":memory:"))
        ctrl.start(clock.now_ns())
        client = OcppWsClient(ctrl, f"{scheme}://127.0.0.1:{srv.port}/ocpp/CP1", client_sec,
                              clock, on_commands=commands.extend)
        task = asyncio.create_task(client.run())
        try:
            await until(lambda: "StatusNotification" in sim.actions())
            client.plc_event(EvPresent(True))
            client.plc_event(AuthRequested(PaymentOption.EIM))
            client.present_token("TAG-OK")
            await until(lambda: ctrl.state == "authorized.ev_connected")
            client.plc_event(Measurement(400.0, 0.0, 5000.0))
            client.plc_event(PowerDeliveryStarted())
            await until(lambda: bool(sim.transactions) and len(ctrl.store) == 0)
            tx_id = next(iter(sim.transactions))
            if version == "1.6":
                await srv.call("CP1", "RemoteStopTransaction", {"transactionId": int(tx_id)})
            else:
                await srv.call("CP1", "RequestStopTransaction", {"transactionId": tx_id})
            await until(lambda: any(isinstance(c, SessionCommandCmd) for c in commands))
            client.plc_event(Measurement(400.0, 0.0, 5100.0))
            client.plc_event(PowerDeliveryStopped(StopReason.CONTROLLER_STOP_GRACEFUL))
            await until(lambda: sim.transactions[tx_id].stop_reason is not None)
        finally:
            client.stop()
            await task
    return sim


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_profile_2_tls_with_basic_auth_full_session(tmp_path: Path, version: str) -> None:
    pki = make_pki(tmp_path, "csms")
    server = ServerSecurity(2, "CP1", "s3cret-password-16", str(pki / "csms-server.crt"),
                            str(pki / "csms-server.key"))
    client = WsSecurity(2, "CP1", "s3cret-password-16", ca_file=str(pki / "csms-ca.crt"))
    sim = asyncio.run(session(version, server, client))
    (tx,) = sim.transactions.values()
    assert tx.stop_reason == "Remote"
    assert sim.violations == [] and sim.duplicates == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_profile_3_tls_with_client_certificate_full_session(tmp_path: Path, version: str) -> None:
    pki = make_pki(tmp_path, "csms")
    server = ServerSecurity(3, server_cert=str(pki / "csms-server.crt"),
                            server_key=str(pki / "csms-server.key"),
                            client_ca=str(pki / "csms-ca.crt"))
    client = WsSecurity(3, ca_file=str(pki / "csms-ca.crt"),
                        client_cert=str(pki / "csms-client.crt"),
                        client_key=str(pki / "csms-client.key"))
    sim = asyncio.run(session(version, server, client))
    assert sim.violations == [] and len(sim.transactions) == 1


async def never_connects(server_sec: ServerSecurity, client_sec: WsSecurity) -> Exception:
    sim = CsmsSim("1.6")
    clock = MonotonicClock()
    async with CsmsServer(sim, clock.now_ns, security=server_sec) as srv:
        ctrl = Controller(ControllerConfig(), Store(":memory:"))
        ctrl.start(clock.now_ns())
        client = OcppWsClient(ctrl, f"wss://127.0.0.1:{srv.port}/ocpp/CP1", client_sec, clock)
        task = asyncio.create_task(client.run())
        await until(lambda: client.last_error is not None)
        client.stop()
        await task
        assert not client.connected.is_set() and sim.seen == []
        assert client.last_error is not None
        return client.last_error


def test_profile_2_wrong_password_is_refused(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, "csms")
    server = ServerSecurity(2, "CP1", "right-password-1234", str(pki / "csms-server.crt"),
                            str(pki / "csms-server.key"))
    client = WsSecurity(2, "CP1", "wrong-password-1234", ca_file=str(pki / "csms-ca.crt"))
    err = asyncio.run(never_connects(server, client))
    assert "401" in str(err)


def test_profile_2_untrusted_server_certificate_is_refused(tmp_path: Path) -> None:
    make_pki(tmp_path, "csms")
    make_pki(tmp_path, "other")
    server = ServerSecurity(2, "CP1", "p" * 16, str(tmp_path / "csms-server.crt"),
                            str(tmp_path / "csms-server.key"))
    client = WsSecurity(2, "CP1", "p" * 16, ca_file=str(tmp_path / "other-ca.crt"))
    err = asyncio.run(never_connects(server, client))
    assert "CERTIFICATE_VERIFY_FAILED" in str(err)


def test_profile_3_client_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    make_pki(tmp_path, "csms")
    make_pki(tmp_path, "other")
    server = ServerSecurity(3, server_cert=str(tmp_path / "csms-server.crt"),
                            server_key=str(tmp_path / "csms-server.key"),
                            client_ca=str(tmp_path / "csms-ca.crt"))
    client = WsSecurity(3, ca_file=str(tmp_path / "csms-ca.crt"),
                        client_cert=str(tmp_path / "other-client.crt"),
                        client_key=str(tmp_path / "other-client.key"))
    asyncio.run(never_connects(server, client))


def test_profile_and_url_scheme_must_agree() -> None:
    with pytest.raises(ControllerUsageError):
        WsSecurity(2).check("ws://127.0.0.1:9000/CP1")
    with pytest.raises(ControllerUsageError):
        WsSecurity(1).check("wss://127.0.0.1:9000/CP1")
