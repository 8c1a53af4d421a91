"""Red team, governance: a crash around the commit of the block that decides a set change.
The epoch record (the set of h+1) must be exactly as durable as block h: written in the same
synced batch. Here the commit's one write is cut (the process "dies" instead of writing) and
the data directory reopened: neither block h nor the epoch of h+1 exists, and re-executing h
yields the same decision; when the write goes through, both exist after a reopen (no finding:
a regression guard against splitting the write)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import GOVS, Bench, ok  # noqa: E402

from chainnode.store.db import ChainDB  # noqa: E402


class Died(BaseException):
    """Stands for kill -9: nothing after it runs (not an Exception, so nothing catches it)."""


def test_block_and_its_epoch_are_one_write(tmp_path, monkeypatch):
    b = Bench(tmp_path / "db")
    pid = ok(b.propose(GOVS[0], "remove-validator", {"name": "v3", "force": True})).value["id"]
    ok(b.vote(GOVS[1], pid))
    deciding = b.tx(GOVS[2], "vote", {"id": pid, "choice": "yes"})
    h = b.height + 1
    writes: list[str] = []
    real = ChainDB._write

    def dying(self, what, batch):
        writes.append(what)
        raise Died(what)

    monkeypatch.setattr(ChainDB, "_write", dying)
    with pytest.raises(Died):
        b.block(deciding)
    assert writes == [f"commit of block {h}"]  # one batch: block, state, epoch, head
    monkeypatch.setattr(ChainDB, "_write", real)
    b.db.close()

    again = Bench(tmp_path / "db", b.genesis)
    try:
        assert again.height == h - 1 and again.db.block(h) is None
        assert again.db.epochs() == [] and len(again.chain.validators) == 4
        writes.clear()
        monkeypatch.setattr(ChainDB, "_write", lambda self, what, batch: (
            writes.append(what), real(self, what, batch))[1])
        again.block(deciding)  # the same transaction, re-proposed after the restart
        assert writes == [f"commit of block {h}"]
    finally:
        again.close()
    third = Bench(tmp_path / "db", b.genesis)
    try:
        assert [s for s, _ in third.db.epochs()] == [h + 1]
        assert [len(third.chain.validators_at(x)) for x in (h, h + 1)] == [4, 3]
    finally:
        third.close()
