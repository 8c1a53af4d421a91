"""Shared helpers of the governance red-team tests: decide a set-param through the committee,
and a mempool with the chain's live admission limits (as the node builds it)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import GOVS, Bench, ok  # noqa: E402

from chainnode.mempool import Mempool  # noqa: E402


def decide_param(b: Bench, name: str, value: int) -> None:
    pid = ok(b.propose(GOVS[0], "set-param", {"name": name, "value": value})).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))
    assert b.proposal(pid)["status"] == "passed", b.proposal(pid)
    assert b.chain.param(name) == value


def live_mempool(b: Bench, pool) -> Mempool:
    ch = b.chain
    return Mempool(chain_id=ch.genesis.chain_id, verify_pool=pool,
                   head_height=lambda: ch.head.height, is_committed=ch.is_committed,
                   is_member=lambda a: True, max_expiry_window=ch.param("max_expiry_window"),
                   max_tx_bytes=ch.genesis.param("max_tx_bytes"),
                   tx_gas_limit=ch.param("tx_gas_limit"))
