"""`evse exi` command line (exi.cli.main): decode, encode (captures: tests/replay)."""

from __future__ import annotations

import io
import sys

import pytest
from exi_vectors import infoset, load

from exi.cli import main

PUBLIC = load("exi_public.jsonl")
REAL = load("real_world_exi.jsonl")


def _vec(schema: str, message: str) -> dict[str, str]:
    return next(v for v in PUBLIC if v["schema"] == schema and v["message"] == message)


@pytest.mark.parametrize("schema", ["app", "din", "iso2"])
def test_decode_detects_the_schema_when_not_given(schema: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    vec = next(v for v in PUBLIC if v["schema"] == schema)
    assert main(["decode", vec["exi_hex"]]) == 0
    assert infoset(capsys.readouterr().out) == infoset(vec["xml"])


def test_decode_with_explicit_schema_accepts_a_v2gtp_header(
        capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vec("din", "CurrentDemandReq")
    payload = bytes.fromhex(vec["exi_hex"])
    v2gtp = bytes([1, 0xFE, 0x80, 0x01]) + len(payload).to_bytes(4, "big") + payload
    assert main(["decode", "--schema", "din", v2gtp.hex()]) == 0
    assert infoset(capsys.readouterr().out) == infoset(vec["xml"])


def test_encode_reads_xml_from_stdin_and_prints_hex(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vec("iso2", "CurrentDemandRes")
    monkeypatch.setattr(sys, "stdin", io.StringIO(vec["xml"]))
    assert main(["encode", "--schema", "iso2"]) == 0
    assert capsys.readouterr().out.strip() == vec["exi_hex"]


def test_undecodable_input_exits_nonzero_with_a_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--schema", "din", "80ff"]) == 1
    assert "error" in capsys.readouterr().err
