"""chainnode.rpc.answers writes exactly what json_response(Receipt.to_json()) wrote."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.core.block import Receipt
from chainnode.rpc import answers

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**100, 2**100) | TEXT | st.binary(max_size=6),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4),
    max_leaves=30)
EVENTS = st.lists(st.tuples(TEXT, TEXT, st.dictionaries(TEXT, VALUES, max_size=3)),
                  max_size=3).map(tuple)


@st.composite
def receipts(draw) -> Receipt:
    return Receipt(draw(st.binary(min_size=32, max_size=32)), draw(st.sampled_from([0, 1])),
                   draw(st.integers(0, 2**63)), draw(VALUES), draw(EVENTS), draw(TEXT),
                   draw(TEXT))


@settings(max_examples=300, deadline=None)
@given(receipts(), st.integers(0, 2**64 - 1))
def test_committed_answer_equals_json_response_of_to_json(rc, height):
    want = web.json_response({"hash": rc.tx_hash.hex(), "status": "committed",
                              "height": height, "receipt": rc.to_json()})
    got = answers.committed(rc.tx_hash, height, rc)
    assert got.body == want.body
    assert (got.status, got.headers["Content-Type"]) == (200, want.headers["Content-Type"])


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_dumps_is_json_dumps_with_bytes_as_hex(value):
    from chainnode.core.tx import _jsonable

    assert answers.dumps(value) == json.dumps(_jsonable(value))


def test_json_answer_keeps_status_and_type():
    got = answers.json_answer({"a": [1, "\u00e9"]}, status=207)
    want = web.json_response({"a": [1, "\u00e9"]}, status=207)
    assert (got.status, got.body, got.content_type, got.charset) == \
        (want.status, want.body, want.content_type, want.charset)


def test_what_json_cannot_write_still_fails():
    with pytest.raises(TypeError, match="not JSON serializable"):
        answers.dumps({"x": {1, 2}})
