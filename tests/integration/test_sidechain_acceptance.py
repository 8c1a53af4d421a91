"""Issue 11's last two acceptance points with real processes: main + one edge chain (each one
validator, so governance by the sole admin decides at once) and a running relayer.

1. The edge changes its validator set by governance (1 -> 2 by add-node --validator) while
   the relayer runs: main's client follows, packets keep flowing, and a header signed by the
   old set after the change is refused by main's sys.anchor. Then 2 -> 1 -> 2 (remove-node,
   add-node) while no packet needs the client moved: the header of every change is still
   served with its set, and the relayer crosses both changes at once.
2. Two conflicting certified headers for one edge height (re-signed by a test-only signer
   holding the edge validators' keys) freeze main's client; a relay is refused as frozen;
   a recover-client proposal unfreezes it and the packets sent meanwhile arrive, once each.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest
from cluster import wait_until
from test_relay import Net, running_sides

from chainnode import codec, testnet_join, testnet_sides
from chainnode.anchor import packets as pk
from chainnode.anchor.lightclient import ClientState, valset_hash
from chainnode.client import Client
from chainnode.core.block import BlockHeader
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.keyfile import load_private_key

pytestmark = pytest.mark.slow
MAIN, EDGE = testnet_sides.MAIN_ID, "district-1"
ANCHOR = "sys.anchor"
WAIT = 60.0
RELAYER_ARGS = ("--backoff-max", "2", "--interval", "0.2")


class Sides(Net):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.edge_dir = root / "edge-1"
        self.main_url = self.admin["main"].url
        self.edge_url = self.admin["edge-1"].url
        self.relayer = Client(self.main_url, load_private_key(root / "relayer-1" / "relayer.key"))
        self.node0_key = load_private_key(self.edge_dir / "node0" / "node.key")

    def edge_keys(self) -> dict:
        """Public key -> private key of every node of the edge testnet."""
        keys = [load_private_key(p) for p in sorted(self.edge_dir.glob("node*/node.key"))]
        return {k.public_key.raw: k for k in keys}

    def client_state(self) -> ClientState:
        """main's light client of the edge, as stored in main's state."""
        doc = self.admin["main"].get(
            f"/state/{ANCHOR}/_?key_hex={codec.encode(['client', EDGE]).hex()}")
        return ClientState.from_wire(codec.decode(bytes.fromhex(doc["value_hex"])))

    def edge_header(self, h: int) -> dict:
        return self.admin["edge-1"].get(f"/anchor/header/{h}")

    def anchor_tx(self, method: str, args: dict) -> dict:
        """A sys.anchor transaction on main by the relayer's key; its receipt."""
        tx = self.relayer.build("system", ANCHOR, method, args, gas_limit=20_000_000)
        return self.relayer.submit(tx)["receipt"]


def _wire(doc: dict, name: str):
    return codec.decode(bytes.fromhex(doc[name]))


def _signed(header: BlockHeader, keys: list) -> list:
    """A commit certificate of `header` by `keys` (validator indexes 0..), as the edge's
    validators would sign it: the test-only signer."""
    t = int(time.time() * 1000)
    votes = []
    for i, k in enumerate(keys):
        payload = vote_payload("commit", EDGE, 0, header.height, header.hash(), t)
        votes.append((i, t, domain.sign(k, "commit", EDGE, payload)))
    return CommitCertificate(EDGE, header.height, 0, header.hash(), tuple(votes)).to_wire()


def _hex_set(vals: list) -> list:
    return [[n, bytes.fromhex(k)] for n, k in vals]


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    with running_sides(tmp_path_factory.mktemp("sidegov"), 1, [1], 200, RELAYER_ARGS,
                       Sides) as s:
        yield s


def _follows(s: Sides, after: int, vhash: bytes) -> ClientState | None:
    c = s.client_state()
    return c if c.latest.height > after and valset_hash(c.validators) == vhash else None


def test_edge_validator_set_change_is_followed_and_old_set_refused(sides):
    s = sides
    old = s.client_state()
    old_set = old.validators
    assert len(old_set) == 1 and s.edge_header(1)["header"]["validators_hash"] == \
        valset_hash(old_set).hex()
    # 1 -> 2 by governance on the edge while the relayer runs
    added = testnet_join.add_node(s.edge_dir, validator=True, timeout=WAIT, out=io.StringIO())
    d1 = added["decided_at"]
    doc = s.edge_header(d1)
    two = _hex_set(doc["next_validators"])
    assert len(two) == 2 and valset_hash(tuple(map(tuple, two))).hex() == \
        doc["header"]["next_validators_hash"]
    s.send("edge-1", "main", 5)
    s.send("main", "edge-1", 5)
    c = wait_until(lambda: _follows(s, d1, valset_hash(tuple(map(tuple, two)))), WAIT,
                   "main's client to pass the set change")
    wait_until(lambda: s.delivered("edge-1", "main", 5), WAIT, "edge -> main after the change")
    wait_until(lambda: s.delivered("main", "edge-1", 5), WAIT, "main -> edge after the change")
    s.exactly_once("edge-1", "main", 5)
    s.exactly_once("main", "edge-1", 5)

    # the old set (node0 alone) certifies a header after the change, as if nothing changed
    template = BlockHeader.from_wire(_wire(s.edge_header(c.latest.height), "header_hex"))
    forged = replace(template, height=c.latest.height + 50, timestamp_ms=int(time.time() * 1000),
                     validators_hash=valset_hash(old_set), next_validators_hash=valset_hash(
                         old_set))
    rc = s.anchor_tx("update", {"chain_id": EDGE, "header": forged.to_wire(),
                                "certificate": _signed(forged, [s.node0_key]),
                                "validators": None})
    assert (rc["status"], rc["error_code"]) == ("failed", "ANCHOR_VALSET_MISMATCH"), rc
    # ... or naming the new set: one old key is short of the new set's quorum
    claims_new = replace(forged, validators_hash=c.latest.next_validators_hash,
                         next_validators_hash=c.latest.next_validators_hash)
    rc = s.anchor_tx("update", {"chain_id": EDGE, "header": claims_new.to_wire(),
                                "certificate": _signed(claims_new, [s.node0_key]),
                                "validators": None})
    assert (rc["status"], rc["error_code"]) == ("failed", "ANCHOR_NO_QUORUM"), rc
    assert s.client_state().latest.height < forged.height

    # 2 -> 1 -> 2 while no packet needs the client moved (the relayer leaves it idle): every
    # change is still served with the set it announced, and the relayer crosses both at once
    idle = s.client_state().latest.height
    removed = testnet_join.remove_node(s.edge_dir, added["name"], timeout=WAIT,
                                       out=io.StringIO())
    d2 = removed["decided_at"]
    readded = testnet_join.add_node(s.edge_dir, validator=True, timeout=WAIT, out=io.StringIO())
    d3 = readded["decided_at"]
    assert _hex_set(s.edge_header(d1)["next_validators"]) == two  # no longer in state
    assert _hex_set(s.edge_header(d2)["next_validators"]) == [list(v) for v in old_set]
    last = _hex_set(s.edge_header(d3)["next_validators"])
    assert len(last) == 2 and last != two
    assert s.client_state().latest.height == idle < d2
    s.send("edge-1", "main", 2)  # the relayer moves a client when packets need it
    wait_until(lambda: _follows(s, d3, valset_hash(tuple(map(tuple, last)))), WAIT,
               "main's client to cross both later changes")
    wait_until(lambda: s.delivered("edge-1", "main", 7), WAIT, "edge -> main after them")
    s.exactly_once("edge-1", "main", 7)


def test_conflicting_headers_freeze_the_client_until_recovered(sides):
    s = sides
    base_up = s.stats("edge-1", "main")["sent"]
    c = s.client_state()
    h = c.latest.height  # anchored, signed by the set the client trusts there
    assert h > 1 and valset_hash(c.validators) == c.latest.next_validators_hash
    vals = [list(v) for v in c.validators]
    keys = s.edge_keys()
    signers = [keys[k] for _, k in vals]  # the test-only signer: every edge validator's key
    real = s.edge_header(h)
    fork = replace(BlockHeader.from_wire(_wire(real, "header_hex")), state_root=sm3(b"fork"))
    evidence = [[_wire(real, "header_hex"), _wire(real, "certificate_hex"), vals],
                [fork.to_wire(), _signed(fork, signers), vals]]
    rc = s.anchor_tx("misbehaviour", {"chain_id": EDGE, "evidence": evidence})
    assert rc["status"] == "ok" and rc["value"]["result"] == "frozen", rc
    doc = s.admin["main"].get(f"/anchor/clients/{EDGE}")
    assert doc["status"] == "frozen" and doc["frozen_height"] == h
    assert doc["evidence"]["kind"] == "fork"

    # packets stop: the relayer reports the client blocked, a relay by hand is refused
    s.send("edge-1", "main", 3)
    port = s.relayers["relayer-1"]["metrics_port"]
    wait_until(lambda: any("frozen" in b for b in s.relay_status(port)["blocked"]), WAIT,
               "the relayer to report the frozen client")
    pend = s.admin["edge-1"].get(f"/anchor/packets/{MAIN}")["packets"][0]
    key = codec.encode(pk.commit_key(MAIN, pend["sequence"])).hex()
    proof = s.admin["edge-1"].get(f"/anchor/proof/state?contract={ANCHOR}&key_hex={key}")
    rc = s.anchor_tx("recv", {"packet": _wire(pend, "packet_hex"), "height": h,
                              "proof": bytes.fromhex(proof["proof_hex"])})
    assert (rc["status"], rc["error_code"]) == ("failed", "ANCHOR_FROZEN"), rc
    assert s.stats("main", "edge-1")["count"] == base_up

    # recovery by governance on main with a newer trusted header
    top = s.admin["edge-1"].height()
    new = s.edge_header(top)
    testnet_join.decide(s.root / "main", s.main_url, "recover-client",
                        {"chain_id": EDGE, "header_hex": new["header_hex"],
                         "validators": [[n, k.hex()] for n, k in vals]}, out=io.StringIO())
    assert s.admin["main"].get(f"/anchor/clients/{EDGE}")["status"] == "active"
    wait_until(lambda: s.delivered("edge-1", "main", base_up + 3), WAIT,
               "packets sent while frozen to arrive after recovery")
    s.exactly_once("edge-1", "main", base_up + 3)
