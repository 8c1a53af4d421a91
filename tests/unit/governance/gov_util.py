"""A real chain (LevelDB, SMT, executor) with four governor admins, driven block by block."""

from __future__ import annotations

from pathlib import Path

from chainnode import codec
from chainnode.chain import Chain, Executed
from chainnode.core.block import Receipt
from chainnode.core.certificate import CommitCertificate
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec import governance
from chainnode.exec.state import BlockState, TxState
from chainnode.store.db import ChainDB

CHAIN = "unit-gov"
GOV = "sys.governance"
# fixed keys: a run is a pure function of its script (the determinism test relies on it)
VKEYS = [PrivateKey(1000 + i) for i in range(6)]
GOVS = [PrivateKey(2000 + i) for i in range(4)]
MEMBER = PrivateKey(3000)
OUTSIDER = PrivateKey(3001)
ADDR = {k: address_of(k.public_key) for k in [*GOVS, MEMBER, OUTSIDER]}


def make_genesis(n_validators: int = 4, governance: dict | None = None,
                 **params) -> Genesis:
    vals = tuple(Validator(f"v{i}", VKEYS[i].public_key.raw) for i in range(n_validators))
    members = tuple(Member(ADDR[k], ("admin",), f"gov{i}") for i, k in enumerate(GOVS))
    members += (Member(ADDR[MEMBER], ("member",), "meter"),)
    return Genesis(CHAIN, 1_700_000_000_000, vals, members, params,
                   governance=governance or {})


class Bench:
    def __init__(self, path: Path, genesis: Genesis | None = None) -> None:
        self.genesis = genesis or make_genesis()
        self.db = ChainDB(path)
        self.chain = Chain(self.db, self.genesis)
        self.now = self.genesis.timestamp_ms

    def close(self) -> None:
        self.db.close()

    @property
    def height(self) -> int:
        return self.chain.head.height

    def tx(self, key: PrivateKey, method: str, args: dict, *, contract: str = GOV,
           gas: int = 1_000_000) -> Transaction:
        return build_tx(key, CHAIN, "system", contract, method, args,
                        expires_at=self.height + 50, gas_limit=gas)

    def block(self, *txs: Transaction) -> Executed:
        self.now += 1000
        ex = self.chain.build(list(txs), 0, 0)
        self.chain.commit(ex, CommitCertificate(CHAIN, ex.block.height, 0, ex.block.hash,
                                                ((0, 0, bytes(64)),)))
        return ex

    def send(self, key: PrivateKey, method: str, args: dict, *, contract: str = GOV) -> Receipt:
        return self.block(self.tx(key, method, args, contract=contract)).outcome.receipts[0]

    def ready_txs(self, key: PrivateKey) -> list[Transaction]:
        """`key` registers as a member (if needed) then attests to the head
        (sys.validators.ready): the add-validator rail's precondition. One block each."""
        addr = address_of(key.public_key)
        if self.stored("sys.members", addr) is None:
            return [self.tx(GOVS[0], "register", {"address": addr, "roles": ["member"]},
                            contract="sys.members")]
        head = self.chain.head
        return [self.tx(key, "ready", {"height": head.height, "hash": head.block_hash.hex()},
                        contract="sys.validators")]

    def ready(self, key: PrivateKey) -> Receipt:
        while True:
            tx = self.ready_txs(key)[0]
            rc = self.block(tx).outcome.receipts[0]
            if tx.method == "ready":
                return rc

    def propose(self, key: PrivateKey, kind: str, payload: dict) -> Receipt:
        return self.send(key, "propose", {"kind": kind, "payload": payload})

    def vote(self, key: PrivateKey, pid: int, choice: str = "yes") -> Receipt:
        return self.send(key, "vote", {"id": pid, "choice": choice})

    def empty(self, n: int) -> None:
        for _ in range(n):
            self.block()

    def state(self) -> TxState:
        return TxState(BlockState(self.db))

    def proposal(self, pid: int) -> dict:
        p = governance.get_proposal(self.state(), pid, self.height + 1)
        assert p is not None
        return p

    def stored(self, contract: str, key: object) -> object:
        raw = self.db.state_get(contract, codec.encode(key))
        return None if raw is None else codec.decode(raw)


def events(rc: Receipt) -> list[str]:
    return [name for _, name, _ in rc.events]


def ok(rc: Receipt) -> Receipt:
    assert rc.ok, (rc.error_code, rc.error_message)
    return rc


def failed(rc: Receipt, code: str) -> Receipt:
    assert not rc.ok and rc.error_code == code, (rc.status, rc.error_code, rc.error_message)
    return rc
