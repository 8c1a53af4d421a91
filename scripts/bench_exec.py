#!/usr/bin/env python3
"""CPU per transaction of the execution path every validator pays for every block.

A leader builds and commits blocks of `sys.members register` system calls (the bench.py
workload) on a temporary LevelDB; a follower decodes each proposal, validates and commits it
on its own store. Signatures are fixed bytes that are never checked (the follower's verifier
says yes), so SM2 is not measured: only execution, receipts and their root, the SMT state root
and the commit batch.

    scripts/bench_exec.py --blocks 5 --txs 1000            # wall/CPU µs per tx per stage
    scripts/bench_exec.py --blocks 1 --txs 300 --callgrind  # instructions per tx (valgrind)

`--callgrind` runs this script twice under valgrind's callgrind, once with every block
prepared but none executed (`--dry`), once executing them, and reports the difference divided
by the transactions executed: instruction counts repeat within a fraction of a percent on a
busy machine, unlike timings. `digest` covers every block hash, receipt root and state root:
two checkouts that print different digests do not agree on consensus bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode.chain import Chain  # noqa: E402
from chainnode.core.block import Block  # noqa: E402
from chainnode.core.certificate import CommitCertificate  # noqa: E402
from chainnode.core.genesis import Genesis, Member, Validator  # noqa: E402
from chainnode.core.tx import Transaction  # noqa: E402
from chainnode.crypto.address import address_of  # noqa: E402
from chainnode.crypto.sm2 import PrivateKey  # noqa: E402
from chainnode.store.db import ChainDB  # noqa: E402

CHAIN = "bench-exec"
T0 = 1_700_000_000_000
VALIDATOR = PrivateKey(0x1234567)
ADMIN = PrivateKey(0x7654321)
ADMIN_ADDR = address_of(ADMIN.public_key)
WARMUP_TXS = 50  # block 1: first reads, first commit; never measured


def genesis() -> Genesis:
    return Genesis(CHAIN, T0, (Validator("node0", VALIDATOR.public_key.raw),),
                   (Member(ADMIN_ADDR, ("admin", "operator"), "admin"),),
                   {"max_block_txs": 100_000, "block_gas_limit": 10**13})


def register_txs(height: int, n: int) -> list[Transaction]:
    """`n` registrations of fresh members, as scripts/bench.py presign() sends them."""
    txs = []
    for i in range(n):
        seed = (height * 1_000_000 + i).to_bytes(8, "big")
        addr = hashlib.sha256(b"member" + seed).hexdigest()[:40]
        tx = Transaction(CHAIN, hashlib.sha256(b"nonce" + seed).digest()[:16], 60,
                         ADMIN.public_key.raw, "system", "sys.members", "register",
                         {"address": addr, "roles": ["member"]}, 100_000,
                         hashlib.sha512(b"sig" + seed).digest())
        object.__setattr__(tx, "hash", tx.compute_hash())
        tx.encode()  # a mempool tx was decoded from its bytes: they are known already
        txs.append(tx)
    return txs


def certificate(height: int, block_hash: bytes) -> CommitCertificate:
    sig = hashlib.sha512(b"vote" + height.to_bytes(8, "big")).digest()
    return CommitCertificate(CHAIN, height, 0, block_hash, ((0, T0 + height * 1000, sig),))


def run(tmp: Path, blocks: int, n: int, dry: bool = False, follower: bool = True) -> dict:
    leader = Chain(ChainDB(tmp / "leader"), genesis())
    fol = Chain(ChainDB(tmp / "follower"), genesis()) if follower else None
    stages: dict[str, list[float]] = {}
    rows = []

    def one(h: int, txs: list[Transaction], measure: bool) -> None:
        c0 = time.thread_time()
        ex = leader.build(txs, 0, 0)
        raw = ex.encoded()
        c1 = time.thread_time()
        cert = certificate(h, ex.block.hash)
        leader.commit(ex, cert)
        c2 = time.thread_time()
        c3 = c4 = c2
        if fol is not None:
            block = Block.decode(raw)
            c3 = time.thread_time()
            fx = fol.validate(block, lambda tx: True).with_bytes(raw)
            fol.commit(fx, cert)
            c4 = time.thread_time()
        if measure:
            for k, v in (("build", c1 - c0), ("commit", c2 - c1), ("decode", c3 - c2),
                         ("validate+commit", c4 - c3), ("total", c4 - c0)):
                stages.setdefault(k, []).append(v / len(txs) * 1e6)
        hd = ex.block.header
        rows.append((h, ex.block.hash.hex(), hd.receipt_root.hex(), hd.state_root.hex()))

    try:
        one(1, register_txs(1, WARMUP_TXS), False)
        work = [register_txs(h, n) for h in range(2, blocks + 2)]
        if not dry:
            for i, txs in enumerate(work):
                one(i + 2, txs, True)
    finally:
        leader.db.close()
        if fol is not None:
            fol.db.close()
    return {"stages": {k: statistics.median(v) for k, v in stages.items()},
            "digest": hashlib.sha256(repr(rows).encode()).hexdigest()[:16],
            "txs": 0 if dry else blocks * n}


def callgrind(args) -> int:
    """Instructions per executed tx: (full run - dry run) / txs, both under callgrind."""
    totals = {}
    digest = ""
    for dry in (True, False):
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "cg.out"
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                   sys.executable, __file__, "--blocks", str(args.blocks), "--txs",
                   str(args.txs), "--json"] + (["--dry"] if dry else []) + (
                   ["--leader-only"] if args.leader_only else [])
            env = dict(os.environ, PYTHONHASHSEED="0")
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            m = re.search(r"Collected : (\d+)", res.stderr)
            if m is None:
                raise RuntimeError(res.stderr[-2000:])
            totals[dry] = int(m.group(1))
            if not dry:
                digest = json.loads(res.stdout.strip().splitlines()[-1])["digest"]
                if args.keep:
                    Path(args.keep).write_bytes(out.read_bytes())
    txs = args.blocks * args.txs
    per = (totals[False] - totals[True]) / txs
    print(json.dumps({"instructions_per_tx": round(per), "txs": txs, "digest": digest}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--txs", type=int, default=1000)
    ap.add_argument("--dry", action="store_true", help="prepare the blocks, execute none")
    ap.add_argument("--leader-only", action="store_true", help="no follower")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--callgrind", action="store_true",
                    help="instructions per tx under valgrind (use small --txs)")
    ap.add_argument("--keep", metavar="FILE", help="with --callgrind: keep the full run's "
                    "callgrind output for callgrind_annotate")
    ap.add_argument("--profile", action="store_true", help="cProfile, by own time")
    args = ap.parse_args()
    if args.callgrind:
        return callgrind(args)
    with tempfile.TemporaryDirectory() as d:
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            res = run(Path(d), args.blocks, args.txs, args.dry, not args.leader_only)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(40)
        else:
            res = run(Path(d), args.blocks, args.txs, args.dry, not args.leader_only)
    if args.json:
        print(json.dumps(res))
        return 0
    for k, v in res["stages"].items():
        print(f"{k:16s} {v:7.1f} us/tx (CPU of the executing thread, median over blocks)")
    print("digest", res["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
