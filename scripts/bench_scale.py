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
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode import codec, testnet  # noqa: E402
from chainnode.chain import Chain  # noqa: E402
from chainnode.core.block import Block, BlockHeader  # noqa: E402
from chainnode.core.tx import build_tx  # noqa: E402
from chainnode.crypto.address import ADDRESS_LEN  # noqa: E402
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


def one_validator_net(root: Path, base_port: int, keep: int):
    """A 1-validator testnet (blocks of up to 2,000 txs) whose node prunes past `keep`."""
    g = testnet.init(root, 1, base_port=base_port, params={"max_block_txs": 2000})
    cfg_path = root / "node0" / "node.json"
    doc = json.loads(cfg_path.read_text())
    doc["state_keep_versions"] = keep
    cfg_path.write_text(json.dumps(doc, indent=2) + "\n")
    return g


def node_scale(n_txs: int, keep: int, tmp: Path, base_port: int) -> dict:
    """Disk and memory of a real 1-validator node after n_txs, then catch-up speed."""
    import bench  # scripts/bench.py: pre-signing and the closed-loop client

    root = tmp / "testnet"
    g = one_validator_net(root, base_port, keep)
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


# --- node memory under a long load: pre-signing workers and a streaming closed loop ---

_SIGNER: dict = {}


def _init_signer(key_path: str) -> None:
    _SIGNER["key"] = load_private_key(Path(key_path))


def _sign_chunk(job: tuple) -> list[bytes]:
    """Worker process: `n` signed `sys.members register` txs (real SM2, random addresses so no
    key generation per tx) as ready POST /txs requests of `batch` txs each."""
    import bench  # scripts/bench.py: the lean client's request builder

    url, chain_id, expires_at, n, batch = job
    key = _SIGNER["key"]
    raws = [build_tx(key, chain_id, "system", "sys.members", "register",
                     {"address": secrets.token_hex(ADDRESS_LEN), "roles": ["member"]},
                     expires_at=expires_at, gas_limit=100_000).encode() for _ in range(n)]
    return [bench.batch_request(url, raws[i:i + batch]) for i in range(0, n, batch)]


def _head(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(url + "/status", timeout=30) as r:
        return int(json.loads(r.read())["height"])


def node_memory(n_txs: int, marks: list[int], keep: int, tmp: Path, base_port: int,
                chunk: int = 20_000, batch: int = 1000, in_flight: int = 4,
                signers: int = 2, log=print) -> list[dict]:
    """A real 1-validator node fed `n_txs` through POST /txs?wait=commit (`in_flight`
    requests of `batch` txs at once, lean client), signed `chunk` at a time by `signers`
    worker processes one chunk ahead of the load; the node's resident memory, head and tps
    at each count in `marks` (and at 0)."""
    import multiprocessing

    import bench

    root = tmp / "memnet"
    g = one_validator_net(root, base_port, keep)
    marks = sorted(m for m in set(marks) if 0 < m <= n_txs)
    if not marks or marks[-1] != n_txs:
        marks.append(n_txs)
    rows: list[dict] = []
    pool = multiprocessing.get_context("fork").Pool(
        signers, initializer=_init_signer, initargs=(str(root / "admin.key"),))
    testnet.up(root, out=open(os.devnull, "w"))  # noqa: SIM115
    try:
        url = testnet.manifest(root)["nodes"][0]["rpc"]
        pid = int((root / "node0" / "node.pid").read_text())

        def jobs_for(size: int) -> list[tuple]:
            exp = _head(url) + g.param("max_expiry_window") - 50
            per = -(-size // signers)
            return [(url, g.chain_id, exp, min(per, size - k), batch)
                    for k in range(0, size, per)]

        def start_chunk(size: int):
            return pool.map_async(_sign_chunk, jobs_for(size)) if size else None

        def row(done: int, dt: float, since: int) -> dict:
            r = {"txs": done, "rss_mb": rss_mb(pid), "height": _head(url),
                 "disk_mb": dir_bytes(root / "node0") / 1e6,
                 "tps": (done - since) / dt if dt else 0.0, "load": os.getloadavg()[0]}
            log(f"  {done:>9,} txs: RSS {r['rss_mb']:.0f} MB, height {r['height']:,}, disk "
                f"{r['disk_mb']:.0f} MB, {r['tps']:.0f} tps since the last mark, load "
                f"{r['load']:.1f}")
            return r

        rows.append(row(0, 0.0, 0))

        def size_after(count: int) -> int:  # chunks end on every mark
            return min([chunk] + [m - count for m in marks if m > count], default=0)

        pending = start_chunk(size_after(0))
        pending.wait()  # the first chunk is signed before the clock starts
        done, errors, since = 0, {}, 0
        cpu0 = bench.cpu_seconds({"node": pid})
        t_all = t_mark = time.perf_counter()
        while done < n_txs:
            reqs = [r for part in pending.get() for r in part]
            size = size_after(done)
            pending = start_chunk(size_after(done + size))  # signed while this one is sent
            lat: list[float] = []
            asyncio.run(bench.lean_post_all(
                [url], reqs, in_flight,
                lambda st, b, dt, lat=lat: bench.count_batch(st, b, dt, lat, errors)))
            if len(lat) != size:
                raise RuntimeError(f"{size - len(lat)} txs of a chunk not committed: {errors}")
            done += size
            if any(since < m <= done for m in marks):
                now = time.perf_counter()
                rows.append(row(done, now - t_mark, since))
                since, t_mark = done, now
        total_s = time.perf_counter() - t_all
        cpu = bench.cpu_seconds({"node": pid})["node"] - cpu0["node"]
        rows[-1]["total_tps"] = n_txs / total_s
        rows[-1]["node_cores"] = cpu / total_s
    finally:
        pool.terminate()
        pool.join()
        testnet.down(root, out=open(os.devnull, "w"))  # noqa: SIM115
    return rows


# --- catch-up over a long chain: real certificates, BlockSync's own apply path ---

class _NoFsync:
    """The SOURCE chain of the catch-up run is only input: its commits skip fsync so building
    100,000 blocks takes minutes. The catching-up store is the node's, synced as always."""

    def __init__(self, db) -> None:
        self._db = db

    def write_batch(self, **kw):
        kw["sync"] = False
        return self._db.write_batch(**kw)

    def __getattr__(self, name: str):
        return getattr(self._db, name)


def build_chain(root: Path, path: Path, n_blocks: int, txs_per_block: int, keep: int,
                log=print):
    """A chain of `n_blocks` built as a leader would (Chain.build: execute, roots) with `txs`
    signed `sys.members register` transactions each, every block certified by a quorum of
    the genesis validators' real SM2 COMMIT votes. Returns (genesis, seconds)."""
    from chainnode.core.certificate import CommitCertificate, quorum, vote_payload
    from chainnode.core.genesis import Genesis
    from chainnode.crypto import domain

    g = Genesis.load(root / "genesis.json")
    admin = load_private_key(root / "admin.key")
    keys = {load_private_key(p).public_key.raw: load_private_key(p)
            for p in sorted(root.glob("node*/node.key"))}
    db = ChainDB(path, keep_versions=keep)
    db.db = _NoFsync(db.db)
    chain = Chain(db, g)
    signers = [(i, keys[v.public_key]) for i, v in enumerate(chain.validators)]
    signers = signers[:quorum(len(signers))]
    t0 = time.perf_counter()
    for h in range(1, n_blocks + 1):
        txs = [build_tx(admin, g.chain_id, "system", "sys.members", "register",
                        {"address": secrets.token_hex(ADDRESS_LEN), "roles": ["member"]},
                        expires_at=h + 10, gas_limit=100_000) for _ in range(txs_per_block)]
        ex = chain.build(txs, view=0, proposer=0)
        t_ms = g.timestamp_ms + 1000 * h
        payload = vote_payload("commit", g.chain_id, 0, h, ex.block.hash, t_ms)
        votes = tuple((i, t_ms, domain.sign(k, "commit", g.chain_id, payload))
                      for i, k in signers)
        chain.commit(ex, CommitCertificate(g.chain_id, h, 0, ex.block.hash, votes))
        if h % 10_000 == 0:
            log(f"  built {h:,} blocks ({h / (time.perf_counter() - t0):.0f} blocks/s)")
    seconds = time.perf_counter() - t0
    db.close()
    return g, seconds


def catchup_scale(n_blocks: int, txs_per_block: int, validators: int, keep: int, tmp: Path,
                  base_port: int, log=print) -> dict:
    """Build a certified chain, then a fresh store catches it up through chainnode.sync's
    BlockSync: the source's `serve` answers ranges of MAX_BATCH blocks, the fresh node's
    `_apply` decodes them, checks each certificate (quorum of SM2 COMMIT signatures of that
    height's set), re-executes the block on its exec thread and commits it with a synced
    batch. In-process: no network between the two, everything else is the node's path."""
    from concurrent.futures import ThreadPoolExecutor

    from chainnode.sync import MAX_BATCH, BlockSync

    root = tmp / "syncnet"
    testnet.init(root, validators, base_port=base_port, params={"max_block_txs": 2000})
    g, build_s = build_chain(root, tmp / "sync-src.ldb", n_blocks, txs_per_block, keep, log)
    src = ChainDB(tmp / "sync-src.ldb", keep_versions=keep)
    server = BlockSync(Chain(src, g), None, list, None, None, None)
    dst = ChainDB(tmp / "sync-dst.ldb", keep_versions=keep)
    chain = Chain(dst, g)
    exec_thread = ThreadPoolExecutor(1, thread_name_prefix="exec")

    async def run_exec(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(exec_thread, fn, *args)

    def report(peer: bytes, why: str) -> None:
        raise RuntimeError(f"catch-up refused a block: {why}")

    syncer = BlockSync(chain, None, list, run_exec, lambda ex: None, report)

    async def catch_up() -> None:
        h = 0
        while h < n_blocks:
            _, _, entries = server.serve([1, h + 1, MAX_BATCH])
            await syncer._apply(b"source", h + 1, entries)
            h = chain.head.height
            if h // 10_000 != (h - len(entries)) // 10_000:
                log(f"  caught up {h:,} blocks ({h / (time.perf_counter() - t0):.0f} "
                    f"blocks/s)")

    t0, cpu0 = time.perf_counter(), time.process_time()
    asyncio.run(catch_up())
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    exec_thread.shutdown()
    assert dst.head() == src.head(), "catch-up ended at another head"
    out = {"blocks": n_blocks, "txs": n_blocks * txs_per_block, "validators": validators,
           "build_s": build_s, "catchup_s": seconds,
           "blocks_per_s": n_blocks / seconds, "cpu_ms_per_block": cpu / n_blocks * 1000, "txs_per_s": n_blocks * txs_per_block / seconds,
           "disk_mb": dir_bytes(tmp / "sync-dst.ldb") / 1e6}
    src.close()
    dst.close()
    return out


# --- the pruning bound over a long history ---

def pruning_scale(n_blocks: int, n_keys: int, writes: int, keep: int, tmp: Path,
                  samples: int = 10, log=print) -> list[dict]:
    """`n_blocks` blocks of `writes` updates to the same `n_keys` keys with pruning on: SMT
    nodes, stale queue and disk sampled along the way against docs/state.md's bound
    (head tree + nodes made stale by the last keep + 1 blocks + one block's slack)."""
    path = tmp / "prune.ldb"
    db = ChainDB(path, keep_versions=keep)
    db.db = _NoFsync(db.db)  # the counts do not depend on fsync, which would dominate time
    rnd = random.Random(7)
    head = db.write_genesis(b"g" * 32, {("app", b"k%d" % i): b"0" for i in range(n_keys)})
    live = count(db, P_NODE)
    stale: list[int] = []
    rows = []
    every = max(1, n_blocks // samples)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for b in range(1, n_blocks + 1):
        w = {("app", b"k%d" % rnd.randrange(n_keys)): b"%d" % rnd.randrange(3)
             for _ in range(writes)}
        head, nodes = _commit(db, head, w)
        stale.append(len(nodes.stale))
        if b % every == 0 or b == n_blocks:
            window = sum(stale[-(keep + 1):])
            bound = live + window + max(stale)
            r = {"blocks": b, "smt_nodes": count(db, P_NODE), "queue": count(db, P_STALE),
                 "bound": bound, "unpruned": live + sum(stale),
                 "disk_mb": dir_bytes(path) / 1e6, "s": time.perf_counter() - t0,
                 "cpu_ms_per_block": (time.process_time() - cpu0) / b * 1000}
            r["within"] = r["smt_nodes"] <= bound and r["queue"] <= window
            rows.append(r)
            log(f"  {b:>8,} blocks: SMT nodes {r['smt_nodes']:,} (bound {bound:,}, "
                f"{'within' if r['within'] else 'OVER'}; unpruned would be "
                f"{r['unpruned']:,}), stale queue {r['queue']:,}, disk "
                f"{r['disk_mb']:.1f} MB, {b / r['s']:.0f} blocks/s, "
                f"{r['cpu_ms_per_block']:.1f} ms CPU per block")
    assert db.recompute_state_root() == head.state_root
    db.close()
    return rows


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
    ap.add_argument("--mem-txs", type=int, default=0,
                    help="node memory part: transactions fed to a real 1-validator node "
                         "through batched POST /txs (1000000 takes 15-20 min; 0: skip)")
    ap.add_argument("--mem-marks", default="100000,250000,500000",
                    help="transaction counts at which RSS is sampled (plus 0 and the end)")
    ap.add_argument("--mem-keep", type=int, default=10_000,
                    help="state_keep_versions of that node (node default 10000)")
    ap.add_argument("--sync-blocks", type=int, default=0,
                    help="catch-up part: blocks in the certified chain a fresh store catches "
                         "up (100000 takes ~10 min; 0: skip)")
    ap.add_argument("--sync-txs", type=int, default=2, help="transactions per such block")
    ap.add_argument("--sync-validators", type=int, default=4,
                    help="genesis validators (certificates carry a quorum of their votes)")
    ap.add_argument("--prune-blocks", type=int, default=0,
                    help="pruning part: blocks of updates to the same --prune-keys keys "
                         "(100000 takes minutes; 0: skip)")
    ap.add_argument("--prune-keys", type=int, default=10_000)
    ap.add_argument("--prune-writes", type=int, default=10, help="updates per such block")
    ap.add_argument("--prune-keep", type=int, default=10_000,
                    help="state_keep_versions for the pruning part (node default 10000)")
    ap.add_argument("--small", action="store_true",
                    help="every part at a size that finishes in about a minute")
    ap.add_argument("--base-port", type=int, default=27600)
    a = ap.parse_args()
    if a.small:
        a.sizes, a.blocks, a.txs = "1000", 20, 200
        a.mem_txs, a.mem_marks, a.mem_keep = 1500, "500,1000", 100
        a.sync_blocks, a.prune_blocks, a.prune_keys, a.prune_keep = 60, 300, 300, 20
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
        log = lambda m: print(m, flush=True)  # noqa: E731
        if a.sync_blocks:
            print(f"catch-up: {a.sync_blocks:,} blocks of {a.sync_txs} txs, "
                  f"{a.sync_validators} validators, pruning keeps {a.keep}", flush=True)
            r = catchup_scale(a.sync_blocks, a.sync_txs, a.sync_validators, a.keep, Path(tmp),
                              a.base_port + 80, log)
            print(f"catch-up: {r['blocks']:,} blocks ({r['txs']:,} txs) in "
                  f"{r['catchup_s']:.0f} s = {r['blocks_per_s']:.0f} blocks/s = "
                  f"{r['txs_per_s']:.0f} txs/s, {r['cpu_ms_per_block']:.1f} ms CPU per block "
                  f"(BlockSync: certificate check, re-execution, synced commit); building them took {r['build_s']:.0f} s; store "
                  f"{r['disk_mb']:.0f} MB", flush=True)
        if a.prune_blocks:
            print(f"pruning: {a.prune_blocks:,} blocks of {a.prune_writes} updates to the same "
                  f"{a.prune_keys:,} keys, state_keep_versions {a.prune_keep}", flush=True)
            rows = pruning_scale(a.prune_blocks, a.prune_keys, a.prune_writes, a.prune_keep,
                                 Path(tmp), log=log)
            ok = all(r["within"] for r in rows)
            print(f"pruning: bound {'held at every sample' if ok else 'EXCEEDED'}; SMT nodes "
                  f"{rows[-1]['smt_nodes']:,} <= {rows[-1]['bound']:,} (unpruned "
                  f"{rows[-1]['unpruned']:,}); disk {rows[-1]['disk_mb']:.0f} MB", flush=True)
            if not ok:
                return 1
        if a.mem_txs:
            print(f"node memory: {a.mem_txs:,} txs in batches of 1000 (POST /txs, lean "
                  f"client), state_keep_versions {a.mem_keep}")
            rows = node_memory(a.mem_txs, [int(m) for m in a.mem_marks.split(",") if m],
                               a.mem_keep, Path(tmp), a.base_port + 50,
                               log=log)
            print(f"node memory: {rows[-1]['total_tps']:.0f} tps over the whole load, node "
                  f"{rows[-1]['node_cores']:.2f} cores; RSS {rows[0]['rss_mb']:.0f} -> "
                  f"{rows[-1]['rss_mb']:.0f} MB after {rows[-1]['txs']:,} txs")
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
