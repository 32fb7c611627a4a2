"""EXIficient reference vectors: XML -> exactly the reference bytes, bytes -> same infoset."""

from __future__ import annotations

from typing import Any

import pytest
from exi_vectors import infoset, load

import exi

PUBLIC = load("exi_public.jsonl")
FRAGMENTS = load("exi_fragments_public.jsonl")


def _ids(vs: list[dict[str, Any]]) -> list[str]:
    return [str(v["id"]) for v in vs]


def test_public_vector_files_are_complete() -> None:
    assert len(PUBLIC) == 168
    assert len(FRAGMENTS) == 15


@pytest.mark.parametrize("vec", PUBLIC + FRAGMENTS, ids=_ids(PUBLIC + FRAGMENTS))
def test_xml_encodes_to_the_reference_bytes(vec: dict[str, Any]) -> None:
    data = exi.encode_xml(vec["schema"], vec["xml"], fragment=vec.get("fragment", False))
    assert data.hex() == vec["exi_hex"]


@pytest.mark.parametrize("vec", PUBLIC + FRAGMENTS, ids=_ids(PUBLIC + FRAGMENTS))
def test_reference_bytes_decode_to_the_same_infoset(vec: dict[str, Any]) -> None:
    xml = exi.decode_to_xml(vec["schema"], bytes.fromhex(vec["exi_hex"]),
                            fragment=vec.get("fragment", False))
    assert infoset(xml) == infoset(vec["xml"])


@pytest.mark.parametrize("vec", PUBLIC + FRAGMENTS, ids=_ids(PUBLIC + FRAGMENTS))
def test_typed_objects_round_trip_the_reference_bytes(vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["exi_hex"])
    if vec.get("fragment"):
        obj = exi.decode_fragment(vec["schema"], data)
        assert exi.encode_fragment(vec["schema"], obj, element=vec["message"]) == data
    else:
        obj = exi.decode(vec["schema"], data)
        assert exi.encode(vec["schema"], obj) == data


DS = "http://www.w3.org/2000/09/xmldsig#"
KEY_INFO = (
    f'<ds:KeyInfo xmlns:ds="{DS}" Id="k1"><ds:KeyName>n</ds:KeyName><ds:KeyValue>'
    "<ds:RSAKeyValue><ds:Modulus>AQAB</ds:Modulus><ds:Exponent>AQAB</ds:Exponent>"
    "</ds:RSAKeyValue></ds:KeyValue><ds:RetrievalMethod URI=\"#x\"><ds:Transforms>"
    '<ds:Transform Algorithm="a"><ds:XPath>/a</ds:XPath></ds:Transform></ds:Transforms>'
    "</ds:RetrievalMethod><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>CN=x"
    "</ds:X509IssuerName><ds:X509SerialNumber>-1234567890123456789012345678901234567890"
    "</ds:X509SerialNumber></ds:X509IssuerSerial><ds:X509SKI>AQAB</ds:X509SKI>"
    "</ds:X509Data><ds:PGPData><ds:PGPKeyID>AQAB</ds:PGPKeyID></ds:PGPData>"
    "<ds:MgmtData>m</ds:MgmtData></ds:KeyInfo>")


@pytest.mark.parametrize("schema", ["xmldsig", "iso2", "din"])
def test_xmldsig_elements_beyond_the_vectors_round_trip_through_xml(schema: str) -> None:
    data = exi.encode_xml(schema, KEY_INFO, fragment=True)
    assert infoset(exi.decode_to_xml(schema, data, fragment=True)) == infoset(KEY_INFO)
