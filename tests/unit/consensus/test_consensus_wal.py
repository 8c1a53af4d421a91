"""The consensus WAL over a real LevelDB: prefix isolation, batches, reopen."""

from __future__ import annotations

import plyvel
import pytest
from cons_util import Driver, block, sent

from chainnode.consensus import BlockValidated, Prepare, Start
from chainnode.store.wal import ConsensusWAL, MemoryWAL


def test_records_live_under_their_prefix_and_survive_reopen(tmp_path):
    path = str(tmp_path / "db")
    db = plyvel.DB(path, create_if_missing=True)
    db.put(b"b/neighbour", b"block data")
    wal = ConsensusWAL(db)
    wal.apply([(b"meta", b"1"), (b"vote/x", b"2")])
    wal.apply([(b"vote/y", b"3")], [b"vote/x"])
    assert db.get(b"w/meta") == b"1" and db.get(b"w/vote/x") is None
    db.close()
    db = plyvel.DB(path)
    assert ConsensusWAL(db).load() == {b"meta": b"1", b"vote/y": b"3"}
    ConsensusWAL(db).clear()
    assert ConsensusWAL(db).load() == {}
    assert db.get(b"b/neighbour") == b"block data"
    db.close()


@pytest.mark.parametrize("bad", [([(b"", b"x")], []), ([("k", b"x")], []), ([], [b""])])
def test_malformed_records_are_refused(tmp_path, bad):
    for wal in (MemoryWAL(), ConsensusWAL(plyvel.DB(str(tmp_path / "d"),
                                                    create_if_missing=True))):
        with pytest.raises(TypeError):
            wal.apply(*bad)


def test_core_restarts_from_a_reopened_leveldb(tmp_path):
    path = str(tmp_path / "node")
    db = plyvel.DB(path, create_if_missing=True)
    d = Driver(n=4, me=1, wal=ConsensusWAL(db))
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    (vote,) = sent(d.feed(BlockValidated(1, 0, a, True)), Prepare)
    db.close()  # the process dies; the vote was written with sync=True before the send
    db = plyvel.DB(path)
    d.wal = ConsensusWAL(db)
    assert sent(d.restart()) == [vote]
    db.close()
