"""A fixed, deterministic execution workload: the same blocks, byte for byte, on every run.

Fixed keys, fixed nonces, fixed (unchecked) signature bytes and fixed certificate votes, so the
block hashes, receipt roots and state roots it produces are pinned by tests/unit/
test_exec_golden.py: any change to the execution path that alters a byte feeding consensus
fails there. Also a micro-benchmark of build / validate / commit per transaction:

    python tests/unit/exec_workload.py --blocks 20 --txs 500 [--profile]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from chainnode.chain import Chain
from chainnode.core.block import Block
from chainnode.core.certificate import CommitCertificate
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import Transaction
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.store.db import ChainDB

CHAIN = "golden-exec"
T0 = 1_700_000_000_000
VALIDATOR = PrivateKey(0x1234567)
ADMIN = PrivateKey(0x7654321)
ADMIN_ADDR = address_of(ADMIN.public_key)

COUNTER = '''
counts = Map("counts")


def init(start):
    storage.set("total", start)


@export
def bump(who, by):
    counts[who] = counts.get(who, 0) + by
    storage.set("total", storage.get("total") + by)
    emit("Bumped", who=who, by=by)
    return counts[who]


@export
def boom():
    return {"x": 1}["y"]
'''


def genesis(params: dict | None = None) -> Genesis:
    """The pinned chain; `params` only for benchmarks of blocks above the default limits."""
    return Genesis(CHAIN, T0, (Validator("node0", VALIDATOR.public_key.raw),),
                   (Member(ADMIN_ADDR, ("admin", "operator"), "admin"),), params or {})


def _tx(n: int, kind: str, contract: str, method: str, args: dict, gas: int) -> Transaction:
    nonce = hashlib.sha256(b"nonce" + n.to_bytes(8, "big")).digest()[:16]
    sig = hashlib.sha512(b"sig" + n.to_bytes(8, "big")).digest()  # never verified here
    tx = Transaction(CHAIN, nonce, 60, ADMIN.public_key.raw, kind, contract, method, args,
                     gas, sig)
    object.__setattr__(tx, "hash", tx.compute_hash())
    return tx


def block_txs(height: int, n: int, calls: int) -> list[Transaction]:
    """Block 1 deploys the counter; every block registers `n` new members (one of them a
    duplicate: a failed receipt) and makes `calls` contract calls (one failing)."""
    base = height * 100_000
    txs = []
    if height == 1:
        txs.append(_tx(base, "deploy", "counter", "deploy",
                       {"source": COUNTER, "init_args": {"start": 7}}, 20_000_000))
    for i in range(n):
        addr = hashlib.sha256(b"member" + (base + (i if i != n - 1 else 0)).to_bytes(8, "big")
                              ).hexdigest()[:40]
        txs.append(_tx(base + 1 + i, "system", "sys.members", "register",
                       {"address": addr, "roles": ["member"], "name": f"m{i % 7}"}, 100_000))
    for j in range(calls):
        method, args = ("boom", {}) if j == calls - 1 else ("bump", {"who": f"w{j % 5}",
                                                                     "by": j + 1})
        txs.append(_tx(base + 50_000 + j, "call", "counter", method, args, 2_000_000))
    return txs


def certificate(height: int, block_hash: bytes) -> CommitCertificate:
    sig = hashlib.sha512(b"vote" + height.to_bytes(8, "big")).digest()
    return CommitCertificate(CHAIN, height, 0, block_hash, ((0, T0 + height * 1000, sig),))


def run(path: Path, blocks: int, n: int, calls: int, timings: dict | None = None,
        keep_versions: int = 0) -> list[tuple[int, str, str, str]]:
    """Build and commit `blocks` blocks on a fresh store at `path`; also validate each on a
    second store (a follower). Returns (height, block hash, receipt root, state root)."""
    params = {"max_block_txs": 10_000, "block_gas_limit": 10**12} if n > 500 else None
    leader = Chain(ChainDB(path / "leader", keep_versions), genesis(params))
    follower = Chain(ChainDB(path / "follower", keep_versions), genesis(params))
    out = []
    in_root = [0.0]  # CPU inside the leader's state-root computation (part of build)
    compute = leader.db.compute_state_update

    def timed_root(*a):
        t = time.thread_time()
        try:
            return compute(*a)
        finally:
            in_root[0] += time.thread_time() - t

    leader.db.compute_state_update = timed_root
    try:
        for h in range(1, blocks + 1):
            in_root[0] = 0.0
            txs = block_txs(h, n, calls)
            # as the driver does: the leader encodes its proposal, a follower decodes it
            t0 = time.thread_time()
            ex = leader.build(txs, 0, 0)
            raw = ex.encoded() if hasattr(ex, "encoded") else ex.block.encode()
            t1 = time.thread_time()
            cert = certificate(h, ex.block.hash)
            leader.commit(ex, cert)
            t2 = time.thread_time()
            fx = follower.validate(Block.decode(raw), lambda tx: True)
            if hasattr(fx, "with_bytes"):
                fx.with_bytes(raw)
            t3 = time.thread_time()
            follower.commit(fx, cert)
            if timings is not None and h > 1:  # block 1 compiles the contract
                for k, v in (("build", t1 - t0), ("  state root", in_root[0]),
                             ("commit", t2 - t1), ("validate", t3 - t2)):
                    timings.setdefault(k, []).append(v / len(txs))
            hd = ex.block.header
            out.append((h, ex.block.hash.hex(), hd.receipt_root.hex(), hd.state_root.hex()))
    finally:
        leader.db.close()
        follower.db.close()
    return out


def digest(rows: list[tuple[int, str, str, str]]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def ab(args) -> int:
    """Alternate runs of this checkout (new) and OTHER_CHECKOUT (old); medians of the
    per-run medians of CPU µs per tx on the executing thread."""
    import json
    import os
    import subprocess

    here = str(Path(__file__).resolve().parents[2])
    res: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    digests = set()
    for _ in range(args.rounds):
        for name, root in (("old", args.ab), ("new", here)):
            env = dict(os.environ, PYTHONPATH=root, PYTHONHASHSEED="0")
            out = subprocess.run(
                [sys.executable, __file__, "--blocks", str(args.blocks), "--txs",
                 str(args.txs), "--calls", str(args.calls), "--json"],
                env=env, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            digests.add(row.pop("digest"))
            for k, v in row.items():
                res[name].setdefault(k, []).append(v)
    for k in res["new"]:
        o, n = statistics.median(res["old"][k]), statistics.median(res["new"][k])
        print(f"{k:9s} old {o:7.1f}  new {n:7.1f} us/tx  ({(n - o) / o * 100:+.0f} %)")
    print("same digest" if len(digests) == 1 else f"DIGESTS DIFFER: {digests}")
    return 0 if len(digests) == 1 else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--txs", type=int, default=500)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--ab", metavar="OTHER_CHECKOUT",
                    help="compare with the chainnode of another checkout: alternate runs")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.ab:
        return ab(args)
    timings: dict = {}
    with tempfile.TemporaryDirectory() as d:
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            rows = run(Path(d), args.blocks, args.txs, args.calls, timings)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(35)
        else:
            rows = run(Path(d), args.blocks, args.txs, args.calls, timings)
    if args.json:
        import json

        print(json.dumps({**{k: statistics.median(v) * 1e6 for k, v in timings.items()},
                          "digest": digest(rows)}))
        return 0
    for k, v in timings.items():
        print(f"{k}: median {statistics.median(v) * 1e6:.1f} us/tx (CPU, executing thread)")
    print("digest", digest(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
