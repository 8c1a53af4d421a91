"""Poison transactions never halt the chain (issue 8, reproducers 1, 2 and 7, real processes).

Four real validator processes (PBFT: the leader builds, the replicas validate by re-executing).
Each poison transaction (a lone surrogate at each way out of the VM, a KeyError of a huge key,
an executor code in require, a 1 MB has_role address, a contract named like an account, a
refused deploy, a frozen callee) commits with a clean failed receipt; a normal transaction sent
after it commits too; every node holds byte-identical receipts and one state root; and the gas
of each is what the documented formula says.
"""

from __future__ import annotations

import pytest
from cluster import LocalNet

from chainnode.client import Client
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec.executor import DEPLOY_GAS_PER_BYTE, DEPLOY_GAS_PER_NODE
from chainnode.exec.system import SYSTEM_GAS
from chainnode.vm.checker import source_nodes
from chainnode.vm.hostapi import arg_bytes

pytestmark = pytest.mark.slow

POISON = '''
PRICES = {"a": 1}


@export
def bad_require():
    require(False, "BAD", "x" + chr(0xD800))


@export
def ok_require():
    require(False, "BAD", "x" + chr(0x41))


@export
def bad_role():
    return has_role(chr(0xD800), "admin")


@export
def bad_call():
    return call(chr(0xDC00), "put")


@export
def bad_return():
    return {"v": [chr(0xDFFF)]}


@export
def bad_event():
    emit("E", x=chr(0xD800))


@export
def bad_key():
    storage.set(("k", chr(0xD800)), 1)


@export
def impersonate():
    require(False, "TX_NOT_MEMBER", "pretending to be the executor")


@export
def price(t):
    return PRICES[t]


@export
def roles(n, k):
    s = "a" * n
    for i in range(k):
        has_role(s, "admin")
    return k


@export
def put(k, v):
    storage.set(k, v)
    return v


@export
def poke(target):
    return call(target, "put", k="x", v=1)
'''

POISONS = [
    ("bad_require", {}, "VM_VALUE_ERROR"),
    ("bad_role", {}, "VM_VALUE_ERROR"),
    ("bad_call", {}, "VM_NO_CONTRACT"),
    ("bad_return", {}, "VM_BAD_RETURN"),
    ("bad_event", {}, "VM_VALUE_ERROR"),
    ("bad_key", {}, "VM_VALUE_ERROR"),
    ("impersonate", {}, "VM_BAD_CODE"),
    ("price", {"t": " " * 100_000}, "VM_KEY_ERROR"),
]


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tn = LocalNet(tmp_path_factory.mktemp("poison") / "testnet", chain_id="chainnode-poison")
    try:
        tn.start()
        tn.wait_meshed()
        c = tn.admin(tn.nodes[0])
        rc = c.deploy("poison", POISON)["receipt"]
        assert rc["status"] == "ok", rc
        yield tn
    finally:
        tn.stop_all()


def admin(net: LocalNet, i: int = 0) -> Client:
    return net.admin(net.nodes[i % len(net.nodes)])


def receipts_everywhere(net: LocalNet, tx_hash: str) -> dict:
    """The receipt of `tx_hash`, asserted identical on every node once all have it."""
    from cluster import wait_until

    def all_have() -> list | None:
        docs = [n.tx(tx_hash) for n in net.nodes]
        if all(d is not None and d.get("status") == "committed" for d in docs):
            return docs
        return None

    docs = wait_until(all_have, 30, f"every node to commit {tx_hash[:16]}")
    first = docs[0]
    for d in docs[1:]:
        assert (d["height"], d["receipt"]) == (first["height"], first["receipt"])
    net.assert_same_chain(net.nodes, [first["height"]])
    return first["receipt"]


def send(net: LocalNet, method: str, args: dict, i: int = 0, gas: int = 5_000_000) -> dict:
    res = admin(net, i).call("poison", method, args, gas_limit=gas)
    assert res["status"] == "committed", res
    return receipts_everywhere(net, res["hash"])


@pytest.mark.parametrize("method,args,code", POISONS, ids=[p[0] for p in POISONS])
def test_poison_fails_cleanly_and_the_next_tx_commits(net, method, args, code):
    before = net.nodes[0].height()
    rc = send(net, method, args, i=len(method))
    assert (rc["status"], rc["error_code"]) == ("failed", code), rc
    assert 0 < rc["gas_used"] < 5_000_000
    assert len(rc["error_message"]) <= 256
    after = send(net, "put", {"k": method, "v": 1})
    assert after["status"] == "ok" and after["value"] == 1
    assert net.nodes[0].height() >= before + 2


def test_surrogate_require_costs_what_the_valid_one_costs(net):
    bad = send(net, "bad_require", {})
    good = send(net, "ok_require", {})
    assert good["error_code"] == "BAD" and good["error_message"] == "xA"
    assert bad["gas_used"] == good["gas_used"]


def test_key_error_gas_does_not_depend_on_the_key_text(net):
    spaces = send(net, "price", {"t": " " * 100_000})
    letters = send(net, "price", {"t": "z" * 100_000})
    assert spaces["gas_used"] == letters["gas_used"]
    assert spaces["error_message"].endswith('..." not found')


def test_one_megabyte_has_role_address_pays_per_byte(net):
    """gas(n, 2) - gas(n, 1) = one iteration + one has_role(n chars); against n = 1 the
    difference is exactly arg_bytes: G_CHUNK per started 64 characters."""
    n = 1_000_000
    g = {(m, k): send(net, "roles", {"n": m, "k": k}, gas=10_000_000)
         for m in (1, n) for k in (1, 2)}
    assert all(r["status"] == "ok" for r in g.values()), g
    d_big = g[(n, 2)]["gas_used"] - g[(n, 1)]["gas_used"]
    d_small = g[(1, 2)]["gas_used"] - g[(1, 1)]["gas_used"]
    assert d_big - d_small == arg_bytes("a" * n) - arg_bytes("a") == 62_496


def test_contract_named_like_an_account_is_refused_at_per_byte_gas(net):
    c = admin(net)
    src = "@export\ndef f():\n    return 1\n"
    member = ""
    while not member[:1].isalpha():  # a transaction's contract name starts with a letter
        member = address_of(PrivateKey.generate().public_key)
    assert c.register(member, ["admin"])["receipt"]["status"] == "ok"
    res = c.deploy(member, src)
    rc = receipts_everywhere(net, res["hash"])
    assert (rc["status"], rc["error_code"]) == ("failed", "BAD_ARGS"), rc
    assert rc["gas_used"] == (SYSTEM_GAS + DEPLOY_GAS_PER_BYTE * len(src.encode())
                            + DEPLOY_GAS_PER_NODE * source_nodes(src))


def test_refused_deploy_pays_per_source_byte(net):
    c = admin(net, 1)
    src = "@export\ndef f():\n    return 1.5\n" + "#" * 30_000 + "\n"
    res = c.deploy("refused", src)
    rc = receipts_everywhere(net, res["hash"])
    assert (rc["status"], rc["error_code"]) == ("failed", "CONTRACT_REJECTED")
    assert rc["gas_used"] == (SYSTEM_GAS + DEPLOY_GAS_PER_BYTE * len(src.encode())
                            + DEPLOY_GAS_PER_NODE * source_nodes(src))


def test_frozen_callee_reports_the_gas_burnt(net):
    c = admin(net, 2)
    assert c.deploy("target", "@export\ndef put(k, v):\n    storage.set(k, v)\n"
                    )["receipt"]["status"] == "ok"
    assert c.call("sys.contracts", "freeze", {"name": "target"})["receipt"]["status"] == "ok"
    frozen = send(net, "poke", {"target": "target"})
    missing = send(net, "poke", {"target": "tarxet"})
    assert frozen["error_code"] == "CONTRACT_FROZEN" and missing["error_code"] == "VM_NO_CONTRACT"
    assert frozen["gas_used"] == missing["gas_used"] < SYSTEM_GAS
