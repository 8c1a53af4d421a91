"""Block headers, blocks and receipts.

The header commits to everything a light client needs: the tx and receipt Merkle roots, the
state root AFTER executing the block, and the hash of the validator set that signs it (plus the
next one, so a light client can follow validator-set changes from certified headers alone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chainnode import codec
from chainnode.core.certificate import CommitCertificate
from chainnode.core.tx import Transaction
from chainnode.crypto.hashing import sm3
from chainnode.crypto.merkle import merkle_root
from chainnode.errors import ChainError

NO_LAST_COMMIT = bytes(32)
# raw tx bytes -> the Transaction already decoded from exactly those bytes, or None
TxLookup = Callable[[bytes], "Transaction | None"]
_BLOCK_HEAD = codec.array_header(3)
# a block's tx args sit at depth 3 ([header, [.., [.., args, ..], ..], cert]): deeper than this
# relative nesting they break the block-wide depth limit
TX_ARGS_NESTING = codec.MAX_DEPTH - 3


def last_commit_hash(cert: CommitCertificate | None) -> bytes:
    """What a header records about the parent certificate its block carries."""
    return NO_LAST_COMMIT if cert is None else sm3(cert.encode())


def _reused(lookup: TxLookup, w: Any, raw: bytes) -> Transaction:
    """The tx `raw` encodes: `lookup`'s when its bytes are exactly `raw`, else decoded."""
    tx = lookup(raw)
    if tx is not None and tx.encode() == raw:
        return tx
    return Transaction.from_wire(w, raw)


@dataclass(frozen=True)
class BlockHeader:
    chain_id: str
    height: int
    prev_hash: bytes
    timestamp_ms: int
    proposer: int
    view: int
    tx_root: bytes
    receipt_root: bytes
    state_root: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    # sm3 of the parent's commit certificate the block carries (its time is derived from
    # that certificate's vote times: BFT time); NO_LAST_COMMIT at height 1
    last_commit_hash: bytes = NO_LAST_COMMIT

    def to_wire(self) -> list:
        return [self.chain_id, self.height, self.prev_hash, self.timestamp_ms, self.proposer,
                self.view, self.tx_root, self.receipt_root, self.state_root,
                self.validators_hash, self.next_validators_hash, self.last_commit_hash]

    @classmethod
    def from_wire(cls, w: Any) -> BlockHeader:
        if not isinstance(w, list) or len(w) != 12:
            raise ValueError("header must be a 12-element list")
        types = (str, int, bytes, int, int, int, bytes, bytes, bytes, bytes, bytes, bytes)
        for v, t in zip(w, types, strict=True):
            if type(v) is not t:
                raise ValueError("header field has the wrong type")
        if w[1] < 0 or w[3] < 0 or w[4] < 0 or w[5] < 0:
            raise ValueError("header height, timestamp, proposer and view are non-negative")
        for v in w[6:] + [w[2]]:
            if len(v) != 32:
                raise ValueError("header hash fields must be 32 bytes")
        return cls(*w)

    def hash(self) -> bytes:
        return sm3(codec.encode(self.to_wire()))

    def to_json(self) -> dict:
        return {
            "chain_id": self.chain_id, "height": self.height, "prev_hash": self.prev_hash.hex(),
            "timestamp_ms": self.timestamp_ms, "proposer": self.proposer, "view": self.view,
            "tx_root": self.tx_root.hex(), "receipt_root": self.receipt_root.hex(),
            "state_root": self.state_root.hex(), "validators_hash": self.validators_hash.hex(),
            "next_validators_hash": self.next_validators_hash.hex(),
            "last_commit_hash": self.last_commit_hash.hex(), "hash": self.hash().hex(),
        }


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    txs: tuple[Transaction, ...]
    # the parent's commit certificate (None at height 1): the block's time derives from it
    last_commit: CommitCertificate | None = None
    hash: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", self.header.hash())

    @property
    def height(self) -> int:
        return self.header.height

    def to_wire(self) -> list:
        return [self.header.to_wire(), [tx.to_wire() for tx in self.txs],
                None if self.last_commit is None else self.last_commit.to_wire()]

    def encode(self) -> bytes:
        """codec.encode(self.to_wire()), put together from each tx's cached bytes: a canonical
        array is its header and its items' encodings. Whenever a part might not encode exactly
        as it would inside the block (a tx nested deeper than the block leaves room for, an
        error), the whole-value encoder decides, so bytes and errors stay the same."""
        try:
            if all(codec.nesting(tx.args, TX_ARGS_NESTING) <= TX_ARGS_NESTING
                   for tx in self.txs):
                lc = None if self.last_commit is None else self.last_commit.to_wire()
                inner = codec.MAX_DEPTH - 1  # the header and certificate sit at depth 1
                return b"".join([_BLOCK_HEAD, codec.encode(self.header.to_wire(), max_depth=inner),
                                 codec.array_header(len(self.txs)),
                                 *[tx.encode() for tx in self.txs],
                                 codec.encode(lc, max_depth=inner)])
        except codec.CodecError:
            pass
        return codec.encode(self.to_wire())

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = 64 * 1024 * 1024,
               lookup: TxLookup | None = None) -> Block:
        """The block `data` encodes. `lookup(raw)` may hand back a tx this node already
        decoded from exactly the bytes `raw` (a follower's mempool holds most of a proposal's
        txs): Transaction.from_wire is a function of those bytes alone, so the result is the
        same; anything else (None, or a tx whose bytes differ) is decoded and checked here."""
        w = codec.decode(data, max_size=max_bytes)
        if not isinstance(w, list) or len(w) != 3 or not isinstance(w[1], list):
            raise ValueError("block must be [header, txs, last_commit]")
        header = BlockHeader.from_wire(w[0])
        raws = codec.array_item_bytes(bytes(data), 1)  # each tx's own canonical bytes
        try:
            if lookup is None:
                txs = tuple(Transaction.from_wire(t, raw)
                            for t, raw in zip(w[1], raws, strict=True))
            else:
                txs = tuple(_reused(lookup, t, raw) for t, raw in zip(w[1], raws, strict=True))
        except ChainError as exc:
            raise ValueError(f"block holds a malformed transaction: {exc.message}") from exc
        last = None if w[2] is None else CommitCertificate.from_wire(w[2])
        if last_commit_hash(last) != header.last_commit_hash:
            raise ValueError("block's last commit does not match its header")
        return cls(header, txs, last)

    def computed_tx_root(self) -> bytes:
        return tx_root(self.txs)


def tx_root(txs: tuple[Transaction, ...] | list[Transaction]) -> bytes:
    return merkle_root([tx.hash for tx in txs])


@dataclass(frozen=True)
class Receipt:
    tx_hash: bytes
    status: int  # 0 ok, 1 failed
    gas_used: int
    value: Any
    events: tuple[tuple[str, str, dict], ...]
    error_code: str = ""
    error_message: str = ""
    # the canonical encoding, computed once: the executor checks it, the receipt root hashes
    # it and the commit stores it (three encodes of the same frozen receipt otherwise)
    _raw: bytes = field(default=b"", init=False, compare=False, repr=False)

    OK = 0
    FAILED = 1

    def to_wire(self) -> list:
        return [self.tx_hash, self.status, self.gas_used, self.value,
                [[c, n, f] for c, n, f in self.events], self.error_code, self.error_message]

    @classmethod
    def from_wire(cls, w: Any) -> Receipt:
        if not isinstance(w, list) or len(w) != 7:
            raise ValueError("receipt must be a 7-element list")
        tx_hash, status, gas, value, events, code, message = w
        if not (isinstance(tx_hash, bytes) and len(tx_hash) == 32 and status in (0, 1)
                and type(status) is int and type(gas) is int and gas >= 0
                and isinstance(events, list) and isinstance(code, str)
                and isinstance(message, str)):
            raise ValueError("receipt fields have wrong types")
        evs = []
        for e in events:
            if not (isinstance(e, list) and len(e) == 3 and isinstance(e[0], str)
                    and isinstance(e[1], str) and isinstance(e[2], dict)):
                raise ValueError("receipt event must be [contract, name, fields]")
            evs.append((e[0], e[1], e[2]))
        return cls(tx_hash, status, gas, value, tuple(evs), code, message)

    def encode(self) -> bytes:
        if not self._raw:
            object.__setattr__(self, "_raw", codec.encode(self.to_wire()))
        return self._raw

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        return cls.from_wire(codec.decode(data))

    @property
    def ok(self) -> bool:
        return self.status == Receipt.OK

    def to_json(self) -> dict:
        from chainnode.core.tx import _jsonable

        return {
            "tx_hash": self.tx_hash.hex(), "status": "ok" if self.ok else "failed",
            "gas_used": self.gas_used, "value": _jsonable(self.value),
            "events": [{"contract": c, "name": n, "fields": _jsonable(f)}
                       for c, n, f in self.events],
            "error_code": self.error_code, "error_message": self.error_message,
        }


def receipt_root(receipts: list[Receipt] | tuple[Receipt, ...]) -> bytes:
    return merkle_root([r.encode() for r in receipts])
