#!/usr/bin/env python3
"""Server CPU per `POST /tx?wait=commit` (or per `POST /txs` item), RPC layer only.

The real RpcServer app runs in its own process (uvloop, as a node runs it) on a stub node: its
submit admits at once and its commit hub answers every waiter of the txs admitted so far on
the next loop iteration (or every --period-ms), with receipts built beforehand. Decoding can be
memoised (--stub-decode, the default), so what is measured is aiohttp, the middlewares, the
handler, the hub and the answer. The load client (this process) is bench.py's lean client.

Method: warm up, then read the server's on-CPU time (/proc schedstat, all threads) around
`--requests` requests; rounds alternate between the given source roots (A/B), the median per
root is printed. `--callgrind` instead counts the server's instructions in the same window.

    scripts/rpc_cpu.py --root OLD_CHECKOUT --root . --requests 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHAIN_ID = "rpc-cpu"


# -- the server process ---------------------------------------------------------------------

def serve(tx_file: str, period_ms: float, stub_decode: bool, port_file: str) -> None:
    import types

    import uvloop

    from chainnode import codec
    from chainnode.core.block import Receipt
    from chainnode.core.tx import Transaction
    from chainnode.hub import CommitHub
    from chainnode.metrics import NodeMetrics
    from chainnode.rpc.server import RpcServer

    raws = codec.decode(Path(tx_file).read_bytes(), max_size=1 << 30, max_depth=2)
    txs = {raw: Transaction.decode(raw) for raw in raws}
    receipts = {tx.hash: Receipt(tx.hash, 0, 1234, True, (
        ("sys.members", "MemberRegistered", {"address": tx.args["address"],
                                             "roles": tx.args["roles"]}),))
        for tx in txs.values()}
    if stub_decode:
        real = Transaction.decode.__func__

        def decode(cls, data, max_bytes=1 << 20):
            tx = txs.get(data)
            return tx if tx is not None else real(cls, data, max_bytes)
        Transaction.decode = classmethod(decode)

    class Genesis:
        def param(self, name: str):
            return {"max_tx_bytes": 64 * 1024}[name]

    class StubNode:
        def __init__(self) -> None:
            self.genesis = Genesis()
            self.hub = CommitHub()
            self.metrics = NodeMetrics()
            self.stopping = False
            self.height = 0
            self.pending: list = []
            self.scheduled = False

        async def submit(self, tx, source=None):
            self.pending.append(tx)
            if not self.scheduled:
                self.scheduled = True
                loop = asyncio.get_running_loop()
                if period_ms > 0:
                    loop.call_later(period_ms / 1000, self.flush)
                else:
                    loop.call_soon(self.flush)
            return tx

        def flush(self) -> None:
            self.scheduled = False
            batch, self.pending = self.pending, []
            self.height += 1
            block = types.SimpleNamespace(height=self.height, txs=batch)
            self.hub.committed(block, tuple(receipts[tx.hash] for tx in batch))

    async def main() -> None:
        srv = RpcServer(StubNode())
        await srv.start("127.0.0.1", 0)
        Path(port_file).write_text(str(srv.port))
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


# -- the client (this process) -----------------------------------------------------------------

def make_txs(n: int, path: Path) -> None:
    sys.path.insert(0, str(HERE.parent))
    from chainnode import codec
    from chainnode.core.tx import build_tx
    from chainnode.crypto.address import address_of
    from chainnode.crypto.sm2 import PrivateKey

    admin = PrivateKey.generate()
    addr = address_of(PrivateKey.generate().public_key)  # the body need not be unique: nonces are
    raws = [build_tx(admin, CHAIN_ID, "system", "sys.members", "register",
                     {"address": addr, "roles": ["member"]}, expires_at=2**40,
                     gas_limit=100_000).encode() for _ in range(n)]
    path.write_bytes(codec.encode(raws))


def cpu_ns(pid: int) -> int:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def load(port: int, raws: list[bytes], batch: int, concurrency: int) -> tuple[int, float]:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import bench

    from chainnode import codec

    url = f"http://127.0.0.1:{port}"
    if batch > 1:
        reqs = [bench.http_request(url, "/txs?wait=commit&timeout=120",
                                   codec.encode(raws[i:i + batch]))
                for i in range(0, len(raws), batch)]
    else:
        reqs = [bench.http_request(url, "/tx?wait=commit&timeout=120", r) for r in raws]
    bad = [0]

    def handle(status: int, body: bytes, dt: float) -> None:
        if status != 200 or b'"committed"' not in body:
            bad[0] += 1
    elapsed = asyncio.run(bench.lean_post_all([url], reqs, concurrency, handle))
    return bad[0], elapsed


def one_round(root: str, args, tx_file: Path, raws: list[bytes]) -> float:
    """Server CPU (us) or instructions per tx for one fresh server from `root`."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        cmd = [sys.executable, str(HERE / "rpc_cpu.py"), "serve", "--tx-file", str(tx_file),
               "--period-ms", str(args.period_ms), "--port-file", str(port_file)]
        if not args.stub_decode:
            cmd.append("--real-decode")
        out = Path(tmp) / "callgrind.out"
        if args.callgrind:
            cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={out}", *cmd]
        env = {**os.environ, "PYTHONPATH": str(Path(root).resolve()), "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL if args.quiet else None)
        try:
            deadline = time.monotonic() + 300
            while not port_file.exists() or not port_file.read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.05)
            port = int(port_file.read_text())
            warm, meas = raws[:args.warmup], raws[args.warmup:args.warmup + args.requests]
            load(port, warm, args.batch, args.concurrency)
            if args.callgrind:
                toggle = subprocess.Popen(["callgrind_control", "-i", "on", str(proc.pid)],
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                while toggle.poll() is None:  # the server polls for commands while it runs
                    load(port, warm[:20], args.batch, 4)
                load(port, warm[:200], args.batch, args.concurrency)  # settle, then measure
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            spy = None
            if args.pyspy:  # sampled Python stacks of the measured window (collapsed format)
                spy = subprocess.Popen(["py-spy", "record", "--format", "raw", "--rate", "500",
                                        "-o", args.pyspy, "--pid", str(proc.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)
            t0 = cpu_ns(proc.pid)
            bad, elapsed = load(port, meas, args.batch, args.concurrency)
            used = cpu_ns(proc.pid) - t0
            if spy is not None:
                spy.send_signal(2)
                spy.wait()
            if args.callgrind:
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if bad:
                raise RuntimeError(f"{bad} requests not answered 200 committed")
        finally:
            proc.terminate()
            proc.wait()
        if args.callgrind:
            dump = Path(f"{out}.1")  # -z then -d: the first dump holds the measured window
            if args.keep:
                Path(args.keep).write_bytes(dump.read_bytes())
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith(("totals:", "summary:")):
                    return int(line.split()[1]) / len(meas)
            raise RuntimeError("no totals in the callgrind dump")
        return used / 1000 / len(meas)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    sv = sub.add_parser("serve")
    sv.add_argument("--tx-file", required=True)
    sv.add_argument("--period-ms", type=float, default=0.0)
    sv.add_argument("--port-file", required=True)
    sv.add_argument("--real-decode", action="store_true")
    ap.add_argument("--root", action="append", help="source root(s) to compare (A/B)")
    ap.add_argument("--requests", type=int, default=20_000, help="measured txs per round")
    ap.add_argument("--warmup", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=64, help="connections")
    ap.add_argument("--batch", type=int, default=1, help="txs per POST /txs (1: POST /tx)")
    ap.add_argument("--period-ms", type=float, default=0.0,
                    help="commit every N ms (0: on the next loop iteration)")
    ap.add_argument("--real-decode", dest="stub_decode", action="store_false")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--keep", help="with --callgrind: copy the last round's dump here")
    ap.add_argument("--pyspy", help="record py-spy stacks (py-spy on PATH) of the measured window to this file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args.tx_file, args.period_ms, not args.real_decode, args.port_file)
        return
    roots = args.root or [str(HERE.parent)]
    with tempfile.TemporaryDirectory() as tmp:
        tx_file = Path(tmp) / "txs"
        make_txs(args.warmup + args.requests, tx_file)
        from chainnode import codec
        raws = codec.decode(tx_file.read_bytes(), max_size=1 << 30, max_depth=2)
        results: dict[str, list[float]] = {r: [] for r in roots}
        unit = "instr" if args.callgrind else "us"
        for i in range(args.rounds):
            for root in roots if i % 2 == 0 else roots[::-1]:
                v = one_round(root, args, tx_file, raws)
                results[root].append(v)
                print(f"round {i} {root}: {v:,.1f} {unit}/tx", flush=True)
        for root, vals in results.items():
            print(f"{root}: median {statistics.median(vals):,.1f} {unit}/tx "
                  f"(runs {', '.join(f'{v:,.1f}' for v in vals)})")


if __name__ == "__main__":
    main()
