"""The builtins contracts see (`int`, `sorted`, `sum`...) and the fixed-point helpers: the
same behaviour as Python's where allowed, with inputs materialised and paid for first."""

from __future__ import annotations

import math
from typing import Any

from chainnode.vm.common import (
    G_ITEM,
    G_LIMB2,
    G_OP,
    NO_DEFAULT,
    check_int,
    is_int,
    limbs,
    size_error,
    type_error,
    type_name,
    value_error,
)
from chainnode.vm.gas import GAS, MAX_COLLECTION_LEN, MAX_INT_BITS, MAX_INT_STR, MAX_STR_LEN
from chainnode.vm.hostobjs import TypeProxy


class Builtins:
    """Mixin of Runtime; bound methods of it are what the builtin names resolve to."""

    # -- builtins --------------------------------------------------------------------------

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
                for pair in self.take(x):
                    if type(pair) not in (list, tuple) or len(pair) != 2:
                        raise value_error("dict() needs (key, value) pairs")
                    out[self.key(pair[0])] = pair[1]
        if kwargs:
            out.update(kwargs)
        if len(out) > MAX_COLLECTION_LEN:
            raise size_error(f"dict longer than {MAX_COLLECTION_LEN}")
        return out

    def b_isinstance(self, x: Any, t: Any) -> bool:
        types = t if type(t) is tuple else (t,)
        real = []
        for one in types:
            if type(one) is TypeProxy:
                real.append(one.real)
            elif one is bool or one is range:
                real.append(one)
            else:
                raise type_error("isinstance() needs int, str, bool, list, dict, tuple or bytes")
        return isinstance(x, tuple(real))

    def b_sum(self, it: Any, start: Any = 0) -> int:
        items = self.take(it)
        if not is_int(start) or not all(is_int(v) for v in items):
            raise type_error("sum() is only for integers")
        return check_int(sum(items, start))

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
        keys = self._keys(items, key)
        n = len(items)
        self.charge(n * max(1, n.bit_length()) * GAS["sort_factor"])
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
        return round(int(x), ndigits)

    # -- fixed-point helpers -----------------------------------------------------------------

    def div_half_up(self, a: Any, b: Any) -> int:
        if not (is_int(a) and is_int(b)):
            raise type_error("div_half_up() is only for integers")
        if b == 0:
            raise ZeroDivisionError("division by zero")
        q, r = divmod(abs(a), abs(b))
        if 2 * r >= abs(b):
            q += 1
        return q if (a < 0) == (b < 0) else -q

    def muldiv(self, a: Any, b: Any, c: Any) -> int:
        return self.div_half_up(self.mul(a, b), c)

    def isqrt(self, n: Any) -> int:
        if not is_int(n):
            raise type_error("isqrt() is only for integers")
        self.charge(G_OP + ((limbs(n) * limbs(n)) >> 3) * G_LIMB2)
        return math.isqrt(n)

    def pow10(self, n: Any) -> int:
        if not is_int(n):
            raise type_error("pow10() is only for integers")
        if n < 0:
            raise value_error("pow10() of a negative number")
        if n > 616:
            raise size_error(f"integer result wider than {MAX_INT_BITS} bits")
        return 10**n
