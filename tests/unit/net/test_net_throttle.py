"""Backoff growth/cap/jitter and ban growth, forgetting and bounded size."""

from __future__ import annotations

import pytest

from chainnode.net.throttle import Backoff, BanBook


def test_backoff_doubles_then_caps():
    b = Backoff(base=1.0, cap=8.0, rng=lambda: 1.0)  # top of the jitter range
    assert [b.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    b.reset()
    assert b.next_delay() == 1.0


def test_backoff_jitter_range():
    b = Backoff(base=2.0, cap=2.0, rng=lambda: 0.0)
    assert b.next_delay() == 1.0  # half of the step
    import random

    r = random.Random(7)
    b = Backoff(base=0.5, cap=30.0, rng=r.random)
    for i in range(100):
        d = b.next_delay()
        step = min(30.0, 0.5 * 2**i)
        assert step / 2 <= d <= step


def test_backoff_survives_many_attempts():
    b = Backoff(base=0.1, cap=5.0)
    for _ in range(5000):
        assert b.next_delay() <= 5.0


def test_backoff_rejects_bad_parameters():
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


def test_ban_grows_and_caps():
    book = BanBook(base=5, cap=40, forget_after=1000)
    t = 0.0
    lengths = []
    for _ in range(6):
        lengths.append(book.offend("k", "garbage", t))
        t += 1
    assert lengths == [5, 10, 20, 40, 40, 40]
    assert book.remaining("k", t) == pytest.approx(40 - 1)
    assert book.reason("k") == "garbage"
    assert book.strikes("k") == 6


def test_ban_expires_and_is_forgotten_after_good_behaviour():
    book = BanBook(base=5, cap=100, forget_after=60)
    book.offend("k", "x", 0)
    assert book.remaining("k", 4.9) > 0
    assert book.remaining("k", 5.0) == 0
    assert book.offend("k", "x", 10) == 10  # second strike soon after: doubled
    assert book.offend("k", "x", 20 + 60 + 1) == 5  # clean for forget_after: reset


def test_unknown_key_is_not_banned_and_pardon():
    book = BanBook()
    assert book.remaining("nobody", 0) == 0
    book.offend("k", "x", 0)
    book.pardon("k")
    assert book.remaining("k", 0) == 0


def test_book_is_bounded():
    book = BanBook(base=1, cap=10, forget_after=100, max_entries=50)
    for i in range(1000):
        book.offend(("ip", i), "junk", float(i) / 10)
    assert len(book) <= 50
    # the newest offender is still recorded
    assert book.remaining(("ip", 999), 99.9) > 0
