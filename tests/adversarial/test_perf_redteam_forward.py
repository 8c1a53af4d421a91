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


async def test_cancelled_and_failed_frames_give_back_exactly_their_share():
    """A penalised peer's frames are cancelled (some before they ever ran), others fail:
    the budget and the peer's share count txs, and every frame gives back exactly its own,
    so the peer is not locked out for good and nobody gets more than the cap."""
    gate = asyncio.Event()

    async def admit(peer: bytes, raws: list[bytes]) -> None:
        await gate.wait()
        if raws[0].startswith(b"F"):
            raise RuntimeError("admission failed")

    fw = ForwardedTxs(admit, max_in_flight=8192)
    share = fw.max_per_peer
    frames = [[b"%c%d-%d" % (c, f, i) for i in range(MAX_BATCH_TXS)]
              for f, c in enumerate(b"ABF")]
    for frame in frames[:2]:
        assert fw.on_batch(b"X", frame) is None
    assert len(fw) == 2 * MAX_BATCH_TXS <= share
    over = [b"o%d" % i for i in range(share - len(fw) + 1)]
    assert fw.on_batch(b"X", over) is None and fw.dropped == len(over)  # beyond its share
    assert fw.forget(b"X") == 2 * MAX_BATCH_TXS  # cancelled, the first before it ran
    await asyncio.gather(*fw.tasks(), return_exceptions=True)
    assert len(fw) == 0 and fw.tasks() == []
    assert fw.on_batch(b"X", frames[2]) is None and len(fw) == MAX_BATCH_TXS
    gate.set()
    await asyncio.gather(*fw.tasks(), return_exceptions=True)  # this one raises
    assert len(fw) == 0 and fw._per_peer == {} and fw._tasks == {}
