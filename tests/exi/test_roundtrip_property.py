"""Property: every generated schema-valid message encodes and decodes back unchanged.

Message objects come from the generated class metadata: optional elements present or
absent, lists from minOccurs to maxOccurs (capped at 24), integers across their facets,
every enum value, strings up to and at their maxLength. Objects the schema rejects
(e.g. two branches of a choice set at once) are skipped by ``assume``.
"""

from __future__ import annotations

import pytest
from exi_strategies import class_strategy
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import exi

SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def _body_types(schema: str) -> list[str]:
    mod = exi.messages(schema)
    spec = {f[0]: f for f in mod.FIELDS[mod.BodyType]}
    return sorted(local for _cls, _uri, local in spec["BodyElement"][4]
                  if local != "BodyElement")


def _roundtrip(schema: str, msg: object) -> None:
    try:
        data = exi.encode(schema, msg)
    except exi.EncodeError:
        assume(False)
        return
    assert exi.decode(schema, data) == msg
    assert exi.encode_xml(schema, exi.decode_to_xml(schema, data)) == data


MESSAGE_TYPES = [(schema, name) for schema in ("din", "iso2") for name in _body_types(schema)]


@pytest.mark.parametrize(("schema", "name"), MESSAGE_TYPES,
                         ids=[f"{s}-{n}" for s, n in MESSAGE_TYPES])
def test_every_message_type_round_trips(schema: str, name: str) -> None:
    mod = exi.messages(schema)
    elem_cls = mod.ELEMENTS[name][1]
    header = st.builds(mod.MessageHeaderType, SessionID=st.binary(min_size=1, max_size=8),
                       Notification=st.none(), Signature=st.none())
    msgs = st.builds(mod.V2G_Message, Header=header,
                     Body=st.builds(mod.BodyType, BodyElement=class_strategy(mod, elem_cls)))

    @SETTINGS
    @given(msgs)
    def check(msg: object) -> None:
        _roundtrip(schema, msg)

    check()


@pytest.mark.parametrize("schema", ["din", "iso2"])
def test_headers_with_notification_and_signature_round_trip(schema: str) -> None:
    mod = exi.messages(schema)

    @SETTINGS
    @given(class_strategy(mod, mod.MessageHeaderType))
    def check(header: object) -> None:
        _roundtrip(schema, mod.V2G_Message(Header=header, Body=mod.BodyType()))

    check()


@pytest.mark.parametrize("root", ["supportedAppProtocolReq", "supportedAppProtocolRes"])
def test_app_handshake_messages_round_trip(root: str) -> None:
    mod = exi.messages("app")

    @SETTINGS
    @given(class_strategy(mod, mod.ELEMENTS[root][1]))
    def check(msg: object) -> None:
        _roundtrip("app", msg)

    check()


def test_pmax_schedule_filled_to_1024_entries_round_trips() -> None:
    from exi import iso2

    entries = [iso2.PMaxScheduleEntryType(
        TimeInterval=iso2.RelativeTimeIntervalType(start=i * 60),
        PMax=iso2.PhysicalValueType(Multiplier=0, Unit=iso2.unitSymbolType.W, Value=i))
        for i in range(1024)]
    schedule = iso2.PMaxScheduleType(PMaxScheduleEntry=entries)
    tuple_ = iso2.SAScheduleTupleType(SAScheduleTupleID=1, PMaxSchedule=schedule)
    res = iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=b"\x01"),
        Body=iso2.BodyType(BodyElement=iso2.ChargeParameterDiscoveryResType(
            ResponseCode=iso2.responseCodeType.OK,
            EVSEProcessing=iso2.EVSEProcessingType.Finished,
            SASchedules=iso2.SAScheduleListType(SAScheduleTuple=[tuple_]),
            EVSEChargeParameter=iso2.DC_EVSEChargeParameterType(
                DC_EVSEStatus=iso2.DC_EVSEStatusType(
                    NotificationMaxDelay=0, EVSENotification=iso2.EVSENotificationType.None_,
                    EVSEStatusCode=iso2.DC_EVSEStatusCodeType.EVSE_Ready),
                **{k: iso2.PhysicalValueType(Multiplier=0, Unit=iso2.unitSymbolType.A, Value=1)
                   for k in ("EVSEMaximumCurrentLimit", "EVSEMaximumPowerLimit",
                             "EVSEMaximumVoltageLimit", "EVSEMinimumCurrentLimit",
                             "EVSEMinimumVoltageLimit", "EVSEPeakCurrentRipple")}))))
    data = exi.encode("iso2", res)
    assert exi.decode("iso2", data) == res
    too_many = iso2.PMaxScheduleType(PMaxScheduleEntry=[*entries, entries[0]])
    with pytest.raises(exi.EncodeError):
        exi.encode("iso2", iso2.V2G_Message(
            Header=res.Header, Body=iso2.BodyType(BodyElement=iso2.ChargeParameterDiscoveryResType(
                ResponseCode=iso2.responseCodeType.OK,
                EVSEProcessing=iso2.EVSEProcessingType.Finished,
                SASchedules=iso2.SAScheduleListType(SAScheduleTuple=[iso2.SAScheduleTupleType(
                    SAScheduleTupleID=1, PMaxSchedule=too_many)]),
                EVSEChargeParameter=res.Body.BodyElement.EVSEChargeParameter))))


SIGNED_FRAGMENTS = [("iso2", "AuthorizationReq"), ("iso2", "MeteringReceiptReq"),
                    ("iso2", "CertificateInstallationReq"), ("iso2", "CertificateUpdateReq"),
                    ("iso2", "eMAID"), ("iso2", "ContractSignatureCertChain"),
                    ("iso2", "ContractSignatureEncryptedPrivateKey"), ("iso2", "DHpublickey"),
                    ("xmldsig", "SignedInfo")]


@pytest.mark.parametrize(("schema", "element"), SIGNED_FRAGMENTS,
                         ids=[f"{s}-{e}" for s, e in SIGNED_FRAGMENTS])
def test_signed_fragments_round_trip(schema: str, element: str) -> None:
    mod = exi.messages(schema)

    @SETTINGS
    @given(class_strategy(mod, mod.FRAGMENTS[element][1]))
    def check(obj: object) -> None:
        try:
            data = exi.encode_fragment(schema, obj, element=element)
        except exi.EncodeError:
            assume(False)
            return
        assert exi.decode_fragment(schema, data) == obj
        assert exi.encode_xml(schema, exi.decode_to_xml(schema, data, fragment=True),
                              fragment=True) == data

    check()
