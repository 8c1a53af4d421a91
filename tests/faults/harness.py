"""Fault-suite helpers on top of tests/integration/cluster.py (issue 9, deliverable 6).

cluster.py runs the node processes (`LocalNet`, `NodeProc`: start, pause/resume, kill -9, stop)
and the steady load (`Load`, recording every acknowledged transaction). This module adds what
every fault case measures or asserts:

* `CommitClock`: one polling thread per node recording when each height was first seen on any
  serving node (cluster-wide commit times, so the largest gap between commits is a stall) and
  the highest height each node ever reported (a node must never go below it).
* `ChainSnapshot`: every block of every node (hash, header, tx hashes, certificate signers),
  fetched once over keep-alive connections, to assert no fork at any common height, no
  acknowledged transaction lost, and who voted in which certificate.
* `mounted_tmpfs`: a small tmpfs over a node's data dir, unmounted on success and failure.

A certificate holds the first 2f+1 COMMIT votes the storing node collected, so one node's
certificates name 3 of 4 validators. "Validator v voted at height h" therefore means: v's
signature is in the certificate that SOME node stored for h (a validator that took part in the
round has its own vote in its own certificate; one that only followed by sync has none).
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


def _load_cluster():
    """tests/integration/cluster.py, loaded by path under one shared module name."""
    name = "chainnode_tests_cluster"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "integration" / "cluster.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


cluster = _load_cluster()
Ack = cluster.Ack
Load = cluster.Load
LocalNet = cluster.LocalNet
NodeProc = cluster.NodeProc
wait_until = cluster.wait_until

VIEW_TIMEOUT_S = 1.0
# Short view timeouts keep every case fast; the cap lets a cluster that lost its quorum for a
# while recover within seconds once it is healed.
FAULT_PARAMS = {"view_timeout_ms": int(VIEW_TIMEOUT_S * 1000), "max_view_timeout_ms": 4000}
REPORT_ENV = "CHAINNODE_FAULT_REPORT"  # optional JSON-lines file collecting each case's figures


def record_figures(case: str, **figures) -> str:
    """One line with a case's liveness figures; appended to $CHAINNODE_FAULT_REPORT if set."""
    line = f"[faults] {case}: " + ", ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"case": case, "at": time.time(), **figures}) + "\n")
    return line


# -- keep-alive JSON reads -----------------------------------------------------------------------

class JsonReader:
    """GETs against one node's RPC over one keep-alive connection (reconnects on error)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        u = urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> dict | None:
        """The JSON document, or None on a 404 or when the node does not answer."""
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
            try:
                self._conn.request("GET", path)
                resp = self._conn.getresponse()
                body = resp.read()
                return json.loads(body) if resp.status == 200 else None
            except (OSError, http.client.HTTPException, ValueError):
                self.close()
                if attempt:
                    return None
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- commit times --------------------------------------------------------------------------------

class CommitClock:
    """Polls every serving node's /status; records cluster-wide commit times.

    `first_seen[h]` is (monotonic, wall) time when height h (or a higher one) was first reported
    by any node; `reported[name]` is the highest height `name` ever reported. Paused or stopped
    nodes are skipped, so a frozen node never delays the sampling of the others.
    """

    def __init__(self, net, interval: float = 0.05) -> None:
        self.net = net
        self.interval = interval
        self.first_seen: dict[int, tuple[float, float]] = {}
        self.reported: dict[str, int] = {}
        self.views: dict[str, int] = {}
        self.top = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> CommitClock:
        for node in self.net.nodes:
            t = threading.Thread(target=self._poll, args=(node,), daemon=True,
                                 name=f"clock-{node.name}")
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def _poll(self, node) -> None:
        reader = None
        url = None
        while not self._stop.is_set():
            if not node.serving():
                self._stop.wait(self.interval)
                continue
            if reader is None or url != node.url:
                url, reader = node.url, JsonReader(node.url, timeout=1.0)
            st = reader.get("/status")
            if st is not None:
                self._saw(node.name, st["height"], st["view"])
            self._stop.wait(self.interval)
        if reader is not None:
            reader.close()

    def _saw(self, name: str, height: int, view: int) -> None:
        now = (time.monotonic(), time.time())
        with self._lock:
            self.reported[name] = max(self.reported.get(name, 0), height)
            self.views[name] = view
            for h in range(self.top + 1, height + 1):
                self.first_seen[h] = now
            self.top = max(self.top, height)

    def height(self) -> int:
        with self._lock:
            return self.top

    def commit_times(self, t0: float, t1: float) -> list[float]:
        """Monotonic times at which the cluster's height grew, within [t0, t1]."""
        with self._lock:
            return sorted({m for m, _ in self.first_seen.values() if t0 <= m <= t1})

    def max_gap(self, t0: float, t1: float) -> float:
        """Longest time without any new commit in [t0, t1] (edges count as boundaries)."""
        pts = [t0, *self.commit_times(t0, t1), t1]
        return max(b - a for a, b in zip(pts, pts[1:], strict=False))

    def time_of(self, height: int) -> float | None:
        """Monotonic time at which `height` was first seen, if it was."""
        with self._lock:
            seen = self.first_seen.get(height)
        return None if seen is None else seen[0]

    def wall_of(self, height: int) -> float | None:
        with self._lock:
            seen = self.first_seen.get(height)
        return None if seen is None else seen[1]

    def heights_between(self, t0: float, t1: float) -> list[int]:
        with self._lock:
            return sorted(h for h, (m, _) in self.first_seen.items() if t0 <= m <= t1)


# -- every block of every node -------------------------------------------------------------------

@dataclass(frozen=True)
class BlockInfo:
    height: int
    hash: str
    view: int
    timestamp_ms: int
    proposer: int
    tx_hashes: tuple[str, ...]
    cert_view: int
    signers: frozenset[int]

    @classmethod
    def from_doc(cls, doc: dict) -> BlockInfo:
        hdr, cert = doc["header"], doc["certificate"]
        assert cert["block_hash"] == doc["hash"], f"certificate of {doc['height']} names " \
                                                  f"another block"
        return cls(doc["height"], doc["hash"], hdr["view"], hdr["timestamp_ms"], hdr["proposer"],
                   tuple(doc["tx_hashes"]), cert["view"],
                   frozenset(entry[0] for entry in cert["signatures"]))  # [index, (time,) sig]


def fetch_chain(node, start: int = 1, top: int | None = None) -> dict[int, BlockInfo]:
    """Blocks start..top (default: the node's head) of one node."""
    reader = JsonReader(node.url, timeout=10.0)
    try:
        if top is None:
            st = reader.get("/status")
            assert st is not None, f"{node.name} does not answer:\n{node.log_tail()}"
            top = st["height"]
        out = {}
        for h in range(start, top + 1):
            doc = reader.get(f"/blocks/{h}")
            assert doc is not None, f"{node.name} has no block {h} (head {top})"
            out[h] = BlockInfo.from_doc(doc)
        return out
    finally:
        reader.close()


class ChainSnapshot:
    """The chains of several nodes, for the suite's three assertions."""

    def __init__(self, chains: dict[str, dict[int, BlockInfo]]) -> None:
        self.chains = chains

    @classmethod
    def take(cls, nodes: Iterable, start: int = 1) -> ChainSnapshot:
        """Blocks `start`..head of each node (fetched in parallel)."""
        nodes = list(nodes)
        chains: dict[str, dict[int, BlockInfo]] = {}
        errors: list[BaseException] = []

        def one(n) -> None:
            try:
                chains[n.name] = fetch_chain(n, start)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return cls(chains)

    def heads(self) -> dict[str, int]:
        return {name: max(c, default=0) for name, c in self.chains.items()}

    def assert_no_fork(self) -> int:
        """Same block hash on every node at every height two or more of them hold; returns
        the number of heights compared."""
        heights = sorted({h for c in self.chains.values() for h in c})
        compared = 0
        for h in heights:
            seen = {name: c[h].hash for name, c in self.chains.items() if h in c}
            if len(seen) >= 2:
                compared += 1
                assert len(set(seen.values())) == 1, f"FORK at height {h}: {seen}"
        return compared

    def assert_acks(self, acks: Iterable) -> int:
        """Every acknowledged transaction is in every node's chain, at the acknowledged
        height; returns how many were checked."""
        acks = list(acks)
        for name, chain in self.chains.items():
            where = {tx: h for h, b in chain.items() for tx in b.tx_hashes}
            lost = [(a.tx_hash[:16], a.height, a.node, where.get(a.tx_hash)) for a in acks
                    if where.get(a.tx_hash) != a.height]
            assert not lost, (f"{name} lost {len(lost)} of {len(acks)} acknowledged txs "
                              f"(hash, acked height, via, height here): {lost[:5]}")
        return len(acks)

    def signers(self, height: int) -> frozenset[int]:
        """Validators whose COMMIT vote is in some node's certificate for `height`."""
        out: set[int] = set()
        for c in self.chains.values():
            if height in c:
                out |= c[height].signers
        return frozenset(out)

    def block(self, height: int) -> BlockInfo:
        for c in self.chains.values():
            if height in c:
                return c[height]
        raise KeyError(height)

    def common_top(self) -> int:
        return min(self.heads().values())

    def low(self) -> int:
        return min((min(c) for c in self.chains.values() if c), default=1)

    def signed_share(self, index: int, heights: Iterable[int]) -> float:
        heights = list(heights)
        if not heights:
            return 0.0
        return sum(index in self.signers(h) for h in heights) / len(heights)

    def first_voting_run(self, index: int, start: int, run: int) -> int | None:
        """The first height >= start from which `index` voted at `run` consecutive heights."""
        top = max(self.heads().values(), default=0)
        streak = 0
        for h in range(start, top + 1):
            streak = streak + 1 if index in self.signers(h) else 0
            if streak == run:
                return h - run + 1
        return None

    def views_used(self) -> set[int]:
        return {v for c in self.chains.values() for b in c.values()
                for v in (b.view, b.cert_view)}


# -- what every case asserts at the end ---------------------------------------------------------

def final_checks(net, load, nodes: Iterable | None = None) -> ChainSnapshot:
    """No fork at any height and no acknowledged transaction lost, on `nodes` (default: all
    running nodes): once each holds every acknowledged height, compare all their blocks."""
    nodes = list(net.live() if nodes is None else nodes)
    acks = load.acked()
    assert acks, "the load got no transaction acknowledged"
    net.wait_height(nodes, max(a.height for a in acks), 60)
    snap = ChainSnapshot.take(nodes)
    top = snap.common_top()
    assert top >= 1
    # every node holds every height up to the lowest head (the chains go on growing while
    # they are fetched, so heights above it may be held by some nodes only)
    for name, chain in snap.chains.items():
        missing = sorted(set(range(1, top + 1)) - set(chain))
        assert not missing, f"{name} is missing heights {missing[:10]} below {top}"
    compared = snap.assert_no_fork()
    assert compared >= top
    snap.assert_acks(acks)
    return snap


def wait_votes_again(net, indexes: Iterable[int], from_height: int, run: int,
                     timeout: float, clock: CommitClock) -> dict[int, float]:
    """Wait until each validator in `indexes` voted at `run` consecutive heights from some
    height >= `from_height`; returns, per validator, the monotonic time the first of those
    heights was seen committed."""
    want = sorted(indexes)
    found: dict[int, int] = {}

    def check() -> bool:
        snap = ChainSnapshot.take(net.live(), start=from_height)
        for i in want:
            if i not in found:
                h = snap.first_voting_run(i, from_height, run)
                if h is not None:
                    found[i] = h
        return len(found) == len(want)

    wait_until(check, timeout, lambda: f"validators {want} to vote in {run} consecutive "
                                       f"certificates from height {from_height} (found: "
                                       f"{found}; now {net.brief()})", interval=0.5)
    return {i: clock.time_of(h) or time.monotonic() for i, h in found.items()}


def settled_height(nodes: list, quiet: float, timeout: float) -> int:
    """The height `nodes` stay at for `quiet` seconds (all equal), within `timeout`."""
    state: dict = {}

    def settled() -> int | None:
        hs = tuple(n.height() for n in nodes)
        if None in hs or len(set(hs)) != 1 or state.get("hs") != hs:
            state.update(hs=hs, since=time.monotonic())
            return None
        return hs[0] if time.monotonic() - state["since"] >= quiet else None

    return wait_until(settled, timeout, "heights to settle")


# -- a small tmpfs -----------------------------------------------------------------------------

@contextlib.contextmanager
def mounted_tmpfs(path: Path, size_mb: int,
                  before_unmount: Callable[[], None] | None = None) -> Iterator[Path]:
    """Mount a `size_mb` tmpfs at `path` (root only); on exit, call `before_unmount` (stop the
    processes using it) and unmount, also when the body failed."""
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs",
                          str(path)], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:  # a disk-full case without a full disk would prove nothing
        raise AssertionError(f"cannot mount a {size_mb} MB tmpfs at {path} (the fault suite "
                             f"needs root): {res.stderr.strip()}")
    try:
        yield path
    finally:
        try:
            if before_unmount is not None:
                before_unmount()
        finally:
            _unmount(path)


def _unmount(path: Path) -> None:
    for _ in range(50):
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode == 0:
            return
        if not os.path.ismount(path):
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True, timeout=30)


def fill_filesystem(path: Path) -> int:
    """Write `path` (a new file) until the filesystem is full; returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for chunk in (1 << 20, 1 << 14, 1 << 9, 1):  # then top up the last pages
            buf = b"\0" * chunk
            while True:
                try:
                    written += os.write(fd, buf)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written
