"""Red team: forged and replayed certificates against one core (n=4, validator 3 faulty).

A faulty validator holds a valid key and every message it ever saw. Nothing it can build
from them may make a correct core commit, catch up, change or return to a view, or grow a
certificate, unless 2f+1 validators really signed that statement for this chain.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "consensus"))

from cons_util import CHAIN, Driver, block, of, sent  # noqa: E402

from chainnode.consensus import (  # noqa: E402
    BlockCommitted,
    BlockValidated,
    CatchUp,
    CommitBlock,
    GrowCertificate,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
    ViewChange,
)
from chainnode.core.certificate import MAX_TIME_MS, CommitCertificate, vote_payload  # noqa: E402

BYZ = 3


def _foreign_cert(d: Driver, height: int, bh: bytes, signers, chain: str = "other-chain"):
    """Real signatures of real validator keys, over another chain's vote payload."""
    votes = []
    for i in sorted(signers):
        p = vote_payload("commit", chain, 0, height, bh, 0)
        votes.append((i, 0, d.keys.signer(i)("commit", p)))
    return CommitCertificate(chain, height, 0, bh, tuple(votes))


def _quiet(acts) -> bool:
    return not of(acts, CommitBlock) and not of(acts, CatchUp)


def test_forged_certificates_in_a_view_change_commit_nothing():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))  # we hold the body: a valid certificate would commit
    real = d.commit_cert(0, 1, a, [0, 2, BYZ])
    forged = [
        _foreign_cert(d, 1, a, [0, 2, BYZ]),  # another chain's votes
        replace(real, chain_id="other-chain"),  # relabelled
        replace(real, signatures=(real.signatures[0], real.signatures[0],
                                  real.signatures[2])),  # duplicate signer
        replace(real, signatures=real.signatures[:2]),  # too few
        replace(real, signatures=real.signatures[:2] + ((4, 0, real.signatures[2][2]),)),
        replace(real, signatures=tuple((i, MAX_TIME_MS if i == BYZ else t, s)
                                       for i, t, s in real.signatures)),  # time changed
        replace(real, view=5),  # another view
    ]
    for cert in forged:
        vc = d.view_change(1, BYZ, committed=(1, cert))
        assert _quiet(d.recv(vc)), cert
        assert d.core.committed_height == 0 and d.core.view == 0
    # the genuine one does commit (the probes above were not blind)
    assert of(d.recv(d.view_change(2, BYZ, committed=(1, real))), CommitBlock)


def test_a_replayed_certificate_returns_a_lone_node_only_on_real_evidence():
    """Waiting alone in view 1 (left at height 1): a replayed certificate for the height it
    left at, or from a view above its own, never moves it; one for a later height in a lower
    view does (and then it votes there)."""
    d = Driver(n=4, me=1)
    d.feed(Start())
    d.feed(TransactionsPending(True))
    d.feed(TimerFired(d.core._timer_token))
    assert d.core.view == 1 and d.core.in_view_change
    a, _ = block(1)
    d.feed(SyncedTo(1, a, d.commit_cert(0, 1, a, [0, 2, BYZ])))  # the height it left at
    assert d.core.view == 1 and d.core.in_view_change
    b, _ = block(2, prev=a)
    d.feed(SyncedTo(2, b, d.commit_cert(7, 2, b, [0, 2, BYZ])))  # from a view above ours
    assert d.core.view == 1 and d.core.in_view_change
    c, _ = block(3, prev=b)
    d.feed(SyncedTo(3, c, d.commit_cert(0, 3, c, [0, 2, BYZ])))
    assert d.core.view == 0 and not d.core.in_view_change


def test_a_view_change_alone_never_pulls_a_node_up():
    """One faulty validator's VIEW-CHANGEs, for any view and with any (real) certificate,
    are not f+1: the node stays in its view."""
    d = Driver(n=4, me=1)
    d.feed(Start())
    for v in (1, 2, 9, 10**6):
        acts = d.recv(d.view_change(v, BYZ))
        assert sent(acts, ViewChange) == [] and d.core.view == 0


def test_a_late_commit_grows_a_certificate_only_with_a_real_validator_vote():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    d.feed(BlockValidated(1, 0, a, True))
    for i in (0, 2):
        d.recv(d.prepare(0, 1, a, i))
    acts = []
    for i in (0, 2):
        acts = d.recv(d.commit(0, 1, a, i, time_ms=5))
    assert len(of(acts, CommitBlock)) == 1
    d.feed(BlockCommitted(1, a))
    vote = d.commit(0, 1, a, BYZ, time_ms=MAX_TIME_MS)
    for bad in (replace(vote, sender=4),  # not a validator index
                replace(vote, time_ms=0),  # another time under the same signature
                replace(vote, signature=bytes(32)),  # forged
                replace(vote, view=1)):  # another view's vote for the same block
        assert of(d.recv(bad), GrowCertificate) == []
    (g,) = of(d.recv(vote), GrowCertificate)
    assert g.certificate.signers == (0, 1, 2, BYZ)
    g.certificate.check(4, lambda i, p, s: d.keys.verify(i, "commit", p, s), chain_id=CHAIN)
