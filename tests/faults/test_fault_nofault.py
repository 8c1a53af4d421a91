"""A 60 s run with no fault under steady load (issue 9, case 9): every validator votes in at
least 90 % of the certificates and no view change happens."""

from __future__ import annotations

import time

from chainnode_fault_harness import CommitClock, Load, final_checks, record_figures, wait_until

N = 4
RUN_S = 60.0
MIN_SHARE = 0.90


def test_no_fault_every_validator_signs(make_net, say):
    net = make_net()
    with CommitClock(net) as clock, Load(net, threads=4, wait_timeout=8.0,
                                         max_seconds=RUN_S) as load:
        load.wait_acks(1, 30)
        t0 = time.monotonic()
        wait_until(load.done, RUN_S + 5, "the load to finish its run")
        gap = clock.max_gap(t0, time.monotonic())
    snap = final_checks(net, load)
    heights = range(1, snap.common_top() + 1)
    shares = {i: snap.signed_share(i, heights) for i in range(N)}
    own = {name: sum(int(name[4:]) in b.signers for b in c.values()) / len(c)
           for name, c in snap.chains.items()}
    views = {name: st["view"] for name, st in net.statuses().items()}
    say(record_figures("no-fault-60s", blocks=len(heights), acks=load.count(),
                       errors=len(load.errors), max_gap_s=gap,
                       share={i: round(s, 3) for i, s in shares.items()},
                       own_cert_share={k: round(v, 3) for k, v in own.items()},
                       views=sorted(snap.views_used())))
    assert len(heights) >= 100
    for i, s in shares.items():
        assert s >= MIN_SHARE, f"node{i} voted in only {s:.1%} of {len(heights)} certificates"
    assert snap.views_used() == {0}, f"view changes happened: {sorted(snap.views_used())}"
    assert set(views.values()) == {0}, f"a node is in another view: {views}"
