"""StageHistogram exposes exactly what prometheus_client's Histogram exposes."""

from __future__ import annotations

import random
import threading

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from chainnode.metrics import LATENCY_BUCKETS
from chainnode.metrics_stage import LoopChild, StageHistogram


def test_same_exposition_as_the_library_histogram():
    rnd = random.Random(7)
    ref_reg, fast_reg = CollectorRegistry(), CollectorRegistry()
    ref = Histogram("x_seconds", "doc", ("stage",), registry=ref_reg, buckets=LATENCY_BUCKETS)
    fast = StageHistogram("x_seconds", "doc", "stage", LATENCY_BUCKETS, fast_reg)
    values = [0.0, 0.001, 0.0010000001, 60.0, 61.0, -1.0] + [rnd.expovariate(20)
                                                             for _ in range(500)]
    for v in values:
        stage = rnd.choice(["decode", "admission", "wal"])
        ref.labels(stage).observe(v)
        fast.labels(stage).observe(v)
    assert generate_latest(fast_reg) == generate_latest(ref_reg)
    with fast.labels("execute").time():
        pass
    assert 'x_seconds_count{stage="execute"} 1.0' in generate_latest(fast_reg).decode()


def test_concurrent_observations_are_all_counted():
    reg = CollectorRegistry()
    h = StageHistogram("y_seconds", "doc", "stage", (0.5, 1.0), reg)
    child = h.labels("s")

    def work():
        for _ in range(20_000):
            child.observe(0.7)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    text = generate_latest(reg).decode()
    assert 'y_seconds_count{stage="s"} 80000.0' in text
    assert 'y_seconds_bucket{le="0.5",stage="s"} 0.0' in text
    assert h.labels("s") is child


def test_observe_n_is_n_observations():
    reg_one, reg_n = CollectorRegistry(), CollectorRegistry()
    one = StageHistogram("z_seconds", "doc", "stage", LATENCY_BUCKETS, reg_one)
    many = StageHistogram("z_seconds", "doc", "stage", LATENCY_BUCKETS, reg_n)
    for amount, n in ((0.0031, 256), (0.1, 7), (0.0031, 1), (3.3, 0), (100.0, 3)):
        for _ in range(n):
            one.labels("forwarded_in").observe(amount)
        many.labels("forwarded_in").observe_n(amount, n)
    assert generate_latest(reg_n) == generate_latest(reg_one)  # counts and sums exact
    assert one.labels("forwarded_in").snapshot() == many.labels("forwarded_in").snapshot()


def test_two_labels_lock_free_same_exposition_as_the_library():
    """chainnode_rpc_request_seconds: (route, method), LoopChild, children made lazily."""
    rnd = random.Random(11)
    ref_reg, fast_reg = CollectorRegistry(), CollectorRegistry()
    ref = Histogram("r_seconds", "doc", ("route", "method"), registry=ref_reg,
                    buckets=LATENCY_BUCKETS)
    fast = StageHistogram("r_seconds", "doc", ("route", "method"), LATENCY_BUCKETS, fast_reg,
                          child=LoopChild)
    assert generate_latest(fast_reg) == generate_latest(ref_reg)  # no series yet
    for _ in range(400):
        key = (rnd.choice(["/tx", "/txs", "unmatched"]), rnd.choice(["GET", "POST"]))
        v = rnd.expovariate(50)
        ref.labels(*key).observe(v)
        fast.labels(*key).observe(v)
    assert generate_latest(fast_reg) == generate_latest(ref_reg)
    assert isinstance(fast.labels("/tx", "POST"), LoopChild)
    with pytest.raises(ValueError):
        fast.labels("/tx")
