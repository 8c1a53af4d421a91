"""Red team of batched tx forwarding (protocol 2): one validator with valid keys and bad intent
must not take the whole in-flight admission budget from the honest ones."""

from __future__ import annotations

import asyncio

from chainnode.net.txforward import MAX_BATCH_TXS, ForwardedTxs


async def test_one_peer_cannot_exhaust_the_budget_for_honest_peers():
    gate = asyncio.Event()
    admitted: list[bytes] = []

    async def admit(peer: bytes, raws: list[bytes]) -> None:
        await gate.wait()  # slow admissions (a verify pool kept busy): they stay in flight
        if peer == b"H":
            admitted.extend(raws)

    fw = ForwardedTxs(admit, max_in_flight=8192)
    for b in range(8):  # eight frames of 1,024 valid-looking txs: the whole budget at once
        batch = [bytes([b]) + i.to_bytes(2, "big") for i in range(MAX_BATCH_TXS)]
        assert fw.on_batch(b"X", batch) is None
    assert len(fw) < 8192
    honest = [b"h" + i.to_bytes(2, "big") for i in range(256)]
    assert fw.on_batch(b"H", honest) is None
    gate.set()
    await asyncio.gather(*fw.tasks())
    assert admitted == honest
