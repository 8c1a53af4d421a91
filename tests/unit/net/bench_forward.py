"""A/B micro-benchmark of tx forwarding through real TLS links on 127.0.0.1 (not a test).

One sender and three receivers (4 validators), all PeerManagers in this process and loop, so
the CPU time measured is the loop time of the sender plus the three receivers: frame encode,
queues, TLS writes, reads, frame decode, dispatch and `Transaction.decode` per tx (admission
itself is the same in both modes and left out). Modes, interleaved per round:

- single: one `tx` frame per tx per peer (the old forwarding);
- batch:L: `TxBatcher` with a linger of L ms, one `txs` frame per batch per peer.

Arrivals: `per_iter` txs admitted per loop iteration, as fast as the loop goes, or paced at
`--rate` txs per second (what a node admits under load: batches are then as large as the
linger allows). Run: PYTHONHASHSEED=0 python tests/unit/net/bench_forward.py
[--txs 2000 --rounds 5 --rate 1500 --linger 0 2 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.net.testing import Cluster, LocalPKI, wait_until
from chainnode.net.txforward import TX_BATCH, BatchLimits, TxBatcher

CHAIN = "test-chain"


def workload(n: int) -> list[bytes]:
    """`sys.members register` txs as scripts/bench.py builds them, encoded."""
    admin = PrivateKey.generate()
    return [build_tx(admin, CHAIN, "system", "sys.members", "register",
                     {"address": address_of(PrivateKey.generate().public_key),
                      "roles": ["member"], "name": f"m{i}"}, expires_at=1000).encode()
            for i in range(n)]


async def one_round(pki: LocalPKI, raws: list[bytes], mode: str, per_iter: int,
                    rate: float) -> dict:
    cl = Cluster(pki, chain_id=CHAIN, message_types=("tx", TX_BATCH))
    got = [0]
    frames_in = [0]

    async def on_message(peer: bytes, msg_type: str, payload) -> None:
        frames_in[0] += 1
        for raw in ([payload] if msg_type == "tx" else payload):
            Transaction.decode(raw, 256 * 1024)
            got[0] += 1

    try:
        recv = []
        for i in range(3):
            m, _ = await cl.node(f"r{i}", on_message=on_message)
            recv.append(m)
        sender, _ = await cl.node("s", peers=[("127.0.0.1", m.listen_port) for m in recv])
        await wait_until(lambda: len(sender.connected()) == 3 and
                         all(len(m.connected()) == 1 for m in recv), 20)
        sent = {"frames": 0, "bytes": 0}
        enqueue = sender._enqueue

        def counting(peer, frame):
            sent["frames"] += 1
            sent["bytes"] += len(frame)
            return enqueue(peer, frame)

        sender._enqueue = counting
        linger = float(mode.split(":")[1]) / 1e3 if mode != "single" else 0.0
        batcher = TxBatcher(lambda b: sender.broadcast_nowait(TX_BATCH, b, role="validator"),
                            BatchLimits(linger=linger))
        loop = asyncio.get_running_loop()
        start = loop.time()
        want = 3 * len(raws)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for i, raw in enumerate(raws):
            if mode == "single":
                await sender.broadcast("tx", raw, role="validator")
            else:
                batcher.add(raw)
            if rate:
                await asyncio.sleep(max(0.0, start + (i + 1) / rate - loop.time()))
            elif (i + 1) % per_iter == 0:
                await asyncio.sleep(0)
        batcher.flush()
        await wait_until(lambda: got[0] >= want, 60)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        n = len(raws)
        return {"cpu_us_per_tx": cpu / n * 1e6, "wall_ms": wall * 1e3,
                "frames_out_per_tx": sent["frames"] / n, "bytes_out_per_tx": sent["bytes"] / n,
                "frames_in_per_tx": frames_in[0] / want}
    finally:
        await cl.close()


async def main(args) -> None:
    raws = workload(args.txs)
    with tempfile.TemporaryDirectory() as d:
        pki = LocalPKI(d)
        modes = ["single"] + [f"batch:{g:g}" for g in args.linger]
        for per_iter in ([1] if args.rate else args.per_iter):
            res: dict[str, list[dict]] = {m: [] for m in modes}
            for _ in range(args.rounds):
                for mode in modes:
                    res[mode].append(await one_round(pki, raws, mode, per_iter, args.rate))
            arrival = f"rate={args.rate:g}/s" if args.rate else f"per_iter={per_iter}"
            for mode, rows in res.items():
                med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                print(f"{arrival:<12} {mode:<9} " + "  ".join(
                    f"{k}={v:.3f}" if v < 10 else f"{k}={v:.0f}" for k, v in med.items()),
                    flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--txs", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--per-iter", type=int, nargs="+", default=[1, 8])
    p.add_argument("--rate", type=float, default=0.0, help="paced arrivals, txs/s")
    p.add_argument("--linger", type=float, nargs="+", default=[2.0], help="ms, batch modes")
    asyncio.run(main(p.parse_args()))
