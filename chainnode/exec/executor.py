"""Deterministic block execution: same block + same state = same receipts and state root.

The executor never looks at the wall clock, never iterates sets, and turns every failure of a
transaction into a receipt with a stable error code; only block-level faults (a tx that could
never be valid in any block: wrong chain, expired, replayed) make the whole block invalid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chainnode.core.block import Receipt, new_receipt
from chainnode.core.genesis import Genesis
from chainnode.core.tx import Transaction
from chainnode.exec import anchor, governance, readiness, system
from chainnode.exec import params as chain_params
from chainnode.exec.contracts import CONTRACTS, ContractHost, ContractRegistry, contracts_call
from chainnode.exec.senders import SenderCache
from chainnode.exec.state import BlockState, StateReader, TxOverlay, TxState
from chainnode.exec.system import CallFailed, SysResult

log = logging.getLogger("chainnode.exec")

VM_INTERNAL = "VM_INTERNAL"
# a failing disk is the node's fault, not the transaction's: never turned into a receipt
STORAGE_FAULTS: tuple[type[BaseException], ...] = (OSError,)
try:  # plyvel's errors (corruption, I/O) derive from its own base class
    import plyvel as _plyvel

    STORAGE_FAULTS = (OSError, _plyvel.Error)
except ImportError:  # pragma: no cover - plyvel is a hard dependency of the store
    pass
# what depends on the machine, not on the transaction, must never decide a receipt
NODE_FAULTS: tuple[type[BaseException], ...] = (*STORAGE_FAULTS, MemoryError)

DEPLOY_GAS_PER_BYTE = 20  # on top of the flat system-call gas, for deploy and upgrade
DEPLOY_GAS_PER_NODE = 50  # and per syntax node (vm.checker.source_nodes): compiling is per node


class InvalidBlock(Exception):
    """The block can never be valid: replicas refuse to vote for it."""


@dataclass(frozen=True)
class BlockOutcome:
    receipts: tuple[Receipt, ...]
    writes: dict[tuple[str, bytes], bytes | None]
    gas_used: int


class Executor:
    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.registry = ContractRegistry()
        self.senders = SenderCache()
        # committed block hash by height (set by Chain): sys.validators.ready checks against it
        self.block_hash_at: readiness.BlockHashAt | None = None
        self.block_time_at: readiness.BlockTimeAt | None = None

    def genesis_writes(self) -> dict[tuple[str, bytes], bytes | None]:
        bs = BlockState(_Empty())
        ts = TxState(bs)
        system.genesis_writes(self.genesis, ts)
        governance.genesis_writes(self.genesis, ts)
        ts.commit()
        return bs.writes

    def check_tx_static(self, tx: Transaction, height: int,
                        is_committed: Callable[[bytes], bool],
                        params: chain_params.ChainParams | None = None) -> None:
        """Checks every node applies identically to a tx inside a proposed block."""
        p = params if params is not None else chain_params.from_genesis(self.genesis)
        self._static_checker(height, is_committed, p)(tx)

    def _static_checker(self, height: int, is_committed: Callable[[bytes], bool],
                        p: chain_params.ChainParams) -> Callable[[Transaction], None]:
        """check_tx_static for every tx of one block: the limits are read once, not per tx."""
        chain_id = self.chain_id
        latest = height + p.param("max_expiry_window")
        gas_cap = p.param("tx_gas_limit")

        def check(tx: Transaction) -> None:
            if tx.chain_id != chain_id:
                raise InvalidBlock(f"tx {tx.hash.hex()[:16]} is for chain {tx.chain_id!r}")
            if tx.expires_at < height:
                raise InvalidBlock(f"tx {tx.hash.hex()[:16]} expired at {tx.expires_at}")
            if tx.expires_at > latest:
                raise InvalidBlock(f"tx {tx.hash.hex()[:16]} expires too far ahead")
            if tx.gas_limit > gas_cap:
                raise InvalidBlock(f"tx {tx.hash.hex()[:16]} gas limit above chain maximum")
            if is_committed(tx.hash):
                raise InvalidBlock(f"tx {tx.hash.hex()[:16]} already committed")

        return check

    def execute_block(self, base: StateReader, height: int, timestamp_ms: int,
                      txs: Sequence[Transaction], is_committed: Callable[[bytes], bool]
                      ) -> BlockOutcome:
        seen: set[bytes] = set()
        total_gas_limit = 0
        params = chain_params.read(base, self.genesis)  # state at height-1: changes apply at h+1
        check = self._static_checker(height, is_committed, params)
        for tx in txs:
            check(tx)
            if tx.hash in seen:
                raise InvalidBlock(f"tx {tx.hash.hex()[:16]} twice in one block")
            seen.add(tx.hash)
            total_gas_limit += tx.gas_limit
        if total_gas_limit > params.param("block_gas_limit"):
            raise InvalidBlock("sum of tx gas limits exceeds the block gas limit")
        block_state = BlockState(base)
        receipts = []
        gas_total = 0
        for tx in txs:
            rc = self.execute_tx(block_state, tx, height, timestamp_ms)
            gas_total += rc.gas_used
            receipts.append(rc)
        return BlockOutcome(tuple(receipts), block_state.writes, gas_total)

    def execute_tx(self, block_state: BlockState, tx: Transaction, height: int,
                   timestamp_ms: int) -> Receipt:
        """One transaction, contained: whatever escapes its execution or the encoding of its
        receipt becomes a VM_INTERNAL receipt that burns the whole gas limit and writes
        nothing, so no transaction can stop a block from being built or validated.

        The tx runs on its own overlay, merged into the block only with a receipt that
        encodes. Storage faults (OSError, the store's errors) and MemoryError depend on the
        machine, not the tx: they stay node faults and propagate."""
        overlay = TxOverlay(block_state)
        try:
            rc = self._execute_tx(overlay, tx, height, timestamp_ms)
            rc.encode()  # a receipt that cannot be encoded cannot be hashed into the block
        except NODE_FAULTS:
            raise
        except Exception:
            log.exception("tx %s escaped execution; recorded as %s", tx.hash.hex()[:16],
                          VM_INTERNAL)
            return _failed(tx, tx.gas_limit, VM_INTERNAL, "internal error executing the "
                           "transaction; it was charged its gas limit")
        block_state.merge(overlay.writes)
        return rc

    def _execute_tx(self, block_state: BlockState, tx: Transaction, height: int,
                    timestamp_ms: int) -> Receipt:
        sender = self.senders.address(tx.sender)
        ts = TxState(block_state, timestamp_ms)
        rec = self.senders.member(ts, sender)
        if rec is None:
            return _failed(tx, system.SYSTEM_GAS // 10, "TX_NOT_MEMBER",
                           f"sender {sender} is not a registered member")
        try:
            if tx.kind == "system" or tx.kind == "deploy":
                return self._system(block_state, ts, tx, sender, height, timestamp_ms, rec)
            return self._contract_call(block_state, tx, sender, height, timestamp_ms)
        except CallFailed as exc:
            return _failed(tx, min(tx.gas_limit, system.SYSTEM_GAS), exc.code, exc.message)

    def _system(self, block_state: BlockState, ts: TxState, tx: Transaction, sender: str,
                height: int, timestamp_ms: int, sender_rec: dict | None = None) -> Receipt:
        gas = system.SYSTEM_GAS
        source = tx.args.get("source")
        if isinstance(source, str) and (tx.kind == "deploy" or tx.method in ("deploy", "upgrade")):
            # compiling costs real time (~0.3 s for 56 KB): deploys pay per source byte
            gas += DEPLOY_GAS_PER_BYTE * len(source.encode())
            if tx.gas_limit >= gas:  # parse only once the bytes are paid for
                from chainnode.vm.checker import source_nodes

                gas += DEPLOY_GAS_PER_NODE * source_nodes(source)
        if tx.gas_limit < gas:
            return _failed(tx, tx.gas_limit, "VM_OUT_OF_GAS",
                           f"this system call needs {gas} gas, the tx allows {tx.gas_limit}")
        try:
            return self._system_call(block_state, ts, tx, sender, height, timestamp_ms, gas,
                                     sender_rec)
        except CallFailed as exc:
            # a refused deploy cost its compile: it pays the same per-byte gas as an accepted one
            return _failed(tx, gas, exc.code, exc.message)

    def _system_call(self, block_state: BlockState, ts: TxState, tx: Transaction, sender: str,
                     height: int, timestamp_ms: int, gas: int,
                     sender_rec: dict | None = None) -> Receipt:
        contract = CONTRACTS if tx.kind == "deploy" else tx.contract
        init = None
        if contract == anchor.ANCHOR:
            return anchor.run(self, block_state, ts, tx, sender, height, timestamp_ms, gas)
        if contract == system.MEMBERS:
            res = system.members_call(ts, sender, height, tx.method, tx.args, sender_rec)
        elif contract == governance.GOVERNANCE:
            res = governance.call(ts, sender, height, tx.method, tx.args)
        elif contract == system.VALIDATORS:
            res = readiness.call(ts, sender, tx.sender, height, tx.method, tx.args,
                                 self.block_hash_at, self.block_time_at)
        elif contract == CONTRACTS:
            method = "deploy" if tx.kind == "deploy" else tx.method
            args = dict(tx.args)
            if tx.kind == "deploy":
                args.setdefault("name", tx.contract)
            res, init = contracts_call(self.registry, ts, sender, height, method, args)
            if method == "deploy" and init is None and tx.args.get("init_args"):
                raise CallFailed("BAD_ARGS", "init_args given but the contract has no "
                                 "constructor (a plain top-level def init(...))")
        else:
            raise CallFailed("NO_CONTRACT", f"no system contract {contract!r}")
        if init is not None:
            init_args = tx.args.get("init_args", {})
            if not isinstance(init_args, dict):
                raise CallFailed("BAD_ARGS", "init_args must be a map")
            child = BlockState(block_state)
            child.apply((c, k, v) for (c, k), v in sorted(ts.writes.items()))
            r = self._vm_run(child, init, "init", init_args, tx, sender, height, timestamp_ms,
                             tx.gas_limit - gas, is_init=True)
            if not r.ok:
                return _failed(tx, gas + r.gas_used, r.error_code,
                               f"constructor failed: {r.error_message}")
            ts.commit()
            block_state.apply(r.writes)
            events = res.events + [(e.contract, e.name, e.fields) for e in r.events]
            return Receipt(tx.hash, Receipt.OK, gas + r.gas_used, res.value, tuple(events))
        ts.commit()
        return _ok(tx, gas, res)

    def _contract_call(self, block_state: BlockState, tx: Transaction, sender: str, height: int,
                       timestamp_ms: int) -> Receipt:
        ts = TxState(block_state)
        rec = self.registry.record(ts, tx.contract)
        if rec is None:
            raise CallFailed("NO_CONTRACT", f"no contract {tx.contract!r}")
        if rec.get("frozen"):
            raise CallFailed("CONTRACT_FROZEN", f"contract {tx.contract!r} is frozen")
        compiled = self.registry.load(ts, tx.contract)
        r = self._vm_run(block_state, compiled, tx.method, tx.args, tx, sender, height,
                         timestamp_ms, tx.gas_limit)
        if not r.ok:
            return _failed(tx, r.gas_used, r.error_code, r.error_message)
        block_state.apply(r.writes)
        return Receipt(tx.hash, Receipt.OK, r.gas_used, r.value,
                       tuple((e.contract, e.name, e.fields) for e in r.events))

    def _vm_run(self, state: BlockState, compiled, method: str, args: dict, tx: Transaction,
                sender: str, height: int, timestamp_ms: int, gas_limit: int, *,
                is_init: bool = False):
        from chainnode.vm import CallContext, execute

        ctx = CallContext(sender=sender, height=height, time_ms=timestamp_ms,
                          tx_hash=tx.hash.hex(), chain_id=self.chain_id)
        return execute(compiled, method, dict(args), ctx, ContractHost(state, self.registry),
                       gas_limit, is_init=is_init)

    def query(self, base: StateReader, contract: str, method: str, args: dict, height: int,
              timestamp_ms: int, sender: str = "", gas_limit: int = 2_000_000,
              deadline: float | None = None):
        """Run a @view read-only against committed state (POST /query). `sender` is an
        authenticated address or "" (anonymous); `deadline` a time.monotonic() limit."""
        from chainnode.vm import CallContext, execute

        block_state = BlockState(base)
        ts = TxState(block_state)
        if contract == system.MEMBERS:
            return system.members_call(ts, sender, height, "get", args)
        if contract == governance.GOVERNANCE:
            return governance.query(ts, height + 1, method, args)  # as the next block sees it
        if contract == anchor.ANCHOR:
            return anchor.query(ts, timestamp_ms, method, args)
        compiled = self.registry.load(ts, contract)
        if compiled is None:
            raise CallFailed("NO_CONTRACT", f"no contract {contract!r}")
        ctx = CallContext(sender=sender, height=height, time_ms=timestamp_ms, tx_hash="",
                          chain_id=self.chain_id)
        host = ContractHost(block_state, self.registry, allow_frozen=True)
        return execute(compiled, method, dict(args), ctx, host, gas_limit, readonly=True,
                       deadline=deadline)


def _ok(tx: Transaction, gas: int, res: SysResult) -> Receipt:
    return new_receipt(tx.hash, Receipt.OK, gas, res.value, tuple(res.events))


def _failed(tx: Transaction, gas: int, code: str, message: str) -> Receipt:
    """Every failed receipt's message is bounded (256 characters) and escaped here, whatever
    produced it: system-call messages quote transaction arguments."""
    from chainnode.vm import errtext

    return new_receipt(tx.hash, Receipt.FAILED, gas, None, (), code,
                       errtext.bounded(message))


class _Empty:
    def state_get(self, contract: str, key: bytes) -> bytes | None:
        return None
