"""A labelled Prometheus histogram whose observe is cheap enough for per-request work.

prometheus_client's Histogram.observe costs three Python calls, two lock round trips and a
Python loop over the buckets; a node observes chainnode_tx_stage_seconds a few times per
transaction and chainnode_rpc_request_seconds once per request, on the event loop. Here an
observation is one C bisect and an update of two numbers (locked for StageChild, unlocked
for LoopChild, whose only writer is the event-loop thread); the bucket counts are made
cumulative only at scrape time. The exposition is the same as the library's (same family,
buckets, labels, `le` strings, sum and count).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class StageChild:
    """One label value's buckets (the last counts observations above every bound)."""

    __slots__ = ("_bounds", "_counts", "_sum", "_lock")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()  # the execution thread observes too

    def observe(self, amount: float) -> None:
        i = bisect_left(self._bounds, amount)  # the first bound >= amount (le semantics)
        with self._lock:
            self._counts[i] += 1
            self._sum += amount

    def observe_n(self, amount: float, n: int) -> None:
        """`observe(amount)` n times (the txs of a batch that took `amount` each): one bisect
        and one lock; the sum is added to n times over, so it is the same float."""
        if n <= 0:
            return
        i = bisect_left(self._bounds, amount)
        with self._lock:
            self._counts[i] += n
            total = self._sum
            for _ in range(n):
                total += amount
            self._sum = total

    def time(self) -> _Timer:
        return _Timer(self)

    def snapshot(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self._counts), self._sum


class LoopChild(StageChild):
    """A child observed from one thread only (the event loop): no lock to take per
    observation. A scrape from another thread may see the sum and the counts one
    observation apart, never a lost update (there is no second writer)."""

    __slots__ = ()

    def observe(self, amount: float) -> None:
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def snapshot(self) -> tuple[list[int], float]:
        return list(self._counts), self._sum


class _Timer:
    __slots__ = ("_child", "_t0")

    def __init__(self, child: StageChild) -> None:
        self._child = child

    def __enter__(self) -> _Timer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.observe(time.perf_counter() - self._t0)


class StageHistogram(Collector):
    """Registered in `registry` under `name`, with one label (or a tuple of label names);
    children, of type `child`, made on first use."""

    def __init__(self, name: str, documentation: str, label: str | tuple[str, ...],
                 buckets: Sequence[float], registry: Any,
                 child: type[StageChild] = StageChild) -> None:
        bounds = tuple(float(b) for b in buckets)
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("buckets must be distinct and ascending")
        self.name = name
        self.documentation = documentation
        self.labelnames = (label,) if isinstance(label, str) else tuple(label)
        self._child = child
        self._bounds = bounds
        self._le = [floatToGoString(b) for b in bounds] + ["+Inf"]
        self._children: dict[tuple[str, ...], StageChild] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str) -> StageChild:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        key = tuple(str(v) for v in values)  # as the library does
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children.setdefault(key, self._child(self._bounds))
        return child

    def describe(self) -> Iterable[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterable[HistogramMetricFamily]:
        fam = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self._children.items()):
            counts, total = child.snapshot()
            acc = 0
            buckets = []
            for le, n in zip(self._le, counts, strict=True):
                acc += n
                buckets.append((le, float(acc)))
            fam.add_metric(list(values), buckets, total)
        yield fam
