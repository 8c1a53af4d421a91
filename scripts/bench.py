#!/usr/bin/env python3
"""Throughput benchmark: a real local testnet, pre-signed SM2 transactions, concurrent clients.

Prints committed tps, p50/p99 commit latency, the SM2 verification rate measured in the same run
on all cores, the ceiling that rate implies (every validator verifies every tx once), and the
ratio tps / ceiling. Numbers on a shared machine are noisy: run it a few times, quote medians.

    scripts/bench.py --nodes 1 --txs 3000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode import testnet  # noqa: E402
from chainnode.core.tx import build_tx  # noqa: E402
from chainnode.crypto import domain  # noqa: E402
from chainnode.crypto.address import address_of  # noqa: E402
from chainnode.crypto.keyfile import load_private_key  # noqa: E402
from chainnode.crypto.sm2 import PrivateKey  # noqa: E402


def sm2_verify_rate(seconds: float = 2.0, threads: int | None = None) -> float:
    """Verifications per second on all cores (thread pool; Tongsuo releases the GIL)."""
    threads = threads or os.cpu_count() or 2
    key = PrivateKey.generate()
    msgs = [os.urandom(200) for _ in range(64)]
    sigs = [domain.sign(key, "tx", "bench", m) for m in msgs]
    pub = key.public_key
    count = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            for m, s in zip(msgs, sigs, strict=True):
                if not domain.verify(pub, "tx", "bench", m, s):
                    raise RuntimeError("verify failed")
            n += len(msgs)
        count[i] = n

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(count) / (time.perf_counter() - t0)


def presign(admin: PrivateKey, chain_id: str, n: int, expires_at: int) -> list:
    def one(_: int):
        k = PrivateKey.generate()
        return build_tx(admin, chain_id, "system", "sys.members", "register",
                        {"address": address_of(k.public_key), "roles": ["member"]},
                        expires_at=expires_at, gas_limit=100_000)

    with ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        return list(ex.map(one, range(n)))


async def submit_all(urls: list[str], txs: list, concurrency: int, batch: int = 1,
                     client: str = "lean") -> tuple[list[float], float]:
    """Closed loop: `concurrency` txs in flight, one per request or `batch` per POST /txs."""
    if client == "aiohttp":
        return await submit_all_aiohttp(urls, txs, concurrency, batch)
    return await submit_all_lean(urls, txs, concurrency, batch)


# The lean client: the load generator shares the cores with the nodes, so every microsecond it
# spends is taken from them. Raw asyncio streams, one HTTP/1.1 keep-alive connection per
# in-flight request, request bytes built before the clock starts, and only the status line,
# Content-Length and the JSON body (for the receipt status) read back.

def http_request(url: str, path: str, body: bytes) -> bytes:
    """The whole POST request (head and body) as bytes, ready to write."""
    hostport = url.split("://", 1)[-1].rstrip("/")
    return (f"POST {path} HTTP/1.1\r\nHost: {hostport}\r\n"
            f"Content-Type: application/msgpack\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 response with a Content-Length (aiohttp's json_response):
    the head in one read, then exactly the body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError("server closed the connection") from exc
    status = int(head[9:12])
    at = head.lower().find(b"\r\ncontent-length:")
    length = int(head[at + 17:head.index(b"\r\n", at + 2)]) if at >= 0 else 0
    return status, await reader.readexactly(length)


async def lean_post_all(urls: list[str], requests: list[bytes], concurrency: int,
                        handle) -> float:
    """POST every pre-built request, `concurrency` at once; request i goes to node i % len(urls)
    through that node's connections. `handle(status, body, seconds)` sees each answer.
    Returns the elapsed seconds."""
    queues: list[list[int]] = [list(range(j, len(requests), len(urls)))[::-1]
                               for j in range(len(urls))]
    hosts = [u.split("://", 1)[-1].rstrip("/").rsplit(":", 1) for u in urls]

    async def worker(j: int) -> None:
        queue = queues[j]
        reader = writer = None
        try:
            while queue:
                i = queue.pop()
                if writer is None:
                    reader, writer = await asyncio.open_connection(hosts[j][0], int(hosts[j][1]))
                t0 = time.perf_counter()
                writer.write(requests[i])
                status, body = await read_response(reader)
                handle(status, body, time.perf_counter() - t0)
        finally:
            if writer is not None:
                writer.close()

    t0 = time.perf_counter()
    n = max(1, min(concurrency, len(requests)))
    await asyncio.gather(*(worker(w % len(urls)) for w in range(n)))
    return time.perf_counter() - t0


def batch_request(url: str, raws: list[bytes]) -> bytes:
    """One POST /txs request carrying already encoded transactions."""
    from chainnode import codec

    return http_request(url, "/txs?wait=commit&timeout=120", codec.encode(raws))


def count_batch(status: int, body: bytes, dt: float, lat: list[float],
                errors: dict[str, int]) -> None:
    """Record one POST /txs answer: a latency per committed ok tx, an error code otherwise."""
    doc = json.loads(body)
    if status != 200:
        code = doc.get("error", {}).get("code", f"HTTP {status}")
        errors[code] = errors.get(code, 0) + 1
        return
    for res in doc["results"]:
        if res.get("status") == "committed" and res["receipt"]["status"] == "ok":
            lat.append(dt)
        else:
            code = (res.get("error") or {}).get("code") or res["receipt"]["error_code"]
            errors[code] = errors.get(code, 0) + 1


async def submit_all_lean(urls: list[str], txs: list, concurrency: int,
                          batch: int = 1) -> tuple[list[float], float]:
    lat: list[float] = []
    errors: dict[str, int] = {}
    if batch > 1:
        reqs = [batch_request(urls[k % len(urls)], [tx.encode() for tx in txs[i:i + batch]])
                for k, i in enumerate(range(0, len(txs), batch))]
        elapsed = await lean_post_all(urls, reqs, max(1, concurrency // batch),
                                      lambda st, b, dt: count_batch(st, b, dt, lat, errors))
    else:
        reqs = [http_request(urls[i % len(urls)], "/tx?wait=commit&timeout=120", tx.encode())
                for i, tx in enumerate(txs)]

        def one(status: int, body: bytes, dt: float) -> None:
            doc = json.loads(body)
            if status == 200 and doc["receipt"]["status"] == "ok":
                lat.append(dt)
            else:
                code = (doc.get("error") or {}).get("code") or doc["receipt"]["error_code"]
                errors[code] = errors.get(code, 0) + 1

        elapsed = await lean_post_all(urls, reqs, concurrency, one)
    if errors:
        print(f"  errors: {errors}")
    return lat, elapsed


async def submit_all_aiohttp(urls: list[str], txs: list, concurrency: int,
                     batch: int = 1) -> tuple[list[float], float]:
    """The aiohttp client (`--client aiohttp`): ~400 us of CPU per request, kept to compare."""
    if batch > 1:
        return await _submit_batches(urls, txs, concurrency, batch)
    lat: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    errors: dict[str, int] = {}

    async def one(i: int, session: aiohttp.ClientSession, tx) -> None:
        async with sem:
            t0 = time.perf_counter()
            url = urls[i % len(urls)] + "/tx?wait=commit&timeout=120"
            async with session.post(url, data=tx.encode(),
                                    headers={"Content-Type": "application/msgpack"}) as r:
                body = await r.json()
                if r.status == 200 and body["receipt"]["status"] == "ok":
                    lat.append(time.perf_counter() - t0)
                else:
                    code = body.get("error", {}).get("code") or body["receipt"]["error_code"]
                    errors[code] = errors.get(code, 0) + 1

    conn = aiohttp.TCPConnector(limit=concurrency)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=conn) as session:
        await asyncio.gather(*(one(i, session, tx) for i, tx in enumerate(txs)))
    elapsed = time.perf_counter() - t0
    if errors:
        print(f"  errors: {errors}")
    return lat, elapsed


async def _submit_batches(urls: list[str], txs: list, concurrency: int,
                          batch: int) -> tuple[list[float], float]:
    from chainnode import codec

    lat: list[float] = []
    errors: dict[str, int] = {}
    groups = [txs[i:i + batch] for i in range(0, len(txs), batch)]
    sem = asyncio.Semaphore(max(1, concurrency // batch))

    async def one(i: int, session: aiohttp.ClientSession, group: list) -> None:
        async with sem:
            t0 = time.perf_counter()
            url = urls[i % len(urls)] + "/txs?wait=commit&timeout=120"
            body = codec.encode([tx.encode() for tx in group])
            async with session.post(url, data=body,
                                    headers={"Content-Type": "application/msgpack"}) as r:
                doc = await r.json()
            dt = time.perf_counter() - t0
            for res in doc.get("results", []):
                if res.get("status") == "committed" and res["receipt"]["status"] == "ok":
                    lat.append(dt)
                else:
                    code = (res.get("error") or {}).get("code") or res["receipt"]["error_code"]
                    errors[code] = errors.get(code, 0) + 1

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        await asyncio.gather(*(one(i, s, g) for i, g in enumerate(groups)))
    elapsed = time.perf_counter() - t0
    if errors:
        print(f"  errors: {errors}")
    return lat, elapsed


# (label, metric family, label filter) of each profiled stage, in a transaction's order
PROFILE_STAGES = (
    ("HTTP /tx (incl. commit wait)", "chainnode_rpc_request_seconds",
     {"route": "/tx", "method": "POST"}),
    ("HTTP /txs (incl. commit wait)", "chainnode_rpc_request_seconds",
     {"route": "/txs", "method": "POST"}),
    ("decode", "chainnode_tx_stage_seconds", {"stage": "decode"}),
    ("admission (checks + verify)", "chainnode_tx_stage_seconds", {"stage": "admission"}),
    ("  verify wait (queue)", "chainnode_sm2_verify_queue_seconds", {"pool": "admission"}),
    ("forwarding (send)", "chainnode_tx_stage_seconds", {"stage": "forwarding"}),
    ("forwarded in (peer's tx)", "chainnode_tx_stage_seconds", {"stage": "forwarded_in"}),
    ("build (leader)", "chainnode_block_execution_seconds", {"step": "build"}),
    ("validate (followers)", "chainnode_block_execution_seconds", {"step": "validate"}),
    ("  execute", "chainnode_tx_stage_seconds", {"stage": "execute"}),
    ("  state root (SMT)", "chainnode_tx_stage_seconds", {"stage": "state_root"}),
    ("  block verify wait", "chainnode_sm2_verify_queue_seconds", {"pool": "block"}),
    ("commit (store)", "chainnode_consensus_phase_seconds", {"phase": "commit"}),
    ("WAL", "chainnode_tx_stage_seconds", {"stage": "wal"}),
)


def scrape(urls: list[str]) -> dict[tuple, float]:
    """Sum over nodes of every histogram's _sum and _count, keyed (name, labels, suffix)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[tuple, float] = {}
    for url in urls:
        with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
            text = r.read().decode()
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name.endswith(("_sum", "_count")):
                    key = (s.name, tuple(sorted(s.labels.items())))
                    totals[key] = totals.get(key, 0.0) + s.value
    return totals


def profile_rows(before: dict, after: dict, txs: int) -> list[tuple[str, float, float, int]]:
    """(stage, seconds on all nodes, microseconds per committed tx, observations)."""
    rows = []
    for label, name, want in PROFILE_STAGES:
        total = count = 0.0
        for (sname, labels), value in after.items():
            lab = dict(labels)
            if all(lab.get(k) == v for k, v in want.items()):
                delta = value - before.get((sname, labels), 0.0)
                if sname == name + "_sum":
                    total += delta
                elif sname == name + "_count":
                    count += delta
        if count:
            rows.append((label, total, total / max(txs, 1) * 1e6, int(count)))
    return rows


def print_profile(rows: list, nodes: int) -> None:
    print()
    print(f"per-stage profile (summed over {nodes} node(s); time per committed tx)")
    print(f"  {'stage':32} {'total s':>9} {'us/tx':>9} {'count':>8}")
    for label, total, per_tx, count in rows:
        print(f"  {label:32} {total:9.2f} {per_tx:9.0f} {count:8d}")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--txs", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=1000,
                    help="clients waiting for commit at once (closed loop: tps <= this / latency)")
    ap.add_argument("--base-port", type=int, default=27400)
    ap.add_argument("--dir", help="testnet directory (default: a temporary one)")
    ap.add_argument("--batch", type=int, default=1,
                    help="transactions per request (>1 uses POST /txs)")
    ap.add_argument("--profile", action="store_true",
                    help="print time per transaction in each stage, read off the nodes' "
                         "/metrics before and after the load")
    ap.add_argument("--no-failover", action="store_true",
                    help="skip the leader-kill measurement (multi-validator runs only)")
    ap.add_argument("--client", choices=("lean", "aiohttp"), default="lean",
                    help="load generator: raw asyncio HTTP/1.1 keep-alive with pre-built "
                         "requests (default), or the aiohttp client it replaced (to compare)")
    ap.add_argument("--py-spy", metavar="DIR",
                    help="sample every node with py-spy during the load (py-spy must be on "
                         "PATH); writes DIR/node<i>.txt, collapsed stacks for a flame graph, "
                         "and prints each node's hottest functions")
    a = ap.parse_args()

    print(f"chainnode bench: {a.nodes} validator(s), {a.txs} transactions, "
          f"concurrency {a.concurrency}, {a.batch} per request, {os.cpu_count()} cores")
    print(f"load generator: {a.client} client")
    print("measuring SM2 verify rate on all cores ...")
    rate = sm2_verify_rate()
    with tempfile.TemporaryDirectory(prefix="chainnode-bench-") as tmp:
        root = Path(a.dir or tmp) / "testnet"
        g = testnet.init(root, a.nodes, base_port=a.base_port,
                         params={"max_block_txs": 2000})
        admin = load_private_key(root / "admin.key")
        print(f"pre-signing {a.txs} transactions ...")
        txs = presign(admin, g.chain_id, a.txs, expires_at=900)
        print("starting testnet ...")
        testnet.up(root, out=open(os.devnull, "w"))  # noqa: SIM115
        try:
            urls = [n["rpc"] for n in testnet.manifest(root)["nodes"]]
            before = scrape(urls) if a.profile else {}
            spies = start_spies(root, Path(a.py_spy)) if a.py_spy else []
            pids = process_ids(root)
            cpu0 = cpu_seconds(pids)
            try:
                lat, elapsed = asyncio.run(submit_all(urls, txs, a.concurrency, a.batch,
                                                       a.client))
            finally:
                stop_spies(spies)
            cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu_seconds(pids).items()}
            rows = profile_rows(before, scrape(urls), len(lat)) if a.profile else []
            failover = None
            if a.nodes >= 4 and not a.no_failover:
                failover = leader_failover(root, admin, g.chain_id)
        finally:
            testnet.down(root, out=open(os.devnull, "w"))  # noqa: SIM115
    committed = len(lat)
    tps = committed / elapsed if elapsed else 0.0
    ceiling = rate  # each validator verifies every tx once, all validators share these cores
    ceiling_per_net = rate / a.nodes
    print()
    print(f"committed            {committed}/{a.txs} txs in {elapsed:.2f} s")
    print(f"committed tps        {tps:,.0f}")
    if lat:
        print(f"latency p50 / p99    {pct(lat, 50) * 1000:,.0f} ms / {pct(lat, 99) * 1000:,.0f} ms"
              f" (mean {statistics.fmean(lat) * 1000:,.0f} ms)")
    print(f"SM2 verify rate      {rate:,.0f} /s on {os.cpu_count()} cores (same run)")
    print(f"ceiling              {ceiling_per_net:,.0f} tps (verify rate / {a.nodes} "
          f"validator(s) on one machine)")
    print(f"ratio tps/ceiling    {tps / ceiling_per_net:.1%}")
    del ceiling
    print(f"CPU during the load   {cpu_line(cpu, elapsed, committed)}")
    if rows:
        print_profile(rows, a.nodes)
    for _, out in spies:
        print_hottest(out)
    if failover is not None:
        print(f"leader kill -> commit {failover * 1000:,.0f} ms (view timeout "
              f"{g.param('view_timeout_ms')} ms)")
    return 0 if committed == a.txs else 1


def process_ids(root: Path) -> dict[str, int]:
    pids = {f"node{i}": int((root / n["name"] / "node.pid").read_text())
            for i, n in enumerate(testnet.manifest(root)["nodes"])}
    pids["client"] = os.getpid()
    return pids


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each process, all its threads and, for a node, its live
    child processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")

    def one(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    out = {}
    for name, pid in pids.items():
        total = one(pid)
        if name != "client":  # a node's verify worker processes count as the node's
            for f in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    total += sum(one(int(c)) for c in f.read_text().split())
                except OSError:
                    continue
        out[name] = total
    return out


def cpu_line(cpu: dict[str, float], elapsed: float, committed: int) -> str:
    """Cores used by the nodes and by the load generator, and CPU microseconds per tx."""
    nodes = sum(v for k, v in cpu.items() if k != "client")
    client = cpu.get("client", 0.0)
    per = 1e6 / max(committed, 1)
    return (f"nodes {nodes / elapsed:.2f} cores ({nodes * per:,.0f} us/tx), "
            f"client {client / elapsed:.2f} cores ({client * per:,.0f} us/tx)")


def start_spies(root: Path, out_dir: Path) -> list:
    """One `py-spy record --gil` per node process: only the thread holding the GIL is sampled,
    so the shares are of the one core Python code can use (C work that releases the GIL, SM2
    verification and LevelDB, does not show). Stopped with SIGINT after the load so it writes
    its file."""
    import shutil
    import subprocess

    beside = Path(sys.executable).parent / "py-spy"  # installed in the same virtualenv
    exe = shutil.which("py-spy") or (str(beside) if beside.exists() else None)
    if exe is None:
        raise SystemExit("--py-spy: py-spy is not on PATH (pip install py-spy)")
    out_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    targets = [(f"node{i}", (root / n["name"] / "node.pid").read_text().strip())
               for i, n in enumerate(testnet.manifest(root)["nodes"])]
    targets.append(("client", str(os.getpid())))  # the load generator shares the cores too
    for name, pid in targets:
        out = out_dir / f"{name}.txt"
        proc = subprocess.Popen([exe, "record", "-p", pid, "--format", "raw", "-r", "200", "--gil",
                                 "--nonblocking", "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spies.append((proc, out))
    time.sleep(1.0)  # let py-spy attach before the load starts
    return spies


def stop_spies(spies: list) -> None:
    import signal

    for proc, _ in spies:
        proc.send_signal(signal.SIGINT)
    for proc, _ in spies:
        try:
            proc.wait(timeout=60)
        except Exception:
            proc.kill()
            proc.wait()


def print_hottest(path: Path, top: int = 25) -> None:
    """Self and inclusive sample shares of the hottest functions in a py-spy raw file."""
    if not path.exists():
        print(f"{path.name}: no samples written")
        return
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [f.split(" (")[0] + " " + f.rpartition("/")[2].split(":")[0]
                  for f in stack.split(";")]
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count
    print()
    print(f"{path.name}: {total} samples; hottest by own time (own % / inclusive %)")
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {c / total:6.1%} {incl[f] / total:6.1%}  {f}")


def leader_failover(root: Path, admin: PrivateKey, chain_id: str) -> float:
    """kill -9 the current leader, then time until a new transaction commits."""
    import json
    import signal
    import urllib.request

    from chainnode.client import Client

    nodes = testnet.manifest(root)["nodes"]
    with urllib.request.urlopen(nodes[0]["rpc"] + "/status", timeout=5) as r:
        st = json.loads(r.read())
    leader = st["view"] % len(st["validators"])
    pid = int((root / nodes[leader]["name"] / "node.pid").read_text())
    survivor = nodes[(leader + 1) % len(nodes)]["rpc"]
    c = Client(survivor, admin, chain_id=chain_id)
    k = PrivateKey.generate()
    tx = c.build("system", "sys.members", "register",
                 {"address": address_of(k.public_key), "roles": ["member"]})
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    c.submit(tx, timeout=120)
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
