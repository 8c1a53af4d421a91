"""Red team, governance: parameter values that would brick the chain (and with it governance).

A set-param takes effect at h+1 and can only be undone by another decided proposal, i.e. by
blocks committing. So any live value that stops blocks from committing is permanent:
- `max_view_timeout_ms` caps the view timer's backoff. The timer must outlast verifying and
  executing a full block (max_block_txs signed transactions, ~0.5 ms per SM2 verification
  alone); a cap of 100 ms with a backlog means every view times out, forever.
- `block_interval_ms` is slept by the leader before it takes transactions, while replicas'
  view timers already run: an interval at or above the timer starts a view change every
  block, and above the cap no view ever commits.
Each of these used to be accepted; now refused with GOV_BAD_PAYLOAD at proposal time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import GOVS, Bench, failed, make_genesis, ok  # noqa: E402

from chainnode.exec import params  # noqa: E402


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "db")
    yield b
    b.close()


def decide(b: Bench, name: str, value: int) -> None:
    pid = ok(b.propose(GOVS[0], "set-param", {"name": name, "value": value})).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))
    assert b.proposal(pid)["status"] == "passed", b.proposal(pid)
    assert b.chain.param(name) == value


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
        decide(b, "tx_gas_limit", 1_000_000)
        failed(propose(b, "view_timeout_ms", 1000), "GOV_BAD_PAYLOAD")
    finally:
        b.close()
