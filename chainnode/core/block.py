"""Block headers, blocks and receipts.

The header commits to everything a light client needs: the tx and receipt Merkle roots, the
state root AFTER executing the block, and the hash of the validator set that signs it (plus the
next one, so a light client can follow validator-set changes from certified headers alone).
The tx root's leaves cover each tx's id and its signature (`tx_root`), so a certified header
pins every byte of the block's body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import msgpack

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


def _decode_reusing(data: bytes, max_bytes: int, lookup: TxLookup) -> Block | None:
    """Block.decode(data) without decoding the txs `lookup` knows by their exact bytes; None
    (or an exception) when it cannot tell: then the full decode decides.

    A canonical array is its minimal header followed by its items' canonical encodings, so
    `data` decodes iff it is a 3-array header, then header, txs and certificate each canonical
    at their depth, nothing after. A known tx's bytes passed codec.decode and from_wire when it
    was admitted (at the top level): inside the block it sits two levels down, so its args
    must nest no deeper than TX_ARGS_NESTING (as Block.encode checks)."""
    if not 0 < len(data) <= max_bytes or data[:1] != _BLOCK_HEAD:
        return None
    u = msgpack.Unpacker(max_buffer_size=len(data))
    u.feed(data)
    u.read_array_header()
    u.skip()
    at = u.tell()
    head_raw = data[1:at]
    n = u.read_array_header()
    start = u.tell()
    if data[at:start] != codec.array_header(n):
        return None
    inner = codec.MAX_DEPTH - 1  # header and certificate sit at depth 1, each tx at depth 2
    txs = []
    for _ in range(n):
        u.skip()
        end = u.tell()
        raw = data[start:end]
        start = end
        tx = lookup(raw)
        if (tx is None or tx.encode() != raw
                or codec.nesting(tx.args, TX_ARGS_NESTING) > TX_ARGS_NESTING):
            tx = Transaction.from_wire(codec.decode(raw, max_size=max_bytes,
                                                    max_depth=inner - 1), raw)
        txs.append(tx)
    u.skip()
    if u.tell() != len(data):
        return None
    header = BlockHeader.from_wire(codec.decode(head_raw, max_size=max_bytes, max_depth=inner))
    lc = codec.decode(data[start:], max_size=max_bytes, max_depth=inner)
    last = None if lc is None else CommitCertificate.from_wire(lc)
    if last_commit_hash(last) != header.last_commit_hash:
        return None
    return Block(header, tuple(txs), last)


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
    # tx_root(txs), computed once: sync compares it to catch a bad peer, validate always does
    _tx_root: bytes = field(default=b"", init=False, compare=False, repr=False)

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
        txs): those are neither decoded nor checked again (Transaction.from_wire is a function
        of the bytes alone). The result, and whether `data` is accepted at all, is the same
        as without a lookup: whatever the shortcut cannot settle, the full decode decides."""
        if lookup is not None:
            try:
                block = _decode_reusing(bytes(data), max_bytes, lookup)
            except Exception:  # noqa: BLE001 - any doubt: the full decode decides (and says why)
                block = None
            if block is not None:
                return block
        w = codec.decode(data, max_size=max_bytes)
        if not isinstance(w, list) or len(w) != 3 or not isinstance(w[1], list):
            raise ValueError("block must be [header, txs, last_commit]")
        header = BlockHeader.from_wire(w[0])
        raws = codec.array_item_bytes(bytes(data), 1)  # each tx's own canonical bytes
        try:
            txs = tuple(Transaction.from_wire(t, raw) for t, raw in zip(w[1], raws, strict=True))
        except ChainError as exc:
            raise ValueError(f"block holds a malformed transaction: {exc.message}") from exc
        last = None if w[2] is None else CommitCertificate.from_wire(w[2])
        if last_commit_hash(last) != header.last_commit_hash:
            raise ValueError("block's last commit does not match its header")
        return cls(header, txs, last)

    def computed_tx_root(self) -> bytes:
        """tx_root of this block's own txs (to compare with header.tx_root); cached, as the
        block and its txs are frozen."""
        if not self._tx_root:
            object.__setattr__(self, "_tx_root", tx_root(self.txs))
        return self._tx_root


def tx_root(txs: tuple[Transaction, ...] | list[Transaction]) -> bytes:
    """Merkle root over the txs' witness hashes (Transaction.witness_hash: id AND signature),
    not their ids: the certified header then pins every byte of the block's body, so a body
    with the same tx ids but other signature bytes has another root and fails validation,
    even on the paths that skip per-tx signature checks because a quorum certified the block
    (sync, commit by certificate)."""
    return merkle_root([tx.witness_hash() for tx in txs])


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


# The fields in declaration order (checked at import, so a new field cannot be silently left
# unset on the executor's receipts): new_receipt fills all but _raw, like the constructor.
_RECEIPT_FIELDS = ("tx_hash", "status", "gas_used", "value", "events", "error_code",
                   "error_message", "_raw")
if (tuple(f.name for f in fields(Receipt)) != _RECEIPT_FIELDS
        or hasattr(Receipt, "__post_init__")):
    raise RuntimeError("Receipt's fields changed: update _RECEIPT_FIELDS and new_receipt")
_new = object.__new__


def new_receipt(tx_hash: bytes, status: int, gas_used: int, value: Any,
                events: tuple[tuple[str, str, dict], ...], error_code: str = "",
                error_message: str = "") -> Receipt:
    """Receipt(...) without the frozen dataclass's per-field setattr calls: the executor
    makes one per transaction on every node. Equal to the constructor's result."""
    rc = _new(Receipt)
    rc.__dict__.update(tx_hash=tx_hash, status=status, gas_used=gas_used, value=value,
                       events=events, error_code=error_code, error_message=error_message)
    return rc  # _raw (init=False) stays unset, as the generated __init__ leaves it


def receipt_root(receipts: list[Receipt] | tuple[Receipt, ...]) -> bytes:
    return merkle_root([r.encode() for r in receipts])
