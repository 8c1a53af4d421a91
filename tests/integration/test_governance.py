"""Acceptance (governance foundation): on a real 4-validator testnet, governors pass a
set-param with the `chainnode gov` CLI, every node then serves the decided proposal at
/governance/proposals and the new value in /governance, and a non-governor's proposal fails
with GOV_NOT_GOVERNOR."""

from __future__ import annotations

import json

import pytest
from cluster import get_json, running_net, wait_until
from integration_harness import http, run_cli

from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import save_private_key
from chainnode.crypto.sm2 import PrivateKey

GOV = "sys.governance"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with running_net(tmp_path_factory.mktemp("governance") / "testnet", n=4) as tn:
        yield tn


def test_governors_pass_a_param_and_every_node_shows_it(net, tmp_path):
    admin = net.admin(net.nodes[0])
    second, outsider = PrivateKey.generate(), PrivateKey.generate()
    for key, roles in ((second, ["admin"]), (outsider, ["member"])):
        rc = admin.register(address_of(key.public_key), roles)["receipt"]
        assert rc["status"] == "ok", rc
    # the genesis committee is the testnet's one admin: its set-committee passes at once
    committee = {"governors": [[address_of(net.admin_key.public_key), 1],
                               [address_of(second.public_key), 1]]}
    rc = admin.call(GOV, "propose", {"kind": "set-committee", "payload": committee})["receipt"]
    assert rc["status"] == "ok" and rc["value"]["status"] == "passed", rc

    url0, url1 = net.nodes[0].url, net.nodes[1].url
    second_file = tmp_path / "second.key"
    save_private_key(second_file, second)
    out = run_cli("gov", "propose", "set-param", "--payload",
                  json.dumps({"name": "view_timeout_ms", "value": 1500}),
                  "--key", str(net.root / "admin.key"), "--url", url0)
    res = json.loads(out.stdout)
    pid = res["receipt"]["value"]["id"]
    assert res["receipt"]["value"]["status"] == "open"  # 1 of 2 = 50% < 67%
    listed = json.loads(run_cli("gov", "list", "--status", "open", "--url", url1, "--json").stdout)
    assert [p["id"] for p in listed["proposals"]] == [pid]

    out = run_cli("gov", "vote", str(pid), "yes", "--key", str(second_file), "--url", url1)
    assert json.loads(out.stdout)["receipt"]["value"]["status"] == "passed"
    decided_at = json.loads(out.stdout)["height"]

    def everywhere() -> bool:
        for n in net.nodes:
            doc = get_json(n.url + "/governance/proposals?status=passed")
            gov = get_json(n.url + "/governance")
            if not (doc and gov and pid in [p["id"] for p in doc["proposals"]]
                    and gov["params"]["view_timeout_ms"] == 1500):
                return False
        return True
    wait_until(everywhere, 30.0, "every node to serve the decided set-param")
    shown = json.loads(run_cli("gov", "show", str(pid), "--url", net.nodes[2].url, "--json").stdout)
    p = shown["proposal"]
    assert (p["status"], p["decided_at"], p["yes_weight"], p["total_weight"]) == (
        "passed", decided_at, 2, 2)
    assert sorted(v[1] for v in p["votes"]) == ["yes", "yes"]

    # a member who is not a governor: the transaction commits as failed, with its own code
    bad_file = tmp_path / "outsider.key"
    save_private_key(bad_file, outsider)
    proc = run_cli("gov", "propose", "set-param", "--payload",
                   json.dumps({"name": "view_timeout_ms", "value": 900}),
                   "--key", str(bad_file), "--url", url0, check=False)
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)["receipt"]["error_code"] == "GOV_NOT_GOVERNOR"
    # an unsafe parameter is refused with its own code too
    proc = run_cli("gov", "propose", "set-param", "--payload",
                   json.dumps({"name": "max_tx_bytes", "value": 4096}),
                   "--key", str(net.root / "admin.key"), "--url", url0, check=False)
    assert json.loads(proc.stdout)["receipt"]["error_code"] == "GOV_UNSAFE_PARAM"

    assert http("GET", url0 + "/governance/proposals/999")[0] == 404
    status, body = http("GET", url0 + "/governance/proposals?status=maybe")
    assert status == 400 and body["error"]["code"] == "BAD_REQUEST"
