"""`sys.contracts`: deploy, upgrade, freeze and unfreeze user contracts, and run their calls.

Code lives in state (so every node and every state proof agrees on it); the compiled form is
cached per code hash because compilation is deterministic.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chainnode.core.tx import NAME_RE
from chainnode.crypto.address import is_address
from chainnode.exec.state import BlockState, TxState
from chainnode.exec.system import CallFailed, SysResult, _need, has_role

CONTRACTS = "sys.contracts"
MAX_SOURCE_BYTES = 64 * 1024


class ContractHost:
    """The VM's view of the chain: reads through the block overlay, roles from sys.members."""

    def __init__(self, block_state: BlockState, registry: ContractRegistry, *,
                 allow_frozen: bool = False) -> None:
        self.block_state = block_state
        self.registry = registry
        self.allow_frozen = allow_frozen  # read-only queries may still read a frozen contract

    def storage_get(self, contract: str, key: bytes) -> bytes | None:
        return self.block_state.state_get(contract, key)

    def load_contract(self, name: str):
        """A cross-contract call's target. A frozen one refuses transactions however they
        reach it: HostRefused fails the whole call with the gas burnt so far."""
        from chainnode.vm.errors import HostRefused

        if not valid_name(name):
            return None
        state = TxState(self.block_state)
        if not self.allow_frozen:
            rec = self.registry.record(state, name)
            if rec is not None and rec.get("frozen"):
                raise HostRefused("CONTRACT_FROZEN", f"contract {name} is frozen")
        return self.registry.load(state, name)

    def has_role(self, address: str, role: str) -> bool:
        """Only accounts hold roles: a contract name can never have an address's shape."""
        if not is_address(address):
            return False
        return has_role(TxState(self.block_state), address, role)


def rejection_text(exc) -> str:
    """A refused deploy's receipt message: position, rule and the checker's own text, bounded
    and escaped. CPython's syntax-error wording changes between interpreter versions, so for
    the `syntax` rule the receipt says only where (compile locally for the details)."""
    from chainnode.vm import errtext

    text = "invalid syntax" if exc.rule == "syntax" else errtext.bounded(exc.message, 160)
    return f"line {int(exc.line)} col {int(exc.col)} [{errtext.escape(exc.rule, 32)}] {text}"


def valid_name(name: object) -> bool:
    """A user contract's name: the transaction name rule, minus the two reserved shapes.

    `sys.` names are the native contracts; 40 lowercase hex characters is the shape of an
    account address (chainnode.crypto.address), refused so that a contract can never pose as
    an account in `ctx.caller` or `has_role` checks."""
    return (isinstance(name, str) and len(name) <= 64 and NAME_RE.fullmatch(name) is not None
            and not name.startswith("sys.") and not is_address(name))


class ContractRegistry:
    def __init__(self) -> None:
        self._cache: dict[bytes, Any] = {}

    def compile(self, name: str, source: str):
        from chainnode.vm import ContractRejected, compile_contract

        try:
            compiled = compile_contract(name, source)
        except ContractRejected as exc:
            raise CallFailed("CONTRACT_REJECTED", rejection_text(exc)) from exc
        self._cache[compiled.code_hash] = compiled
        return compiled

    def load(self, state: TxState, name: str, *, allow_frozen: bool = True):
        rec = state.get(CONTRACTS, name)
        if not isinstance(rec, dict):
            return None
        if rec.get("frozen") and not allow_frozen:
            return None
        code_hash = rec["code_hash"]
        compiled = self._cache.get(code_hash)
        if compiled is None:
            source = state.get(CONTRACTS, ["code", code_hash])
            compiled = self.compile(name, source)
        if compiled.name != name:
            # The cache is per code hash, but a contract runs (storage, events) under its own
            # name: two contracts deployed from the same source must not share one.
            compiled = dataclasses.replace(compiled, name=name)
        return compiled

    def record(self, state: TxState, name: str) -> dict | None:
        rec = state.get(CONTRACTS, name)
        return rec if isinstance(rec, dict) else None


def contracts_call(registry: ContractRegistry, state: TxState, sender: str, height: int,
                   method: str, args: dict) -> tuple[SysResult, Any]:
    """Lifecycle calls. Returns (result, compiled-to-init or None)."""
    name = args.get("name")
    _need(valid_name(name), "BAD_ARGS",
          "contract name must match [a-z][a-z0-9_.]{0,63}, not start with 'sys.' and not "
          "have the shape of an account address (40 hex characters)")
    if method == "get":
        rec = registry.record(state, name)
        return SysResult(None if rec is None else {k: v for k, v in rec.items()}), None
    rec = registry.record(state, name)
    if method in ("deploy", "upgrade"):
        _need(has_role(state, sender, "operator") or has_role(state, sender, "admin"),
              "PERMISSION_DENIED", f"only operators or admins may {method} contracts")
        source = args.get("source")
        _need(isinstance(source, str), "BAD_ARGS", "source must be a string")
        _need(len(source.encode()) <= MAX_SOURCE_BYTES, "BAD_ARGS",
              f"source larger than {MAX_SOURCE_BYTES} bytes")
        if method == "deploy":
            _need(rec is None, "CONTRACT_EXISTS", f"contract {name!r} already deployed")
        else:
            _need(rec is not None, "NO_CONTRACT", f"no contract {name!r}")
            _need(rec["owner"] == sender or has_role(state, sender, "admin"), "PERMISSION_DENIED",
                  "only the contract owner or an admin may upgrade it")
        compiled = registry.compile(name, source)
        version = 1 if rec is None else rec["version"] + 1
        new = {"code_hash": compiled.code_hash, "version": version,
               "owner": sender if rec is None else rec["owner"],
               "frozen": False if rec is None else bool(rec.get("frozen")),
               "deployed_at": height if rec is None else rec["deployed_at"], "updated_at": height}
        state.set(CONTRACTS, name, new)
        state.set(CONTRACTS, ["code", compiled.code_hash], source)
        event = "ContractDeployed" if method == "deploy" else "ContractUpgraded"
        res = SysResult({"name": name, "version": version, "code_hash": compiled.code_hash.hex()},
                        [(CONTRACTS, event, {"name": name, "version": version,
                                             "code_hash": compiled.code_hash})])
        init = compiled if (method == "deploy" and compiled.has_init) else None
        return res, init
    if method in ("freeze", "unfreeze"):
        _need(has_role(state, sender, "admin"), "PERMISSION_DENIED",
              f"only admins may {method} contracts")
        _need(rec is not None, "NO_CONTRACT", f"no contract {name!r}")
        state.set(CONTRACTS, name, {**rec, "frozen": method == "freeze"})
        ev = "ContractFrozen" if method == "freeze" else "ContractUnfrozen"
        return SysResult(True, [(CONTRACTS, ev, {"name": name})]), None
    raise CallFailed("NO_METHOD", f"sys.contracts has no method {method!r}")
