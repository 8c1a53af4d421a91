"""An in-memory Host for tests, benchmarks and contract authors' local runs.

It applies a call's writes only when the call succeeded, exactly as the block executor does,
so contract tests written against it behave like the chain.
"""

from __future__ import annotations

from typing import Any

from chainnode.vm.api import CallContext, CompiledContract, ExecResult
from chainnode.vm.machine import compile_contract, execute

DEFAULT_GAS = 10_000_000


class MemoryHost:
    def __init__(self, chain_id: str = "local") -> None:
        self.state: dict[tuple[str, bytes], bytes] = {}
        self.contracts: dict[str, CompiledContract] = {}
        self.roles: set[tuple[str, str]] = set()
        self.chain_id = chain_id
        self.height = 1
        self.time_ms = 1_700_000_000_000
        self.events: list[Any] = []

    # Host protocol
    def storage_get(self, contract: str, key: bytes) -> bytes | None:
        return self.state.get((contract, key))

    def load_contract(self, name: str) -> CompiledContract | None:
        return self.contracts.get(name)

    def has_role(self, address: str, role: str) -> bool:
        return (address, role) in self.roles

    # conveniences
    def apply(self, result: ExecResult) -> None:
        if not result.ok:
            return
        for contract, key, value in result.writes:
            if value is None:
                self.state.pop((contract, key), None)
            else:
                self.state[(contract, key)] = value
        self.events.extend(result.events)

    def context(self, sender: str, tx_hash: str = "00" * 32) -> CallContext:
        return CallContext(sender=sender, height=self.height, time_ms=self.time_ms,
                           tx_hash=tx_hash, chain_id=self.chain_id)

    def deploy(self, name: str, source: str, *, sender: str = "deployer",
               gas: int = DEFAULT_GAS, **init_args: Any) -> ExecResult | None:
        compiled = compile_contract(name, source)
        result = None
        if compiled.has_init:
            result = execute(compiled, "init", init_args, self.context(sender), self, gas,
                             is_init=True)
            if not result.ok:
                return result
            self.apply(result)
        self.contracts[name] = compiled
        return result

    def call(self, name: str, method: str, *, sender: str = "alice", gas: int = DEFAULT_GAS,
             readonly: bool = False, **kwargs: Any) -> ExecResult:
        result = execute(self.contracts[name], method, kwargs, self.context(sender), self, gas,
                         readonly=readonly)
        self.apply(result)
        return result
