"""Validator-set proposals: the next set lands in sys.validators in the deciding block h, h's
header commits to it as next_validators_hash while validators_hash stays the signing set, a
replica re-executing the block agrees (and refuses a header that lies), and the safety rails."""

from __future__ import annotations

import dataclasses

import pytest
from gov_util import GOVS, VKEYS, Bench, events, failed, make_genesis, ok

from chainnode.core.block import Block
from chainnode.core.genesis import Validator, validators_hash
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec import gov_kinds
from chainnode.exec.executor import InvalidBlock

NEW = PrivateKey.generate()
ADD = {"name": "edge5", "public_key": NEW.public_key.raw.hex(), "p2p": "127.0.0.1:26700"}


def pass_(b: Bench, kind: str, payload: dict):
    """Propose and vote to a decision; return the deciding block. An added validator attests
    readiness first (the rail)."""
    if kind == "add-validator":
        ok(b.ready(NEW))
    pid = ok(b.propose(GOVS[0], kind, payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    ex = b.block(b.tx(GOVS[2], "vote", {"id": pid, "choice": "yes"}))
    return pid, ex


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "db")
    yield b
    b.close()


def test_add_validator_commits_next_set_in_header_of_h(tmp_path):
    leader = Bench(tmp_path / "a")
    replica = Bench(tmp_path / "b", leader.genesis)
    try:
        for _ in range(2):  # register NEW, then its readiness attestation
            ex = leader.block(*leader.ready_txs(NEW))
            replica.chain.commit(replica.chain.validate(ex.block, lambda tx: True),
                                 leader.chain.db.certificate(ex.block.height))
        assert ok(ex.outcome.receipts[0]).value["at"] == ex.block.height
        old = validators_hash(leader.genesis.validators)
        for ex in [leader.block(leader.tx(GOVS[0], "propose",
                                          {"kind": "add-validator", "payload": ADD}))]:
            assert ex.block.header.next_validators_hash == old  # nothing decided yet
            replica.chain.commit(replica.chain.validate(ex.block, lambda tx: True),
                                 leader.chain.db.certificate(ex.block.height))
        ex = leader.block(leader.tx(GOVS[1], "vote", {"id": 1, "choice": "yes"}))
        replica.chain.commit(replica.chain.validate(ex.block, lambda tx: True),
                             leader.chain.db.certificate(ex.block.height))
        vote = leader.tx(GOVS[2], "vote", {"id": 1, "choice": "yes"})
        ex = leader.block(vote)
        rc = ex.outcome.receipts[0]
        assert ok(rc).value["status"] == "passed" and "ValidatorAdded" in events(rc)
        h = ex.block.header
        new_set = (*leader.genesis.validators, Validator("edge5", NEW.public_key.raw))
        assert h.validators_hash == old  # block h is still signed by the old set
        assert h.next_validators_hash == validators_hash(new_set) != old
        assert leader.chain.next_vhash == h.next_validators_hash
        assert leader.stored("sys.validators", ["joined", "edge5"]) == h.height + 1
        assert leader.stored("sys.validators", ["p2p", "edge5"]) == "127.0.0.1:26700"
        # the set switches at exactly h+1: h was signed by the old set, h+1 by the new one
        assert leader.chain.validators == new_set
        assert leader.chain.validators_at(h.height) == leader.genesis.validators
        assert leader.chain.validators_at(h.height + 1) == new_set

        # a replica re-executes block h and agrees; a header hiding the change is refused
        lie = Block(dataclasses.replace(h, next_validators_hash=old), ex.block.txs,
                    ex.block.last_commit)
        with pytest.raises(InvalidBlock, match="next_validators_hash"):
            replica.chain.validate(lie, lambda tx: True)
        got = replica.chain.validate(ex.block, lambda tx: True)
        assert got.block.header.state_root == h.state_root
        replica.chain.commit(got, leader.chain.db.certificate(h.height))
        # later blocks keep committing to the new set
        ex2 = leader.block()
        assert ex2.block.header.next_validators_hash == h.next_validators_hash
        replica.chain.commit(replica.chain.validate(ex2.block, lambda tx: True),
                             leader.chain.db.certificate(ex2.block.height))
        assert replica.chain.head == leader.chain.head
    finally:
        leader.close()
        replica.close()


def test_next_set_survives_restart(tmp_path):
    b = Bench(tmp_path / "a")
    _, ex = pass_(b, "add-validator", ADD)
    want = ex.block.header.next_validators_hash
    b.close()
    b2 = Bench(tmp_path / "a", b.genesis)
    try:
        assert b2.chain.next_vhash == want
        assert b2.block().block.header.next_validators_hash == want
    finally:
        b2.close()


@pytest.mark.parametrize("payload,code", [
    ({**ADD, "public_key": "04" + "00" * 64}, "GOV_BAD_PAYLOAD"),  # not on the curve
    ({**ADD, "public_key": "zz"}, "GOV_BAD_PAYLOAD"),
    ({**ADD, "name": ""}, "GOV_BAD_PAYLOAD"),
    ({**ADD, "p2p": "127.0.0.1"}, "GOV_BAD_PAYLOAD"),
    ({**ADD, "p2p": "127.0.0.1:0"}, "GOV_BAD_PAYLOAD"),
    ({**ADD, "p2p": "127.0.0.1:70000"}, "GOV_BAD_PAYLOAD"),
    ({k: v for k, v in ADD.items() if k != "p2p"}, "GOV_BAD_PAYLOAD"),
    ({**ADD, "name": "v1"}, gov_kinds.CONFLICT),
    ({**ADD, "public_key": VKEYS[0].public_key.raw.hex()}, gov_kinds.CONFLICT),
])
def test_add_validator_payload_checks(bench, payload, code):
    failed(bench.propose(GOVS[0], "add-validator", payload), code)


def test_removal_rails(bench):
    # 4 validators tolerate f=1; 3 would tolerate none
    failed(bench.propose(GOVS[0], "remove-validator", {"name": "v3"}), gov_kinds.UNSAFE_REMOVAL)
    failed(bench.propose(GOVS[0], "remove-validator", {"name": "v9"}), gov_kinds.CONFLICT)
    failed(bench.propose(GOVS[0], "remove-validator", {"name": "v3", "force": "yes"}),
           "GOV_BAD_PAYLOAD")
    _, ex = pass_(bench, "remove-validator", {"name": "v3", "force": True})
    assert "ValidatorRemoved" in events(ex.outcome.receipts[0])
    want = validators_hash(bench.genesis.validators[:3])
    assert ex.block.header.next_validators_hash == want
    assert [v[0] for v in gov_kinds.validator_set(bench.state())] == ["v0", "v1", "v2"]
    assert bench.stored("sys.validators", ["p2p", "v3"]) is None


def test_never_fewer_than_one_validator_even_with_force(tmp_path):
    b = Bench(tmp_path / "db", make_genesis(n_validators=1))
    try:
        failed(b.propose(GOVS[0], "remove-validator", {"name": "v0", "force": True}),
               gov_kinds.MIN_VALIDATORS)
    finally:
        b.close()


def test_rails_are_checked_again_at_decision_time(tmp_path):
    """Two removals each fine alone (5 -> 4 keeps f=1): the second to pass would leave 3."""
    b = Bench(tmp_path / "db", make_genesis(n_validators=5))
    try:
        a = ok(b.propose(GOVS[0], "remove-validator", {"name": "v4"})).value["id"]
        c = ok(b.propose(GOVS[0], "remove-validator", {"name": "v3"})).value["id"]
        for pid in (a, c):
            ok(b.vote(GOVS[1], pid))
        assert ok(b.vote(GOVS[2], a)).value["status"] == "passed"
        rc = ok(b.vote(GOVS[2], c))  # the vote is recorded; the proposal fails on the rail
        assert rc.value["status"] == "failed" and "ProposalFailed" in events(rc)
        assert b.proposal(c)["error"]["code"] == gov_kinds.UNSAFE_REMOVAL
        assert len(gov_kinds.validator_set(b.state())) == 4
    finally:
        b.close()


def test_duplicate_add_fails_at_decision(bench):
    ok(bench.ready(NEW))
    a = ok(bench.propose(GOVS[0], "add-validator", ADD)).value["id"]
    c = ok(bench.propose(GOVS[0], "add-validator", {**ADD, "name": "edge6"})).value["id"]
    for pid in (a, c):
        ok(bench.vote(GOVS[1], pid))
    ok(bench.vote(GOVS[2], a))
    assert ok(bench.vote(GOVS[2], c)).value["status"] == "failed"
    assert bench.proposal(c)["error"]["code"] == gov_kinds.CONFLICT
    assert len(gov_kinds.validator_set(bench.state())) == 5


def test_replacement_order_add_then_remove_needs_no_force(bench):
    pass_(bench, "add-validator", ADD)  # 5 validators, f=1
    _, ex = pass_(bench, "remove-validator", {"name": "v0"})  # 4 left, still f=1
    assert ok(ex.outcome.receipts[0]).value["status"] == "passed"
    names = [v[0] for v in gov_kinds.validator_set(bench.state())]
    assert names == ["v1", "v2", "v3", "edge5"]
