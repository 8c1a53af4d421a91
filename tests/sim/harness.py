"""The simulated world: a virtual clock, a lossy network, and a toy shell per node.

Everything random comes from one `random.Random(seed)`, and events at equal times run in
the order they were scheduled, so a seed replays exactly. The shells drive the real
ConsensusCore: messages go through encode/decode on the wire, every Persist goes to a WAL
(in memory, or plyvel when a test passes a factory) before the next action runs, and a
crash can tear an action list after any prefix, which is what persist-before-send guards.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from chainnode.consensus import (
    BlockCommitted,
    BlockValidated,
    BuildProposal,
    CancelTimer,
    CatchUp,
    Commit,
    CommitBlock,
    ConsensusConfig,
    ConsensusCore,
    Epoch,
    GrowCertificate,
    MessageReceived,
    NewEpoch,
    Persist,
    Prepare,
    PrePrepare,
    ProposalReady,
    Send,
    SetTimer,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
    ValidateBlock,
    ViewChange,
    decode_message,
    encode_message,
)
from chainnode.core.certificate import CommitCertificate, median_time, vote_payload
from chainnode.store.wal import MemoryWAL

from .fakes import (
    GENESIS_HASH,
    FakeKeys,
    apply_governance,
    block_hash,
    make_block,
    parse_block,
)

EMPTY_BLOCK_INTERVAL_MS = 300
OBSERVER_POLL_MS = 1000
VALIDATOR_POLL_MS = 5000


class SafetyViolation(AssertionError):
    pass


class ShellError(AssertionError):
    """The core asked the shell for something a correct core never asks for."""


@dataclass
class LinkPolicy:
    loss: float = 0.0
    dup: float = 0.0
    min_delay: int = 1
    max_delay: int = 20
    commit_loss: float = 0.0  # extra loss for COMMITs: leaves nodes split on what committed
    isolate_on_commit: float = 0.0  # chance a node is cut off right after it commits


@dataclass
class ChainEntry:
    height: int
    block_hash: bytes
    block: bytes
    cert: CommitCertificate | None


class SimNode:
    """One node instance: the core plus a toy shell (block store, mempool, WAL, timer).

    `key_id` is its signing key (a validator's member id; twins share one; None: an observer
    without a key). Its validator index is not fixed: it is its position in the epoch (set)
    of the height in flight, which governance transactions in committed blocks change; the
    shell derives its epochs from its own chain, as the real node does from state."""

    def __init__(self, sim: Simulation, node_id: int, key_id: int | None,
                 cfg: ConsensusConfig, wal, tag: str, faulty: bool) -> None:
        self.sim, self.node_id, self.key_id, self.cfg = sim, node_id, key_id, cfg
        self.wal, self.tag, self.faulty = wal, tag, faulty
        self.chain = [ChainEntry(0, GENESIS_HASH, b"", None)]
        self.epochs: list[Epoch] = [sim.genesis_epoch]
        self.untold: list[Epoch] = []  # epochs the core has not been sent yet
        self.zombie = False  # removed from the set, it keeps voting with its old index
        self.mempool: dict[bytes, None] = {}
        self.committed_txs: set[bytes] = set()
        self.alive = False
        self.incarnation = 0
        self.core: ConsensusCore | None = None
        self.timer_token: int | None = None
        self.pending_build: tuple[int, int] | None = None
        self.told_pending = False
        self.tear_next = False
        self.restarts = 0
        self.withhold = False
        self.propose_invalid = False
        self.clock_offset_ms = 0  # this node's wall clock minus virtual time
        self.slow_validation: tuple[int, int] | None = None  # (min, max) ms while set
        self.naive_verdicts = False  # report "invalid" when the head moved (the old shell)
        self.frozen = False  # SIGSTOP: nothing runs; events queue up until thaw()
        self.deaf_to_commits = False  # its inbound link loses every COMMIT (sync only)
        self.stale_invalid = 0  # "invalid" verdicts a naive shell gave for committed heights
        self.backlog: list[tuple[bool, Callable[[], None]]] = []
        # a faulty peer with a valid key that replays what it received (old certificates,
        # others' VIEW-CHANGEs and COMMITs) and signs VIEW-CHANGEs for higher views with
        # stale certificates, alongside what its own (correct) core sends
        self.replayer = False
        self.heard: list[bytes] = []

    @property
    def head(self) -> ChainEntry:
        return self.chain[-1]

    def epoch_at(self, height: int) -> Epoch:
        return next(e for e in reversed(self.epochs) if e.start <= height)

    @property
    def index(self) -> int | None:
        """Validator index in the set of the height in flight (None: observer)."""
        return self.epoch_at(self.head.height + 1).index_of(self.key_id)

    def __repr__(self) -> str:
        return f"node{self.node_id}(index={self.index}{', faulty' if self.faulty else ''})"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.incarnation += 1
        head = self.head
        sign = self.sim.keys.signer(self.key_id) if self.key_id is not None else None
        cfg = replace(self.cfg, own_index=self.index if sign is not None else None,
                      n=self.epoch_at(head.height + 1).n)
        self.core = ConsensusCore(cfg, sign, self.sim.keys.verify,
                                  committed_height=head.height, committed_hash=head.block_hash,
                                  committed_cert=head.cert, records=self.wal.load(),
                                  clock=lambda: self.sim.now + self.clock_offset_ms,
                                  epochs=self.epochs, own_id=self.key_id)
        self.untold = []
        self.alive = True
        self.frozen = False
        self.backlog = []
        self.timer_token = None
        self.pending_build = None
        self.told_pending = False
        self.handle(Start())
        self.update_pending()
        if self.sim.poll_sync:
            self.later(OBSERVER_POLL_MS, self.poll)

    def poll(self) -> None:
        """Poll sync as the real node does (chainnode.node._sync_loop): observers every
        second, validators every 5 s as a safety net. A node left behind a validator-set
        change learns of it only this way: messages of the new set do not verify under
        the set it knows, and its own (old-index) VIEW-CHANGEs do not verify for others."""
        if self.index is None or self.sim.now % VALIDATOR_POLL_MS < OBSERVER_POLL_MS:
            self.sim.sync(self)
        self.later(OBSERVER_POLL_MS, self.poll)

    def crash(self, torn: bool = False) -> None:
        """Stop now, or (torn) part-way through the action list of the next event."""
        if not self.alive:
            return
        if torn:
            self.tear_next = True
            return
        self._die()

    def _die(self) -> None:
        self.alive = False
        self.core = None
        self.timer_token = None
        self.pending_build = None
        self.tear_next = False
        self.sim.trace(self, "crash")

    def restart(self) -> None:
        if self.alive and self.tear_next:
            self._die()  # a torn crash that had not struck yet: make it happen now
        if self.alive:
            return
        self.restarts += 1
        self.sim.trace(self, "restart")
        self.start()

    # -- events in, actions out ------------------------------------------------------------

    def later(self, delay: int, fn: Callable[[], None], timer: bool = False) -> None:
        """Run fn after delay if this incarnation is still alive then (deferred to thaw()
        while the node is frozen)."""
        inc = self.incarnation

        def guarded() -> None:
            if self.alive and self.incarnation == inc:
                if self.frozen:
                    self.backlog.append((timer, guarded))
                else:
                    fn()

        self.sim.at(self.sim.now + delay, guarded)

    def freeze(self) -> None:
        """SIGSTOP: from now on nothing this node does runs; it all waits for thaw()."""
        if self.alive and not self.frozen:
            self.frozen = True
            self.sim.trace(self, "frozen")

    def thaw(self) -> None:
        """SIGCONT, worst case first: expired timers fire before the messages that queued
        up meanwhile are read."""
        if not self.frozen:
            return
        self.frozen = False
        self.sim.trace(self, "thawed")
        queued = sorted(self.backlog, key=lambda item: not item[0])  # stable: timers first
        self.backlog = []
        for _timer, fn in queued:
            if self.alive:
                fn()

    def handle(self, event) -> None:
        if self.frozen:
            self.backlog.append((isinstance(event, TimerFired), lambda: self.handle(event)))
            return
        actions = self.core.handle(event)
        # a torn crash strikes inside the first action list that sends something
        tear = self.tear_next and any(isinstance(a, Send) for a in actions)
        cut = self.sim.rng.randrange(len(actions)) if tear else len(actions)
        for act in actions[:cut]:
            self.execute(act)
            if not self.alive:
                return
        if tear:
            self._die()

    def execute(self, act) -> None:
        sim = self.sim
        if isinstance(act, Persist):
            self.wal.apply(act.puts, act.deletes)
        elif isinstance(act, Send):
            sim.send(self, act.message, act.to)
            if self.replayer:
                self.misbehave(act.message)
        elif isinstance(act, SetTimer):
            self.timer_token = act.token

            def fire(token=act.token) -> None:
                if self.timer_token == token:
                    self.timer_token = None
                    self.handle(TimerFired(token))

            self.later(act.delay_ms, fire, timer=True)
        elif isinstance(act, CancelTimer):
            self.timer_token = None
        elif isinstance(act, BuildProposal):
            self.pending_build = (act.height, act.view)
            self.try_build()
        elif isinstance(act, ValidateBlock):
            delay = sim.rng.randint(*(self.slow_validation or (1, 5)))
            self.later(delay, lambda: self.answer_validation(act))
        elif isinstance(act, CommitBlock):
            self.commit(act)
        elif isinstance(act, CatchUp):
            self.later(sim.rng.randint(10, 60), lambda: sim.sync(self))
        elif isinstance(act, GrowCertificate):
            cert = act.certificate
            entry = self.chain[cert.height] if cert.height <= self.head.height else None
            if entry is None or entry.block_hash != cert.block_hash:
                raise ShellError(f"{self} asked to grow a certificate it does not hold")
            sim.check_cert(cert, cert.height, cert.block_hash)
            if set(entry.cert.signers) < set(cert.signers):  # else synced a larger one
                entry.cert = cert
        else:
            raise ShellError(f"unknown action {act!r}")

    def misbehave(self, msg) -> None:
        """Replay up to three messages heard earlier, and now and then sign a VIEW-CHANGE
        for a view up to three above ours carrying the certificate of an old height. As
        leader, also send each peer a second PRE-PREPARE that pairs the proposal's hash with
        another body (signed: the signature covers both)."""
        sim, rng = self.sim, self.sim.rng
        if isinstance(msg, PrePrepare) and msg.sender == self.index:
            h, prev, txs, _tag = parse_block(msg.block)
            evil = replace(msg, block=make_block(h, prev, txs, "evil"))
            sign = sim.keys.signer(self.key_id)
            sim.send_raw(self, encode_message(replace(
                evil, signature=sign(evil.DOMAIN, evil.signing_payload(sim.chain_id)))))
        for _ in range(rng.randint(0, 3)):
            if self.heard:
                sim.send_raw(self, rng.choice(self.heard))
        if rng.random() < 0.2 and self.head.height > 0:
            old = self.chain[rng.randint(1, self.head.height)]
            vc = ViewChange(self.core.view + rng.randint(1, 3), old.height, old.cert, None,
                            self.index)
            sign = sim.keys.signer(self.key_id)
            sim.send_raw(self, encode_message(replace(
                vc, signature=sign(vc.DOMAIN, vc.signing_payload(sim.chain_id)))))

    def zombie_votes(self, msg) -> None:
        """A removed validator that goes on voting: for every proposal it hears it signs a
        PREPARE and a COMMIT with the index it had (its key is genuine). Such votes must
        never count: the set of the proposal's height does not hold its key there."""
        if not isinstance(msg, PrePrepare) or not self.alive:
            return
        old = next((e.index_of(self.key_id) for e in reversed(self.epochs)
                    if e.index_of(self.key_id) is not None), None)
        if old is None or self.index is not None:
            return
        sign = self.sim.keys.signer(self.key_id)
        for vote in (Prepare(msg.view, msg.height, msg.block_hash, old),
                     Commit(msg.view, msg.height, msg.block_hash, old, time_ms=self.sim.now)):
            self.sim.send_raw(self, encode_message(replace(
                vote, signature=sign(vote.DOMAIN, vote.signing_payload(self.sim.chain_id)))))

    # -- the toy shell ---------------------------------------------------------------------

    def answer_validation(self, act: ValidateBlock) -> None:
        """Validation ends now, against the head as it is now: sync may have committed the
        height meanwhile. The shell then says "already committed" (SyncedTo for its head),
        as the real driver does; a naive shell reports "invalid" (the core must cope)."""
        if self.head.height >= act.height and not self.naive_verdicts:
            self.already_committed()
            return
        ok = self.check_block(act.height, act.block_hash, act.block)
        if not ok and self.head.height >= act.height:
            self.stale_invalid += 1
        self.handle(BlockValidated(act.height, act.view, act.block_hash, ok))

    def already_committed(self) -> None:
        head = self.head
        self.sim.trace(self, f"height already committed (head {head.height})")
        self.tell_epochs()
        self.handle(SyncedTo(head.height, head.block_hash, head.cert))

    def tell_epochs(self) -> None:
        """NewEpoch for every set change the chain recorded, before the commit answer that
        reaches its start (as chainnode.reconfig does)."""
        while self.untold and self.alive and not self.frozen:
            self.handle(NewEpoch(self.untold.pop(0)))

    def check_block(self, height: int, bhash: bytes, block: bytes) -> bool:
        try:
            h, prev, txs, _tag = parse_block(block)
        except ValueError:
            return False
        return (h == height == self.head.height + 1 and prev == self.head.block_hash
                and block_hash(block) == bhash and all(type(t) is bytes for t in txs)
                and b"invalid" not in txs)

    def try_build(self) -> None:
        if self.pending_build is None:
            return
        height, view = self.pending_build
        if height != self.head.height + 1:
            self.pending_build = None
            return
        txs = list(self.mempool)[:20]
        if (not txs and not self.cfg.empty_blocks) or self.withhold:
            return  # answer once transactions arrive
        self.pending_build = None
        if self.propose_invalid:
            txs = txs + [b"invalid"]
        block = make_block(height, self.head.block_hash, txs, self.tag)
        ev = ProposalReady(height, view, block_hash(block), block)
        # an idle chain with empty blocks is paced by the shell, not by the core
        self.later(1 if txs else EMPTY_BLOCK_INTERVAL_MS, lambda: self.handle(ev))

    def commit(self, act: CommitBlock) -> None:
        if self.head.height >= act.height:  # sync got there first
            if self.chain[act.height].block_hash != act.block_hash:
                raise SafetyViolation(f"{self} asked to commit a block other than the one "
                                      f"synced at {act.height}")
            self.already_committed()
            return
        if block_hash(act.block) != act.block_hash:
            # a faulty leader's body under the certified hash, reached before our own
            # validation: refuse, as the real driver does, and fetch the certified block
            self.sim.trace(self, f"body for {act.height} is not the certified block")
            self.sim.foreign_bodies += 1
            self.later(self.sim.rng.randint(10, 60), lambda: self.sim.sync(self))
            return
        if not self.check_block(act.height, act.block_hash, act.block):
            raise ShellError(f"{self} asked to commit a block that does not extend its head")
        self.sim.check_cert(act.certificate, act.height, act.block_hash)
        self.append(ChainEntry(act.height, act.block_hash, act.block, act.certificate))
        ev = BlockCommitted(act.height, act.block_hash)
        self.later(1, lambda: (self.tell_epochs(), self.handle(ev), self.update_pending()))

    def append(self, entry: ChainEntry) -> None:
        self.chain.append(entry)
        _, _, txs, _ = parse_block(entry.block)
        for t in txs:
            self.committed_txs.add(t)
            self.mempool.pop(t, None)
        nxt = apply_governance(self.epochs[-1], entry.height, txs)
        if nxt is not None:
            self.epochs.append(nxt)
            self.untold.append(nxt)
        self.sim.record_commit(self, entry, nxt)

    def add_tx(self, tx: bytes) -> None:
        if tx in self.committed_txs or tx in self.mempool:
            return
        self.mempool[tx] = None
        if self.alive:
            self.try_build()
            self.update_pending()

    def update_pending(self) -> None:
        pending = bool(self.mempool)
        if self.alive and pending != self.told_pending:
            self.told_pending = pending
            self.handle(TransactionsPending(pending))


class Simulation:
    """Nodes, network, clock and invariant checks for one seeded run."""

    def __init__(self, n: int, seed: int, *, cfg: dict | None = None, twins: tuple[int, ...] = (),
                 observers: int = 0, wal_factory: Callable[[int], object] = lambda _i: MemoryWAL(),
                 chain_id: str = "sim", trace: Callable[[str], None] | None = None,
                 candidates: int = 0) -> None:
        """`candidates`: extra nodes with keys n.. that start as observers; governance
        transactions (tests/sim/reconfig.py) may add them to the set, or remove anyone."""
        self.n, self.seed = n, seed
        self.rng = random.Random(seed)
        self.now = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.keys = FakeKeys(n + candidates, seed)
        self.policy = LinkPolicy()
        self.groups: list[set[int]] | None = None
        self.commits: dict[int, bytes] = {}
        self.messages_sent = 0
        self.syncs = 0
        self.replayed = 0  # extra broadcasts of replaying faulty nodes
        self.foreign_bodies = 0  # CommitBlocks whose body is not the certified block
        self.votes_seen: dict[tuple, tuple[bytes, bytes]] = {}
        self.refused_removed = 0  # certificates shown to refuse a removed member's signature
        self.poll_sync = candidates > 0  # reconfiguration runs: nodes poll sync (see poll)
        self.proposals: dict[tuple[int, int, int], set[bytes]] = {}  # (index, view, height)
        self.tracing = trace
        base = dict(cfg or {})
        c0 = ConsensusConfig(n=n, own_index=None, chain_id=chain_id, **base)
        self.genesis_epoch = Epoch(1, tuple(range(n)), c0.base_timeout_ms, c0.max_timeout_ms)
        self.epochs: dict[int, Epoch] = {1: self.genesis_epoch}  # the chain's, by start
        self.removed: dict[int, int] = {}  # member -> first height it no longer signs
        self.nodes: list[SimNode] = []
        for i in range(n):
            c = ConsensusConfig(n=n, own_index=i, chain_id=chain_id, **base)
            self.nodes.append(SimNode(self, i, i, c, wal_factory(i), f"n{i}", i in twins))
        for t in twins:
            c = ConsensusConfig(n=n, own_index=t, chain_id=chain_id, **base)
            self.nodes.append(SimNode(self, len(self.nodes), t, c, wal_factory(len(self.nodes)),
                                      f"twin{t}", True))
        for _ in range(observers):
            c = ConsensusConfig(n=n, own_index=None, chain_id=chain_id, **base)
            self.nodes.append(SimNode(self, len(self.nodes), None, c, MemoryWAL(),
                                      "observer", False))
        for k in range(n, n + candidates):
            c = ConsensusConfig(n=n, own_index=None, chain_id=chain_id, **base)
            self.nodes.append(SimNode(self, len(self.nodes), k, c, wal_factory(len(self.nodes)),
                                      f"cand{k}", False))
        self.chain_id = chain_id

    def epoch_at(self, height: int) -> Epoch:
        """The set of `height` as the chain decided it (every node derives the same)."""
        return self.epochs[max(s for s in self.epochs if s <= height)]

    def node_of(self, key_id: int) -> list[SimNode]:
        return [nd for nd in self.nodes if nd.key_id == key_id]

    # -- clock -----------------------------------------------------------------------------

    def at(self, t: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, fn))

    def run_until(self, t: int, stop: Callable[[], bool] | None = None) -> bool:
        """Advance to time t (or until `stop()` holds); True if stopped early."""
        while self._queue and self._queue[0][0] <= t:
            when, _, fn = heapq.heappop(self._queue)
            self.now = when
            fn()
            if stop is not None and stop():
                return True
        self.now = max(self.now, t)
        return False

    def trace(self, node: SimNode, what: str) -> None:
        if self.tracing is not None:
            self.tracing(f"{self.now:>8} {node}: {what}")

    # -- network ---------------------------------------------------------------------------

    def can_talk(self, a: int, b: int) -> bool:
        if self.groups is None:
            return True
        return any(a in g and b in g for g in self.groups)

    def send(self, src: SimNode, msg, to: int | None) -> None:
        data = encode_message(msg)
        self.messages_sent += 1
        if not src.faulty:
            self.check_single_vote(src, msg)
        if msg.KIND == "pre-prepare":
            self.proposals.setdefault((msg.sender, msg.view, msg.height), set()).add(
                msg.block_hash)
        if self.tracing is not None:
            self.trace(src, f"send {msg.KIND} v={msg.view} "
                            f"h={getattr(msg, 'height', '-')} to={to}")
        target = src.core.epoch.validators[to] if to is not None else None
        for dst in self.nodes:
            if dst is src or (to is not None and dst.key_id != target):
                continue
            if to is None and dst.key_id is not None and dst.key_id == src.key_id:
                continue  # a twin's broadcast skips its sibling, as the real net layer would
            copies = 1 + (self.rng.random() < self.policy.dup)
            loss = self.policy.loss
            if msg.KIND == "commit":
                loss = 1 - (1 - loss) * (1 - self.policy.commit_loss)
            for _ in range(copies):
                if not self.can_talk(src.node_id, dst.node_id) or self.rng.random() < loss:
                    continue
                delay = self.rng.randint(self.policy.min_delay, self.policy.max_delay)
                self.at(self.now + delay, lambda d=dst, s=src, b=data: self.deliver(s, d, b))

    def send_raw(self, src: SimNode, data: bytes) -> None:
        """A faulty node's extra broadcast of `data` (replayed or forged), same weather."""
        self.messages_sent += 1
        self.replayed += 1
        for dst in self.nodes:
            if dst is src or dst.key_id == src.key_id:
                continue
            if not self.can_talk(src.node_id, dst.node_id) or self.rng.random() < self.policy.loss:
                continue
            delay = self.rng.randint(self.policy.min_delay, self.policy.max_delay)
            self.at(self.now + delay, lambda d=dst, s=src, b=data: self.deliver(s, d, b))

    def vote_signers(self, height: int, nodes: list[SimNode]) -> set[int]:
        """Validators (member ids) whose COMMIT is in some node's certificate for `height`."""
        members = self.epoch_at(height).validators
        return {members[i] for nd in nodes if nd.head.height >= height
                for i in nd.chain[height].cert.signers}

    def deliver(self, src: SimNode, dst: SimNode, data: bytes) -> None:
        if not dst.alive or not self.can_talk(src.node_id, dst.node_id):
            return
        msg = decode_message(data)
        if dst.deaf_to_commits and msg.KIND == "commit":
            return
        if dst.zombie:
            dst.zombie_votes(msg)
        if dst.replayer and len(dst.heard) < 400:
            dst.heard.append(data)
        elif dst.replayer:
            dst.heard[self.rng.randrange(400)] = data
        dst.handle(MessageReceived(msg))

    def submit(self, tx: bytes) -> None:
        """A client sends tx to every node (each copy delayed independently, none lost)."""
        for node in self.nodes:
            self.at(self.now + self.rng.randint(1, 50), lambda nd=node: nd.add_tx(tx))

    # -- sync ------------------------------------------------------------------------------

    def sync(self, node: SimNode) -> None:
        """Fetch certified blocks from the reachable peer with the longest chain."""
        peers = [p for p in self.nodes if p is not node and p.alive and not p.frozen
                 and self.can_talk(p.node_id, node.node_id)
                 and p.head.height > node.head.height]
        if not peers:
            return
        peer = max(peers, key=lambda p: (p.head.height, -p.node_id))
        for entry in peer.chain[node.head.height + 1:]:
            if parse_block(entry.block)[1] != node.head.block_hash:
                raise SafetyViolation(f"{peer} chain does not extend {node} at {entry.height}")
            self.check_cert(entry.cert, entry.height, entry.block_hash)
            node.append(replace(entry))  # a copy: certificates grow per node
        head = node.head
        self.syncs += 1
        self.trace(node, f"synced to {head.height}")

        def answer() -> None:
            node.tell_epochs()
            node.handle(SyncedTo(head.height, head.block_hash, head.cert))
            node.update_pending()

        # the blocks are durable now, the answer comes a little later: a validation or
        # commit of those heights may end in between (the race of issue 9)
        node.later(self.rng.randint(0, 200), answer)

    # -- invariants ------------------------------------------------------------------------

    def check_cert(self, cert: CommitCertificate, height: int, bhash: bytes) -> None:
        """Every certificate is checked against the set of ITS height; and a removed member's
        signature (valid under its key) must not count in place of a current member's."""
        members = self.epoch_at(height).validators

        def verify(i: int, payload: bytes, sig: bytes) -> bool:
            return self.keys.verify(members[i], "commit", payload, sig)

        try:
            cert.check(len(members), verify, chain_id=self.chain_id, height=height,
                       block_hash=bhash)
        except ValueError as exc:
            raise ShellError(f"bad commit certificate at height {height} (set of "
                             f"{len(members)}: {members}): {exc}") from exc
        gone = [m for m, h in self.removed.items() if h <= height and m not in members]
        if gone:
            self.check_removed_refused(cert, gone[-1], verify)
        self.check_time(cert)

    def check_removed_refused(self, cert: CommitCertificate, member: int, verify) -> None:
        """Put `member`'s genuine COMMIT signature in place of the first signer's: the
        certificate must no longer verify against its height's set."""
        i, t, _ = cert.signatures[0]
        payload = vote_payload("commit", self.chain_id, cert.view, cert.height,
                               cert.block_hash, t)
        forged = replace(cert, signatures=((i, t, self.keys.signer(member)("commit", payload)),)
                         + cert.signatures[1:])
        try:
            forged.check(len(self.epoch_at(cert.height).validators), verify,
                         chain_id=self.chain_id)
        except ValueError:
            self.refused_removed += 1
            return
        raise SafetyViolation(f"seed {self.seed}: removed validator {member}'s signature "
                              f"counts in a certificate of height {cert.height}")

    def check_time(self, cert: CommitCertificate) -> None:
        """BFT time: with at most f faulty signers (however their clocks lie: 0, 2**63-1),
        a certificate's median vote time lies within its honest signers' clocks."""
        members = self.epoch_at(cert.height).validators
        faulty = {nd.key_id for nd in self.nodes if nd.faulty and nd.key_id is not None}
        honest = [t for i, t, _ in cert.signatures if members[i] not in faulty]
        median = median_time([t for _, t, _ in cert.signatures])
        if not honest or not min(honest) <= median <= max(honest):
            raise SafetyViolation(f"seed {self.seed}: certificate of height {cert.height} has "
                                  f"median time {median} outside the honest clocks {honest}")

    def check_single_vote(self, src: SimNode, msg) -> None:
        """An honest validator never signs two different messages for one (kind, view,
        height), crashes and restarts included; a resend must be the same statement."""
        height = getattr(msg, "height", src.head.height + 1)
        if msg.sender != src.epoch_at(height).index_of(src.key_id):
            return  # a forwarded NEW-VIEW or someone else's COMMIT
        # by key, and for a VIEW-CHANGE also by index: after a set change moved a validator's
        # index it signs one for its view again under the new index (one per view and set)
        slot = (src.key_id, msg.sender if msg.KIND == "view-change" else None, msg.KIND,
                msg.view, getattr(msg, "height", 0))
        payload = (msg.signing_payload(self.chain_id), msg.signature)
        first = self.votes_seen.setdefault(slot, payload)
        if first != payload:
            raise SafetyViolation(f"seed {self.seed}: {src} signed two different {msg.KIND} "
                                  f"messages for view {msg.view}, height {slot[3]}")

    def record_commit(self, node: SimNode, entry: ChainEntry, epoch: Epoch | None) -> None:
        """Every instance's commits, twins included, must agree: a certificate for a
        conflicting block would need honest nodes to commit-vote twice. So must the sets
        they derive from them."""
        if epoch is not None:
            known_epoch = self.epochs.setdefault(epoch.start, epoch)
            if known_epoch != epoch:
                raise SafetyViolation(f"seed {self.seed}: {node} derived another set for "
                                      f"height {epoch.start}")
            prev = self.epoch_at(epoch.start - 1).validators
            for m in prev:
                if m not in epoch.validators:
                    self.removed.setdefault(m, epoch.start)
        self.trace(node, f"commit h={entry.height} {entry.block_hash.hex()[:8]}")
        if self.groups is None and self.rng.random() < self.policy.isolate_on_commit:
            # the first to commit vanishes before the others hear the last COMMITs: the
            # next view must re-propose this block without its help
            self.groups = [{node.node_id}, {nd.node_id for nd in self.nodes} - {node.node_id}]
            self.at(self.now + self.rng.randint(500, 5000),
                    lambda g=self.groups: setattr(self, "groups", None)
                    if self.groups is g else None)
        known = self.commits.setdefault(entry.height, entry.block_hash)
        if known != entry.block_hash:
            raise SafetyViolation(
                f"seed {self.seed}: {node} committed {entry.block_hash.hex()[:16]} at height "
                f"{entry.height}, another node committed {known.hex()[:16]}")

    def honest(self) -> list[SimNode]:
        """Correct nodes with a key: validators, and candidates (observers until added)."""
        return [nd for nd in self.nodes if not nd.faulty and nd.key_id is not None]

    def has_committed(self, tx: bytes, nodes: list[SimNode]) -> bool:
        return all(tx in nd.committed_txs for nd in nodes)


@dataclass
class RunResult:
    seed: int
    n: int
    heights: list[int]
    recovery_ms: int | None
    messages: int
    notes: list[str] = field(default_factory=list)
