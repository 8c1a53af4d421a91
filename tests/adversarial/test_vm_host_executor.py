"""The block executor contains every transaction (issue 8, reproducers 1 and 7).

Real executor, real LevelDB, real SM2-signed transactions: a poison transaction (one whose
execution or receipt encoding escapes) becomes a VM_INTERNAL receipt that burns its gas limit
and writes nothing, and the transactions after it in the same block run normally. Deploy names
can never pose as accounts, refused deploys pay per source byte, and a frozen callee reports
the gas actually burnt.
"""

from __future__ import annotations

import pytest

from chainnode import codec
from chainnode.core.block import Block, BlockHeader, Receipt, receipt_root
from chainnode.core.certificate import CommitCertificate
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec import system
from chainnode.exec.executor import (
    DEPLOY_GAS_PER_BYTE,
    DEPLOY_GAS_PER_NODE,
    VM_INTERNAL,
    Executor,
)
from chainnode.store.db import ChainDB
from chainnode.vm.checker import source_nodes

CHAIN = "vm-host-exec"
VALIDATOR, ADMIN, MEMBER = (PrivateKey.generate() for _ in range(3))
A_ADMIN, A_MEMBER = address_of(ADMIN.public_key), address_of(MEMBER.public_key)
GENESIS = Genesis(CHAIN, 1_700_000_000_000, (Validator("n0", VALIDATOR.public_key.raw),),
                  (Member(A_ADMIN, ("admin", "operator"), "root"),
                   Member(A_MEMBER, ("member",), "m")), {})

POISON = '''
@export
def bad_require():
    require(False, "BAD", "x" + chr(0xD800))


@export
def bad_role():
    return has_role(chr(0xD800), "admin")


@export
def bad_call():
    return call(chr(0xDC00), "f")


@export
def who():
    return [ctx.caller, ctx.caller_kind, has_role(ctx.caller, "admin")]


@export
def put(k, v):
    storage.set(k, v)
    return v


@export
def poke(target):
    return call(target, "put", k="x", v=1)
'''


class Chain:
    """Blocks executed by a real Executor and committed to a real ChainDB."""

    def __init__(self, path) -> None:
        self.db = ChainDB(path)
        self.ex = Executor(GENESIS)
        self.db.write_genesis(GENESIS.hash(), self.ex.genesis_writes())
        self.height = 0

    def block(self, txs):
        self.height += 1
        out = self.ex.execute_block(self.db, self.height, 1_700_000_000_000 + self.height, txs,
                                    lambda h: False)
        head = self.db.head()
        root, nodes = self.db.compute_state_update(head.state_root, out.writes)
        hdr = BlockHeader(CHAIN, self.height, head.block_hash, 1 + self.height, 0, 0,
                          bytes(32), receipt_root(out.receipts), root, bytes(32), bytes(32))
        blk = Block(hdr, tuple(txs))
        cert = CommitCertificate(CHAIN, self.height, 0, blk.hash, ((0, 0, bytes(64)),))
        self.db.commit_block(blk, cert, list(out.receipts), out.writes, nodes)
        return out

    def one(self, tx) -> Receipt:
        (rc,) = self.block([tx]).receipts
        return rc


def tx(key, kind, contract, method, args, gas=2_000_000):
    return build_tx(key, CHAIN, kind, contract, method, args, expires_at=1000, gas_limit=gas)


def deploy(name, source, gas=5_000_000):
    return tx(ADMIN, "deploy", name, "deploy", {"source": source, "init_args": {}}, gas)


def call(method, args=None, contract="poison", key=MEMBER, gas=2_000_000):
    return tx(key, "call", contract, method, args or {}, gas)


@pytest.fixture
def chain(tmp_path):
    c = Chain(tmp_path / "c.ldb")
    assert c.one(deploy("poison", POISON)).ok
    yield c
    c.db.close()


@pytest.mark.parametrize("method,code", [("bad_require", "VM_VALUE_ERROR"),
                                         ("bad_role", "VM_VALUE_ERROR"),
                                         ("bad_call", "VM_NO_CONTRACT")])
def test_reproducer_1_poison_and_the_next_tx_in_one_block(chain, method, code):
    good = call("put", {"k": "after", "v": 7})
    out = chain.block([call(method), good])
    bad_rc, good_rc = out.receipts
    assert (bad_rc.ok, bad_rc.error_code) == (False, code)
    assert 0 < bad_rc.gas_used < 2_000_000
    assert good_rc.ok and good_rc.value == 7
    Receipt.decode(bad_rc.encode())


def test_anything_escaping_execution_is_vm_internal_with_the_gas_limit(chain, monkeypatch):
    def broken(state, address, role):
        raise RuntimeError("a bug in a host function")

    monkeypatch.setattr("chainnode.exec.contracts.has_role", broken)
    before = dict(chain.block([]).writes)
    out = chain.block([call("who", gas=123_456), call("put", {"k": "a", "v": 1})])
    bad, good = out.receipts
    assert (bad.ok, bad.error_code, bad.gas_used) == (False, VM_INTERNAL, 123_456)
    assert bad.value is None and bad.events == ()
    assert good.ok
    assert before == {}
    assert set(out.writes) == {("poison", codec.encode("a"))}


def test_a_receipt_that_cannot_be_encoded_is_vm_internal_and_writes_nothing(chain, monkeypatch):
    import chainnode.vm as vm

    real = vm.execute

    def leaky(*a, **kw):
        r = real(*a, **kw)
        # as if a value escaped the VM's checks: the receipt would not encode
        return type(r)(r.ok, "\ud800", r.gas_used, r.events, r.writes, "", "")

    monkeypatch.setattr(vm, "execute", leaky)
    out = chain.block([call("put", {"k": "leak", "v": 1}, gas=77_000)])
    (rc,) = out.receipts
    assert (rc.error_code, rc.gas_used) == (VM_INTERNAL, 77_000)
    assert out.writes == {}
    receipt_root(out.receipts)


def test_contract_names_never_have_the_shape_of_an_account(chain):
    src = "@export\ndef f():\n    return 1\n"
    rc = chain.one(deploy(A_MEMBER, src))
    assert (rc.ok, rc.error_code) == (False, "BAD_ARGS")
    assert "account address" in rc.error_message
    assert rc.gas_used == (system.SYSTEM_GAS + DEPLOY_GAS_PER_BYTE * len(src.encode())
                            + DEPLOY_GAS_PER_NODE * source_nodes(src))
    assert chain.one(deploy("a" * 39 + "g", src)).ok  # 40 chars, not all hex: allowed


def test_has_role_of_a_contract_caller_is_false_and_caller_kind_says_contract(chain):
    proxy = "@export\ndef go():\n    return call('poison', 'who')\n"
    assert chain.one(deploy("proxy", proxy)).ok
    assert chain.one(call("who", key=ADMIN)).value == [A_ADMIN, "account", True]
    assert chain.one(call("go", contract="proxy", key=ADMIN)).value == ["proxy", "contract",
                                                                         False]


@pytest.mark.parametrize("pad", [0, 10_000, 40_000])
def test_rejected_deploys_pay_per_source_byte(chain, pad):
    src = "@export\ndef f():\n    return 1.5\n" + "#" * pad + "\n"
    rc = chain.one(deploy("rejected", src, gas=5_000_000))
    assert (rc.ok, rc.error_code) == (False, "CONTRACT_REJECTED")
    assert rc.gas_used == (system.SYSTEM_GAS + DEPLOY_GAS_PER_BYTE * len(src.encode())
                            + DEPLOY_GAS_PER_NODE * source_nodes(src))


def test_frozen_callee_reports_the_gas_burnt_not_a_flat_fee(chain):
    assert chain.one(deploy("target", "@export\ndef put(k, v):\n    storage.set(k, v)\n")).ok
    assert chain.one(tx(ADMIN, "system", "sys.contracts", "freeze", {"name": "target"})).ok
    frozen = chain.one(call("poke", {"target": "target"}))
    missing = chain.one(call("poke", {"target": "tarxet"}))  # same length, no such contract
    assert (frozen.ok, frozen.error_code) == (False, "CONTRACT_FROZEN")
    assert missing.error_code == "VM_NO_CONTRACT"
    assert frozen.gas_used == missing.gas_used < system.SYSTEM_GAS


@pytest.mark.parametrize("src,rule", [
    ("@export\ndef f(:\n    return 1\n", "syntax"),
    ("@export\ndef f():\n    return " + "x" * 60_000 + "\n", "identifier"),
    ("@export\ndef f():\n    return " + "y" * 60 + "\n", "unknown-name"),
])
def test_refused_deploy_messages_are_bounded_and_version_independent(chain, src, rule):
    rc = chain.one(deploy("refused", src, gas=5_000_000))
    assert (rc.ok, rc.error_code) == (False, "CONTRACT_REJECTED")
    assert rc.error_message.startswith("line ") and f"[{rule}]" in rc.error_message
    assert len(rc.error_message) <= 256
    if rule == "syntax":  # CPython's wording is not part of consensus data
        assert rc.error_message.endswith("] invalid syntax")


def test_system_call_messages_quoting_arguments_are_bounded(chain):
    roles = ["r" * 1000 + str(i) for i in range(100)]
    t = tx(ADMIN, "system", "sys.members", "register",
           {"address": address_of(PrivateKey.generate().public_key), "roles": roles})
    rc = chain.one(t)
    assert rc.error_code == "BAD_ROLE" and len(rc.error_message) <= 256


@pytest.mark.parametrize("make", [MemoryError, lambda: OSError(5, "Input/output error")],
                         ids=["memory", "disk"])
def test_machine_faults_are_never_a_receipt(chain, monkeypatch, make):
    """Running out of memory or a failing disk depends on the node, not the transaction:
    a receipt made from it would differ between nodes, so it propagates as a node fault."""
    kind = type(make())

    def broken(state, address, role):
        raise make()

    monkeypatch.setattr("chainnode.exec.contracts.has_role", broken)
    with pytest.raises(kind) as info:
        chain.ex.execute_block(chain.db, chain.height + 1, 1, [call("who")], lambda h: False)
    info.value.__traceback__ = None  # frames hold the store: let them go before it closes


def test_leader_builds_and_replica_validates_a_block_of_poison(tmp_path):
    """chain.build on one store, chain.validate on another: both survive the poison and
    agree on receipt and state roots (what PBFT replicas check before voting)."""
    from chainnode.chain import Chain as NodeChain

    leader_db, replica_db = ChainDB(tmp_path / "l.ldb"), ChainDB(tmp_path / "r.ldb")
    try:
        leader, replica = NodeChain(leader_db, GENESIS), NodeChain(replica_db, GENESIS)
        cert = lambda ex: CommitCertificate(CHAIN, ex.block.height, 0, ex.block.hash,  # noqa: E731
                                            ((0, 0, bytes(64)),))
        ex = leader.build([deploy("poison", POISON)], 0, 0)
        rex = replica.validate(ex.block, lambda t: True)
        leader.commit(ex, cert(ex))
        replica.commit(rex, cert(rex))
        txs = [call(m) for m in ("bad_require", "bad_role", "bad_call")]
        txs.append(call("put", {"k": "after", "v": 1}))
        ex = leader.build(txs, 0, 0)
        rex = replica.validate(ex.block, lambda t: True)
        assert [r.error_code for r in ex.outcome.receipts] == ["VM_VALUE_ERROR",
                                                                "VM_VALUE_ERROR",
                                                                "VM_NO_CONTRACT", ""]
        assert [r.encode() for r in rex.outcome.receipts] == \
            [r.encode() for r in ex.outcome.receipts]
        assert rex.block.header.state_root == ex.block.header.state_root
    finally:
        leader_db.close()
        replica_db.close()
