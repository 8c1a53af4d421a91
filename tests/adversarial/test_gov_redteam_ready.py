"""Red team, governance: the add-validator readiness rail on a quiet chain.

The rail promises that a validator is only added while it is connected and caught up, so
adding it never stalls the chain. Its attestation counted for READY_WINDOW_BLOCKS (100)
blocks, but blocks are made only when there is work: on a quiet chain 100 blocks can span
days. A candidate that attested and then went away for a day was still added; two such adds
(n 4 -> 6, f stays 1, two silent members) and the chain halts for good. Fixed: the
attestation must also be at most READY_WINDOW_MS old in BFT time (the block timestamps every
replica checks), so the check stays deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import CHAIN, GOVS, Bench, ok  # noqa: E402

from chainnode.core.certificate import CommitCertificate  # noqa: E402
from chainnode.crypto.sm2 import PrivateKey  # noqa: E402
from chainnode.exec import readiness  # noqa: E402

CANDIDATE = PrivateKey(4343)
HOUR = 3600 * 1000


class ClockBench(Bench):
    """Certificates carry the bench clock as their vote time, so BFT time follows it."""

    def block(self, *txs):
        self.now += 1000
        ex = self.chain.build(list(txs), 0, 0)
        self.chain.commit(ex, CommitCertificate(CHAIN, ex.block.height, 0, ex.block.hash,
                                                ((0, self.now, bytes(64)),)))
        return ex


def add(b: Bench) -> dict:
    payload = {"name": "edge5", "public_key": CANDIDATE.public_key.raw.hex(),
               "p2p": "127.0.0.1:26700"}
    pid = ok(b.propose(GOVS[0], "add-validator", payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))
    return b.proposal(pid)


def test_an_attestation_a_day_old_does_not_add_a_validator(tmp_path):
    b = ClockBench(tmp_path / "db")
    try:
        ok(b.ready(CANDIDATE))
        b.now += 24 * HOUR  # a quiet day: the candidate went away; few blocks were made
        p = add(b)
        assert p["status"] == "failed", p
        assert p["error"]["code"] == readiness.NOT_READY
        assert b.chain.validators == b.genesis.validators
        ok(b.ready(CANDIDATE))  # it is back and attests again: now it is added
        assert add(b)["status"] == "passed"
        assert len(b.chain.validators) == len(b.genesis.validators) + 1
    finally:
        b.close()
