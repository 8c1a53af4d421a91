"""The chain's per-height validator sets with real SM2 and LevelDB: the set decided in block h
signs h+1 on (`Chain.validators_at`), it is recorded in the same write batch as h and read
back after a restart, and certificates are checked against the set of their own height: a
certificate of the old set for a height after the change is refused with a clear error."""

from __future__ import annotations

import pytest
from gov_util import GOVS, VKEYS, Bench, ok

from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.core.genesis import Validator
from chainnode.crypto import domain
from chainnode.crypto.sm2 import PrivateKey
from chainnode.epochs import ChainEpoch

NEW = PrivateKey(4242)
KEY_OF = {k.public_key.raw: k for k in [*VKEYS, NEW]}


def decide(b: Bench, kind: str, payload: dict) -> int:
    """Propose and vote through; returns the deciding height."""
    if kind == "add-validator":  # the candidate's readiness attestation (the rail)
        ok(b.ready(KEY_OF[bytes.fromhex(payload["public_key"])]))
    pid = ok(b.propose(GOVS[0], kind, payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))
    assert b.proposal(pid)["status"] == "passed"
    return b.height


def signed_cert(b: Bench, height: int, vals, signers) -> CommitCertificate:
    """A certificate for the block at `height` whose votes are by `signers` (keys) placed
    at their indexes in `vals`."""
    blk = b.db.block(height)
    votes = []
    for pos, key in sorted((i, KEY_OF[v.public_key]) for i, v in enumerate(vals)
                           if v.public_key in signers):
        payload = vote_payload("commit", b.genesis.chain_id, 0, height, blk.hash, 7)
        votes.append((pos, 7, domain.sign(key, "commit", b.genesis.chain_id, payload)))
    return CommitCertificate(b.genesis.chain_id, height, 0, blk.hash, tuple(votes))


def test_four_to_five_to_four_sets_per_height_survive_restart(tmp_path) -> None:
    b = Bench(tmp_path / "db")
    g = b.genesis.validators
    add = {"name": "edge5", "public_key": NEW.public_key.raw.hex(), "p2p": "127.0.0.1:26700"}
    h1 = decide(b, "add-validator", add)
    five = (*g, Validator("edge5", NEW.public_key.raw))
    assert b.chain.validators_at(h1) == g and b.chain.validators_at(h1 + 1) == five
    assert b.chain.validators == five and b.chain.vhash == b.db.block(h1).header.next_validators_hash
    b.empty(1)
    assert b.db.block(h1 + 1).header.validators_hash == b.chain.vhash  # h1+1 names the new set
    h2 = decide(b, "remove-validator", {"name": "v0"})
    four = (*g[1:], five[-1])
    assert [b.chain.validators_at(h) for h in (1, h1, h1 + 1, h2, h2 + 1)] == [
        g, g, five, five, four]
    assert [s for s, _ in b.db.epochs()] == [h1 + 1, h2 + 1]  # written with their blocks
    b.close()
    again = Bench(tmp_path / "db", b.genesis)  # restart: the history is read back
    try:
        assert [again.chain.validators_at(h) for h in (h1, h1 + 1, h2 + 1)] == [g, five, four]
        assert [e.start for e in again.chain.epochs()] == [1, h1 + 1, h2 + 1]
        with pytest.raises(ValueError, match="not known before"):
            again.chain.validators_at(again.height + 2)
    finally:
        again.close()


def test_old_set_certificate_for_a_later_height_is_refused(tmp_path) -> None:
    b = Bench(tmp_path / "db")
    try:
        g = b.genesis.validators
        add = {"name": "edge5", "public_key": NEW.public_key.raw.hex(), "p2p": "10.0.0.5:1"}
        decide(b, "add-validator", add)
        h = decide(b, "remove-validator", {"name": "v0"})
        b.empty(1)  # block h+1, signed by the new set (v1, v2, v3, edge5)
        new = b.chain.validators_at(h + 1)
        old_signers = {v.public_key for v in g[:3]}  # v0, v1, v2: quorum of the old set
        stale = signed_cert(b, h + 1, g, old_signers)
        with pytest.raises(ValueError, match=f"validators of height {h + 1}"):
            b.chain.check_certificate(stale, h + 1, stale.block_hash)
        # the removed v0's genuine vote in place of a current member's does not count
        swap = signed_cert(b, h + 1, new, {v.public_key for v in new[:2]} | {NEW.public_key.raw})
        v0 = signed_cert(b, h + 1, g, {g[0].public_key})
        forged = CommitCertificate(swap.chain_id, swap.height, 0, swap.block_hash,
                                   ((0,) + v0.signatures[0][1:],) + swap.signatures[1:])
        with pytest.raises(ValueError, match="does not verify"):
            b.chain.check_certificate(forged, h + 1, forged.block_hash)
        # the new set's quorum (the added validator included) is a valid certificate
        b.chain.check_certificate(swap, h + 1, swap.block_hash)
        # and the certificate of h itself is still checked against the set of h
        b.chain.check_certificate(signed_cert(b, h, b.chain.validators_at(h), old_signers | {
            NEW.public_key.raw}), h, b.db.block(h).hash)
    finally:
        b.close()


def test_param_change_is_an_epoch_for_the_view_timeouts(tmp_path) -> None:
    b = Bench(tmp_path / "db")
    try:
        h = decide(b, "set-param", {"name": "view_timeout_ms", "value": 1500})
        e = b.chain.epoch_at(h + 1)
        assert isinstance(e, ChainEpoch) and (e.start, e.view_timeout_ms) == (h + 1, 1500)
        assert b.chain.epoch_at(h).view_timeout_ms == b.genesis.param("view_timeout_ms")
        assert e.for_consensus().base_timeout_ms == 1500
        assert b.chain.validators_at(h + 1) == b.genesis.validators
    finally:
        b.close()
