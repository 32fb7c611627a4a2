"""exi_notes.md §2: lists filled exactly to a maxOccurs >= 16.

We encode per the EXI specification; streams from the reference codec (which keeps the
repeat production once such a list is full) still decode, and maxOccurs stays enforced.
"""

from __future__ import annotations

import importlib

import pytest

import exi
from exi import iso2
from exi._codec import Encoder, SchemaGrammar
from exi._typed import to_tree


def _service_detail(n_parameters: int) -> iso2.V2G_Message:
    params = [iso2.ParameterType(Name=f"p{i}", intValue=i) for i in range(n_parameters)]
    return iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=b"\x01"),
        Body=iso2.BodyType(BodyElement=iso2.ServiceDetailResType(
            ResponseCode=iso2.responseCodeType.OK, ServiceID=2,
            ServiceParameterList=iso2.ServiceParameterListType(ParameterSet=[
                iso2.ParameterSetType(ParameterSetID=1, Parameter=params)]))))


def _reference_encode(msg: iso2.V2G_Message) -> bytes:
    mod = importlib.import_module("exi._generated.iso2ref_grammar")
    g = SchemaGrammar("iso2", mod.DATA)
    root = ("urn:iso:15118:2:2013:MsgDef", "V2G_Message")
    tree = to_tree(exi.messages("iso2").FIELDS, msg, root, "V2G_Message")
    return Encoder(g).document(tree)


def test_full_16_entry_list_from_the_reference_codec_decodes() -> None:
    msg = _service_detail(16)
    reference = _reference_encode(msg)
    spec = exi.encode("iso2", msg)
    assert reference != spec  # the two grammars really differ at the bound
    assert exi.decode("iso2", reference) == msg
    assert exi.decode("iso2", spec) == msg


def test_lists_below_the_bound_are_identical_in_both_grammars() -> None:
    msg = _service_detail(15)
    assert _reference_encode(msg) == exi.encode("iso2", msg)


def test_reference_variant_still_enforces_max_occurs() -> None:
    too_long = _reference_encode(_service_detail(17))
    with pytest.raises(exi.DecodeError):
        exi.decode("iso2", too_long)
    with pytest.raises(exi.EncodeError):
        exi.encode("iso2", _service_detail(17))
