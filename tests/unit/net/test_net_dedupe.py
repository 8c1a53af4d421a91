"""The duplicate-link rule, decided on both ends without talking: table-driven, no sockets."""

from __future__ import annotations

import time

import pytest

from chainnode.crypto.sm2 import PrivateKey
from chainnode.net.links import Conn as _Conn
from chainnode.net.peers import PeerManager


def manager(key, pki_identity):
    return PeerManager("c", b"\x01" * 32, key, None, None, [], pki_identity.tls,
                       lambda pub: "validator", lambda *a: None, message_types=("m",))


def link(pub: bytes, initiator: bytes, outbound: bool) -> _Conn:
    c = _Conn(None, None, outbound=outbound, remote=("127.0.0.1", 1), dial_addr=None)
    c.pub, c.role, c.initiator = pub, "validator", initiator
    return c


@pytest.fixture
def keys(pki):
    a, b = PrivateKey.generate(), PrivateKey.generate()
    lo, hi = sorted([a, b], key=lambda k: k.public_key.raw)
    return lo, hi, pki.identity("dedupe")


async def test_both_ends_keep_the_link_the_lower_key_initiated(keys):
    lo, hi, ident = keys
    L, H = lo.public_key.raw, hi.public_key.raw
    for first_is_preferred in (True, False):
        m_lo, m_hi = manager(lo, ident), manager(hi, ident)
        # on lo's end the preferred link is outbound, on hi's end inbound
        pref_lo, other_lo = link(H, L, True), link(H, H, False)
        pref_hi, other_hi = link(L, L, False), link(L, H, True)
        order_lo = (pref_lo, other_lo) if first_is_preferred else (other_lo, pref_lo)
        order_hi = (other_hi, pref_hi) if first_is_preferred else (pref_hi, other_hi)
        assert m_lo._register(order_lo[0]) is True
        assert m_lo._register(order_lo[1]) is False
        assert m_hi._register(order_hi[0]) is True
        assert m_hi._register(order_hi[1]) is False
        assert m_lo._peers[H].conn is pref_lo and m_hi._peers[L].conn is pref_hi
        for loser in (other_lo, other_hi):
            assert loser.closing.is_set() and loser.drain
            assert loser.notify == "duplicate connection"
        assert not pref_lo.closing.is_set() and not pref_hi.closing.is_set()


async def test_same_initiator_means_the_new_link_replaces_the_old(keys):
    lo, hi, ident = keys
    m = manager(lo, ident)
    H = hi.public_key.raw
    old, new = link(H, H, False), link(H, H, False)  # the peer restarted and redialled
    m._register(old)
    m._register(new)
    assert m._peers[H].conn is new and old.closing.is_set()


async def test_a_silent_preferred_link_does_not_block_a_new_one(keys):
    lo, hi, ident = keys
    m = manager(lo, ident)
    L, H = lo.public_key.raw, hi.public_key.raw
    old = link(H, L, True)  # preferred, but the peer host died without a FIN
    m._register(old)
    old.last_rx = time.monotonic() - m.limits.idle_timeout
    new = link(H, H, False)
    m._register(new)
    assert m._peers[H].conn is new and old.closing.is_set()


async def test_queue_survives_a_swap(keys):
    lo, hi, ident = keys
    m = manager(lo, ident)
    H = hi.public_key.raw
    old = link(H, H, False)
    m._register(old)
    assert await m.send(H, "m", 1)
    m._register(link(H, H, False))
    assert m.pending(H)[0] == 1 and m.connected() == [H]
