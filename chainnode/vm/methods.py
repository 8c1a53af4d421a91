"""Handlers for the allowlisted (type, attribute) pairs, and the dispatch table.

Every handler pays before the native method runs: by the worst case of the algorithm CPython
uses (quadratic pairs for the searches that can be quadratic, see common.search_pairs), and
by the bytes of what it returns. Arguments whose cost cannot be priced tightly are capped
(prefix tuples, strip chars). A unit test checks that every allowlisted attribute has a
handler here and a case in scripts/vm_calibrate.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode.vm.common import (
    BYTES_HEAD,
    DICT_ENTRY,
    DICT_HEAD,
    G_ITEM,
    G_OP,
    G_PAIRS,
    G_SCAN,
    STR_HEAD,
    TUPLE_HEAD,
    is_int,
    search_pairs,
    seq_bytes,
    size_error,
    str_width,
    suffix_pairs,
    type_error,
    value_error,
    window_len,
)
from chainnode.vm.gas import (
    MAX_COLLECTION_LEN,
    MAX_INT_BITS,
    MAX_NEEDLE_SET,
    MAX_STR_LEN,
    MAX_STRIP_CHARS,
)
from chainnode.vm.hostobjs import Map, Storage

# chars str.split() and str.splitlines() break on (CPython 3.11, Unicode 14)
_WS_ASCII = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_WS_WIDE = _WS_ASCII + "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_LINE_ASCII = "\n\r\x0b\x0c\x1c\x1d\x1e"
_LINE_WIDE = _LINE_ASCII + "\x85\u2028\u2029"


def _text(s: Any) -> bool:
    return type(s) is str or type(s) is bytes


def _width(s: Any) -> int:
    return str_width(s) if type(s) is str else 1


class Methods:
    """Mixin of Runtime; handlers take the receiver as their first argument after self."""

    def _str_cost(self, s: Any, *args: Any) -> None:
        n = len(s)
        for a in args:
            if _text(a):
                n += len(a)
        self.charge(G_OP + (n >> 4) * G_SCAN)

    def _new_str(self, like: Any, n: int, width: int = 1) -> None:
        """A str/bytes result of at most n chars is about to be made."""
        if n > MAX_STR_LEN:
            raise size_error(f"{'str' if type(like) is str else 'bytes'} longer than {MAX_STR_LEN}")
        self.produce(seq_bytes(like, n, width))

    # -- searching ---------------------------------------------------------------------------

    def _needle(self, s: Any, sub: Any) -> int:
        if type(sub) is not type(s):
            raise type_error(f"expected a {'str' if type(s) is str else 'bytes'} argument")
        return len(sub)

    @staticmethod
    def m_find(name: str, reverse: bool) -> Callable[..., Any]:
        def find(rt: Any, s: Any, sub: Any, *bounds: Any) -> Any:
            if len(bounds) > 2 or not all(b is None or is_int(b) for b in bounds):
                raise type_error(f"{name}() takes a needle and up to two int bounds")
            m = rt._needle(s, sub)
            # CPython picks its algorithm by the window's length, not the haystack's: a
            # window under the two-way thresholds is scanned quadratically
            pairs = search_pairs(window_len(len(s), bounds), m, reverse) if bounds else None
            rt.search(len(s), m, reverse, pairs)
            return getattr(s, name)(sub, *bounds)

        return find

    @staticmethod
    def m_affix(name: str) -> Callable[..., Any]:
        """startswith/endswith: a needle or a tuple of at most MAX_NEEDLE_SET needles."""

        def affix(rt: Any, s: Any, prefix: Any, *bounds: Any) -> bool:
            if len(bounds) > 2 or not all(b is None or is_int(b) for b in bounds):
                raise type_error(f"{name}() takes a prefix and up to two int bounds")
            subs = prefix if type(prefix) is tuple else (prefix,)
            if len(subs) > MAX_NEEDLE_SET:
                raise size_error(f"{name}() accepts at most {MAX_NEEDLE_SET} prefixes")
            total = 0
            for p in subs:
                total += min(rt._needle(s, p), len(s))
            rt.charge(G_OP + 2 * G_ITEM * len(subs) + (total >> 4) * G_SCAN)
            return getattr(s, name)(prefix, *bounds)

        return affix

    def m_partition(self, s: str, sep: Any) -> tuple:
        self.search(len(s), self._needle(s, sep))
        if not sep:
            raise value_error("empty separator")
        self.produce(TUPLE_HEAD + 24 + 3 * STR_HEAD + len(s) * str_width(s))
        return s.partition(sep)

    def m_rpartition(self, s: str, sep: Any) -> tuple:
        self.search(len(s), self._needle(s, sep), True)
        if not sep:
            raise value_error("empty separator")
        self.produce(TUPLE_HEAD + 24 + 3 * STR_HEAD + len(s) * str_width(s))
        return s.rpartition(sep)

    def m_replace(self, s: Any, old: Any, new: Any, count: Any = -1) -> Any:
        if type(old) is not type(s) or type(new) is not type(s) or not is_int(count):
            raise type_error("replace() arguments must match the string type")
        self.search(len(s), len(old))  # count, then replace over shrinking suffixes
        self.search(len(s), len(old), pairs=suffix_pairs(len(s), len(old)))
        n = len(s) + 1 if not old else s.count(old)
        if count >= 0:
            n = min(n, count)
        result = len(s) + n * (len(new) - len(old))
        if result > MAX_STR_LEN:
            raise size_error(f"str longer than {MAX_STR_LEN}")
        self.charge(n * G_ITEM)
        self._new_str(s, result, max(_width(s), _width(new)))
        return s.replace(old, new, count)

    @staticmethod
    def m_strip(name: str) -> Callable[..., Any]:
        def strip(rt: Any, s: str, chars: Any = None) -> str:
            n = len(s)
            if chars is None:
                rt.charge(G_OP + (n >> 4) * G_SCAN)
            elif type(chars) is not str:
                raise type_error(f"{name}() chars must be a str or None")
            elif len(chars) > MAX_STRIP_CHARS:
                raise size_error(f"{name}() accepts at most {MAX_STRIP_CHARS} chars")
            else:
                # every stripped char is looked up in `chars`
                rt.charge(G_OP + (n >> 4) * G_SCAN + ((n * len(chars)) >> 7) * G_PAIRS)
            rt._new_str(s, n, str_width(s))
            return getattr(s, name)(chars)

        return strip

    @staticmethod
    def m_affix_remove(name: str) -> Callable[..., Any]:
        def remove(rt: Any, s: str, affix: Any) -> str:
            m = rt._needle(s, affix)
            rt.charge(G_OP + (m >> 4) * G_SCAN)
            rt._new_str(s, len(s), str_width(s))
            return getattr(s, name)(affix)

        return remove

    # -- splitting (pieces are counted and paid for before the list is built) -------------------

    def _pieces(self, s: str, seps: str) -> int:
        """An upper bound of the pieces a split on any of `seps` can return, in C-speed scans."""
        self.charge(G_OP + ((len(s) * len(seps)) >> 6) * G_SCAN)
        return 1 + sum(map(s.count, seps))

    def _split_cost(self, s: str, pieces: int) -> None:
        if pieces > MAX_COLLECTION_LEN:
            raise size_error(f"list longer than {MAX_COLLECTION_LEN}")
        self.charge(G_OP + pieces * G_ITEM)
        self.produce(seq_bytes([], pieces) + pieces * STR_HEAD + len(s) * str_width(s))

    @staticmethod
    def m_split(name: str) -> Callable[..., Any]:
        reverse = name == "rsplit"

        def split(rt: Any, s: str, sep: Any = None, maxsplit: Any = -1) -> list:
            if not is_int(maxsplit):
                raise type_error(f"{name}() maxsplit must be an int")
            if sep is None:
                pieces = rt._pieces(s, _WS_ASCII if s.isascii() else _WS_WIDE)
                pieces = min(pieces, len(s) // 2 + 1)
            else:
                m = rt._needle(s, sep)
                if m == 0:
                    raise value_error("empty separator")
                # split searches shrinking suffixes: the last ones are below the thresholds
                rt.search(len(s), m, reverse, None if reverse else suffix_pairs(len(s), m))
                rt.search(len(s), m)  # the count below
                pieces = s.count(sep) + 1
            if maxsplit >= 0:
                pieces = min(pieces, maxsplit + 1)
            rt._split_cost(s, pieces)
            return getattr(s, name)(sep, maxsplit)

        return split

    def m_splitlines(self, s: str, keepends: Any = False) -> list:
        pieces = self._pieces(s, _LINE_ASCII if s.isascii() else _LINE_WIDE)
        self._split_cost(s, pieces)
        return s.splitlines(bool(keepends))

    # -- making strings --------------------------------------------------------------------

    def m_str_encode(self, s: str, encoding: Any = "utf-8") -> bytes:
        if encoding not in ("utf-8", "utf8"):
            raise value_error("only utf-8 is supported")
        w = str_width(s)
        self._str_cost(s)
        bound = len(s) * (1 if s.isascii() else 2 if w == 1 else w if w == 4 else 3)
        self.produce(BYTES_HEAD + bound)
        raw = s.encode("utf-8")
        if len(raw) > MAX_STR_LEN:
            raise size_error(f"bytes longer than {MAX_STR_LEN}")
        return raw

    @staticmethod
    def m_pad(name: str) -> Callable[..., Any]:
        def pad(rt: Any, s: Any, width: Any, *args: Any) -> Any:
            if not is_int(width):
                raise type_error(f"{name}() width must be an int")
            w = _width(s)
            for a in args:
                if type(a) is not str or len(a) != 1:
                    raise type_error(f"{name}() fill must be one char")
                w = max(w, str_width(a))
            rt.charge(G_OP)
            rt._new_str(s, max(len(s), width), w)
            return getattr(s, name)(width, *args)

        return pad

    def m_join(self, sep: Any, it: Any) -> Any:
        items = self.take(it)
        self.charge(len(items) * G_ITEM)
        total = len(sep) * max(0, len(items) - 1)
        ts = type(sep)
        width = _width(sep)
        for x in items:
            if type(x) is not ts:
                raise type_error("join() items must be of the separator's type")
            total += len(x)
            if ts is str and width < 4 and not x.isascii():
                width = max(width, str_width(x))
        self.charge(G_OP)
        self._new_str(sep, total, width)
        return sep.join(items)

    @staticmethod
    def m_grow3(name: str) -> Callable[..., Any]:
        """Case mapping keeps ASCII as it is but can expand any other char to up to three
        chars of any width (e.g. 'ﬃ'.upper() == 'FFI')."""

        def grow(rt: Any, s: Any) -> Any:
            rt.charge(G_OP + (len(s) >> 4) * G_SCAN)
            if s.isascii():
                rt._new_str(s, len(s))
            else:
                rt._new_str(s, 3 * len(s), 4)
            return getattr(s, name)()

        return grow

    @staticmethod
    def m_scan(name: str) -> Callable[..., Any]:
        """isdigit, isalpha...: one pass, a bool out."""

        def scan(rt: Any, s: Any) -> bool:
            rt.charge(G_OP + (len(s) >> 4) * G_SCAN)
            return getattr(s, name)()

        return scan

    def m_hex(self, b: bytes) -> str:
        self._new_str("", 2 * len(b))
        return b.hex()

    def m_decode(self, b: bytes, encoding: Any = "utf-8") -> str:
        if encoding not in ("utf-8", "utf8"):
            raise value_error("only utf-8 is supported")
        self._str_cost(b)
        self._new_str("", len(b), 1 if b.isascii() else 4)
        return b.decode("utf-8")

    def m_to_bytes(self, x: int, length: Any = 1, byteorder: Any = "big", *,
                   signed: Any = False) -> bytes:
        if not is_int(length) or not 0 <= length <= MAX_INT_BITS // 8 + 8:
            raise size_error("to_bytes() length out of range")
        if byteorder not in ("big", "little"):
            raise value_error("byteorder must be 'big' or 'little'")
        self.produce(BYTES_HEAD + length)
        return x.to_bytes(length, byteorder, signed=bool(signed))

    # -- lists, tuples, dicts ----------------------------------------------------------------

    @staticmethod
    def m_walk_then(name: str) -> Callable[..., Any]:
        """Methods that compare elements (index, count, remove): pay for a deep visit."""

        def method(rt: Any, obj: Any, *args: Any) -> Any:
            if len(args) > 3 or not all(is_int(a) for a in args[1:]):
                raise type_error(f"{name}() takes a value and up to two int bounds")
            rt.walk(obj)
            for a in args:
                rt.walk(a)
            return getattr(obj, name)(*args)

        return method

    def m_list_append(self, lst: list, x: Any) -> None:
        if len(lst) >= MAX_COLLECTION_LEN:
            raise size_error(f"list longer than {MAX_COLLECTION_LEN}")
        lst.append(x)

    def m_list_insert(self, lst: list, i: Any, x: Any) -> None:
        if len(lst) >= MAX_COLLECTION_LEN:
            raise size_error(f"list longer than {MAX_COLLECTION_LEN}")
        if not is_int(i):
            raise type_error("insert() index must be an int")
        self.charge(G_OP + (len(lst) >> 4))
        lst.insert(i, x)

    def m_list_extend(self, lst: list, it: Any) -> None:
        self.iadd(lst, it)

    def m_list_pop(self, lst: list, *args: Any) -> Any:
        if len(args) > 1 or not all(is_int(a) for a in args):
            raise type_error("pop() takes at most one int index")
        self.charge(G_OP + (len(lst) >> 4))
        return lst.pop(*args)

    def m_list_sort(self, lst: list, *, key: Any = None, reverse: Any = False) -> None:
        lst[:] = self._sorted_list(list(lst), key, reverse)

    def m_list_copy(self, lst: list) -> list:
        self._grow(lst, len(lst))
        return lst.copy()

    def m_list_reverse(self, lst: list) -> None:
        self.charge(G_OP + (len(lst) >> 4))
        lst.reverse()

    def m_clear(self, obj: Any) -> None:
        self.charge(G_OP + len(obj) * G_ITEM)
        obj.clear()

    def m_dict_copy(self, d: dict) -> dict:
        self._grow(d, len(d))
        return d.copy()

    def m_dict_get(self, d: dict, key: Any, default: Any = None, /) -> Any:
        return d.get(self.key(key), default)

    def m_dict_pop(self, d: dict, key: Any, /, *default: Any) -> Any:
        if len(default) > 1:
            raise type_error("pop() takes a key and at most one default")
        return d.pop(self.key(key), *default)

    def m_dict_setdefault(self, d: dict, key: Any, default: Any = None, /) -> Any:
        if len(d) >= MAX_COLLECTION_LEN:
            raise size_error(f"dict longer than {MAX_COLLECTION_LEN}")
        k = self.key(key)
        if k not in d:
            self.produce(DICT_ENTRY)
        return d.setdefault(k, default)

    def m_dict_update(self, d: dict, other: Any = None, /, **kwargs: Any) -> None:
        new = self.b_dict(other, **kwargs)
        if len(d) + len(new) > MAX_COLLECTION_LEN:
            raise size_error(f"dict longer than {MAX_COLLECTION_LEN}")
        self.produce(DICT_HEAD + DICT_ENTRY * len(new))
        d.update(new)

    def m_dict_keys(self, d: dict) -> list:
        self._grow([], len(d))
        return list(d)

    def m_dict_values(self, d: dict) -> list:
        self._grow([], len(d))
        return list(d.values())

    def m_dict_items(self, d: dict) -> list:
        self._grow([], len(d))
        self.produce(len(d) * (TUPLE_HEAD + 16))
        return list(d.items())

    # -- storage -----------------------------------------------------------------------------

    def m_storage_get(self, s: Storage, key: Any, default: Any = None) -> Any:
        return self.storage_get(s.frame, key, default)

    def m_storage_set(self, s: Storage, key: Any, value: Any) -> None:
        self.storage_set(s.frame, key, value)

    def m_storage_delete(self, s: Storage, key: Any) -> None:
        self.storage_delete(s.frame, key)

    def m_storage_has(self, s: Storage, key: Any) -> bool:
        return self.storage_has(s.frame, key)

    def m_map_get(self, m: Map, key: Any, default: Any = None) -> Any:
        return self.storage_get(m.frame, m.full_key(self.key(key)), default)

    def m_map_has(self, m: Map, key: Any) -> bool:
        return self.storage_has(m.frame, m.full_key(self.key(key)))

    def m_map_delete(self, m: Map, key: Any) -> None:
        self.storage_delete(m.frame, m.full_key(self.key(key)))


def _build_methods() -> dict[tuple[type, str], Callable[..., Any]]:
    R = Methods
    m: dict[tuple[type, str], Callable[..., Any]] = {}
    for name, reverse in (("find", False), ("index", False), ("count", False),
                          ("rfind", True), ("rindex", True)):
        m[(str, name)] = R.m_find(name, reverse)
        if not reverse:
            m[(bytes, name)] = R.m_find(name, reverse)
    for t in (str, bytes):
        for name in ("startswith", "endswith"):
            m[(t, name)] = R.m_affix(name)
        m[(t, "isascii")] = R.m_scan("isascii")
    for name in ("strip", "lstrip", "rstrip"):
        m[(str, name)] = R.m_strip(name)
    for name in ("removeprefix", "removesuffix"):
        m[(str, name)] = R.m_affix_remove(name)
    for name in ("isdigit", "isdecimal", "isalpha", "isalnum", "isspace", "islower", "isupper"):
        m[(str, name)] = R.m_scan(name)
    for name in ("lower", "upper", "capitalize", "title"):
        m[(str, name)] = R.m_grow3(name)
    for name in ("split", "rsplit"):
        m[(str, name)] = R.m_split(name)
    m[(str, "splitlines")] = R.m_splitlines
    m[(str, "partition")] = R.m_partition
    m[(str, "rpartition")] = R.m_rpartition
    for name in ("ljust", "rjust", "center", "zfill"):
        m[(str, name)] = R.m_pad(name)
    m[(str, "replace")] = R.m_replace
    m[(str, "join")] = R.m_join
    m[(str, "encode")] = R.m_str_encode
    m[(bytes, "hex")] = R.m_hex
    m[(bytes, "decode")] = R.m_decode
    m[(int, "bit_length")] = lambda rt, x: x.bit_length()
    m[(int, "to_bytes")] = R.m_to_bytes
    m[(list, "append")] = R.m_list_append
    m[(list, "extend")] = R.m_list_extend
    m[(list, "insert")] = R.m_list_insert
    m[(list, "pop")] = R.m_list_pop
    for name in ("remove", "index", "count"):
        m[(list, name)] = R.m_walk_then(name)
        if name != "remove":
            m[(tuple, name)] = R.m_walk_then(name)
    m[(list, "reverse")] = R.m_list_reverse
    m[(list, "copy")] = R.m_list_copy
    m[(list, "clear")] = R.m_clear
    m[(list, "sort")] = R.m_list_sort
    m[(dict, "get")] = R.m_dict_get
    m[(dict, "keys")] = R.m_dict_keys
    m[(dict, "values")] = R.m_dict_values
    m[(dict, "items")] = R.m_dict_items
    m[(dict, "pop")] = R.m_dict_pop
    m[(dict, "setdefault")] = R.m_dict_setdefault
    m[(dict, "update")] = R.m_dict_update
    m[(dict, "copy")] = R.m_dict_copy
    m[(dict, "clear")] = R.m_clear
    m[(Storage, "get")] = R.m_storage_get
    m[(Storage, "set")] = R.m_storage_set
    m[(Storage, "delete")] = R.m_storage_delete
    m[(Storage, "has")] = R.m_storage_has
    m[(Map, "get")] = R.m_map_get
    m[(Map, "has")] = R.m_map_has
    m[(Map, "delete")] = R.m_map_delete
    return m


METHODS = _build_methods()
