"""Multi-validator testnets of real node processes, for fault and attack tests.

A `LocalNet` is made by `chainnode.testnet.init` (the code behind `chainnode testnet init`) in a
temporary directory, with genesis params chosen by the test (short view timeouts keep the runs
fast). Every node is a `python -m chainnode start --home HOME` child process that this module
started; only those pids are ever signalled (SIGTERM, SIGKILL after a deadline, or a deliberate
kill -9), and `LocalNet.stop_all` ends them all, also when a test failed.

`Load` is the steady background traffic: one thread submitting member registrations with
`?wait=commit` to whichever nodes are running, remembering every acknowledged transaction so a
test can check that none of them was lost.

Test files outside tests/integration load it by file path (see
tests/adversarial/test_net_peer_attacks.py), so there is one copy of these helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainnode import testnet as testnet_cli
from chainnode.client import Client, RpcError
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

# Short timeouts so that a view change takes about a second; the cap keeps a cluster that lost
# its quorum for a while from backing off too far to recover quickly once it is healed.
FAST_PARAMS = {"view_timeout_ms": 1000, "max_view_timeout_ms": 4000}


# -- ports and polling
PORT_RANGE = (20_000, 32_000)


def worker_port_range() -> tuple[int, int]:
    """This process's slice of PORT_RANGE: under pytest-xdist each worker (gw0, gw1, ...) has a
    disjoint slice, so two workers never pick the same port in the window between the bind
    check below and the node binding it; without xdist, the whole range."""
    lo, hi = PORT_RANGE
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return lo, hi
    index = int(worker[2:]) % count
    width = (hi - lo) // count
    return lo + index * width, lo + (index + 1) * width


def free_base_port(span: int = 2, tries: int = 500) -> int:
    """A base port such that base..base+span-1 can all be bound on 127.0.0.1 right now.

    Chosen below the kernel's ephemeral range (32768+) so outgoing connections never take
    them, at random so concurrently running test files do not collide, and in this xdist
    worker's own slice (worker_port_range) so parallel workers cannot collide."""
    rng = random.Random()
    lo, hi = worker_port_range()
    for _ in range(tries):
        base = rng.randrange(lo, hi - span)
        socks = []
        try:
            for p in range(base, base + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range found")


def wait_until(cond: Callable[[], Any], timeout: float, what: str | Callable[[], str],
               interval: float = 0.05):
    """Poll `cond` until it returns something truthy (and return it); fail after `timeout`.

    `what` may be a callable, so the failure message describes the state at the timeout."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_exc = exc
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


def get_json(url: str, timeout: float = 5.0) -> dict | None:
    """GET a JSON document; None if the node does not answer or answers with an error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


# -- one node process
class NodeProc:
    """One validator of a LocalNet and the child process running it (if any)."""

    def __init__(self, name: str, index: int, home: Path, url: str,
                 p2p: str | None = None) -> None:
        self.name = name
        self.index = index
        self.home = home
        self.url = url
        host, _, port = (p2p or ":0").rpartition(":")
        self.p2p = (host, int(port))
        self.proc: subprocess.Popen | None = None
        self.log_path = home / "node.log"
        self.starts = 0
        self.extra_env: dict[str, str] = {}  # e.g. CHAINNODE_CLOCK_OFFSET_MS for this node only
        self.paused = False  # SIGSTOPped by the test (see pause/resume)

    def __repr__(self) -> str:
        return f"<{self.name} {'running' if self.running() else 'stopped'}>"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def serving(self) -> bool:
        """Running and not paused: worth sending requests to."""
        return self.running() and not self.paused

    def env(self) -> dict[str, str]:
        """The child's environment (the node pins this seed itself; setting it saves a re-exec)."""
        return {**os.environ, "PYTHONHASHSEED": "0", **self.extra_env}

    def command(self) -> list[str]:
        """The node's argv (a subclass may wrap it, e.g. in `ip netns exec`)."""
        return [sys.executable, "-m", "chainnode", "start", "--home", str(self.home)]

    def start(self) -> NodeProc:
        assert not self.running(), f"{self.name} already running"
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== test harness: start #{self.starts + 1} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env())
        (self.home / "node.pid").write_text(str(self.proc.pid))
        self.starts += 1
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self.proc.returncode if self.proc else None
                raise AssertionError(f"{self.name} exited with {code} before it was ready:\n"
                                     f"{self.log_tail()}")
            st = self.status()
            if st is not None:
                return st
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def pause(self) -> None:
        """SIGSTOP: the process freezes (timers, sockets and all) until resume()."""
        assert self.running() and not self.paused, f"{self.name} is not running unpaused"
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after pause()."""
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def wait_exit(self, timeout: float) -> int:
        """The exit code of a process expected to end by itself within `timeout`."""
        assert self.proc is not None, f"{self.name} was never started"
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running {timeout:.0f}s later:\n"
                                 f"{self.log_tail()}") from None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (after SIGCONT if paused), then SIGKILL after `timeout`; the exit code."""
        if self.proc is None:
            return None
        if self.paused:
            self.resume()  # a stopped process would not act on SIGTERM
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode

    def kill9(self) -> None:
        assert self.running(), f"{self.name} is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)
        self.paused = False

    def wipe_data(self) -> None:
        assert not self.running(), "stop the node before wiping its data"
        shutil.rmtree(self.home / "data")

    # -- RPC
    def status(self, timeout: float = 2.0) -> dict | None:
        return get_json(self.url + "/status", timeout)

    def height(self) -> int | None:
        st = self.status()
        return None if st is None else st["height"]

    def block(self, height: int) -> dict | None:
        return get_json(f"{self.url}/blocks/{height}")

    def tx(self, tx_hash: str) -> dict | None:
        return get_json(f"{self.url}/tx/{tx_hash}")

    def client(self, key: PrivateKey | None = None, chain_id: str | None = None) -> Client:
        return Client(self.url, key, chain_id=chain_id, timeout=30.0)

    # -- log
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_text().splitlines()
        return "\n".join(text[-lines:]) if text else "(no log)"


# -- a testnet
class LocalNet:
    def __init__(self, root: Path, params: dict | None = None, n: int = 4,
                 chain_id: str = "chainnode-faults") -> None:
        base = free_base_port(2 * n)
        self.root = root
        self.genesis: Genesis = testnet_cli.init(root, n, chain_id=chain_id, base_port=base,
                                                 params=dict(params or FAST_PARAMS))
        self.chain_id = chain_id
        self.admin_key = load_private_key(root / "admin.key")
        m = testnet_cli.manifest(root)
        self.nodes = [NodeProc(e["name"], i, root / e["name"], e["rpc"], e["p2p"])
                      for i, e in enumerate(m["nodes"])]
        self.n = n

    # -- processes
    def start(self, nodes: Iterable[NodeProc] | None = None) -> None:
        nodes = list(self.nodes if nodes is None else nodes)
        for node in nodes:
            if not node.running():
                node.start()
        for node in nodes:
            node.wait_ready()

    def stop_all(self) -> None:
        """Teardown: stop every process this testnet started, whatever state it is in."""
        for node in self.nodes:
            try:
                node.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                if node.proc is not None and node.proc.poll() is None:
                    node.proc.kill()

    def live(self) -> list[NodeProc]:
        """Nodes running and not paused (a paused node would only time requests out)."""
        return [n for n in self.nodes if n.serving()]

    def report(self, lines: int = 60) -> str:
        return "\n".join(f"--- {n.name} (pid {n.pid}) log tail ---\n{n.log_tail(lines)}"
                         for n in self.nodes)

    # -- observation
    def statuses(self, nodes: Iterable[NodeProc] | None = None) -> dict[str, dict | None]:
        return {n.name: n.status() for n in (self.live() if nodes is None else nodes)}

    def leader(self, settle: float = 10.0) -> NodeProc:
        """The validator at view mod n of the view the network works in: every live node's,
        waiting up to `settle` s for them to agree. A node whose timer fired alone (a starved
        CPU) sits in a view of its own until the next certificate from the live view brings it
        back; if that has not happened by then, the view a quorum (2f+1) of validators is in
        decides, and without one the test fails."""
        deadline = time.monotonic() + settle
        while True:
            sts = [s for s in self.statuses().values() if s is not None]
            views = [s["view"] for s in sts]
            if len(set(views)) == 1:
                return self.nodes[views[0] % self.n]
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        quorum = self.n - (self.n - 1) // 3
        common = max(set(views), key=views.count)
        assert views.count(common) >= quorum, \
            f"no quorum of live nodes agrees on the view: {self._brief(sts)}"
        return self.nodes[common % self.n]

    @staticmethod
    def _brief(sts: Iterable[dict | None]) -> str:
        return ", ".join(f"{s['node']}: h{s['height']} v{s['view']}" if s else "down"
                         for s in sts)

    def brief(self, nodes: Iterable[NodeProc] | None = None) -> str:
        return self._brief(self.statuses(nodes).values())

    def wait_height(self, nodes: Iterable[NodeProc], height: int, timeout: float) -> None:
        nodes = list(nodes)

        def reached() -> bool:
            return all((n.height() or 0) >= height for n in nodes)

        wait_until(reached, timeout, f"{[n.name for n in nodes]} to reach height {height} "
                                     f"(now {self.brief(nodes)})")

    def wait_converged(self, nodes: Iterable[NodeProc], timeout: float,
                       min_height: int = 0) -> dict:
        """All `nodes` at one height >= min_height with one head hash and state root."""
        nodes = list(nodes)

        def same() -> dict | None:
            sts = [n.status() for n in nodes]
            if any(s is None for s in sts):
                return None
            heads = {(s["height"], s["head_hash"], s["state_root"]) for s in sts}
            if len(heads) == 1 and sts[0]["height"] >= min_height:
                return sts[0]
            return None

        return wait_until(same, timeout, f"{[n.name for n in nodes]} to converge at one head "
                                         f">= {min_height} (now {self.brief(nodes)})")

    def assert_same_chain(self, nodes: Iterable[NodeProc], heights: Iterable[int]) -> None:
        """Every node has the same block hash and state root at each of `heights`."""
        nodes = list(nodes)
        for h in heights:
            seen = {}
            for n in nodes:
                b = n.block(h)
                assert b is not None, f"{n.name} has no block {h}"
                seen[n.name] = (b["hash"], b["header"]["state_root"])
            assert len(set(seen.values())) == 1, f"fork at height {h}: {seen}"

    def assert_same_chain_upto(self, nodes: Iterable[NodeProc], top: int | None = None) -> int:
        """Same hashes at every height up to the lowest head (or `top`); returns that height."""
        nodes = list(nodes)
        lowest = min(n.height() for n in nodes)
        top = lowest if top is None else min(top, lowest)
        self.assert_same_chain(nodes, range(1, top + 1))
        return top

    def wait_meshed(self, nodes: Iterable[NodeProc] | None = None, timeout: float = 30.0) -> None:
        """Every node in `nodes` (default: all) has a link to every other one of them."""
        nodes = list(self.nodes if nodes is None else nodes)
        want = {n.name for n in nodes}
        keys = {v.public_key.hex(): v.name for v in self.genesis.validators}

        def meshed() -> bool:
            for n in nodes:
                st = n.status()
                if st is None:
                    return False
                linked = {keys.get(p["public_key"]) for p in st["peers"]} | {n.name}
                if not want <= linked:
                    return False
            return True

        wait_until(meshed, timeout, f"{sorted(want)} to connect to each other")

    def ensure_healthy(self, timeout: float = 60.0) -> dict:
        """Start whatever is stopped; wait until all nodes are linked, agree on the view (a
        node restarted in an old view learns the current one from traffic, so commit
        transactions meanwhile) and share one head. Returns that head's status."""
        self.start()
        self.wait_meshed(timeout=timeout)
        deadline = time.monotonic() + timeout

        def agreed() -> bool:
            sts = list(self.statuses(self.nodes).values())
            return (all(sts) and len({s["view"] for s in sts}) == 1
                    and len({(s["height"], s["head_hash"]) for s in sts}) == 1)

        while not agreed():
            if time.monotonic() > deadline:
                raise AssertionError(f"testnet did not settle in {timeout:.0f}s: {self.brief()}")
            self.register_one(self.nodes[0], timeout=max(1.0, deadline - time.monotonic()))
            with contextlib.suppress(AssertionError):
                wait_until(agreed, 2.0, "agreement")
        return self.nodes[0].status()

    # -- transactions
    def admin(self, node: NodeProc) -> Client:
        return node.client(self.admin_key, self.chain_id)

    def register_one(self, node: NodeProc, timeout: float = 30.0) -> dict:
        """Register a fresh member through `node`, waiting for the commit; the RPC answer."""
        c = self.admin(node)
        tx = c.build("system", "sys.members", "register",
                     {"address": address_of(PrivateKey.generate().public_key),
                      "roles": ["member"], "name": ""})
        res = c.submit(tx, wait=True, timeout=timeout)
        assert res["status"] == "committed" and res["receipt"]["status"] == "ok", res
        return res


@contextlib.contextmanager
def running_net(root: Path, **kwargs: Any) -> Iterator[LocalNet]:
    """A started, fully meshed LocalNet (kwargs as for LocalNet); every node is stopped
    afterwards, also when the test failed."""
    tn = LocalNet(root, **kwargs)
    try:
        tn.start()
        tn.wait_meshed()
        yield tn
    finally:
        tn.stop_all()


@dataclass(frozen=True)
class Ack:
    tx_hash: str
    height: int
    node: str
    at: float  # time.monotonic() when the commit was acknowledged


class Load:
    """Background threads registering members, each one at a time, with ?wait=commit.

    Each thread sends its transactions to the next serving node in turn (running and not
    paused; a node that stops answering is simply skipped for that round), and records every
    acknowledged commit (`targets` narrows the nodes it sends to). Failures (refused connections, timeouts while the cluster has no
    quorum) are counted, not raised: the test decides what must have been committed. The load
    is bounded: it stops by itself after `max_txs` acknowledgements or `max_seconds`.
    """

    def __init__(self, net: LocalNet, wait_timeout: float = 20.0, threads: int = 1,
                 max_txs: int | None = None, max_seconds: float | None = None,
                 targets: Iterable[NodeProc] | None = None) -> None:
        self.net = net
        self.targets = None if targets is None else list(targets)
        self.wait_timeout = wait_timeout
        self.threads = threads
        self.max_txs = max_txs
        self.max_seconds = max_seconds
        self.acks: list[Ack] = []
        self.errors: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._key = net.admin_key
        self._t_end: float | None = None

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._stop.clear()
        if self.max_seconds is not None:
            self._t_end = time.monotonic() + self.max_seconds
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"load-{i}",
                                          daemon=True) for i in range(self.threads)]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        deadline = time.monotonic() + (timeout if timeout is not None else self.wait_timeout + 15)
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            assert not t.is_alive(), "load thread did not stop"

    def done(self) -> bool:
        """True once the load stopped or reached one of its bounds."""
        if self._stop.is_set():
            return True
        if self._t_end is not None and time.monotonic() >= self._t_end:
            return True
        return self.max_txs is not None and self.count() >= self.max_txs

    def acked(self) -> list[Ack]:
        with self._lock:
            return list(self.acks)

    def count(self) -> int:
        with self._lock:
            return len(self.acks)

    def acks_after(self, t: float) -> list[Ack]:
        return [a for a in self.acked() if a.at > t]

    def wait_acks(self, more: int, timeout: float, after: float | None = None) -> list[Ack]:
        """Wait until `more` transactions were acknowledged after time `after` (default: now)."""
        t0 = time.monotonic() if after is None else after
        return wait_until(lambda: len(self.acks_after(t0)) >= more and self.acks_after(t0),
                          timeout, f"{more} more acknowledged commits (errors so far: "
                                   f"{self.errors[-3:]})")

    def _run(self, worker: int) -> None:
        turn = worker
        while not self.done():
            live = [n for n in self.targets or self.net.nodes if n.serving()]
            if not live:
                self._stop.wait(0.1)
                continue
            node = live[turn % len(live)]
            turn += 1
            try:
                c = Client(node.url, self._key, chain_id=self.net.chain_id, timeout=5.0)
                tx = c.build("system", "sys.members", "register",
                             {"address": address_of(PrivateKey.generate().public_key),
                              "roles": ["member"], "name": ""})
                with self._lock:
                    self.sent += 1
                res = c.submit(tx, wait=True, timeout=self.wait_timeout)
            except (OSError, RpcError, ValueError) as exc:
                with self._lock:
                    self.errors.append(f"{node.name}: {exc!r}"[:300])
                self._stop.wait(0.05)  # pace retries against a node that is going away
                continue
            if res.get("status") == "committed":
                with self._lock:
                    self.acks.append(Ack(res["hash"], res["height"], node.name,
                                         time.monotonic()))


def assert_acks_everywhere(acks: Iterable[Ack], nodes: Iterable[NodeProc]) -> None:
    """Every acknowledged transaction is committed, at the acknowledged height, on each node."""
    acks = list(acks)
    for n in nodes:
        missing = []
        for a in acks:
            doc = n.tx(a.tx_hash)
            if doc is None or doc.get("status") != "committed" or doc.get("height") != a.height:
                missing.append((a.tx_hash[:16], a.height, a.node, doc and doc.get("height")))
        assert not missing, (f"{n.name} lost {len(missing)} of {len(acks)} acknowledged txs, "
                             f"e.g. {missing[:5]}")


@contextlib.contextmanager
def running_testnet(root: Path, n: int, observers: int = 0, params: dict | None = None):
    """`chainnode testnet init` + `up` (validators, then observers), `down` on exit."""
    testnet_cli.init(root, n, observers=observers, base_port=free_base_port(2 * (n + observers)),
                     params=params)
    devnull = open(os.devnull, "w")  # noqa: SIM115
    try:
        testnet_cli.up(root, timeout=60, out=devnull)
        yield root
    finally:
        testnet_cli.down(root, out=devnull)
        devnull.close()
