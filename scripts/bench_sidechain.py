#!/usr/bin/env python3
"""Side-chain benchmark: main chain + N edge chains on loopback, one `chainnode relay` per edge.

Measures, with the `courier` contract on every chain:
- end-to-end packet latency uplink (edge -> main): from the edge's commit of the send to the
  packet's delivery on main (p50 / p99), one packet at a time per edge, all edges at once;
- uplink throughput: every edge sends a burst; packets delivered on main per second;
- the time until the last of those packets is acknowledged back on its edge.

    scripts/bench_sidechain.py --nodes 4 --sidechains 3 --packets 200

Not a test: numbers on a shared machine are noisy; quote medians of a few runs.
"""

from __future__ import annotations

import argparse
import io
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode import testnet, testnet_sides  # noqa: E402
from chainnode.client import Client  # noqa: E402
from chainnode.crypto.keyfile import load_private_key  # noqa: E402
from chainnode.relay.courier import COURIER  # noqa: E402

POLL = 0.02


def admin(root: Path, name: str) -> Client:
    return Client(testnet.manifest(root / name)["nodes"][0]["rpc"],
                  load_private_key(root / name / "admin.key"))


def count(main: Client, peer: str) -> int:
    return main.query("courier", "stats", {"peer": peer})["count"]


def send(c: Client, dst: str, n: int) -> float:
    rc = c.call("courier", "send", {"dst": dst, "n": n}, gas_limit=50_000_000)["receipt"]
    if rc["status"] != "ok":
        raise RuntimeError(f"send failed: {rc['error_code']}: {rc['error_message']}")
    return time.monotonic()


def wait_count(main: Client, peer: str, target: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count(main, peer) >= target:
            return time.monotonic()
        time.sleep(POLL)
    raise TimeoutError(f"{peer}: {target} packets not delivered on main within {timeout}s")


def latency_run(main: Client, edge: Client, rounds: int, out: list[float]) -> None:
    base = count(main, edge.chain_id)
    for i in range(rounds):
        t_sent = send(edge, main.chain_id, 1)
        out.append(wait_count(main, edge.chain_id, base + i + 1, 60) - t_sent)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_range(span: int) -> int:
    """A base port whose whole span is free now (below the ephemeral range)."""
    for base in random.Random().sample(range(20_000, 32_000 - span, 100), 100):
        if all(_bindable(p) for p in range(base, base + span)):
            return base
    raise RuntimeError("no free port range")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=4, help="main chain validators")
    ap.add_argument("--sidechains", type=int, default=3, help="edge chains")
    ap.add_argument("--side-nodes", type=int, default=1, help="validators per edge chain")
    ap.add_argument("--rounds", type=int, default=20, help="latency samples per edge")
    ap.add_argument("--packets", type=int, default=200, help="burst size per edge (throughput)")
    ap.add_argument("--chunk", type=int, default=20, help="packets per send transaction")
    ap.add_argument("--base-port", type=int, default=0, help="0: a free range at random")
    ap.add_argument("--keep", help="make the testnet in this (new) directory and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-side-") as tmp:
        root = Path(args.keep or tmp)
        span = (args.sidechains + 1) * testnet_sides.EDGE_PORT_STRIDE
        doc = testnet_sides.init(root, args.nodes, args.sidechains, args.side_nodes,
                                 args.base_port or _free_range(span))
        try:
            testnet_sides.up(root, out=io.StringIO())
            m = admin(root, "main")
            edges = [admin(root, c["dir"]) for c in doc["chains"][1:]]
            for c in [m, *edges]:
                c.deploy("courier", COURIER)
            for e in edges:  # warm-up: clients and relayers in steady state
                send(e, m.chain_id, 1)
            for e in edges:
                wait_count(m, e.chain_id, 1, 60)
            lat: list[list[float]] = [[] for _ in edges]
            ts = [threading.Thread(target=latency_run, args=(m, e, args.rounds, lat[i]))
                  for i, e in enumerate(edges)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            allv = [x for xs in lat for x in xs]
            bases = {e.chain_id: count(m, e.chain_id) for e in edges}
            t0 = time.monotonic()

            def burst(e: Client) -> None:
                for k in range(0, args.packets, args.chunk):
                    send(e, m.chain_id, min(args.chunk, args.packets - k))
            ts = [threading.Thread(target=burst, args=(e,)) for e in edges]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            t_sent = time.monotonic()
            done = max(wait_count(m, e.chain_id, bases[e.chain_id] + args.packets, 300)
                       for e in edges)
            total = args.packets * len(edges)
            acked = max(_wait_acks(e, m.chain_id, 1 + args.rounds + args.packets)
                        for e in edges)
        finally:
            testnet_sides.down(root, out=io.StringIO())
    print(f"main {args.nodes} validators, {args.sidechains} edge chains x "
          f"{args.side_nodes} validator(s), one relayer each")
    print(f"uplink latency (edge commit -> delivered on main), {len(allv)} packets: "
          f"p50 {statistics.median(allv):.2f} s, p99 {pct(allv, 0.99):.2f} s")
    print(f"uplink burst: {total} packets ({args.packets} per edge, {args.chunk} per send tx), "
          f"sent in {t_sent - t0:.1f} s, delivered in {done - t0:.1f} s: "
          f"{total / (done - t0):.1f} packets/s; all acknowledged after {acked - t0:.1f} s")
    return 0


def _wait_acks(edge: Client, main_id: str, target: int) -> float:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if edge.query("courier", "stats", {"peer": main_id})["acks"] >= target:
            return time.monotonic()
        time.sleep(POLL)
    raise TimeoutError(f"{edge.chain_id}: acknowledgements missing")


if __name__ == "__main__":
    raise SystemExit(main())
