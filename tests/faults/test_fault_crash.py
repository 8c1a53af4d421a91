"""Crashes under steady load: all four validators killed -9 at once (issue 9, case 6), and a
validator 1,000 blocks behind catching up (case 7).

kill -9 at any instant must leave every node at a consistent head no lower than the height it
reported committed, with every acknowledged transaction; restarted, the chain goes on.
"""

from __future__ import annotations

import re
import time

from chainnode_fault_harness import (
    CommitClock,
    Load,
    final_checks,
    record_figures,
    wait_until,
    wait_votes_again,
)

N = 4
RESTART_BOUND_S = 20.0  # first commit after all four were restarted


def test_all_killed_mid_load_and_restarted(make_net, say):
    net = make_net()
    with CommitClock(net) as clock, Load(net, threads=4, wait_timeout=8.0,
                                         max_seconds=120) as load:
        load.wait_acks(50, 30)
        for n in net.nodes:  # as close to simultaneous as four signals get
            n.kill9()
        reported = dict(clock.reported)
        h_kill = clock.height()
        acked_before = load.count()
        t_restart = time.monotonic()
        for n in net.nodes:
            n.start()
        heads = {n.name: n.wait_ready()["height"] for n in net.nodes}
        for n in net.nodes:  # kill -9 lost nothing a node had reported committed
            assert heads[n.name] >= reported.get(n.name, 0), (n.name, heads, reported)
        wait_until(lambda: clock.height() > h_kill, RESTART_BOUND_S,
                   lambda: f"a commit after the restart ({net.brief()})")
        first = clock.time_of(h_kill + 1) - t_restart
        load.wait_acks(20, 30, after=time.monotonic())
        say(record_figures("kill9-all", killed_at=h_kill, acked_before=acked_before,
                           restart_heads=heads, first_commit_s=first))
        assert first <= RESTART_BOUND_S
    snap = final_checks(net, load)
    assert snap.common_top() > h_kill


BEHIND = 1000
CATCH_UP_BOUND_S = 60.0
# empty blocks every 10 ms make 1,000 blocks in seconds, with a small load on top
CATCH_UP_PARAMS = {"empty_blocks": True, "block_interval_ms": 10}


def test_node_1000_blocks_behind_catches_up(make_net, say):
    net = make_net(CATCH_UP_PARAMS)
    laggard = net.nodes[3]  # a backup in view 0
    others = [n for n in net.nodes if n is not laggard]
    with CommitClock(net) as clock, Load(net, threads=2, wait_timeout=8.0,
                                         max_seconds=180) as load:
        load.wait_acks(5, 30)
        laggard.stop()
        behind_from = clock.reported[laggard.name]
        t0 = time.monotonic()
        # +10: the last height it reported may be a poll older than its real head
        wait_until(lambda: clock.height() >= behind_from + BEHIND + 10, 120,
                   lambda: f"{BEHIND} blocks without {laggard.name} ({net.brief()})")
        made = time.monotonic() - t0
        target = clock.height()
        mark = len(laggard.log_text())
        t1 = time.monotonic()
        laggard.start()
        laggard.wait_ready()
        wait_until(lambda: (laggard.height() or 0) >= target, CATCH_UP_BOUND_S,
                   lambda: f"{laggard.name} to catch up to {target} ({net.brief()})")
        took = time.monotonic() - t1
        rate = (target - behind_from) / took
        say(record_figures("behind-1000", behind_from=behind_from, target=target,
                           make_s=made, catch_up_s=took, rate_blocks_per_s=rate))
        # it keeps up with the moving head and votes again
        voted = wait_votes_again(net, [laggard.index], clock.height() + 1, 5, 20, clock)
        say(record_figures("behind-1000", votes_again_s=voted[laggard.index] - t1))
    log = laggard.log_text()[mark:]
    assert re.search(r"syncing from height \d+ to \d+", log), laggard.log_tail()
    snap = final_checks(net, load)
    assert snap.heads()[laggard.name] >= target
    assert all(snap.heads()[n.name] >= target for n in others)
