"""Validator-set changes inside the core: entering the epoch that governs the height in flight.

Mixed into ConsensusCore (chainnode.consensus.node), whose state it reads and writes. The
shell sends `NewEpoch` before the commit answer that reaches an epoch's start; `_advance`
calls `_enter_epoch`, which switches n, f, quorums, leaders, our own role and index and the
view timeouts, and keeps only the per-index bookkeeping whose indexes still name the same
member (docs/consensus.md, "Validator-set changes").
"""

from __future__ import annotations

from dataclasses import replace

from chainnode.consensus.actions import CancelTimer
from chainnode.consensus.config import ConsensusConfig
from chainnode.consensus.epoch import Epoch
from chainnode.consensus.viewchange import ViewChangeTracker


class EpochMixin:
    """Per-height validator sets and timer parameters."""

    def _config_for(self, epoch: Epoch) -> ConsensusConfig:
        own = epoch.index_of(self._own_id) if self._sign is not None else None
        return replace(self._base_cfg, n=epoch.n, own_index=own,
                       base_timeout_ms=epoch.base_timeout_ms,
                       max_timeout_ms=epoch.max_timeout_ms)

    def _enter_epoch(self) -> bool:
        """Switch to the epoch that governs the height in flight, if it changed: n, f,
        quorums, leaders, our own role and index, and the view timeouts. Bookkeeping keyed
        by validator index is kept only for indexes that still mean the same member (their
        signatures stay valid); the rest is dropped, so a removed validator's votes stop
        counting at exactly this height. True if the membership changed."""
        new, old = self.epochs.at(self.height), self.epoch
        if new == old:
            return False
        was_validator = self.cfg.is_validator
        self.epoch, self.cfg = new, self._config_for(new)
        self.me = self.cfg.own_index
        self.checker = self.checkers.for_epoch(new)
        if was_validator and not self.cfg.is_validator and self._timer_armed:
            self._timer_armed = False  # removed: an observer sets no timers
            self._out.append(CancelTimer())
        if not was_validator and self.cfg.is_validator and self.st.waiting_new_view:
            self._send_view_change()  # added while the network changes view: take part
        if old.same_members(new):
            return False  # only the timer parameters changed
        same = {i for i in range(min(old.n, new.n)) if old.validators[i] == new.validators[i]}
        self.log.keep_senders(same)
        self.peer_height = {i: h for i, h in self.peer_height.items() if i in same}
        self.peer_view = {i: v for i, v in self.peer_view.items() if i in same}
        self._workers &= same
        self._helped = {k: v for k, v in self._helped.items() if k[0] in same}
        vcs = ViewChangeTracker(self.cfg.n, self.cfg.weak_quorum, self.cfg.quorum)
        for i, view in self.vcs.latest.items():
            if i in same:
                vcs.note(i, view)
        for by_sender in self.vcs.by_view.values():
            for i, vc in by_sender.items():
                if i in same:
                    vcs.store(vc)
        self.vcs = vcs
        own = self.st.votes.get(("view-change", self.view, 0))
        if (self.cfg.is_validator and self.st.waiting_new_view and own is not None
                and own.sender != self.me):
            # our VIEW-CHANGE for this view names our old index: under the new set it is
            # someone else's (or nobody's). Sign the same statement again under our new
            # index (one per view and set: a NEW-VIEW of the new set can count only this
            # one); its committed height stays the one we left the old view at, which the
            # return rule reads (views.ViewsMixin._should_return).
            vc = self.st.resign_view_change(replace(own, sender=self.me), self._sign,
                                            self.cfg.chain_id)
            self._send(vc)
            self.vcs.store(vc)
            return True
        self._recheck_new_view()
        if not was_validator and self.cfg.is_validator:
            self._check_views_ahead()  # peers we saw in higher views as an observer
        return True

    def _me_at(self, height: int) -> int | None:
        """Our index in the set of `height` (None: not a validator there)."""
        if self._sign is None:
            return None
        return self.epochs.at(height).index_of(self._own_id)

    def _leader_at(self, view: int, height: int) -> int:
        """Leader of (view, height) under the set of that height."""
        return replace(self.cfg, n=self.epochs.at(height).n, own_index=None).leader(view, height)
