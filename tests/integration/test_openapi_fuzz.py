"""The OpenAPI description against a real node: complete (every route the server registers is
documented, with its path parameters and an Error body for every error status) and true
(schemathesis fuzzes every operation, valid and invalid inputs, a bounded number of examples
each: no answer is a 5xx and every answer matches the documented status, content type and
schema)."""

from __future__ import annotations

import secrets
import time
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from integration_harness import http
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chainnode import codec
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.rpc.server import RpcServer

# serial: wall-clock bounds / short timers (tests/conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.serial]

EXAMPLES = 30  # per operation and generation mode: ~13 operations x 2 modes in < 60 s
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
CORE_ROUTES = {
    ("GET", "/status"), ("POST", "/tx"), ("POST", "/txs"), ("GET", "/tx/{hash}"),
    ("GET", "/blocks/{height}"), ("POST", "/query"), ("GET", "/state/{contract}/{key}"),
    ("GET", "/events"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/governance"),
}


@schemathesis.serializer("application/msgpack")
def _msgpack(ctx, value):
    """Binary bodies go out as they are; anything else a generator makes is msgpack-encoded
    (so the server sees well-formed msgpack that is not a transaction, too)."""
    if isinstance(value, bytes):
        return value
    import msgpack

    return msgpack.packb(value, use_bin_type=True)


def test_every_registered_route_is_documented_with_its_parameters(shared_node):
    status, spec = shared_node.http("GET", "/openapi.json")
    assert status == 200 and spec["openapi"] == "3.1.0"
    documented = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    server = RpcServer(SimpleNamespace(genesis=shared_node.genesis))
    routed = {(r.method, r.resource.canonical) for r in server.app.router.routes()
              if r.method != "HEAD"}
    missing = routed - documented
    assert not missing, f"routes without an OpenAPI entry (add them to chainnode/rpc/openapi.py)"\
                        f": {sorted(missing)}"
    assert documented == routed, f"documented but not routed: {sorted(documented - routed)}"
    assert CORE_ROUTES <= routed
    for method, path in documented:
        op = spec["paths"][path][method.lower()]
        assert op["summary"], (method, path)
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert names == {part.strip("{}") for part in path.split("/") if part.startswith("{")}
        for p in op.get("parameters", []):
            assert p.get("description") and "schema" in p, (method, path, p["name"])
        for code, resp in op["responses"].items():
            assert resp["description"], (method, path, code)
            if code.startswith(("4", "5")):
                assert resp["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, (method, path, code)
            elif code != "101":
                assert resp.get("content"), f"{method} {path} {code} has no body schema"
        if method == "POST":
            assert op["requestBody"]["content"], (method, path)


def _seed(node) -> dict:
    """Some chain to read, so that answers with real data are checked too: committed member
    registrations and a decided governance proposal (the admin is the only governor)."""
    client = node.client()
    addresses = []
    for _ in range(3):
        addresses.append(address_of(PrivateKey.generate().public_key))
        res = client.register(addresses[-1], ["member"], secrets.token_hex(4))
        assert res["receipt"]["status"] == "ok", res
    res = client.call("sys.governance", "propose", {
        "kind": "set-param", "payload": {"name": "view_timeout_ms", "value": 3000}})
    assert res["receipt"]["status"] == "ok", res
    return {"address": addresses[0], "tx_hash": res["hash"], "height": res["height"]}


def _real_cases(schema, node, seeded: dict) -> list:
    """Hand-made cases with valid inputs: the success answers fuzzing rarely reaches."""
    ops = {(o.method.upper(), o.path): o for o in (r.ok() for r in schema.get_all_operations())}
    client = node.client()

    def tx():
        return client.build("system", "sys.members", "register", {
            "address": address_of(PrivateKey.generate().public_key), "roles": ["member"],
            "name": ""})

    def case(method: str, path: str, **kw):
        return ops[(method, path)].Case(**kw)

    pending = tx()
    return [
        case("GET", "/status"),
        case("POST", "/tx", body=pending.encode(), media_type="application/msgpack"),
        case("POST", "/tx", body={"tx": tx().encode().hex()}, media_type="application/json",
             query={"wait": "commit", "timeout": 20}),
        case("POST", "/tx", body=pending.encode(), media_type="application/msgpack"),  # 409
        case("POST", "/txs", body=codec.encode([tx().encode(), b"junk"]),
             media_type="application/msgpack", query={"wait": "commit", "timeout": 20}),
        case("POST", "/txs", body=codec.encode([tx().encode()]),
             media_type="application/msgpack"),
        case("GET", "/tx/{hash}", path_parameters={"hash": seeded["tx_hash"]}),
        case("GET", "/tx/{hash}", path_parameters={"hash": pending.hash.hex()}),
        case("GET", "/blocks/{height}", path_parameters={"height": seeded["height"]}),
        case("POST", "/query", body={"contract": "sys.governance", "method": "committee"},
             media_type="application/json"),
        case("POST", "/query", body={"contract": "sys.governance", "method": "get",
                                     "args": {"id": 1}}, media_type="application/json"),
        case("GET", "/state/{contract}/{key}",
             path_parameters={"contract": "sys.members", "key": seeded["address"]},
             query={"prove": "1"}),
        case("GET", "/state/{contract}/{key}",
             path_parameters={"contract": "sys.members", "key": "x"},
             query={"key_hex": codec.encode(seeded["address"]).hex()}),
        case("GET", "/governance"),
        case("GET", "/governance/proposals", query={"status": "passed", "limit": 5}),
        case("GET", "/governance/proposals/{id}", path_parameters={"id": 1}),
        case("GET", "/metrics"),
        case("GET", "/openapi.json"),
    ]


def _fuzzer(operation, mode: GenerationMode, check, seen: list[int]):
    """A hypothesis test calling `check` on EXAMPLES generated cases of one operation."""
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case) -> None:
        if operation.path == "/tx" and case.query and case.query.get("wait"):
            case.query["timeout"] = 1  # never wait 30 s on a tx that cannot commit
        seen.append(check(case, f"{operation.label} [{mode.value}]"))
    return fuzz


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(shared_node):
    seeded = _seed(shared_node)
    base = shared_node.url
    status, spec = http("GET", base + "/openapi.json")
    assert status == 200
    schema = schemathesis.openapi.from_dict(spec)  # the document the node serves
    failures: list[str] = []
    t0 = time.monotonic()

    def check(case, label: str) -> int:
        response = case.call(base_url=base, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            failures.append(f"{label} -> {response.status_code}: {str(exc)[:600]}\n"
                            f"  {case.as_curl_command()}")
        return response.status_code

    real = [(c.method, c.path, check(c, f"{c.method} {c.path} [real]"))
            for c in _real_cases(schema, shared_node, seeded)]
    statuses = {(m, p, st) for m, p, st in real}
    for want in [("POST", "/tx", 202), ("POST", "/tx", 200), ("POST", "/tx", 409),
                 ("POST", "/txs", 200), ("GET", "/tx/{hash}", 200),
                 ("GET", "/blocks/{height}", 200), ("POST", "/query", 200),
                 ("GET", "/state/{contract}/{key}", 200),
                 ("GET", "/governance/proposals/{id}", 200)]:
        assert want in statuses, (want, real)
    calls = len(real)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            seen: list[int] = []
            try:
                _fuzzer(operation, mode, check, seen)()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE and not seen, operation.label
                continue
            calls += len(seen)
            assert seen, f"{operation.label}: no case generated"
    elapsed = time.monotonic() - t0
    assert not failures, f"{len(failures)} of {calls} calls failed:\n" + "\n".join(failures[:15])
    assert calls >= 13 * 2 * 5
    # the node is still fine after the fuzzing
    status, st = http("GET", base + "/status")
    assert status == 200 and st["height"] >= 3
    assert elapsed < 90, f"fuzzing took {elapsed:.0f} s"
