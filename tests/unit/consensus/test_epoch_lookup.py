"""Epoch lookups asked on every consensus frame: bisect gives exactly what the linear scan
gave, and the cached recent views follow every new epoch."""

from __future__ import annotations

import random

from chainnode.consensus.epoch import Epoch, EpochHistory
from chainnode.core.genesis import Validator
from chainnode.epochs import ChainEpoch, EpochBook


def _linear(epochs, height):
    best = epochs[0]
    for e in epochs:
        if e.start > height:
            break
        best = e
    return best


def _chain_epoch(start: int, tag: int) -> ChainEpoch:
    return ChainEpoch(start, (Validator(f"v{tag}", bytes([tag % 256]) * 64),
                              Validator("w", b"\xee" * 64)), 1000, 8000)


def test_epoch_book_bisect_matches_the_scan_and_recent_views_follow_adds():
    rng = random.Random(7)
    book = EpochBook(_chain_epoch(1, 0), [])
    start = 1
    for tag in range(1, 40):
        start += rng.randint(1, 5)
        book.add(_chain_epoch(start, tag))
        for h in range(-1, start + 4):
            assert book.at(h) is _linear(book.epochs, h)
        assert book.recent(3) == tuple(book.epochs[-3:])
        assert book.recent_keys(2) == {v.public_key for e in book.epochs[-2:]
                                       for v in e.validators}
        assert bytes([(tag - 2) % 256]) * 64 not in book.recent_keys(2)


def test_epoch_book_from_stored_epochs():
    stored = [(s, _chain_epoch(s, s).encode()) for s in (4, 9, 10)]
    book = EpochBook(_chain_epoch(1, 0), stored)
    assert [book.at(h).start for h in (0, 1, 3, 4, 8, 9, 10, 99)] == [1, 1, 1, 4, 4, 9, 10, 10]
    assert book.recent(2) == tuple(book.epochs[-2:])


def test_epoch_history_bisect_matches_the_scan_with_out_of_order_adds():
    rng = random.Random(11)
    starts = rng.sample(range(1, 400), 60)
    hist = EpochHistory([Epoch(s, (bytes([s % 256]) * 64,), 1000, 8000) for s in starts])
    ordered = sorted(hist, key=lambda e: e.start)
    for h in range(0, 410):
        assert hist.at(h) is _linear(ordered, h)
    replaced = Epoch(starts[0], (b"\x01" * 64, b"\x02" * 64), 1000, 8000)
    assert hist.add(replaced)
    assert hist.at(starts[0]) == replaced
