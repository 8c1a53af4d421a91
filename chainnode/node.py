"""Composition root: wires store, chain, mempool, consensus and RPC, and owns the asyncio loop.

Heavy work leaves the event loop: SM2 verification goes to the verify pool (all cores, GIL
released), block execution and commits to a single execution thread (they touch state in
order). The loop only moves messages, so RPC stays responsive while blocks are executed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chainnode.chain import Chain, Executed
from chainnode.clock import wall_ms
from chainnode.config import NodeConfig
from chainnode.core.genesis import Genesis
from chainnode.core.tx import Transaction
from chainnode.crypto import domain
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey
from chainnode.errors import EXIT_STORAGE_FAILURE
from chainnode.exec import system
from chainnode.exec.state import BlockState, TxState
from chainnode.hub import CommitHub
from chainnode.mempool import Mempool
from chainnode.metrics import NodeMetrics
from chainnode.net.txforward import TX_BATCH, ForwardedTxs, TxBatcher, chunks
from chainnode.store.db import ChainDB
from chainnode.store.failure import StorageFailure
from chainnode.verify_batch import verify_processes

log = logging.getLogger("chainnode.node")

MAX_FORWARDED_IN_FLIGHT = 8192  # forwarded txs being admitted at once
# what no honest validator forwards (it admitted the tx itself first): the peer is reported
FORWARDED_INVALID = frozenset({"TX_MALFORMED", "TX_BAD_SIGNATURE", "TX_WRONG_CHAIN"})
FORWARD_ON_CONNECT_TXS = 1024  # pending txs handed to a validator when it connects
FORWARD_ON_CONNECT_BYTES = 8 * 1024 * 1024


class Node:
    def __init__(self, cfg: NodeConfig, key: PrivateKey | None = None) -> None:
        self.cfg = cfg
        self.genesis = Genesis.load(cfg.path(cfg.genesis_file))
        if self.genesis.chain_id != cfg.chain_id:
            raise RuntimeError(f"node.json says chain {cfg.chain_id!r} but genesis says "
                               f"{self.genesis.chain_id!r}")
        if key is None:
            pw = os.environ.get("CHAINNODE_KEY_PASSPHRASE")
            key = load_private_key(cfg.path(cfg.key_file), pw.encode() if pw else None)
        self.key = key
        self.db = ChainDB(cfg.path(cfg.data_dir) / "chain.ldb",
                          keep_versions=cfg.state_keep_versions)
        self.chain = Chain(self.db, self.genesis)
        threads = cfg.verify_threads or (os.cpu_count() or 2)
        self.metrics = NodeMetrics(self)
        self.verify_pool = self.metrics.verify_pool("admission", threads, "sm2-verify")
        self.exec_pool = ThreadPoolExecutor(1, thread_name_prefix="exec")
        # block validation must not queue behind thousands of admission checks
        self.block_verify_pool = self.metrics.verify_pool("block", threads, "sm2-block")
        g = self.genesis
        self.mempool = Mempool(
            chain_id=g.chain_id, verify_pool=self.verify_pool,
            head_height=lambda: self.chain.head.height, is_committed=self.chain.is_committed,
            is_member=self.is_member, max_expiry_window=self.chain.param("max_expiry_window"),
            max_tx_bytes=g.param("max_tx_bytes"), tx_gas_limit=self.chain.param("tx_gas_limit"),
            verify_processes=verify_processes(cfg.verify_processes))
        self.mempool.on_added.append(self.metrics.tx_admitted)
        from chainnode.reconfig import Reconfig

        self.reconfig = Reconfig(self)  # validator-set / parameter changes at h+1
        self.hub = CommitHub()
        self._tasks: list[asyncio.Task] = []
        self._peer_tasks: set[asyncio.Task] = set()  # per connection: forward pending, catch up
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failure: StorageFailure | None = None  # a write error: stop, exit code 74
        self.db.guard.on_failure(self.storage_failed)
        self.rpc = None
        self.consensus = None
        self.net = None
        self.sync = None
        self._admitting = ForwardedTxs(self._admit_forwarded, MAX_FORWARDED_IN_FLIGHT)
        self.forwarder: TxBatcher | None = None  # admitted txs to the validators, batched
        self._member_cache: dict[str, bool] = {}
        self._member_cache_height = -1

    @property
    def index(self) -> int | None:
        """Our index in the validator set of the next block (None: observer). Changes when
        governance adds or removes us (chainnode.reconfig)."""
        return self.chain.validator_index(self.key.public_key.raw)

    @property
    def view(self) -> int:
        return self.consensus.core.view if self.consensus is not None else 0

    # -- queries used by mempool / rpc
    def is_member(self, address: str) -> bool:
        """Admission check at the committed head, cached until the head moves."""
        head = self.chain.head.height
        if self._member_cache_height != head:
            self._member_cache.clear()
            self._member_cache_height = head
        ok = self._member_cache.get(address)
        if ok is None:
            ok = system.member(TxState(BlockState(self.db)), address) is not None
            if len(self._member_cache) < 100_000:
                self._member_cache[address] = ok
        return ok

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    async def submit(self, tx: Transaction, source: object = None) -> Transaction:
        """A client's tx: admit it, then forward it so whichever validator leads can include it.

        Txs of one `source` (a /txs batch) are admitted and forwarded in arrival order: the
        forward follows the insertion without suspending, and peers admit per link in order."""
        with self.metrics.timing("admission"):  # a plain timer: it never suspends
            await self.mempool.add(tx, source)
        if self.forwarder is not None:
            with self.metrics.timing("forwarding"):
                self.forwarder.add(tx.encode())
        return tx

    async def run_exec(self, fn, *args):
        """Run on the single execution thread: state is touched in order, off the loop."""
        return await asyncio.get_running_loop().run_in_executor(
            self.exec_pool, self.metrics.timed_exec(fn), *args)

    async def verify_txs(self, txs: list[Transaction]) -> dict[bytes, bool]:
        """Verify signatures on all cores; remember the good ones (verify once per node)."""
        if not txs:
            return {}
        loop = asyncio.get_running_loop()
        n = max(1, min(64, len(txs) // (2 * (os.cpu_count() or 2)) or 1))
        chunks = [txs[i:i + n] for i in range(0, len(txs), n)]
        parts = await asyncio.gather(*(loop.run_in_executor(
            self.block_verify_pool, lambda c=c: [tx.verify_signature() for tx in c])
            for c in chunks))
        res = [ok for part in parts for ok in part]
        for tx, ok in zip(txs, res, strict=True):
            if ok:
                self.mempool.mark_verified(tx.hash, tx.signature)
        return {tx.hash: ok for tx, ok in zip(txs, res, strict=True)}

    # -- lifecycle
    async def start(self) -> None:
        from chainnode.rpc.server import RpcServer

        head = self.chain.head
        log.info("node %s starting: chain %s, head %d (%s), validator index %s",
                 self.cfg.name, self.chain_id, head.height, head.block_hash.hex()[:16],
                 self.index)
        self.rpc = RpcServer(self)
        await self.rpc.start(self.cfg.rpc_host, self.cfg.rpc_port)
        from chainnode.sync import BlockSync

        await self._start_net()
        self.sync = BlockSync(self.chain, self._net_send, self._net_peers, self.run_exec,
                              self.after_commit, self._report)
        self.consensus = self._make_consensus()
        self.mempool.on_added.append(self._on_tx_added)
        self._tasks.append(asyncio.create_task(self.consensus.run(), name="consensus"))
        if self.net is not None:
            self._tasks.append(asyncio.create_task(self._sync_loop(), name="sync"))
        log.info("node %s ready: rpc http://%s:%d", self.cfg.name, self.cfg.rpc_host,
                 self.rpc.port)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def storage_failed(self, failure: StorageFailure) -> None:
        """A store or WAL write failed (any thread): log it and stop the node with
        EXIT_STORAGE_FAILURE. Nothing is written to this database handle again."""
        if self.failure is not None:
            return
        self.failure = failure
        log.critical("stopping node %s with exit code %d: %s (free space or fix the disk, "
                     "then restart: the node resumes from its last durable block)",
                     self.cfg.name, EXIT_STORAGE_FAILURE, failure)
        loop = self._loop
        if loop is None:
            self._stopping.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._stopping.set)

    @property
    def exit_code(self) -> int:
        return EXIT_STORAGE_FAILURE if self.failure is not None else 0

    async def stop(self) -> None:
        """Stop promptly: answer clients first, then consensus, network, threads, store.

        Clients waiting for a commit are answered UNAVAILABLE ("node stopping") before the
        RPC server is shut down, so the server has nothing to wait for; consensus stops
        before the network so no vote leaves after its WAL record could have failed.
        """
        t0 = time.monotonic()
        self._stopping.set()
        log.info("node %s stopping", self.cfg.name)
        answered = self.hub.close("node stopping")
        if answered:
            log.info("answered %d waiting clients: node stopping", answered)
        if self.rpc:
            await self.rpc.stop()
        if self.consensus is not None:
            await self.consensus.stop()
        # no forwarded frame starts an admission from here on: one still arriving while the
        # links close would otherwise run on after the store is closed
        self._admitting.close()
        await self._cancel_all([*self._tasks, *self._admitting.tasks(), *self._peer_tasks])
        if self.net is not None:
            await self.net.stop()
        # none expected (the doors are closed); a task would otherwise outlive the store
        await self._cancel_all([*self._admitting.tasks(), *self._peer_tasks])
        self.exec_pool.shutdown(wait=True)
        self.verify_pool.shutdown(wait=False, cancel_futures=True)
        self.mempool.close()  # its verify worker processes, if any, exit here
        self.block_verify_pool.shutdown(wait=False, cancel_futures=True)
        self.db.close()
        log.info("node %s stopped in %.1f s", self.cfg.name, time.monotonic() - t0)

    @staticmethod
    async def _cancel_all(running: list[asyncio.Task]) -> None:
        for t in running:
            t.cancel()
        for t in running:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass

    async def run_forever(self) -> int:
        """Run until SIGINT/SIGTERM or a storage failure; returns the process exit code."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        for sig in (signal.SIGINT, signal.SIGTERM):  # before start: a stop during it is clean
            loop.add_signal_handler(sig, self._stopping.set)
        if self.failure is None:
            try:
                await self.start()
            except StorageFailure as exc:
                self.storage_failed(exc)
            if self.failure is None:
                await self._stopping.wait()
        await self.stop()
        return self.exit_code

    # -- consensus wiring
    def _make_consensus(self):
        from chainnode.consensus.config import ConsensusConfig
        from chainnode.consensus.node import ConsensusCore
        from chainnode.driver import ConsensusDriver, VerifiedSignatures
        from chainnode.store.wal import ConsensusWAL

        g = self.genesis
        head = self.chain.head
        epoch = self.chain.epoch_at(head.height + 1)
        cfg = ConsensusConfig(
            n=len(epoch.validators), own_index=self.index, chain_id=self.chain_id,
            base_timeout_ms=epoch.view_timeout_ms,
            max_timeout_ms=epoch.max_view_timeout_ms, empty_blocks=g.param("empty_blocks"))
        wal = ConsensusWAL(self.db.db, guard=self.db.guard)  # one latch for the whole handle

        def sign(dom: str, payload: bytes) -> bytes:  # used only while we are a validator
            return domain.sign(self.key, dom, self.chain_id, payload)

        # the core checks every signature against the set of its height: members are keys
        verified = VerifiedSignatures(self.chain.verify_member)
        core = ConsensusCore(
            cfg, sign, verified, committed_height=head.height,
            committed_hash=head.block_hash,
            committed_cert=self.db.certificate(head.height) if head.height else None,
            records=wal.load(), clock=wall_ms,
            epochs=[e.for_consensus() for e in self.chain.epochs()],
            own_id=self.key.public_key.raw)
        self.reconfig.mark_told()
        return ConsensusDriver(self, core, wal, send=self._send_consensus, verified=verified)

    async def _send_consensus(self, to: int | None, msg_type: str, payload: object) -> None:
        if self.net is None:
            return
        if to is None:  # peers hold the validator role of the current set (reconfig)
            await self.net.broadcast(msg_type, payload, role="validator")
        else:
            await self.net.send(self.chain.validators[to].public_key, msg_type, payload)

    # -- network
    def authorize(self, pub: bytes) -> str | None:
        """Validators of the next block's set, and registered members as observers, may
        connect (re-granted on every set change: chainnode.reconfig)."""
        if self.chain.validator_index(pub) is not None:
            return "validator"
        from chainnode.crypto.address import address_of

        return "observer" if self.is_member(address_of(pub)) else None

    async def _start_net(self) -> None:
        cfg = self.cfg
        if not (cfg.tls_ca and cfg.tls_cert and cfg.tls_key):
            if len(self.chain.validators) > 1 or cfg.peers:
                raise RuntimeError("node.json needs tls_ca, tls_cert and tls_key to join peers")
            return
        from chainnode.net.peers import PeerManager
        from chainnode.net.tls import load_node_tls

        tls = load_node_tls(cfg.path(cfg.tls_ca), cfg.path(cfg.tls_cert), cfg.path(cfg.tls_key))
        peers = []
        for p in cfg.peers:
            host, _, port = p.rpartition(":")
            peers.append((host, int(port)))
        self.net = PeerManager(
            self.chain_id, self.genesis.hash(), self.key, cfg.p2p_host, cfg.p2p_port, peers, tls,
            self.authorize, self._on_peer_message,
            message_types=("pbft", TX_BATCH, "sync/req", "sync/resp"),
            role="validator" if self.index is not None else "observer",
            on_connect=self._on_peer_connect)
        net = self.net
        self.forwarder = TxBatcher(lambda b: net.broadcast_nowait(TX_BATCH, b, role="validator"))
        await self.net.start()
        log.info("p2p listening on %s:%d, %d configured peers", cfg.p2p_host, cfg.p2p_port,
                 len(peers))

    def peer_list(self) -> list[dict]:
        if self.net is None:
            return []
        return [{"public_key": p.public_key.hex(), "role": p.role,
                 "remote": f"{p.remote[0]}:{p.remote[1]}" if p.remote else None}
                for p in self.net.peer_info()]

    @property
    def syncing(self) -> bool:
        return self.sync is not None and self.sync.syncing

    async def _on_peer_message(self, peer: bytes, msg_type: str, payload: object) -> None:
        if msg_type == "pbft":
            if self.consensus is None or not self._may_vote(peer):
                return
            reason = await self.consensus.on_message(None, payload)
            if reason:
                self._report(peer, reason)
        elif msg_type == TX_BATCH:
            # never await verification inside the peer's read loop: admit concurrently, bounded
            reason = self._admitting.on_batch(peer, payload)
            if reason:
                self._report(peer, reason)
        elif msg_type == "sync/req":
            if self.sync is not None:
                reply = self.sync.serve(payload)
                if reply is None:
                    self._report(peer, "malformed sync request")
                else:
                    await self.net.send(peer, "sync/resp", reply)
        elif msg_type == "sync/resp" and self.sync is not None:
            self.sync.on_response(peer, payload)

    def _may_vote(self, peer: bytes) -> bool:
        """Consensus frames come from validators of the current or the previous set (a late
        COMMIT of the height before a change); the core checks each against its height's set."""
        return peer in self.chain.recent_validator_keys(2)

    async def _admit_forwarded(self, peer: bytes, raws: list[bytes]) -> None:
        """A peer's `txs` frame: each tx decoded, then the lot admitted as one batch (one
        arrival turn, one verify job, one wake-up). One link is one ordered source: its txs
        enter the pool in the order they came. An invalid tx is refused alone; the peer is
        reported once for the frame and its other batches in flight are cancelled."""
        from chainnode.errors import ChainError

        t0 = time.perf_counter()
        try:
            max_bytes = self.genesis.param("max_tx_bytes")
            txs: list[Transaction] = []
            invalid = ""
            for raw in raws:
                try:
                    txs.append(Transaction.decode(raw, max_bytes))
                except ChainError as exc:  # refused alone, as `add` refuses one
                    if not invalid and exc.code in FORWARDED_INVALID:
                        invalid = exc.code
            if invalid:
                self._forwarded_invalid(peer, invalid)
            refused = await self.mempool.add_batch(txs, source=("peer", peer))
            if not invalid:
                for exc in refused:
                    if exc is not None and exc.code in FORWARDED_INVALID:
                        self._forwarded_invalid(peer, exc.code)
                        break
        finally:
            # per tx, as one timer around each tx's decode and admission would: the batch's
            # txs are decoded together and settle together
            self.metrics.stage_child("forwarded_in").observe_n(time.perf_counter() - t0,
                                                               len(raws))

    def _forwarded_invalid(self, peer: bytes, code: str) -> None:
        self._report(peer, f"forwarded an invalid tx: {code}")
        self._admitting.forget(peer)  # the rest of its batches: not worth verifying

    def _on_peer_connect(self, peer: bytes, role: str = "", *args) -> None:
        if self._stopping.is_set():
            return
        if role == "validator" and self.net is not None and len(self.mempool):
            self._peer_task(self._forward_pending(peer))
        if self.sync is not None:
            self._peer_task(self._sync_and_tell())

    def _peer_task(self, coro) -> None:
        """Run `coro` as a task the stop cancels (a catch-up must not outlive the store)."""
        t = asyncio.get_running_loop().create_task(coro)
        self._peer_tasks.add(t)
        t.add_done_callback(self._peer_tasks.discard)

    async def _forward_pending(self, peer: bytes) -> None:
        """A validator (re)connected: hand it our pending transactions, oldest first.

        `submit` forwards a transaction once, to the validators linked at that moment; one
        admitted while the links were down (a node just started, a validator restarting)
        would otherwise stay in this pool only, never proposed by another leader. Bounded so
        the burst cannot overflow the peer's send queue; the peer drops duplicates quietly.
        """
        raws, budget = [], FORWARD_ON_CONNECT_BYTES
        for tx in self.mempool.pending()[:FORWARD_ON_CONNECT_TXS]:
            raw = tx.encode()
            budget -= len(raw)
            if budget < 0:
                break
            raws.append(raw)
        for batch in chunks(raws, self.forwarder.limits):
            if self.net is None or not await self.net.send(peer, TX_BATCH, batch):
                break

    async def _sync_and_tell(self) -> None:
        before = self.chain.head.height
        try:
            h = await self.sync.catch_up()
        except StorageFailure:
            return  # fatal, already reported: the node is stopping
        except Exception:
            log.exception("sync round failed")
            return
        if h > before and self.consensus is not None:
            from chainnode.consensus.events import SyncedTo, TransactionsPending

            self.reconfig.after_head_moved(self.consensus.post)
            self.consensus.post(SyncedTo(h, self.chain.head.block_hash, self.db.certificate(h)))
            # synced blocks emptied the pool of what they carried: the core must not keep
            # expecting work (and time the leader out) for transactions that are committed
            self.consensus.post(TransactionsPending(len(self.mempool) > 0))

    async def _sync_loop(self) -> None:
        """Observers follow by polling; validators use it as a safety net when idle."""
        period = 1.0 if self.index is None else 5.0
        while not self._stopping.is_set():
            await asyncio.sleep(period)
            await self._sync_and_tell()

    async def _net_send(self, peer: bytes, msg_type: str, payload: object) -> bool:
        return False if self.net is None else await self.net.send(peer, msg_type, payload)

    def _net_peers(self) -> list[bytes]:
        return [] if self.net is None else list(self.net.connected(role="validator"))

    def _report(self, peer: bytes, reason: str) -> None:
        log.warning("peer %s misbehaved: %s", peer[:4].hex(), reason)
        if self.net is not None:
            self.net.report_misbehaviour(peer, reason)

    def _on_tx_added(self, tx: Transaction) -> None:
        if self.consensus is not None and len(self.mempool) == 1:
            from chainnode.consensus.events import TransactionsPending

            self.consensus.post(TransactionsPending(True))

    def after_commit(self, ex: Executed) -> None:
        block = ex.block
        # admission follows the live parameters of the next block
        self.mempool.tx_gas_limit = self.chain.param("tx_gas_limit")
        self.mempool.max_expiry_window = self.chain.param("max_expiry_window")
        self.mempool.remove(tx.hash for tx in block.txs)
        expired = self.mempool.evict_expired()
        if expired:
            log.info("dropped %d expired transactions from the mempool", expired)
        self.metrics.committed(ex)
        log.info("committed block %d (%s) with %d txs, state root %s", block.height,
                 block.hash.hex()[:16], len(block.txs), block.header.state_root.hex()[:16])
        self.hub.committed(block, ex.outcome.receipts)


def run_node(home: str | Path) -> int:
    """Run a node in the foreground; the exit code for `chainnode start` (0, or
    EXIT_STORAGE_FAILURE when a store or WAL write failed, also while opening the store)."""
    cfg = NodeConfig.load(home)
    logging.basicConfig(level=getattr(logging, cfg.log_level.upper(), logging.INFO),
                        format=f"%(asctime)s {cfg.name} %(levelname)s %(name)s: %(message)s")
    try:
        node = Node(cfg)
    except StorageFailure as exc:
        log.critical("node %s cannot start, exit code %d: %s", cfg.name, EXIT_STORAGE_FAILURE,
                     exc)
        return EXIT_STORAGE_FAILURE
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(node.run_forever())


def _loop_factory():
    """uvloop's event loop where it is installed (less CPU per request and per peer frame);
    CHAINNODE_UVLOOP=0 keeps asyncio's own loop."""
    if os.environ.get("CHAINNODE_UVLOOP", "1") == "0":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
