"""Block execution: sys.members permissions and events, failed txs leave no writes, block-level
faults raise InvalidBlock, and execution is deterministic across executors, DBs and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chainnode import codec
from chainnode.core.block import Block, BlockHeader, receipt_root
from chainnode.core.certificate import CommitCertificate
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec import system
from chainnode.exec.executor import Executor, InvalidBlock
from chainnode.store.db import ChainDB

CHAIN = "unit-exec"
VALIDATOR, ADMIN, OPERATOR, MEMBER, OUTSIDER = (PrivateKey.generate() for _ in range(5))
A_ADMIN, A_OPERATOR, A_MEMBER, A_OUTSIDER = (address_of(k.public_key)
                                             for k in (ADMIN, OPERATOR, MEMBER, OUTSIDER))
NEW = [address_of(PrivateKey.generate().public_key) for _ in range(4)]


def make_genesis(**params) -> Genesis:
    return Genesis(CHAIN, 1_700_000_000_000, (Validator("node0", VALIDATOR.public_key.raw),),
                   (Member(A_ADMIN, ("admin",), "root"),
                    Member(A_OPERATOR, ("operator",), "ops"),
                    Member(A_MEMBER, ("member",), "meter")), params)


GENESIS = make_genesis()


def fresh_db(path, genesis: Genesis = GENESIS) -> ChainDB:
    db = ChainDB(path)
    db.write_genesis(genesis.hash(), Executor(genesis).genesis_writes())
    return db


@pytest.fixture
def db(tmp_path):
    d = fresh_db(tmp_path / "a.ldb")
    yield d
    d.close()


@pytest.fixture
def ex() -> Executor:
    return Executor(GENESIS)


def tx(key, method, args, *, expires_at=50, gas=100_000, chain=CHAIN, contract="sys.members",
       kind="system"):
    return build_tx(key, chain, kind, contract, method, args, expires_at=expires_at,
                    gas_limit=gas)


def reg(key, address, roles=("member",), **kw):
    return tx(key, "register", {"address": address, "roles": list(roles), "name": ""}, **kw)


def run(ex, base, txs, height=1, committed=()):
    return ex.execute_block(base, height, 1_700_000_000_000 + height, txs,
                            lambda h: h in committed)


def member_in(writes, address):
    raw = writes.get((system.MEMBERS, codec.encode(address)))
    return None if raw is None else codec.decode(raw)


def commit_writes(db: ChainDB, writes) -> None:
    """Commit a block's state writes (a tx-less block; the store does not check roots)."""
    head = db.head()
    root, nodes = db.compute_state_update(head.state_root, writes)
    hdr = BlockHeader(CHAIN, head.height + 1, head.block_hash, 1, 0, 0, bytes(32), bytes(32),
                      root, bytes(32), bytes(32))
    block = Block(hdr, ())
    cert = CommitCertificate(CHAIN, block.height, 0, block.hash, ((0, 0, bytes(64)),))
    db.commit_block(block, cert, [], writes, nodes)


# -- sys.members ---------------------------------------------------------------------------

def test_genesis_writes_members_validators_and_params(ex):
    w = ex.genesis_writes()
    assert member_in(w, A_ADMIN) == {"roles": ["admin"], "name": "root", "active": True,
                                     "since": 0}
    assert member_in(w, A_OUTSIDER) is None
    vals = codec.decode(w[(system.VALIDATORS, codec.encode("set"))])
    assert vals == [["node0", VALIDATOR.public_key.raw]]


def test_admin_registers_a_member_with_event(ex, db):
    t = reg(ADMIN, NEW[0], roles=("member", "auditor", "member"))
    out = run(ex, db, [t], height=3)
    (rc,) = out.receipts
    assert rc.ok and rc.tx_hash == t.hash and rc.value is True
    assert rc.gas_used == system.SYSTEM_GAS and out.gas_used == system.SYSTEM_GAS
    assert rc.events == (("sys.members", "MemberRegistered",
                          {"address": NEW[0], "roles": ["auditor", "member"]}),)
    assert set(out.writes) == {(system.MEMBERS, codec.encode(NEW[0]))}
    assert member_in(out.writes, NEW[0]) == {"roles": ["auditor", "member"], "name": "",
                                             "active": True, "since": 3}


@pytest.mark.parametrize("sender", [OPERATOR, MEMBER], ids=["operator", "member"])
@pytest.mark.parametrize("method,args", [
    ("register", {"address": NEW[0], "roles": ["member"]}),
    ("revoke", {"address": A_MEMBER}),
    ("set_roles", {"address": A_MEMBER, "roles": ["admin"]}),
])
def test_only_admins_change_membership(ex, db, sender, method, args):
    out = run(ex, db, [tx(sender, method, args)])
    (rc,) = out.receipts
    assert not rc.ok and rc.error_code == "PERMISSION_DENIED" and rc.error_message
    assert rc.events == () and rc.value is None
    assert out.writes == {}


@pytest.mark.parametrize("method,args,code", [
    ("register", {"address": A_MEMBER, "roles": ["member"]}, "ALREADY_MEMBER"),
    ("register", {"address": NEW[0], "roles": ["king"]}, "BAD_ROLE"),
    ("register", {"address": NEW[0], "roles": "member"}, "BAD_ARGS"),
    ("register", {"address": "0x" + NEW[0][2:], "roles": ["member"]}, "BAD_ARGS"),
    ("revoke", {"address": NEW[0]}, "NOT_MEMBER"),
    ("revoke", {"address": A_ADMIN}, "BAD_ARGS"),  # an admin cannot revoke itself
    ("set_roles", {"address": NEW[0], "roles": ["member"]}, "NOT_MEMBER"),
    ("promote", {"address": A_MEMBER}, "NO_METHOD"),
])
def test_membership_call_errors(ex, db, method, args, code):
    out = run(ex, db, [tx(ADMIN, method, args)])
    (rc,) = out.receipts
    assert (rc.ok, rc.error_code) == (False, code)
    assert out.writes == {}


def test_revoke_and_set_roles(ex, db):
    out = run(ex, db, [tx(ADMIN, "set_roles", {"address": A_MEMBER,
                                               "roles": ["operator", "auditor"]}),
                       tx(ADMIN, "revoke", {"address": A_OPERATOR})], height=4)
    r1, r2 = out.receipts
    assert r1.ok and r1.events == (("sys.members", "RolesChanged",
                                    {"address": A_MEMBER, "roles": ["auditor", "operator"]}),)
    assert r2.ok and r2.events == (("sys.members", "MemberRevoked", {"address": A_OPERATOR}),)
    assert member_in(out.writes, A_MEMBER) == {"roles": ["auditor", "operator"],
                                               "name": "meter", "active": True, "since": 0}
    assert member_in(out.writes, A_OPERATOR) == {"roles": ["operator"], "name": "ops",
                                                 "active": False, "since": 0,
                                                 "revoked_at": 4}
    commit_writes(db, out.writes)

    # the revoked account can no longer send; an admin may register it again
    (rc,) = run(ex, db, [reg(OPERATOR, NEW[1])], height=5).receipts
    assert rc.error_code == "TX_NOT_MEMBER"
    out = run(ex, db, [reg(ADMIN, A_OPERATOR, roles=("member",))], height=5)
    assert out.receipts[0].ok
    assert member_in(out.writes, A_OPERATOR)["active"] is True


def test_non_member_sender_gets_a_failed_receipt_and_writes_nothing(ex, db):
    t = reg(OUTSIDER, NEW[0])
    out = run(ex, db, [t])
    (rc,) = out.receipts
    assert not rc.ok and rc.error_code == "TX_NOT_MEMBER" and A_OUTSIDER in rc.error_message
    assert rc.tx_hash == t.hash and rc.gas_used == system.SYSTEM_GAS // 10
    assert out.writes == {}


def test_failed_tx_leaves_no_writes_while_the_block_proceeds(ex, db):
    txs = [
        reg(ADMIN, NEW[0]),
        reg(ADMIN, NEW[0]),  # fails: already a member (by the tx before it, same block)
        reg(MEMBER, NEW[1]),  # fails: not an admin
        reg(ADMIN, NEW[2], roles=("admin",)),
        reg(OUTSIDER, NEW[3]),  # fails: not a member
        tx(ADMIN, "register", {"address": NEW[3], "roles": ["member"]}, gas=1000),  # no gas
    ]
    out = run(ex, db, txs)
    codes = [(r.ok, r.error_code) for r in out.receipts]
    assert codes == [(True, ""), (False, "ALREADY_MEMBER"), (False, "PERMISSION_DENIED"),
                     (True, ""), (False, "TX_NOT_MEMBER"), (False, "VM_OUT_OF_GAS")]
    assert set(out.writes) == {(system.MEMBERS, codec.encode(NEW[0])),
                               (system.MEMBERS, codec.encode(NEW[2]))}
    assert out.gas_used == sum(r.gas_used for r in out.receipts)
    assert out.receipts[5].gas_used == 1000


def test_a_member_registered_earlier_in_the_block_can_send_later_in_it(ex, db):
    newbie = PrivateKey.generate()
    addr = address_of(newbie.public_key)
    out = run(ex, db, [reg(ADMIN, addr, roles=("admin",)), reg(newbie, NEW[0])])
    assert [r.ok for r in out.receipts] == [True, True]
    # ...but not before it
    out = run(ex, db, [reg(newbie, NEW[0]), reg(ADMIN, addr, roles=("admin",))])
    assert [r.error_code for r in out.receipts] == ["TX_NOT_MEMBER", ""]


def test_unknown_contracts_fail_cleanly(ex, db):
    out = run(ex, db, [tx(ADMIN, "get", {}, contract="sys.nothing"),
                       tx(ADMIN, "read", {}, contract="meter", kind="call")])
    assert [r.error_code for r in out.receipts] == ["NO_CONTRACT", "NO_CONTRACT"]
    assert out.writes == {}


def test_query_reads_members_without_writing(ex, db):
    res = ex.query(db, "sys.members", "get", {"address": A_MEMBER}, 0, 0)
    assert res.value == {"roles": ["member"], "name": "meter", "active": True, "since": 0}
    assert ex.query(db, "sys.members", "get", {"address": NEW[0]}, 0, 0).value is None


# -- block-level faults --------------------------------------------------------------------

def test_invalid_blocks(ex, db):
    ok = reg(ADMIN, NEW[0], expires_at=10)
    with pytest.raises(InvalidBlock, match="chain"):
        run(ex, db, [ok, reg(ADMIN, NEW[1], chain="other-chain")], height=5)
    with pytest.raises(InvalidBlock, match="expired"):
        run(ex, db, [ok], height=11)
    assert run(ex, db, [ok], height=10).receipts[0].ok  # valid up to its expires_at height
    with pytest.raises(InvalidBlock, match="too far"):
        run(ex, db, [reg(ADMIN, NEW[1], expires_at=1 + 1001)], height=1)
    with pytest.raises(InvalidBlock, match="twice"):
        run(ex, db, [ok, reg(ADMIN, NEW[1]), ok], height=5)
    with pytest.raises(InvalidBlock, match="already committed"):
        run(ex, db, [ok], height=5, committed={ok.hash})
    with pytest.raises(InvalidBlock, match="gas limit"):
        run(ex, db, [reg(ADMIN, NEW[1], gas=50_000_001)])


def test_block_gas_limit_is_enforced(tmp_path):
    g = make_genesis(block_gas_limit=150_000)
    db = fresh_db(tmp_path / "g.ldb", g)
    try:
        ex = Executor(g)
        assert run(ex, db, [reg(ADMIN, NEW[0])]).receipts[0].ok
        with pytest.raises(InvalidBlock, match="block gas limit"):
            run(ex, db, [reg(ADMIN, NEW[0]), reg(ADMIN, NEW[1])])
    finally:
        db.close()


# -- determinism ---------------------------------------------------------------------------

def mixed_block():
    newbie = PrivateKey.generate()
    return [
        reg(ADMIN, NEW[0], roles=("member", "auditor")),
        reg(ADMIN, address_of(newbie.public_key), roles=("admin",)),
        reg(newbie, NEW[1], roles=("terminal",)),
        reg(ADMIN, NEW[0]),
        reg(OUTSIDER, NEW[2]),
        tx(ADMIN, "set_roles", {"address": A_MEMBER, "roles": ["relayer", "member"]}),
        tx(ADMIN, "revoke", {"address": A_OPERATOR}),
        reg(OPERATOR, NEW[3]),
        tx(ADMIN, "revoke", {"address": NEW[1]}),
    ]


def outcome_digest(db: ChainDB, outcome) -> dict:
    root, _ = db.compute_state_update(db.head().state_root, outcome.writes)
    return {"receipts": [r.encode().hex() for r in outcome.receipts],
            "writes": sorted([c, k.hex(), None if v is None else v.hex()]
                             for (c, k), v in outcome.writes.items()),
            "receipt_root": receipt_root(outcome.receipts).hex(), "state_root": root.hex()}


def test_two_executors_on_two_fresh_dbs_agree(tmp_path):
    txs = mixed_block()
    db1, db2 = fresh_db(tmp_path / "1.ldb"), fresh_db(tmp_path / "2.ldb")
    try:
        assert db1.head() == db2.head()
        o1 = run(Executor(GENESIS), db1, txs, height=7)
        o2 = run(Executor(GENESIS), db2, txs, height=7)
        d1, d2 = outcome_digest(db1, o1), outcome_digest(db2, o2)
        assert d1 == d2
        assert o1.receipts == o2.receipts and o1.writes == o2.writes
        assert len({r.ok for r in o1.receipts}) == 2  # the block mixes successes and failures
        # and the same executor gives the same answer twice
        assert outcome_digest(db1, run(Executor(GENESIS), db1, txs, height=7)) == d1
        # a different height is a different outcome (the executor is not ignoring its input)
        assert outcome_digest(db1, run(Executor(GENESIS), db1, txs, height=8)) != d1
    finally:
        db1.close()
        db2.close()


_CHILD = r"""
import json, sys
from chainnode.core.block import receipt_root
from chainnode.core.genesis import Genesis
from chainnode.core.tx import Transaction
from chainnode.exec.executor import Executor
from chainnode.store.db import ChainDB
doc = json.loads(sys.stdin.read())
g = Genesis.from_json(doc["genesis"])
db = ChainDB(sys.argv[1])
ex = Executor(g)
db.write_genesis(g.hash(), ex.genesis_writes())
txs = [Transaction.decode(bytes.fromhex(t)) for t in doc["txs"]]
out = ex.execute_block(db, 7, 1_700_000_000_007, txs, lambda h: False)
root, _ = db.compute_state_update(db.head().state_root, out.writes)
print(json.dumps({"receipts": [r.encode().hex() for r in out.receipts],
                  "writes": sorted([c, k.hex(), None if v is None else v.hex()]
                                   for (c, k), v in out.writes.items()),
                  "receipt_root": receipt_root(out.receipts).hex(), "state_root": root.hex()}))
db.close()
"""


def test_execution_is_identical_in_another_process_with_another_hash_seed(tmp_path):
    txs = mixed_block()
    db = fresh_db(tmp_path / "here.ldb")
    try:
        here = outcome_digest(db, run(Executor(GENESIS), db, txs, height=7))
    finally:
        db.close()
    doc = json.dumps({"genesis": GENESIS.to_json(), "txs": [t.encode().hex() for t in txs]})
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "there.ldb")], input=doc, capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == here
