"""The builtins contracts see (`int`, `sorted`, `sum`...) and the fixed-point helpers: the
same behaviour as Python's where allowed, with inputs materialised and paid for first."""

from __future__ import annotations

import math
from typing import Any

from chainnode.vm.common import (
    DICT_ENTRY,
    DICT_HEAD,
    G_ITEM,
    G_LIMB2,
    G_OP,
    INT_HEAD,
    NO_DEFAULT,
    STR_HEAD,
    TUPLE_HEAD,
    check_int,
    is_int,
    limbs,
    size_error,
    type_error,
    type_name,
    value_error,
)
from chainnode.vm.gas import (
    GAS,
    MAX_COLLECTION_LEN,
    MAX_INT_BITS,
    MAX_INT_STR,
    MAX_NEEDLE_SET,
    MAX_RANGE_INT,
    MAX_STR_LEN,
)
from chainnode.vm.hostobjs import TypeProxy


class Builtins:
    """Mixin of Runtime; bound methods of it are what the builtin names resolve to."""

    # -- builtins --------------------------------------------------------------------------
    # Every builtin is a plain function or a TypeProxy, never a type object: a type can be
    # subscripted (enumerate[...] is a types.GenericAlias whose compare and hash walk their
    # arguments in C, unmetered). Iterator builtins return lists, fully paid for.

    def b_range(self, *args: Any) -> range:
        if not 1 <= len(args) <= 3 or not all(is_int(a) for a in args):
            raise type_error("range() takes 1 to 3 integers")
        for a in args:
            if not -MAX_RANGE_INT <= a <= MAX_RANGE_INT:
                raise size_error("range() bounds must be within 2**63")
        return range(*args)

    def b_enumerate(self, it: Any, start: Any = 0) -> list:
        if not is_int(start) or not -MAX_RANGE_INT <= start <= MAX_RANGE_INT:
            raise type_error("enumerate() start must be an int within 2**63")
        items = self.take(it)
        self._grow([], len(items))
        self.produce(len(items) * (TUPLE_HEAD + 16 + INT_HEAD))
        return list(enumerate(items, start))

    def b_zip(self, *its: Any) -> list:
        if len(its) > MAX_NEEDLE_SET:
            raise size_error(f"zip() accepts at most {MAX_NEEDLE_SET} iterables")
        cols = [self.take(it) for it in its]
        n = min(map(len, cols)) if cols else 0
        self._grow([], n)
        self.produce(n * (TUPLE_HEAD + 8 * len(cols)))
        return list(zip(*cols, strict=False))

    def b_reversed(self, seq: Any) -> list:
        if type(seq) not in (list, tuple, str, bytes, range):
            raise type_error(f"reversed() needs a sequence, not {type_name(seq)}")
        items = self.take(seq)
        items.reverse()
        return items

    def b_abs(self, x: Any) -> int:
        if not is_int(x):
            raise type_error("abs() is only for integers")
        return self.wide(abs(x))

    def b_hex(self, x: Any) -> str:
        if not is_int(x):
            raise type_error("hex() is only for integers")
        self.charge(G_OP + limbs(x))
        self.produce(STR_HEAD + 4 + 16 * limbs(x))
        return hex(x)

    def b_bool(self, x: Any = False) -> bool:
        return bool(x)

    def b_int(self, x: Any = 0, base: Any = None) -> int:
        if base is None:
            if is_int(x):
                return int(x)
            if type(x) is not str:
                raise type_error(f"int() cannot convert {type_name(x)}")
            if len(x) > MAX_INT_STR:
                raise size_error(f"int() of a string longer than {MAX_INT_STR}")
            self.charge(G_OP + len(x))
            return check_int(int(x))
        if type(x) is not str or not is_int(base):
            raise type_error("int(x, base) needs a str and an int base")
        limit = 2 * MAX_INT_BITS + 8 if base in (2, 4, 8, 16, 32) else MAX_INT_STR
        if len(x) > limit:
            raise size_error(f"int() of a string longer than {limit}")
        self.charge(G_OP + len(x))
        return check_int(int(x, base))

    def b_bytes(self, x: Any = b"", encoding: Any = None) -> bytes:
        t = type(x)
        if t is bytes:
            return x
        if t is str:
            if encoding not in ("utf-8", "utf8"):
                raise value_error("bytes(str, encoding) supports only 'utf-8'")
            return self.m_str_encode(x)
        if is_int(x):
            if x < 0:
                raise value_error("negative count")
            self._grow(b"", x)
            return bytes(x)
        items = self.take(x, MAX_STR_LEN)
        return bytes(items)

    def b_list(self, x: Any = ()) -> list:
        return self.take(x)

    def b_tuple(self, x: Any = ()) -> tuple:
        return tuple(self.take(x))

    def b_dict(self, x: Any = None, /, **kwargs: Any) -> dict:
        out: dict = {}
        if x is not None:
            if type(x) is dict:
                self._grow(x, len(x))
                out = dict(x)
            else:
                pairs = self.take(x)
                self.produce(DICT_HEAD + DICT_ENTRY * len(pairs))
                for pair in pairs:
                    if type(pair) not in (list, tuple) or len(pair) != 2:
                        raise value_error("dict() needs (key, value) pairs")
                    out[self.key(pair[0])] = pair[1]
        if kwargs:
            self.produce(DICT_HEAD + DICT_ENTRY * len(kwargs))
            out.update(kwargs)
        if len(out) > MAX_COLLECTION_LEN:
            raise size_error(f"dict longer than {MAX_COLLECTION_LEN}")
        return out

    def b_isinstance(self, x: Any, t: Any) -> bool:
        types = t if type(t) is tuple else (t,)
        if len(types) > MAX_NEEDLE_SET:
            raise size_error(f"isinstance() accepts at most {MAX_NEEDLE_SET} types")
        self.charge(G_OP + 2 * G_ITEM * len(types))  # a Python-level loop per type
        real = []
        for one in types:
            if type(one) is TypeProxy:
                real.append(one.real)
            else:
                raise type_error("isinstance() needs int, str, bool, list, dict, tuple or bytes")
        return isinstance(x, tuple(real))

    def b_sum(self, it: Any, start: Any = 0) -> int:
        items = self.take(it)
        if not is_int(start) or not all(is_int(v) for v in items):
            raise type_error("sum() is only for integers")
        return self.wide(sum(items, start))

    def _keys(self, items: list, key: Any) -> list:
        keys = items if key is None else [key(x) for x in items]
        self.walk(keys)
        return keys

    def _extreme(self, fn: Any, args: tuple, key: Any, default: Any) -> Any:
        items = self.take(args[0]) if len(args) == 1 else list(args)
        if not items:
            if default is NO_DEFAULT:
                raise value_error("empty sequence")
            return default
        keys = self._keys(items, key)
        self.charge(len(items) * G_ITEM)
        return items[fn(range(len(items)), key=keys.__getitem__)]

    def b_min(self, *args: Any, key: Any = None, default: Any = NO_DEFAULT) -> Any:
        if not args:
            raise type_error("min() needs arguments")
        return self._extreme(min, args, key, default)

    def b_max(self, *args: Any, key: Any = None, default: Any = NO_DEFAULT) -> Any:
        if not args:
            raise type_error("max() needs arguments")
        return self._extreme(max, args, key, default)

    def _sorted_list(self, items: list, key: Any, reverse: Any) -> list:
        n = len(items)
        before = self.left
        keys = self._keys(items, key)
        # each key takes part in about log2(n) comparisons, each as deep as the key: the walk
        # priced one visit of every key, so charge it again per level of the merge tree
        deep = max(0, before - self.left - 6 * n - 12)  # beyond one flat node per key
        levels = max(1, n.bit_length())
        self.charge(n * levels * GAS["sort_factor"] + deep * (levels - 1))
        self._grow([], n)
        order = sorted(range(n), key=keys.__getitem__, reverse=bool(reverse))
        return [items[i] for i in order]

    def b_sorted(self, it: Any, *, key: Any = None, reverse: Any = False) -> list:
        return self._sorted_list(self.take(it), key, reverse)

    def b_any(self, it: Any) -> bool:
        return any(self.take(it))

    def b_all(self, it: Any) -> bool:
        return all(self.take(it))

    def b_round(self, x: Any, ndigits: Any = None) -> int:
        if not is_int(x) or not (ndigits is None or is_int(ndigits)):
            raise type_error("round() is only for integers")
        if ndigits is None or ndigits >= 0:
            return int(x)
        if ndigits < -(MAX_INT_BITS // 3 + 8):
            return 0
        self.charge(G_OP + ((limbs(x) * limbs(x)) >> 3) * G_LIMB2)
        return self.wide(round(int(x), ndigits))

    # -- fixed-point helpers -----------------------------------------------------------------

    def div_half_up(self, a: Any, b: Any) -> int:
        if not (is_int(a) and is_int(b)):
            raise type_error("div_half_up() is only for integers")
        if b == 0:
            raise ZeroDivisionError("division by zero")
        self.charge(G_OP + ((limbs(a) * limbs(b)) >> 4) * G_LIMB2)
        q, r = divmod(abs(a), abs(b))
        if 2 * r >= abs(b):
            q += 1
        return self.wide(q if (a < 0) == (b < 0) else -q)

    def muldiv(self, a: Any, b: Any, c: Any) -> int:
        return self.div_half_up(self.mul(a, b), c)

    def isqrt(self, n: Any) -> int:
        if not is_int(n):
            raise type_error("isqrt() is only for integers")
        self.charge(G_OP + ((limbs(n) * limbs(n)) >> 3) * G_LIMB2)
        return self.wide(math.isqrt(n))

    def pow10(self, n: Any) -> int:
        if not is_int(n):
            raise type_error("pow10() is only for integers")
        if n < 0:
            raise value_error("pow10() of a negative number")
        if n > 616:
            raise size_error(f"integer result wider than {MAX_INT_BITS} bits")
        self.charge(G_OP + (n >> 4))
        return self.wide(10**n)
