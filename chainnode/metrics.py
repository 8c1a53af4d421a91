"""A node's Prometheus metrics (served at GET /metrics; the table is in docs/operations.md).

Each node has its own CollectorRegistry, never the library's global one, so several nodes in
one process (tests, simulations) keep separate series. Instrumentation points call one method
here; everything that can be read off the node at scrape time (height, view, peers, mempool,
sync lag, rejections, bans) is read then instead of being pushed, so it can never drift.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from chainnode.consensus import actions as A
from chainnode.consensus.messages import Commit, PrePrepare
from chainnode.metrics_stage import LoopChild, StageHistogram

# the classic text format every Prometheus version scrapes
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
prometheus_client.disable_created_metrics()  # no *_created series: half the lines, no use here

# seconds; from a sub-millisecond RPC to a view change under a slow network
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
QUEUE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                 1.0, 5.0)
EXEC_STEPS = {"build": "build", "validate": "validate"}  # Chain method -> step label
EXEC_STAGES = {"apply": "wal"}  # other exec-thread functions -> tx stage label (WAL.apply)
# per-transaction stages the bench's --profile reads (chainnode_tx_stage_seconds)
TX_STAGES = ("decode", "admission", "forwarding", "forwarded_in", "execute", "state_root",
             "wal")
PHASE_COMMIT = "commit"  # Chain.commit: block, certificate and state written in one batch
MAX_TRACKED_TXS = 100_000  # admission times kept for the admission-to-commit latency
MAX_TRACKED_ROUNDS = 64  # (height, view) rounds whose phase times are kept
SIDECHAIN_STATUSES = ("active", "expired", "frozen")
NO_STREAM_ROUTES = frozenset({"/events"})  # a websocket's lifetime is not a latency
# the methods timed under their own name; any other (aiohttp's pure-Python parser takes any
# token as a method) is timed as OTHER_METHOD, or each made-up method would add a series
RPC_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT",
                         "TRACE"})
OTHER_METHOD = "other"


class _ReadAtScrape(Collector):
    """Counters whose truth lives elsewhere (the mempool's rejections, the ban book)."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def collect(self) -> Iterable[CounterMetricFamily]:
        rej = CounterMetricFamily("chainnode_tx_rejected",
                                  "Transactions refused at admission, by error code.",
                                  labels=["code"])
        for code, count in sorted(getattr(self.node.mempool, "rejected", {}).items()):
            rej.add_metric([code], count)
        yield rej
        bans = getattr(getattr(self.node, "net", None), "_bans", None)
        yield CounterMetricFamily("chainnode_peer_bans",
                                  "Peers (identities or addresses) banned for misbehaviour.",
                                  value=getattr(bans, "count", 0))


class NodeMetrics:
    """The registry and every series of one node, plus the hooks that feed them."""

    def __init__(self, node: Any = None) -> None:
        self.registry = r = CollectorRegistry()
        self.started = time.monotonic()
        self.txs_committed = 0
        self.blocks_committed = 0
        self.txs_failed = 0
        self._admitted: OrderedDict[bytes, float] = OrderedDict()
        self._rounds: OrderedDict[tuple[int, int], list[float | None]] = OrderedDict()
        self._last_commit: float | None = None
        self._stage_children: dict[str, Any] = {}
        self._rpc_children: dict[tuple[str, str], Any] = {}

        def hist(name: str, doc: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> Histogram:
            return Histogram(name, doc, labels, registry=r, buckets=buckets)

        self.tx_latency = hist("chainnode_tx_commit_latency_seconds",
                               "Time from a transaction's admission to this node's mempool "
                               "to its commit.")
        self.block_interval = hist("chainnode_block_interval_seconds",
                                   "Time between two consecutive block commits on this node.")
        self.phase = hist("chainnode_consensus_phase_seconds",
                          "PBFT phases: pre_prepare (pre-prepare sent or received) to prepared "
                          "(own COMMIT vote), prepared to committed (commit certificate), and "
                          "commit (writing block, certificate and state).", ("phase",))
        self.execution = hist("chainnode_block_execution_seconds",
                              "Executing a block's transactions: build (leader) or validate "
                              "(follower).", ("step",))
        self.verify_wait = hist("chainnode_sm2_verify_queue_seconds",
                                "Time an SM2 signature check waited for a verify thread, by "
                                "pool (admission: client transactions and queries, one "
                                "observation per batch of transactions, also from verify "
                                "worker processes; block: proposals and consensus votes).",
                                ("pool",), QUEUE_BUCKETS)
        # observed several times per transaction: a cheaper histogram, same exposition
        self.stage = StageHistogram("chainnode_tx_stage_seconds",
                                    "Where a transaction's time goes (for scripts/bench.py "
                                    "--profile): decode, admission (mempool checks and SM2 "
                                    "verify), forwarding to validators, forwarded_in (a peer's "
                                    "forwarded tx), execute and state_root (inside "
                                    "build/validate), wal (consensus WAL writes).",
                                    "stage", LATENCY_BUCKETS, r)
        # observed once per request, only on the event loop (the route guard): no locks
        self.rpc = StageHistogram("chainnode_rpc_request_seconds",
                                  "RPC request latency by route (the route's pattern) and "
                                  "method.", ("route", "method"), LATENCY_BUCKETS, r,
                                  child=LoopChild)
        c_blocks = Counter("chainnode_blocks_committed", "Blocks committed since start.",
                           registry=r)
        c_txs = Counter("chainnode_txs_committed", "Transactions committed since start.",
                        registry=r)
        c_failed = Counter("chainnode_txs_failed",
                           "Committed transactions whose receipt failed.", registry=r)
        self._commit_counters = (c_blocks, c_txs, c_failed)
        self.view_changes = Counter("chainnode_view_changes",
                                    "Consensus view changes this node went through.",
                                    registry=r)
        self.relayed_packets = Counter("chainnode_relayed_packets",
                                       "Cross-chain packets relayed, by direction and "
                                       "side chain.", ("direction", "chain"), registry=r)
        self.sidechain_lag = Gauge("chainnode_sidechain_client_lag_blocks",
                                   "Side-chain light client: blocks between the side chain's "
                                   "head and the client's trusted height.", ("chain",),
                                   registry=r)
        self.sidechain_status = Gauge("chainnode_sidechain_client_status",
                                      "Side-chain light client status: 1 for the current "
                                      "status, 0 for the others.", ("chain", "status"),
                                      registry=r)
        if node is not None:
            self._bind(node)

    def _bind(self, node: Any) -> None:
        r = self.registry

        def gauge(name: str, doc: str, fn: Callable[[], float]) -> None:
            Gauge(name, doc, registry=r).set_function(fn)

        gauge("chainnode_height", "Height of the last committed block.",
              lambda: node.chain.head.height)
        gauge("chainnode_view", "Current consensus view.", lambda: node.view)
        gauge("chainnode_mempool_size", "Transactions waiting in the mempool.",
              lambda: len(node.mempool))
        gauge("chainnode_peers", "Connected peers (validators and observers).",
              lambda: len(node.peer_list()))
        gauge("chainnode_sync_lag_blocks", "Blocks between the highest head a peer reported "
              "and this node's head (0 when caught up).", lambda: _sync_lag(node))
        r.register(_ReadAtScrape(node))
        self._time_chain_steps(node)

    def _time_chain_steps(self, node: Any) -> None:
        """Time the executor and the SMT update from outside, so chain.py stays as it is."""
        chain = getattr(node, "chain", None)
        executor = getattr(chain, "executor", None)
        if executor is not None and hasattr(executor, "execute_block"):
            executor.execute_block = self.timed(executor.execute_block, "execute")
        db = getattr(node, "db", None)
        if db is not None and hasattr(db, "compute_state_update"):
            db.compute_state_update = self.timed(db.compute_state_update, "state_root")

    def timed(self, fn: Callable, stage: str) -> Callable:
        """`fn` with its run time recorded under chainnode_tx_stage_seconds{stage}."""
        hist = self.stage_child(stage)

        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                hist.observe(time.perf_counter() - t0)
        return run

    def stage_child(self, stage: str) -> Any:
        """The chainnode_tx_stage_seconds{stage} child, bound once (`labels()` costs a lock,
        a tuple and a dict lookup per call: too much per transaction)."""
        child = self._stage_children.get(stage)
        if child is None:
            child = self._stage_children[stage] = self.stage.labels(stage)
        return child

    def timing(self, stage: str) -> _StageTimer:
        """Context manager timing one stage of one transaction (also around an await: it
        takes two clock readings and never suspends)."""
        return _StageTimer(self.stage_child(stage))

    # -- hooks called from the node, the driver and the RPC server
    def tx_admitted(self, tx: Any) -> None:
        self._admitted[tx.hash] = time.monotonic()
        if len(self._admitted) > MAX_TRACKED_TXS:
            self._admitted.popitem(last=False)

    def committed(self, ex: Any) -> None:
        """A block committed (consensus or sync): counts, interval, admission latency."""
        now = time.monotonic()
        block = ex.block
        failed = sum(1 for rc in ex.outcome.receipts if not rc.ok)
        self.blocks_committed += 1
        self.txs_committed += len(block.txs)
        self.txs_failed += failed
        for counter, n in zip(self._commit_counters, (1, len(block.txs), failed), strict=True):
            counter.inc(n)
        if self._last_commit is not None:
            self.block_interval.observe(now - self._last_commit)
        self._last_commit = now
        for tx in block.txs:
            t0 = self._admitted.pop(tx.hash, None)
            if t0 is not None:
                self.tx_latency.observe(now - t0)

    def view_changed(self) -> None:
        self.view_changes.inc()

    def consensus_action(self, action: Any) -> None:
        """Phase times read off the core's actions: a pre-prepare is sent (leader) or asked
        to be validated (follower), the own COMMIT vote means prepared, CommitBlock means a
        commit certificate formed."""
        now = time.monotonic()
        if isinstance(action, A.Send) and isinstance(action.message, PrePrepare | Commit):
            msg = action.message
            key = (msg.height, msg.view)
            if isinstance(msg, PrePrepare):
                self._round(key)
            else:
                times = self._rounds.get(key)
                if times is not None and times[1] is None:
                    times[1] = now
                    self.phase.labels("pre_prepare_to_prepared").observe(now - times[0])
        elif isinstance(action, A.ValidateBlock):
            self._round((action.height, action.view))
        elif isinstance(action, A.CommitBlock):
            prepared = [t[1] for (h, _), t in self._rounds.items()
                        if h == action.height and t[1] is not None]
            if prepared:
                self.phase.labels("prepared_to_committed").observe(now - max(prepared))
            for key in [k for k in self._rounds if k[0] <= action.height]:
                del self._rounds[key]

    def _round(self, key: tuple[int, int]) -> None:
        if key not in self._rounds:
            self._rounds[key] = [time.monotonic(), None]
            if len(self._rounds) > MAX_TRACKED_ROUNDS:
                self._rounds.popitem(last=False)

    def timed_exec(self, fn: Callable) -> Callable:
        """`fn` as run on the execution thread, timed when it is a block step."""
        name = getattr(fn, "__name__", "")
        if name == PHASE_COMMIT:
            hist = self.phase.labels(PHASE_COMMIT)
        elif name in EXEC_STEPS:
            hist = self.execution.labels(EXEC_STEPS[name])
        elif name in EXEC_STAGES:
            hist = self.stage.labels(EXEC_STAGES[name])
        else:
            return fn

        def timed(*args: Any) -> Any:
            with hist.time():
                return fn(*args)
        return timed

    def verify_pool(self, label: str, threads: int, prefix: str) -> ThreadPoolExecutor:
        return TimedPool(threads, prefix, self.verify_wait.labels(label))

    def sidechain_client(self, chain: str, lag: int, status: str) -> None:
        """For the side-chain light clients: their lag and status, one series per chain."""
        self.sidechain_lag.labels(chain).set(lag)
        for s in {*SIDECHAIN_STATUSES, status}:
            self.sidechain_status.labels(chain, s).set(1 if s == status else 0)

    def packet_relayed(self, direction: str, chain: str) -> None:
        self.relayed_packets.labels(direction, chain).inc()

    def rpc_child(self, route: str, method: str) -> Any:
        """The chainnode_rpc_request_seconds child of a route pattern ('unmatched' for no
        route) and method, or None for a websocket stream (its lifetime is no latency).
        Made on a route's first request, as the library makes a child on first use."""
        if route in NO_STREAM_ROUTES:
            return None
        key = (route, method if method in RPC_METHODS else OTHER_METHOD)
        child = self._rpc_children.get(key)
        if child is None:
            child = self._rpc_children[key] = self.rpc.labels(*key)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _sync_lag(node: Any) -> int:
    sync = getattr(node, "sync", None)
    return max(0, getattr(sync, "target", 0) - node.chain.head.height) if sync else 0


class _StageTimer:
    """`with` timer for one histogram child: two clock readings, one observe."""

    __slots__ = ("_child", "_t0")

    def __init__(self, child: Any) -> None:
        self._child = child

    def __enter__(self) -> _StageTimer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.observe(time.perf_counter() - self._t0)


class TimedPool(ThreadPoolExecutor):
    """A thread pool that records how long each task waited for a thread (for admission, a
    task is a batch of signature checks: chainnode.verify_batch)."""

    def __init__(self, threads: int, prefix: str, waited: Any) -> None:
        super().__init__(threads, thread_name_prefix=prefix)
        self._waited = waited

    @property
    def waited(self) -> Any:
        """The queue-wait histogram child (also fed by verify worker processes)."""
        return self._waited

    def submit(self, fn, /, *args, **kwargs):
        t0 = time.perf_counter()
        waited = self._waited

        def run():
            waited.observe(time.perf_counter() - t0)
            return fn(*args, **kwargs)
        return super().submit(run)
