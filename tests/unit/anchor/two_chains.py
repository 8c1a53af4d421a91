"""Two (or more) in-process chains — real Chain, LevelDB, SMT, executor and SM2-signed commit
certificates — sharing one clock, plus the relayer's moves done by hand."""

from __future__ import annotations

from pathlib import Path

from chainnode import codec
from chainnode.chain import Chain
from chainnode.core.block import BlockHeader, Receipt
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import build_tx
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.merkle import merkle_proof
from chainnode.crypto.sm2 import PrivateKey
from chainnode.store.db import ChainDB, state_key_hash

ANCHOR = "sys.anchor"
T0 = 1_800_000_000_000
PARAMS = {"trusting_period_ms": 600_000, "max_clock_drift_ms": 30_000}


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def tick(self, ms: int = 1_000) -> int:
        self.ms += ms
        return self.ms


class Net:
    """One chain; `admin` is its only governor, `relayer` has the relayer role."""

    def __init__(self, path: Path, chain_id: str, n_validators: int, seed: int,
                 clock: Clock) -> None:
        self.chain_id = chain_id
        self.clock = clock
        self.vkeys = [PrivateKey(seed + i) for i in range(n_validators)]
        self.admin = PrivateKey(seed + 100)
        self.relayer = PrivateKey(seed + 101)
        self.member = PrivateKey(seed + 102)
        members = (Member(address_of(self.admin.public_key), ("admin", "operator"), "admin"),
                   Member(address_of(self.relayer.public_key), ("relayer",), "relayer"),
                   Member(address_of(self.member.public_key), ("member",), "member"))
        vals = tuple(Validator(f"{chain_id}-v{i}", k.public_key.raw)
                     for i, k in enumerate(self.vkeys))
        self.genesis = Genesis(chain_id, T0, vals, members, {})
        self.db = ChainDB(path / chain_id)
        self.chain = Chain(self.db, self.genesis)

    def close(self) -> None:
        self.db.close()

    @property
    def height(self) -> int:
        return self.chain.head.height

    def validators(self) -> list[list]:
        return [[v.name, v.public_key] for v in self.genesis.validators]

    def certify(self, header: BlockHeader, keys=None, view: int = 0) -> CommitCertificate:
        t = self.clock.tick()
        votes = []
        for i, k in enumerate(keys or self.vkeys):
            payload = vote_payload("commit", self.chain_id, view, header.height, header.hash(), t)
            votes.append((i, t, domain.sign(k, "commit", self.chain_id, payload)))
        return CommitCertificate(self.chain_id, header.height, view, header.hash(), tuple(votes))

    def block(self, *txs) -> tuple[Receipt, ...]:
        ex = self.chain.build(list(txs), 0, 0)
        self.chain.commit(ex, self.certify(ex.block.header))
        return ex.outcome.receipts

    def tx(self, key: PrivateKey, contract: str, method: str, args: dict, *,
           kind: str = "system", gas: int = 5_000_000):
        return build_tx(key, self.chain_id, kind, contract, method, args,
                        expires_at=self.height + 50, gas_limit=gas)

    def send(self, key: PrivateKey, contract: str, method: str, args: dict, **kw) -> Receipt:
        return self.block(self.tx(key, contract, method, args, **kw))[0]

    def call(self, contract: str, method: str, **args) -> Receipt:
        return self.send(self.admin, contract, method, args, kind="call")

    def deploy(self, name: str, source: str) -> Receipt:
        return ok(self.block(build_tx(self.admin, self.chain_id, "deploy", name, "deploy",
                                      {"source": source}, expires_at=self.height + 50,
                                      gas_limit=50_000_000))[0])

    def view(self, method: str, **args):
        from chainnode.exec import anchor
        from chainnode.exec.state import BlockState, TxState
        return anchor.query(TxState(BlockState(self.db)), self.clock.ms, method, args).value

    # -- what a relayer reads from this chain
    def header(self, h: int | None = None) -> BlockHeader:
        return self.db.block(h or self.height).header

    def cert(self, h: int | None = None) -> CommitCertificate:
        return self.db.certificate(h or self.height)

    def state_proof(self, contract: str, key: object, h: int | None = None) -> bytes:
        root = self.header(h).state_root
        kh = state_key_hash(contract, codec.encode(key))
        return codec.encode(self.db.smt.prove(root, kh).to_wire())

    def receipt_proof(self, tx_hash: bytes) -> tuple[int, bytes, list]:
        height, index = self.db.tx_location(tx_hash)
        block = self.db.block(height)
        leaves = [self.db.receipt(t.hash).encode() for t in block.txs]
        return height, leaves[index], merkle_proof(leaves, index)


def ok(rc: Receipt) -> Receipt:
    assert rc.ok, (rc.error_code, rc.error_message)
    return rc


def failed(rc: Receipt, code: str) -> Receipt:
    assert not rc.ok and rc.error_code == code, (rc.status, rc.error_code, rc.error_message)
    return rc


def names(rc: Receipt) -> list[str]:
    return [n for _, n, _ in rc.events]


# -- relayer moves ---------------------------------------------------------------------------


def create_client(on: Net, of: Net, **params) -> Receipt:
    payload = {"chain_id": of.chain_id, "genesis_hash": of.genesis.hash().hex(),
               "header_hex": codec.encode(of.header().to_wire()).hex(),
               "validators": [[n, k.hex()] for n, k in of.validators()],
               "params": {**PARAMS, **params}}
    rc = on.send(on.admin, "sys.governance", "propose", {"kind": "create-client",
                                                          "payload": payload})
    assert "ClientCreated" in names(ok(rc)), rc.events
    return rc


def linked_pair(path: Path, main: tuple[str, int, int], edge: tuple[str, int, int],
                main_contracts: dict[str, str], edge_contracts: dict[str, str]) -> tuple[Net, Net]:
    """Two chains ((id, validators, key seed) each) on one clock, with contracts deployed and
    light clients of each other created by governance."""
    clock = Clock()
    a, b = Net(path, *main, clock), Net(path, *edge, clock)
    for net, contracts in ((a, main_contracts), (b, edge_contracts)):
        for name, source in contracts.items():
            net.deploy(name, source)
    create_client(b, a)
    create_client(a, b)
    return a, b


def update(on: Net, of: Net, h: int | None = None, **kw) -> Receipt:
    h = h or of.height
    return on.send(on.relayer, ANCHOR, "update",
                   {"chain_id": of.chain_id, "header": of.header(h).to_wire(),
                    "certificate": of.cert(h).to_wire(), "validators": None}, **kw)


def _proved(on: Net, of: Net, method: str, packet: list, key: str, h: int | None,
            **extra) -> Receipt:
    """`method` on `on`'s sys.anchor with the proof of `of`'s [key, on, seq] at height h."""
    h = h or of.height
    proof = of.state_proof(ANCHOR, [key, on.chain_id, packet[6]], h)
    return on.send(on.relayer, ANCHOR, method,
                   {"packet": packet, "height": h, "proof": proof, **extra})


def recv(on: Net, of: Net, packet: list, h: int | None = None) -> Receipt:
    return _proved(on, of, "recv", packet, "commit", h)


def acknowledge(on: Net, of: Net, packet: list, h: int | None = None) -> Receipt:
    record = of.view("ack", chain_id=on.chain_id, sequence=packet[6])
    return _proved(on, of, "acknowledge", packet, "ack", h, ack=record["ack"])


def timeout(on: Net, of: Net, packet: list, h: int | None = None) -> Receipt:
    return _proved(on, of, "timeout", packet, "ack", h)


def sent_packets(rc: Receipt) -> list[list]:
    return [f["packet"] for c, n, f in rc.events if c == ANCHOR and n == "PacketSent"]
