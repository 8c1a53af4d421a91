"""sys.governance rules on a real chain: who may propose and vote, thresholds, changed and
double votes, decisions, expiry, every error code, and the committee itself."""

from __future__ import annotations

import pytest
from gov_util import ADDR, GOVS, MEMBER, OUTSIDER, Bench, events, failed, make_genesis, ok

from chainnode.core.genesis import Genesis, GenesisError
from chainnode.core.govconfig import DEFAULT_PARTICIPATION, DEFAULT_TTL_BLOCKS, DEFAULT_WIN
from chainnode.exec import governance

PARAM = {"name": "view_timeout_ms", "value": 2000}


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "db")
    yield b
    b.close()


def test_default_committee_is_the_admins_with_weight_one(bench):
    c = governance.committee(bench.state())
    assert c["governors"] == sorted([ADDR[k], 1] for k in GOVS)
    assert (c["participation_threshold"], c["win_threshold"], c["proposal_ttl_blocks"]) == (
        DEFAULT_PARTICIPATION, DEFAULT_WIN, DEFAULT_TTL_BLOCKS)


def test_genesis_can_name_governors_and_keeps_old_hashes(tmp_path):
    plain = make_genesis()
    assert "governance" not in plain.to_json()  # older genesis files keep their hash
    named = make_genesis(governance={"governors": [{"address": ADDR[GOVS[0]], "weight": 3},
                                                   [ADDR[MEMBER], 1]],
                                     "win_threshold": 75})
    again = Genesis.from_json(named.to_json())
    assert again.hash() == Genesis.from_json(again.to_json()).hash()
    assert again.governance["governors"] == sorted([[ADDR[GOVS[0]], 3], [ADDR[MEMBER], 1]])
    b = Bench(tmp_path / "db", again)
    try:
        c = governance.committee(b.state())
        assert c["win_threshold"] == 75 and c["participation_threshold"] == DEFAULT_PARTICIPATION
        # weight 3 of 4 is 75% participation and 100% yes: the proposal passes at once
        assert ok(b.propose(GOVS[0], "set-param", PARAM)).value["status"] == "passed"
        # an admin that is not on the named committee is not a governor
        failed(b.propose(GOVS[1], "set-param", PARAM), governance.NOT_GOVERNOR)
    finally:
        b.close()


@pytest.mark.parametrize("gov,why", [
    ({"governors": [[ADDR[OUTSIDER], 1]]}, "not members"),
    ({"governors": [[ADDR[GOVS[0]], 1], [ADDR[GOVS[0]], 2]]}, "twice"),
    ({"governors": [[ADDR[GOVS[0]], 0]]}, "weight"),
    ({"governors": []}, "governors"),
    ({"governors": [[ADDR[GOVS[0]], 1]], "win_threshold": 0}, "win_threshold"),
    ({"governors": [[ADDR[GOVS[0]], 1]], "participation_threshold": 101}, "participation"),
])
def test_genesis_refuses_bad_committees(gov, why):
    doc = make_genesis().to_json()
    doc["governance"] = gov
    with pytest.raises(GenesisError, match=why):
        Genesis.from_json(doc)


def test_only_governors_propose_and_vote(bench):
    failed(bench.propose(MEMBER, "set-param", PARAM), governance.NOT_GOVERNOR)
    assert failed(bench.propose(OUTSIDER, "set-param", PARAM), "TX_NOT_MEMBER")
    pid = ok(bench.propose(GOVS[0], "set-param", PARAM)).value["id"]
    failed(bench.vote(MEMBER, pid), governance.NOT_GOVERNOR)
    assert bench.proposal(pid)["votes"] == [[ADDR[GOVS[0]], "yes"]]


def test_unknown_kind_malformed_payload_and_method(bench):
    failed(bench.propose(GOVS[0], "mint-money", {}), governance.UNKNOWN_KIND)
    failed(bench.send(GOVS[0], "propose", {"kind": "set-param", "payload": [1]}),
           governance.BAD_PAYLOAD)
    failed(bench.propose(GOVS[0], "set-param", {**PARAM, "extra": 1}), governance.BAD_PAYLOAD)
    failed(bench.send(GOVS[0], "veto", {"id": 1}), "NO_METHOD")
    failed(bench.send(GOVS[0], "vote", {"id": 1, "choice": "maybe"}), governance.BAD_PAYLOAD)
    failed(bench.vote(GOVS[0], 99), governance.NO_PROPOSAL)
    # nothing was recorded by the refused calls
    assert bench.stored("sys.governance", "next_id") == 1


def test_passes_at_the_thresholds_and_takes_effect_next_block(bench):
    # 4 governors of weight 1, participation 67%, win 67%
    rc = ok(bench.propose(GOVS[0], "set-param", PARAM))
    pid = rc.value["id"]
    assert events(rc) == ["ProposalCreated", "VoteCast"] and rc.value["status"] == "open"
    ok(bench.vote(GOVS[1], pid))  # 2 of 4 = 50% participation: still open
    assert bench.proposal(pid)["status"] == "open"
    assert bench.chain.param("view_timeout_ms") == 3000
    rc = ok(bench.vote(GOVS[2], pid))  # 3 of 4 = 75%, all yes
    assert rc.value["status"] == "passed"
    assert events(rc) == ["VoteCast", "ProposalPassed", "ParamChanged"]
    p = bench.proposal(pid)
    assert (p["status"], p["decided_at"], p["yes_weight"], p["total_weight"]) == (
        "passed", bench.height, 3, 4)
    assert bench.stored("sys.params", "chain")["view_timeout_ms"] == 2000
    assert bench.chain.param("view_timeout_ms") == 2000
    failed(bench.vote(GOVS[3], pid), governance.DECIDED)


def test_changed_vote_vs_double_vote(bench):
    pid = ok(bench.propose(GOVS[0], "set-param", PARAM)).value["id"]
    failed(bench.vote(GOVS[0], pid, "yes"), governance.ALREADY_VOTED)
    rc = ok(bench.vote(GOVS[1], pid, "no"))
    assert events(rc) == ["VoteCast"]
    failed(bench.vote(GOVS[1], pid, "no"), governance.ALREADY_VOTED)
    rc = ok(bench.vote(GOVS[1], pid, "yes"))
    assert events(rc) == ["VoteChanged"] and rc.value["changed"] is True
    assert bench.proposal(pid)["votes"] == sorted([[ADDR[GOVS[0]], "yes"],
                                                   [ADDR[GOVS[1]], "yes"]])
    assert ok(bench.vote(GOVS[2], pid)).value["status"] == "passed"


def test_fails_when_it_can_no_longer_pass(bench):
    pid = ok(bench.propose(GOVS[0], "set-param", PARAM)).value["id"]
    ok(bench.vote(GOVS[1], pid, "no"))  # yes 1, no 1: two yes still make 3/4 = 75%
    rc = ok(bench.vote(GOVS[2], pid, "no"))  # best case now 2 yes of 4: 50% < 67%
    assert rc.value["status"] == "failed"
    assert events(rc) == ["VoteCast", "ProposalFailed"]
    p = bench.proposal(pid)
    assert p["error"]["code"] == "GOV_REJECTED" and p["status"] == "failed"
    assert bench.chain.param("view_timeout_ms") == 3000
    failed(bench.vote(GOVS[3], pid), governance.DECIDED)
    assert bench.stored("sys.governance", "open") == []


def test_expiry(tmp_path):
    g = make_genesis(governance={"governors": [[ADDR[k], 1] for k in GOVS],
                                 "proposal_ttl_blocks": 3})
    b = Bench(tmp_path / "db", g)
    try:
        rc = ok(b.propose(GOVS[0], "set-param", PARAM))
        pid, created = rc.value["id"], b.height
        assert b.proposal(pid)["expires_at"] == created + 3
        b.empty(2)  # the next block (created + 3) is the last one that may vote
        assert b.proposal(pid)["status"] == "open"
        ok(b.vote(GOVS[1], pid))
        assert b.proposal(pid)["status"] == "expired"  # derived before anything records it
        assert b.stored("sys.governance", ["proposal", pid])["status"] == "open"
        failed(b.vote(GOVS[2], pid), governance.EXPIRED_CODE)
        # the next governance transaction records the expiry, with its event
        rc = ok(b.propose(GOVS[1], "set-param", {"name": "block_interval_ms", "value": 5}))
        assert events(rc)[0] == "ProposalExpired"
        assert b.stored("sys.governance", ["proposal", pid])["status"] == "expired"
        assert b.stored("sys.governance", "open") == [rc.value["id"]]
        failed(b.vote(GOVS[2], pid), governance.DECIDED)
        assert b.chain.param("view_timeout_ms") == 3000
    finally:
        b.close()


def test_open_proposals_are_bounded_per_governor_and_in_all(tmp_path):
    five = [[ADDR[k], 1] for k in GOVS] + [[ADDR[MEMBER], 1]]
    b = Bench(tmp_path / "db", make_genesis(governance={"governors": five}))
    try:
        def burst(key, count):
            return b.block(*[b.tx(key, "propose", {"kind": "set-param", "payload": {
                "name": "block_interval_ms", "value": i}}) for i in range(count)]
            ).outcome.receipts
        rcs = burst(GOVS[0], governance.MAX_OPEN_PER_PROPOSER + 1)
        assert all(rc.ok for rc in rcs[:-1])
        assert "you have" in failed(rcs[-1], governance.TOO_MANY_OPEN).error_message
        for k in GOVS[1:]:
            assert all(rc.ok for rc in burst(k, governance.MAX_OPEN_PER_PROPOSER))
        assert len(b.stored("sys.governance", "open")) == governance.MAX_OPEN
        assert "proposals are open" in failed(burst(MEMBER, 1)[0],
                                              governance.TOO_MANY_OPEN).error_message
    finally:
        b.close()


def test_set_committee_reweights_and_new_thresholds_apply(bench):
    new = {"governors": [[ADDR[GOVS[0]], 5], [ADDR[GOVS[1]], 1], [ADDR[MEMBER], 1]],
           "participation_threshold": 50, "win_threshold": 60, "proposal_ttl_blocks": 20}
    pid = ok(bench.propose(GOVS[0], "set-committee", new)).value["id"]
    ok(bench.vote(GOVS[1], pid))
    rc = ok(bench.vote(GOVS[2], pid))
    assert "CommitteeChanged" in events(rc)
    c = governance.committee(bench.state())
    assert c["governors"] == sorted(new["governors"]) and c["win_threshold"] == 60
    # GOVS[2] and GOVS[3] are no longer governors; the member now is
    failed(bench.propose(GOVS[3], "set-param", PARAM), governance.NOT_GOVERNOR)
    pid2 = ok(bench.propose(MEMBER, "set-param", PARAM)).value["id"]  # 1 of 7: open
    assert bench.proposal(pid2)["status"] == "open"
    assert ok(bench.vote(GOVS[0], pid2)).value["status"] == "passed"  # 6 of 7


def test_votes_of_removed_governors_weigh_nothing(bench):
    pid = ok(bench.propose(GOVS[3], "set-param", PARAM)).value["id"]  # GOVS[3] votes yes
    drop = {"governors": [[ADDR[k], 1] for k in GOVS[:3]]}
    cid = ok(bench.propose(GOVS[0], "set-committee", drop)).value["id"]
    ok(bench.vote(GOVS[1], cid))
    assert ok(bench.vote(GOVS[2], cid)).value["status"] == "passed"
    rc = ok(bench.vote(GOVS[0], pid))  # GOVS[3]'s yes no longer counts: 1 of 3 = 33%
    assert rc.value["status"] == "open"
    assert (bench.proposal(pid)["yes_weight"], bench.proposal(pid)["total_weight"]) == (1, 3)


@pytest.mark.parametrize("payload,code", [
    ({"governors": [[ADDR[OUTSIDER], 1]]}, governance.BAD_PAYLOAD),  # not a member
    ({"governors": [[ADDR[GOVS[0]], -1]]}, governance.BAD_PAYLOAD),
    ({"governors": [[ADDR[GOVS[0]], 1]], "win_threshold": 0}, governance.BAD_PAYLOAD),
    ({"governors": "everyone"}, governance.BAD_PAYLOAD),
])
def test_bad_committee_proposals(bench, payload, code):
    failed(bench.propose(GOVS[0], "set-committee", payload), code)


def test_queries_list_and_filter(bench):
    a = ok(bench.propose(GOVS[0], "set-param", PARAM)).value["id"]
    b = ok(bench.propose(GOVS[0], "set-param", {"name": "block_interval_ms", "value": 7})
           ).value["id"]
    ok(bench.vote(GOVS[1], b))
    ok(bench.vote(GOVS[2], b))
    st, h = bench.state(), bench.height + 1
    assert [p["id"] for p in governance.list_proposals(st, h)] == [b, a]
    assert [p["id"] for p in governance.list_proposals(st, h, "passed")] == [b]
    assert [p["id"] for p in governance.list_proposals(st, h, "open")] == [a]
    assert governance.list_proposals(st, h, "expired") == []
    res = bench.chain.executor.query(bench.db, "sys.governance", "get", {"id": a},
                                     bench.height, 0)
    assert res.value["kind"] == "set-param" and res.value["payload"] == PARAM


def test_tally_redecides_after_the_committee_changed(bench):
    pid = ok(bench.propose(GOVS[0], "set-param", PARAM)).value["id"]
    ok(bench.vote(GOVS[1], pid))  # 2 of 4: open; both voters have nothing left to cast
    failed(bench.vote(GOVS[1], pid), governance.ALREADY_VOTED)
    lower = {"governors": [[ADDR[k], 1] for k in GOVS], "participation_threshold": 50}
    cid = ok(bench.propose(GOVS[2], "set-committee", lower)).value["id"]
    for k in GOVS[:2]:
        ok(bench.vote(k, cid))
    assert bench.proposal(pid)["status"] == "open"
    failed(bench.send(MEMBER, "tally", {"id": pid}), governance.NOT_GOVERNOR)
    rc = ok(bench.send(GOVS[3], "tally", {"id": pid}))
    assert rc.value["status"] == "passed" and "ParamChanged" in events(rc)
    assert bench.proposal(pid)["votes"] == sorted([[ADDR[GOVS[0]], "yes"],
                                                   [ADDR[GOVS[1]], "yes"]])  # no vote added
    failed(bench.send(GOVS[3], "tally", {"id": pid}), governance.DECIDED)
    failed(bench.send(GOVS[3], "tally", {"id": 99}), governance.NO_PROPOSAL)
