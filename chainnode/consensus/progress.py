"""Timers and catching up: when the core expects progress, and what it does when none comes.

Mixed into ConsensusCore (chainnode.consensus.node), whose state it reads and writes. One
timer runs while work is expected; on expiry the core first asks whether the network simply
moved on without it (a quorum certified our height, or f+1 peers work above it) and then
catches up instead of suspecting the leader; only a second expiry at the same height starts a
view change (chainnode.consensus.views).
"""

from __future__ import annotations

from chainnode.consensus.actions import CancelTimer, CatchUp, SetTimer
from chainnode.consensus.messages import Commit, Prepare, PrePrepare


class ProgressMixin:
    """The progress timer, per-peer heights, and catch-up requests."""

    def _arm(self) -> None:
        if not self.cfg.is_validator:
            return
        self._timer_token += 1
        self._timer_armed = True
        self._out.append(SetTimer(self._timer_token, self.cfg.timeout_ms(self._attempt)))

    def _work_expected(self) -> bool:
        return (self.st.waiting_new_view or self._accepted is not None
                or self._committing is not None or self.txs_pending or self.cfg.empty_blocks
                or len(self._workers) >= self.cfg.weak_quorum)

    def _refresh_timer(self) -> None:
        if not self.cfg.is_validator:
            return
        if self._work_expected():
            if not self._timer_armed:
                self._arm()
        elif self._timer_armed:
            self._timer_armed = False
            self._out.append(CancelTimer())

    def _catch_up(self, height: int) -> None:
        if height > self._catchup:
            self._catchup = height
            self._out.append(CatchUp(height))

    def _note_height(self, sender: int, height: int) -> None:
        """Track the height each peer works on (one int per validator)."""
        if height > self.peer_height.get(sender, 0):
            self.peer_height[sender] = height
            self._check_peers_ahead(2)

    def _check_peers_ahead(self, margin: int) -> bool:
        """If f+1 peers work `margin` or more heights past what we committed, the network
        is ahead of us (one of them is honest) and the sync layer should fetch blocks.
        Normally margin 2, so that a peer that merely committed first does not count."""
        hs = sorted(self.peer_height.values(), reverse=True)
        if len(hs) >= self.cfg.weak_quorum:
            ahead = hs[self.cfg.weak_quorum - 1] - 1  # f+1 peers committed at least this
            if ahead >= self.committed_height + margin:
                self._catch_up(ahead)
                return True
        return False

    def _evidence_only(self, msg: PrePrepare | Prepare | Commit) -> None:
        """A message too far ahead to keep: it still tells us where its sender is."""
        if msg.height > self.peer_height.get(msg.sender, 0) and self.checker.signed(msg):
            self._note_height(msg.sender, msg.height)

    def _on_timer(self, token: int) -> None:
        if token != self._timer_token or not self._timer_armed or not self.cfg.is_validator:
            return
        self._timer_armed = False
        self._catchup = self.committed_height  # let a failed sync be asked for again...
        self._check_committed()  # ...if we still hold a quorum's COMMITs for a missing body
        if self.st.waiting_new_view and self._live_view > self.view:
            if self._live_view_timeouts >= 1:  # asked a full timeout ago; no NEW-VIEW came
                self._rise_to(self._live_view)
                self._arm()
                self._replay()
                self._maybe_propose()
                return
            self._live_view_timeouts += 1
        if self.st.waiting_new_view:
            if self.vcs.support(self.view) >= self.cfg.quorum:
                self._start_view_change(self.view + 1)  # that view formed; its leader failed
            else:
                vc = self.st.votes.get(("view-change", self.view, 0))
                if vc is not None:
                    self._send(vc)  # links may have dropped it: byte-identical resend
                self._arm()
                self._check_peers_ahead(1)
            return
        behind = self._check_peers_ahead(1)
        if self._committing is not None or self._risen_at == self.height:
            # the shell could not commit it, or we moved up to this view by a certificate
            # and may have missed its proposal (it arrived before the sync that proved the
            # view, e.g. signed by a set we did not know yet): fetch the height certified
            self._catch_up(self.height)
            behind = True
        if behind and self._deferred_at != self.height:
            # The network moved past this height (a quorum certified it, or f+1 peers work
            # above it): the leader did not fail us, we fell behind, e.g. frozen past the
            # timeout. Catch up and wait one more timeout before suspecting the leader.
            self._deferred_at = self.height
            self._arm()
            return
        self._start_view_change(self.view + 1)
