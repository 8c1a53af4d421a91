"""Red team, governance: a node syncing from genesis through two validator-set changes, fed by
a hostile peer. Real LevelDB and SM2: every certificate the source serves is signed by the set
of its height. The hostile peer swaps in, for the first height after a removal, a certificate
of the OLD set (the removed v0 with v1 and v2, a quorum there) over the same block, and then a
whole alternative block signed by the old set. Both must be refused at that height (peer
reported, nothing committed past it); the honest peer then brings the node to the head with
the same epochs (no finding: a regression guard for sync across changes)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from chain_redteam_util import sync_from  # noqa: E402
from gov_util import CHAIN, GOVS, VKEYS, Bench, ok  # noqa: E402

from chainnode.chain import Chain  # noqa: E402
from chainnode.core.block import Block  # noqa: E402
from chainnode.core.certificate import CommitCertificate, vote_payload  # noqa: E402
from chainnode.crypto import domain  # noqa: E402
from chainnode.crypto.sm2 import PrivateKey  # noqa: E402
from chainnode.store.db import ChainDB  # noqa: E402
from chainnode.sync import BlockSync  # noqa: E402

NEW = PrivateKey(4242)
KEY_OF = {k.public_key.raw: k for k in [*VKEYS, NEW]}


def cert_by(height: int, block_hash: bytes, vals, signers: set[bytes]) -> CommitCertificate:
    votes = []
    for i, v in enumerate(vals):
        if v.public_key in signers:
            payload = vote_payload("commit", CHAIN, 0, height, block_hash, 1_700_000_000_000)
            votes.append((i, 1_700_000_000_000,
                          domain.sign(KEY_OF[v.public_key], "commit", CHAIN, payload)))
    return CommitCertificate(CHAIN, height, 0, block_hash, tuple(votes))


class SignedBench(Bench):
    """Every block certified by all validators of its height, with real signatures."""

    def block(self, *txs):
        ex = self.chain.build(list(txs), 0, 0)
        h = ex.block.height
        vals = self.chain.validators_at(h)
        self.chain.commit(ex, cert_by(h, ex.block.hash, vals, {v.public_key for v in vals}))
        return ex


def decide(b: Bench, kind: str, payload: dict) -> int:
    if kind == "add-validator":
        ok(b.ready(NEW))
    pid = ok(b.propose(GOVS[0], kind, payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))
    assert b.proposal(pid)["status"] == "passed"
    return b.height


def test_sync_through_two_changes_refuses_the_old_sets_certificates(tmp_path):
    src = SignedBench(tmp_path / "src")
    target_db = ChainDB(tmp_path / "dst")
    try:
        g = src.genesis.validators
        decide(src, "add-validator", {"name": "edge5", "public_key": NEW.public_key.raw.hex(),
                                      "p2p": "127.0.0.1:1"})
        h = decide(src, "remove-validator", {"name": "v0"})
        src.empty(3)
        honest = BlockSync(src.chain, None, lambda: [], None, None, None)
        old_signers = {v.public_key for v in g[:3]}  # v0 (removed), v1, v2: an old quorum

        def swap_cert(payload):
            resp = honest.serve(payload)
            for i, (raw, _) in enumerate(resp[2]):
                blk = Block.decode(raw)
                if blk.height == h + 1:
                    resp[2][i][1] = cert_by(h + 1, blk.hash, g, old_signers).encode()
            return resp

        target = Chain(target_db, src.genesis)
        head, reported = asyncio.run(sync_from(target, swap_cert))
        assert head == h and target.head.height == h, (head, reported)
        assert reported and all(f"block {h + 1} has a bad certificate" in r for r in reported)
        assert f"validators of height {h + 1}" in reported[0]

        # an alternative block h+1, certified by the old set (as the removed validator and two
        # colluding members could make it): refused the same way
        def alt_block(payload):
            resp = honest.serve(payload)
            for i, (raw, _) in enumerate(resp[2]):
                blk = Block.decode(raw)
                if blk.height == h + 1:
                    forged = Block(replace(blk.header, timestamp_ms=1), blk.txs,
                                   blk.last_commit)
                    resp[2][i] = [forged.encode(),
                                  cert_by(h + 1, forged.hash, g, old_signers).encode()]
            return resp

        head, reported = asyncio.run(sync_from(target, alt_block))
        assert head == h and reported and all(f"block {h + 1} has a bad certificate" in r
                                              for r in reported)

        head, reported = asyncio.run(sync_from(target, honest.serve))
        assert head == src.height and reported == []
        assert [(e.start, e.validators) for e in target.epochs()] == [
            (e.start, e.validators) for e in src.chain.epochs()]
        assert target.head.block_hash == src.chain.head.block_hash
    finally:
        src.close()
        target_db.close()
