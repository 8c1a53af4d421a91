"""The PBFT state machine: `ConsensusCore.handle(event) -> list[Action]`.

Sans-IO: no sockets, clocks, threads or randomness. One block is in flight at a time and its
sequence number is its height. The core keeps:

* the committed head it was told about (height, hash, certificate),
* the durable state in `PersistedState` (view, own votes, prepared certificate, ...),
* the message log (`VoteLog` for PREPARE/COMMIT quorums, `FutureBuffer` for early proposals,
  `ViewChangeTracker` for VIEW-CHANGEs), all bounded by the config windows,
* the current round: the accepted PRE-PREPARE and what the shell said about block bodies.

The normal case (proposals, PREPARE/COMMIT quorums, commits, shell answers) is here; timers
and catch-up are in `progress`, view changes and NEW-VIEW in `views`, validator-set changes in
`switch` (mixins of this class).
See docs/consensus.md for the event/action protocol the shell follows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence

from chainnode.consensus.actions import (
    Action,
    BuildProposal,
    CommitBlock,
    GrowCertificate,
    ValidateBlock,
)
from chainnode.consensus.actions import Send as SendAction
from chainnode.consensus.config import ConsensusConfig
from chainnode.consensus.epoch import Epoch, EpochHistory
from chainnode.consensus.events import (
    BlockCommitted,
    BlockValidated,
    Event,
    MessageReceived,
    NewEpoch,
    ProposalReady,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
)
from chainnode.consensus.log import FutureBuffer, VoteLog
from chainnode.consensus.messages import (
    Commit,
    Message,
    NewView,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    ViewChange,
)
from chainnode.consensus.progress import ProgressMixin
from chainnode.consensus.state import PersistedState
from chainnode.consensus.switch import EpochMixin
from chainnode.consensus.verify import EpochCheckers, Sign, Verify
from chainnode.consensus.viewchange import (
    ViewChangeTracker,
    plan_new_view,
)
from chainnode.consensus.views import ViewsMixin
from chainnode.core.certificate import CommitCertificate
from chainnode.crypto.hashing import sm3

UNSURE_PER_VALIDATOR = 8  # next-height messages kept for a set change, per validator
MAX_BODIES = 16  # block bodies / verdicts remembered for the height in flight
RECENT_CERTS = 8  # certificates of the last heights that late COMMITs may still grow


def _cap(d: dict) -> None:
    """Keep a per-height cache bounded, forgetting the oldest entries first."""
    while len(d) > MAX_BODIES:
        del d[next(iter(d))]


class ConsensusCore(ProgressMixin, ViewsMixin, EpochMixin):
    """One validator's (or observer's) PBFT replica.

    Construct it from the committed head (as the block store has it) and the records loaded
    from the consensus WAL, feed it `Start()` once, then every event; execute the returned
    actions in order.
    """

    def __init__(self, config: ConsensusConfig, sign: Sign | None, verify: Verify, *,
                 committed_height: int = 0, committed_hash: bytes = b"",
                 committed_cert: CommitCertificate | None = None,
                 records: Mapping[bytes, bytes] | None = None,
                 clock: Callable[[], int] | None = None,
                 epochs: Sequence[Epoch] | None = None,
                 own_id: Hashable | None = None) -> None:
        if committed_height > 0 and committed_cert is None:
            raise ValueError("a committed height above 0 needs its certificate")
        if config.is_validator and sign is None:
            raise ValueError("a validator needs a signer")
        self._sign = sign
        # Epochs: without them, one static set of config.n validators named by their
        # indexes (config.own_index is ours). With them, config.n / own_index are derived
        # per height from the epoch in force and `own_id` (this node's member id).
        if epochs is None:
            epochs = [Epoch(1, tuple(range(config.n)), config.base_timeout_ms,
                            config.max_timeout_ms)]
            own_id = config.own_index
        self._own_id = own_id
        self._base_cfg = config
        self.epochs = EpochHistory(epochs)
        self.checkers = EpochCheckers(config.chain_id, verify)
        self.epoch = self.epochs.at(committed_height + 1)
        self.cfg = self._config_for(self.epoch)
        self.me = self.cfg.own_index
        self.checker = self.checkers.for_epoch(self.epoch)
        # Wall time in ms for the time a COMMIT vote carries (BFT time). Injected like the
        # signer: the core itself reads no clock.
        self._clock = clock if clock is not None else (lambda: 0)
        self.st = PersistedState.load(records or {})
        self.committed_height = committed_height
        self.committed_hash = committed_hash
        self.committed_cert = committed_cert
        self._recent_certs: dict[int, CommitCertificate] = {}  # height -> cert, to grow
        self._remember_cert(committed_cert)
        self.txs_pending = False
        self.log = VoteLog()
        self.future = FutureBuffer(config.buffer_per_sender, config.buffer_bytes_per_sender)
        self.vcs = ViewChangeTracker(self.cfg.n, self.cfg.weak_quorum, self.cfg.quorum)
        self.peer_height: dict[int, int] = {}
        self.peer_view: dict[int, int] = {}  # highest view each peer was seen working in
        self._committed_block: bytes | None = None  # body of the last CommitBlock we made
        self._catchup = committed_height
        self._timer_token = 0
        self._timer_armed = False
        self._attempt = 0
        self._deferred_at = 0  # height whose first timeout we spent catching up instead
        self._risen_at = 0  # height we entered a higher view at by a certificate (_rise_to)
        self._live_view = -1  # a higher view proven live while we wait for a NEW-VIEW
        self._live_view_timeouts = 0  # timeouts since; after one we move up (_on_timer)
        self._helped: dict[tuple[int, str], tuple[int, int]] = {}  # (peer, what) -> (at, count)
        # messages for the NEXT height that did not verify under the set we know: if the
        # commit of this height changes the set, they are checked again under the new one
        self._unsure: deque[Message] = deque(maxlen=UNSURE_PER_VALIDATOR * config.n + 16)
        self._out: list[Action] = []
        self._reset_round()
        self._reset_view_scratch()
        self._restore()

    # -- public surface ----------------------------------------------------------------------

    @property
    def view(self) -> int:
        return self.st.view

    @property
    def height(self) -> int:
        """The height in flight (committed height + 1)."""
        return self.committed_height + 1

    @property
    def in_view_change(self) -> bool:
        """True between sending VIEW-CHANGE(view) and accepting NEW-VIEW(view)."""
        return self.st.waiting_new_view

    @property
    def leader(self) -> int:
        return self.cfg.leader(self.view, self.height)

    def handle(self, event: Event) -> list[Action]:
        self._out = []
        if isinstance(event, MessageReceived):
            self._on_message(event.message)
        elif isinstance(event, TimerFired):
            self._on_timer(event.token)
        elif isinstance(event, BlockValidated):
            self._on_validated(event)
        elif isinstance(event, BlockCommitted):
            self._on_committed(event.height, event.block_hash)
        elif isinstance(event, ProposalReady):
            self._on_proposal(event)
        elif isinstance(event, TransactionsPending):
            self.txs_pending = event.pending
            self._maybe_propose()
        elif isinstance(event, SyncedTo):
            if event.height > self.committed_height:
                self._committed_block = None
                self._advance(event.height, event.block_hash, event.certificate)
        elif isinstance(event, NewEpoch):
            if self.epochs.add(event.epoch):
                self._enter_epoch()
        elif isinstance(event, Start):
            self._on_start()
        else:
            raise TypeError(f"not a consensus event: {event!r}")
        self._refresh_timer()
        self._flush()
        return self._out

    # -- output helpers ----------------------------------------------------------------------

    def _flush(self) -> None:
        act = self.st.take_persist()
        if act is not None:
            self._out.append(act)

    def _send(self, msg: Message, to: int | None = None) -> None:
        """Persist-before-send: whatever the message relies on is flushed first."""
        self._flush()
        if self.cfg.n > 1:
            self._out.append(SendAction(msg, to))

    def _signed(self, msg: Message) -> Message | None:
        return self.st.sign_once(msg, self._sign, self.cfg.chain_id)

    def _vote_time(self) -> int:
        """This validator's clock for a COMMIT vote, clamped into the codec's int range."""
        return min(max(int(self._clock()), 0), 2**63 - 1)

    # -- round and restart state -------------------------------------------------------------

    def _reset_round(self) -> None:
        """Forget everything about the height that was in flight."""
        self._accepted: PrePrepare | None = None
        # Verdicts are about a body, not just a hash: a faulty proposer or an unsigned
        # VIEW-CHANGE attachment can pair an honest block's hash with garbage.
        self._valid: dict[bytes, bytes] = {}  # hash -> body the shell found valid
        self._invalid: dict[tuple[bytes, bytes], None] = {}  # (hash, sm3(body))
        self._validating: dict[tuple[int, bytes], bytes] = {}  # (view, hash) -> body asked
        self._bodies: dict[bytes, bytes] = {}  # bodies of accepted proposals, unchecked
        self._committing: bytes | None = None
        self._committing_cert: CommitCertificate | None = None
        self._proposing = False
        # Peers seen proposing or voting at our height or above: f+1 of them (so one is
        # honest) mean the network expects progress from us even if our mempool is empty.
        self._workers: set[int] = set()

    def _reset_view_scratch(self) -> None:
        """Forget what only mattered for the previous view."""
        self._asked_for_view = False
        self._accepted = None
        self._proposing = False
        self._bad_attachments: set[int] = set()
        self._nv_validating: tuple[bytes, int] | None = None

    def _mark_valid(self, block_hash: bytes, body: bytes) -> None:
        self._valid[block_hash] = body
        _cap(self._valid)

    def _body(self, block_hash: bytes) -> bytes | None:
        """Best body known for `block_hash` at the height in flight: a validated one first,
        never one the shell rejected (a faulty leader can sign another block's hash with
        any body; committing that body under the real block's certificate would fork us;
        the shell checks the body against the hash again before it commits)."""
        body = self._valid.get(block_hash)
        if body is not None:
            return body
        body = self._bodies.get(block_hash)
        if body is None or (block_hash, sm3(body)) in self._invalid:
            return None
        return body

    def _restore(self) -> None:
        """Rebuild in-memory round state from the WAL after a restart."""
        st, h = self.st, self.height
        if st.prepared is not None and st.prepared.height != h:
            st.set_prepared(None, None)
        if st.accepted is not None and st.accepted.height != h:
            st.set_accepted(None)
        st.prune_votes(self.committed_height, st.view)
        if st.prepared is not None and st.prepared_block is not None:
            self._mark_valid(st.prepared.block_hash, st.prepared_block)
        pp = st.accepted
        if pp is not None:
            # It is persisted together with our PREPARE for it, so we validated it.
            self._mark_valid(pp.block_hash, pp.block)
            if pp.view == st.view and not st.waiting_new_view:
                self._accepted = pp
        for (kind, _view, height), msg in st.votes.items():
            if kind in ("prepare", "commit") and height == h:
                self.log.add(msg)
            elif kind == "view-change":
                self.vcs.store(msg)
            elif kind == "pre-prepare" and height == h:
                self._mark_valid(msg.block_hash, msg.block)

    def _on_start(self) -> None:
        """Re-send, byte for byte, what we had signed for the current view and height."""
        st = self.st
        if self.cfg.is_validator:
            if st.waiting_new_view:
                vc = st.votes.get(("view-change", st.view, 0))
                if vc is not None:
                    self._send(vc)
                else:  # we followed this view change as an observer and were added since
                    self._send_view_change()
                self._try_new_view()
            else:
                nv = st.votes.get(("new-view", st.view, 0))
                if nv is not None:
                    self._send(nv)
                for kind in ("pre-prepare", "prepare", "commit"):
                    msg = st.votes.get((kind, st.view, self.height))
                    if msg is not None:
                        self._send(msg)
        self._maybe_propose()
        self._check_prepared()
        self._check_committed()

    # -- messages ----------------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        # the sender's index means a member of the set of the message's height
        epoch = (self.epochs.at(msg.height) if isinstance(msg, (PrePrepare, Prepare, Commit))
                 else self.epoch)
        if not 0 <= msg.sender < epoch.n or msg.sender == epoch.index_of(self._own_id):
            return  # out of range, or our own (an echo, or a twin using our key)
        if isinstance(msg, PrePrepare):
            self._on_pre_prepare(msg)
        elif isinstance(msg, (Prepare, Commit)):
            self._on_vote(msg)
        elif isinstance(msg, ViewChange):
            self._on_view_change(msg)
        elif isinstance(msg, NewView):
            self._on_new_view(msg)

    def _too_far(self, view: int, height: int) -> bool:
        return (height > self.height + self.cfg.height_window
                or view > self.view + self.cfg.view_window)

    def _on_pre_prepare(self, pp: PrePrepare) -> None:
        h = self.height
        if pp.height < h or pp.view < self.view:
            return
        if self._too_far(pp.view, pp.height):
            self._evidence_only(pp)
            return
        if pp.sender != self.cfg.leader(pp.view, pp.height) or not self.checker.signed(pp):
            if pp.height == h + 1:
                self._unsure.append(pp)
            return
        self._note_height(pp.sender, pp.height)
        self._note_view(pp.sender, pp.view)
        self._workers.add(pp.sender)
        if (pp.view > self.view or self.st.waiting_new_view or pp.height > h
                or self._committing is not None):
            self.future.add(pp)
            return
        self._accept(pp)

    def _accept(self, pp: PrePrepare) -> None:
        """Take the (verified) proposal for the current view and height."""
        if self._obliged() and pp.block_hash != self.st.new_view_choice:
            return  # the NEW-VIEW obliged this height to re-propose another block
        if self._locked_against(pp):
            return  # we prepared another block here; only a NEW-VIEW can release us
        if self._accepted is not None:
            return  # a duplicate, or an equivocating leader: the first proposal stands
        self._accepted = pp
        self._bodies[pp.block_hash] = pp.block
        _cap(self._bodies)
        if self._valid.get(pp.block_hash) == pp.block:
            self._vote_prepare()
        elif (pp.block_hash, pp.body_digest()) in self._invalid:
            self._start_view_change(self.view + 1)
        else:
            self._validate(pp.view, pp.block_hash, pp.block)

    def _locked_against(self, pp: PrePrepare) -> bool:
        """The lock: a validator that holds a prepared certificate for this height never
        prepares another block there, unless the current view's NEW-VIEW obliges it to
        re-propose a block prepared in the lock's view or later. Safety across views rests
        on this rule, not on views only growing (a node may return to a lower view: see
        docs/consensus.md, "Returning to the live view")."""
        lock = self.st.prepared
        if lock is None or lock.height != pp.height or lock.block_hash == pp.block_hash:
            return False
        nv = self.st.new_view
        if not self._obliged() or nv is None or nv.view != self.view:
            return True
        choice = plan_new_view(nv.view_changes).choice
        return choice is None or choice.block_hash != pp.block_hash or choice.view < lock.view

    def _validate(self, view: int, block_hash: bytes, body: bytes) -> None:
        """Ask the shell about `body`, once per (view, hash) at a time."""
        if (view, block_hash) not in self._validating:
            self._validating[(view, block_hash)] = body
            _cap(self._validating)
            self._out.append(ValidateBlock(self.height, view, block_hash, body))

    def _help(self, pp: PrePrepare) -> None:
        """The new view re-proposes the block we already committed at our head: vote for it
        again so the peers still at that height can commit it."""
        me = self._me_at(pp.height)
        if (me is None or self.st.waiting_new_view or pp.view != self.view
                or pp.block_hash != self.committed_hash):
            return
        for vote in (Prepare(pp.view, pp.height, pp.block_hash, me),
                     Commit(pp.view, pp.height, pp.block_hash, me,
                            time_ms=self._vote_time())):
            vote = self._signed(vote)
            if vote is not None:
                self._send(vote)

    def _vote_prepare(self) -> None:
        pp = self._accepted
        if pp is None or not self.cfg.is_validator or self.st.waiting_new_view:
            return
        vote = self._signed(Prepare(pp.view, pp.height, pp.block_hash, self.me))
        if vote is None:
            return
        self.st.set_accepted(pp)
        self._send(vote)
        self.log.add(vote)
        self._check_prepared()

    def _on_vote(self, vote: Prepare | Commit) -> None:
        h = self.height
        if vote.height < h and isinstance(vote, Commit):
            self._late_commit(vote)
            return
        if vote.height < h or vote.view + self.cfg.view_window < self.view:
            return
        if self._too_far(vote.view, vote.height):
            self._evidence_only(vote)
            return
        if not self.checker.signed(vote):
            if vote.height == h + 1:
                self._unsure.append(vote)
            return
        self._note_height(vote.sender, vote.height)
        self._note_view(vote.sender, vote.view)
        self._workers.add(vote.sender)
        if not self.log.add(vote):
            return
        if vote.height == h:
            if isinstance(vote, Prepare):
                self._check_prepared()
            else:
                self._check_committed()
        elif isinstance(vote, Commit):
            need = self.cfg.quorum
            if self.log.count(vote.KIND, vote.view, vote.height, vote.block_hash) >= need:
                self._catch_up(vote.height)  # a quorum committed past us

    def _late_commit(self, vote: Commit, own: bool = False) -> None:
        """A COMMIT for a recent height that missed its certificate: add it, so every
        validator that voted shows in the certificate (and, for the head, in the next
        block's BFT time). Only the last RECENT_CERTS heights, one vote per validator."""
        cert = self._recent_certs.get(vote.height)
        checker = self.checkers.for_epoch(self.epochs.at(vote.height))  # the set of ITS height
        if (cert is None or vote.view != cert.view or vote.block_hash != cert.block_hash
                or vote.sender in cert.signers or not (own or checker.signed(vote))):
            return
        votes = sorted(cert.signatures + ((vote.sender, vote.time_ms, vote.signature),))
        cert = CommitCertificate(cert.chain_id, cert.height, cert.view, cert.block_hash,
                                 tuple(votes))
        self._recent_certs[cert.height] = cert
        if cert.height == self.committed_height:
            self.committed_cert = cert
        self._out.append(GrowCertificate(cert))

    def _remember_cert(self, cert: CommitCertificate | None) -> None:
        if cert is not None:
            self._recent_certs[cert.height] = cert
            for old in [h for h in self._recent_certs if h <= cert.height - RECENT_CERTS]:
                del self._recent_certs[old]

    def _check_prepared(self) -> None:
        pp, h = self._accepted, self.height
        if (pp is None or self.st.waiting_new_view or self._valid.get(pp.block_hash) != pp.block
                or not self.cfg.is_validator or ("commit", pp.view, h) in self.st.votes):
            return
        own = self.st.votes.get(("prepare", pp.view, h))
        if own is None or own.block_hash != pp.block_hash:
            return
        if self.log.count("prepare", pp.view, h, pp.block_hash) < self.cfg.quorum:
            return
        cert = PreparedCertificate(h, pp.view, pp.block_hash,
                                   self.log.signatures("prepare", pp.view, h, pp.block_hash))
        old = self.st.prepared
        if old is None or old.view < cert.view:
            self.st.set_prepared(cert, pp.block)
        vote = self._signed(Commit(pp.view, h, pp.block_hash, self.me,
                                   time_ms=self._vote_time()))
        if vote is None:
            return
        self._send(vote)
        self.log.add(vote)
        self._check_committed()

    def _check_committed(self) -> None:
        if self._committing is not None:
            return
        h = self.height
        for view, block_hash in self.log.quorums("commit", h, self.cfg.quorum):
            cert = CommitCertificate(self.cfg.chain_id, h, view, block_hash, tuple(
                (v.sender, v.time_ms, v.signature)
                for v in self.log.votes("commit", view, h, block_hash)))
            self._commit_with(cert)
            return

    def _commit_with(self, cert: CommitCertificate) -> None:
        """A quorum committed `cert.height`: commit it ourselves if we hold the body, else
        ask the sync layer for the certified block."""
        body = self._body(cert.block_hash) if cert.height == self.height else None
        if body is None:
            self._catch_up(cert.height)
            return
        if self._committing is not None:
            return
        self._committing = cert.block_hash
        self._committing_cert = cert
        self._out.append(CommitBlock(cert.height, cert.block_hash, body, cert))

    # -- shell answers -----------------------------------------------------------------------

    def _on_validated(self, ev: BlockValidated) -> None:
        body = self._validating.pop((ev.view, ev.block_hash), None)
        if ev.height != self.height or body is None:
            return  # not (or no longer) asked: the height was committed meanwhile
        if not ev.valid and (self._catchup >= ev.height or self._committing is not None):
            # We are committing this height by certificate, or asked the sync layer for it:
            # the shell's head may have moved under the validation ("does not extend
            # head"), so the verdict says nothing about the leader: drop it.
            return
        if ev.valid:
            self._mark_valid(ev.block_hash, body)
        else:
            self._invalid[(ev.block_hash, sm3(body))] = None
            _cap(self._invalid)
        nv = self._nv_validating
        if nv is not None and nv[0] == ev.block_hash and ev.view == self.view:
            self._nv_validating = None
            if not ev.valid:
                self._bad_attachments.add(nv[1])
        pp = self._accepted
        if (pp is not None and pp.view == ev.view and pp.block_hash == ev.block_hash
                and pp.block == body and not self.st.waiting_new_view):
            if ev.valid:
                self._vote_prepare()
            else:
                self._start_view_change(self.view + 1)
        elif self.st.waiting_new_view:
            self._try_new_view()

    def _on_committed(self, height: int, block_hash: bytes) -> None:
        if height != self.height or block_hash != self._committing:
            return  # not what we asked for (the shell answers exactly our CommitBlock)
        self._committed_block = self._body(block_hash)
        cert = self._committing_cert
        grown = None
        if cert is not None:
            # COMMITs that arrived while the shell was committing: the stored certificate
            # lacks them, so hand over the fuller one
            votes = self.log.votes("commit", cert.view, height, block_hash)
            if len(votes) > len(cert.signatures):
                grown = cert = CommitCertificate(cert.chain_id, height, cert.view, block_hash,
                                                 tuple((v.sender, v.time_ms, v.signature)
                                                       for v in votes))
        self._advance(height, block_hash, cert)
        if grown is not None:
            self._out.append(GrowCertificate(grown))
        if cert is not None:
            self._vote_after_commit(cert)

    def _vote_after_commit(self, cert: CommitCertificate) -> None:
        """Our shell executed and committed this block (its roots matched), by a certificate
        our own COMMIT is not in: the others were faster. Send our COMMIT anyway: peers add
        it to their certificate of that height, so the certificates show every validator
        that takes part, and its time counts in BFT time. Safe: the height is final for us,
        we never vote at it again, and it is the certified block. Only in the current view
        (a node in a view of its own sends none), whose votes we keep, so sign_once sees
        any earlier COMMIT of ours for that slot. Not after sync: we executed nothing."""
        me = self._me_at(cert.height)  # our index in the set that signs THAT height
        if (me is None or me in cert.signers or cert.view != self.view
                or self.st.waiting_new_view):
            return
        vote = self._signed(Commit(cert.view, cert.height, cert.block_hash, me,
                                   time_ms=self._vote_time()))
        if vote is None:
            return
        self._send(vote)
        self._late_commit(vote, own=True)

    def _advance(self, height: int, block_hash: bytes, cert: CommitCertificate | None) -> None:
        self.committed_height, self.committed_hash = height, block_hash
        self.committed_cert = cert
        self._remember_cert(cert)
        self._catchup = max(self._catchup, height)
        self._reset_round()
        st = self.st
        if st.prepared is not None and st.prepared.height <= height:
            st.set_prepared(None, None)
        st.set_accepted(None)
        st.prune_votes(height, st.view)
        self.log.prune(height + 1, st.view - self.cfg.view_window)
        self._attempt = 0
        unsure, self._unsure = list(self._unsure), deque(maxlen=self._unsure.maxlen)
        self._adopt_view_of(cert)  # before the epoch: a node added here starts in that view
        if self._enter_epoch():
            for msg in unsure:  # signed under the set that governs from now on?
                if msg.height == self.height:
                    self._on_message(msg)
        if cert is not None and self._should_return(cert):
            self._return_to(cert.view)
        if self._work_expected():
            self._arm()  # a commit resets the progress timer
        self._replay()
        self._check_committed()
        if st.waiting_new_view:
            self._try_new_view()
        else:
            self._maybe_propose()

    def _on_proposal(self, ev: ProposalReady) -> None:
        st = self.st
        if (not self.cfg.is_validator or ev.height != self.height or ev.view != st.view
                or st.waiting_new_view or self._accepted is not None
                or self._committing is not None
                or self.cfg.leader(ev.view, ev.height) != self.me or self._obliged()):
            return
        pp = self._signed(PrePrepare(ev.view, ev.height, ev.block_hash, ev.block, self.me))
        if pp is None:
            return
        self._proposing = False
        self._mark_valid(ev.block_hash, ev.block)
        self._send(pp)
        self._accept(pp)

    def _obliged(self) -> bool:
        """The current NEW-VIEW fixed the block for this height: no fresh proposal."""
        st = self.st
        return st.new_view_choice is not None and st.new_view_base == self.committed_height

    def _maybe_propose(self) -> None:
        st, h = self.st, self.height
        if (not self.cfg.is_validator or st.waiting_new_view or self._committing is not None
                or self._accepted is not None or self._proposing
                or self.cfg.leader(st.view, h) != self.me or self._obliged()):
            return
        own = st.votes.get(("pre-prepare", st.view, h))
        if own is not None:  # signed before a restart: propose exactly that again
            self._mark_valid(own.block_hash, own.block)
            self._send(own)
            self._accept(own)
            return
        if self.txs_pending or self.cfg.empty_blocks:
            self._proposing = True
            self._out.append(BuildProposal(h, st.view))

    def _replay(self) -> None:
        h, view, waiting = self.height, self.view, self.st.waiting_new_view

        def state_of(pp: PrePrepare) -> str:
            if pp.view < view or pp.height < h:
                return "stale"
            if pp.view == view and pp.height == h and not waiting and self._committing is None:
                return "ready"
            return "future"

        for pp in self.future.select(state_of):
            self._on_pre_prepare(pp)

