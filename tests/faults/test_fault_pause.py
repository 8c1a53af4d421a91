"""Frozen validators (SIGSTOP / SIGCONT) under steady load: issue 9, cases 1 to 4.

A process stopped longer than the view timeout wakes up with its timer expired; it must not
move into a view of its own but follow the network and vote again. Each case ends with the
suite's assertions: no fork at any height, no acknowledged transaction lost.
"""

from __future__ import annotations

import time

from chainnode_fault_harness import (
    VIEW_TIMEOUT_S,
    CommitClock,
    Load,
    final_checks,
    record_figures,
    settled_height,
    wait_until,
    wait_votes_again,
)

N = 4
PAUSE_S = 3 * VIEW_TIMEOUT_S  # "past the view timeout"
VOTE_RUN = 5  # a validator votes again = its vote is in the certificates of 5 heights in a row
VOTE_BOUND_S = 10.0  # ... starting within this long after SIGCONT
VIEW_CHANGE_BOUND_S = 10.0  # a frozen leader is replaced (first commit) within this long


def _load(net, **kw) -> Load:
    return Load(net, threads=4, wait_timeout=8.0, max_seconds=120, **kw)


def _pause_and_resume(net, load, clock, victim, say, case: str) -> None:
    """Freeze `victim` for PAUSE_S while the others commit; continue it; every validator must
    vote again within VOTE_BOUND_S."""
    load.wait_acks(20, 30)
    h0 = clock.height()
    t_pause = time.monotonic()
    victim.pause()
    # the other three are a quorum: they commit (after a view change if it led)
    first = wait_until(lambda: clock.height() > h0 and clock.time_of(h0 + 1), VIEW_CHANGE_BOUND_S,
                       lambda: f"a commit while {victim.name} is frozen ({net.brief()})")
    wait_until(lambda: time.monotonic() - t_pause >= PAUSE_S and clock.height() >= h0 + 5,
               30, f"5 commits while {victim.name} is frozen")
    views = dict(clock.views)
    t_resume = time.monotonic()
    h_resume = clock.height()
    victim.resume()
    say(record_figures(case, paused_s=t_resume - t_pause, first_commit_s=first - t_pause,
                       commits_while_paused=h_resume - h0, views_while_paused=views))
    voted = wait_votes_again(net, range(N), h_resume + 1, VOTE_RUN, VOTE_BOUND_S, clock)
    recovery = max(0.0, voted[victim.index] - t_resume)
    say(record_figures(case, revote_s=recovery))
    assert recovery <= VOTE_BOUND_S, f"{victim.name} voted again only after {recovery:.1f}s"
    load.wait_acks(10, 30)


def test_paused_backup_votes_again(make_net, say):
    net = make_net()
    with CommitClock(net) as clock, _load(net) as load:
        load.wait_acks(5, 30)
        leader = net.leader()
        backup = net.nodes[(leader.index + 1) % N]
        _pause_and_resume(net, load, clock, backup, say, "pause-backup")
    final_checks(net, load)


def test_paused_leader_votes_again(make_net, say):
    net = make_net()
    with CommitClock(net) as clock, _load(net) as load:
        load.wait_acks(5, 30)
        leader = net.leader()
        _pause_and_resume(net, load, clock, leader, say, "pause-leader")
    final_checks(net, load)


FLAP_S = 2.0
FLAP_FOR_S = 30.0
STALL_BOUND_S = 1.5 * VIEW_TIMEOUT_S  # "no stall longer than about one view timeout"


def test_flapping_backup_no_stall(make_net, say):
    net = make_net()
    leader = net.leader()
    flapper = net.nodes[(leader.index + 1) % N]
    steady = [n for n in net.nodes if n is not flapper]
    # the load goes to the steady nodes: a request frozen inside the flapper would otherwise
    # look like a stall of the cluster
    with CommitClock(net) as clock, _load(net, targets=steady) as load:
        load.wait_acks(20, 30)
        t0 = time.monotonic()
        flaps = 0
        while time.monotonic() - t0 < FLAP_FOR_S:
            flapper.pause()
            flaps += 1
            time.sleep(FLAP_S)  # the fault schedule itself, not a wait for an outcome
            flapper.resume()
            time.sleep(FLAP_S)
        t1 = time.monotonic()
        gap = clock.max_gap(t0, t1)
        commits = len(clock.heights_between(t0, t1))
        h_end = clock.height()
        say(record_figures("flapping-backup", flaps=flaps, commits=commits, max_gap_s=gap))
        assert commits >= FLAP_FOR_S, f"only {commits} commits in {FLAP_FOR_S:.0f}s of flapping"
        assert gap <= STALL_BOUND_S, (f"cluster-wide commit stall of {gap:.2f}s while "
                                      f"{flapper.name} flapped (bound {STALL_BOUND_S:.1f}s)")
        voted = wait_votes_again(net, range(N), h_end + 1, VOTE_RUN, VOTE_BOUND_S, clock)
        revote = max(0.0, voted[flapper.index] - t1)
        say(record_figures("flapping-backup", revote_after_s=revote))
        assert revote <= VOTE_BOUND_S
    final_checks(net, load)


TWO_PAUSED_S = 5.0  # several view timeouts (1 s, 2 s, 4 s)
RECOVERY_BOUND_S = 15.0


def test_two_of_four_paused_then_recovery(make_net, say):
    net = make_net()
    with CommitClock(net) as clock, _load(net) as load:
        load.wait_acks(20, 30)
        leader = net.leader()
        frozen = [leader, net.nodes[(leader.index + 1) % N]]
        awake = [n for n in net.nodes if n not in frozen]
        for n in frozen:
            n.pause()
        # a block whose votes were already out may still commit; then nothing more may
        h_stuck = settled_height(awake, quiet=1.0, timeout=15)
        t_stuck = time.monotonic()
        wait_until(lambda: time.monotonic() - t_stuck >= TWO_PAUSED_S, TWO_PAUSED_S + 1, "pause")
        assert clock.commit_times(t_stuck, time.monotonic()) == [], "commits without a quorum"
        assert [n.height() for n in awake] == [h_stuck] * len(awake)
        assert any(n.status()["mempool"] > 0 for n in awake), "no pending work while stuck"
        t_resume = time.monotonic()
        for n in frozen:
            n.resume()
        wait_until(lambda: clock.height() > h_stuck, RECOVERY_BOUND_S + 5,
                   lambda: f"a commit after continuing both ({net.brief()})")
        first = clock.time_of(h_stuck + 1) - t_resume
        say(record_figures("two-paused", stuck_at=h_stuck, first_commit_s=first))
        assert first <= RECOVERY_BOUND_S, f"first commit {first:.1f}s after SIGCONT"
        voted = wait_votes_again(net, range(N), h_stuck + 1, VOTE_RUN, RECOVERY_BOUND_S, clock)
        all_vote = max(voted.values()) - t_resume
        say(record_figures("two-paused", all_vote_s=all_vote))
        assert all_vote <= RECOVERY_BOUND_S
        load.wait_acks(10, 30)
    final_checks(net, load)
