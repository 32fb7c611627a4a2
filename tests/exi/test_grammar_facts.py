"""EXI 1.0 grammar facts the byte-exactness depends on (checked on the generated tables)."""

from __future__ import annotations

import exi


def _state(schema: str, name: str) -> exi._codec.State:
    return next(s for s in exi.grammar(schema).states if s.name == name)


def test_document_grammar_lists_all_global_elements_sorted_by_local_name() -> None:
    g = exi.grammar("din")
    names = [q for q, _s in g.doc]
    assert names == sorted(names, key=lambda q: (q[1], q[0]))
    assert g.doc_w == len(g.doc).bit_length()  # ceil(log2(n + 1)): n elements + SE(*)


def test_iso2_body_lists_the_abstract_head_as_the_reference_codec_does() -> None:
    body = _state("iso2", "BodyType#0")
    names = [p[1][1] for p in body.prods if p[0] == exi._codec.K_SE]
    assert "BodyElement" in names and len(names) == 35
    assert names == sorted(names)
    assert body.w == 6  # 35 SE + EE + escape to the second level


def test_simple_element_second_level_starts_with_ee_for_empty_values() -> None:
    g = exi.grammar("din")
    start = next(s for q, s in g.frag if q[1] == "SessionID")
    first = g.states[start]
    assert first.nprods == 1 and first.w == 1
    assert first.second[0] == "EE"
    assert first.second[1:3] == ["XSI_TYPE", "XSI_NIL"]
    assert first.w2 == 3


def test_qualified_iso2_id_attribute_comes_first_and_is_namespaced() -> None:
    g = exi.grammar("iso2")
    start = next(s for q, s in g.frag if q[1] == "AuthorizationReq")
    st = g.states[start]
    kind, qname, _dt, _next = st.prods[0]
    assert kind == exi._codec.K_AT
    assert qname == ("urn:iso:15118:2:2013:MsgBody", "Id")


def test_bounded_list_grammar_stops_offering_the_element_at_max_occurs() -> None:
    # EXI 1.0 §8.5.4.1.4 (bounded repetition): after the 20th AppProtocol only EE is left.
    g = exi.grammar("app")
    start = next(s for q, s in g.doc if q[1] == "supportedAppProtocolReq")
    sid = start
    for _ in range(20):
        st = g.states[sid]
        sid = st.se[("", "AppProtocol")][2]
    last = g.states[sid]
    assert not last.se and last.ee == 0 and last.w == 1
