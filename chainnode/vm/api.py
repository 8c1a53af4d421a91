"""Wire-level types shared between the VM and the block executor.

Everything here is plain data: frozen dataclasses the executor can hash into receipts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class CompiledContract:
    """A checked contract. Only the source is authoritative; code objects are cached by hash."""

    name: str
    code_hash: bytes  # SM3 of the UTF-8 source
    source: str
    exports: Mapping[str, str]  # method -> "export" | "view", sorted by method name
    has_init: bool  # the module defines a plain top-level `def init(...)`
    # (marshalled code, function table) made by compile_contract: node-local, never hashed or
    # stored; it lets every call load the contract at a price independent of any cache
    image: Any = field(default=None, compare=False, repr=False)


class Host(Protocol):
    """What the executor provides. The VM charges gas around every call."""

    def storage_get(self, contract: str, key: bytes) -> bytes | None: ...

    def load_contract(self, name: str) -> CompiledContract | None: ...

    def has_role(self, address: str, role: str) -> bool: ...


@dataclass(frozen=True)
class CallContext:
    sender: str  # hex address of the transaction signer
    height: int
    time_ms: int  # block timestamp, never the wall clock
    tx_hash: str
    chain_id: str


@dataclass(frozen=True)
class Event:
    contract: str
    name: str
    fields: dict


@dataclass(frozen=True)
class ExecResult:
    ok: bool
    value: object
    gas_used: int
    events: tuple[Event, ...]
    writes: tuple[tuple[str, bytes, bytes | None], ...]
    error_code: str
    error_message: str
