"""Threshold math against exact fractions, and determinism of governance execution."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.exec.governance import FAILED, OPEN, PASSED, outcome, passes

weights = st.integers(0, 10_000)
pct = st.integers(1, 100)


@given(weights, weights, weights, pct, pct)
@settings(max_examples=400, deadline=None)
def test_passes_matches_the_fraction_rule(yes, no, rest, p, w):
    total = yes + no + rest
    want = (yes > 0 and Fraction(yes + no, max(total, 1)) >= Fraction(p, 100)
            and Fraction(yes, yes + no) >= Fraction(w, 100))
    assert passes(yes, no, total, p, w) == want


@given(weights, weights, weights, pct, pct)
@settings(max_examples=400, deadline=None)
def test_outcome_is_pass_fail_or_still_reachable(yes, no, rest, p, w):
    total = yes + no + rest
    r = outcome(yes, no, total, p, w)
    if r == PASSED:
        assert passes(yes, no, total, p, w)
    elif r == FAILED:  # no way to pass with any share of the outstanding weight voting yes
        assert not any(passes(yes + k, no, total, p, w) for k in range(0, rest + 1, max(rest
                                                                                    // 50, 1)))
        assert not passes(yes + rest, no, total, p, w)
    else:
        assert r == OPEN and not passes(yes, no, total, p, w)
        assert passes(yes + rest, no, total, p, w)


def test_edges():
    assert outcome(0, 0, 4, 67, 67) == OPEN  # nobody voted yet
    assert outcome(0, 4, 4, 1, 1) == FAILED  # everyone said no
    assert outcome(3, 0, 4, 75, 100) == PASSED  # exactly on both thresholds
    assert outcome(2, 1, 4, 75, 67) == OPEN  # 66.6% yes < 67%; the last yes makes 75%
    assert outcome(1, 0, 1, 100, 100) == PASSED  # a one-governor committee decides alone


SCRIPT = r"""
import sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import gov_util
from gov_util import GOVS, Bench
from chainnode.crypto.sm2 import PrivateKey
import hashlib
from chainnode.core.tx import build_tx
from chainnode.crypto import domain

# SM2 signing is randomized and tx_root (so every block hash, and state that records one)
# covers the signatures: sign deterministically so only the hash seed differs between runs
# (the bench never verifies tx signatures)
domain.sign = lambda key, dom, chain_id, payload: hashlib.sha512(payload).digest()
keys = GOVS
g = gov_util.make_genesis()
b = Bench(Path(tempfile.mkdtemp()) / "db", g)
n = 0
def tx(k, m, a):
    global n
    n += 1
    return build_tx(k, gov_util.CHAIN, "system", "sys.governance", m, a, expires_at=40,
                    gas_limit=1_000_000, nonce=n.to_bytes(16, "big"))
cand = PrivateKey(99)
pay = {"name": "edge5", "public_key": cand.public_key.raw.hex(), "p2p": "h:1"}
b.block(build_tx(keys[0], gov_util.CHAIN, "system", "sys.members", "register",
                 {"address": gov_util.address_of(cand.public_key), "roles": ["member"]},
                 expires_at=40, gas_limit=1_000_000, nonce=bytes(16)))
b.block(build_tx(cand, gov_util.CHAIN, "system", "sys.validators", "ready",
                 {"height": 1, "hash": b.chain.head.block_hash.hex()}, expires_at=40,
                 gas_limit=1_000_000, nonce=bytes(16)))
b.block(tx(keys[0], "propose", {"kind": "add-validator", "payload": pay}),
        tx(keys[0], "propose", {"kind": "set-param",
                                "payload": {"name": "view_timeout_ms", "value": 1500}}))
b.block(tx(keys[1], "vote", {"id": 1, "choice": "no"}), tx(keys[1], "vote", {"id": 2, "choice": "yes"}))
b.block(tx(keys[1], "vote", {"id": 1, "choice": "yes"}), tx(keys[2], "vote", {"id": 1, "choice": "yes"}),
        tx(keys[3], "vote", {"id": 2, "choice": "no"}), tx(keys[2], "vote", {"id": 2, "choice": "yes"}))
print(b.chain.head.state_root.hex(), b.db.block(5).header.next_validators_hash.hex(),
      b.proposal(1)["status"], b.proposal(2)["status"], b.chain.param("view_timeout_ms"))
"""


def test_same_outcome_under_any_hash_seed(tmp_path):
    here = str(Path(__file__).parent)
    outs = set()
    for seed in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run([sys.executable, "-c", SCRIPT, here], env=env, capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        outs.add(r.stdout.strip())
    assert len(outs) == 1
    assert outs.pop().endswith("passed passed 1500")  # the changed vote decided both
