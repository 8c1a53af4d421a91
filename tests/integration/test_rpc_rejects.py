"""Acceptance: bad transactions are refused at the door with a 4xx, a stable code of their own
and a message; nothing is written; the node keeps serving and commits valid work afterwards."""

from __future__ import annotations

import base64
import json
import random
import secrets
import socket
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
from integration_harness import http

from chainnode import codec
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto import domain
from chainnode.crypto.sm2 import PrivateKey


@dataclass
class Attempt:
    body: bytes
    status: int
    code: str
    tx_hash: bytes | None = None
    ctype: str = "application/msgpack"
    query: str = ""


def _register_args() -> dict:
    return {"address": secrets.token_hex(20), "roles": ["member"], "name": ""}


def _tx(net, key: PrivateKey | None = None, *, chain_id: str | None = None,
        expires_at: int | None = None, gas_limit: int = 100_000,
        args: dict | None = None) -> Transaction:
    head = net.status()["height"]
    return build_tx(key or net.admin_key, chain_id or net.chain_id, "system", "sys.members",
                    "register", args if args is not None else _register_args(),
                    expires_at=head + 100 if expires_at is None else expires_at,
                    gas_limit=gas_limit)


def _resigned(tx: Transaction, signature: bytes) -> Transaction:
    w = tx.to_wire()
    w[-1] = signature
    return Transaction.from_wire(w)


def garbage(net) -> Attempt:
    return Attempt(b"\xc1\x00 this is not msgpack \xff", 400, "TX_MALFORMED")


def not_a_transaction(net) -> Attempt:
    return Attempt(codec.encode(["chainnode", 1, 2, 3]), 400, "TX_MALFORMED")


def garbage_json(net) -> Attempt:
    return Attempt(b'{"tx": ', 400, "TX_MALFORMED", ctype="application/json")


def oversized_body(net) -> Attempt:
    limit = net.genesis.param("max_tx_bytes") * 2 + 1024  # well above max_tx_bytes
    return Attempt(secrets.token_bytes(limit + 4096), 413, "TX_TOO_LARGE")


def oversized_tx(net) -> Attempt:
    # a correctly signed transaction, above max_tx_bytes but within the HTTP body cap
    blob = b"x" * (net.genesis.param("max_tx_bytes") + 1000)
    tx = _tx(net, args={**_register_args(), "blob": blob})
    return Attempt(tx.encode(), 413, "TX_TOO_LARGE", tx.hash)


def wrong_chain(net) -> Attempt:
    tx = _tx(net, chain_id="some-other-chain")
    return Attempt(tx.encode(), 400, "TX_WRONG_CHAIN", tx.hash)


def bad_signature(net) -> Attempt:
    tx = _tx(net)
    sig = bytearray(tx.signature)
    sig[10] ^= 0x40
    bad = _resigned(tx, bytes(sig))
    return Attempt(bad.encode(), 401, "TX_BAD_SIGNATURE", bad.hash)


def signed_by_another_key(net) -> Attempt:
    # the admin's public key as sender, signed by someone else
    tx = _tx(net)
    sig = domain.sign(PrivateKey.generate(), "tx", net.chain_id, tx.body_bytes())
    bad = _resigned(tx, sig)
    return Attempt(bad.encode(), 401, "TX_BAD_SIGNATURE", bad.hash)


def expired(net) -> Attempt:
    tx = _tx(net, expires_at=net.status()["height"])
    return Attempt(tx.encode(), 400, "TX_EXPIRED", tx.hash)


def expiry_too_far(net) -> Attempt:
    tx = _tx(net, expires_at=net.status()["height"] + net.genesis.param("max_expiry_window") + 1)
    return Attempt(tx.encode(), 400, "TX_EXPIRY_TOO_FAR", tx.hash)


def gas_above_limit(net) -> Attempt:
    tx = _tx(net, gas_limit=net.genesis.param("tx_gas_limit") + 1)
    return Attempt(tx.encode(), 400, "TX_GAS_LIMIT", tx.hash)


def replay(net) -> Attempt:
    tx = _tx(net)
    res = net.client().submit(tx, wait=True)
    assert res["status"] == "committed" and res["receipt"]["status"] == "ok"
    return Attempt(tx.encode(), 409, "TX_REPLAY", tx.hash)


def non_member(net) -> Attempt:
    tx = _tx(net, PrivateKey.generate())
    return Attempt(tx.encode(), 403, "TX_NOT_MEMBER", tx.hash)


def bad_wait_timeout(net) -> Attempt:
    tx = _tx(net)
    return Attempt(tx.encode(), 400, "BAD_REQUEST", tx.hash, query="?wait=commit&timeout=abc")


CASES = [garbage, not_a_transaction, garbage_json, oversized_body, oversized_tx, wrong_chain,
         bad_signature, signed_by_another_key, expired, expiry_too_far, gas_above_limit, replay,
         non_member, bad_wait_timeout]

# the rejects the acceptance criteria name, each with its own code
REQUIRED = {garbage: "TX_MALFORMED", oversized_body: "TX_TOO_LARGE",
            wrong_chain: "TX_WRONG_CHAIN", bad_signature: "TX_BAD_SIGNATURE",
            expired: "TX_EXPIRED", replay: "TX_REPLAY", non_member: "TX_NOT_MEMBER"}


def test_required_rejects_have_distinct_codes():
    assert len(set(REQUIRED.values())) == len(REQUIRED)


def _snapshot(net) -> tuple:
    st = net.status()
    m = net.metrics()
    assert st["mempool"] == 0 and m["chainnode_mempool_size"] == 0
    return st["height"], st["head_hash"], st["state_root"], m["chainnode_txs_committed_total"]


@pytest.mark.parametrize("make", CASES, ids=[c.__name__ for c in CASES])
def test_reject_is_4xx_with_its_code_writes_nothing_and_node_keeps_serving(shared_node, make):
    net = shared_node
    attempt = make(net)
    if make in REQUIRED:
        assert attempt.code == REQUIRED[make]
    before = _snapshot(net)
    replay_loc = None
    if attempt.tx_hash is not None and make is replay:
        replay_loc = net.client().tx(attempt.tx_hash.hex())["height"]

    status, body = net.http("POST", "/tx" + attempt.query, attempt.body, attempt.ctype)

    assert status == attempt.status, body
    assert 400 <= status < 500
    assert set(body) == {"error"}
    assert body["error"]["code"] == attempt.code
    assert isinstance(body["error"]["message"], str) and len(body["error"]["message"]) > 5
    # nothing was written and nothing is pending
    assert _snapshot(net) == before
    if attempt.tx_hash is not None:
        st, doc = net.http("GET", f"/tx/{attempt.tx_hash.hex()}")
        if make is replay:  # still exactly the one committed copy
            assert st == 200 and doc["status"] == "committed" and doc["height"] == replay_loc
        else:
            assert (st, doc["error"]["code"]) == (404, "NOT_FOUND")
    metrics = net.metrics()
    if attempt.code.startswith("TX_") and attempt.code not in ("TX_MALFORMED", "TX_TOO_LARGE"):
        assert metrics[f'chainnode_tx_rejected_total{{code="{attempt.code}"}}'] >= 1

    # the node keeps serving: a valid transaction commits right after
    res = net.client().submit(_tx(net), wait=True)
    assert res["status"] == "committed" and res["receipt"]["status"] == "ok"
    assert res["height"] == before[0] + 1
    assert net.status()["mempool"] == 0


def test_valid_tx_as_json_body_commits(shared_node):
    net = shared_node
    tx = _tx(net)
    status, body = net.http("POST", "/tx?wait=commit&timeout=20",
                            json.dumps({"tx": tx.encode().hex()}).encode(), "application/json")
    assert status == 200, body
    assert body["hash"] == tx.hash.hex() and body["receipt"]["status"] == "ok"


def test_duplicate_in_flight_is_refused_once_pending(shared_node):
    """The same bytes posted twice at once: one is admitted, the other is a duplicate or (if the
    first already committed) a replay; the tx is committed exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    net = shared_node
    tx = _tx(net)
    h0 = net.status()["height"]
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: net.http("POST", "/tx?wait=commit", tx.encode()),
                             range(2)))
    statuses = sorted(s for s, _ in outs)
    assert statuses[0] == 200
    assert statuses[1] == 409
    err = next(b for s, b in outs if s == 409)["error"]["code"]
    assert err in ("TX_DUPLICATE", "TX_REPLAY")
    assert net.status()["height"] == h0 + 1


@pytest.mark.parametrize("path,status,code", [
    ("/tx/" + "ab" * 32, 404, "NOT_FOUND"),
    ("/tx/not-hex", 400, "BAD_REQUEST"),
    ("/blocks/999999", 404, "NOT_FOUND"),
    ("/blocks/0", 404, "NOT_FOUND"),
    ("/blocks/-1", 404, "NOT_FOUND"),
    ("/blocks/" + "9" * 30, 404, "NOT_FOUND"),
    ("/blocks/abc", 400, "BAD_REQUEST"),
    ("/no/such/route", 404, "NOT_FOUND"),
])
def test_get_unknown_things(shared_node, path, status, code):
    st, body = http("GET", shared_node.url + path)
    assert st == status, body
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize("body", [
    b"not json",
    b"[1, 2]",
    b'"sys.members"',
    b'{"contract": "sys.members"}',
    b'{"method": "get"}',
    b'{"contract": "sys.members", "method": "get", "args": [1]}',
])
def test_query_with_a_bad_body_is_400(shared_node, body):
    st, doc = shared_node.http("POST", "/query", body, "application/json")
    assert st == 400, doc
    assert doc["error"]["code"] == "BAD_REQUEST" and doc["error"]["message"]
    assert shared_node.status()["mempool"] == 0


def test_query_reads_a_member_and_wrong_method_is_405(shared_node):
    from chainnode.crypto.address import address_of

    net = shared_node
    admin = address_of(net.admin_key.public_key)
    st, doc = net.http("POST", "/query", json.dumps(
        {"contract": "sys.members", "method": "get", "args": {"address": admin}}).encode(),
        "application/json")
    assert st == 200, doc
    assert doc["value"]["roles"] == ["admin", "operator"]
    st, doc = net.http("POST", "/query", json.dumps(
        {"contract": "sys.members", "method": "get", "args": {"address": "nope"}}).encode(),
        "application/json")
    assert st == 400 and doc["error"]["code"] == "BAD_ARGS"
    st, doc = net.http("DELETE", "/tx")
    assert st == 405 and doc["error"]["code"] == "BAD_REQUEST"


# -- malformed input of every kind is a clean 4xx (issue 9) ---------------------------------

DEEP_ARRAYS = b"[" * 5000 + b"]" * 5000
DEEP_OBJECTS = b'{"a":' * 5000 + b"1" + b"}" * 5000
JSON_ROUTES = ["/tx", "/query"]


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS,
                                  b'{"tx": ' + DEEP_ARRAYS + b"}",
                                  b'{"contract": "sys.members", "method": "get", "args": {"a": '
                                  + DEEP_ARRAYS + b"}}"],
                         ids=["arrays", "objects", "tx-field", "args-field"])
def test_deeply_nested_json_is_400_not_500(shared_node, route, body):
    st, doc = shared_node.http("POST", route, body, "application/json")
    assert st == 400, doc
    assert doc["error"]["code"] in ("BAD_REQUEST", "TX_MALFORMED")
    assert "nested" in doc["error"]["message"]


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("body", [b'{"tx": "\xff\xfe"}', b"\xff\xfe{\x00}\x00",
                                  '{"contract": "x"}'.encode("utf-16")],
                         ids=["bad-byte", "garbage", "utf16"])
def test_non_utf8_json_is_400(shared_node, route, body):
    st, doc = shared_node.http("POST", route, body, "application/json")
    assert st == 400, doc
    assert "UTF-8" in doc["error"]["message"]


@pytest.mark.parametrize("route,ctype", [
    ("/tx", "text/plain"), ("/tx", "application/x-www-form-urlencoded"),
    ("/txs", "application/json"), ("/txs", "text/plain"),
    ("/query", "text/plain"), ("/query", "application/msgpack"),
    ("/query", "multipart/form-data; boundary=x"),
])
def test_wrong_content_type_is_415(shared_node, route, ctype):
    st, doc = shared_node.http("POST", route, b'{"contract": "sys.members"}', ctype)
    assert st == 415, doc
    assert doc["error"]["code"] == "BAD_REQUEST" and route in doc["error"]["message"]


@pytest.mark.parametrize("route,ctype", [("/tx", "application/msgpack"),
                                         ("/tx", "application/json"),
                                         ("/txs", "application/msgpack"),
                                         ("/query", "application/json")])
def test_huge_body_is_413(shared_node, route, ctype):
    body = b"[" + b"1," * (9 * 1024 * 1024) + b"1]"  # 18 MiB: above every route's cap
    st, doc = shared_node.http("POST", route, body, ctype)
    assert st == 413, doc
    assert doc["error"]["code"] == "TX_TOO_LARGE"


@pytest.mark.parametrize("route,doc", [
    ("/tx", {"tx": 5}), ("/tx", {"tx": ["ab"]}), ("/tx", {"tx": None}), ("/tx", ["tx"]),
    ("/tx", {"tx": "zz"}), ("/tx", {}),
    ("/query", {"contract": 5, "method": "get"}),
    ("/query", {"contract": "sys.members", "method": ["get"]}),
    ("/query", {"contract": "sys.members", "method": "get", "args": "x"}),
    ("/query", {"contract": "sys.members", "method": "get", "args": {}, "sender": 7}),
    ("/query", {"contract": "sys.members", "method": "get", "args": {"address": True}}),
    ("/query", {"contract": "sys.members", "method": "get", "args": {"address": 10 ** 4000}}),
    ("/query", {"contract": "", "method": ""}),
    ("/query", {"contract": "no.such", "method": "x"}),
    ("/query", '{"contract": "sys.members", "method": "get", "args": {"address": 1%s}}'
     % ("0" * 5000)),
    ("/query", '{"contract": "sys.members", "method": "get", "args": {"address": NaN}}'),
    ("/query", '{"contract": "sys.members", "method": "get", "args": {"address": 1e999}}'),
])
def test_wrong_field_types_are_4xx(shared_node, route, doc):
    raw = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
    st, body = shared_node.http("POST", route, raw, "application/json")
    assert 400 <= st < 500, body
    assert body["error"]["code"] and body["error"]["message"]


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/tx", {"POST"}), ("GET", "/query", {"POST"}), ("PUT", "/txs", {"POST"}),
    ("POST", "/status", {"GET", "HEAD"}), ("POST", "/blocks/1", {"GET", "HEAD"}),
])
def test_405_carries_allow(shared_node, method, path, allow):
    req = urllib.request.Request(shared_node.url + path, data=b"{}" if method != "GET" else None,
                                 method=method, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    err = info.value
    assert err.code == 405
    assert {m.strip() for m in err.headers["Allow"].split(",")} == allow
    assert json.loads(err.read())["error"]["code"] == "BAD_REQUEST"


# -- fuzz: a corpus of malformed requests to every route; no 5xx, quiet log, node still works


def _corpus(net) -> list[bytes]:
    """Deterministic malformed (and a few well-formed but wrong) bodies."""
    rng = random.Random(9)
    valid = _tx(net).encode()
    bodies = [b"", b"\x00", b"null", b"[]", b"{}", b"{", b"}", b'"', b"\\", b'"\\', b"[" * 100,
              DEEP_ARRAYS, DEEP_OBJECTS, b"\xff" * 64, b"\xc1", b"\x91" * 40 + b"\xc0",
              b"\xdf\xff\xff\xff\xff", b"\xdd\x7f\xff\xff\xff", b"\xc6\xff\xff\xff\xff",
              codec.encode([valid] * 3)[:-1], valid[:-7], valid + b"\x00", valid[1:],
              json.dumps({"tx": valid.hex()[:-1]}).encode(),
              json.dumps({"tx": valid.hex(), "extra": [1] * 50}).encode(),
              b'{"tx": "' + b"\\" * 999 + b'"}', b'{"tx": "\\ud800"}', b"1" * 5000,
              b'{"contract": "sys.members", "method": "get", "args": {"address": [' * 20 + b"]}}",
              "{\"contract\": \"\u00e9\u4e2d\", \"method\": \"\u0000\"}".encode(),
              codec.encode({"tx": valid}), codec.encode([b"x" * 10] * 1001)]
    for n in (1, 7, 64, 513):
        bodies.append(bytes(rng.getrandbits(8) for _ in range(n)))
    for _ in range(6):  # valid bytes with one flipped
        b = bytearray(valid)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        bodies.append(bytes(b))
    return bodies


CTYPES = ["application/json", "application/msgpack", "text/plain", "application/octet-stream"]
PATHS = ["/tx", "/txs", "/query", "/status", "/metrics", "/openapi.json", "/events",
         "/tx/zz", "/tx/" + "ab" * 32, "/tx/" + "ab" * 5000, "/blocks/-0", "/blocks/1e3",
         "/blocks/%00", "/state/sys.members/%ff%fe", "/state/x/y?key_hex=zz",
         "/state/sys.members/k?prove=1&key_hex=" + "00" * 40, "/tx?wait=commit&timeout=nan",
         "/tx?wait=commit&timeout=-1", "/tx?wait=commit&timeout=1e999",
         "/txs?wait=commit&timeout=inf", "/%2e%2e/status", "/tx/%e4%b8"]


def _raw_ws(url: str, path: str = "/events") -> socket.socket:
    """A websocket subscriber on a plain socket (so the test can drop it rudely)."""
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
              f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "server closed the websocket handshake"
        head += chunk
    assert head.split(b"\r\n")[0].split()[1] == b"101", head[:200]
    return s


def _reset(s: socket.socket) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # RST: the client vanished


EVENTS_SRC = '''
@export
def ping(n):
    emit("Ping", n=n)
'''


def test_fuzz_every_route_no_5xx_quiet_log_and_node_keeps_working(single_node):
    net = single_node
    offset = len(net.node.log_text())
    statuses: dict[int, int] = {}
    bad: list[tuple] = []
    for path in PATHS:
        for body in _corpus(net):
            for ctype in CTYPES:
                st, doc = net.http("POST", path, body, ctype)
                statuses[st] = statuses.get(st, 0) + 1
                if st >= 500:
                    bad.append((path, body[:40], ctype, st, str(doc)[:200]))
        for method in ("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
            st, doc = net.http(method, path, b"{}" if method in ("PUT", "PATCH") else None)
            statuses[st] = statuses.get(st, 0) + 1
            if st >= 500:
                bad.append((method, path, st, str(doc)[:200]))
    assert not bad, f"{len(bad)} requests got a 5xx, e.g. {bad[:5]}"
    assert sum(v for k, v in statuses.items() if 400 <= k < 500) > 1000, statuses

    # /events subscribers that vanish (RST, FIN) before, between and during event sends
    c = net.client()
    subs = [_raw_ws(net.url) for _ in range(6)]
    _reset(subs.pop())
    assert c.deploy("fuzz_events", EVENTS_SRC)["receipt"]["status"] == "ok"
    for n in range(3):
        _reset(subs.pop()) if n < 2 else subs.pop().close()
        assert c.call("fuzz_events", "ping", {"n": n})["receipt"]["status"] == "ok"
    for s in subs:
        s.close()
    assert c.call("fuzz_events", "ping", {"n": 9})["receipt"]["status"] == "ok"

    # still working: a valid transaction commits, nothing was left pending
    res = c.submit(_tx(net), wait=True)
    assert res["status"] == "committed" and res["receipt"]["status"] == "ok"
    assert net.status()["mempool"] == 0
    # ordinary client behaviour never reaches the log as an error or a traceback
    log = net.node.log_text()[offset:]
    noisy = [line for line in log.splitlines()
             if " ERROR " in line or " CRITICAL " in line or "Traceback" in line]
    assert not noisy, "\n".join(noisy[:20])


def _utf7_smuggled_nesting() -> bytes:
    """Shallow JSON in UTF-8 whose UTF-7 reading closes a string early and nests 5,000 deep."""
    tail = '", "z": ' + "[" * 5000 + "]" * 5000 + ', "q": "'
    hidden = "+" + base64.b64encode(tail.encode("utf-16-be")).decode().rstrip("=") + "-"
    return ('{"contract": "sys.members", "method": "get", "args": {}, "sender": "'
            + hidden + '"}').encode()


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("charset", ["utf-7", "utf-16", "latin-1", "no-such-codec"])
def test_json_in_another_charset_is_refused(shared_node, route, charset):
    """The body is checked as UTF-8; a handler must never read it in another charset (UTF-7
    would turn this shallow document into 5,000 nested arrays)."""
    st, doc = shared_node.http("POST", route, _utf7_smuggled_nesting(),
                               f"application/json; charset={charset}")
    assert st == 415, doc
    assert "UTF-8" in doc["error"]["message"]
    st, doc = shared_node.http("POST", route, _utf7_smuggled_nesting(),
                               "application/json; charset=UTF-8")
    assert 400 <= st < 500, doc  # in UTF-8 it is just a (wrong) document
