"""Shared helpers of the red-team tests that attack a real chain's blocks (gov_util's genesis,
real LevelDB and SM2): the governor's register txs, a block with one tx's signature swapped
(same tx hashes, same header, same block hash), a BlockSync catch-up from one peer, and
Benches that replay one another's certified blocks."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import CHAIN, GOVS, Bench  # noqa: E402

from chainnode.chain import Chain, Executed  # noqa: E402
from chainnode.core.block import Block  # noqa: E402
from chainnode.core.tx import Transaction, build_tx  # noqa: E402
from chainnode.crypto import domain  # noqa: E402
from chainnode.sync import BlockSync  # noqa: E402

VICTIM = 1  # the tx whose signature forgeries() swaps


def register(i: int) -> Transaction:
    """GOVS[0] registers member i (a distinct address per i)."""
    return build_tx(GOVS[0], CHAIN, "system", "sys.members", "register",
                    {"address": f"{i:040x}", "roles": ["member"], "name": f"m{i}"},
                    expires_at=50, gas_limit=100_000)


def with_signature(block: Block, index: int, sig: bytes) -> Block:
    """`block` with tx `index` carrying `sig` instead: same tx hash, same header."""
    txs = list(block.txs)
    txs[index] = Transaction.from_wire(txs[index].to_wire()[:-1] + [sig])
    return Block(block.header, tuple(txs), block.last_commit)


def forgeries(honest: Block) -> dict[str, Block]:
    """`honest` (its txs signed by GOVS[0], as register() makes them) with tx VICTIM carrying
    garbage, then another valid signature by its key: same tx hashes, same block hash."""
    victim = honest.txs[VICTIM]
    # SM2 signing is randomized: the same key signs the same body again with other bytes
    resigned = domain.sign(GOVS[0], "tx", CHAIN, victim.body_bytes())
    assert resigned != victim.signature
    return {"invalid signature": with_signature(honest, VICTIM, bytes(64)),
            "another valid signature": with_signature(honest, VICTIM, resigned)}


async def sync_from(target: Chain, serve: Callable) -> tuple[int, list[str]]:
    """`target` catches up from one peer whose answers are `serve(request)`; returns the head
    height it reached and the misbehaviour reasons it reported about the peer."""
    loop = asyncio.get_running_loop()
    peer, reported = b"\x01" * 64, []
    sync: BlockSync

    async def send(to: bytes, kind: str, payload) -> bool:
        loop.call_soon(sync.on_response, peer, serve(payload))
        return True

    async def run_exec(fn, *args):
        return fn(*args)

    sync = BlockSync(target, send, lambda: [peer], run_exec, lambda ex: None,
                     lambda p, why: reported.append(why))
    return await asyncio.wait_for(sync.catch_up(), 60), reported


@contextmanager
def benches(tmp_path: Path, *names: str) -> Iterator[list[Bench]]:
    """One Bench (a real chain at gov_util's genesis) per name, all closed on the way out."""
    made: list[Bench] = []
    try:
        for name in names:
            made.append(Bench(tmp_path / name))
        yield made
    finally:
        for b in made:
            b.close()


def replay(b: Bench, src: Bench, height: int) -> Executed:
    """`b` re-executes and commits `src`'s block `height` under its certificate (validate
    raises unless the receipts and the state root match src's header)."""
    ex = b.chain.validate(Block.decode(src.db.block_bytes(height)), lambda tx: True, True)
    b.chain.commit(ex, src.db.certificate(height))
    return ex
