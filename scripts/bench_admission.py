#!/usr/bin/env python3
"""CPU per transaction from wire bytes to "admitted in the mempool", SM2 verify excluded.

The workload is scripts/bench.py's: pre-signed `sys.members register` transactions from the
genesis admin. Each is run through a real node's admission code, by one of two paths:

  rpc        RpcServer._admit -> Transaction.decode -> Node.submit -> Mempool.add, and the
             forward to the validators (a TxBatcher whose send drops the batch)
  forwarded  ForwardedTxs.on_batch (batches of 256, as TxBatcher sends) -> Node's
             _admit_forwarded -> Transaction.decode -> Mempool.add

Every signature is marked as verified before the clock starts, so what is measured is the
Python overhead around the verify, which is the part a node can cut (the verify itself is
the physical ceiling). With --stub-verify nothing is marked: every tx goes through the verify
batcher (job submit, thread hand-off, verdicts back to the loop) to a stand-in for
`verify_items` that answers True without SM2, so the batcher's glue is measured too. Under callgrind, run two sizes and divide the difference of the
instruction counts by the difference of the sizes: start-up, loading and node set-up cancel.

  python scripts/bench_admission.py prepare DIR [--txs 4000]
  python scripts/bench_admission.py marks DIR      (re-derive DIR/marks.bin from DIR/txs.bin)
  python scripts/bench_admission.py run DIR --path rpc|forwarded [--txs N] [--repeat R]
                                                 [--stub-verify]
  python scripts/bench_admission.py callgrind DIR [--small 200 --large 1200] [--stub-verify]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 256  # TxBatcher's default max_txs: what a peer's `txs` frame carries
EXPIRES_AT = 900


def prepare(workdir: Path, n: int) -> None:
    """A one-validator testnet in workdir/net and n pre-signed txs in workdir/txs.bin."""
    from bench import presign  # scripts/bench.py, beside this file (sys.path[0])

    from chainnode import codec, testnet
    from chainnode.crypto.keyfile import load_private_key

    genesis = testnet.init(workdir / "net", 1, chain_id="bench-admission")
    admin = load_private_key(workdir / "net" / "admin.key")
    raws = [tx.encode() for tx in presign(admin, genesis.chain_id, n, EXPIRES_AT)]
    (workdir / "txs.bin").write_bytes(codec.encode(raws))
    write_marks(workdir)


def write_marks(workdir: Path) -> None:
    """workdir/marks.bin: (hash, signature) of every prepared tx, so a run marks them verified
    without decoding them first (that would add one decode per tx to what is measured)."""
    from chainnode import codec
    from chainnode.core.tx import Transaction

    raws = codec.decode((workdir / "txs.bin").read_bytes(), max_size=1 << 30)
    txs = [Transaction.decode(raw) for raw in raws]
    (workdir / "marks.bin").write_bytes(codec.encode([[tx.hash, tx.signature] for tx in txs]))


def _node(home: Path):
    from chainnode.config import NodeConfig
    from chainnode.node import Node

    cfg = NodeConfig.load(home)
    cfg.verify_processes = 0  # nothing is verified here: no worker processes
    cfg.verify_threads = 1
    return Node(cfg)


async def _admit_all(node, raws: list[bytes], path: str) -> None:
    from chainnode.net.txforward import TxBatcher
    from chainnode.rpc.server import RpcServer  # imported by run() before the clock starts

    if path == "rpc":
        node.forwarder = TxBatcher(lambda batch: None)
        rpc = RpcServer(node)
        source = object()
        await asyncio.gather(*(rpc._admit(raw, False, source) for raw in raws))
        node.forwarder.flush()
    else:
        peer = bytes(64)
        for i in range(0, len(raws), BATCH):
            reason = node._admitting.on_batch(peer, raws[i:i + BATCH])
            if reason:
                raise SystemExit(f"batch refused: {reason}")
            await asyncio.gather(*node._admitting.tasks())


async def _timed(node, raws: list[bytes], path: str) -> float:
    t0 = time.perf_counter()
    await _admit_all(node, raws, path)
    return time.perf_counter() - t0


def _stub_verify() -> None:
    """Verify jobs answer True without SM2: what stays is the batcher's Python glue."""
    from chainnode import verify_batch

    verify_batch.verify_items = lambda items: [True] * len(items)


def run(workdir: Path, path: str, n: int, repeat: int, stub: bool = False) -> list[float]:
    """Admit the first n txs `repeat` times, each time into a fresh node; seconds per run."""
    from chainnode import codec
    from chainnode.rpc import server  # noqa: F401 - its import is not admission work

    raws = codec.decode((workdir / "txs.bin").read_bytes(), max_size=1 << 30)[:n]
    if len(raws) < n:
        raise SystemExit(f"only {len(raws)} txs prepared")
    marks = codec.decode((workdir / "marks.bin").read_bytes(), max_size=1 << 30)[:n]
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "node0"
            shutil.copytree(workdir / "net" / "node0", home)
            node = _node(home)
            try:
                if stub:
                    _stub_verify()
                else:
                    for h, sig in marks:  # the signatures count as verified: no SM2 at all
                        node.mempool.mark_verified(h, sig)

                times.append(asyncio.run(_timed(node, raws, path)))
                if len(node.mempool) != n:
                    raise SystemExit(f"{len(node.mempool)} of {n} txs admitted: "
                                     f"{node.mempool.rejected}")
            finally:
                node.mempool.close()
                node.db.close()
    return times


def callgrind_instructions(workdir: Path, path: str, n: int, stub: bool = False) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, __file__, "run", str(workdir), "--path", path, "--txs", str(n),
             *(["--stub-verify"] if stub else [])],
            env=env, capture_output=True, text=True, check=True)
        m = re.search(r"Collected : (\d+)", proc.stderr)
        if m is None:
            raise SystemExit(proc.stderr[-2000:])
        return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("workdir", type=Path)
    p.add_argument("--txs", type=int, default=4000)
    m = sub.add_parser("marks")
    m.add_argument("workdir", type=Path)
    r = sub.add_parser("run")
    r.add_argument("workdir", type=Path)
    r.add_argument("--path", choices=("rpc", "forwarded"), default="rpc")
    r.add_argument("--txs", type=int, default=1000)
    r.add_argument("--repeat", type=int, default=1)
    r.add_argument("--stub-verify", action="store_true")
    c = sub.add_parser("callgrind")
    c.add_argument("workdir", type=Path)
    c.add_argument("--small", type=int, default=200)
    c.add_argument("--large", type=int, default=1200)
    c.add_argument("--path", choices=("rpc", "forwarded", "both"), default="both")
    c.add_argument("--stub-verify", action="store_true")
    a = ap.parse_args()
    if a.cmd == "prepare":
        prepare(a.workdir, a.txs)
    elif a.cmd == "marks":
        write_marks(a.workdir)
    elif a.cmd == "run":
        times = run(a.workdir, a.path, a.txs, a.repeat, a.stub_verify)
        print(f"{a.path}: {a.txs} txs, median {statistics.median(times) / a.txs * 1e6:.1f} "
              f"us/tx over {len(times)} runs")
    else:
        for path in ("rpc", "forwarded") if a.path == "both" else (a.path,):
            small = callgrind_instructions(a.workdir, path, a.small, a.stub_verify)
            large = callgrind_instructions(a.workdir, path, a.large, a.stub_verify)
            print(f"{path}{' (stub verify)' if a.stub_verify else ''}: "
                  f"{(large - small) / (a.large - a.small):,.0f} instructions/tx "
                  f"(callgrind, {a.small} vs {a.large} txs)")


if __name__ == "__main__":
    main()
