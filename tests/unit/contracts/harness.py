"""Test harness that runs the power-utility contracts the way the node does.

`Chain` keeps an in-memory key/value store per contract, deploys contract sources from
the repository's contracts/ directory, and executes methods with a CallContext. Writes
are applied only when a call succeeds, exactly like a block executor.

Temporary: until chainnode.vm exposes compile_contract, calls fall back to exec()ing the
source with plain-Python stand-ins for the host API.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainnode import codec

REPO = Path(__file__).resolve().parents[3]
CONTRACTS_DIR = REPO / "contracts"
GAS_LIMIT = 5_000_000  # the client default per transaction
T0 = 1_718_000_000_000  # a block time (ms) used when a test does not care


@dataclass
class Result:
    ok: bool
    value: Any = None
    events: list = field(default_factory=list)
    error_code: str | None = None
    error_message: str = ""
    gas_used: int = 0

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def find(self, name: str, **match: Any) -> list[dict]:
        """Events called `name` whose fields include every `match` item."""
        return [
            fields
            for ev, fields in self.events
            if ev == name and all(fields.get(k) == v for k, v in match.items())
        ]


def load_source(name: str) -> str:
    return (CONTRACTS_DIR / f"{name}.py").read_text(encoding="utf-8")


def exports(name: str) -> dict[str, str]:
    """method -> "export" | "view" as the VM sees the contract."""
    return dict(compile_contract(name, load_source(name)).exports)


# ---------------------------------------------------------------- fallback host


class _Revert(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _key(contract: str, key: Any) -> tuple[str, bytes]:
    if isinstance(key, tuple):
        key = list(key)
    return contract, codec.encode(key)


class _Ctx:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class _Storage:
    def __init__(self, frame: _Frame) -> None:
        self._f = frame

    def get(self, key: Any, default: Any = None) -> Any:
        raw = self._f.writes.get(_key(self._f.contract, key), self._f.chain.store.get(_key(self._f.contract, key)))
        return default if raw is None else codec.decode(raw)

    def set(self, key: Any, value: Any) -> None:
        self._f.writes[_key(self._f.contract, key)] = codec.encode(value)

    def delete(self, key: Any) -> None:
        self._f.writes[_key(self._f.contract, key)] = None

    def has(self, key: Any) -> bool:
        return self.get(key) is not None


class _Frame:
    def __init__(self, chain: Chain, contract: str, writes: dict, events: list) -> None:
        self.chain, self.contract, self.writes, self.events = chain, contract, writes, events


def _half_up(a: int, b: int) -> int:
    q, r = divmod(abs(a), abs(b))
    if 2 * r >= abs(b):
        q += 1
    return q if (a >= 0) == (b > 0) else -q


def _isqrt(n: int) -> int:
    import math

    return math.isqrt(n)


try:  # the real VM when it is there
    from chainnode.vm import CallContext, compile_contract, execute
except ImportError:
    try:
        from chainnode.vm.api import CallContext
        from chainnode.vm.machine import compile_contract, execute
    except ImportError:
        compile_contract = None


class _Host:
    """What the block executor gives the VM: committed state and deployed contracts."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def storage_get(self, contract: str, key: bytes) -> bytes | None:
        return self.chain.store.get((contract, key))

    def load_contract(self, name: str):
        return self.chain.compiled.get(name)

    def has_role(self, address: str, role: str) -> bool:
        return False  # the contracts keep their own role tables


class Chain:
    """An in-memory chain of contracts; one call = one transaction."""

    def __init__(self) -> None:
        self.store: dict[tuple[str, bytes], bytes] = {}
        self.sources: dict[str, str] = {}
        self.compiled: dict = {}
        self.time_ms = T0
        self.height = 1
        self.real = compile_contract is not None

    # -- public API used by tests
    def deploy(self, name: str, /, sender: str = "admin", source_name: str | None = None, **kwargs: Any) -> Result:
        self.sources[name] = load_source(source_name or name)
        if self.real:
            self.compiled[name] = compile_contract(name, self.sources[name])
        return self._run(name, "init", kwargs, sender, is_init=True)

    def call(self, name: str, method: str, sender: str, /, time_ms: int | None = None, **kwargs: Any) -> Result:
        if time_ms is not None:
            self.time_ms = time_ms
        self.height += 1
        return self._run(name, method, kwargs, sender)

    def view(self, name: str, method: str, /, **kwargs: Any) -> Any:
        res = self._run(name, method, kwargs, "viewer", readonly=True)
        assert res.ok, (res.error_code, res.error_message)
        return res.value

    def _run(self, name: str, method: str, kwargs: dict, sender: str, *, readonly: bool = False, is_init: bool = False) -> Result:
        if self.real:
            return self._run_vm(name, method, kwargs, sender, readonly=readonly, is_init=is_init)
        return self._run_fallback(name, method, kwargs, sender, readonly=readonly, is_init=is_init)

    def _run_vm(self, name, method, kwargs, sender, *, readonly, is_init) -> Result:
        ctx = CallContext(sender=sender, height=self.height, time_ms=self.time_ms,
                          tx_hash=f"{self.height:064x}", chain_id="test")
        res = execute(self.compiled[name], method, kwargs, ctx, _Host(self), GAS_LIMIT,
                      readonly=readonly, is_init=is_init)
        if res.ok and not readonly:
            for contract, key, value in res.writes:
                if value is None:
                    self.store.pop((contract, key), None)
                else:
                    self.store[(contract, key)] = value
        events = [(ev.name, ev.fields) for ev in res.events]
        return Result(res.ok, res.value, events, res.error_code or None, res.error_message, res.gas_used)

    # -- fallback executor
    def _run_fallback(self, name: str, method: str, kwargs: dict, sender: str, *, readonly: bool = False, is_init: bool = False) -> Result:
        writes: dict = {}
        events: list = []
        try:
            value = self._invoke(name, method, kwargs, sender, sender, writes, events, is_init=is_init)
        except _Revert as exc:
            return Result(False, None, [], exc.code, exc.message)
        kwargs_roundtrip = codec.decode(codec.encode(value))
        if not readonly:
            for k, v in writes.items():
                if v is None:
                    self.store.pop(k, None)
                else:
                    self.store[k] = v
        return Result(True, kwargs_roundtrip, events)

    def _invoke(self, name, method, kwargs, sender, caller, writes, events, *, is_init=False):
        source = self.sources.get(name)
        if source is None:
            raise _Revert("NOT_FOUND", f"no contract {name}")
        frame = _Frame(self, name, writes, events)
        chain = self

        def require(cond, code, message=""):
            if not cond:
                raise _Revert(code, message)

        def emit(ev, **fields):
            events.append((ev, codec.decode(codec.encode(fields))))

        def call(contract, m, **kw):
            return chain._invoke(contract, m, codec.decode(codec.encode(kw)), sender, name, writes, events)

        def ident(fn):
            return fn

        ns = {
            "ctx": _Ctx(sender=sender, caller=caller, height=self.height, time_ms=self.time_ms,
                        tx_hash="00" * 32, contract=name, chain_id="test"),
            "storage": _Storage(frame), "emit": emit, "require": require, "call": call,
            "export": ident, "view": ident, "has_role": lambda a, r: False,
            "div_half_up": _half_up, "muldiv": lambda a, b, c: _half_up(a * b, c),
            "isqrt": _isqrt, "pow10": lambda n: 10**n,
            "sm3": lambda d: hashlib.sha256(d if isinstance(d, bytes) else str(d).encode()).hexdigest(),
        }
        exec(compile(source, f"<{name}>", "exec"), ns)
        fn = ns.get(method)
        if fn is None:
            raise _Revert("NOT_FOUND", f"no method {method}")
        return fn(**codec.decode(codec.encode(kwargs)))
