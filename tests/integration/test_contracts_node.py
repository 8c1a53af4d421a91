"""Contract lifecycle on a running node: deploy (CLI, SDK, scripts/deploy.py), calls and views,
constructor arguments, upgrade, freeze, permissions, checker rejections, out-of-gas, rollback of
a failed transaction inside a block, events in receipts and on the websocket, proven state.

One single-validator testnet serves the whole module; every test uses its own contract names.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from integration_harness import http, run_cli, wait_until

from chainnode.client import Client, RpcError
from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.keyfile import save_private_key
from chainnode.crypto.sm2 import PrivateKey

REPO = Path(__file__).resolve().parents[2]
DEPLOY_SCRIPT = REPO / "scripts" / "deploy.py"
CONTRACTS_DIR = REPO / "contracts"
COMMIT_TIMEOUT = 30.0

COUNTER = '''
def init(start, step=1):
    require(isinstance(start, int) and isinstance(step, int), "BAD_INPUT", "ints only")
    storage.set("count", start)
    storage.set("step", step)
    emit("Initialised", start=start, step=step)


@export
def bump():
    n = storage.get("count") + storage.get("step")
    storage.set("count", n)
    emit("Bumped", count=n, by=ctx.sender)
    return n


@view
def get():
    return storage.get("count")


@view
def get_step():
    return storage.get("step")
'''

# v2 keeps the storage layout and adds a method
COUNTER_V2 = COUNTER + '''

@export
def double():
    n = storage.get("count") * 2
    storage.set("count", n)
    return n


@view
def version():
    return 2
'''

LEDGER = '''
@export
def put(k, v):
    storage.set(("kv", k), v)
    emit("Put", k=k, v=v)
    return v


@export
def put_then_fail(k, v):
    storage.set(("kv", k), v)
    emit("Put", k=k, v=v)
    require(False, "DELIBERATE", "fails after writing " + k)


@export
def copy(src, dst):
    v = storage.get(("kv", src))
    storage.set(("kv", dst), v)
    return v


@export
def burn(n):
    x = 0
    for i in range(n):
        x = x + i
    return x


@export
def spin():
    n = 0
    while True:
        n = n + 1


@view
def read(k):
    return storage.get(("kv", k))
'''

EVENTS = '''
@export
def ping(n):
    emit("Ping", n=n)


@export
def mixed(n):
    emit("Other", n=n)
    emit("Ping", n=n)


@export
def emit_then_fail(n):
    emit("Ping", n=n)
    require(False, "DELIBERATE", "rolled back")
'''

CALLER = '''
@export
def go(target):
    return call(target, "bump")
'''

GREEDY_INIT = '''
def init():
    n = 0
    while True:
        n = n + 1


@view
def get():
    return 1
'''


# -- helpers -------------------------------------------------------------------------------

def receipt_of(res: dict) -> dict:
    assert res["status"] == "committed", res
    return res["receipt"]


def ok(res: dict) -> dict:
    rc = receipt_of(res)
    assert rc["status"] == "ok", rc
    return rc


def failed(res: dict, code: str) -> dict:
    rc = receipt_of(res)
    assert rc["status"] == "failed", rc
    assert rc["error_code"] == code, rc
    assert rc["events"] == [], rc
    assert rc["value"] is None
    return rc


def record(client: Client, name: str) -> dict | None:
    return client.state("sys.contracts", name).value


def sys_call(client: Client, method: str, args: dict) -> dict:
    return client.call("sys.contracts", method, args, gas_limit=100_000)


def query(net, contract: str, method: str, args: dict | None = None) -> tuple[int, dict]:
    body = json.dumps({"contract": contract, "method": method, "args": args or {}}).encode()
    return http("POST", net.url + "/query", body, "application/json")


def wait_committed(client: Client, tx_hash: str) -> dict:
    return wait_until(lambda: (d := client.tx(tx_hash))["status"] == "committed" and d,
                      COMMIT_TIMEOUT, f"tx {tx_hash[:16]} to commit")


def run_deploy_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DEPLOY_SCRIPT), *args], capture_output=True,
                          text=True, timeout=120, env=env)


# -- module fixtures -----------------------------------------------------------------------

class Accounts:
    def __init__(self, root: Path) -> None:
        self.member = PrivateKey.generate()
        self.operator = PrivateKey.generate()
        self.member_file = root / "member.key"
        self.operator_file = root / "operator.key"
        save_private_key(self.member_file, self.member)
        save_private_key(self.operator_file, self.operator)


@pytest.fixture(scope="module")
def accounts(shared_node, tmp_path_factory) -> Accounts:
    acc = Accounts(tmp_path_factory.mktemp("keys"))
    admin = shared_node.client()
    ok(admin.register(address_of(acc.member.public_key), ["member"], "a member"))
    ok(admin.register(address_of(acc.operator.public_key), ["operator"], "an operator"))
    return acc


@pytest.fixture(scope="module")
def admin_key_file(shared_node) -> str:
    return str(shared_node.root / "admin.key")


# -- deploy, call, view, constructor -------------------------------------------------------

def test_cli_deploy_applies_constructor_args_then_call_and_view(shared_node, admin_key_file,
                                                                tmp_path):
    net = shared_node
    src = tmp_path / "counter.py"
    src.write_text(COUNTER)
    out = run_cli("deploy", "counter_cli", str(src), "--args", '{"start": 10, "step": 5}',
                  "--url", net.url, "--key", admin_key_file)
    doc = json.loads(out.stdout)
    rc = ok(doc)
    code_hash = sm3(COUNTER.encode()).hex()
    assert rc["value"] == {"name": "counter_cli", "version": 1, "code_hash": code_hash}
    assert rc["events"] == [
        {"contract": "sys.contracts", "name": "ContractDeployed",
         "fields": {"name": "counter_cli", "version": 1, "code_hash": {"hex": code_hash}}},
        {"contract": "counter_cli", "name": "Initialised", "fields": {"start": 10, "step": 5}},
    ]
    rec = record(net.client(), "counter_cli")
    assert rec["code_hash"] == bytes.fromhex(code_hash)
    assert rec["version"] == 1 and rec["frozen"] is False
    assert rec["owner"] == address_of(net.admin_key.public_key)
    assert rec["deployed_at"] == rec["updated_at"] == doc["height"]

    # constructor arguments were applied
    status, body = query(net, "counter_cli", "get_step")
    assert (status, body["value"]) == (200, 5), body
    q = run_cli("query", "counter_cli", "get", "--json", "--url", net.url)
    assert json.loads(q.stdout) == 10

    # a state-changing call through the CLI, read back through POST /query and the CLI
    out = run_cli("call", "counter_cli", "bump", "--url", net.url, "--key", admin_key_file)
    rc = ok(json.loads(out.stdout))
    assert rc["value"] == 15
    assert rc["events"] == [{"contract": "counter_cli", "name": "Bumped",
                             "fields": {"count": 15, "by": address_of(net.admin_key.public_key)}}]
    status, body = query(net, "counter_cli", "get")
    assert status == 200 and body["value"] == 15 and body["gas_used"] > 0, body
    assert body["height"] >= json.loads(out.stdout)["height"]
    assert json.loads(run_cli("query", "counter_cli", "get", "--json", "--url", net.url).stdout) == 15

    # a query runs views only, and writes nothing
    status, body = query(net, "counter_cli", "bump")
    assert (status, body["error"]["code"]) == (400, "VM_READONLY"), body
    assert query(net, "counter_cli", "get")[1]["value"] == 15
    status, body = query(net, "no_such_contract", "get")
    assert status == 400 and body["error"]["code"] == "NO_CONTRACT", body


def test_constructor_errors_deploy_nothing(shared_node):
    c = shared_node.client()
    # wrong argument type: the constructor's require fails
    rc = failed(c.deploy("counter_badargs", COUNTER, {"start": "ten"}), "BAD_INPUT")
    assert rc["error_message"].startswith("constructor failed"), rc
    assert record(c, "counter_badargs") is None
    # missing required argument
    rc = failed(c.deploy("counter_noargs", COUNTER, {}), "VM_BAD_ARGS")
    assert "start" in rc["error_message"], rc
    assert record(c, "counter_noargs") is None
    # constructor arguments for a contract that has no constructor
    failed(c.deploy("ledger_initargs", LEDGER, {"x": 1}), "BAD_ARGS")
    assert record(c, "ledger_initargs") is None
    # the name is still free: a correct deploy succeeds
    ok(c.deploy("counter_badargs", COUNTER, {"start": 1}))


def test_deploy_script_deploys_the_manifest_in_order_and_is_idempotent(shared_node,
                                                                       admin_key_file):
    net = shared_node
    c = net.client()
    manifest = CONTRACTS_DIR / "manifest.json"
    names = [e["name"] for e in json.loads(manifest.read_text())["contracts"]]
    assert names == ["billing", "reconciliation", "district"]
    args = ["--manifest", str(manifest), "--url", net.url, "--key", admin_key_file]

    p = run_deploy_script(*args)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 3, p.stdout
    heights = []
    for name, line in zip(names, lines, strict=True):
        assert line.startswith(f"{name}: deployed version 1"), line
        rec = record(c, name)
        src = (CONTRACTS_DIR / f"{name}.py").read_text()
        assert rec["code_hash"] == sm3(src.encode()) and rec["version"] == 1
        heights.append(rec["deployed_at"])
    assert heights == sorted(heights) and len(set(heights)) == 3  # in order, one tx each
    # district's constructor got its billing contract parameter; billing kept its defaults
    assert c.query("district", "get_param", {"name": "billing_contract"}) == "billing"
    assert c.query("billing", "get_param", {"name": "warn_threshold"}) == 3000

    # running it again changes nothing and sends nothing
    h = c.height()
    p = run_deploy_script(*args, "--upgrade", "--genesis", str(net.root / "genesis.json"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == names
    assert all(": unchanged at version 1" in ln for ln in lines), lines
    assert c.height() == h


def test_deploy_script_upgrades_only_with_flag_and_reports_failures(shared_node, accounts,
                                                                   admin_key_file, tmp_path):
    net = shared_node
    c = net.client()
    (tmp_path / "src").mkdir()
    counter = tmp_path / "src" / "counter.py"
    counter.write_text(COUNTER)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"contracts": [
        {"name": "script_counter", "file": "src/counter.py", "args": {"start": 7}},
        {"name": "script_ledger", "file": "src/ledger.py"},
    ]}))
    (tmp_path / "src" / "ledger.py").write_text(LEDGER)
    args = ["--manifest", str(manifest), "--url", net.url, "--key", admin_key_file]

    # --dry-run sends nothing
    h = c.height()
    p = run_deploy_script(*args, "--dry-run")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].startswith("script_counter: would deploy counter.py")
    assert c.height() == h and record(c, "script_counter") is None

    p = run_deploy_script(*args)
    assert p.returncode == 0, p.stderr
    assert c.query("script_counter", "get") == 7
    ok(c.call("script_counter", "bump"))

    # changed code: refused without --upgrade, nothing sent, non-zero exit
    counter.write_text(COUNTER_V2)
    h = c.height()
    p = run_deploy_script(*args)
    assert p.returncode == 1
    assert "script_counter: deployed code" in p.stderr and "--upgrade" in p.stderr, p.stderr
    assert "not attempted: script_ledger" in p.stderr, p.stderr
    assert c.height() == h and record(c, "script_counter")["version"] == 1

    # with --upgrade: version 2, storage kept, constructor not re-run
    p = run_deploy_script(*args, "--upgrade")
    assert p.returncode == 0, p.stderr
    first, second = p.stdout.strip().splitlines()
    assert first.startswith("script_counter: upgraded version 1 -> 2"), first
    assert "constructor args not re-applied" in first
    assert second.startswith("script_ledger: unchanged at version 1"), second
    assert c.query("script_counter", "version") == 2
    assert c.query("script_counter", "get") == 8

    # a member's key: PERMISSION_DENIED, exit 1, the chain unchanged
    bad = tmp_path / "member_manifest.json"
    bad.write_text(json.dumps({"contracts": [{"name": "script_by_member",
                                              "file": "src/ledger.py"}]}))
    p = run_deploy_script("--manifest", str(bad), "--url", net.url,
                          "--key", str(accounts.member_file))
    assert p.returncode == 1
    assert "script_by_member: deploy FAILED" in p.stderr and "PERMISSION_DENIED" in p.stderr
    assert record(c, "script_by_member") is None

    # a source the checker rejects: the rule is named
    (tmp_path / "src" / "bad.py").write_text("import os\n")
    bad.write_text(json.dumps({"contracts": [{"name": "script_bad", "file": "src/bad.py"}]}))
    p = run_deploy_script("--manifest", str(bad), "--url", net.url, "--key", admin_key_file)
    assert p.returncode == 1
    assert "CONTRACT_REJECTED" in p.stderr and "[no-import]" in p.stderr, p.stderr

    # manifest mistakes are found before anything is sent: exit 2
    h = c.height()
    for doc, needle in [
        ({"contracts": [{"name": "x1", "file": "src/missing.py"}]}, "does not exist"),
        ({"contracts": [{"name": "x1", "file": "src/ledger.py", "args": [1]}]}, "args must be"),
        ({"contracts": [{"name": "sys.x", "file": "src/ledger.py"}]}, "name must be"),
        ({"contracts": [{"name": "x1", "file": "src/ledger.py"},
                        {"name": "x1", "file": "src/ledger.py"}]}, "listed twice"),
        ({"contract": []}, "must be"),
    ]:
        bad.write_text(json.dumps(doc))
        p = run_deploy_script("--manifest", str(bad), "--url", net.url, "--key", admin_key_file)
        assert p.returncode == 2, (doc, p.stdout, p.stderr)
        assert needle in p.stderr, (doc, p.stderr)
        assert p.stdout == ""
    bad.write_text("{not json")
    p = run_deploy_script("--manifest", str(bad), "--url", net.url, "--key", admin_key_file)
    assert p.returncode == 2 and "not valid JSON" in p.stderr
    assert c.height() == h

    # an unreachable node is a clear error, not a traceback
    p = run_deploy_script("--manifest", str(manifest), "--url", "http://127.0.0.1:9",
                          "--key", admin_key_file)
    assert p.returncode == 1 and "cannot reach the node" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


# -- upgrade, freeze, permissions ----------------------------------------------------------

def test_upgrade_bumps_version_and_keeps_storage(shared_node, accounts):
    net = shared_node
    admin = net.client()
    operator = net.client(accounts.operator)
    ok(operator.deploy("upg_counter", COUNTER, {"start": 100, "step": 1}))
    ok(operator.call("upg_counter", "bump"))
    before = record(admin, "upg_counter")
    assert before["version"] == 1 and before["owner"] == address_of(accounts.operator.public_key)
    # no `double` yet
    failed(operator.call("upg_counter", "double"), "VM_NO_METHOD")

    res = operator.call("sys.contracts", "upgrade", {"name": "upg_counter",
                                                     "source": COUNTER_V2})
    rc = ok(res)
    v2_hash = sm3(COUNTER_V2.encode()).hex()
    assert rc["value"] == {"name": "upg_counter", "version": 2, "code_hash": v2_hash}
    assert rc["events"] == [{"contract": "sys.contracts", "name": "ContractUpgraded",
                             "fields": {"name": "upg_counter", "version": 2,
                                        "code_hash": {"hex": v2_hash}}}]
    after = record(admin, "upg_counter")
    assert after["version"] == 2 and after["code_hash"] == bytes.fromhex(v2_hash)
    assert after["deployed_at"] == before["deployed_at"]
    assert after["updated_at"] == res["height"] > before["updated_at"]
    assert after["owner"] == before["owner"]
    # storage survived and the constructor did not run again
    assert admin.query("upg_counter", "get") == 101
    assert admin.query("upg_counter", "version") == 2
    assert ok(operator.call("upg_counter", "double"))["value"] == 202
    assert ok(operator.call("upg_counter", "bump"))["value"] == 203

    # the owner or an admin may upgrade; another operator or a member may not
    other_op = PrivateKey.generate()
    ok(admin.register(address_of(other_op.public_key), ["operator"], "other operator"))
    for key in (other_op, accounts.member):
        rc = failed(net.client(key).call("sys.contracts", "upgrade",
                                         {"name": "upg_counter", "source": COUNTER}),
                    "PERMISSION_DENIED")
        assert "upgrade" in rc["error_message"]
    assert record(admin, "upg_counter")["version"] == 2
    # upgrading to rejected code changes nothing
    failed(admin.call("sys.contracts", "upgrade", {"name": "upg_counter", "source": "x = 0.5\n"}),
           "CONTRACT_REJECTED")
    assert record(admin, "upg_counter")["version"] == 2
    failed(admin.call("sys.contracts", "upgrade", {"name": "no_such", "source": COUNTER}),
           "NO_CONTRACT")


def test_freeze_blocks_every_call_until_unfreeze(shared_node, accounts):
    net = shared_node
    admin = net.client()
    operator = net.client(accounts.operator)
    ok(operator.deploy("frz_counter", COUNTER, {"start": 0}))
    ok(admin.deploy("frz_caller", CALLER))
    assert ok(admin.call("frz_caller", "go", {"target": "frz_counter"}))["value"] == 1

    # only admins freeze
    failed(operator.call("sys.contracts", "freeze", {"name": "frz_counter"}), "PERMISSION_DENIED")
    rc = ok(admin.call("sys.contracts", "freeze", {"name": "frz_counter"}))
    assert rc["events"] == [{"contract": "sys.contracts", "name": "ContractFrozen",
                             "fields": {"name": "frz_counter"}}]
    assert record(admin, "frz_counter")["frozen"] is True

    # direct calls and calls through another contract both fail; nothing changes
    rc = failed(operator.call("frz_counter", "bump"), "CONTRACT_FROZEN")
    assert "frz_counter" in rc["error_message"]
    rc = failed(admin.call("frz_caller", "go", {"target": "frz_counter"}), "CONTRACT_FROZEN")
    assert "frz_counter" in rc["error_message"]
    assert admin.query("frz_counter", "get") == 1  # reads still answer
    # the CLI reports the failure with exit code 2
    p = run_cli("call", "frz_counter", "bump", "--url", net.url,
                "--key", str(accounts.operator_file), check=False)
    assert p.returncode == 2 and json.loads(p.stdout)["receipt"]["error_code"] == "CONTRACT_FROZEN"

    # the owner cannot lift a freeze by upgrading
    ok(operator.call("sys.contracts", "upgrade", {"name": "frz_counter", "source": COUNTER_V2}))
    assert record(admin, "frz_counter")["frozen"] is True
    failed(operator.call("frz_counter", "bump"), "CONTRACT_FROZEN")

    failed(operator.call("sys.contracts", "unfreeze", {"name": "frz_counter"}),
           "PERMISSION_DENIED")
    rc = ok(admin.call("sys.contracts", "unfreeze", {"name": "frz_counter"}))
    assert rc["events"][0]["name"] == "ContractUnfrozen"
    assert record(admin, "frz_counter")["frozen"] is False
    assert ok(operator.call("frz_counter", "bump"))["value"] == 2
    assert ok(admin.call("frz_caller", "go", {"target": "frz_counter"}))["value"] == 3
    assert admin.query("frz_counter", "version") == 2
    failed(admin.call("sys.contracts", "freeze", {"name": "no_such"}), "NO_CONTRACT")


def test_only_operators_and_admins_may_deploy(shared_node, accounts, tmp_path):
    net = shared_node
    admin = net.client()
    member = net.client(accounts.member)
    rc = failed(member.deploy("perm_member", LEDGER), "PERMISSION_DENIED")
    assert "operators or admins" in rc["error_message"]
    assert record(admin, "perm_member") is None
    # same through the CLI: exit code 2, the receipt names the code
    src = tmp_path / "ledger.py"
    src.write_text(LEDGER)
    p = run_cli("deploy", "perm_member_cli", str(src), "--url", net.url,
                "--key", str(accounts.member_file), check=False)
    assert p.returncode == 2, p.stderr
    assert json.loads(p.stdout)["receipt"]["error_code"] == "PERMISSION_DENIED"
    assert record(admin, "perm_member_cli") is None
    # a non-member cannot even get a tx in
    outsider = PrivateKey.generate()
    with pytest.raises(RpcError) as ei:
        net.client(outsider).deploy("perm_outsider", LEDGER)
    assert (ei.value.status, ei.value.code) == (403, "TX_NOT_MEMBER")
    # an operator (not admin) may
    ok(net.client(accounts.operator).deploy("perm_operator", LEDGER))
    assert record(admin, "perm_operator")["owner"] == address_of(accounts.operator.public_key)
    # a name is deployed once
    failed(admin.deploy("perm_operator", LEDGER), "CONTRACT_EXISTS")
    failed(admin.deploy("sys.evil", LEDGER), "BAD_ARGS")


@pytest.mark.parametrize("name, source, rule", [
    ("rej_import", "import os\n", "no-import"),
    ("rej_float", "@export\ndef f():\n    return 1.5\n", "no-float"),
    ("rej_underscore", "@export\ndef f(x):\n    return x.__class__\n", "no-underscore"),
    ("rej_class", "class A:\n    pass\n", "no-class"),
    ("rej_set", "@export\ndef f():\n    return {1, 2}\n", "no-set"),
])
def test_rejected_contract_gives_failed_receipt_naming_the_rule(shared_node, name, source,
                                                                rule):
    c = shared_node.client()
    rc = failed(c.deploy(name, source), "CONTRACT_REJECTED")
    assert f"[{rule}]" in rc["error_message"], rc
    assert rc["error_message"].startswith("line "), rc
    assert record(c, name) is None
    # the receipt stored by the node says the same
    doc = c.tx(rc["tx_hash"])
    assert doc["receipt"] == rc


# -- gas -----------------------------------------------------------------------------------

def test_out_of_gas_uses_the_whole_limit_and_the_node_keeps_committing(shared_node):
    c = shared_node.client()
    ok(c.deploy("gas_ledger", LEDGER))
    ok(c.call("gas_ledger", "put", {"k": "x", "v": 1}))
    limit = 300_000
    res = c.call("gas_ledger", "spin", gas_limit=limit)
    rc = failed(res, "VM_OUT_OF_GAS")
    assert rc["gas_used"] == limit
    assert c.tx(rc["tx_hash"])["receipt"]["gas_used"] == limit
    # a bounded loop that ends in time uses less than its limit and is repeatable
    r1 = ok(c.call("gas_ledger", "burn", {"n": 1000}, gas_limit=limit))
    r2 = ok(c.call("gas_ledger", "burn", {"n": 1000}, gas_limit=limit))
    assert r1["value"] == 499500 and r1["gas_used"] == r2["gas_used"] < limit
    # the same loop made bigger runs out
    failed(c.call("gas_ledger", "burn", {"n": 100_000}, gas_limit=limit), "VM_OUT_OF_GAS")
    # a constructor that runs out of gas deploys nothing
    rc = failed(c.deploy("gas_greedy", GREEDY_INIT, gas_limit=500_000), "VM_OUT_OF_GAS")
    assert rc["gas_used"] == 500_000
    assert record(c, "gas_greedy") is None
    # the chain goes on: new blocks, and calls still succeed
    h = c.height()
    res = c.call("gas_ledger", "put", {"k": "x", "v": 2})
    ok(res)
    assert res["height"] > h
    assert c.query("gas_ledger", "read", {"k": "x"}) == 2


def test_failed_tx_is_rolled_back_while_the_rest_of_its_block_commits(tmp_path, procs):
    """The leader waits block_interval_ms before taking txs, so five sent together share a block."""
    from integration_harness import init_single_node

    net = init_single_node(tmp_path / "testnet", procs, params={"block_interval_ms": 400})
    c = net.client()
    ok(c.deploy("blk_ledger", LEDGER))
    p = "t-"
    h = c.height()
    calls = [("put", {"k": p + "a", "v": 1}),
             ("put_then_fail", {"k": p + "b", "v": 2}),
             ("put", {"k": p + "c", "v": 3}),
             ("put_then_fail", {"k": p + "a", "v": 99}),
             ("copy", {"src": p + "a", "dst": p + "d"})]
    txs = [c.build("call", "blk_ledger", m, a, gas_limit=1_000_000, height=h)
           for m, a in calls]
    for tx in txs:
        assert c.submit(tx, wait=False)["status"] == "pending"
    docs = [wait_committed(c, tx.hash.hex()) for tx in txs]
    assert len({d["height"] for d in docs}) == 1, "the five txs should share one block"
    assert [d["index"] for d in docs] == sorted(d["index"] for d in docs)
    rcs = [d["receipt"] for d in docs]
    assert [r["status"] for r in rcs] == ["ok", "failed", "ok", "failed", "ok"]
    for r in (rcs[1], rcs[3]):
        assert r["error_code"] == "DELIBERATE" and r["events"] == [] and r["gas_used"] > 0
    assert rcs[0]["events"] == [{"contract": "blk_ledger", "name": "Put",
                                 "fields": {"k": p + "a", "v": 1}}]
    # the failed writes never happened; later txs of the block saw the rolled-back state
    assert rcs[4]["value"] == 1
    assert c.query("blk_ledger", "read", {"k": p + "a"}) == 1
    assert c.query("blk_ledger", "read", {"k": p + "b"}) is None
    assert c.query("blk_ledger", "read", {"k": p + "c"}) == 3
    assert c.query("blk_ledger", "read", {"k": p + "d"}) == 1
    assert c.state("blk_ledger", ["kv", p + "b"]).exists is False


# -- events --------------------------------------------------------------------------------

async def _collect(ws, until, timeout: float) -> list[dict]:
    """Messages from `ws` up to and including the first for which until(msg) is true."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no closing event within {timeout}s; got {out}")
        msg = await ws.receive(timeout=left)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        doc = json.loads(msg.data)
        out.append(doc)
        if until(doc):
            return out


async def test_events_are_in_receipts_and_stream_filtered_on_the_websocket(shared_node):
    net = shared_node
    c = net.client()
    ok(await asyncio.to_thread(c.deploy, "evt_a", EVENTS))
    ok(await asyncio.to_thread(c.deploy, "evt_b", EVENTS))
    base = net.url.replace("http://", "ws://") + "/events"

    def call(contract, method, n):
        return asyncio.to_thread(c.call, contract, method, {"n": n})

    def is_last(doc):
        return doc["contract"] == "evt_a" and doc["name"] == "Ping" and doc["fields"]["n"] == 99

    async with aiohttp.ClientSession() as session:
        wss = {q: await session.ws_connect(base + q) for q in
               ("", "?contract=evt_a", "?name=Ping", "?contract=evt_a&name=Ping")}
        try:
            # an event every filter passes: proves every subscription is live
            first = ok(await call("evt_a", "ping", 0))
            assert first["events"] == [{"contract": "evt_a", "name": "Ping",
                                        "fields": {"n": 0}}]
            for q, ws in wss.items():
                got = await _collect(ws, lambda d: d["fields"].get("n") == 0, 20)
                assert got[-1]["tx_hash"] == first["tx_hash"], (q, got)

            rb = ok(await call("evt_b", "ping", 1))
            rm = ok(await call("evt_a", "mixed", 2))
            assert [e["name"] for e in rm["events"]] == ["Other", "Ping"]
            failed(await call("evt_a", "emit_then_fail", 3), "DELIBERATE")
            last = ok(await call("evt_a", "ping", 99))
            # the same events are in the stored receipts
            for rc in (rb, rm, last):
                doc = await asyncio.to_thread(c.tx, rc["tx_hash"])
                assert doc["receipt"]["events"] == rc["events"]

            def seen(q):
                return [(d["contract"], d["name"], d["fields"]["n"])
                        for d in received[q] if d["contract"] != "sys.contracts"]

            received = {q: await _collect(ws, is_last, 20) for q, ws in wss.items()}
            # everything up to the closing event, in commit order; filtered-out and
            # rolled-back events never arrive
            assert seen("") == [("evt_b", "Ping", 1), ("evt_a", "Other", 2),
                                ("evt_a", "Ping", 2), ("evt_a", "Ping", 99)]
            assert seen("?contract=evt_a") == [("evt_a", "Other", 2), ("evt_a", "Ping", 2),
                                               ("evt_a", "Ping", 99)]
            assert seen("?name=Ping") == [("evt_b", "Ping", 1), ("evt_a", "Ping", 2),
                                          ("evt_a", "Ping", 99)]
            assert seen("?contract=evt_a&name=Ping") == [("evt_a", "Ping", 2),
                                                        ("evt_a", "Ping", 99)]
            for d in received[""]:
                if d["contract"] == "evt_a" and d["fields"]["n"] == 2:
                    assert d["tx_hash"] == rm["tx_hash"] and d["height"] > 0
        finally:
            for ws in wss.values():
                await ws.close()


# -- proofs --------------------------------------------------------------------------------

def test_proved_state_of_a_contract_key_verifies_against_the_genesis(shared_node, tmp_path):
    net = shared_node
    c = net.client()
    ok(c.deploy("proof_ledger", LEDGER))
    res = ok(c.call("proof_ledger", "put", {"k": "meter-7", "v": {"kwh": 1234, "ok": True}}))
    assert res["status"] == "ok"
    st = c.state("proof_ledger", ["kv", "meter-7"], net.genesis)
    assert st.exists and st.value == {"kwh": 1234, "ok": True}
    assert st.height >= 1
    header = c.block(st.height)["header"]
    assert header["state_root"] == st.state_root.hex()
    # absence is proven too
    missing = c.state("proof_ledger", ["kv", "meter-8"], net.genesis)
    assert missing.exists is False and missing.value is None
    # the contract's own record in sys.contracts
    rec = c.state("sys.contracts", "proof_ledger", net.genesis)
    assert rec.value["code_hash"] == sm3(LEDGER.encode())
    # and the CLI verifies the same way
    p = run_cli("query", "proof_ledger", "_", "--state", "--key-json", '["kv", "meter-7"]',
                "--prove", "--genesis", str(net.root / "genesis.json"), "--url", net.url,
                "--json")
    doc = json.loads(p.stdout)
    assert doc["verified"] is True and doc["value"] == {"kwh": 1234, "ok": True}
    # a contract's record (it holds bytes) through the CLI, verified
    p = run_cli("query", "sys.contracts", "proof_ledger", "--state", "--prove", "--genesis",
                str(net.root / "genesis.json"), "--url", net.url, "--json")
    doc = json.loads(p.stdout)
    assert doc["verified"] is True and doc["exists"] is True
    assert doc["value"]["code_hash"] == {"hex": sm3(LEDGER.encode()).hex()}
    assert doc["value"]["version"] == 1 and doc["height"] >= rec.height
    # against another chain's genesis the proof is refused
    other = tmp_path / "other"
    run_cli("testnet", "init", "--nodes", "1", "--dir", str(other), "--chain-id",
            net.chain_id, "--base-port", "20000")
    p = run_cli("query", "proof_ledger", "_", "--state", "--key-json", '["kv", "meter-7"]',
                "--prove", "--genesis", str(other / "genesis.json"), "--url", net.url,
                check=False)
    assert p.returncode == 3 and "PROOF FAILED" in p.stderr, (p.stdout, p.stderr)


def test_one_source_deployed_under_two_names_keeps_two_states(shared_node):
    c = shared_node.client()
    ok(c.deploy("twin_a", LEDGER))
    ok(c.deploy("twin_b", LEDGER))
    rc = ok(c.call("twin_a", "put", {"k": "x", "v": "from a"}))
    assert rc["events"] == [{"contract": "twin_a", "name": "Put",
                             "fields": {"k": "x", "v": "from a"}}]
    assert c.query("twin_a", "read", {"k": "x"}) == "from a"
    assert c.query("twin_b", "read", {"k": "x"}) is None
    assert c.state("twin_a", ["kv", "x"]).value == "from a"
    assert c.state("twin_b", ["kv", "x"]).exists is False
