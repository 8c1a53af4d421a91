"""Handlers for the allowlisted (type, attribute) pairs, and the dispatch table.

A method that can grow its output checks the result size first; one that scans or compares
pays per byte or per visited node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode.vm.common import G_ITEM, G_OP, G_SCAN, is_int, size_error, type_error, value_error
from chainnode.vm.gas import MAX_COLLECTION_LEN, MAX_INT_BITS, MAX_STR_LEN
from chainnode.vm.hostobjs import Map, Storage


class Methods:
    """Mixin of Runtime; handlers take the receiver as their first argument after self."""

    def _str_cost(self, s: Any, *args: Any) -> None:
        n = len(s)
        for a in args:
            if type(a) is str or type(a) is bytes:
                n += len(a)
        self.charge(G_OP + (n >> 4) * G_SCAN)

    def m_str_encode(self, s: str, encoding: Any = "utf-8") -> bytes:
        if encoding not in ("utf-8", "utf8"):
            raise value_error("only utf-8 is supported")
        self._str_cost(s)
        raw = s.encode("utf-8")
        if len(raw) > MAX_STR_LEN:
            raise size_error(f"bytes longer than {MAX_STR_LEN}")
        return raw

    def m_replace(self, s: Any, old: Any, new: Any, count: Any = -1) -> Any:
        if type(old) is not type(s) or type(new) is not type(s) or not is_int(count):
            raise type_error("replace() arguments must match the string type")
        self._str_cost(s, old)
        n = len(s) + 1 if not old else s.count(old)
        if count >= 0:
            n = min(n, count)
        result = len(s) + n * (len(new) - len(old))
        self._grow(s, result)
        self.charge(n * G_ITEM)
        return s.replace(old, new, count)

    @staticmethod
    def m_pad(name: str) -> Callable[..., Any]:
        def pad(rt: Any, s: Any, width: Any, *args: Any) -> Any:
            if not is_int(width):
                raise type_error(f"{name}() width must be an int")
            rt._grow(s, max(len(s), width))
            return getattr(s, name)(width, *args)

        return pad

    def m_join(self, sep: Any, it: Any) -> Any:
        items = self.take(it)
        self.charge(len(items) * G_ITEM)
        total = len(sep) * max(0, len(items) - 1)
        for x in items:
            if type(x) is not type(sep):
                raise type_error("join() items must be of the separator's type")
            total += len(x)
        self._grow(sep, total)
        return sep.join(items)

    @staticmethod
    def m_split(name: str) -> Callable[..., Any]:
        def split(rt: Any, s: Any, *args: Any, **kwargs: Any) -> list:
            rt._str_cost(s, *args)
            out = getattr(s, name)(*args, **kwargs)
            rt._grow(out, len(out))
            return out

        return split

    @staticmethod
    def m_grow3(name: str) -> Callable[..., Any]:
        """Case mapping can expand a char to up to three (e.g. 'ﬃ'.upper() == 'FFI')."""

        def grow(rt: Any, s: Any) -> Any:
            rt._grow(s, 3 * len(s))
            return getattr(s, name)()

        return grow

    def m_hex(self, b: bytes) -> str:
        self._grow("", 2 * len(b))
        return b.hex()

    def m_decode(self, b: bytes, encoding: Any = "utf-8") -> str:
        if encoding not in ("utf-8", "utf8"):
            raise value_error("only utf-8 is supported")
        self._str_cost(b)
        return b.decode("utf-8")

    def m_to_bytes(self, x: int, length: Any = 1, byteorder: Any = "big", *,
                   signed: Any = False) -> bytes:
        if not is_int(length) or not 0 <= length <= MAX_INT_BITS // 8 + 8:
            raise size_error("to_bytes() length out of range")
        if byteorder not in ("big", "little"):
            raise value_error("byteorder must be 'big' or 'little'")
        return x.to_bytes(length, byteorder, signed=bool(signed))

    @staticmethod
    def m_walk_then(name: str) -> Callable[..., Any]:
        """Methods that compare elements (index, count, remove): pay for a deep visit."""

        def method(rt: Any, obj: Any, *args: Any) -> Any:
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
        self.charge(G_OP + (len(lst) >> 4))
        lst.insert(i, x)

    def m_list_extend(self, lst: list, it: Any) -> None:
        self.iadd(lst, it)

    def m_list_pop(self, lst: list, *args: Any) -> Any:
        self.charge(G_OP + (len(lst) >> 4))
        return lst.pop(*args)

    def m_list_sort(self, lst: list, *, key: Any = None, reverse: Any = False) -> None:
        lst[:] = self._sorted_list(list(lst), key, reverse)

    def m_dict_get(self, d: dict, key: Any, default: Any = None, /) -> Any:
        return d.get(self.key(key), default)

    def m_dict_pop(self, d: dict, key: Any, /, *default: Any) -> Any:
        return d.pop(self.key(key), *default)

    def m_dict_setdefault(self, d: dict, key: Any, default: Any = None, /) -> Any:
        if len(d) >= MAX_COLLECTION_LEN:
            raise size_error(f"dict longer than {MAX_COLLECTION_LEN}")
        return d.setdefault(self.key(key), default)

    def m_dict_update(self, d: dict, other: Any = None, /, **kwargs: Any) -> None:
        d.update(self.b_dict(other, **kwargs))
        if len(d) > MAX_COLLECTION_LEN:
            raise size_error(f"dict longer than {MAX_COLLECTION_LEN}")

    def m_dict_keys(self, d: dict) -> list:
        self.charge(G_OP + len(d) * G_ITEM)
        return list(d)

    def m_dict_values(self, d: dict) -> list:
        self.charge(G_OP + len(d) * G_ITEM)
        return list(d.values())

    def m_dict_items(self, d: dict) -> list:
        self.charge(G_OP + 2 * len(d) * G_ITEM)
        return list(d.items())

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


def _native(name: str, cost_items: bool = False) -> Callable[..., Any]:
    def method(rt: Any, obj: Any, *args: Any) -> Any:
        if cost_items:
            rt.charge(G_OP + len(obj) * G_ITEM)
        else:
            rt._str_cost(obj, *args)
        return getattr(obj, name)(*args)

    return method


def _build_methods() -> dict[tuple[type, str], Callable[..., Any]]:
    R = Methods
    m: dict[tuple[type, str], Callable[..., Any]] = {}
    for name in ("strip", "lstrip", "rstrip", "startswith", "endswith", "find", "rfind",
                 "index", "rindex", "count", "partition", "rpartition", "removeprefix",
                 "removesuffix", "isdigit", "isdecimal", "isalpha", "isalnum", "isspace",
                 "islower", "isupper", "isascii"):
        m[(str, name)] = _native(name)
    for name in ("lower", "upper", "capitalize", "title"):
        m[(str, name)] = R.m_grow3(name)
    for name in ("split", "rsplit", "splitlines"):
        m[(str, name)] = R.m_split(name)
    for name in ("ljust", "rjust", "center", "zfill"):
        m[(str, name)] = R.m_pad(name)
    m[(str, "replace")] = R.m_replace
    m[(str, "join")] = R.m_join
    m[(str, "encode")] = R.m_str_encode
    for name in ("startswith", "endswith", "find", "count", "index", "isascii"):
        m[(bytes, name)] = _native(name)
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
    for name in ("reverse", "copy", "clear"):
        m[(list, name)] = _native(name, cost_items=True)
    m[(list, "sort")] = R.m_list_sort
    m[(dict, "get")] = R.m_dict_get
    m[(dict, "keys")] = R.m_dict_keys
    m[(dict, "values")] = R.m_dict_values
    m[(dict, "items")] = R.m_dict_items
    m[(dict, "pop")] = R.m_dict_pop
    m[(dict, "setdefault")] = R.m_dict_setdefault
    m[(dict, "update")] = R.m_dict_update
    for name in ("copy", "clear"):
        m[(dict, name)] = _native(name, cost_items=True)
    m[(Storage, "get")] = R.m_storage_get
    m[(Storage, "set")] = R.m_storage_set
    m[(Storage, "delete")] = R.m_storage_delete
    m[(Storage, "has")] = R.m_storage_has
    m[(Map, "get")] = R.m_map_get
    m[(Map, "has")] = R.m_map_has
    m[(Map, "delete")] = R.m_map_delete
    return m


METHODS = _build_methods()
