"""The node's side of a set change (chainnode.reconfig) over a real chain: NewEpoch events in
order, exactly once; the node's own role; peers re-granted; new validators dialled at their
governed p2p address; consensus frames checked against the sender's set of that height."""

from __future__ import annotations

from gov_util import GOVS, VKEYS, Bench, ok

from chainnode.consensus.events import NewEpoch
from chainnode.consensus.messages import Commit
from chainnode.core.certificate import vote_payload
from chainnode.crypto import domain
from chainnode.crypto.sm2 import PrivateKey
from chainnode.reconfig import Reconfig, sender_keys

NEW = PrivateKey(777)


class FakeNet:
    def __init__(self) -> None:
        self.role, self.dialled, self.grants = "observer", [], None

    def regrant(self, authorizer) -> None:
        self.grants = authorizer

    def add_peer(self, host: str, port: int) -> None:
        self.dialled.append((host, port))


class FakeNode:
    def __init__(self, bench: Bench, key: PrivateKey) -> None:
        self.chain, self.key, self.net = bench.chain, key, FakeNet()

    def authorize(self, pub: bytes) -> str | None:
        return "validator" if self.chain.validator_index(pub) is not None else "observer"


def decide(b: Bench, kind: str, payload: dict) -> None:
    if kind == "add-validator":
        ok(b.ready(NEW))  # the candidate's readiness attestation (the add-validator rail)
    pid = ok(b.propose(GOVS[0], kind, payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))


def test_added_node_learns_its_role_and_dials_the_new_set(tmp_path) -> None:
    b = Bench(tmp_path / "db")
    try:
        node, v1 = FakeNode(b, NEW), FakeNode(b, VKEYS[1])
        rc, rc1 = Reconfig(node), Reconfig(v1)
        rc.mark_told()
        rc1.mark_told()
        posted: list = []
        add = {"name": "edge5", "public_key": NEW.public_key.raw.hex(),
               "p2p": "127.0.0.1:26777"}
        decide(b, "add-validator", add)
        rc.after_head_moved(posted.append)
        assert [type(e) for e in posted] == [NewEpoch]
        ep = posted[0].epoch
        assert ep.start == b.height + 1 and ep.validators[-1] == NEW.public_key.raw
        assert node.net.role == "validator" and node.net.grants is not None
        # it dials the validators whose p2p address governance recorded (its own excluded)
        assert node.net.dialled == []
        rc1.after_head_moved(lambda ev: None)  # an old validator dials the new one
        assert v1.net.dialled == [("127.0.0.1", 26777)] and v1.net.role == "validator"
        rc.after_head_moved(posted.append)
        assert len(posted) == 1  # told once
        decide(b, "set-param", {"name": "view_timeout_ms", "value": 1200})
        rc.after_head_moved(posted.append)
        assert [e.epoch.base_timeout_ms for e in posted[1:]] == [1200]
    finally:
        b.close()


def test_consensus_frame_checked_against_the_set_of_its_height(tmp_path) -> None:
    b = Bench(tmp_path / "db")
    try:
        decide(b, "add-validator", {"name": "edge5", "public_key": NEW.public_key.raw.hex(),
                                    "p2p": "127.0.0.1:26778"})
        h = b.height  # decided here; v0..v3 sign h, the five from h+1
        decide(b, "remove-validator", {"name": "v0"})
        top = b.height + 1  # set (v1, v2, v3, edge5)
        vote = Commit(0, top, b"\x11" * 32, 3)  # index 3 of the set of `top`: edge5
        keys = sender_keys(b.chain, vote)
        assert keys[0] == NEW.public_key.raw
        late = Commit(0, h, b"\x11" * 32, 0)  # index 0 at height h: v0 (then a validator)
        assert sender_keys(b.chain, late)[0] == VKEYS[0].public_key.raw
        payload = vote_payload("commit", b.genesis.chain_id, 0, top, b"\x11" * 32, 0)
        sig = domain.sign(NEW, "commit", b.genesis.chain_id, payload)
        assert b.chain.verify_member(keys[0], "commit", payload, sig)
        assert not b.chain.verify_member(VKEYS[0].public_key.raw, "commit", payload, sig)
    finally:
        b.close()
