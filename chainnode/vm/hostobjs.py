"""The objects contract code holds: `ctx`, `storage`, `Map(...)` and the type proxies.

They carry no behaviour of their own beyond Python protocol hooks; every operation is routed to
the Runtime, which charges gas and enforces the rules. Slots and a refusing __setattr__ keep
them immutable even if a future guard bug exposed them.
"""

from __future__ import annotations

from typing import Any

# caller_kind: "account" when ctx.caller is an account address (the signer), "contract" when
# it is the name of the contract that made the cross-contract call, "" for an anonymous query
CTX_FIELDS = ("sender", "caller", "caller_kind", "height", "time_ms", "tx_hash", "contract",
              "chain_id")


class _Frozen:
    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("VM objects are read-only")

    def __delattr__(self, name: str) -> None:
        raise TypeError("VM objects are read-only")

    def __reduce__(self):  # never pickled or copied into contract-visible state
        raise TypeError("VM objects cannot be serialised")


class Ctx(_Frozen):
    __slots__ = CTX_FIELDS

    def __init__(self, **fields: Any) -> None:
        for name in CTX_FIELDS:
            object.__setattr__(self, name, fields[name])


class Storage(_Frozen):
    """The calling contract's own key space."""

    __slots__ = ("rt", "frame")

    def __init__(self, rt: Any, frame: Any) -> None:
        object.__setattr__(self, "rt", rt)
        object.__setattr__(self, "frame", frame)


class Map(_Frozen):
    """A prefixed view of storage: m[k] reads key (prefix, k), m[a, b] reads (prefix, a, b)."""

    __slots__ = ("rt", "frame", "prefix")

    def __init__(self, rt: Any, frame: Any, prefix: str) -> None:
        object.__setattr__(self, "rt", rt)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "prefix", prefix)

    def full_key(self, k: Any) -> tuple:
        if type(k) is tuple:
            return (self.prefix, *k)
        return (self.prefix, k)

    def __getitem__(self, k: Any) -> Any:
        return self.rt.storage_get(self.frame, self.full_key(k), None)

    def __setitem__(self, k: Any, v: Any) -> None:
        self.rt.storage_set(self.frame, self.full_key(k), v)

    def __delitem__(self, k: Any) -> None:
        self.rt.storage_delete(self.frame, self.full_key(k))

    def __contains__(self, k: Any) -> bool:
        return self.rt.storage_has(self.frame, self.full_key(k))

    def __iter__(self):
        raise TypeError("a Map cannot be iterated; keep an index in storage")

    __hash__ = None  # type: ignore[assignment]


class TypeProxy(_Frozen):
    """What the names `int`, `str`, `list`... are bound to: callable through a guard, usable
    in isinstance(), and with no reachable attributes of the real type."""

    __slots__ = ("real", "fn")

    def __init__(self, real: type, fn: Any) -> None:
        object.__setattr__(self, "real", real)
        object.__setattr__(self, "fn", fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<type {self.real.__name__}>"
