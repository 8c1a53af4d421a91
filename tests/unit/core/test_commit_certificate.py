"""Commit certificates: quorum arithmetic and offline checking with real SM2 signatures."""

from __future__ import annotations

import pytest

from chainnode import codec
from chainnode.core.certificate import (
    CommitCertificate,
    bft_time,
    median_time,
    quorum,
    sorted_signatures,
    vote_payload,
)
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import GmsslBackend, N, PrivateKey

CHAIN = "grid-test"
KEYS = [PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/cert/%d" % i), "big") % (N - 2) + 1)
        for i in range(7)]
PUBS = [k.public_key for k in KEYS]
HEIGHT, VIEW = 42, 3
BLOCK = sm3(b"block 42")
T0 = 1_700_000_000_000


def vote_time(i: int) -> int:
    return T0 + 10 * i  # every validator's clock reads a little differently


def commit_sig(i: int, *, chain=CHAIN, view=VIEW, height=HEIGHT, block=BLOCK,
               dom="commit", time_ms=None) -> bytes:
    t = vote_time(i) if time_ms is None else time_ms
    return domain.sign(KEYS[i], dom, chain, vote_payload("commit", chain, view, height, block,
                                                         t))


SIGS = {i: commit_sig(i) for i in range(7)}


def cert(indexes, sigs=None, **kw) -> CommitCertificate:
    fields = dict(chain_id=CHAIN, height=HEIGHT, view=VIEW, block_hash=BLOCK)
    fields.update(kw)
    sigs = sigs or {}
    return CommitCertificate(signatures=tuple((i, vote_time(i % 7), sigs.get(i, SIGS.get(i, b"")))
                                              for i in indexes), **fields)


def verifier(chain=CHAIN, pubs=PUBS):
    def verify(i: int, payload: bytes, sig: bytes) -> bool:
        return domain.verify(pubs[i], "commit", chain, payload, sig)
    return verify


def rejected(c: CommitCertificate, n: int = 4, match: str | None = None, **kw) -> None:
    with pytest.raises(ValueError, match=match):
        c.check(n, verifier(), **kw)


# ---------------------------------------------------------------------------- quorum

@pytest.mark.parametrize("n,q", [(1, 1), (4, 3), (7, 5), (2, 2), (3, 3), (5, 4), (6, 5),
                                 (10, 7), (100, 67)])
def test_quorum_values(n, q):
    assert quorum(n) == q


def test_quorum_is_bft_safe_for_every_size():
    for n in range(1, 200):
        f = (n - 1) // 3
        q = quorum(n)
        assert 3 * q > 2 * n, n  # more than two thirds
        assert 2 * q - n >= f + 1, n  # two quorums share an honest validator
        assert q <= n - f, n  # reachable with f validators silent


# ---------------------------------------------------------------------------- vote payload

def test_vote_payload():
    p = vote_payload("commit", CHAIN, VIEW, HEIGHT, BLOCK, T0)
    assert codec.decode(p) == [VIEW, HEIGHT, BLOCK, T0]  # a COMMIT signs its voter's time
    assert codec.decode(vote_payload("prepare", CHAIN, VIEW, HEIGHT, BLOCK)) == [VIEW, HEIGHT,
                                                                                BLOCK]
    for other in (vote_payload("commit", CHAIN, VIEW + 1, HEIGHT, BLOCK, T0),
                  vote_payload("commit", CHAIN, VIEW, HEIGHT + 1, BLOCK, T0),
                  vote_payload("commit", CHAIN, VIEW, HEIGHT, sm3(b"x"), T0),
                  vote_payload("commit", CHAIN, VIEW, HEIGHT, BLOCK, T0 + 1)):
        assert other != p
    for bad in (dict(kind="view-change", time_ms=T0), dict(kind="commit", time_ms=None),
                dict(kind="commit", time_ms=-1), dict(kind="commit", time_ms=True),
                dict(kind="prepare", time_ms=T0)):
        with pytest.raises(ValueError):
            vote_payload(bad["kind"], CHAIN, VIEW, HEIGHT, BLOCK, bad["time_ms"])


def test_tampered_vote_time_breaks_the_certificate():
    """The time is signed with the vote: moving any vote's time (to move block time) makes
    that validator's signature fail."""
    c = cert([0, 1, 2])
    for k in range(3):
        for delta in (1, -1, 3_600_000):
            votes = list(c.signatures)
            i, t, sig = votes[k]
            votes[k] = (i, t + delta, sig)
            rejected(CommitCertificate(c.chain_id, c.height, c.view, c.block_hash,
                                       tuple(votes)), match=f"validator {i} does not verify")


# ---------------------------------------------------------------------------- BFT time

def test_median_of_vote_times():
    assert median_time([5]) == 5
    assert median_time([3, 1, 2]) == 2
    assert median_time([4, 1, 3, 2]) == 2  # the lower median: an actual vote's time
    assert median_time([10, 10, 10, 99]) == 10
    with pytest.raises(ValueError):
        median_time([])


@pytest.mark.parametrize("n", [4, 7, 10])
def test_f_liars_cannot_move_the_median_out_of_the_honest_range(n):
    """Whatever f faulty validators sign (an hour fast, an hour slow, 0, 2**63-1), the median
    of any 2f+1..n votes stays between the lowest and highest honest clock."""
    f = (n - 1) // 3
    honest = [T0 + 7 * i for i in range(n - f)]
    for lie in (0, T0 - 3_600_000, T0 + 3_600_000, 2**63 - 1):
        for k in range(2 * f + 1, n + 1):
            for honest_used in range(max(k - f, 0), min(k, len(honest)) + 1):
                if k - honest_used > f:
                    continue
                times = honest[:honest_used] + [lie] * (k - honest_used)
                assert min(honest[:honest_used]) <= median_time(times) <= max(
                    honest[:honest_used])


def test_bft_time_is_monotonic_and_starts_after_genesis():
    assert bft_time(0, None, T0) == T0 + 1  # height 1: genesis time + 1 ms
    c = cert([0, 1, 2])
    assert bft_time(T0 - 5_000, c, 0) == vote_time(1)  # the median vote
    # clocks behind the parent: time still moves forward by 1 ms
    assert bft_time(T0 + 60_000, c, 0) == T0 + 60_001


# ---------------------------------------------------------------------------- check: accepts

@pytest.mark.parametrize("n,indexes", [
    (1, [0]), (4, [0, 1, 2]), (4, [1, 2, 3]), (4, [0, 1, 2, 3]), (4, [0, 2, 3]),
    (7, [0, 1, 2, 3, 4]), (7, [2, 3, 4, 5, 6]), (7, list(range(7))),
])
def test_quorum_of_real_signatures_accepted(n, indexes):
    c = cert(indexes)
    c.check(n, verifier())
    c.check(n, verifier(), chain_id=CHAIN, height=HEIGHT, block_hash=BLOCK)


def test_wire_round_trip_then_check():
    c = cert([0, 1, 3])
    data = c.encode()
    back = CommitCertificate.decode(data)
    assert back == c and back.encode() == data
    back.check(4, verifier(), chain_id=CHAIN, height=HEIGHT, block_hash=BLOCK)


def test_signatures_verify_with_the_independent_backend():
    g = GmsslBackend()
    payload = vote_payload("commit", CHAIN, VIEW, HEIGHT, BLOCK, vote_time(0))

    def gmssl_verify(i: int, p: bytes, sig: bytes) -> bool:
        assert PUBS[i].raw[0] != 0x04
        return g.verify(PUBS[i].raw, domain.signing_bytes("commit", CHAIN, p), sig)

    cert([0, 1, 2]).check(4, gmssl_verify)
    assert not g.verify(PUBS[0].raw, domain.signing_bytes("prepare", CHAIN, payload), SIGS[0])


# ---------------------------------------------------------------------------- check: rejects

@pytest.mark.parametrize("n,indexes", [(4, [0, 1]), (4, []), (7, [0, 1, 2, 3]), (1, [])])
def test_too_few_signatures(n, indexes):
    rejected(cert(indexes), n, match="needs")


@pytest.mark.parametrize("indexes", [[0, 0, 1], [0, 1, 1, 2], [2, 2, 2], [0, 0, 1, 2]])
def test_duplicate_indexes(indexes):
    rejected(cert(indexes), match="distinct")


def test_unsorted_indexes():
    rejected(cert([1, 0, 2]), match="sorted")


@pytest.mark.parametrize("indexes", [[0, 1, 4], [-1, 0, 1], [0, 1, 2, 100]])
def test_out_of_range_index(indexes):
    sigs = {4: commit_sig(4), -1: commit_sig(6), 100: commit_sig(5)}
    rejected(cert(indexes, sigs), n=4, match="out of range")


def test_wrong_block_hash():
    # expected block differs from the certified one
    rejected(cert([0, 1, 2]), block_hash=sm3(b"other"), match="another block")
    # certificate relabelled to another block: the signatures no longer match
    rejected(cert([0, 1, 2], block_hash=sm3(b"other")), match="does not verify")


def test_wrong_chain_height_or_view():
    rejected(cert([0, 1, 2]), chain_id="grid-prod", match="another chain")
    rejected(cert([0, 1, 2]), height=HEIGHT + 1, match="another height")
    rejected(cert([0, 1, 2], height=HEIGHT + 1), match="does not verify")
    rejected(cert([0, 1, 2], view=VIEW + 1), match="does not verify")
    # a certificate whose votes were signed on another chain fails under this chain's key check
    other_chain = {i: commit_sig(i, chain="grid-prod") for i in range(3)}
    rejected(cert([0, 1, 2], other_chain, chain_id="grid-prod"))


@pytest.mark.parametrize("forgery", ["random", "swapped", "other-key", "prepare-vote",
                                     "tx-domain", "flipped", "empty"])
def test_forged_signature(forgery):
    sig = {
        "random": sm3(b"r") + sm3(b"s"),
        "swapped": SIGS[1],  # validator 1's vote presented as validator 0's
        "other-key": commit_sig(5),
        "prepare-vote": commit_sig(0, dom="prepare"),
        "tx-domain": commit_sig(0, dom="tx"),
        "flipped": bytes([SIGS[0][0] ^ 1]) + SIGS[0][1:],
        "empty": b"",
    }[forgery]
    rejected(cert([0, 1, 2], {0: sig}), match="validator 0 does not verify")


def test_one_bad_signature_spoils_a_full_certificate():
    # even with more than a quorum present, every listed signature must verify
    rejected(cert([0, 1, 2, 3], {3: SIGS[2]}), match="validator 3")


# ---------------------------------------------------------------------------- wire checks

@pytest.mark.parametrize("w", [
    [], [CHAIN, HEIGHT, VIEW, BLOCK], [CHAIN, HEIGHT, VIEW, BLOCK, [], 1], "cert", None,
    [b"grid", HEIGHT, VIEW, BLOCK, []], [CHAIN, "42", VIEW, BLOCK, []],
    [CHAIN, HEIGHT, True, BLOCK, []], [CHAIN, HEIGHT, VIEW, BLOCK.hex(), []],
    [CHAIN, HEIGHT, VIEW, BLOCK, {}], [CHAIN, HEIGHT, VIEW, BLOCK, [[0]]],
    [CHAIN, HEIGHT, VIEW, BLOCK, [[0, b"s", 1]]], [CHAIN, HEIGHT, VIEW, BLOCK, [["0", 1, b"s"]]],
    [CHAIN, HEIGHT, VIEW, BLOCK, [[True, 1, b"s"]]], [CHAIN, HEIGHT, VIEW, BLOCK, [[0, 1, "s"]]],
    [CHAIN, HEIGHT, VIEW, BLOCK, [(0, 1, b"s")]], [CHAIN, HEIGHT, VIEW, BLOCK, [[0, b"s"]]],
    [CHAIN, HEIGHT, VIEW, BLOCK, [[0, -1, b"s"]]], [CHAIN, HEIGHT, VIEW, BLOCK, [[0, 2**63, b"s"]]],
    [CHAIN, HEIGHT, VIEW, BLOCK, [[0, True, b"s"]]],
])
def test_from_wire_rejects_malformed(w):
    with pytest.raises(ValueError):
        CommitCertificate.from_wire(w)


def test_decode_rejects_bad_bytes():
    with pytest.raises(ValueError):
        CommitCertificate.decode(cert([0, 1, 2]).encode() + b"\x00")


def test_sorted_signatures():
    votes = [(2, 9, b"c"), (0, 7, b"a"), (1, 8, b"b")]
    assert sorted_signatures(votes) == ((0, 7, b"a"), (1, 8, b"b"), (2, 9, b"c"))
    c = cert([0, 1, 2])
    assert sorted_signatures(list(reversed(c.signatures))) == c.signatures
