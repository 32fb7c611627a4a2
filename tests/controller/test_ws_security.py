"""Security profiles and password rotation over real websockets (127.0.0.1): the
controller's client against the CSMS simulator's server with the test PKI of
test_ws_tls.py. A01 BasicAuthPassword / 1.6 AuthorizationKey rotation, A05/B09 and the
1.6 SecurityProfile key (upgrade, never downgrade), A02 certificate signing followed by a
profile 3 connection with the new client certificate, A04 connection security events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.security_events import SecurityEvent
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim
from evse.csms_sim.signer import SimCa
from evse.io.ocpp_ws import (
    CsmsServer,
    OcppWsClient,
    ServerSecurity,
    WsSecurity,
    realtime_epoch_unix_s,
)
from evse.runtime.clock import MonotonicClock
from evse.security.station_certs import LeafUse
from tests.controller.test_ws_tls import make_pki, until

pytestmark = pytest.mark.realtime
OLD_PW = "old-password-0123456"
NEW_PW = "new-password-6543210"


@dataclass
class Station:
    ctrl: Controller
    client: OcppWsClient
    clock: MonotonicClock


@asynccontextmanager
async def station(version: str, url: str, sec: WsSecurity, clock: MonotonicClock,
                  cert_dir: Path | None = None) -> AsyncIterator[Station]:
    ctrl = Controller(ControllerConfig(ocpp_version=version,
                                       epoch_unix_s=realtime_epoch_unix_s(clock),
                                       station_cert_dir=str(cert_dir) if cert_dir else ""),
                      Store(":memory:"))
    ctrl.start(clock.now_ns())
    client = OcppWsClient(ctrl, url, sec, clock)
    task = asyncio.create_task(client.run())
    try:
        yield Station(ctrl, client, clock)
    finally:
        client.stop()
        await task


async def call(srv: CsmsServer, action: str, payload: dict[str, object]) -> dict[str, object]:
    uid = await srv.call("CP1", action, payload)
    await until(lambda: srv.sim.answers[uid].payload is not None
                or srv.sim.answers[uid].error is not None)
    answer = srv.sim.answers[uid]
    assert answer.error is None and answer.payload is not None, answer
    return answer.payload


def _server(d: Path, profile: int) -> ServerSecurity:
    return ServerSecurity(profile, "CP1", OLD_PW, str(d / "csms-server.crt"),
                          str(d / "csms-server.key"), str(d / "csms-ca.crt"))


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_A01_password_rotation_reconnects_with_the_new_password(
        version: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        sim = CsmsSim(version)
        clock = MonotonicClock()
        async with CsmsServer(sim, clock.now_ns, security=ServerSecurity(
                1, "CP1", OLD_PW)) as srv:
            url = f"ws://127.0.0.1:{srv.port}/ocpp/CP1"
            async with station(version, url, WsSecurity(1, "CP1", OLD_PW), clock) as st:
                await until(lambda: "CP1" in srv.connections and st.ctrl.booted)
                srv.passwords = {NEW_PW}  # the CSMS now expects only the new one
                if version == "1.6":
                    ans = await call(srv, "ChangeConfiguration", {
                        "key": "AuthorizationKey", "value": NEW_PW.encode().hex()})
                    assert ans == {"status": "Accepted"}
                else:
                    ans = await call(srv, "SetVariables", {"setVariableData": [{
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": NEW_PW}]})
                    assert ans["setVariableResult"][0]["attributeStatus"] == "Accepted"
                n = len(srv.auth_results)
                await until(lambda: len(srv.auth_results) > n and "CP1" in srv.connections)
                assert srv.auth_results[n:] == [True]  # the first retry already uses it
                # the secret is never read back
                if version == "1.6":
                    conf = await call(srv, "GetConfiguration", {"key": ["AuthorizationKey"]})
                    assert conf["configurationKey"] == [{"key": "AuthorizationKey",
                                                         "readonly": False}]
                else:
                    got = await call(srv, "GetVariables", {"getVariableData": [{
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"}}]})
                    assert got["getVariableResult"][0]["attributeStatus"] == "Rejected"
                assert SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS in \
                    st.ctrl.security_log.kinds()
        assert sim.violations == []

    asyncio.run(main())
    for rec in caplog.records:
        if rec.name.startswith("evse"):  # our code; the CSMS side's library logs frames
            text = rec.getMessage()
            assert NEW_PW not in text and NEW_PW.encode().hex() not in text
            assert OLD_PW not in text


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_A01_too_short_password_is_rejected_and_the_connection_stays(version: str) -> None:
    from tests.controller.harness import Rig

    rig = Rig(version)
    rig.ctrl.adopt_security_profile(1)
    if version == "1.6":
        for value in ("abcd", "zz" * 16, "ab" * 21):
            uid = rig.csms.call("ChangeConfiguration", {"key": "AuthorizationKey",
                                                        "value": value})
            rig.link.pump()
            assert rig.csms.answers[uid].payload == {"status": "Rejected"}
    else:
        uid = rig.csms.call("SetVariables", {"setVariableData": [{
            "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
            "attributeValue": "short"}]})
        rig.link.pump()
        payload = rig.csms.answers[uid].payload
        assert payload is not None
        assert payload["setVariableResult"][0]["attributeStatus"] == "Rejected"
    assert rig.ctrl.network.take_change() is False


def test_A05_B09_upgrade_1_to_2_with_set_network_profile(tmp_path: Path) -> None:
    """2.0.1: the CSMS installs its root (M05), then SetNetworkProfile to a wss:// URL
    with profile 2; the station reconnects there and checks the server certificate
    against the root it got over OCPP (none configured locally)."""
    d = make_pki(tmp_path, "csms")
    root_pem = (d / "csms-ca.crt").read_text()

    async def main() -> None:
        sim1, sim2 = CsmsSim("2.0.1"), CsmsSim("2.0.1")
        clock = MonotonicClock()
        async with CsmsServer(sim1, clock.now_ns, security=ServerSecurity(
                1, "CP1", OLD_PW)) as plain, \
                CsmsServer(sim2, clock.now_ns, security=_server(d, 2)) as tls:
            url = f"ws://127.0.0.1:{plain.port}/ocpp/CP1"
            async with station("2.0.1", url, WsSecurity(1, "CP1", OLD_PW), clock) as st:
                await until(lambda: "CP1" in plain.connections and st.ctrl.booted)
                profile = {"configurationSlot": 1, "connectionData": {
                    "ocppVersion": "OCPP20", "ocppTransport": "JSON",
                    "ocppCsmsUrl": f"wss://127.0.0.1:{tls.port}/ocpp/CP1",
                    "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}}
                # no CSMS root yet: the upgrade's prerequisite is missing
                assert await call(plain, "SetNetworkProfile", profile) == {"status": "Rejected"}
                assert await call(plain, "InstallCertificate", {
                    "certificateType": "CSMSRootCertificate", "certificate": root_pem}) \
                    == {"status": "Accepted"}
                assert await call(plain, "SetNetworkProfile", profile) == {"status": "Accepted"}
                await until(lambda: "CP1" in tls.connections
                            and "StatusNotification" in sim2.actions())
                # never downgrade: profile 1 again is refused
                down = {"configurationSlot": 1, "connectionData": dict(
                    profile["connectionData"], securityProfile=1,  # type: ignore[arg-type]
                    ocppCsmsUrl=url)}
                assert await call(tls, "SetNetworkProfile", down) == {"status": "Rejected"}
                got = await call(tls, "GetVariables", {"getVariableData": [{
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "SecurityProfile"}}]})
                assert got["getVariableResult"][0]["attributeValue"] == "2"
        assert sim1.violations == [] and sim2.violations == []

    asyncio.run(main())


def test_whitepaper_16_security_profile_key_upgrades_to_wss_and_never_down(
        tmp_path: Path) -> None:
    """1.6: ChangeConfiguration SecurityProfile 2 (after InstallCertificate
    CentralSystemRootCertificate) makes the station reconnect to the same endpoint over
    wss://; a lower value is Rejected."""
    d = make_pki(tmp_path, "csms")
    root_pem = (d / "csms-ca.crt").read_text()

    async def main() -> None:
        sim = CsmsSim("1.6")
        clock = MonotonicClock()
        plain = CsmsServer(sim, clock.now_ns, security=ServerSecurity(1, "CP1", OLD_PW))
        await plain.__aenter__()
        port = plain.port
        url = f"ws://127.0.0.1:{port}/ocpp/CP1"
        async with station("1.6", url, WsSecurity(1, "CP1", OLD_PW), clock) as st:
            try:
                await until(lambda: "CP1" in plain.connections and st.ctrl.booted)
                assert await call(plain, "ChangeConfiguration", {
                    "key": "SecurityProfile", "value": "2"}) == {"status": "Rejected"}
                assert await call(plain, "InstallCertificate", {
                    "certificateType": "CentralSystemRootCertificate",
                    "certificate": root_pem}) == {"status": "Accepted"}
                assert await call(plain, "ChangeConfiguration", {
                    "key": "SecurityProfile", "value": "2"}) == {"status": "Accepted"}
            finally:
                await plain.__aexit__()
            async with CsmsServer(sim, clock.now_ns, port=port,
                                  security=_server(d, 2)) as tls:
                await until(lambda: "CP1" in tls.connections, 15.0)
                assert await call(tls, "ChangeConfiguration", {
                    "key": "SecurityProfile", "value": "1"}) == {"status": "Rejected"}
                conf = await call(tls, "GetConfiguration", {"key": ["SecurityProfile"]})
                assert conf["configurationKey"][0]["value"] == "2"
        assert sim.violations == []

    asyncio.run(main())


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_A02_signed_client_certificate_is_used_for_profile_3(version: str,
                                                              tmp_path: Path) -> None:
    """The CSMS signs the station's CSR with the CA its profile 3 server trusts; after
    the station accepted it and the CSMS raised the profile, the next connection shows the
    new client certificate (the station had none before)."""
    d = make_pki(tmp_path, "csms")
    root_pem = (d / "csms-ca.crt").read_text()

    async def main() -> None:
        clock = MonotonicClock()
        # the CSMS's currentTime is the real time (the station adopts it, per B01/G02):
        # its CA's validity is checked on that clock
        sim = CsmsSim(version, epoch_unix_s=realtime_epoch_unix_s(clock))
        sim.ca = SimCa("client CA", realtime_epoch_unix_s(clock) - 86_400)
        client_ca = tmp_path / "client-ca.pem"
        client_ca.write_text(sim.ca.pem)
        tls3 = ServerSecurity(3, "CP1", "", str(d / "csms-server.crt"),
                              str(d / "csms-server.key"), str(client_ca))
        async with CsmsServer(sim, clock.now_ns, security=_server(d, 2)) as two, \
                CsmsServer(sim, clock.now_ns, security=tls3) as three:
            url = f"wss://127.0.0.1:{two.port}/ocpp/CP1"
            async with station(version, url, WsSecurity(2, "CP1", OLD_PW,
                                                         str(d / "csms-ca.crt")),
                               clock, tmp_path / "certs") as st:
                await until(lambda: "CP1" in two.connections and st.ctrl.booted)
                rt = "CSMSRootCertificate" if version == "2.0.1" else \
                    "CentralSystemRootCertificate"
                assert await call(two, "InstallCertificate", {
                    "certificateType": rt, "certificate": root_pem}) == {"status": "Accepted"}
                # the CA that signs charger certificates anchors them (A02: the chain is
                # verified against an installed CSMS root)
                assert sim.ca is not None
                assert await call(two, "InstallCertificate", {
                    "certificateType": rt, "certificate": sim.ca.pem}) == {"status": "Accepted"}
                if version == "2.0.1":
                    await call(two, "TriggerMessage",
                               {"requestedMessage": "SignChargingStationCertificate"})
                else:
                    await call(two, "ExtendedTriggerMessage",
                               {"requestedMessage": "SignChargePointCertificate"})
                await until(lambda: st.ctrl.station_certs.leaf(LeafUse.CHARGING_STATION)
                            is not None)
                if version == "2.0.1":
                    ans = await call(two, "SetNetworkProfile", {
                        "configurationSlot": 1, "connectionData": {
                            "ocppVersion": "OCPP20", "ocppTransport": "JSON",
                            "ocppCsmsUrl": f"wss://127.0.0.1:{three.port}/ocpp/CP1",
                            "messageTimeout": 30, "securityProfile": 3,
                            "ocppInterface": "Wired0"}})
                    assert ans == {"status": "Accepted"}
                else:
                    # 1.6 keeps the endpoint: point the station at the profile 3 server
                    st.client.url = f"wss://127.0.0.1:{three.port}/ocpp/CP1"
                    assert await call(two, "ChangeConfiguration", {
                        "key": "SecurityProfile", "value": "3"}) == {"status": "Accepted"}
                await until(lambda: "CP1" in three.connections, 15.0)
        assert sim.violations == []

    asyncio.run(main())


def test_A04_wrong_password_and_untrusted_csms_certificate_are_security_events(
        tmp_path: Path) -> None:
    d = make_pki(tmp_path, "csms")
    other = make_pki(tmp_path, "other")

    async def attempt(sec: WsSecurity, server: ServerSecurity) -> list[SecurityEvent]:
        sim = CsmsSim("2.0.1")
        clock = MonotonicClock()
        async with CsmsServer(sim, clock.now_ns, security=server) as srv:
            url = f"wss://127.0.0.1:{srv.port}/ocpp/CP1"
            async with station("2.0.1", url, sec, clock) as st:
                await until(lambda: st.client.last_error is not None)
                await asyncio.sleep(0.05)
                return st.ctrl.security_log.kinds()

    bad_pw = asyncio.run(attempt(WsSecurity(2, "CP1", "wrong-password-xxxx",
                                            str(d / "csms-ca.crt")), _server(d, 2)))
    assert SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CSMS in bad_pw
    bad_cert = asyncio.run(attempt(WsSecurity(2, "CP1", OLD_PW,
                                              str(other / "other-ca.crt")), _server(d, 2)))
    assert SecurityEvent.INVALID_CSMS_CERTIFICATE in bad_cert
