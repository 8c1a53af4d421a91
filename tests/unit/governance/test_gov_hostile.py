"""Red team: a hostile governor's arbitrary payloads and arguments only ever produce a coded
refusal (CallFailed), never a Python exception that would make a block unbuildable."""

from __future__ import annotations

import pytest
from gov_util import ADDR, GOVS, Bench, make_genesis
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.exec import gov_kinds, governance
from chainnode.exec.state import BlockState, TxState
from chainnode.exec.system import CallFailed

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=80),
                    st.binary(max_size=70), st.sampled_from([ADDR[GOVS[0]], "v1", "h:1",
                                                             "view_timeout_ms", "yes"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
field_names = st.sampled_from(["name", "value", "public_key", "p2p", "force", "governors",
                               "participation_threshold", "win_threshold",
                               "proposal_ttl_blocks", "id", "choice", "kind", "payload",
                               "status", "limit"])
maps = st.dictionaries(field_names, values, max_size=5)

@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    b = Bench(tmp_path_factory.mktemp("hostile") / "db", make_genesis())
    yield b
    b.close()


@given(kind=st.one_of(st.sampled_from(sorted(gov_kinds.KINDS)), st.text(max_size=10)),
       payload=st.one_of(maps, values), method=st.sampled_from(
           ["propose", "vote", "get", "list", "committee", "x"]), extra=maps)
@settings(max_examples=300, deadline=None)
def test_arbitrary_calls_only_fail_with_codes(bench, kind, payload, method, extra):
    st_ = TxState(BlockState(bench.db))
    args = {**extra, "kind": kind, "payload": payload} if method == "propose" else extra
    try:
        governance.call(st_, ADDR[GOVS[0]], 5, method, args)
    except CallFailed as exc:
        assert exc.code and exc.message


@given(payload=maps)
@settings(max_examples=200, deadline=None)
def test_every_kind_checker_and_effect_refuses_cleanly(bench, payload):
    for kind in sorted(gov_kinds.KINDS):
        st_ = TxState(BlockState(bench.db))
        try:
            gov_kinds.apply(st_, kind, payload, 5)
        except CallFailed as exc:
            assert exc.code.startswith("GOV_")
