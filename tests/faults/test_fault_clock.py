"""A leader whose wall clock is an hour fast or an hour slow (issue 9, case 8).

Only that node's process gets CHAINNODE_CLOCK_OFFSET_MS (chainnode.clock reads it), so the
machine's clock is untouched. Chain time (block timestamps) must stay within a bound of real
time, the node must stay linked and lead (its proposals commit), and commits must go on.
"""

from __future__ import annotations

import time

import pytest
from chainnode_fault_harness import CommitClock, Load, final_checks, record_figures, wait_until

from chainnode.clock import ENV_OFFSET

HOUR_MS = 3_600_000
RUN_S = 15.0
CHAIN_TIME_BOUND_S = 5.0  # |block timestamp - real time it was committed|
STALL_BOUND_S = 5.0


@pytest.mark.parametrize("offset_ms", [HOUR_MS, -HOUR_MS], ids=["plus1h", "minus1h"])
def test_leader_clock_offset(make_net, say, offset_ms):
    net = make_net(start=False)
    skewed = net.nodes[0]  # the leader of view 0
    skewed.extra_env[ENV_OFFSET] = str(offset_ms)
    net.start()
    net.wait_meshed()  # its TLS handshakes must work with the clock it has
    with CommitClock(net) as clock, Load(net, threads=4, wait_timeout=8.0,
                                         max_seconds=RUN_S + 30) as load:
        load.wait_acks(5, 30)
        t0 = time.monotonic()
        h0 = clock.height()
        wait_until(lambda: time.monotonic() - t0 >= RUN_S, RUN_S + 1, "the run")
        t1 = time.monotonic()
        gap = clock.max_gap(t0, t1)
    snap = final_checks(net, load)
    heights = [h for h in clock.heights_between(t0, t1) if h in snap.chains[skewed.name]]
    assert len(heights) >= 50, f"only {len(heights)} commits in {RUN_S:.0f}s"
    drift = {h: snap.block(h).timestamp_ms / 1000 - clock.wall_of(h) for h in heights}
    worst = max(drift.values(), key=abs)
    led = sum(snap.block(h).proposer == skewed.index for h in range(h0 + 1, heights[-1] + 1))
    say(record_figures(f"clock{offset_ms // 60000:+d}min", commits=len(heights),
                       worst_chain_time_drift_s=worst, max_gap_s=gap, led_by_skewed=led,
                       views=sorted(snap.views_used())))
    assert abs(worst) <= CHAIN_TIME_BOUND_S, (
        f"chain time off real time by {worst:+.1f}s (bound {CHAIN_TIME_BOUND_S:.0f}s)")
    assert gap <= STALL_BOUND_S, f"commits stalled for {gap:.1f}s"
    assert led > 0, f"the skewed leader {skewed.name} proposed none of the blocks"
