"""The RPC body checks: JSON nesting measured on raw bytes agrees with the parsed document for
any JSON (strings full of brackets, quotes and backslashes included); the limits hold."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.errors import HTTP_STATUS, ChainError
from chainnode.rpc.body import MAX_JSON_DEPTH, check_body, json_depth, parse_json

TRICKY = st.text(alphabet=st.sampled_from(list('[]{}"\\\\/ab\u00e9\u4e2d\n\t:,')) | st.characters(exclude_categories=("Cs",)),
                 max_size=12)
DOCS = st.recursive(st.none() | st.booleans() | st.integers() | TRICKY,
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(TRICKY, kids, max_size=4), max_leaves=40)


def depth(doc) -> int:
    if isinstance(doc, list):
        return 1 + max((depth(x) for x in doc), default=0)
    if isinstance(doc, dict):
        return 1 + max((depth(x) for x in doc.values()), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(DOCS, st.booleans(), st.sampled_from([None, 0, 2]))
def test_depth_on_bytes_equals_the_documents_depth(doc, ascii_only, indent):
    body = json.dumps(doc, ensure_ascii=ascii_only, indent=indent).encode()
    assert json_depth(body) == depth(doc)


@pytest.mark.parametrize("body,want", [
    (b'"[[[["', 0), (b'["\\\\", [[]]]', 3), (b'["\\"[[[", {}]', 2),
    (b'{"a\\\\\\"[": [1]}', 2), (b"[" * 5000 + b"]" * 5000, 5000), (b"  7 ", 0),
])
def test_depth_examples(body, want):
    assert json_depth(body) == want


def test_limits():
    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert depth(parse_json(ok)) == MAX_JSON_DEPTH
    for bad in (b"[" + ok + b"]", b"\xff", b"[NaN]", b"[Infinity]", b"{", b""):
        with pytest.raises(ChainError) as info:
            parse_json(bad)
        assert info.value.code == "BAD_REQUEST"


@pytest.mark.parametrize("path,ctype,charset,body,status", [
    ("/query", "text/plain", None, b"{}", 415),
    ("/query", "application/json", "utf-7", b"{}", 415),
    ("/query", "application/json", None, b'{"contract": 1, "method": "m"}', 400),
    ("/query", "application/json", None, b'{"method": "m"}', 400),
    ("/tx", "application/json", None, b'{"tx": 1}', 400),
    ("/txs", "application/json", None, b"[]", 415),
])
def test_check_body_refusals(path, ctype, charset, body, status):
    with pytest.raises(ChainError) as info:
        check_body(path, ctype, body, charset)
    assert (info.value.status or HTTP_STATUS[info.value.code]) == status


def test_check_body_passes_good_bodies_through():
    doc = {"contract": "c", "method": "m", "args": {"k": [1, "]"]}, "extra": True}
    assert check_body("/query", "application/json", json.dumps(doc).encode(), "UTF-8") == doc
    assert check_body("/tx", "application/msgpack", b"\xc1 anything", None) is None
    assert check_body("/status", "text/plain", b"whatever", None) is None
