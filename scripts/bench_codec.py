"""Micro-benchmark of the canonical codec and the tx/block wire paths: µs per transaction.

The workload is scripts/bench.py's: pre-signed `sys.members register` transactions. A/B mode
runs this tree and another source tree (e.g. an export of main) in alternating subprocesses
over the same pre-signed bytes and prints the median of each figure, so a busy machine hurts
both sides alike.

  python scripts/bench_codec.py --ab OLD_SRC [--txs 2000] [--rounds 5]
  python scripts/bench_codec.py --run FILE        (one measurement of this tree, JSON out)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
REPS = 3  # passes per figure inside one process: the fastest counts


def make(path: Path, n: int) -> None:
    from chainnode import codec
    from chainnode.core.tx import build_tx
    from chainnode.crypto.address import address_of
    from chainnode.crypto.sm2 import PrivateKey

    admin = PrivateKey.generate()

    def one(_: int) -> bytes:
        k = PrivateKey.generate()
        return build_tx(admin, "bench", "system", "sys.members", "register",
                        {"address": address_of(k.public_key), "roles": ["member"]},
                        expires_at=900, gas_limit=100_000).encode()

    with ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        path.write_bytes(codec.encode(list(ex.map(one, range(n)))))


def best(fn) -> float:
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(path: Path) -> dict[str, float]:
    from chainnode import codec
    from chainnode.core.block import Block, BlockHeader, tx_root
    from chainnode.core.tx import Transaction
    from chainnode.crypto.hashing import sm3

    raws = codec.decode(path.read_bytes(), max_size=1 << 30)
    n = len(raws)
    wires = [codec.decode(r) for r in raws]
    txs = tuple(Transaction.decode(r) for r in raws)
    h = sm3(b"bench")
    header = BlockHeader("bench", 1, h, 1, 0, 0, tx_root(txs), h, h, h, h)
    block_raw = Block(header, txs).encode()

    def tx_path() -> None:  # what a node does with each tx it is sent
        for r in raws:
            t = Transaction.decode(r)
            t.body_bytes()
            t.encode()

    figures = {
        "codec.decode": best(lambda: [codec.decode(r) for r in raws]),
        "codec.encode": best(lambda: [codec.encode(w) for w in wires]),
        "tx decode+hash+body+encode": best(tx_path),
        "Block.encode (2,000-tx block)": best(lambda: Block(header, txs).encode()),
        "Block.decode (2,000-tx block)": best(lambda: Block.decode(block_raw)),
    }
    return {k: v / n * 1e6 for k, v in figures.items()}


def ab(old_src: Path, n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-codec-") as tmp:
        data = Path(tmp) / "txs.bin"
        make(data, n)
        results: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
        for _ in range(rounds):
            for side, src in (("old", old_src), ("new", HERE)):
                env = dict(os.environ, PYTHONPATH=str(src), PYTHONDONTWRITEBYTECODE="1",
                           PYTHONHASHSEED="0")
                out = subprocess.run([sys.executable, __file__, "--run", str(data)], env=env,
                                     check=True, capture_output=True, text=True, cwd=tmp).stdout
                for k, v in json.loads(out).items():
                    results[side].setdefault(k, []).append(v)
    print(f"{n} pre-signed sys.members register txs, medians of {rounds} interleaved runs "
          f"(µs per tx)")
    print(f"{'figure':32} {'old':>9} {'new':>9} {'speed-up':>9}")
    for k in results["new"]:
        old, new = statistics.median(results["old"][k]), statistics.median(results["new"][k])
        print(f"{k:32} {old:9.2f} {new:9.2f} {old / new:8.1f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ab", metavar="OLD_SRC", type=Path,
                    help="source tree to compare against (its chainnode/ package is imported)")
    ap.add_argument("--run", metavar="FILE", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--txs", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    if a.run:
        print(json.dumps(run(a.run)))
    elif a.ab:
        ab(a.ab.resolve(), a.txs, a.rounds)
    else:
        ap.error("give --ab OLD_SRC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
