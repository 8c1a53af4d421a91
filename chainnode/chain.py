"""The block pipeline between consensus and storage: build, validate, commit.

Consensus decides WHICH block; this module knows HOW a block is made and checked: execute its
transactions on the committed head state, compute the roots, compare them with the header, and
write the block with its certificate in one synced batch. One block is in flight at a time, so
execution always starts from the committed head.

Block time is BFT time: a block carries its parent's commit certificate, and its timestamp is
the median of that certificate's vote times (at least parent + 1 ms), so the leader's clock
plays no part and every replica checks the time exactly. No local clock is read here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from chainnode import codec
from chainnode.core.block import (
    Block,
    BlockHeader,
    Receipt,
    last_commit_hash,
    receipt_root,
    tx_root,
)
from chainnode.core.certificate import CommitCertificate, bft_time
from chainnode.core.genesis import Genesis, Validator, validators_hash
from chainnode.core.tx import Transaction
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PublicKey
from chainnode.epochs import ChainEpoch, EpochBook, genesis_epoch, set_from_state
from chainnode.exec import params as chain_params
from chainnode.exec.executor import BlockOutcome, Executor, InvalidBlock
from chainnode.exec.system import PARAMS, VALIDATORS
from chainnode.store.db import ChainDB, Head

log = logging.getLogger("chainnode.chain")

VoteVerifier = Callable[[bytes, str, bytes, bytes], bool]  # (public key, domain, payload, sig)
_SET_KEY = codec.encode("set")
_PARAMS_KEY = chain_params.PARAMS_KEY


@dataclass(frozen=True)
class Executed:
    block: Block
    outcome: BlockOutcome
    nodes: dict[bytes, bytes]
    # the block's canonical encoding once known (the proposal sent, or the bytes a replica
    # decoded the block from): the commit stores it instead of encoding the block again
    block_bytes: bytes = field(default=b"", compare=False, repr=False)

    def encoded(self) -> bytes:
        if not self.block_bytes:
            object.__setattr__(self, "block_bytes", self.block.encode())
        return self.block_bytes

    def with_bytes(self, raw: bytes) -> Executed:
        """This result, knowing `raw` is its block's encoding (the block was decoded from
        it: codec.decode accepts canonical bytes only, so they re-encode identically)."""
        object.__setattr__(self, "block_bytes", raw)
        return self


class Chain:
    def __init__(self, db: ChainDB, genesis: Genesis) -> None:
        self.db = db
        self.genesis = genesis
        self.executor = Executor(genesis)
        self.executor.block_hash_at = self._block_hash_at
        self.executor.block_time_at = self._block_ts
        self.lock = threading.Lock()  # execution and commit are serialized
        head = db.head()
        if head is None:
            head = db.write_genesis(genesis.hash(), self.executor.genesis_writes())
            log.info("initialised chain %s from genesis %s, state root %s", genesis.chain_id,
                     genesis.hash().hex()[:16], head.state_root.hex()[:16])
        elif db.genesis_hash() != genesis.hash():
            raise RuntimeError("the data directory belongs to another genesis; refusing to start")
        self.head: Head = head
        # the validator set (and view timeouts) of every height: genesis, then each change
        # recorded with the block that decided it (chainnode.epochs)
        self.book = EpochBook(genesis_epoch(genesis), db.epochs())
        self._last_ts = self._block_ts(head.height)
        # governance: the set committed in state (the NEXT set) and the live parameters
        self.next_vhash = self._state_vhash(None)
        self.params = chain_params.read(db, genesis)

    def _block_hash_at(self, height: int) -> bytes | None:
        """Hash of the committed block at `height` (0: the genesis hash), from its certificate."""
        if height == 0:
            return self.db.genesis_hash()
        cert = self.db.certificate(height)
        return None if cert is None else cert.block_hash

    # -- validator sets per height (governance switches them at h+1)
    @property
    def validators(self) -> tuple[Validator, ...]:
        """The set that signs the next block (head + 1)."""
        return self.book.at(self.head.height + 1).validators

    @property
    def vhash(self) -> bytes:
        return validators_hash(self.validators)

    def validators_at(self, height: int) -> tuple[Validator, ...]:
        """The validator set that signs block `height` (any committed height, or head + 1).
        It changes only at the height after a block whose governance decision changed it."""
        if height > self.head.height + 1:
            raise ValueError(f"the set of height {height} is not known before height "
                             f"{height - 1} is committed (head {self.head.height})")
        return self.book.at(height).validators

    def epoch_at(self, height: int) -> ChainEpoch:
        """Validator set and view timeouts in force at `height` (as validators_at)."""
        return self.book.at(height)

    def epochs(self) -> list[ChainEpoch]:
        """Every epoch up to the one governing head + 1, oldest first."""
        return list(self.book.epochs)

    def recent_epochs(self, n: int) -> tuple[ChainEpoch, ...]:
        """The last `n` of `epochs()` without copying them (per consensus frame)."""
        return self.book.recent(n)

    def recent_validator_keys(self, n: int) -> frozenset[bytes]:
        """Validator public keys of the last `n` epochs (per consensus frame)."""
        return self.book.recent_keys(n)

    def _epoch_after(self, height: int, writes: dict) -> ChainEpoch | None:
        """The rules that govern height + 1 if block `height`'s writes change them."""
        cur = self.book.at(height)
        raw = writes.get((VALIDATORS, _SET_KEY))
        vals = set_from_state(raw) if raw is not None else cur.validators
        params = (chain_params.read(_Overlay(self.db, writes), self.genesis)
                  if (PARAMS, _PARAMS_KEY) in writes else self.params)
        nxt = ChainEpoch(height + 1, vals, params.param("view_timeout_ms"),
                         params.param("max_view_timeout_ms"))
        return None if nxt.same_rules(cur) else nxt

    def _state_vhash(self, writes: dict | None) -> bytes:
        """validators_hash of sys.validators["set"] after `writes` (None: committed state)."""
        key = (VALIDATORS, _SET_KEY)
        raw = writes[key] if writes is not None and key in writes else None
        if raw is None:
            if writes is not None:
                return self.next_vhash
            raw = self.db.state_get(VALIDATORS, _SET_KEY)
        if raw is None:
            return self.vhash
        return sm3(raw)  # the state value IS codec([[name, key], ...]): the same preimage

    def split_admissible(self, txs: list[Transaction]
                         ) -> tuple[list[Transaction], list[Transaction]]:
        """(fit for the next block, never fit under the live params): a governed lower
        tx_gas_limit or max_expiry_window must not make the leader's whole batch unbuildable."""
        height = self.head.height + 1
        fit, refused = [], []
        for tx in txs:
            try:
                self.executor.check_tx_static(tx, height, self.is_committed, self.params)
                fit.append(tx)
            except InvalidBlock:
                refused.append(tx)
        return fit, refused

    def param(self, name: str):
        """A chain parameter in force for the next block (state-backed, governance-aware)."""
        return self.params.param(name)

    def _block_ts(self, height: int) -> int:
        if height == 0:
            return self.genesis.timestamp_ms
        b = self.db.block(height)
        return b.header.timestamp_ms if b else 0

    def is_committed(self, tx_hash: bytes) -> bool:
        return self.db.has_tx(tx_hash)

    def validator_index(self, pub: bytes, height: int | None = None) -> int | None:
        """Index of `pub` in the set of `height` (default: the next block's set)."""
        vals = self.validators if height is None else self.validators_at(height)
        for i, v in enumerate(vals):
            if v.public_key == pub:
                return i
        return None

    def verify_member(self, public_key: bytes, dom: str, payload: bytes, sig: bytes) -> bool:
        """The consensus core's verifier: a validator named by its key (the core maps each
        index to the key of the set of the message's height)."""
        try:
            return domain.verify(PublicKey(public_key), dom, self.genesis.chain_id, payload,
                                 sig)
        except Exception:  # noqa: BLE001 - a malformed key or signature is just "no"
            return False

    def verify_vote_any(self, index: int, dom: str, payload: bytes, sig: bytes) -> bool:
        """Verify by index in the next block's set (head + 1)."""
        vals = self.validators
        if not 0 <= index < len(vals):
            return False
        return self.verify_member(vals[index].public_key, dom, payload, sig)

    def check_certificate(self, cert: CommitCertificate, height: int, block_hash: bytes,
                          verify_vote: VoteVerifier | None = None) -> None:
        """Raise ValueError unless `cert` is a valid quorum certificate for that block,
        signed by the validator set OF THAT HEIGHT (a certificate of the old set for a
        height after a change is refused).

        `verify_vote(public_key, domain, payload, sig)` (default: SM2) may answer from
        signatures the caller already checked, e.g. the COMMITs consensus received; it is
        asked only about keys of that height's set."""
        vals = self.validators_at(height)
        if verify_vote is None:
            def check(i: int, payload: bytes, sig: bytes) -> bool:
                return self.verify_member(vals[i].public_key, "commit", payload, sig)
        else:
            def check(i: int, payload: bytes, sig: bytes) -> bool:
                return verify_vote(vals[i].public_key, "commit", payload, sig)
        try:
            cert.check(len(vals), check, chain_id=self.genesis.chain_id, height=height,
                       block_hash=block_hash)
        except ValueError as exc:
            raise ValueError(f"{exc} (checked against the {len(vals)} validators of height "
                             f"{height}, set {validators_hash(vals).hex()[:12]})") from exc

    # -- build (leader)
    def build(self, txs: list[Transaction], view: int, proposer: int) -> Executed:
        with self.lock:
            head = self.head
            height = head.height + 1
            last = self.db.certificate(head.height) if head.height else None
            ts = bft_time(self._last_ts, last, self.genesis.timestamp_ms)
            outcome = self.executor.execute_block(self.db, height, ts, txs, self.is_committed)
            root, nodes = self.db.compute_state_update(head.state_root, outcome.writes)
            header = BlockHeader(
                chain_id=self.genesis.chain_id, height=height, prev_hash=head.block_hash,
                timestamp_ms=ts, proposer=proposer, view=view, tx_root=tx_root(txs),
                receipt_root=receipt_root(outcome.receipts), state_root=root,
                validators_hash=self.vhash,
                next_validators_hash=self._state_vhash(outcome.writes),
                last_commit_hash=last_commit_hash(last))
            return Executed(Block(header, tuple(txs), last), outcome, nodes)

    # -- validate (replica)
    def validate(self, block: Block, verify_tx: Callable[[Transaction], bool],
                 certified: bool = False, verify_vote: VoteVerifier | None = None) -> Executed:
        """Re-execute a proposed block; raise InvalidBlock unless every root matches.

        `certified`: a quorum already certified this block (sync, commit), so the signatures
        of the parent certificate it carries were checked by 2f+1 validators and its header
        binds them; its time is still recomputed. `verify_vote`: see check_certificate.

        Callers on certified paths pass a `verify_tx` that accepts every tx: the quorum
        verified the signatures of the body it certified. That holds only for THAT body, so
        the tx_root check below runs on every path, certified or not: its leaves cover each
        tx's signature (Transaction.witness_hash), so a body with the certified tx hashes but
        other signature bytes fails here and is never stored or served.
        """
        with self.lock:
            h = block.header
            head = self.head
            if h.chain_id != self.genesis.chain_id:
                raise InvalidBlock("block is for another chain")
            if h.height != head.height + 1 or h.prev_hash != head.block_hash:
                raise InvalidBlock(f"block {h.height} does not extend head {head.height}")
            self._check_time(block, certified, verify_vote)
            if h.validators_hash != self.vhash:
                raise InvalidBlock("block names another validator set")
            # never skipped, certified or not: it ties every tx's body AND signature bytes to
            # the header hash the certificate signs (the certified paths' only tx check)
            if h.tx_root != block.computed_tx_root():
                raise InvalidBlock("tx_root does not match the transactions")
            if len(block.txs) > self.params.param("max_block_txs"):
                raise InvalidBlock("too many transactions in block")
            for tx in block.txs:
                if not verify_tx(tx):
                    raise InvalidBlock(f"tx {tx.hash.hex()[:16]} has a bad signature")
            outcome = self.executor.execute_block(self.db, h.height, h.timestamp_ms, block.txs,
                                                  self.is_committed)
            if receipt_root(outcome.receipts) != h.receipt_root:
                raise InvalidBlock("receipt_root mismatch: execution diverged")
            root, nodes = self.db.compute_state_update(head.state_root, outcome.writes)
            if root != h.state_root:
                raise InvalidBlock("state_root mismatch: execution diverged")
            if h.next_validators_hash != self._state_vhash(outcome.writes):
                raise InvalidBlock("next_validators_hash does not match the committed set")
            return Executed(block, outcome, nodes)

    def _check_time(self, block: Block, certified: bool,
                    verify_vote: VoteVerifier | None) -> None:
        """BFT time: the block carries a valid certificate of its parent, and its time is
        exactly the one that certificate's vote times give. No local clock is consulted, so a
        node whose clock is off accepts honest blocks all the same."""
        h, head, last = block.header, self.head, block.last_commit
        if h.last_commit_hash != last_commit_hash(last):
            raise InvalidBlock("block's last commit does not match its header")
        if head.height == 0:
            if last is not None:
                raise InvalidBlock("the first block carries no parent certificate")
        elif last is None:
            raise InvalidBlock("block carries no certificate of its parent")
        elif not certified and last != self.db.certificate(head.height):
            try:
                self.check_certificate(last, head.height, head.block_hash, verify_vote)
            except ValueError as exc:
                raise InvalidBlock(f"block's parent certificate is invalid: {exc}") from exc
        elif last.height != head.height or last.block_hash != head.block_hash:
            raise InvalidBlock("block's parent certificate is for another block")
        want = bft_time(self._last_ts, last, self.genesis.timestamp_ms)
        if h.timestamp_ms != want:
            raise InvalidBlock(f"block time {h.timestamp_ms} is not the BFT time {want} of "
                               "its parent certificate")

    # -- commit
    def commit(self, ex: Executed, cert: CommitCertificate) -> Head:
        with self.lock:
            if ex.block.height != self.head.height + 1:
                raise InvalidBlock("commit out of order")
            if (cert.height != ex.block.height or cert.block_hash != ex.block.hash
                    or cert.chain_id != self.genesis.chain_id):
                # a faulty leader can pair a certified hash with another body: never store
                # a block under a certificate of something else (a fork on this node)
                raise InvalidBlock("commit certificate is for another block")
            nxt = self._epoch_after(ex.block.height, ex.outcome.writes)
            if nxt is not None and nxt.vhash != ex.block.header.next_validators_hash:
                raise InvalidBlock("next_validators_hash does not match the set in state")
            self.head = self.db.commit_block(ex.block, cert, list(ex.outcome.receipts),
                                             ex.outcome.writes, ex.nodes,
                                             nxt.encode() if nxt is not None else None,
                                             block_bytes=ex.encoded())
            self._last_ts = ex.block.header.timestamp_ms
            self.next_vhash = ex.block.header.next_validators_hash
            if (PARAMS, _PARAMS_KEY) in ex.outcome.writes:
                self.params = chain_params.read(self.db, self.genesis)
            if nxt is not None:
                self.book.add(nxt)
                log.info("height %d on: %d validators (set %s), view timeout %d..%d ms",
                         nxt.start, len(nxt.validators), nxt.vhash.hex()[:12],
                         nxt.view_timeout_ms, nxt.max_view_timeout_ms)
            return self.head

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        return self.db.receipt(tx_hash)


class _Overlay:
    """Committed state with one block's writes on top (a StateReader for chain_params)."""

    def __init__(self, db: ChainDB, writes: dict) -> None:
        self.db, self.writes = db, writes

    def state_get(self, contract: str, key: bytes) -> bytes | None:
        if (contract, key) in self.writes:
            return self.writes[(contract, key)]
        return self.db.state_get(contract, key)
