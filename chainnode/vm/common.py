"""Constants and small helpers shared by the runtime mixins."""

from __future__ import annotations

import re
from typing import Any

from chainnode.vm.errors import VMError
from chainnode.vm.gas import GAS, MAX_COLLECTION_LEN, MAX_INT_BITS, MAX_STR_LEN
from chainnode.vm.hostobjs import Ctx, Map, Storage, TypeProxy

INT_LIMIT = 1 << MAX_INT_BITS
HASH_INJECTIVE = (1 << 61) - 1  # |k| below this: int hashes are distinct (but -1/-2)
MAX_HASH_TWINS = 8
CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,47}\Z")
EVENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
G_NODE = GAS["node"]
G_ITEM = GAS["item"]
G_CHUNK = GAS["chunk"]
G_OP = GAS["op"]
G_SCAN = GAS["scan"]
G_LIMB2 = GAS["limb2"]
G_WALK_NODE = GAS["walk_node"]
G_CODEC_NODE = GAS["codec_node"]
G_MEM = GAS["mem"]
G_PAIRS = GAS["pairs"]
NO_DEFAULT = object()
SEQ_TYPES = (str, bytes, list, tuple)
HASHABLE_LEAVES = (int, str, bytes, bool, type(None))
TYPE_NAMES = {
    int: "int", bool: "bool", str: "str", bytes: "bytes", list: "list", tuple: "tuple",
    dict: "dict", type(None): "None", range: "range", Ctx: "ctx", Storage: "storage",
    Map: "Map", TypeProxy: "type",
}  # fmt: skip


def type_name(x: Any) -> str:
    return TYPE_NAMES.get(type(x), "function" if callable(x) else "object")


def size_error(message: str) -> VMError:
    return VMError("VM_SIZE_LIMIT", message)


def type_error(message: str) -> VMError:
    return VMError("VM_TYPE_ERROR", message)


def value_error(message: str) -> VMError:
    return VMError("VM_VALUE_ERROR", message)


def check_int(r: int) -> int:
    if -INT_LIMIT < r < INT_LIMIT:
        return r
    raise size_error(f"integer result wider than {MAX_INT_BITS} bits")


def is_int(x: Any) -> bool:
    t = type(x)
    return t is int or t is bool


def limbs(x: int) -> int:
    return (x.bit_length() >> 6) + 1


def seq_cap(x: Any) -> int:
    return MAX_STR_LEN if type(x) in (str, bytes) else MAX_COLLECTION_LEN


# -- deterministic size estimates (upper bounds of CPython 3.11 on 64-bit) ----------------------
# Functions of lengths and widths only, never of allocator state, so every node charges the
# same gas for the same data.

SMALL_INT = 1 << 62
INT_HEAD = 32
STR_HEAD = 80
BYTES_HEAD = 40
LIST_HEAD = 72
TUPLE_HEAD = 56
DICT_HEAD = 232  # the smallest table with one entry
DICT_ENTRY = 56
SLOT = 9  # one list slot with over-allocation


def _kind_reader():
    """An O(1) reader of a str's `kind` (1, 2 or 4 bytes per char), or None.

    sys.getsizeof is NOT usable: it includes the UTF-8 copy CPython caches on a str the first
    time anything encodes it, so the same value would price differently depending on the
    process's history (a shared one-char string, say) — a consensus split. The kind lives in
    the PyASCIIObject state bitfield (bits 2-4 after refcount, type, length and hash); it is
    checked against known strings at import, and a mismatch falls back to an O(n) scan.
    """
    import ctypes

    offset = 4 * ctypes.sizeof(ctypes.c_ssize_t)

    def kind(s: str) -> int:
        return (ctypes.c_uint32.from_address(id(s) + offset).value >> 2) & 7

    probes = {"a": 1, "\xe9": 1, "\xe9" * 3: 1, "\u4e00": 2, "a\u4e00": 2, "\U0001f600": 4,
              "\U0001f600b": 4}
    for text, want in probes.items():
        text.encode("utf-8")  # a cached UTF-8 copy must not change the answer
        if kind(text) != want:
            return None
    return kind


_KIND = _kind_reader()


def str_width(s: str) -> int:
    """Bytes per char of CPython's compact representation (1, 2 or 4): a function of the
    value only, never of what the process did with it before."""
    if s.isascii():
        return 1
    if _KIND is not None:
        return _KIND(s)
    top = ord(max(s))
    return 1 if top < 0x100 else 2 if top < 0x10000 else 4


def seq_bytes(like: Any, n: int, width: int = 1) -> int:
    """Bytes of a new str/bytes/list/tuple of n items shaped like `like`."""
    t = type(like)
    if t is str:
        return STR_HEAD + n * width
    if t is bytes:
        return BYTES_HEAD + n
    if t is tuple:
        return TUPLE_HEAD + 8 * n
    if t is dict:
        return DICT_HEAD + DICT_ENTRY * n
    return LIST_HEAD + SLOT * n


def int_bytes(x: int) -> int:
    return INT_HEAD + 4 * (x.bit_length() // 30)


def shallow_bytes(x: Any) -> int:
    t = type(x)
    if t is str:
        return STR_HEAD + len(x) * str_width(x)
    if t is int:
        return int_bytes(x)
    if t in (bytes, list, tuple, dict):
        return seq_bytes(x, len(x))
    return 64


# -- search pricing ------------------------------------------------------------------------
# CPython's fastsearch (3.11) uses the linear two-way algorithm only when n >= 2500,
# (m >= 100 or n >= 30000), m >= 6 and the needle is under ~3/4 of the haystack; otherwise a
# bad-character scan (or its adaptive variant) that is O(n*m) in the worst case. Reverse
# searches (rfind, rindex, rpartition, rsplit) always use the quadratic scan. Price the pairs
# the algorithm may compare.


def two_way(n: int, m: int) -> bool:
    return n >= 2500 and (m >= 100 or n >= 30000) and m >= 6 and (m >> 2) * 3 < (n >> 2)


def search_pairs(n: int, m: int, reverse: bool = False) -> int:
    if m <= 1 or m > n:
        return 0
    if reverse or not two_way(n, m):
        return (n - m + 1) * m
    return 0


def quadratic_window(n: int, m: int) -> int:
    """The longest window of at most n chars that CPython searches for an m-char needle with
    its quadratic scan (n itself when the whole haystack is in that regime)."""
    if not two_way(n, m):
        return n
    return min(n, max(2499, 29999 if m < 100 else 0, 12 * (m >> 2) + 3))


def suffix_pairs(n: int, m: int) -> int:
    """Pairs of a search repeated over shrinking suffixes (split, replace): the tail that
    falls below CPython's two-way thresholds is scanned quadratically, whatever n is."""
    return search_pairs(quadratic_window(n, m), m)


def window_len(n: int, bounds: tuple) -> int:
    """Chars a find/count/index with (start[, end]) bounds actually searches."""
    start = bounds[0] if bounds else None
    end = bounds[1] if len(bounds) > 1 else None
    return len(range(*slice(start, end).indices(n)))


# msgpack first bytes of arrays and maps: decoding them makes one object per (small) byte
CONTAINER_TAGS = frozenset([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])
