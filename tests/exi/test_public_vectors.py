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
