"""Per-execution runtime: the gas meter, the guards the rewriter calls, and the host API.

One Runtime serves one `execute()` (a transaction's call, including its cross-contract calls)
and is dropped afterwards, so nothing mutable outlives a transaction. Guards check sizes
*before* doing work whose cost depends on data and charge gas proportional to that work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from chainnode import codec
from chainnode.crypto.hashing import sm3 as _sm3
from chainnode.vm.api import CallContext, CompiledContract, Event, Host
from chainnode.vm.errors import HostFailure, OutOfGas, VMError
from chainnode.vm.gas import (
    GAS,
    MAX_CALL_DEPTH,
    MAX_COLLECTION_LEN,
    MAX_CROSS_DEPTH,
    MAX_EVENT_BYTES,
    MAX_EVENTS,
    MAX_INT_BITS,
    MAX_INT_STR,
    MAX_IO_BYTES,
    MAX_KEY_BYTES,
    MAX_KEY_PARTS,
    MAX_MESSAGE_LEN,
    MAX_NAME_LEN,
    MAX_STR_LEN,
    MAX_VALUE_BYTES,
    MAX_VALUE_DEPTH,
    MAX_WALK_DEPTH,
)
from chainnode.vm.hostobjs import CTX_FIELDS, Ctx, Map, Storage, TypeProxy

INT_LIMIT = 1 << MAX_INT_BITS
_HASH_INJECTIVE = (1 << 61) - 1  # |k| below this: int hashes are distinct (but -1/-2)
MAX_HASH_TWINS = 8
CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,47}\Z")
EVENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")
_G_NODE = GAS["node"]
_G_ITEM = GAS["item"]
_G_CHUNK = GAS["chunk"]
_G_OP = GAS["op"]
_G_SCAN = GAS["scan"]
_G_LIMB2 = GAS["limb2"]
_G_WALK_NODE = GAS["walk_node"]
_G_CODEC_NODE = GAS["codec_node"]
_NO_DEFAULT = object()
_SEQ = (str, bytes, list, tuple)
_HASHABLE_LEAVES = (int, str, bytes, bool, type(None))
_TYPE_NAMES = {
    int: "int", bool: "bool", str: "str", bytes: "bytes", list: "list", tuple: "tuple",
    dict: "dict", type(None): "None", range: "range", Ctx: "ctx", Storage: "storage",
    Map: "Map", TypeProxy: "type",
}  # fmt: skip


def type_name(x: Any) -> str:
    return _TYPE_NAMES.get(type(x), "function" if callable(x) else "object")


def _size(message: str) -> VMError:
    return VMError("VM_SIZE_LIMIT", message)


def _type(message: str) -> VMError:
    return VMError("VM_TYPE_ERROR", message)


def _value(message: str) -> VMError:
    return VMError("VM_VALUE_ERROR", message)


def _check_int(r: int) -> int:
    if -INT_LIMIT < r < INT_LIMIT:
        return r
    raise _size(f"integer result wider than {MAX_INT_BITS} bits")


def _is_int(x: Any) -> bool:
    t = type(x)
    return t is int or t is bool


def _limbs(x: int) -> int:
    return (x.bit_length() >> 6) + 1


def _seq_cap(x: Any) -> int:
    return MAX_STR_LEN if type(x) in (str, bytes) else MAX_COLLECTION_LEN


class Frame:
    """One active contract call: whose storage, who called, and whether writes are allowed."""

    __slots__ = ("contract", "caller", "readonly")

    def __init__(self, contract: str, caller: str, readonly: bool) -> None:
        self.contract = contract
        self.caller = caller
        self.readonly = readonly


class Runtime:
    def __init__(self, host: Host, ctx: CallContext, gas_limit: int,
                 load_program: Callable[[CompiledContract], Any]) -> None:
        self.left = gas_limit
        self.depth = 0
        self.cross_depth = 0
        self.nodes = 0  # node count of the last walk(), for codec pricing
        self.hashes: dict[bytes, list] = {}  # hash -> distinct int/tuple keys seen
        self.modules: list[dict[str, Any]] = []  # globals of every module instance
        self.host = host
        self.ctx = ctx
        self.load_program = load_program
        self.writes: dict[tuple[str, bytes], bytes | None] = {}
        self.events: list[Event] = []
        self.builtins = self._make_builtins()

    def close(self) -> None:
        """Break the reference cycles (module globals <-> functions, runtime <-> builtins) so
        a call's memory is released at once rather than at the next cyclic GC."""
        for g in self.modules:
            g.clear()
        self.modules.clear()
        self.builtins.clear()
        self.hashes.clear()

    # -- gas -------------------------------------------------------------------------------

    def charge(self, cost: int) -> bool:
        left = self.left - cost
        self.left = left
        if left < 0:
            raise OutOfGas()
        return True

    def enter(self, cost: int) -> None:
        depth = self.depth + 1
        if depth > MAX_CALL_DEPTH:
            raise VMError("VM_CALL_DEPTH", f"call depth exceeds {MAX_CALL_DEPTH}")
        self.depth = depth
        left = self.left - cost
        self.left = left
        if left < 0:
            raise OutOfGas()

    def leave(self) -> None:
        self.depth -= 1

    # -- structural walk -------------------------------------------------------------------

    def walk(self, obj: Any, *, max_depth: int = MAX_WALK_DEPTH, data_only: bool = False,
             hashable: bool = False) -> tuple[int, int]:
        """Visit `obj` as a tree, charging per node, before native code does work of the same
        shape (compare, repr, hash, encode). Shared sub-objects are visited every time they
        occur, exactly like the native operation would, so a DAG that is exponentially large
        as a tree runs out of gas here instead of hanging there.

        Returns (encoded-size estimate, repr-length estimate)."""
        enc = rep = nodes = 0
        pending = GAS["walk"]
        stack: list[tuple[Any, int]] = [(obj, 0)]
        pop = stack.pop
        push = stack.append
        while stack:
            o, d = pop()
            t = type(o)
            if t is int or t is bool or o is None:
                n = (o.bit_length() >> 6) + 1 if t is int else 1
                pending += n
                enc += 9 * n
                rep += 20 * n
            elif t is str or t is bytes:
                n = len(o)
                pending += 1 + (n >> 6)
                enc += 5 + (n * 4 if t is str and not o.isascii() else n)
                rep += 3 + (n * 4 if t is bytes else n * 2 if o.isascii() else n * 10)
            elif t is list or t is tuple or t is dict:
                if hashable and t is not tuple:
                    raise _type(f"unhashable key type {type_name(o)}")
                if d >= max_depth:
                    raise _size(f"value nested deeper than {max_depth}")
                n = len(o)
                pending += 1 + n
                enc += 5
                rep += 2 + 4 * n
                if t is dict:
                    for k, v in o.items():
                        push((k, d + 1))
                        push((v, d + 1))
                else:
                    for x in o:
                        push((x, d + 1))
            elif data_only or hashable:
                raise _type(f"{type_name(o)} is not a data value")
            else:
                pending += 1
            nodes += 1
            if pending >= 64:
                self.charge(pending * _G_WALK_NODE)
                pending = 0
        self.charge(pending * _G_WALK_NODE)
        self.nodes = nodes
        return enc, rep

    def key(self, k: Any) -> Any:
        """Guard every hashing site: only small immutable values may be dict keys (tuple hashing
        recurses in C without a depth check, and is not cached)."""
        t = type(k)
        if t is str:
            return k
        if t is int:
            if -_HASH_INJECTIVE < k < _HASH_INJECTIVE:
                return k
            self._track_hash(k)
            return k
        if t is tuple:
            self.walk(k, max_depth=MAX_KEY_PARTS, hashable=True)
            self._track_hash(k)
            return k
        if t in _HASHABLE_LEAVES:
            return k
        raise _type(f"unhashable key type {type_name(k)}")

    def _track_hash(self, k: Any) -> None:
        """Ints hash to themselves modulo 2**61 - 1 and tuple hashing is unseeded, so a contract
        could build thousands of distinct keys with one hash and make every dict probe linear
        (quadratic time for constant gas). Count distinct keys per full hash value; no honest
        key set comes near the threshold."""
        slot = self.hashes.setdefault(hash(k).to_bytes(8, "little", signed=True), [])
        if k not in slot:
            if len(slot) >= MAX_HASH_TWINS:
                raise _value("too many distinct dict keys with the same hash")
            slot.append(k)

    # -- collections from iterables -----------------------------------------------------------

    def take(self, it: Any, cap: int = MAX_COLLECTION_LEN) -> list:
        """Materialise an iterable into a fresh list, paying per item as it goes."""
        t = type(it)
        if t is list or t is tuple or t is str or t is bytes or t is dict or t is range:
            try:
                n = len(it)
            except OverflowError:
                raise _size("range too long") from None
            if n > cap:
                raise _size(f"more than {cap} items")
            self.charge(1 + n * _G_ITEM)
            return list(it)
        if t in (Ctx, Storage, TypeProxy, Map) or t is int or t is bool or it is None:
            raise _type(f"{type_name(it)} is not iterable")
        out: list = []
        append = out.append
        batch = 0
        for x in it:
            append(x)
            batch += 1
            if batch >= 64:
                self.charge(batch * _G_ITEM)
                batch = 0
                if len(out) > cap:
                    raise _size(f"more than {cap} items")
        self.charge(1 + batch * _G_ITEM)
        if len(out) > cap:
            raise _size(f"more than {cap} items")
        return out

    # -- operators -------------------------------------------------------------------------

    def add(self, a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is int and type(b) is int:
            return _check_int(a + b)
        if ta in _SEQ and type(b) is ta:
            n = len(a) + len(b)
            self._grow(a, n)
            return a + b
        r = a + b
        return _check_int(r) if type(r) is int else r

    def iadd(self, a: Any, b: Any) -> Any:
        if type(a) is list:
            items = self.take(b)
            if len(a) + len(items) > MAX_COLLECTION_LEN:
                raise _size(f"list longer than {MAX_COLLECTION_LEN}")
            a.extend(items)
            return a
        return self.add(a, b)

    def _grow(self, like: Any, n: int) -> None:
        if type(like) in (str, bytes):
            if n > MAX_STR_LEN:
                raise _size(f"{type_name(like)} longer than {MAX_STR_LEN}")
            self.charge(_G_OP + (n >> 6) * _G_CHUNK)
        else:
            if n > MAX_COLLECTION_LEN:
                raise _size(f"{type_name(like)} longer than {MAX_COLLECTION_LEN}")
            self.charge(_G_OP + n * _G_ITEM)

    def sub(self, a: Any, b: Any) -> Any:
        r = a - b
        return _check_int(r) if type(r) is int else r

    def mul(self, a: Any, b: Any) -> Any:
        ia, ib = _is_int(a), _is_int(b)
        if ia and ib:
            if a.bit_length() + b.bit_length() - 1 > MAX_INT_BITS:
                raise _size(f"integer result wider than {MAX_INT_BITS} bits")
            self.charge(_G_OP + ((_limbs(a) * _limbs(b)) >> 4) * _G_LIMB2)
            return _check_int(a * b)
        if ia and type(b) in _SEQ:
            a, b = b, a
            ia, ib = ib, ia
        if ib and type(a) in _SEQ:
            count = b if b > 0 else 0
            if len(a) and count > _seq_cap(a):
                raise _size(f"{type_name(a)} too long")
            self._grow(a, len(a) * count)
            return a * count
        return a * b  # raises TypeError for everything else

    def pow(self, a: Any, b: Any) -> int:
        if not (_is_int(a) and _is_int(b)):
            raise _type("** is only for integers")
        if b < 0:
            raise _value("negative exponent (no fractions)")
        if a in (0, 1) or b in (0, 1):
            return int(a) ** int(b)
        if a == -1:
            return 1 if b % 2 == 0 else -1
        if (a.bit_length() - 1) * b > MAX_INT_BITS:
            raise _size(f"integer result wider than {MAX_INT_BITS} bits")
        self.charge(_G_OP + 4 * _limbs(a) * b.bit_length())
        return _check_int(a**b)

    def lshift(self, a: Any, b: Any) -> int:
        if not (_is_int(a) and _is_int(b)):
            raise _type("<< is only for integers")
        if b < 0:
            raise _value("negative shift count")
        if a == 0:
            return 0
        if a.bit_length() + b > MAX_INT_BITS:
            raise _size(f"integer result wider than {MAX_INT_BITS} bits")
        return a << b

    def _div_cost(self, a: int, b: int) -> None:
        if a.bit_length() > 64:
            self.charge(_G_OP + ((_limbs(a) * _limbs(b)) >> 4) * _G_LIMB2)

    def mod(self, a: Any, b: Any) -> int:
        if not (_is_int(a) and _is_int(b)):
            raise _type("% is only for integers (no string formatting)")
        self._div_cost(a, b)
        return a % b

    def floordiv(self, a: Any, b: Any) -> int:
        if not (_is_int(a) and _is_int(b)):
            raise _type("// is only for integers")
        self._div_cost(a, b)
        return a // b

    def b_divmod(self, a: Any, b: Any) -> tuple[int, int]:
        if not (_is_int(a) and _is_int(b)):
            raise _type("divmod() is only for integers")
        self._div_cost(a, b)
        return divmod(a, b)

    def delitem(self, obj: Any, k: Any) -> None:
        """`del x[k]`: deleting from the front of a list moves every later item."""
        if type(obj) is list:
            self.charge(_G_OP + (len(obj) >> 4))
        del obj[self.key(k)]

    def or_(self, a: Any, b: Any) -> Any:
        if type(a) is dict and type(b) is dict:
            self._grow(a, len(a) + len(b))
        return a | b

    def ior(self, a: Any, b: Any) -> Any:
        if type(a) is dict and type(b) is dict:
            self._grow(a, len(a) + len(b))
            a.update(b)
            return a
        return self.or_(a, b)

    # -- comparisons -----------------------------------------------------------------------

    def _cmp_cost(self, a: Any, b: Any) -> None:
        ta, tb = type(a), type(b)
        if ta is int or ta is bool or a is None or tb is int or tb is bool or b is None:
            return
        if (ta is str or ta is bytes) and tb is ta:
            self.charge(_G_OP + (min(len(a), len(b)) >> 6) * _G_CHUNK)
            return
        self.walk(a)
        self.walk(b)

    def eq(self, a: Any, b: Any) -> bool:
        self._cmp_cost(a, b)
        return a == b

    def ne(self, a: Any, b: Any) -> bool:
        self._cmp_cost(a, b)
        return a != b

    def lt(self, a: Any, b: Any) -> bool:
        self._cmp_cost(a, b)
        return a < b

    def le(self, a: Any, b: Any) -> bool:
        self._cmp_cost(a, b)
        return a <= b

    def gt(self, a: Any, b: Any) -> bool:
        self._cmp_cost(a, b)
        return a > b

    def ge(self, a: Any, b: Any) -> bool:
        self._cmp_cost(a, b)
        return a >= b

    def contains(self, x: Any, c: Any) -> bool:
        tc = type(c)
        if tc is dict:
            return self.key(x) in c
        if tc is str or tc is bytes:
            if type(x) is tc:
                self.charge(_G_OP + ((len(c) + len(x)) >> 4) * _G_SCAN)
            return x in c
        if tc is list or tc is tuple:
            self.walk(c)
            self.walk(x)
            return x in c
        if tc is range:
            return _is_int(x) and x in c
        if tc is Map:
            return c.__contains__(self.key(x))
        raise _type(f"'in' is not supported for {type_name(c)}")

    def not_contains(self, x: Any, c: Any) -> bool:
        return not self.contains(x, c)

    # -- subscripts, slices, strings ----------------------------------------------------------

    def slice(self, obj: Any, lo: Any, hi: Any, step: Any) -> Any:
        t = type(obj)
        for b in (lo, hi, step):
            if b is not None and not _is_int(b):
                raise _type("slice bounds must be integers")
        s = slice(lo, hi, step)
        if t is range:
            return obj[s]
        if t not in _SEQ:
            raise _type(f"{type_name(obj)} cannot be sliced")
        n = len(range(*s.indices(len(obj))))
        self._grow(obj, n)
        return obj[s]

    def to_str(self, x: Any = "") -> str:
        t = type(x)
        if t is str:
            return x
        if t is int:
            self.charge(_G_OP + _limbs(x) * _limbs(x))
            return str(x)
        if t is bool or x is None:
            return str(x)
        if t in (bytes, list, tuple, dict):
            _, rep = self.walk(x, data_only=True)
            if rep > MAX_STR_LEN:
                raise _size(f"str longer than {MAX_STR_LEN}")
            self.charge((rep >> 6) * _G_CHUNK)
            return repr(x)
        raise _type(f"cannot convert {type_name(x)} to str")

    def fstr(self, *parts: Any) -> str:
        strs = [self.to_str(p) for p in parts]
        n = sum(len(s) for s in strs)
        if n > MAX_STR_LEN:
            raise _size(f"str longer than {MAX_STR_LEN}")
        self.charge(_G_OP + (n >> 6) * _G_CHUNK)
        return "".join(strs)

    # -- attributes and methods ---------------------------------------------------------------

    def attr(self, obj: Any, name: str) -> Any:
        t = type(obj)
        if t is Ctx and name in CTX_FIELDS:
            return getattr(obj, name)
        handler = METHODS.get((t, name))
        if handler is None:
            raise _type(f"{type_name(obj)} has no attribute {name!r}")

        def bound(*args: Any, **kwargs: Any) -> Any:
            return handler(self, obj, *args, **kwargs)

        return bound

    def meth(self, obj: Any, name: str, /, *args: Any, **kwargs: Any) -> Any:
        handler = METHODS.get((type(obj), name))
        if handler is None:
            if type(obj) is Ctx and name in CTX_FIELDS:
                raise _type(f"ctx.{name} is not callable")
            raise _type(f"{type_name(obj)} has no method {name!r}")
        return handler(self, obj, *args, **kwargs)

    # -- builtins --------------------------------------------------------------------------

    def b_int(self, x: Any = 0, base: Any = None) -> int:
        if base is None:
            if _is_int(x):
                return int(x)
            if type(x) is not str:
                raise _type(f"int() cannot convert {type_name(x)}")
            if len(x) > MAX_INT_STR:
                raise _size(f"int() of a string longer than {MAX_INT_STR}")
            self.charge(_G_OP + len(x))
            return _check_int(int(x))
        if type(x) is not str or not _is_int(base):
            raise _type("int(x, base) needs a str and an int base")
        limit = 2 * MAX_INT_BITS + 8 if base in (2, 4, 8, 16, 32) else MAX_INT_STR
        if len(x) > limit:
            raise _size(f"int() of a string longer than {limit}")
        self.charge(_G_OP + len(x))
        return _check_int(int(x, base))

    def b_bytes(self, x: Any = b"", encoding: Any = None) -> bytes:
        t = type(x)
        if t is bytes:
            return x
        if t is str:
            if encoding not in ("utf-8", "utf8"):
                raise _value("bytes(str, encoding) supports only 'utf-8'")
            return self.m_str_encode(x)
        if _is_int(x):
            if x < 0:
                raise _value("negative count")
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
                        raise _value("dict() needs (key, value) pairs")
                    out[self.key(pair[0])] = pair[1]
        if kwargs:
            out.update(kwargs)
        if len(out) > MAX_COLLECTION_LEN:
            raise _size(f"dict longer than {MAX_COLLECTION_LEN}")
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
                raise _type("isinstance() needs int, str, bool, list, dict, tuple or bytes")
        return isinstance(x, tuple(real))

    def b_sum(self, it: Any, start: Any = 0) -> int:
        items = self.take(it)
        if not _is_int(start) or not all(_is_int(v) for v in items):
            raise _type("sum() is only for integers")
        return _check_int(sum(items, start))

    def _keys(self, items: list, key: Any) -> list:
        keys = items if key is None else [key(x) for x in items]
        self.walk(keys)
        return keys

    def _extreme(self, fn: Any, args: tuple, key: Any, default: Any) -> Any:
        items = self.take(args[0]) if len(args) == 1 else list(args)
        if not items:
            if default is _NO_DEFAULT:
                raise _value("empty sequence")
            return default
        keys = self._keys(items, key)
        self.charge(len(items) * _G_ITEM)
        return items[fn(range(len(items)), key=keys.__getitem__)]

    def b_min(self, *args: Any, key: Any = None, default: Any = _NO_DEFAULT) -> Any:
        if not args:
            raise _type("min() needs arguments")
        return self._extreme(min, args, key, default)

    def b_max(self, *args: Any, key: Any = None, default: Any = _NO_DEFAULT) -> Any:
        if not args:
            raise _type("max() needs arguments")
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
        if not _is_int(x) or not (ndigits is None or _is_int(ndigits)):
            raise _type("round() is only for integers")
        if ndigits is None or ndigits >= 0:
            return int(x)
        if ndigits < -(MAX_INT_BITS // 3 + 8):
            return 0
        self.charge(_G_OP + ((_limbs(x) * _limbs(x)) >> 3) * _G_LIMB2)
        return round(int(x), ndigits)

    # -- fixed-point helpers -----------------------------------------------------------------

    def div_half_up(self, a: Any, b: Any) -> int:
        if not (_is_int(a) and _is_int(b)):
            raise _type("div_half_up() is only for integers")
        if b == 0:
            raise ZeroDivisionError("division by zero")
        q, r = divmod(abs(a), abs(b))
        if 2 * r >= abs(b):
            q += 1
        return q if (a < 0) == (b < 0) else -q

    def muldiv(self, a: Any, b: Any, c: Any) -> int:
        return self.div_half_up(self.mul(a, b), c)

    def isqrt(self, n: Any) -> int:
        if not _is_int(n):
            raise _type("isqrt() is only for integers")
        self.charge(_G_OP + ((_limbs(n) * _limbs(n)) >> 3) * _G_LIMB2)
        return math.isqrt(n)

    def pow10(self, n: Any) -> int:
        if not _is_int(n):
            raise _type("pow10() is only for integers")
        if n < 0:
            raise _value("pow10() of a negative number")
        if n > 616:
            raise _size(f"integer result wider than {MAX_INT_BITS} bits")
        return 10**n

    def sm3(self, data: Any) -> str:
        if type(data) is str:
            data = data.encode("utf-8")
        elif type(data) is not bytes:
            raise _type("sm3() needs str or bytes")
        self.charge(GAS["sm3"] + (len(data) >> 6) * GAS["sm3_chunk"])
        return _sm3(data).hex()

    def require(self, cond: Any, code: Any, message: Any = "") -> None:
        if type(code) is not str or not CODE_RE.match(code) or code.startswith("VM_"):
            raise VMError("VM_BAD_CODE", "require() code must match [A-Z][A-Z0-9_]{0,47}"
                          " and must not start with VM_")
        if type(message) is not str:
            raise _type("require() message must be a str")
        if not cond:
            raise VMError(code, message[:MAX_MESSAGE_LEN])

    def has_role(self, address: Any, role: Any) -> bool:
        if type(address) is not str or type(role) is not str:
            raise _type("has_role() needs str address and role")
        self.charge(GAS["has_role"])
        return bool(self.call_host(self.host.has_role, address, role))

    def call_host(self, fn: Callable, *args: Any) -> Any:
        try:
            return fn(*args)
        except (OutOfGas, HostFailure):
            raise
        except Exception as exc:
            raise HostFailure(exc) from exc

    # -- storage ---------------------------------------------------------------------------

    def storage_key(self, k: Any) -> bytes:
        t = type(k)
        if t is str or t is int:
            parts: Any = k
        elif t is tuple or t is list:
            if not 1 <= len(k) <= MAX_KEY_PARTS:
                raise _size(f"a composite key has 1 to {MAX_KEY_PARTS} parts")
            for p in k:
                tp = type(p)
                if tp is not str and tp is not int:
                    raise _type("storage key parts must be str or int")
                if tp is str and len(p) > MAX_KEY_BYTES:
                    raise _size(f"storage key longer than {MAX_KEY_BYTES} bytes")
            parts = list(k)
        else:
            raise _type("storage keys are str, int or a tuple of those")
        if t is str and len(k) > MAX_KEY_BYTES:
            raise _size(f"storage key longer than {MAX_KEY_BYTES} bytes")
        try:
            raw = codec.encode(parts)
        except codec.CodecError:
            raise _size("storage key integer too large") from None
        if len(raw) > MAX_KEY_BYTES:
            raise _size(f"storage key longer than {MAX_KEY_BYTES} bytes")
        return raw

    def encode_value(self, v: Any, max_bytes: int, max_depth: int) -> bytes:
        enc, _ = self.walk(v, max_depth=max_depth, data_only=True)
        if enc > 2 * max_bytes + 64:
            raise _size(f"value larger than {max_bytes} bytes")
        self.charge(self.nodes * _G_CODEC_NODE)
        try:
            raw = codec.encode(v, max_depth=max_depth)
        except codec.CodecError as exc:
            if exc.code == "CODEC_BAD_KEY":
                raise _type("dict keys of stored/returned values must be str") from None
            raise _size(exc.message) from None
        if len(raw) > max_bytes:
            raise _size(f"value larger than {max_bytes} bytes")
        return raw

    def copy_value(self, v: Any, max_bytes: int, max_depth: int = codec.MAX_DEPTH) -> Any:
        """Deep copy through the canonical codec: nothing mutable crosses a contract boundary,
        and tuples become lists exactly as they would after a round trip through state."""
        raw = self.encode_value(v, max_bytes, max_depth)
        self.charge(self.nodes * _G_CODEC_NODE + (len(raw) >> 6) * _G_CHUNK)
        return codec.decode(raw, max_depth=max_depth)

    def _read(self, frame: Frame, k: Any) -> tuple[bytes, bytes | None]:
        kb = self.storage_key(k)
        self.charge(GAS["storage_read"] + len(kb) * GAS["storage_byte_read"])
        slot = (frame.contract, kb)
        if slot in self.writes:
            raw = self.writes[slot]
        else:
            raw = self.call_host(self.host.storage_get, frame.contract, kb)
            if raw is not None and type(raw) is not bytes:
                raw = bytes(raw)
        if raw is not None:
            self.charge(len(raw) * GAS["storage_byte_read"])
        return kb, raw

    def storage_get(self, frame: Frame, k: Any, default: Any = None) -> Any:
        _, raw = self._read(frame, k)
        if raw is None:
            return default
        try:
            return codec.decode(raw)
        except codec.CodecError as exc:
            raise VMError("VM_INTERNAL", f"stored value is not canonical: {exc.code}") from None

    def storage_has(self, frame: Frame, k: Any) -> bool:
        return self._read(frame, k)[1] is not None

    def _writable(self, frame: Frame) -> None:
        if frame.readonly:
            raise VMError("VM_READONLY", "storage is read-only in a view or query")

    def storage_set(self, frame: Frame, k: Any, v: Any) -> None:
        self._writable(frame)
        kb = self.storage_key(k)
        raw = self.encode_value(v, MAX_VALUE_BYTES, MAX_VALUE_DEPTH)
        self.charge(GAS["storage_write"] + (len(kb) + len(raw)) * GAS["storage_byte_write"])
        self.writes[(frame.contract, kb)] = raw

    def storage_delete(self, frame: Frame, k: Any) -> None:
        self._writable(frame)
        kb = self.storage_key(k)
        self.charge(GAS["storage_delete"] + len(kb) * GAS["storage_byte_write"])
        self.writes[(frame.contract, kb)] = None

    # -- events and cross-contract calls -------------------------------------------------------

    def emit(self, frame: Frame, name: Any, fields: dict) -> None:
        self._writable(frame)
        if type(name) is not str or not EVENT_RE.match(name):
            raise _value("event name must match [A-Za-z][A-Za-z0-9_]{0,63}")
        if len(self.events) >= MAX_EVENTS:
            raise _size(f"more than {MAX_EVENTS} events")
        raw = self.encode_value(fields, MAX_EVENT_BYTES, codec.MAX_DEPTH)
        self.charge(GAS["event"] + len(raw) * GAS["event_byte"])
        self.events.append(Event(frame.contract, name, codec.decode(raw)))

    def cross_call(self, frame: Frame, contract: Any, method: Any, kwargs: dict) -> Any:
        if type(contract) is not str or type(method) is not str:
            raise _type("call() needs a contract name and a method name")
        if self.cross_depth >= MAX_CROSS_DEPTH:
            raise VMError("VM_CALL_DEPTH", f"cross-contract depth exceeds {MAX_CROSS_DEPTH}")
        self.charge(GAS["call"] + GAS["cross_call"])
        compiled = self.call_host(self.host.load_contract, contract)
        if compiled is None:
            raise VMError("VM_NO_CONTRACT", f"no contract {contract[:MAX_NAME_LEN]!r}")
        kind = compiled.exports.get(method)
        if kind is None:
            raise VMError("VM_NO_METHOD", f"{contract[:MAX_NAME_LEN]} has no method "
                          f"{method[:MAX_NAME_LEN]!r}")
        if kind == "export" and frame.readonly:
            raise VMError("VM_READONLY", "cannot call an @export method from a read-only call")
        try:
            args = self.copy_value(kwargs, MAX_IO_BYTES)
        except VMError as exc:
            raise VMError("VM_BAD_ARGS", exc.message) from None
        self.cross_depth += 1
        try:
            return self.invoke(compiled, contract, method, args, frame.contract,
                               frame.readonly or kind == "view")
        finally:
            self.cross_depth -= 1

    def invoke(self, compiled: CompiledContract, name: str, method: str, kwargs: dict,
               caller: str, readonly: bool) -> Any:
        program = self.load_program(compiled)
        info = program.functions.get(method)
        if info is None:
            raise VMError("VM_NO_METHOD", f"no method {method[:MAX_NAME_LEN]!r}")
        bind_check(info, kwargs)
        frame = Frame(name, caller, readonly)
        g = self.instantiate(program, frame)
        result = g[method](**kwargs)
        try:
            return self.copy_value(result, MAX_IO_BYTES)
        except VMError as exc:
            raise VMError("VM_BAD_RETURN", exc.message) from None

    def instantiate(self, program: Any, frame: Frame) -> dict[str, Any]:
        ctx = self.ctx
        g: dict[str, Any] = {
            "__builtins__": self.builtins,
            "__vm_contract__": frame.contract,
            "ctx": Ctx(sender=ctx.sender, caller=frame.caller, height=ctx.height,
                       time_ms=ctx.time_ms, tx_hash=ctx.tx_hash, contract=frame.contract,
                       chain_id=ctx.chain_id),
            "storage": Storage(self, frame),
            "Map": self._map_factory(frame),
            "emit": self._emit_factory(frame),
            "call": self._call_factory(frame),
        }
        self.modules.append(g)
        exec(program.code, g)  # noqa: S102 - checked, rewritten, metered contract code
        return g

    def _map_factory(self, frame: Frame) -> Callable[[Any], Map]:
        def make_map(prefix: Any) -> Map:
            if type(prefix) is not str or not 1 <= len(prefix) <= MAX_NAME_LEN:
                raise _value(f"Map prefix must be a str of 1 to {MAX_NAME_LEN} chars")
            self.charge(_G_OP)
            return Map(self, frame, prefix)

        return make_map

    def _emit_factory(self, frame: Frame) -> Callable[..., None]:
        def emit(name: Any, /, **fields: Any) -> None:
            self.emit(frame, name, fields)

        return emit

    def _call_factory(self, frame: Frame) -> Callable[..., Any]:
        def call(contract: Any, method: Any, /, **kwargs: Any) -> Any:
            return self.cross_call(frame, contract, method, kwargs)

        return call

    def _make_builtins(self) -> dict[str, Any]:
        return {
            # guards called by rewritten code
            "_vm_g": self.charge,
            "_vm_enter": self.enter,
            "_vm_leave": self.leave,
            "_vm_attr": self.attr,
            "_vm_meth": self.meth,
            "_vm_key": self.key,
            "_vm_slice": self.slice,
            "_vm_fstr": self.fstr,
            "_vm_add": self.add,
            "_vm_iadd": self.iadd,
            "_vm_sub": self.sub,
            "_vm_mul": self.mul,
            "_vm_pow": self.pow,
            "_vm_lshift": self.lshift,
            "_vm_mod": self.mod,
            "_vm_floordiv": self.floordiv,
            "_vm_delitem": self.delitem,
            "_vm_or": self.or_,
            "_vm_ior": self.ior,
            "_vm_eq": self.eq,
            "_vm_ne": self.ne,
            "_vm_lt": self.lt,
            "_vm_le": self.le,
            "_vm_gt": self.gt,
            "_vm_ge": self.ge,
            "_vm_in": self.contains,
            "_vm_notin": self.not_contains,
            # host API shared by all contracts of this execution
            "export": _decorator_stub,
            "view": _decorator_stub,
            "require": self.require,
            "has_role": self.has_role,
            "div_half_up": self.div_half_up,
            "muldiv": self.muldiv,
            "isqrt": self.isqrt,
            "pow10": self.pow10,
            "sm3": self.sm3,
            # builtins
            "len": len,
            "range": range,
            "abs": abs,
            "divmod": self.b_divmod,
            "hex": hex,
            "ord": ord,
            "chr": chr,
            "bool": bool,
            "enumerate": enumerate,
            "zip": zip,
            "reversed": reversed,
            "min": self.b_min,
            "max": self.b_max,
            "sum": self.b_sum,
            "sorted": self.b_sorted,
            "any": self.b_any,
            "all": self.b_all,
            "round": self.b_round,
            "isinstance": self.b_isinstance,
            "int": TypeProxy(int, self.b_int),
            "str": TypeProxy(str, self.to_str),
            "bytes": TypeProxy(bytes, self.b_bytes),
            "list": TypeProxy(list, self.b_list),
            "tuple": TypeProxy(tuple, self.b_tuple),
            "dict": TypeProxy(dict, self.b_dict),
        }

    # -- methods (registered in METHODS below) ------------------------------------------------

    def _str_cost(self, s: Any, *args: Any) -> None:
        n = len(s)
        for a in args:
            if type(a) is str or type(a) is bytes:
                n += len(a)
        self.charge(_G_OP + (n >> 4) * _G_SCAN)

    def m_str_encode(self, s: str, encoding: Any = "utf-8") -> bytes:
        if encoding not in ("utf-8", "utf8"):
            raise _value("only utf-8 is supported")
        self._str_cost(s)
        raw = s.encode("utf-8")
        if len(raw) > MAX_STR_LEN:
            raise _size(f"bytes longer than {MAX_STR_LEN}")
        return raw

    def m_replace(self, s: Any, old: Any, new: Any, count: Any = -1) -> Any:
        if type(old) is not type(s) or type(new) is not type(s) or not _is_int(count):
            raise _type("replace() arguments must match the string type")
        self._str_cost(s, old)
        n = len(s) + 1 if not old else s.count(old)
        if count >= 0:
            n = min(n, count)
        result = len(s) + n * (len(new) - len(old))
        self._grow(s, result)
        self.charge(n * _G_ITEM)
        return s.replace(old, new, count)

    @staticmethod
    def m_pad(name: str) -> Callable[..., Any]:
        def pad(rt: Runtime, s: Any, width: Any, *args: Any) -> Any:
            if not _is_int(width):
                raise _type(f"{name}() width must be an int")
            rt._grow(s, max(len(s), width))
            return getattr(s, name)(width, *args)

        return pad

    def m_join(self, sep: Any, it: Any) -> Any:
        items = self.take(it)
        self.charge(len(items) * _G_ITEM)
        total = len(sep) * max(0, len(items) - 1)
        for x in items:
            if type(x) is not type(sep):
                raise _type("join() items must be of the separator's type")
            total += len(x)
        self._grow(sep, total)
        return sep.join(items)

    @staticmethod
    def m_split(name: str) -> Callable[..., Any]:
        def split(rt: Runtime, s: Any, *args: Any, **kwargs: Any) -> list:
            rt._str_cost(s, *args)
            out = getattr(s, name)(*args, **kwargs)
            rt._grow(out, len(out))
            return out

        return split

    @staticmethod
    def m_grow3(name: str) -> Callable[..., Any]:
        """Case mapping can expand a char to up to three (e.g. 'ﬃ'.upper() == 'FFI')."""

        def grow(rt: Runtime, s: Any) -> Any:
            rt._grow(s, 3 * len(s))
            return getattr(s, name)()

        return grow

    def m_hex(self, b: bytes) -> str:
        self._grow("", 2 * len(b))
        return b.hex()

    def m_decode(self, b: bytes, encoding: Any = "utf-8") -> str:
        if encoding not in ("utf-8", "utf8"):
            raise _value("only utf-8 is supported")
        self._str_cost(b)
        return b.decode("utf-8")

    def m_to_bytes(self, x: int, length: Any = 1, byteorder: Any = "big", *,
                   signed: Any = False) -> bytes:
        if not _is_int(length) or not 0 <= length <= MAX_INT_BITS // 8 + 8:
            raise _size("to_bytes() length out of range")
        if byteorder not in ("big", "little"):
            raise _value("byteorder must be 'big' or 'little'")
        return x.to_bytes(length, byteorder, signed=bool(signed))

    @staticmethod
    def m_walk_then(name: str) -> Callable[..., Any]:
        """Methods that compare elements (index, count, remove): pay for a deep visit."""

        def method(rt: Runtime, obj: Any, *args: Any) -> Any:
            rt.walk(obj)
            for a in args:
                rt.walk(a)
            return getattr(obj, name)(*args)

        return method

    def m_list_append(self, lst: list, x: Any) -> None:
        if len(lst) >= MAX_COLLECTION_LEN:
            raise _size(f"list longer than {MAX_COLLECTION_LEN}")
        lst.append(x)

    def m_list_insert(self, lst: list, i: Any, x: Any) -> None:
        if len(lst) >= MAX_COLLECTION_LEN:
            raise _size(f"list longer than {MAX_COLLECTION_LEN}")
        self.charge(_G_OP + (len(lst) >> 4))
        lst.insert(i, x)

    def m_list_extend(self, lst: list, it: Any) -> None:
        self.iadd(lst, it)

    def m_list_pop(self, lst: list, *args: Any) -> Any:
        self.charge(_G_OP + (len(lst) >> 4))
        return lst.pop(*args)

    def m_list_sort(self, lst: list, *, key: Any = None, reverse: Any = False) -> None:
        lst[:] = self._sorted_list(list(lst), key, reverse)

    def m_dict_get(self, d: dict, key: Any, default: Any = None, /) -> Any:
        return d.get(self.key(key), default)

    def m_dict_pop(self, d: dict, key: Any, /, *default: Any) -> Any:
        return d.pop(self.key(key), *default)

    def m_dict_setdefault(self, d: dict, key: Any, default: Any = None, /) -> Any:
        if len(d) >= MAX_COLLECTION_LEN:
            raise _size(f"dict longer than {MAX_COLLECTION_LEN}")
        return d.setdefault(self.key(key), default)

    def m_dict_update(self, d: dict, other: Any = None, /, **kwargs: Any) -> None:
        d.update(self.b_dict(other, **kwargs))
        if len(d) > MAX_COLLECTION_LEN:
            raise _size(f"dict longer than {MAX_COLLECTION_LEN}")

    def m_dict_keys(self, d: dict) -> list:
        self.charge(_G_OP + len(d) * _G_ITEM)
        return list(d)

    def m_dict_values(self, d: dict) -> list:
        self.charge(_G_OP + len(d) * _G_ITEM)
        return list(d.values())

    def m_dict_items(self, d: dict) -> list:
        self.charge(_G_OP + 2 * len(d) * _G_ITEM)
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


def _decorator_stub(fn: Any) -> Any:
    return fn


def bind_check(info: Any, kwargs: dict) -> None:
    """Transactions pass keyword arguments only; refuse anything the function cannot bind, so
    a TypeError inside the contract is never confused with bad input."""
    names = {name: (kind, has_default) for name, kind, has_default in info.params}
    for k in kwargs:
        spec = names.get(k)
        if spec is None or spec[0] == "posonly":
            raise VMError("VM_BAD_ARGS", f"unexpected argument {str(k)[:MAX_NAME_LEN]!r}")
    for name, (_kind, has_default) in names.items():
        if not has_default and name not in kwargs:
            raise VMError("VM_BAD_ARGS", f"missing argument {name!r}")


def _native(name: str, cost_items: bool = False) -> Callable[..., Any]:
    def method(rt: Runtime, obj: Any, *args: Any) -> Any:
        if cost_items:
            rt.charge(_G_OP + len(obj) * _G_ITEM)
        else:
            rt._str_cost(obj, *args)
        return getattr(obj, name)(*args)

    return method


def _build_methods() -> dict[tuple[type, str], Callable[..., Any]]:
    R = Runtime
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
