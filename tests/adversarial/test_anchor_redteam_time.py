"""Red team, time: a relayer must not be able to keep a light client "active" indefinitely by
feeding it genuine but old headers one at a time, each resetting the expiry clock, while the
trusted validator set may long have left the other chain. A header is accepted only while it
is itself within the trusting period of the host chain's time (IBC's "header expired")."""

from __future__ import annotations

import pytest

from chainnode.anchor import errors as E
from chainnode.anchor import lightclient as lc
from chainnode.anchor.errors import AnchorError
from tests.unit.anchor.lc_util import EdgeChain

TP = 3_600_000  # the trusting period of EdgeChain.client


def test_old_headers_cannot_stretch_the_trusting_period():
    e = EdgeChain(chain_id="edge-t")
    e.grow(6, [0, 1, 2, 3])
    client = e.client(1)
    t1 = e.headers[1].timestamp_ms
    # relayed late, just before expiry: fine, it is within the trusting period of its time
    client, _ = lc.update(client, e.wire(2), e.cert(2), None, t1 + TP - 1)
    assert lc.status(client, t1 + 2 * TP - 2) == lc.ACTIVE
    # height 3 is a genuine header too, but by now it is older than the trusting period:
    # accepting it would renew the client on the strength of what the set signed long ago
    # (nine such headers would stretch one trusting period into ten)
    with pytest.raises(AnchorError) as info:
        lc.update(client, e.wire(3), e.cert(3), None, t1 + 2 * TP - 2)
    assert info.value.code == E.HEADER_TOO_OLD
    # a header of the last trusting period still is accepted
    client, _ = lc.update(client, e.wire(3), e.cert(3), None,
                          e.headers[3].timestamp_ms + TP - 5)
    assert client.latest.height == 3
