"""POST /txs: many signed transactions in one request, each admitted or refused on its own."""

from __future__ import annotations

import secrets

import pytest
from integration_harness import http

from chainnode import codec
from chainnode.client import RpcError
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey


def _register(client):
    k = PrivateKey.generate()
    return client.build("system", "sys.members", "register",
                        {"address": address_of(k.public_key), "roles": ["member"]})


def test_batch_commits_valid_items_and_reports_each_bad_one(shared_node):
    c = shared_node.client()
    good = [_register(c) for _ in range(40)]
    c.submit(good[0])  # already committed: its second copy in the batch is a replay
    tampered = _register(c)
    forged = tampered.encode()[:-1] + bytes([tampered.encode()[-1] ^ 1])  # signature bit flip
    items = [tx.encode() for tx in good[1:]] + [good[0].encode(), b"\x00garbage", forged,
                                                 good[1].encode()]
    h0 = c.height()
    status, doc = http("POST", c.url + "/txs?wait=commit&timeout=60", codec.encode(items),
                       "application/msgpack", timeout=90)
    assert status == 200
    res = doc["results"]
    assert len(res) == len(items)
    for r in res[:39]:  # every valid item committed, with a receipt
        assert r["status"] == "committed" and r["receipt"]["status"] == "ok"
    codes = [r["error"]["code"] for r in res[39:]]
    assert codes == ["TX_REPLAY", "TX_MALFORMED", "TX_BAD_SIGNATURE", "TX_DUPLICATE"]
    assert doc["accepted"] == 39 and doc["rejected"] == 4
    # what committed is exactly the 39 valid ones, each once
    for tx in good[1:]:
        assert c.tx(tx.hash.hex())["status"] == "committed"
    assert c.height() > h0


def test_batch_through_the_sdk_and_malformed_batches(shared_node):
    c = shared_node.client()
    txs = [_register(c) for _ in range(5)]
    res = c.submit_many(txs)
    assert [r["status"] for r in res] == ["committed"] * 5
    for body, code in [(b"\xc1not msgpack", "TX_MALFORMED"),
                       (codec.encode({"tx": b"x"}), "TX_MALFORMED"),
                       (codec.encode([]), "BAD_REQUEST"),
                       (codec.encode([secrets.token_bytes(8)] * 1001), "BAD_REQUEST")]:
        status, doc = http("POST", c.url + "/txs", body, "application/msgpack")
        assert status == 400 and doc["error"]["code"] == code, body[:20]
    with pytest.raises(RpcError) as ei:
        c._request("POST", "/txs", codec.encode([1, 2]), "application/msgpack")
    assert ei.value.code == "TX_MALFORMED"
