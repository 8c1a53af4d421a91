"""Red team, governance: set changes at consecutive heights, down to one validator and back,
checked with real SM2 certificates against the set of each height, before and after a restart
(no finding: a regression guard for the per-height sets)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import GOVS, VKEYS, Bench, failed, ok  # noqa: E402
from test_gov_switch import signed_cert  # noqa: E402

from chainnode.crypto.sm2 import PrivateKey  # noqa: E402

NEW = PrivateKey(4242)


def decide_in_one_block(b: Bench, kind: str, payload: dict) -> int:
    """Propose and vote in separate blocks; returns the deciding height."""
    pid = ok(b.propose(GOVS[0], kind, payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))
    assert b.proposal(pid)["status"] == "passed", b.proposal(pid)
    return b.height


def test_changes_at_h_and_h_plus_1_and_down_to_one_and_back(tmp_path):
    b = Bench(tmp_path / "db")
    g = b.genesis.validators
    heights = {}
    try:
        # v3 and v2 removed by proposals decided in consecutive blocks h and h+1
        p1 = ok(b.propose(GOVS[0], "remove-validator", {"name": "v3", "force": True}))
        p2 = ok(b.propose(GOVS[0], "remove-validator", {"name": "v2", "force": True}))
        ok(b.vote(GOVS[1], p1.value["id"]))
        ok(b.vote(GOVS[1], p2.value["id"]))
        ok(b.vote(GOVS[2], p1.value["id"]))
        h = b.height
        ok(b.vote(GOVS[2], p2.value["id"]))
        assert b.height == h + 1
        assert [len(b.chain.validators_at(x)) for x in (h, h + 1, h + 2)] == [4, 3, 2]
        # down to one (2 -> 1 keeps f = 0: no force needed); zero is refused even with force
        h1 = decide_in_one_block(b, "remove-validator", {"name": "v1"})
        assert b.chain.validators == (g[0],)
        failed(b.propose(GOVS[0], "remove-validator", {"name": "v0", "force": True}),
               "GOV_MIN_VALIDATORS")
        # and back: the key of a removed validator under a new name, then a fresh key
        ok(b.ready(VKEYS[1]))
        h2 = decide_in_one_block(b, "add-validator", {
            "name": "v1-again", "public_key": VKEYS[1].public_key.raw.hex(), "p2p": "h:1"})
        ok(b.ready(NEW))
        h3 = decide_in_one_block(b, "add-validator", {
            "name": "edge", "public_key": NEW.public_key.raw.hex(), "p2p": "h:2"})
        heights = {x: b.chain.validators_at(x) for x in (h, h + 1, h + 2, h1 + 1, h2 + 1, h3 + 1)}
        b.empty(1)
        # every certificate is checked against the set of its own height
        for x, vals in heights.items():
            if x > b.height:
                continue
            good = signed_cert(b, x, vals, {v.public_key for v in vals})
            b.chain.check_certificate(good, x, good.block_hash)
        one = heights[h1 + 1]
        assert len(one) == 1
        # at h3+1 (three members: v0, v1-again, edge) v0 alone is not a quorum, nor is the
        # pre-change pair {v0, v1} signing at the indexes they held in the set of h+1
        x = h3 + 1
        alone = signed_cert(b, x, heights[x], {g[0].public_key})
        with pytest.raises(ValueError, match="needs"):
            b.chain.check_certificate(alone, x, alone.block_hash)
        stale = signed_cert(b, x, heights[h + 1], {g[0].public_key, g[1].public_key,
                                                    g[2].public_key})
        with pytest.raises(ValueError):
            b.chain.check_certificate(stale, x, stale.block_hash)
        epochs_before = [(e.start, e.validators) for e in b.chain.epochs()]
    finally:
        b.close()
    again = Bench(tmp_path / "db", b.genesis)
    try:
        assert [(e.start, e.validators) for e in again.chain.epochs()] == epochs_before
        for x, vals in heights.items():
            assert again.chain.validators_at(x) == vals
            e = again.chain.epoch_at(x).for_consensus()  # a valid core epoch at every height
            assert e.n == len(vals)
    finally:
        again.close()

