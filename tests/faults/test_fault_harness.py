"""The fault suite's own detectors, on made-up chains: they must catch what they look for
(a fork, a lost acknowledged transaction, a validator missing from certificates, a stall)
and the tmpfs helper must unmount even when the test body fails."""

from __future__ import annotations

import os
import types

import pytest
from chainnode_fault_harness import (
    Ack,
    BlockInfo,
    ChainSnapshot,
    CommitClock,
    fill_filesystem,
    mounted_tmpfs,
)


def _block(h: int, tag: str = "a", txs: tuple[str, ...] = (), signers=(0, 1, 2)) -> BlockInfo:
    return BlockInfo(h, f"{tag}{h:062x}", 0, 1000 + h, 0, txs, 0, frozenset(signers))


def _chain(top: int, **kw) -> dict[int, BlockInfo]:
    return {h: _block(h, **kw) for h in range(1, top + 1)}


def test_fork_detected_at_any_common_height():
    a, b = _chain(10), _chain(8)
    assert ChainSnapshot({"n0": a, "n1": b}).assert_no_fork() == 8  # 9-10 are on n0 only
    b[5] = _block(5, tag="b")
    with pytest.raises(AssertionError, match="FORK at height 5"):
        ChainSnapshot({"n0": a, "n1": b}).assert_no_fork()


def test_lost_or_moved_ack_detected():
    a = _chain(3)
    a[2] = _block(2, txs=("t1",))
    b = dict(a)
    snap = ChainSnapshot({"n0": a, "n1": b})
    assert snap.assert_acks([Ack("t1", 2, "n0", 0.0)]) == 1
    b[2] = _block(2)  # n1 lacks it
    with pytest.raises(AssertionError, match="n1 lost 1 of 1"):
        ChainSnapshot({"n0": a, "n1": b}).assert_acks([Ack("t1", 2, "n0", 0.0)])
    with pytest.raises(AssertionError, match="lost"):  # acknowledged at another height
        snap.assert_acks([Ack("t1", 3, "n0", 0.0)])


def test_votes_are_the_union_of_every_nodes_certificate():
    a = _chain(12, signers=(0, 1, 2))
    b = _chain(12, signers=(0, 1, 2))
    for h in range(6, 13):
        b[h] = _block(h, signers=(1, 2, 3))  # node3 votes again from height 6 on
    snap = ChainSnapshot({"n0": a, "n3": b})
    assert snap.signers(3) == {0, 1, 2}
    assert snap.signers(7) == {0, 1, 2, 3}
    assert snap.first_voting_run(3, 1, 5) == 6
    assert snap.first_voting_run(3, 1, 8) is None
    assert snap.signed_share(3, range(1, 13)) == pytest.approx(7 / 12)
    b[9] = _block(9, signers=(0, 1, 2))  # a gap restarts the run
    assert ChainSnapshot({"n0": a, "n3": b}).first_voting_run(3, 1, 5) is None


def test_max_gap_counts_the_edges_of_the_window():
    clock = CommitClock(types.SimpleNamespace(nodes=[]))
    for h, t in ((1, 10.0), (2, 10.2), (3, 12.0), (4, 12.1)):
        clock.first_seen[h] = (t, t)
    assert clock.max_gap(10.0, 12.5) == pytest.approx(1.8)
    assert clock.max_gap(12.1, 20.0) == pytest.approx(7.9)  # no commit at all after 12.1
    assert clock.heights_between(10.1, 12.0) == [2, 3]


def test_tmpfs_filled_then_unmounted_even_when_the_body_fails(tmp_path):
    where = tmp_path / "data"
    stopped = []
    with pytest.raises(RuntimeError, match="boom"), \
            mounted_tmpfs(where, 2, before_unmount=lambda: stopped.append(1)):
        assert os.path.ismount(where)
        written = fill_filesystem(where / "filler")
        assert 1.5 * 2**20 < written <= 2 * 2**20
        st = os.statvfs(where)
        assert st.f_bavail == 0
        with pytest.raises(OSError, match="No space left"), open(where / "more", "wb") as f:
            f.write(b"x" * 8192)
            f.flush()
        raise RuntimeError("boom")
    assert stopped == [1]
    assert not os.path.ismount(where)
