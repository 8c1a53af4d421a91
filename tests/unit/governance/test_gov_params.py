"""set-param: which parameters may change live, their checks, and that a change decided in
block h governs block h+1 (not h) in the executor and the block validator."""

from __future__ import annotations

import pytest
from gov_util import ADDR, GOVS, MEMBER, Bench, failed, ok

from chainnode.core.genesis import DEFAULT_PARAMS
from chainnode.exec import params
from chainnode.exec.executor import InvalidBlock


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "db")
    yield b
    b.close()


def decide_with(b: Bench, payload: dict, *extra):
    """Pass a set-param; the deciding vote shares block h with `extra` transactions."""
    pid = ok(b.propose(GOVS[0], "set-param", payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    return b.block(b.tx(GOVS[2], "vote", {"id": pid, "choice": "yes"}), *extra)


def reg(b: Bench, i: int, gas: int = 1_000_000):
    addr = f"{i:040x}"
    return b.tx(GOVS[0], "register", {"address": addr, "roles": ["member"], "name": ""},
                contract="sys.members", gas=gas)


def test_every_param_is_classified():
    assert set(params.LIVE_SAFE) | set(params.UNSAFE_WHY) == set(DEFAULT_PARAMS)
    assert not set(params.LIVE_SAFE) & set(params.UNSAFE_WHY)


def test_unsafe_unknown_and_bad_values_have_their_codes(bench):
    failed(bench.propose(GOVS[0], "set-param", {"name": "max_tx_bytes", "value": 1024}),
           "GOV_UNSAFE_PARAM")
    failed(bench.propose(GOVS[0], "set-param", {"name": "empty_blocks", "value": True}),
           "GOV_UNSAFE_PARAM")
    failed(bench.propose(GOVS[0], "set-param", {"name": "chain_id", "value": "x"}),
           "GOV_UNKNOWN_PARAM")
    for bad in ({"name": "view_timeout_ms", "value": "2000"},  # wrong type
                {"name": "view_timeout_ms", "value": True},
                {"name": "block_interval_ms", "value": False},
                {"name": "view_timeout_ms", "value": 5},  # below the floor
                {"name": "view_timeout_ms", "value": 70_000},  # above max_view_timeout_ms
                {"name": "tx_gas_limit", "value": 3_000_000_000},  # above block_gas_limit
                {"name": "view_timeout_ms"}):
        failed(bench.propose(GOVS[0], "set-param", bad), "GOV_BAD_PAYLOAD")


def test_gas_limit_change_governs_the_next_block_not_its_own(bench):
    ex = decide_with(bench, {"name": "tx_gas_limit", "value": 7_000_000}, reg(bench, 1))
    assert all(rc.ok for rc in ex.outcome.receipts)  # block h: the old limit still applied
    assert bench.chain.param("tx_gas_limit") == 7_000_000
    big, small = reg(bench, 2, gas=8_000_000), reg(bench, 4, gas=400_000)
    with pytest.raises(InvalidBlock, match="gas limit above chain maximum"):
        bench.block(big)
    # the leader's driver filters txs queued under the old limit instead of losing the batch
    assert bench.chain.split_admissible([big, small]) == ([small], [big])
    assert ok(bench.block(reg(bench, 3, gas=400_000)).outcome.receipts[0])


def test_block_size_change_is_enforced_by_validators_from_h_plus_1(tmp_path):
    leader = Bench(tmp_path / "a")
    replica = Bench(tmp_path / "b", leader.genesis)
    try:
        def step(*txs):
            ex = leader.block(*txs)
            replica.chain.commit(replica.chain.validate(ex.block, lambda tx: True),
                                 leader.db.certificate(ex.block.height))
            return ex

        ex = step(leader.tx(GOVS[0], "propose", {"kind": "set-param", "payload": {
            "name": "max_block_txs", "value": 1}}))
        pid = ok(ex.outcome.receipts[0]).value["id"]
        step(leader.tx(GOVS[1], "vote", {"id": pid, "choice": "yes"}))
        # block h decides AND carries a second tx: fine, the limit applies from h+1
        step(leader.tx(GOVS[2], "vote", {"id": pid, "choice": "yes"}), reg(leader, 9))
        assert replica.chain.param("max_block_txs") == 1
        two = leader.chain.build([reg(leader, 10), reg(leader, 11)], 0, 0)  # build() leaves the count to the
        with pytest.raises(InvalidBlock, match="too many transactions"):  # leader's driver
            replica.chain.validate(two.block, lambda tx: True)
    finally:
        leader.close()
        replica.close()


def test_params_survive_restart(tmp_path):
    b = Bench(tmp_path / "a")
    decide_with(b, {"name": "block_interval_ms", "value": 250})
    b.close()
    b2 = Bench(tmp_path / "a", b.genesis)
    try:
        assert b2.chain.param("block_interval_ms") == 250
        assert b2.chain.param("view_timeout_ms") == DEFAULT_PARAMS["view_timeout_ms"]
    finally:
        b2.close()


def test_member_cannot_bypass_via_sys_params(bench):
    rc = bench.send(MEMBER, "set", {"name": "tx_gas_limit", "value": 1})
    assert not rc.ok  # sys.governance has no 'set'
    rc = bench.block(bench.tx(GOVS[0], "set", {"view_timeout_ms": 1},
                              contract="sys.params")).outcome.receipts[0]
    failed(rc, "NO_CONTRACT")
    assert bench.chain.param("tx_gas_limit") == DEFAULT_PARAMS["tx_gas_limit"]
    assert ADDR[MEMBER]
