"""Typed message objects: what the SECC and the EV simulator build and receive."""

from __future__ import annotations

import dataclasses

import pytest

import exi
from exi import din, iso2

SESSION_ID = bytes.fromhex("0102030405060708")


def _pv(value: int, unit: din.unitSymbolType, multiplier: int = 0) -> din.PhysicalValueType:
    return din.PhysicalValueType(Multiplier=multiplier, Unit=unit, Value=value)


def din_current_demand_res(voltage_v: int = 400) -> din.V2G_Message:
    return din.V2G_Message(
        Header=din.MessageHeaderType(SessionID=SESSION_ID),
        Body=din.BodyType(BodyElement=din.CurrentDemandResType(
            ResponseCode=din.responseCodeType.OK,
            DC_EVSEStatus=din.DC_EVSEStatusType(
                EVSEIsolationStatus=din.isolationLevelType.Valid,
                EVSEStatusCode=din.DC_EVSEStatusCodeType.EVSE_Ready,
                NotificationMaxDelay=0,
                EVSENotification=din.EVSENotificationType.None_),
            EVSEPresentVoltage=_pv(voltage_v, din.unitSymbolType.V),
            EVSEPresentCurrent=_pv(100, din.unitSymbolType.A),
            EVSECurrentLimitAchieved=False,
            EVSEVoltageLimitAchieved=False,
            EVSEPowerLimitAchieved=False,
            EVSEMaximumVoltageLimit=_pv(500, din.unitSymbolType.V),
        )))


def test_din_current_demand_res_round_trips_through_exi() -> None:
    msg = din_current_demand_res()
    data = exi.encode("din", msg)
    assert data[0] == 0x80
    back = exi.decode("din", data)
    assert back == msg
    assert back.Body.BodyElement.EVSEMaximumCurrentLimit is None


def test_typed_encoding_matches_the_xml_bridge() -> None:
    data = exi.encode("din", din_current_demand_res())
    assert exi.encode_xml("din", exi.decode_to_xml("din", data)) == data


def test_value_outside_facet_is_rejected_naming_the_field() -> None:
    msg = din_current_demand_res()
    body = msg.Body.BodyElement
    bad = dataclasses.replace(body, EVSEPresentVoltage=din.PhysicalValueType(
        Multiplier=7, Unit=din.unitSymbolType.V, Value=1))
    with pytest.raises(exi.EncodeError) as err:
        exi.encode("din", dataclasses.replace(msg, Body=din.BodyType(BodyElement=bad)))
    assert err.value.field.endswith("CurrentDemandRes/EVSEPresentVoltage/Multiplier")


def test_too_long_session_id_is_rejected_naming_the_field() -> None:
    msg = dataclasses.replace(din_current_demand_res(),
                              Header=din.MessageHeaderType(SessionID=bytes(9)))
    with pytest.raises(exi.EncodeError) as err:
        exi.encode("din", msg)
    assert err.value.field == "V2G_Message/Header/SessionID"


def test_missing_required_field_is_rejected_naming_the_field() -> None:
    msg = din_current_demand_res()
    body = dataclasses.replace(msg.Body.BodyElement, EVSEPresentCurrent=None)
    with pytest.raises(exi.EncodeError) as err:
        exi.encode("din", dataclasses.replace(msg, Body=din.BodyType(BodyElement=body)))
    assert "EVSEPresentCurrent" in err.value.field


def test_iso2_lists_and_substitution_groups_round_trip() -> None:
    req = iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=SESSION_ID),
        Body=iso2.BodyType(BodyElement=iso2.ChargeParameterDiscoveryReqType(
            MaxEntriesSAScheduleTuple=12,
            RequestedEnergyTransferMode=iso2.EnergyTransferModeType.DC_extended,
            EVChargeParameter=iso2.DC_EVChargeParameterType(
                DepartureTime=3600,
                DC_EVStatus=iso2.DC_EVStatusType(
                    EVReady=True, EVErrorCode=iso2.DC_EVErrorCodeType.NO_ERROR, EVRESSSOC=42),
                EVMaximumCurrentLimit=iso2.PhysicalValueType(
                    Multiplier=0, Unit=iso2.unitSymbolType.A, Value=200),
                EVMaximumVoltageLimit=iso2.PhysicalValueType(
                    Multiplier=0, Unit=iso2.unitSymbolType.V, Value=450)))))
    data = exi.encode("iso2", req)
    assert exi.decode("iso2", data) == req
    xml = exi.decode_to_xml("iso2", data)
    assert "DC_EVChargeParameter" in xml


def test_signed_element_fragment_round_trips() -> None:
    auth = iso2.AuthorizationReqType(Id="id1", GenChallenge=bytes(16))
    data = exi.encode_fragment("iso2", auth, element="AuthorizationReq")
    assert exi.decode_fragment("iso2", data) == auth


def test_app_handshake_round_trips() -> None:
    from exi import app

    req = app.supportedAppProtocolReq(AppProtocol=[app.AppProtocolType(
        ProtocolNamespace="urn:din:70121:2012:MsgDef", VersionNumberMajor=2,
        VersionNumberMinor=0, SchemaID=1, Priority=1)])
    data = exi.encode("app", req)
    assert data.hex() == "8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040"
    assert exi.decode("app", data) == req


def test_car_style_empty_values_encode_as_zero_length_characters() -> None:
    # exi_notes.md §1: EXIficient writes EE (second level), cars write CH of length 0;
    # both decode to the same empty values; we encode as cars do.
    exificient = bytes.fromhex("809a447500")
    msg = exi.decode("din", exificient)
    assert msg.Header.SessionID == b""
    assert msg.Body.BodyElement.EVCCID == b""
    car_style = exi.encode("din", msg)
    assert car_style.hex().startswith("809a0011d0")
    assert exi.decode("din", car_style) == msg


def test_abstract_body_element_is_refused_by_the_typed_encoder() -> None:
    msg = iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=SESSION_ID),
                           Body=iso2.BodyType(BodyElement=iso2.BodyBaseType()))
    with pytest.raises(exi.EncodeError) as err:
        exi.encode("iso2", msg)
    assert err.value.field.endswith("Body/BodyElement")


def test_wrong_class_in_a_field_is_an_encode_error() -> None:
    msg = din_current_demand_res()
    with pytest.raises(exi.EncodeError):
        exi.encode("din", dataclasses.replace(msg, Header=msg.Body))


def test_emaid_of_the_certificate_responses_encodes_as_a_fragment() -> None:
    # ISO 15118-2 signs the eMAID element of CertificateInstallationRes; the fragment
    # grammar lists it at event 236 of 243 (8 bits), typed as EMAIDType (with Id).
    emaid = iso2.EMAIDType(Id="id1", value="DEABC1234567890")
    data = exi.encode_fragment("iso2", emaid, element="eMAID")
    assert data[:2] == bytes([0x80, 236])
    assert exi.decode_fragment("iso2", data) == emaid
