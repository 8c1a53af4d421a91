"""Red team, governance: parameter values that would brick the chain (and with it governance).

A set-param takes effect at h+1 and can only be undone by another decided proposal, i.e. by
blocks committing. So any live value that stops blocks from committing is permanent:
- `max_view_timeout_ms` caps the view timer's backoff. The timer must outlast verifying and
  executing a full block (max_block_txs signed transactions, ~0.5 ms per SM2 verification
  alone); a cap of 100 ms with a backlog means every view times out, forever.
- `block_interval_ms` is slept by the leader before it takes transactions, while replicas'
  view timers already run: an interval at or above the timer starts a view change every
  block, and above the cap no view ever commits.
- `max_block_bytes` below `max_tx_bytes` (which is not live): see the last test.
Each of these used to be accepted; now refused with GOV_BAD_PAYLOAD at proposal time.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gov_redteam_util import decide_param as decide  # noqa: E402
from gov_redteam_util import live_mempool  # noqa: E402
from gov_util import GOVS, MEMBER, Bench, failed, make_genesis  # noqa: E402

from chainnode.core.tx import build_tx  # noqa: E402
from chainnode.exec import params  # noqa: E402


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "db")
    yield b
    b.close()


def propose(b: Bench, name: str, value: int):
    return b.propose(GOVS[0], "set-param", {"name": name, "value": value})


def test_view_timer_cap_below_a_full_block_is_refused(bench):
    decide(bench, "view_timeout_ms", 100)  # a short FIRST timeout is fine: backoff escapes
    # a cap of 100 ms leaves no escape: 2000 txs take ~1 s to verify alone
    failed(propose(bench, "max_view_timeout_ms", 100), "GOV_BAD_PAYLOAD")
    floor = params.min_view_cap(bench.chain.params)
    assert floor >= 2 * bench.chain.param("max_block_txs")
    failed(propose(bench, "max_view_timeout_ms", floor - 1), "GOV_BAD_PAYLOAD")
    decide(bench, "max_view_timeout_ms", floor)
    # and the cap cannot be undercut from the other side: bigger blocks need a bigger cap
    failed(propose(bench, "max_block_txs", bench.chain.param("max_block_txs") + 1),
           "GOV_BAD_PAYLOAD")
    decide(bench, "max_block_txs", 100)  # smaller blocks are always fine


def test_block_interval_must_fit_in_the_view_timer(bench):
    timeout = bench.chain.param("view_timeout_ms")
    failed(propose(bench, "block_interval_ms", 60_000), "GOV_BAD_PAYLOAD")
    failed(propose(bench, "block_interval_ms", timeout), "GOV_BAD_PAYLOAD")
    decide(bench, "block_interval_ms", timeout // 2)
    # nor can the timer be shortened under the interval afterwards
    failed(propose(bench, "view_timeout_ms", timeout // 2 + 1), "GOV_BAD_PAYLOAD")
    decide(bench, "view_timeout_ms", timeout)


def test_unrelated_changes_pass_on_a_genesis_that_breaks_the_rule(tmp_path):
    """The rules bind live CHANGES of the timing parameters; a chain whose genesis chose
    otherwise (a single-node testnet with a long interval) still governs its other params."""
    b = Bench(tmp_path / "db", make_genesis(block_interval_ms=60_000))
    try:
        decide(b, "delivery_gas", 500_000)  # the rail: <= tx_gas_limit - 250,000
        decide(b, "tx_gas_limit", 1_000_000)
        failed(propose(b, "view_timeout_ms", 1000), "GOV_BAD_PAYLOAD")
    finally:
        b.close()


def test_block_bytes_below_the_tx_size_limit_is_refused(bench):
    """max_block_bytes could go down to 64 KiB while max_tx_bytes (not live) stays 256 KiB.
    One admissible 100 KiB transaction from ANY member then heads the mempool and never fits a
    block: take() stops at it and returns nothing, so no block (not even a governance vote
    queued behind it) is ever built, and the tx never expires since the head no longer moves.
    With interval 0 the leader's _take loop even spins without awaiting (event loop frozen)."""
    limit = bench.genesis.param("max_tx_bytes")
    failed(propose(bench, "max_block_bytes", 64 * 1024), "GOV_BAD_PAYLOAD")
    failed(propose(bench, "max_block_bytes", limit - 1), "GOV_BAD_PAYLOAD")
    decide(bench, "max_block_bytes", limit)
    # at the lowest accepted value the biggest admissible tx still gets into a block
    big = build_tx(MEMBER, bench.genesis.chain_id, "call", "nowhere", "f",
                   {"blob": "x" * (limit - 1024)}, expires_at=bench.height + 50,
                   gas_limit=1_000_000)
    assert limit - 2048 < len(big.encode()) <= limit
    vote = bench.tx(GOVS[0], "propose", {"kind": "set-param", "payload": {
        "name": "max_block_txs", "value": 10}})
    with ThreadPoolExecutor(1) as pool:
        mp = live_mempool(bench, pool)
        for tx in (big, vote):
            asyncio.run(mp.add(tx))
        first = mp.take(bench.chain.param("max_block_txs"),
                        bench.chain.param("max_block_bytes"),
                        bench.chain.param("block_gas_limit"))
    assert big in first


def test_genesis_with_blocks_smaller_than_a_tx_is_refused(tmp_path):
    from chainnode.core.genesis import Genesis, GenesisError

    doc = make_genesis(max_block_bytes=64 * 1024).to_json()
    with pytest.raises(GenesisError, match="below max_tx_bytes"):
        Genesis.from_json(doc)
