"""Test harness that runs the power-utility contracts in the real contract VM.

`Chain` plays the block executor: an in-memory key/value store per contract, contracts
compiled from the repository's contracts/ directory with `compile_contract` (so the deploy
checker sees exactly the shipped sources), and every call run by `execute` with a
CallContext. Writes are applied only when a call succeeds; views run read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainnode.vm import CallContext, CompiledContract, compile_contract, execute

REPO = Path(__file__).resolve().parents[3]
CONTRACTS_DIR = REPO / "contracts"
GAS_LIMIT = 5_000_000  # the client's default per transaction: batches must fit in it
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


class _Host:
    """What the block executor gives the VM: committed state and deployed contracts."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def storage_get(self, contract: str, key: bytes) -> bytes | None:
        return self.chain.store.get((contract, key))

    def load_contract(self, name: str) -> CompiledContract | None:
        return self.chain.compiled.get(name)

    def has_role(self, address: str, role: str) -> bool:
        return False  # the contracts keep their own role tables


class Chain:
    """An in-memory chain of contracts; one call = one transaction in its own block."""

    def __init__(self) -> None:
        self.store: dict[tuple[str, bytes], bytes] = {}
        self.compiled: dict[str, CompiledContract] = {}
        self.time_ms = T0
        self.height = 1

    def deploy(self, name: str, /, sender: str = "admin", **kwargs: Any) -> Result:
        self.compiled[name] = compile_contract(name, load_source(name))
        return self._run(name, "init", kwargs, sender, is_init=True)

    def call(self, name: str, method: str, sender: str, /, time_ms: int | None = None,
             **kwargs: Any) -> Result:
        if time_ms is not None:
            self.time_ms = time_ms
        self.height += 1
        return self._run(name, method, kwargs, sender)

    def view(self, name: str, method: str, /, **kwargs: Any) -> Any:
        res = self._run(name, method, kwargs, "viewer", readonly=True)
        assert res.ok, (res.error_code, res.error_message)
        return res.value

    def _run(self, name: str, method: str, kwargs: dict, sender: str, *,
             readonly: bool = False, is_init: bool = False) -> Result:
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
        return Result(res.ok, res.value, events, res.error_code or None, res.error_message,
                      res.gas_used)
