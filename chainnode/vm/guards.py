"""Guards the rewritten contract code calls: the gas meter, deep visits, hashing, operators,
comparisons, slices, string conversion and attribute dispatch.

Every guard checks the size of its result before producing it and charges gas in proportion
to the work the native operation will do.
"""

from __future__ import annotations

from typing import Any

from chainnode.vm.common import (
    CONTAINER_TAGS,
    G_CHUNK,
    G_ITEM,
    G_LIMB2,
    G_MEM,
    G_OP,
    G_PAIRS,
    G_SCAN,
    G_WALK_NODE,
    HASH_INJECTIVE,
    HASHABLE_LEAVES,
    INT_HEAD,
    MAX_HASH_TWINS,
    SEQ_TYPES,
    SMALL_INT,
    STR_HEAD,
    check_int,
    int_bytes,
    is_int,
    limbs,
    search_pairs,
    seq_bytes,
    seq_cap,
    size_error,
    str_width,
    type_error,
    type_name,
    value_error,
)
from chainnode.vm.errors import OutOfGas, VMError
from chainnode.vm.gas import (
    GAS,
    MAX_CALL_DEPTH,
    MAX_COLLECTION_LEN,
    MAX_INT_BITS,
    MAX_KEY_PARTS,
    MAX_STR_LEN,
    MAX_TX_MEMORY,
    MAX_WALK_DEPTH,
)
from chainnode.vm.hostobjs import CTX_FIELDS, Ctx, Map, Storage, TypeProxy
from chainnode.vm.methods import METHODS

_INT_TYPES = frozenset({int, bool})
_STR_TYPES = frozenset({str})


def _flat_ints(seq: Any) -> bool:
    return set(map(type, seq)) <= _INT_TYPES


def _flat_strs(seq: Any) -> bool:
    return set(map(type, seq)) <= _STR_TYPES


class Guards:
    """Mixin of Runtime: the meter state (left, depth, nodes, hashes) lives there."""

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

    # -- memory ----------------------------------------------------------------------------

    def account(self, nbytes: int) -> None:
        """Count bytes against the call's deterministic memory budget, before they exist, so
        the budget trips long before the process could hit MemoryError."""
        mem = self.mem + nbytes
        self.mem = mem
        if mem > MAX_TX_MEMORY:
            raise VMError("VM_MEMORY_LIMIT", f"the call produced more than {MAX_TX_MEMORY} bytes")

    def produce(self, nbytes: int) -> None:
        """Charge for `nbytes` of new data (one mem unit per 16 bytes) and count it."""
        self.account(nbytes)
        self.charge(((nbytes + 15) >> 4) * G_MEM)

    def decode_cost(self, raw: bytes) -> None:
        """Before a stored list/dict is decoded: the pure-Python codec makes up to one object
        per byte (an empty list is one byte), so pay per byte for the worst density."""
        if raw and raw[0] in CONTAINER_TAGS:
            self.account(len(raw) * 80)
            self.charge(len(raw) * GAS["decode_byte"])

    def wide(self, r: int) -> int:
        """Every int a guard returns: checked for width, and paid for by size when it is not
        a small int (small ones are at most INT_HEAD bytes, covered by the node charges)."""
        if -SMALL_INT < r < SMALL_INT:
            return r
        check_int(r)
        self.produce(int_bytes(r))
        return r

    def search(self, n: int, m: int, reverse: bool = False, pairs: int | None = None) -> None:
        """Time of a substring search over n chars for a needle of m chars. `pairs` overrides
        the quadratic part when the native searches a window or suffixes, not the whole."""
        if pairs is None:
            pairs = search_pairs(n, m, reverse)
        self.charge(G_OP + ((n + m) >> 4) * G_SCAN + (pairs >> 7) * G_PAIRS)

    # -- structural walk -------------------------------------------------------------------

    def walk(self, obj: Any, *, max_depth: int = MAX_WALK_DEPTH, data_only: bool = False,
             hashable: bool = False) -> tuple[int, int]:
        """Visit `obj` as a tree, charging per node, before native code does work of the same
        shape (compare, repr, hash, encode). Shared sub-objects are visited every time they
        occur, exactly like the native operation would, so a DAG that is exponentially large
        as a tree runs out of gas here instead of hanging there.

        Returns (encoded-size estimate, repr-length estimate)."""
        enc = rep = nodes = 0
        width = 1  # bytes per char of the repr: printable wide chars are kept as they are
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
                if t is bytes:
                    enc += 5 + n
                    rep += 3 + n * 4
                elif o.isascii():
                    # repr escapes ASCII controls as \xNN: four chars each
                    enc += 5 + n
                    rep += 3 + (n * 2 if o.isprintable() else n * 4)
                else:
                    enc += 5 + n * 4
                    rep += 3 + n * 10
                    width = max(width, str_width(o))
            elif t is list or t is tuple or t is dict:
                if hashable and t is not tuple:
                    raise type_error(f"unhashable key type {type_name(o)}")
                if d >= max_depth:
                    raise size_error(f"value nested deeper than {max_depth}")
                n = len(o)
                pending += 1 + n
                enc += 5
                rep += 2 + 4 * n
                if t is dict:
                    for k, v in o.items():
                        push((k, d + 1))
                        push((v, d + 1))
                elif n > 8 and _flat_ints(o):
                    # fast path, same accounting: n int leaves at C speed
                    extra = n + (sum(map(int.bit_length, o)) >> 6)
                    pending += extra
                    enc += 9 * extra
                    rep += 20 * extra
                    nodes += n
                elif n > 8 and _flat_strs(o):
                    size = sum(map(len, o))
                    ascii_ = all(map(str.isascii, o))
                    pending += n + (size >> 6)
                    enc += 5 * n + (size if ascii_ else 4 * size)
                    if ascii_:
                        rep += 3 * n + size * (2 if all(map(str.isprintable, o)) else 4)
                    else:
                        rep += 3 * n + 10 * size
                        width = max(width, *map(str_width, o))
                    nodes += n
                else:
                    for x in o:
                        push((x, d + 1))
            elif data_only or hashable:
                raise type_error(f"{type_name(o)} is not a data value")
            else:
                pending += 1
            nodes += 1
            if pending >= 64:
                self.charge(pending * G_WALK_NODE)
                pending = 0
        self.charge(pending * G_WALK_NODE)
        self.nodes = nodes
        self.rep_width = width
        return enc, rep

    def key(self, k: Any) -> Any:
        """Guard every hashing site: only small immutable values may be dict keys (tuple hashing
        recurses in C without a depth check, and is not cached)."""
        t = type(k)
        if t is str:
            return k
        if t is int:
            if -HASH_INJECTIVE < k < HASH_INJECTIVE:
                return k
            # hashing it, and comparing it with up to MAX_HASH_TWINS twins here and in the
            # dict's probe chain, reads every limb: pay per limb on every use as a key
            self.charge(G_OP + 2 * limbs(k))
            self._track_hash(k)
            return k
        if t is tuple:
            self.walk(k, max_depth=MAX_KEY_PARTS, hashable=True)
            self._track_hash(k)
            return k
        if t in HASHABLE_LEAVES:
            return k
        raise type_error(f"unhashable key type {type_name(k)}")

    def _track_hash(self, k: Any) -> None:
        """Ints hash to themselves modulo 2**61 - 1 and tuple hashing is unseeded, so a contract
        could build thousands of distinct keys with one hash and make every dict probe linear
        (quadratic time for constant gas). Count distinct keys per full hash value; no honest
        key set comes near the threshold."""
        slot = self.hashes.setdefault(hash(k).to_bytes(8, "little", signed=True), [])
        if k not in slot:
            if len(slot) >= MAX_HASH_TWINS:
                raise value_error("too many distinct dict keys with the same hash")
            self.produce(200)  # the twin table keeps the key and a slot
            slot.append(k)

    # -- collections from iterables -----------------------------------------------------------

    def take(self, it: Any, cap: int = MAX_COLLECTION_LEN) -> list:
        """Materialise an iterable into a fresh list, paying per item and per byte before it
        is built (every iterable a contract can hold has a length)."""
        out_like: list = []
        t = type(it)
        if t is list or t is tuple or t is str or t is bytes or t is dict or t is range:
            try:
                n = len(it)
            except OverflowError:
                raise size_error("range too long") from None
            if n > cap:
                raise size_error(f"more than {cap} items")
            self.charge(1 + n * G_ITEM)
            self.account(seq_bytes(out_like, n))
            if t is str and n and str_width(it) > 1:
                self.produce(n * STR_HEAD)  # iterating makes one new str per char
            elif t is range:
                self.produce(n * INT_HEAD)  # and one new int per number
            return list(it)
        if t in (Ctx, Storage, TypeProxy, Map) or t is int or t is bool or it is None:
            raise type_error(f"{type_name(it)} is not iterable")
        raise type_error(f"{type_name(it)} is not iterable")

    def comp_iter(self, it: Any) -> Any:
        """The iterable of a comprehension: every item may be kept, so pay up front for the
        new objects iteration itself makes when they are larger than the per-item charges
        cover (the ~80-byte chars of a wide str; a range's small ints are covered)."""
        t = type(it)
        if t is str:
            if str_width(it) > 1:
                self.produce(len(it) * STR_HEAD)
        elif not (t is list or t is tuple or t is dict or t is bytes or t is range):
            raise type_error(f"{type_name(it)} is not iterable")
        return it

    # -- operators -------------------------------------------------------------------------

    def add(self, a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is int and type(b) is int:
            return self.wide(a + b)
        if ta in SEQ_TYPES and type(b) is ta:
            n = len(a) + len(b)
            self._grow(a, n, max(str_width(a), str_width(b)) if ta is str else 1)
            return a + b
        r = a + b
        return self.wide(r) if type(r) is int else r

    def iadd(self, a: Any, b: Any) -> Any:
        if type(a) is list:
            items = self.take(b)
            if len(a) + len(items) > MAX_COLLECTION_LEN:
                raise size_error(f"list longer than {MAX_COLLECTION_LEN}")
            a.extend(items)
            return a
        return self.add(a, b)

    def _grow(self, like: Any, n: int, width: int = 1) -> None:
        """A new str/bytes/list/tuple/dict of n items (chars of `width` bytes) is about to be
        made: check its size, then pay for copying and for the bytes."""
        t = type(like)
        if t is str or t is bytes:
            if n > MAX_STR_LEN:
                raise size_error(f"{type_name(like)} longer than {MAX_STR_LEN}")
            self.charge(G_OP)
            self.produce(seq_bytes(like, n, width))
        else:
            if n > MAX_COLLECTION_LEN:
                raise size_error(f"{type_name(like)} longer than {MAX_COLLECTION_LEN}")
            self.charge(G_OP + n * G_ITEM)
            if t is dict:
                self.produce(seq_bytes(like, n))
            else:
                self.account(seq_bytes(like, n))

    def sub(self, a: Any, b: Any) -> Any:
        r = a - b
        return self.wide(r) if type(r) is int else r

    def band(self, a: Any, b: Any) -> Any:
        r = a & b
        return self.wide(r) if type(r) is int else r

    def bxor(self, a: Any, b: Any) -> Any:
        r = a ^ b
        return self.wide(r) if type(r) is int else r

    def rshift(self, a: Any, b: Any) -> Any:
        if is_int(a) and is_int(b) and b > MAX_INT_BITS:
            return -1 if a < 0 else 0
        r = a >> b
        return self.wide(r) if type(r) is int else r

    def neg(self, a: Any) -> Any:
        r = -a
        return self.wide(r) if type(r) is int else r

    def invert(self, a: Any) -> Any:
        r = ~a
        return self.wide(r) if type(r) is int else r

    def mul(self, a: Any, b: Any) -> Any:
        ia, ib = is_int(a), is_int(b)
        if ia and ib:
            if a.bit_length() + b.bit_length() - 1 > MAX_INT_BITS:
                raise size_error(f"integer result wider than {MAX_INT_BITS} bits")
            self.charge(G_OP + ((limbs(a) * limbs(b)) >> 4) * G_LIMB2)
            return self.wide(a * b)
        if ia and type(b) in SEQ_TYPES:
            a, b = b, a
            ia, ib = ib, ia
        if ib and type(a) in SEQ_TYPES:
            count = b if b > 0 else 0
            if len(a) and count > seq_cap(a):
                raise size_error(f"{type_name(a)} too long")
            self._grow(a, len(a) * count, str_width(a) if type(a) is str else 1)
            return a * count
        return a * b  # raises TypeError for everything else

    def pow(self, a: Any, b: Any) -> int:
        if not (is_int(a) and is_int(b)):
            raise type_error("** is only for integers")
        if b < 0:
            raise value_error("negative exponent (no fractions)")
        if a in (0, 1) or b in (0, 1):
            return int(a) ** int(b)
        if a == -1:
            return 1 if b % 2 == 0 else -1
        if (a.bit_length() - 1) * b > MAX_INT_BITS:
            raise size_error(f"integer result wider than {MAX_INT_BITS} bits")
        self.charge(G_OP + 4 * limbs(a) * b.bit_length())
        return self.wide(a**b)

    def lshift(self, a: Any, b: Any) -> int:
        if not (is_int(a) and is_int(b)):
            raise type_error("<< is only for integers")
        if b < 0:
            raise value_error("negative shift count")
        if a == 0:
            return 0
        if a.bit_length() + b > MAX_INT_BITS:
            raise size_error(f"integer result wider than {MAX_INT_BITS} bits")
        return self.wide(a << b)

    def _div_cost(self, a: int, b: int) -> None:
        if a.bit_length() > 64:
            self.charge(G_OP + ((limbs(a) * limbs(b)) >> 4) * G_LIMB2)

    def mod(self, a: Any, b: Any) -> int:
        if not (is_int(a) and is_int(b)):
            raise type_error("% is only for integers (no string formatting)")
        self._div_cost(a, b)
        return self.wide(a % b)

    def floordiv(self, a: Any, b: Any) -> int:
        if not (is_int(a) and is_int(b)):
            raise type_error("// is only for integers")
        self._div_cost(a, b)
        return self.wide(a // b)

    def b_divmod(self, a: Any, b: Any) -> tuple[int, int]:
        if not (is_int(a) and is_int(b)):
            raise type_error("divmod() is only for integers")
        self._div_cost(a, b)
        q, r = divmod(a, b)
        self.produce(72)
        return self.wide(q), self.wide(r)

    def delitem(self, obj: Any, k: Any) -> None:
        """`del x[k]`: deleting from the front of a list moves every later item."""
        if type(obj) is list:
            self.charge(G_OP + (len(obj) >> 4))
        del obj[self.key(k)]

    def or_(self, a: Any, b: Any) -> Any:
        if type(a) is dict and type(b) is dict:
            self._grow(a, len(a) + len(b))
        r = a | b
        return self.wide(r) if type(r) is int else r

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
            self.charge(G_OP + (min(len(a), len(b)) >> 6) * G_CHUNK)
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
            # a needle of the wrong type fails at once; an int in bytes is a linear scan
            self.search(len(c), len(x) if type(x) is tc else 1)
            return x in c
        if tc is list or tc is tuple:
            self.walk(c)
            self.walk(x)
            return x in c
        if tc is range:
            return is_int(x) and x in c
        if tc is Map:
            return c.__contains__(self.key(x))
        raise type_error(f"'in' is not supported for {type_name(c)}")

    def not_contains(self, x: Any, c: Any) -> bool:
        return not self.contains(x, c)

    # -- subscripts, slices, strings ----------------------------------------------------------

    def slice(self, obj: Any, lo: Any, hi: Any, step: Any) -> Any:
        t = type(obj)
        for b in (lo, hi, step):
            if b is not None and not is_int(b):
                raise type_error("slice bounds must be integers")
        s = slice(lo, hi, step)
        if t is range:
            return obj[s]
        if t not in SEQ_TYPES:
            raise type_error(f"{type_name(obj)} cannot be sliced")
        n = len(range(*s.indices(len(obj))))
        self._grow(obj, n, str_width(obj) if t is str else 1)
        return obj[s]

    def to_str(self, x: Any = "") -> str:
        t = type(x)
        if t is str:
            return x
        if t is int:
            self.charge(G_OP + limbs(x) * limbs(x))
            self.produce(STR_HEAD + 20 * limbs(x))
            return str(x)
        if t is bool or x is None:
            return str(x)
        if t in (bytes, list, tuple, dict):
            _, rep = self.walk(x, data_only=True)
            if rep > MAX_STR_LEN:
                raise size_error(f"str longer than {MAX_STR_LEN}")
            # chars counted by their worst escape, bytes by the widest char the repr keeps,
            # twice: the pieces (one repr per element) exist beside the joined result
            self.produce(STR_HEAD + 2 * rep * self.rep_width)
            return repr(x)
        raise type_error(f"cannot convert {type_name(x)} to str")

    def fstr(self, *parts: Any) -> str:
        return self.m_join("", [self.to_str(p) for p in parts])

    # -- attributes and methods ---------------------------------------------------------------

    def attr(self, obj: Any, name: str) -> Any:
        t = type(obj)
        if t is Ctx and name in CTX_FIELDS:
            return getattr(obj, name)
        handler = METHODS.get((t, name))
        if handler is None:
            raise type_error(f"{type_name(obj)} has no attribute {name!r}")
        self.charge(GAS["attr_bind"])

        def bound(*args: Any, **kwargs: Any) -> Any:
            return handler(self, obj, *args, **kwargs)

        return bound

    def meth(self, obj: Any, name: str, /, *args: Any, **kwargs: Any) -> Any:
        handler = METHODS.get((type(obj), name))
        if handler is None:
            if type(obj) is Ctx and name in CTX_FIELDS:
                raise type_error(f"ctx.{name} is not callable")
            raise type_error(f"{type_name(obj)} has no method {name!r}")
        return handler(self, obj, *args, **kwargs)
