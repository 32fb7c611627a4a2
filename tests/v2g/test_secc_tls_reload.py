"""The SECC's V2G leaf, signed through the CSMS (OCPP 2.0.1 A02/A03 SignCertificate
certificateType V2GCertificate), is what the SECC's TLS server presents from the next
connection on: a real TLS 1.2 handshake (memory BIOs, ISO 15118-2 ciphers) against the
EVCC context that trusts the V2G root, before and after a renewal."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from evse.csms_sim.signer import SimCa
from evse.io.v2g_net import SeccTlsContext, TlsServerCredentials, make_evcc_tls_context
from evse.security.station_certs import LeafUse
from tests.controller.harness import Rig

EPOCH = 1_767_225_600


def _presented(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> x509.Certificate:
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    for _ in range(20):
        done = 0
        for side in (client, server):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2:
            break
    der = client.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _sign_v2g(rig: Rig) -> None:
    uid = rig.csms.call("TriggerMessage", {"requestedMessage": "SignV2GCertificate"},
                        rig.link.now_ns)
    rig.link.pump()
    assert rig.csms.answers[uid].payload == {"status": "Accepted"}


def test_A02_v2g_leaf_from_the_csms_is_presented_by_the_secc_tls_server(
        tmp_path: Path) -> None:
    rig = Rig("2.0.1", station_cert_dir=str(tmp_path / "certs"))
    ca = SimCa("sim V2G root", EPOCH - 86_400)
    rig.csms.v2g_ca = ca
    rig.root_call("InstallCertificate", {"certificateType": "V2GRootCertificate",
                                         "certificate": ca.pem})
    _sign_v2g(rig)
    paths = rig.ctrl.station_certs.paths(LeafUse.V2G)
    assert paths is not None
    root_file = tmp_path / "v2g_root.pem"
    root_file.write_text(ca.pem)
    evcc = make_evcc_tls_context(root_file)
    secc = SeccTlsContext(TlsServerCredentials(paths.chain, paths.key))
    first = _presented(secc.current(), evcc)
    assert first == rig.ctrl.station_certs.leaf(LeafUse.V2G)
    _sign_v2g(rig)  # renewal: a new key and leaf through the CSMS
    second = rig.ctrl.station_certs.leaf(LeafUse.V2G)
    assert second is not None and second != first
    assert _presented(secc.current(), evcc) == second  # no restart needed
    assert rig.csms.violations == []


def test_a_pair_that_does_not_load_keeps_the_previous_context(tmp_path: Path) -> None:
    rig = Rig("2.0.1", station_cert_dir=str(tmp_path / "certs"))
    ca = SimCa("sim V2G root", EPOCH - 86_400)
    rig.csms.v2g_ca = ca
    rig.root_call("InstallCertificate", {"certificateType": "V2GRootCertificate",
                                         "certificate": ca.pem})
    _sign_v2g(rig)
    paths = rig.ctrl.station_certs.paths(LeafUse.V2G)
    assert paths is not None
    secc = SeccTlsContext(TlsServerCredentials(paths.chain, paths.key))
    before = secc.current()
    paths.key.write_text("torn write")  # e.g. a key without its chain
    assert secc.current() is before
