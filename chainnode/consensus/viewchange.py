"""View-change bookkeeping and the NEW-VIEW rule, as pure functions both sides compute.

The new leader and every replica derive the same `NewViewPlan` from the same set of
VIEW-CHANGEs: the highest committed height the set proves (with its certificate) and, for the
height after it, the prepared certificate of the highest view. A block prepared in an earlier
view may have been committed by someone; any 2f+1 VIEW-CHANGEs include an honest node that
prepared it, so re-proposing the highest prepared block is what keeps commits final across
views. A NEW-VIEW whose PRE-PREPARE does not re-propose that block is rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chainnode.consensus.messages import NewView, PreparedCertificate, ViewChange
from chainnode.core.certificate import CommitCertificate


@dataclass(frozen=True)
class NewViewPlan:
    base: int  # highest committed height proven by the VIEW-CHANGEs
    base_cert: CommitCertificate | None  # its certificate (None at genesis)
    choice: PreparedCertificate | None  # highest prepared block at base + 1, if any

    @property
    def height(self) -> int:
        """The height the new view starts at."""
        return self.base + 1


def plan_new_view(vcs: Sequence[ViewChange]) -> NewViewPlan:
    """The NEW-VIEW obligations implied by `vcs` (assumed verified, one view, non-empty)."""
    best = max(vcs, key=lambda vc: (vc.committed_height, -vc.sender))
    base = best.committed_height
    prepared = [vc.prepared for vc in vcs
                if vc.prepared is not None and vc.prepared.height == base + 1]
    choice = max(prepared, key=lambda pc: (pc.view, pc.block_hash)) if prepared else None
    return NewViewPlan(base, best.committed_cert, choice)


def select_view_changes(vcs: dict[int, ViewChange], need: int,
                        excluded: frozenset[int] | set[int] = frozenset()) -> list[ViewChange]:
    """The `need` VIEW-CHANGEs a new leader embeds: highest committed heights first (so the
    new view starts as far up as the evidence allows), then those with the most recent
    prepared certificate (so validators locked on a block see it re-proposed), then lowest
    sender; sorted by sender. Empty if fewer than `need` are available."""
    pool = [vc for s, vc in vcs.items() if s not in excluded]
    if len(pool) < need:
        return []

    def prepared_view(vc: ViewChange) -> int:
        return vc.prepared.view if vc.prepared is not None else -1

    pool.sort(key=lambda vc: (-vc.committed_height, -prepared_view(vc), vc.sender))
    return sorted(pool[:need], key=lambda vc: vc.sender)


def check_new_view_shape(nv: NewView, n: int, need: int) -> NewViewPlan | None:
    """Structural NEW-VIEW rules (signatures are checked separately): enough distinct
    VIEW-CHANGEs, and a PRE-PREPARE exactly when the plan demands a re-proposal, for the
    planned height and the chosen block. Returns the plan, or None to reject."""
    if not need <= len(nv.view_changes) <= n:
        return None
    plan = plan_new_view(nv.view_changes)
    pp = nv.pre_prepare
    if plan.choice is None:
        return plan if pp is None else None
    if pp is None or pp.height != plan.height or pp.block_hash != plan.choice.block_hash:
        return None
    return plan


class ViewChangeTracker:
    """VIEW-CHANGEs seen: the highest view each sender asked for (one int per validator,
    whatever view it names), and full messages for views inside the window."""

    def __init__(self, n: int, weak: int, strong: int) -> None:
        self.n, self.weak, self.strong = n, weak, strong
        self.latest: dict[int, int] = {}
        self.by_view: dict[int, dict[int, ViewChange]] = {}

    def note(self, sender: int, view: int) -> None:
        if view > self.latest.get(sender, -1):
            self.latest[sender] = view

    def store(self, vc: ViewChange) -> None:
        self.note(vc.sender, vc.view)
        self.by_view.setdefault(vc.view, {}).setdefault(vc.sender, vc)

    def join_target(self) -> int | None:
        """The highest view that f+1 distinct validators asked for (at or beyond), so
        that at least one honest node is there; None if fewer than f+1 spoke."""
        views = sorted(self.latest.values(), reverse=True)
        return views[self.weak - 1] if len(views) >= self.weak else None

    def support(self, view: int) -> int:
        """How many validators asked for `view` or a later one."""
        return sum(1 for v in self.latest.values() if v >= view)

    def for_view(self, view: int) -> dict[int, ViewChange]:
        return self.by_view.get(view, {})

    def prune(self, min_view: int, max_view: int) -> None:
        self.by_view = {v: m for v, m in self.by_view.items() if min_view <= v <= max_view}
