"""The pricing helpers mirror the interpreter they price: whitespace and line-break sets of
str.split()/splitlines(), str widths, and size estimates that are upper bounds of CPython's
real object sizes (a CPython upgrade that changes any of these fails here, not on a chain)."""

from __future__ import annotations

import sys

import msgpack

from chainnode.vm import methods
from chainnode.vm.common import (
    DICT_ENTRY,
    DICT_HEAD,
    INT_HEAD,
    LIST_HEAD,
    SLOT,
    STR_HEAD,
    TUPLE_HEAD,
    int_bytes,
    search_pairs,
    seq_bytes,
    str_width,
)


def test_split_sets_match_the_unicode_database():
    ws = {chr(i) for i in range(0x110000) if chr(i).isspace()}
    assert ws == set(methods._WS_WIDE)
    assert {c for c in ws if c.isascii()} == set(methods._WS_ASCII)
    breaks = {chr(i) for i in range(0x110000) if len(("a" + chr(i) + "a").splitlines()) == 2}
    assert breaks == set(methods._LINE_WIDE)
    assert {c for c in breaks if c.isascii()} == set(methods._LINE_ASCII)


def test_str_width():
    assert [str_width(s) for s in ("", "abc", "\xe9", "a\u4e00", "\U0001f600b")] == [1, 1, 1, 2, 4]


def test_size_estimates_bound_the_real_sizes():
    for s in ("", "a" * 1000, "\xe9" * 1000, "\u4e00" * 1000, "\U0001f600" * 1000):
        assert seq_bytes("", len(s), str_width(s)) >= sys.getsizeof(s)
    assert seq_bytes(b"", 1000) >= sys.getsizeof(bytes(1000))
    for n in (0, 1, 7, 1000):
        assert seq_bytes([], n) >= sys.getsizeof(list(range(n)))
        assert seq_bytes((), n) >= sys.getsizeof(tuple(range(n)))
        assert DICT_HEAD + DICT_ENTRY * n >= sys.getsizeof({i: i for i in range(n)})
    assert LIST_HEAD + SLOT > sys.getsizeof([0])
    assert TUPLE_HEAD >= sys.getsizeof(())
    assert STR_HEAD >= sys.getsizeof("\U0001f600")
    for x in (0, 1 << 40, 1 << 62, (1 << 2048) - 1):
        assert int_bytes(x) >= sys.getsizeof(x) and INT_HEAD >= sys.getsizeof(1 << 40)


def test_search_pairs_follow_cpython_regimes():
    assert search_pairs(100_000, 50_000, reverse=True) == 50_001 * 50_000
    assert search_pairs(29_999, 99) == (29_999 - 98) * 99  # below the two-way threshold
    assert search_pairs(1_000_000, 100) == 0  # two-way: linear, priced by scan only
    assert search_pairs(2_500, 2_000) > 0  # adaptive regime (needle over 3/4 of haystack)
    assert search_pairs(10, 1) == 0 and search_pairs(5, 9) == 0


def test_str_width_does_not_depend_on_a_cached_utf8_copy():
    # CPython caches a UTF-8 copy on a str the first time it is encoded, and sys.getsizeof
    # counts it: a width read from the size would price the same value differently on a
    # node that had encoded it before (a consensus split)
    fresh = ["\xe9" * n + "x" for n in (1, 7, 300)] + ["\u4e00" * 5, "\U0001f600" * 3]
    before = [str_width(s) for s in fresh]
    sizes = [sys.getsizeof(s) for s in fresh]
    for s in fresh:
        msgpack.packb(s)  # reads the str through CPython's cached UTF-8 form
    assert [sys.getsizeof(s) for s in fresh] != sizes  # the cache really is there now
    assert [str_width(s) for s in fresh] == before == [1, 1, 1, 2, 4]
