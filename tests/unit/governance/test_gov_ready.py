"""The add-validator readiness rail: a candidate attests (sys.validators.ready, signed by its
own key as a member) to a recent head of THIS chain; add-validator is applied at decision time
only if that attestation is at most READY_WINDOW_BLOCKS old, else the proposal fails with
GOV_CANDIDATE_NOT_READY."""

from __future__ import annotations

import pytest
from gov_util import GOVS, MEMBER, OUTSIDER, Bench, events, failed, ok

from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec import readiness

VALS = "sys.validators"
CAND = PrivateKey(4242)
ADD = {"name": "edge5", "public_key": CAND.public_key.raw.hex(), "p2p": "127.0.0.1:26700"}


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "db")
    yield b
    b.close()


def attest(b: Bench, key: PrivateKey, height: int | None = None, hash_hex: str | None = None):
    head = b.chain.head
    h = head.height if height is None else height
    return b.send(key, "ready", {"height": h, "hash": hash_hex or head.block_hash.hex()},
                  contract=VALS)


def decide_add(b: Bench, payload: dict = ADD) -> dict:
    pid = ok(b.propose(GOVS[0], "add-validator", payload)).value["id"]
    ok(b.vote(GOVS[1], pid))
    ok(b.vote(GOVS[2], pid))
    return b.proposal(pid)


def test_add_without_attestation_fails_at_decision_with_its_own_code(bench):
    p = decide_add(bench)
    assert p["status"] == "failed" and p["error"]["code"] == readiness.NOT_READY
    assert len(bench.state().get(VALS, "set")) == 4


def test_fresh_attestation_lets_the_add_pass(bench):
    rc = ok(bench.ready(CAND))
    assert "ValidatorReady" in events(rc)
    rec = bench.stored(VALS, ["ready", CAND.public_key.raw.hex()])
    assert rec["at"] == bench.height and rec["head"] == bench.height - 1
    assert decide_add(bench)["status"] == "passed"
    assert [v[0] for v in bench.state().get(VALS, "set")][-1] == "edge5"


def test_attestation_older_than_the_window_does_not_count(bench):
    ok(bench.ready(CAND))
    bench.empty(readiness.READY_WINDOW_BLOCKS)  # the 3 voting blocks push it past the window
    p = decide_add(bench)
    assert p["status"] == "failed" and p["error"]["code"] == readiness.NOT_READY


def test_someone_elses_attestation_does_not_count(bench):
    ok(bench.ready(MEMBER))
    p = decide_add(bench)
    assert p["error"]["code"] == readiness.NOT_READY


def test_only_members_attest(bench):
    failed(attest(bench, OUTSIDER), "TX_NOT_MEMBER")


def test_wrong_hash_is_refused(bench):
    bench.empty(2)
    other = bench.db.certificate(1).block_hash.hex()
    failed(attest(bench, MEMBER, hash_hex=other), readiness.READY_WRONG_HASH)


def test_a_head_too_far_behind_or_ahead_is_refused(bench, monkeypatch):
    monkeypatch.setattr(readiness, "READY_MAX_LAG_MS", -1)  # the block arm alone
    bench.empty(readiness.READY_MAX_LAG + 1)
    old = bench.db.certificate(1).block_hash.hex()
    failed(attest(bench, MEMBER, height=1, hash_hex=old), readiness.READY_STALE)
    failed(attest(bench, MEMBER, height=bench.height + 1), readiness.READY_STALE)


def test_a_head_many_blocks_but_little_time_behind_is_caught_up(bench):
    """An observer on a busy chain: more than READY_MAX_LAG blocks behind, within
    READY_MAX_LAG_MS of BFT time (the bench makes its blocks within a few ms)."""
    bench.empty(readiness.READY_MAX_LAG + 1)
    old = bench.db.certificate(1).block_hash.hex()
    ok(attest(bench, MEMBER, height=1, hash_hex=old))


@pytest.mark.parametrize("args", [{}, {"height": "1", "hash": "00" * 32},
                                  {"height": 0, "hash": "zz"}, {"height": -1, "hash": "00" * 32}])
def test_malformed_attestations(bench, args):
    failed(bench.send(MEMBER, "ready", args, contract=VALS), readiness.READY_BAD_ARGS)


def test_no_other_method(bench):
    failed(bench.send(MEMBER, "set", {}, contract=VALS), "NO_METHOD")


def test_genesis_head_can_be_attested(bench):
    rc = ok(attest(bench, MEMBER))  # head 0: the genesis hash
    assert rc.value["at"] == 1


def test_status_view_lists_the_next_set_with_join_heights(bench):
    from chainnode.rpc.status_view import validator_set

    ok(bench.ready(CAND))
    assert decide_add(bench)["status"] == "passed"
    doc = validator_set(bench.db, bench.height)
    assert (doc["from_height"], doc["n"], doc["f"]) == (bench.height + 1, 5, 1)
    assert [(m["index"], m["name"], m["joined"]) for m in doc["members"]] == [
        (0, "v0", 0), (1, "v1", 0), (2, "v2", 0), (3, "v3", 0), (4, "edge5", bench.height + 1)]
    assert doc["members"][4]["public_key"] == CAND.public_key.raw.hex()
