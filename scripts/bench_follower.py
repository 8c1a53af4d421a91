#!/usr/bin/env python3
"""A follower's CPU per transaction on the proposal path, without a network.

The leader's block holds N pre-signed `sys.members register` txs (as scripts/bench.py
presign() makes them) that the follower already admitted to its mempool (client requests or
forwarded batches). Measured: what a follower does with the PRE-PREPARE, the way
chainnode.driver does it: decode the message, check its signing payload (on_message, then the
core), decode the block, pick the txs whose signatures it has not verified, validate.

    scripts/bench_follower.py make FILE --txs 2000   # sign txs, build the leader's block
    scripts/bench_follower.py run FILE [--rounds 5]  # thread CPU per tx, median of rounds
    scripts/bench_follower.py run FILE --setup-only  # for callgrind: subtract this run

Instructions per tx: run `run FILE --rounds 1` and `run FILE --rounds 1 --setup-only` under
`valgrind --tool=callgrind` and divide the difference by N.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chainnode import codec  # noqa: E402
from chainnode.chain import Chain  # noqa: E402
from chainnode.consensus.messages import (  # noqa: E402
    PrePrepare,
    decode_message,
    encode_message,
)
from chainnode.core.block import Block  # noqa: E402
from chainnode.core.genesis import Genesis, Member, Validator  # noqa: E402
from chainnode.core.tx import Transaction  # noqa: E402
from chainnode.crypto.address import address_of  # noqa: E402
from chainnode.crypto.hashing import sm3  # noqa: E402
from chainnode.crypto.sm2 import PrivateKey  # noqa: E402
from chainnode.mempool import Mempool  # noqa: E402
from chainnode.store.db import ChainDB  # noqa: E402

CHAIN = "bench-follower"
T0 = 1_700_000_000_000
ADMIN = PrivateKey(0x7654321)
VALIDATOR = PrivateKey(0x1234567)
PARAMS = {"max_block_txs": 100_000, "block_gas_limit": 10**13}


def genesis() -> Genesis:
    return Genesis(CHAIN, T0, (Validator("node0", VALIDATOR.public_key.raw),),
                   (Member(address_of(ADMIN.public_key), ("admin", "operator"), "admin"),),
                   PARAMS)


def make(path: Path, n: int) -> None:
    """Sign n txs and build the leader's block 1 holding them; store both."""
    from bench import presign  # scripts/bench.py, beside this file (sys.path[0])

    txs = presign(ADMIN, CHAIN, n, expires_at=500)
    with tempfile.TemporaryDirectory() as d:
        leader = Chain(ChainDB(Path(d) / "leader"), genesis())
        try:
            block = leader.build(txs, 0, 0).encoded()
        finally:
            leader.db.close()
    path.write_bytes(codec.encode([[tx.encode() for tx in txs], block]))


def _lookup(pool: Mempool):
    """The follower's block-decode lookup, if this checkout has one."""
    return getattr(pool, "lookup_wire", None)


async def admit(raws: list[bytes], db_dir: Path) -> tuple[Chain, Mempool]:
    """A fresh follower at genesis with the txs admitted (decoded and SM2-verified)."""
    chain = Chain(ChainDB(db_dir), genesis())
    pool = Mempool(chain_id=CHAIN, verify_pool=ThreadPoolExecutor(2),
                   head_height=lambda: chain.head.height, is_committed=chain.is_committed,
                   is_member=lambda a: True)
    await asyncio.gather(*(pool.add(Transaction.decode(r), "peer") for r in raws))
    return chain, pool


def follower_path(chain: Chain, pool: Mempool, pp_bytes: bytes) -> int:
    """What the follower's event loop and exec thread do with one PRE-PREPARE."""
    pp = decode_message(pp_bytes)
    pp.signing_payload(CHAIN)  # on_message: the sender's signature (verified off-loop)
    pp.signing_payload(CHAIN)  # the core's Checker.signed
    digest = getattr(pp, "body_digest", None)  # the core's _accept (rejected bodies)
    digest() if digest else sm3(pp.block)
    lookup = _lookup(pool)
    block = Block.decode(pp.block, lookup=lookup) if lookup else Block.decode(pp.block)
    unverified = [tx for tx in block.txs if not pool.was_verified(tx.hash, tx.signature)]
    assert not unverified, "the harness admitted every tx"
    chain.validate(block, lambda tx: True)
    return len(block.txs)


def run(path: Path, rounds: int, setup_only: bool) -> None:
    raws, block_bytes = codec.decode(path.read_bytes())
    block_hash = Block.decode(block_bytes).hash
    pp_bytes = encode_message(PrePrepare(0, 1, block_hash, block_bytes, 0, bytes(64)))
    per_tx = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            chain, pool = asyncio.run(admit(raws, Path(d) / "f"))
            try:
                if setup_only:
                    continue
                t0 = time.thread_time()
                n = follower_path(chain, pool, pp_bytes)
                per_tx.append((time.thread_time() - t0) / n * 1e6)
            finally:
                chain.db.close()
    if per_tx:
        print(f"{len(raws)} txs: follower CPU {statistics.median(per_tx):.1f} us/tx "
              f"(median of {len(per_tx)}: {', '.join(f'{v:.1f}' for v in per_tx)})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("file", type=Path)
    m.add_argument("--txs", type=int, default=2000)
    r = sub.add_parser("run")
    r.add_argument("file", type=Path)
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--setup-only", action="store_true")
    args = ap.parse_args()
    if args.cmd == "make":
        make(args.file, args.txs)
    else:
        run(args.file, args.rounds, args.setup_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
