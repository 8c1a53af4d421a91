"""One LevelDB per node home, split by key prefixes (DESIGN §4).

A committed block and everything it changes (block, certificate, receipts, tx index, state
values, SMT nodes, head pointer) goes into ONE synced WriteBatch, so after kill -9 at any
instant the node restarts at a consistent head: either all of a block or none of it.

Every write goes through one `WriteGuard` (chainnode.store.failure): the first write error is
fatal and latched, so a handle whose log may be torn is never written again.
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import plyvel

from chainnode import codec
from chainnode.core.block import Block, Receipt
from chainnode.core.certificate import CommitCertificate
from chainnode.crypto.hashing import sm3
from chainnode.errors import STATE_PRUNED, ChainError
from chainnode.store.failure import StorageFailure, WriteGuard
from chainnode.store.smt import EMPTY_ROOT, NODE_LEN, MissingNodeError, SparseMerkleTree

log = logging.getLogger("chainnode.store")

P_BLOCK = b"b/"  # height -> encoded block
P_HASH = b"h/"  # block hash -> height
P_TX = b"t/"  # tx hash -> [height, index]
P_RECEIPT = b"r/"  # tx hash -> encoded receipt
P_CERT = b"c/"  # height -> encoded certificate
P_STATE = b"s/"  # state key hash -> encoded [contract, key, value]
P_NODE = b"n/"  # SMT node hash -> encoded node
P_META = b"m/"  # metadata: head, genesis
P_WAL = b"w/"  # consensus WAL (chainnode.store.wal)
P_STALE = b"x/"  # height the node left the tree + SMT node hash -> b"" (pruning queue)
HEAD_KEY = P_META + b"head"
GENESIS_KEY = P_META + b"genesis"
P_EPOCH = P_META + b"epoch/"  # first height an epoch governs -> encoded rules (chain.epochs)
PRUNED_KEY = P_META + b"pruned"  # every tree below this height may have lost nodes
PRUNE_MIN_BUDGET = 256  # stale nodes a commit may delete beyond twice its own new stale count
NODE_CACHE_MAX = 65_536  # SMT nodes kept in memory (~15 MB): the paths every block rewrites
KEY_CACHE_MAX = 16_384  # state key hashes (~4 MB): a key is read, then hashed twice more


_LOC_HEAD = codec.array_header(2)  # a tx's location [height, index]


def h8(height: int) -> bytes:
    return struct.pack(">Q", height)


_PAIR_HEAD = codec.array_header(2)
_TRIPLE_HEAD = codec.array_header(3)
_CONTRACT_BYTES: dict[str, bytes] = {}  # contract name -> its encoding (a few names)
_CONTRACT_BYTES_MAX = 1024


def _contract_bytes(contract: str) -> bytes:
    b = _CONTRACT_BYTES.get(contract)
    if b is None:
        b = codec.encode(contract)
        if len(_CONTRACT_BYTES) >= _CONTRACT_BYTES_MAX:
            _CONTRACT_BYTES.clear()
        _CONTRACT_BYTES[contract] = b
    return b


def state_key_hash(contract: str, key: bytes) -> bytes:
    """SMT path of a state entry: contract name and key can never be confused.

    sm3(codec.encode([contract, key])), its array put together from the header and the two
    items' encodings (the canonical form of an array), the contract's encoding remembered."""
    if type(contract) is not str or type(key) is not bytes:  # anything else: as it always was
        return sm3(codec.encode([contract, key]))
    return sm3(_PAIR_HEAD + _contract_bytes(contract) + codec.encode(key))


def state_value_bytes(contract: str, key: bytes, value: bytes) -> bytes:
    """What P_STATE stores: codec.encode([contract, key, value]), put together likewise."""
    if type(contract) is not str or type(key) is not bytes or type(value) is not bytes:
        return codec.encode([contract, key, value])
    return _TRIPLE_HEAD + _contract_bytes(contract) + codec.encode(key) + codec.encode(value)


@dataclass(frozen=True)
class Head:
    height: int
    block_hash: bytes
    state_root: bytes


class StatePruned(ChainError):
    """State (a proof, a read) asked at a height whose tree this node has pruned."""

    def __init__(self, height: int, oldest: int) -> None:
        super().__init__(STATE_PRUNED, f"state at height {height} is pruned on this node "
                                       f"(oldest kept: {oldest}; see state_keep_versions)")
        self.height = height
        self.oldest = oldest


class ChainDB:
    """`keep_versions`: SMT versions (heights) kept provable below the head; older nodes are
    pruned a bounded amount per commit. 0 keeps every version (an archive node)."""

    def __init__(self, path: str | Path, keep_versions: int = 0) -> None:
        if type(keep_versions) is not int or keep_versions < 0:
            raise ValueError("keep_versions must be an integer >= 0")
        self.keep_versions = keep_versions
        Path(path).mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self.guard = WriteGuard(str(path))
        # bloom filters: most point reads are misses (replay checks of new txs); a block cache
        # and a larger write buffer for the per-block batches
        try:
            self.db = plyvel.DB(str(path), create_if_missing=True, bloom_filter_bits=10,
                                lru_cache_size=64 * 1024 * 1024,
                                write_buffer_size=16 * 1024 * 1024)
        except plyvel.Error as exc:  # opening writes too (log recovery, a new manifest)
            raise StorageFailure(f"opening {path}", exc) from exc
        self.smt = SparseMerkleTree(self)
        # content-addressed, so an entry is never wrong; pruning evicts what it deletes so a
        # pruned tree stays unreadable. Both bounded: the oldest half goes when full.
        self._nodes = Bounded(NODE_CACHE_MAX)
        self._key_hashes = Bounded(KEY_CACHE_MAX)

    @property
    def failure(self) -> StorageFailure | None:
        """The write error that stopped this store, if any."""
        return self.guard.failure

    def _write(self, what: str, batch) -> None:
        """Write a filled plyvel WriteBatch (synced) through the guard."""
        self.guard.write(what, batch.write)

    def close(self) -> None:
        if not self.db.closed:
            self.db.close()

    # -- SMT node reader
    def get_node(self, node_hash: bytes) -> bytes | None:
        node = self._nodes.get(node_hash)
        if node is not None:
            return node
        raw = self.db.get(P_NODE + node_hash)
        if raw is None:
            return None
        node = raw[:NODE_LEN]  # drop the written-at height
        self._nodes.put(node_hash, node)
        return node

    def key_hash(self, contract: str, key: bytes) -> bytes:
        """state_key_hash, remembered: a state key is hashed for its read, its SMT path and
        its stored value within one block."""
        k = (contract, key)
        h = self._key_hashes.get(k)
        if h is None:
            h = state_key_hash(contract, key)
            self._key_hashes.put(k, h)
        return h

    # -- pruning
    def oldest_state_height(self) -> int:
        """Lowest height whose state tree is still whole on this node."""
        raw = self.db.get(PRUNED_KEY)
        return 0 if raw is None else struct.unpack(">Q", raw)[0]

    def check_state_height(self, height: int) -> None:
        """Raise StatePruned if the tree at `height` may have lost nodes to pruning."""
        oldest = self.oldest_state_height()
        if height < oldest:
            raise StatePruned(height, oldest)

    def prove_at(self, height: int, root: bytes, key_hash: bytes):
        """(value_hash or None, proof) of key_hash in the tree at `height` (root given), or
        StatePruned when that tree is no longer whole here."""
        self.check_state_height(height)
        try:
            return self.smt.get(root, key_hash), self.smt.prove(root, key_hash)
        except MissingNodeError:  # pruned between the check and the walk
            raise StatePruned(height, self.oldest_state_height()) from None

    def _prune(self, wb, height: int, budget: int, written: Mapping[bytes, bytes]
               ) -> list[bytes]:
        """Queue-driven pruning inside the block's own batch, so kill -9 anywhere leaves
        either the whole step or none of it. Entry (h, node) says `node` left the tree at
        height h: trees below h may use it, trees from h on do not unless it was written
        again later (its stored written-at height then is >= h and it stays) or is written by
        this very batch (`written`: the reads here do not see the batch). Returns the hashes
        of the nodes it deletes (to evict from the cache once the batch is written)."""
        limit = height - self.keep_versions  # trees at heights >= limit stay whole
        deleted: list[bytes] = []
        if limit <= 0:
            return deleted
        end = P_STALE + h8(limit + 1)  # entries with h <= limit
        done = 0
        last_h = None
        for key in self.db.iterator(start=P_STALE, stop=end, include_value=False):
            if done >= budget:
                break
            h = struct.unpack(">Q", key[2:10])[0]
            node_hash = key[10:]
            node_key = P_NODE + node_hash
            raw = None if node_hash in written else self.db.get(node_key)
            if raw is not None and _written_at(raw) < h:
                wb.delete(node_key)
                deleted.append(node_hash)
            wb.delete(key)
            done += 1
            last_h = h
        if done < budget:  # queue drained up to limit: every tree below limit is gone
            oldest = limit
        elif last_h is not None:
            oldest = last_h  # only nodes that left at <= last_h are gone: trees from it whole
        else:
            return deleted
        if oldest > self.oldest_state_height():
            wb.put(PRUNED_KEY, h8(oldest))
        return deleted

    # -- head / genesis
    def head(self) -> Head | None:
        raw = self.db.get(HEAD_KEY)
        if raw is None:
            return None
        height, block_hash, root = codec.decode(raw)
        return Head(height, block_hash, root)

    def genesis_hash(self) -> bytes | None:
        return self.db.get(GENESIS_KEY)

    # -- state
    def state_get(self, contract: str, key: bytes) -> bytes | None:
        raw = self.db.get(P_STATE + self.key_hash(contract, key))
        if raw is None:
            return None
        return codec.decode(raw)[2]

    def state_items(self, contract: str | None = None) -> Iterator[tuple[str, bytes, bytes]]:
        for _, raw in self.db.iterator(prefix=P_STATE):
            c, k, v = codec.decode(raw)
            if contract is None or c == contract:
                yield c, k, v

    def compute_state_update(self, root: bytes, writes: Mapping[tuple[str, bytes], bytes | None]
                             ) -> tuple[bytes, dict[bytes, bytes]]:
        key_hash = self.key_hash
        smt_writes = {key_hash(c, k): (None if v is None else sm3(v))
                      for (c, k), v in writes.items()}
        return self.smt.update(root, smt_writes)

    # -- genesis and blocks
    def write_genesis(self, genesis_hash: bytes, writes: Mapping[tuple[str, bytes], bytes | None]
                      ) -> Head:
        root, nodes = self.compute_state_update(EMPTY_ROOT, writes)
        head = Head(0, genesis_hash, root)
        wb = self.db.write_batch(sync=True)
        self._put_state(wb, writes, nodes, 0)
        wb.put(GENESIS_KEY, genesis_hash)
        wb.put(HEAD_KEY, codec.encode([0, genesis_hash, root]))
        self._write("genesis write", wb)
        return head

    def commit_block(self, block: Block, cert: CommitCertificate, receipts: list[Receipt],
                     writes: Mapping[tuple[str, bytes], bytes | None],
                     nodes: Mapping[bytes, bytes], epoch: bytes | None = None,
                     block_bytes: bytes | None = None) -> Head:
        """`epoch`: the encoded rules that govern height+1 on, when this block changed them
        (validator set or view timeouts): written in the same batch, so the history of sets
        is exactly as durable as the blocks that decided it. `block_bytes`: block.encode(),
        when the caller already has it."""
        height = block.height
        # filled in memory first: an encoding error is a bug, not a storage failure
        wb = self.db.write_batch(sync=True)
        wb.put(P_BLOCK + h8(height), block.encode() if block_bytes is None else block_bytes)
        wb.put(P_HASH + block.hash, h8(height))
        wb.put(P_CERT + h8(height), cert.encode())
        # [height, i] put together from its parts (a canonical array is its header and its
        # items' encodings): the height is encoded once per block, not once per tx
        loc = _LOC_HEAD + codec.encode(height)
        put = wb.put
        for i, (tx, rc) in enumerate(zip(block.txs, receipts, strict=True)):
            put(P_TX + tx.hash, loc + codec.encode(i))
            put(P_RECEIPT + tx.hash, rc.encode())
        self._put_state(wb, writes, nodes, height)
        pruned: list[bytes] = []
        if self.keep_versions:
            stale = getattr(nodes, "stale", frozenset())
            for h in stale:
                wb.put(P_STALE + h8(height) + h, b"")
            pruned = self._prune(wb, height, 2 * len(stale) + PRUNE_MIN_BUDGET, nodes)
        if epoch is not None:
            wb.put(P_EPOCH + h8(height + 1), epoch)
        wb.put(HEAD_KEY, codec.encode([height, block.hash, block.header.state_root]))
        self._write(f"commit of block {height}", wb)
        for h in pruned:
            self._nodes.pop(h)
        self._nodes.update(nodes)  # the next block's update walks these paths first
        return Head(height, block.hash, block.header.state_root)

    def _put_state(self, wb, writes, nodes, height: int) -> None:
        key_hash = self.key_hash
        for (c, k), v in writes.items():
            skey = P_STATE + key_hash(c, k)
            if v is None:
                wb.delete(skey)
            else:
                wb.put(skey, state_value_bytes(c, k, v))
        at = h8(height)
        put = wb.put
        for h, n in nodes.items():
            put(P_NODE + h, n + at)

    def epochs(self) -> list[tuple[int, bytes]]:
        """(first height, encoded rules) of every epoch recorded after genesis, in order."""
        return [(struct.unpack(">Q", k[len(P_EPOCH):])[0], v)
                for k, v in self.db.iterator(prefix=P_EPOCH)]

    def block(self, height: int) -> Block | None:
        raw = self.db.get(P_BLOCK + h8(height))
        return None if raw is None else Block.decode(raw)

    def block_bytes(self, height: int) -> bytes | None:
        return self.db.get(P_BLOCK + h8(height))

    def grow_certificate(self, cert: CommitCertificate) -> bool:
        """Store `cert` (the same block's certificate with more COMMIT votes, checked by
        consensus) in place of the one committed with the block. Not synced: losing it only
        keeps the smaller, equally valid certificate. False if it is not for the stored block
        or not larger."""
        old = self.certificate(cert.height)
        if (old is None or self.height_of(cert.block_hash) != cert.height
                or old.block_hash != cert.block_hash
                or not set(old.signers) < set(cert.signers)):
            return False
        key, value = P_CERT + h8(cert.height), cert.encode()
        self.guard.write("grow certificate", lambda: self.db.put(key, value))
        return True

    def certificate(self, height: int) -> CommitCertificate | None:
        raw = self.db.get(P_CERT + h8(height))
        return None if raw is None else CommitCertificate.decode(raw)

    def height_of(self, block_hash: bytes) -> int | None:
        raw = self.db.get(P_HASH + block_hash)
        return None if raw is None else struct.unpack(">Q", raw)[0]

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        raw = self.db.get(P_TX + tx_hash)
        if raw is None:
            return None
        h, i = codec.decode(raw)
        return h, i

    def has_tx(self, tx_hash: bytes) -> bool:
        return self.db.get(P_TX + tx_hash) is not None

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        raw = self.db.get(P_RECEIPT + tx_hash)
        return None if raw is None else Receipt.decode(raw)

    def recompute_state_root(self) -> bytes:
        """Rebuild the root from the stored values alone (crash-consistency check)."""
        tmp = SparseMerkleTree(_NoNodes())
        root, _ = tmp.update(EMPTY_ROOT, {state_key_hash(c, k): sm3(v)
                                          for c, k, v in self.state_items()})
        return root


class Bounded:
    """A dict of at most `limit` entries that forgets its oldest half when full. Thread-safe
    enough for pure caches: every entry is a function of its key, so a lost race only
    recomputes."""

    __slots__ = ("_d", "_limit", "get")

    def __init__(self, limit: int) -> None:
        self._d: dict = {}
        self._limit = limit
        # the dict's own get, bound once: a cache lookup is then one C call, not a Python
        # method around it (several per tx: SMT nodes, state key hashes, senders). _d is
        # never replaced, only emptied in place, so the bound method stays its own.
        self.get = self._d.get

    def put(self, key, value) -> None:
        d = self._d
        if len(d) >= self._limit:
            for old in list(itertools.islice(d, self._limit // 2)):
                d.pop(old, None)
        d[key] = value

    def update(self, items: Mapping) -> None:
        """put() of every item; one C-level update while they fit."""
        d = self._d
        if len(d) + len(items) < self._limit:
            d.update(items)
            return
        for k, v in items.items():
            self.put(k, v)

    def pop(self, key) -> None:
        self._d.pop(key, None)


def _written_at(raw: bytes) -> int:
    """Height a stored node was last written at (nodes from before pruning existed: 0)."""
    return struct.unpack(">Q", raw[NODE_LEN:])[0] if len(raw) == NODE_LEN + 8 else 0


class _NoNodes:
    def get_node(self, node_hash: bytes) -> bytes | None:
        return None
