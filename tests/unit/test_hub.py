"""CommitHub: commit waiters, their deadline slots (no timer per waiter) and closing."""

from __future__ import annotations

import asyncio
import types

import pytest

from chainnode.errors import ChainError
from chainnode.hub import DEADLINE_GRAIN_S, TIMED_OUT, CommitHub


def block(height: int, *hashes: bytes):
    return types.SimpleNamespace(height=height,
                                 txs=[types.SimpleNamespace(hash=h) for h in hashes])


async def test_commit_resolves_every_waiter_of_the_hash():
    hub = CommitHub()
    a, b = hub.wait_for(b"h"), hub.wait_for(b"h")
    hub.expire_after(b"h", a, 5.0)
    hub.committed(block(7, b"h", b"other"), ("rc", "rc2"))
    assert a.result() == (7, "rc") and b.result() == (7, "rc")
    assert hub.pending() == 0
    assert all(not due for due in hub._due.values())  # the slot keeps no future alive


async def test_deadline_is_never_early_and_at_most_one_slot_late():
    hub = CommitHub()
    loop = asyncio.get_running_loop()
    fut = hub.wait_for(b"h")
    t0 = loop.time()
    hub.expire_after(b"h", fut, 0.1)
    assert await fut is TIMED_OUT
    waited = loop.time() - t0
    assert 0.1 <= waited < 0.1 + DEADLINE_GRAIN_S + 0.5  # slack for a busy machine
    assert hub.pending() == 0 and not hub._due
    hub.committed(block(1, b"h"), ("rc",))  # a late commit finds nobody and is harmless


async def test_waiters_with_close_deadlines_share_one_timer():
    hub = CommitHub()
    futs = [hub.wait_for(bytes([i])) for i in range(100)]
    for i, f in enumerate(futs):
        hub.expire_after(bytes([i]), f, 30.0)
    assert len(hub._due) <= 2  # 100 deadlines inside one grain: one or two slots
    hub.close()


async def test_cancel_forgets_the_waiter_and_its_slot():
    hub = CommitHub()
    a, b = hub.wait_for(b"h"), hub.wait_for(b"h")
    hub.expire_after(b"h", a, 30.0)
    hub.cancel(b"h", a)
    assert hub.pending() == 1 and all(a not in due for due in hub._due.values())
    hub.cancel(b"h", b)
    hub.cancel(b"h", b)  # twice is harmless
    assert hub.pending() == 0


async def test_expire_after_a_commit_or_close_does_nothing():
    hub = CommitHub()
    fut = hub.wait_for(b"h")
    hub.committed(block(1, b"h"), ("rc",))
    hub.expire_after(b"h", fut, 0.01)
    assert not hub._due and fut.result() == (1, "rc")


async def test_close_answers_waiters_unavailable_and_refuses_new_ones():
    hub = CommitHub()
    fut = hub.wait_for(b"h")
    hub.expire_after(b"h", fut, 0.05)
    assert hub.close("node stopping") == 1
    with pytest.raises(ChainError) as info:
        fut.result()
    assert info.value.code == "UNAVAILABLE"
    await asyncio.sleep(0.1 + DEADLINE_GRAIN_S)  # its slot's timer fires on nothing
    with pytest.raises(ChainError):
        hub.wait_for(b"x")
