#!/usr/bin/env python3
"""Costs as the work grows: does a node stay flat as state and history grow?

Two parts, both with SMT pruning on (`--keep`, node.json state_keep_versions):

* store: a ChainDB holding N keys (10k, 100k, optionally 1M), then blocks of random updates:
  the time to compute the new state root and commit one block, the proof size, the number
  of SMT nodes and bytes on disk before and after (pruning keeps them near the live state);
* node: a real 1-validator testnet takes `--txs` transactions; disk bytes per committed
  transaction and the node's resident memory after them; then a fresh store catches up the
  whole chain block by block (validate + commit, as sync does) and the rate is printed.

Figures on a shared machine are noisy: quote medians and the load the machine was under.

    scripts/bench_scale.py --sizes 10000,100000 --txs 3000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode import codec, testnet  # noqa: E402
from chainnode.chain import Chain  # noqa: E402
from chainnode.core.block import Block, BlockHeader  # noqa: E402
from chainnode.crypto.keyfile import load_private_key  # noqa: E402
from chainnode.store.db import P_NODE, P_STALE, ChainDB, state_key_hash  # noqa: E402

Z = b"\0" * 32


class _Cert:
    def encode(self) -> bytes:
        return b"cert"


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def count(db: ChainDB, prefix: bytes) -> int:
    return sum(1 for _ in db.db.iterator(prefix=prefix, include_value=False))


def store_scale(n_keys: int, blocks: int, writes_per_block: int, keep: int, tmp: Path) -> dict:
    """Commit `blocks` blocks of `writes_per_block` random updates over `n_keys` keys."""
    path = tmp / f"scale-{n_keys}"
    db = ChainDB(path, keep_versions=keep)
    rnd = random.Random(n_keys)
    t0 = time.perf_counter()
    chunk = 50_000  # genesis in slices: one batch per slice keeps memory flat
    head = db.write_genesis(b"g" * 32, {("app", b"k%d" % i): b"0"
                                        for i in range(min(chunk, n_keys))})
    for lo in range(chunk, n_keys, chunk):
        head, _ = _commit(db, head, {("app", b"k%d" % i): b"0"
                                     for i in range(lo, min(lo + chunk, n_keys))})
    load_s = time.perf_counter() - t0
    db.db.compact_range()
    nodes_start, bytes_start = count(db, P_NODE), dir_bytes(path)
    times = []
    nodes_mid = 0
    for b in range(blocks):
        if b == blocks * 2 // 3:
            nodes_mid = count(db, P_NODE)
        writes = {("app", b"k%d" % rnd.randrange(n_keys)): b"%d" % b
                  for _ in range(writes_per_block)}
        t = time.perf_counter()
        head, _ = _commit(db, head, writes)
        times.append(time.perf_counter() - t)
    kh = state_key_hash("app", b"k1")
    proof_bytes = len(codec.encode(db.smt.prove(head.state_root, kh).to_wire()))
    db.db.compact_range()
    out = {
        "keys": n_keys, "load_s": load_s, "blocks": blocks, "writes/block": writes_per_block,
        "commit_ms_p50": statistics.median(times) * 1000,
        "commit_ms_p99": sorted(times)[int(0.99 * (len(times) - 1))] * 1000,
        "proof_bytes": proof_bytes,
        "smt_nodes_start": nodes_start, "smt_nodes_mid": nodes_mid,
        "smt_nodes_end": count(db, P_NODE),
        "stale_queue": count(db, P_STALE),
        "disk_mb_start": bytes_start / 1e6, "disk_mb_end": dir_bytes(path) / 1e6,
    }
    db.close()
    return out


def _commit(db: ChainDB, head, writes):
    root, nodes = db.compute_state_update(head.state_root, writes)
    hdr = BlockHeader("scale", head.height + 1, head.block_hash, 1, 0, 0, Z, Z, root, Z, Z)
    return db.commit_block(Block(hdr, ()), _Cert(), [], writes, nodes), nodes


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def node_scale(n_txs: int, keep: int, tmp: Path, base_port: int) -> dict:
    """Disk and memory of a real 1-validator node after n_txs, then catch-up speed."""
    import bench  # scripts/bench.py: pre-signing and the closed-loop client

    root = tmp / "testnet"
    g = testnet.init(root, 1, base_port=base_port, params={"max_block_txs": 2000})
    cfg_path = root / "node0" / "node.json"
    doc = json.loads(cfg_path.read_text())
    doc["state_keep_versions"] = keep
    cfg_path.write_text(json.dumps(doc, indent=2) + "\n")
    admin = load_private_key(root / "admin.key")
    txs = bench.presign(admin, g.chain_id, n_txs, expires_at=900)
    data = root / "node0"
    testnet.up(root, out=open(os.devnull, "w"))  # noqa: SIM115
    try:
        urls = [n["rpc"] for n in testnet.manifest(root)["nodes"]]
        disk0 = dir_bytes(data)
        pid = int((data / "node.pid").read_text())
        rss0 = rss_mb(pid)
        lat, elapsed = asyncio.run(bench.submit_all(urls, txs, 1000))
        rss1 = rss_mb(pid)
    finally:
        testnet.down(root, out=open(os.devnull, "w"))  # noqa: SIM115
    disk1 = dir_bytes(data)
    src_path = next(data.rglob("chain.ldb"))
    src = ChainDB(src_path)
    height = src.head().height
    dst = ChainDB(tmp / "catchup.ldb", keep_versions=keep)
    chain = Chain(dst, g)
    t0 = time.perf_counter()
    for h in range(1, height + 1):
        block, cert = src.block(h), src.certificate(h)
        chain.check_certificate(cert, h, block.hash)
        chain.commit(chain.validate(block, lambda tx: True, certified=True), cert)
    catchup_s = time.perf_counter() - t0
    assert dst.head() == src.head(), "catch-up ended at another head"
    src.close()
    dst.close()
    return {"txs": len(lat), "tps": len(lat) / elapsed if elapsed else 0.0, "blocks": height,
            "disk_bytes_per_tx": (disk1 - disk0) / max(len(lat), 1),
            "rss_mb_before": rss0, "rss_mb_after": rss1,
            "catchup_blocks_per_s": height / catchup_s, "catchup_txs_per_s": len(lat) / catchup_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000",
                    help="keys in state, comma separated (1000000 takes minutes)")
    ap.add_argument("--blocks", type=int, default=150, help="blocks committed per size")
    ap.add_argument("--writes", type=int, default=100, help="updated keys per block")
    ap.add_argument("--keep", type=int, default=50,
                    help="SMT versions kept (node.json state_keep_versions)")
    ap.add_argument("--txs", type=int, default=3000, help="transactions for the node part "
                    "(0: skip it)")
    ap.add_argument("--base-port", type=int, default=27600)
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(f"chainnode bench_scale: {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, pruning keeps {a.keep} versions")
    with tempfile.TemporaryDirectory(prefix="chainnode-scale-") as tmp:
        for n in (int(s) for s in a.sizes.split(",") if s):
            r = store_scale(n, a.blocks, a.writes, a.keep, Path(tmp))
            print(f"store {n:>9,} keys: load {r['load_s']:.1f} s; block of {a.writes} updates:"
                  f" commit p50 {r['commit_ms_p50']:.1f} ms, p99 {r['commit_ms_p99']:.1f} ms;"
                  f" proof {r['proof_bytes']} B; SMT nodes {r['smt_nodes_start']:,} -> "
                  f"{r['smt_nodes_mid']:,} after {a.blocks * 2 // 3} blocks -> "
                  f"{r['smt_nodes_end']:,} after {a.blocks} (queue "
                  f"{r['stale_queue']:,}); disk {r['disk_mb_start']:.1f} -> "
                  f"{r['disk_mb_end']:.1f} MB")
        if a.txs:
            r = node_scale(a.txs, a.keep, Path(tmp), a.base_port)
            print(f"node: {r['txs']} txs in {r['blocks']} blocks ({r['tps']:.0f} tps); "
                  f"disk {r['disk_bytes_per_tx']:.0f} B per committed tx; RSS "
                  f"{r['rss_mb_before']:.0f} -> {r['rss_mb_after']:.0f} MB; catch-up "
                  f"{r['catchup_blocks_per_s']:.1f} blocks/s = "
                  f"{r['catchup_txs_per_s']:.0f} txs/s (validate + commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
