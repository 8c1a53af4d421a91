"""View changes, NEW-VIEW, and returning to the view the network commits in.

Mixed into ConsensusCore (chainnode.consensus.node), whose state it reads and writes. The pure
NEW-VIEW rule (which block a new view must re-propose) is in chainnode.consensus.viewchange;
this module is the core's side of it: leaving a view, joining one f+1 validators ask for,
forming or accepting a NEW-VIEW, forwarding help to laggards, and going back down (or up) to
the view a commit certificate proves the network commits in (docs/consensus.md, "Returning to
the live view").
"""

from __future__ import annotations

from chainnode.consensus.messages import Commit, NewView, PrePrepare, ViewChange
from chainnode.consensus.viewchange import (
    NewViewPlan,
    check_new_view_shape,
    plan_new_view,
    select_view_changes,
)
from chainnode.core.certificate import CommitCertificate, quorum
from chainnode.crypto.hashing import sm3

MAX_FORWARDS = 3  # copies of one piece of help (NEW-VIEW, head certificate) per peer


class ViewsMixin:
    """Leaving views, forming and accepting NEW-VIEWs, and returning to the live view."""

    def _note_view(self, sender: int, view: int) -> None:
        """If f+1 peers work in views above ours (so one honest peer is there), ask for the
        view now instead of after a timeout: a VIEW-CHANGE below a peer's view makes it
        forward its NEW-VIEW. This is how a node that was away or syncing rejoins."""
        if view <= self.peer_view.get(sender, -1):
            return
        self.peer_view[sender] = view
        self._check_views_ahead()

    def _check_views_ahead(self) -> None:
        """The f+1 test of `_note_view`. Also run when a set change makes us a validator:
        as an observer we recorded the peers' views but asked for none."""
        if (not self.cfg.is_validator or self._asked_for_view
                or sum(1 for v in self.peer_view.values() if v > self.view)
                < self.cfg.weak_quorum):
            return
        if self.st.waiting_new_view:
            self._asked_for_view = True
            vc = self.st.votes.get(("view-change", self.view, 0))
            if vc is not None:
                self._send(vc)
        else:
            self._start_view_change(self.view + 1)
        self._asked_for_view = True

    def _new_view_number(self, view: int) -> None:
        self._reset_view_scratch()
        self.st.prune_votes(self.committed_height, view)
        self.log.prune(self.height, view - self.cfg.view_window)
        self.vcs.prune(view, view + self.cfg.view_window)

    def _start_view_change(self, view: int) -> None:
        """Leave the current view for `view` (> current): vote VIEW-CHANGE and wait."""
        st = self.st
        while not st.may_sign_view_change(view):
            view += 1  # after a return: skip views whose VIEW-CHANGE we signed and forgot
        self._new_view_number(view)
        st.set_view(view, True)
        st.set_new_view(None)
        self._attempt += 1
        if self.cfg.is_validator:
            self._send_view_change()
            self._arm()
        self._replay()
        self._try_new_view()

    def _send_view_change(self) -> None:
        """Sign (once) and send our VIEW-CHANGE for the view we wait in. Also used when a
        validator-set change makes us a validator while we wait (we followed the view as an
        observer and signed nothing for it)."""
        st = self.st
        vc = self._signed(ViewChange(st.view, self.committed_height, self.committed_cert,
                                     st.prepared, self.me, prepared_block=st.prepared_block))
        if vc is None:
            # We signed VIEW-CHANGE(view) before and have since returned to a lower
            # view: re-send that one (never sign a second, different one).
            vc = st.votes.get(("view-change", st.view, 0))
        if vc is not None and vc.sender == self.me:
            self._send(vc)
            self.vcs.store(vc)

    def _should_return(self, cert: CommitCertificate) -> bool:
        """A certificate from a lower view proves that view live: leave a view of our own.

        Only while we wait for a NEW-VIEW (our view never formed for us), and only if the
        certificate's view is not above ours and it certifies a height above the one we left
        at: 2f+1 validators voted in its view after we had left it, so it is where the
        network commits (a certificate for the height we left at may predate our leaving).
        The same view counts too: it formed without us and its NEW-VIEW never reached us.
        """
        st = self.st
        if not self.cfg.is_validator or not st.waiting_new_view or cert.view > st.view:
            return False
        own = st.votes.get(("view-change", st.view, 0))
        left_at = own.committed_height + 1 if own is not None else self.committed_height
        return cert.height > left_at

    def _adopt_view_of(self, cert: CommitCertificate) -> None:
        """A certificate from a higher view proves that view formed and is live: move up.

        2f+1 validators of the certificate's height committed in `cert.view`, so a NEW-VIEW
        for it (or for a view they all rose to the same way) formed and the network works
        there. A node still in a lower view (added to the set after the view change, or
        restarted with a WAL from before it) would otherwise buffer every proposal as
        "future" and follow by sync forever, each synced commit re-arming its timer, never
        signing. Observers follow too, so a validator added later starts in the live view.

        While we wait for a NEW-VIEW we first ask: our VIEW-CHANGE makes the peers of the
        higher view forward its NEW-VIEW and their head certificate (`_forward_new_view`,
        `_send_head_certificate`), which brings us in with the live round; moved up silently
        we could miss that round's proposal (the simulator's reconfiguration seeds 147 and
        196 showed it voting heights later). Forwarding is rate-limited, so if a full timeout
        passes and we still wait, we move up anyway (`_on_timer`).
        """
        st = self.st
        if cert is None or cert.view <= st.view:
            return
        if not st.waiting_new_view:
            self._rise_to(cert.view)
            return
        if cert.view > self._live_view:
            self._live_view, self._live_view_timeouts = cert.view, 0
            vc = st.votes.get(("view-change", st.view, 0))
            if vc is not None and self.cfg.is_validator:
                self._send(vc)  # byte-identical resend: peers above us answer with help

    def _rise_to(self, view: int) -> None:
        """Enter `view` for the height in flight, as a normal participant (no NEW-VIEW
        obligation: the one that opened `view` bound a height at or below the certificate's).
        Nothing is signed here; the view is persisted in the same Persist as the rest of the
        event, so a restart never goes back below it."""
        self._new_view_number(view)
        self.st.set_view(view, False)
        self.st.set_new_view(None)
        self._attempt = 0
        self._live_view = -1
        self._risen_at = self.height  # its first timeout fetches before suspecting the leader

    def _return_to(self, view: int) -> None:
        """Go back to `view`, where the network commits. Votes we signed for higher views
        stay in the WAL (a re-sent VIEW-CHANGE is byte-identical); we only ever vote at
        heights above the committed head, where we never voted in `view` before."""
        self._reset_view_scratch()
        self._live_view = -1
        self.st.return_to_view(view)
        self.st.set_new_view(None)
        self._attempt = 0
        # our own request for the higher view is withdrawn: it must not count toward f+1
        # when another lone node's VIEW-CHANGE arrives (we would leave again at once)
        self.vcs.latest.pop(self.me, None)
        self.peer_view = {i: v for i, v in self.peer_view.items() if v <= view}

    def _maybe_join(self) -> bool:
        """f+1 validators asked for a higher view: at least one is honest, so follow."""
        target = self.vcs.join_target()
        if target is not None and target > self.view:
            self._start_view_change(target)
            return True
        return False

    def _on_view_change(self, vc: ViewChange) -> None:
        if not self.checker.signed(vc):
            return
        self.vcs.note(vc.sender, vc.view)
        if vc.committed_height < self.committed_height:
            self._send_head_certificate(vc.sender)
        cert = vc.committed_cert
        if cert is not None and vc.committed_height > self.committed_height:
            if self.checkers.committed(cert, self.epochs):
                self._note_height(vc.sender, vc.committed_height + 1)
                self._commit_with(cert)
        if vc.view < self.view or (vc.view == self.view and not self.st.waiting_new_view):
            self._forward_new_view(vc.sender)
            return
        if vc.view > self.view + self.cfg.view_window:
            self._maybe_join()
            return
        if not self.checkers.view_change(vc, self.height, self.epochs):
            return
        self.vcs.store(vc)
        if not self._maybe_join() and vc.view == self.view:
            self._try_new_view()

    def _may_help(self, peer: int, what: str, at: int) -> bool:
        """Rate limit for unsolicited help: MAX_FORWARDS times per peer and view/height."""
        if not self.cfg.is_validator:
            return False
        last, count = self._helped.get((peer, what), (at, 0))
        count = count if last == at else 0
        if count >= MAX_FORWARDS:
            return False
        self._helped[(peer, what)] = (at, count + 1)
        return True

    def _forward_new_view(self, to: int) -> None:
        """A peer is still asking for a view we are already in: show it the NEW-VIEW."""
        nv = self.st.new_view
        if nv is not None and nv.view == self.view and self._may_help(to, "nv", self.view):
            self._send(nv, to)

    def _send_head_certificate(self, to: int) -> None:
        """A peer's VIEW-CHANGE shows it behind our head: send it the COMMITs of our head's
        certificate (each signed by its own validator), which make it catch up."""
        cert = self.committed_cert
        if cert is None or not self._may_help(to, "cert", cert.height):
            return
        for index, t, sig in cert.signatures:
            self._send(Commit(cert.view, cert.height, cert.block_hash, index, sig, t), to)

    def _try_new_view(self) -> None:
        """As the new view's leader, send NEW-VIEW once 2f+1 VIEW-CHANGEs are in."""
        st = self.st
        if not self.cfg.is_validator or not st.waiting_new_view:
            return
        own = st.votes.get(("new-view", st.view, 0))
        if own is not None:  # signed before a restart: send exactly that again
            plan = self._new_view_plan(own)
            if plan is not None:
                self._send(own)
                self._enter_view(own, plan)
            return
        stored = self.vcs.for_view(st.view)
        chosen = select_view_changes(stored, self.cfg.quorum)
        if not chosen:
            return
        plan = plan_new_view(chosen)
        if (not self.epochs.at(plan.height).same_members(self.epoch)
                or self.cfg.leader(st.view, plan.height) != self.me):
            return  # (a plan for a height of another validator set is not ours to lead)
        if plan.base > self.committed_height:
            self._commit_with(plan.base_cert)  # catch up first, then lead
            return
        pp = None
        if plan.choice is not None:
            body = self._reproposal_body(plan, stored)
            if body is None:
                return
            pp = self._signed(PrePrepare(st.view, plan.height, plan.choice.block_hash, body,
                                         self.me))
            if pp is None:
                return
        nv = self._signed(NewView(st.view, tuple(vc.stripped() for vc in chosen), pp, self.me))
        if nv is None:
            return
        self._send(nv)
        self._enter_view(nv, plan)

    def _reproposal_body(self, plan: NewViewPlan,
                         stored: dict[int, ViewChange]) -> bytes | None:
        """The body of the block the new view must re-propose, once known to be valid.

        Ours if we hold it; otherwise a VIEW-CHANGE's attachment, checked by the shell
        first (an attachment is unsigned, so a faulty peer may send garbage with a real
        certificate; such a sender's attachment is skipped next time).
        """
        target = plan.choice.block_hash
        if plan.height == self.committed_height:
            return self._committed_block if target == self.committed_hash else None
        if plan.height != self.height:
            return None
        if target in self._valid:
            return self._valid[target]
        if self._nv_validating is not None or (self.view, target) in self._validating:
            return None
        for sender in sorted(stored):
            vc = stored[sender]
            if (sender not in self._bad_attachments and vc.prepared is not None
                    and vc.prepared.block_hash == target and vc.prepared_block is not None):
                if (target, sm3(vc.prepared_block)) in self._invalid:
                    self._bad_attachments.add(sender)
                    continue
                self._nv_validating = (target, sender)
                self._validate(self.view, target, vc.prepared_block)
                return None
        return None

    def _on_new_view(self, nv: NewView) -> None:
        st = self.st
        current = nv.view == st.view and not st.waiting_new_view
        if nv.view < st.view or (current and (nv == st.new_view or nv.pre_prepare is None
                                              or nv.pre_prepare.height != self.height)):
            return
        plan = self._new_view_plan(nv)
        if plan is None or not self._new_view_valid(nv, plan):
            return
        if current:
            # With rotation, another VIEW-CHANGE set can make another validator the leader
            # of a later height in this view; its NEW-VIEW carries that height's proposal.
            self._on_pre_prepare(nv.pre_prepare)
            return
        self._enter_view(nv, plan)

    def _new_view_plan(self, nv: NewView) -> NewViewPlan | None:
        """The plan of `nv` if its shape is right for the validator set of the height it
        starts at (n and the quorum of THAT height)."""
        if not nv.view_changes:
            return None
        n = self.epochs.at(plan_new_view(nv.view_changes).height).n
        return check_new_view_shape(nv, n, quorum(n))

    def _new_view_valid(self, nv: NewView, plan: NewViewPlan) -> bool:
        """Every signature in `nv` is by a member of the set of the height it starts at
        (the set of a later height is the current one's best guess until a NewEpoch)."""
        height = plan.height
        checker = self.checkers.for_epoch(self.epochs.at(height))
        return (nv.sender == self._leader_at(nv.view, height) and checker.signed(nv)
                and all(self.checkers.view_change(vc, height, self.epochs)
                        for vc in nv.view_changes)
                and (nv.pre_prepare is None or checker.signed(nv.pre_prepare)))

    def _recheck_new_view(self) -> None:
        """After a validator-set change: a NEW-VIEW we accepted for a height of the new set
        was checked against a guess (the old set). If the new set does not confirm it, it
        binds nothing (its plan could release our lock): leave the view."""
        st, nv = self.st, self.st.new_view
        if nv is None or nv.view != st.view or st.waiting_new_view:
            return
        plan = self._new_view_plan(nv)
        if plan is not None and plan.height < self.epoch.start:
            return
        if plan is None or not self._new_view_valid(nv, plan):
            self._start_view_change(self.view + 1)

    def _enter_view(self, nv: NewView, plan: NewViewPlan) -> None:
        """Start normal operation in nv.view, bound by the plan the NEW-VIEW proved."""
        st = self.st
        if nv.view > st.view:
            self._new_view_number(nv.view)
        else:
            self._reset_view_scratch()
        st.set_view(nv.view, False, plan.base,
                    plan.choice.block_hash if plan.choice is not None else None)
        st.set_new_view(nv)
        for vc in nv.view_changes:
            self.vcs.note(vc.sender, vc.view)
        self._arm()
        if plan.base > self.committed_height and plan.base_cert is not None:
            self._commit_with(plan.base_cert)
        pp = nv.pre_prepare
        if pp is not None:
            if pp.height == self.committed_height:
                self._help(pp)
            elif pp.sender != self.me:
                self._on_pre_prepare(pp)
            elif pp.height == self.height:
                self._accept(pp)
        self._replay()
        self._maybe_propose()
