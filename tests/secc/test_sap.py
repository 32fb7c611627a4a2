"""supportedAppProtocol: the car's priority decides, unknown namespaces are skipped."""

from __future__ import annotations

import pytest

from evse.secc.env import AppProtocol
from evse.secc.sap import negotiate
from exi import app

TESLA_NS = "urn:tesla:din:2018:MsgDef"
ISO20_NS = "urn:iso:std:iso:15118:-20:DC"


def entry(ns: str, prio: int, schema: int, major: int = 2, minor: int = 0) -> app.AppProtocolType:
    return app.AppProtocolType(ProtocolNamespace=ns, VersionNumberMajor=major,
                               VersionNumberMinor=minor, SchemaID=schema, Priority=prio)


BOTH = (AppProtocol.ISO15118_2, AppProtocol.DIN70121)


@pytest.mark.req("PLC-4")
def test_car_priority_wins_over_station_order() -> None:
    req = app.supportedAppProtocolReq(AppProtocol=[
        entry(AppProtocol.ISO15118_2.value, 2, 10), entry(AppProtocol.DIN70121.value, 1, 11)])
    r = negotiate(req, BOTH)
    assert r.protocol is AppProtocol.DIN70121
    assert r.response.SchemaID == 11
    assert r.response.ResponseCode is app.responseCodeType.OK_SuccessfulNegotiation


@pytest.mark.req("PLC-4")
def test_unknown_namespaces_are_skipped_and_any_schema_id_is_echoed() -> None:
    req = app.supportedAppProtocolReq(AppProtocol=[
        entry(TESLA_NS, 1, 0), entry(ISO20_NS, 2, 1), entry(AppProtocol.DIN70121.value, 3, 255)])
    r = negotiate(req, BOTH)
    assert r.protocol is AppProtocol.DIN70121 and r.response.SchemaID == 255


@pytest.mark.req("PLC-4")
def test_only_configured_protocols_are_chosen() -> None:
    req = app.supportedAppProtocolReq(AppProtocol=[entry(AppProtocol.ISO15118_2.value, 1, 1)])
    r = negotiate(req, (AppProtocol.DIN70121,))
    assert r.protocol is None
    assert r.response.ResponseCode is app.responseCodeType.Failed_NoNegotiation
    assert r.response.SchemaID is None


@pytest.mark.req("PLC-4")
def test_minor_version_difference_is_a_minor_deviation_major_is_refused() -> None:
    minor = negotiate(app.supportedAppProtocolReq(AppProtocol=[
        entry(AppProtocol.DIN70121.value, 1, 3, minor=1)]), BOTH)
    assert minor.response.ResponseCode is (
        app.responseCodeType.OK_SuccessfulNegotiationWithMinorDeviation)
    major = negotiate(app.supportedAppProtocolReq(AppProtocol=[
        entry(AppProtocol.DIN70121.value, 1, 3, major=1)]), BOTH)
    assert major.protocol is None
