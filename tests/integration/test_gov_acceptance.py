"""Acceptance (issue 10) on one real testnet of node processes under steady load, grown and
shrunk with the operator CLI only (`chainnode testnet add-node|remove-node`, `chainnode gov`):

1. (before the load starts, so proposal lifetimes are predictable) governance errors each have their own code (non-governor, double vote, vote after the
   decision, expired proposal, unsafe parameter), and a decided `view_timeout_ms` is what every
   node shows from the next block on;
2. 4 -> 5: after a view change (the frozen old leader adopts the new view), the fifth node
   starts as an observer, attests readiness, is voted in, and its signature is in certificates
   from h+1 on (it adopts the live view); then kill -9 of an original validator: the five
   commit on (the time from "decided" to "first signature" is printed); it is restarted;
3. 5 -> 4: that validator is voted out while it runs; certificates after the decision carry
   only signatures of the new set, which verify under it; it follows as an observer; on its
   stored chain, its genuine signature put in a current member's place is refused after the
   decision (and accepted before it);
4. a fresh node syncs from genesis across both validator-set changes and agrees on every block;
5. a validator voted out while it is down restarts believing it validates, is admitted as an
   observer, syncs past its removal and follows; its signature is in no later certificate.

One cluster is shared by the cases, in order (each builds on the previous one's chain).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest
from cluster import FAST_PARAMS, Load, LocalNet, NodeProc, get_json, wait_until
from integration_harness import run_cli

from chainnode.chain import Chain
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key, save_private_key
from chainnode.crypto.sm2 import PrivateKey, PublicKey
from chainnode.store.db import ChainDB
from chainnode.testnet import stop_pid

pytestmark = pytest.mark.slow

GOV = "sys.governance"
TTL = 12  # proposal lifetime of the test committee, in blocks
CLI_WAIT = 90.0


class Net:
    """The shared cluster plus what the cases hand on to each other."""

    def __init__(self, tn: LocalNet) -> None:
        self.tn = tn
        self.root = tn.root
        self.load: Load | None = None
        self.added: dict[str, dict] = {}  # name -> add-node result
        self.decided: list[int] = []  # heights of the validator-set decisions, in order

    def url(self, name: str) -> str:
        m = json.loads((self.root / "testnet.json").read_text())
        return next(n["rpc"] for n in m["nodes"] if n["name"] == name)

    def urls(self, skip: tuple[str, ...] = ()) -> list[str]:
        m = json.loads((self.root / "testnet.json").read_text())
        return [n["rpc"] for n in m["nodes"] if n["name"] not in skip]

    def cli(self, *args: str, check: bool = True):
        return run_cli(*args, timeout=CLI_WAIT + 30, check=check)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tn = LocalNet(tmp_path_factory.mktemp("govacc") / "tn", params=dict(FAST_PARAMS), n=4)
    n = Net(tn)
    try:
        tn.start()
        tn.wait_meshed()
        yield n
    finally:
        if n.load is not None:
            n.load.stop()
        # the processes `testnet add-node` started for us (also when it failed half-way)
        m = json.loads((n.root / "testnet.json").read_text())
        for entry in m["nodes"]:
            pidf = n.root / entry["name"] / "node.pid"
            if entry.get("added") and pidf.exists():
                stop_pid(int(pidf.read_text()))
        tn.stop_all()


def _rc(proc) -> dict:
    return json.loads(proc.stdout)["receipt"]


def _gov(net: Net, *args: str, key: str, url: str) -> dict:
    return _rc(net.cli("gov", *args, "--key", str(net.root / key), "--url", url, check=False))


def test_error_codes_and_a_param_change_at_h_plus_1(net):
    tn, url = net.tn, net.tn.nodes[0].url
    admin = tn.admin(tn.nodes[0])
    second, outsider = PrivateKey.generate(), PrivateKey.generate()
    save_private_key(net.root / "gov2.key", second)  # add-node finds governor keys here
    save_private_key(net.root / "outsider.key", outsider)
    for key in (second, outsider):
        assert admin.register(address_of(key.public_key), ["member"])["receipt"]["status"] == "ok"
    committee = {"governors": [[address_of(tn.admin_key.public_key), 1],
                               [address_of(second.public_key), 1]], "proposal_ttl_blocks": TTL}
    rc = admin.call(GOV, "propose", {"kind": "set-committee", "payload": committee})["receipt"]
    assert rc["value"]["status"] == "passed", rc  # the genesis committee is the admin alone

    def param(name: str, value: int) -> list[str]:
        return ["propose", "set-param", "--payload", json.dumps({"name": name, "value": value})]

    rc = _gov(net, *param("view_timeout_ms", 1500), key="outsider.key", url=url)
    assert rc["error_code"] == "GOV_NOT_GOVERNOR"
    rc = _gov(net, *param("max_tx_bytes", 1024), key="admin.key", url=url)
    assert rc["error_code"] == "GOV_UNSAFE_PARAM"
    rc = _gov(net, *param("view_timeout_ms", 1500), key="admin.key", url=url)
    pid = rc["value"]["id"]
    assert rc["value"]["status"] == "open"  # 1 of 2 governors: 50 % < 67 %
    assert _gov(net, "vote", str(pid), "yes", key="admin.key",
                url=url)["error_code"] == "GOV_ALREADY_VOTED"
    out = net.cli("gov", "vote", str(pid), "yes", "--key", str(net.root / "gov2.key"),
                  "--url", tn.nodes[1].url)
    decided = json.loads(out.stdout)["height"]
    assert _rc(out)["value"]["status"] == "passed"
    assert _gov(net, "vote", str(pid), "no", key="gov2.key",
                url=url)["error_code"] == "GOV_DECIDED"

    def everywhere() -> bool:  # every node shows the new value once it is past h
        for u in net.urls():
            gov, st = get_json(u + "/governance"), get_json(u + "/status")
            if not (gov and st and st["height"] > decided
                    and gov["params"]["view_timeout_ms"] == 1500):
                return False
        return True
    wait_until(everywhere, 30.0, "every node to show view_timeout_ms 1500 after h")

    rc = _gov(net, *param("block_interval_ms", 0), key="admin.key", url=url)
    late = rc["value"]["id"]
    expires = get_json(f"{url}/governance/proposals/{late}")["proposal"]["expires_at"]
    while (tn.nodes[0].height() or 0) <= expires:  # no load yet: blocks come from our txs
        tn.register_one(tn.nodes[0])
    assert _gov(net, "vote", str(late), "yes", key="gov2.key",
                url=url)["error_code"] == "GOV_EXPIRED"


def _cert(url: str, height: int) -> CommitCertificate:
    doc = get_json(f"{url}/blocks/{height}")
    assert doc is not None, f"no block {height} at {url}"
    return CommitCertificate.decode(bytes.fromhex(doc["certificate"]["wire"]))


def _signers_verify(cert: CommitCertificate, keys: list[bytes]) -> bool:
    """Every signature of `cert` verifies under the validator set `keys` (by index)."""
    for i, t, sig in cert.signatures:
        payload = vote_payload("commit", cert.chain_id, cert.view, cert.height, cert.block_hash,
                               t)
        if not (i < len(keys) and domain.verify(PublicKey(keys[i]), "commit", cert.chain_id,
                                                payload, sig)):
            return False
    return True


def test_fifth_validator_joins_as_observer_then_signs_from_h_plus_1(net):
    tn = net.tn
    net.load = Load(tn, targets=tn.nodes[:3])  # steady load from here on; never via node3
    net.load.start()
    # The network changes view before edge5 joins, so it must adopt that view to sign (a
    # node added later starts at view 0), and the frozen leader comes back behind in view.
    leader = tn.leader()
    others = [n for n in tn.nodes if n is not leader]
    leader.pause()
    try:
        wait_until(lambda: all((n.status() or {}).get("view", 0) >= 1 for n in others), 60.0,
                   lambda: f"a view change without {leader.name}: {tn.brief(others)}")
    finally:
        leader.resume()
    wait_until(lambda: all(s and s["view"] >= 1 for s in tn.statuses().values()), 60.0,
               lambda: f"{leader.name} to adopt the live view: {tn.brief()}")
    t0 = time.monotonic()
    out = net.cli("testnet", "add-node", "--dir", str(net.root), "--validator", "--name",
                  "edge5", "--timeout", str(CLI_WAIT))
    res = json.loads(out.stdout)
    net.added["edge5"] = res
    log = out.stderr
    # it followed as a caught-up observer and attested before the decision
    assert log.index("caught up") < log.index("attested ready") < log.index("voted in")
    assert res["ready_at"] < res["decided_at"] < res["first_signed"]
    h = res["decided_at"]
    net.decided.append(h)
    print(f"\nedge5: decided at {h}, first signature in block {res['first_signed']} (view "
          f"{_cert(tn.nodes[0].url, res['first_signed']).view}), "
          f"{res['seconds_to_first_signature']}s after the decision "
          f"(add-node took {time.monotonic() - t0:.1f}s)")
    st = get_json(net.url("edge5") + "/status")
    assert st["validator_index"] == 4
    members = st["validator_set"]["members"]
    assert [m["name"] for m in members][-1] == "edge5" and members[-1]["joined"] == h + 1
    # block h is signed by the old four only; from h+1 the five sign
    assert max(_cert(tn.nodes[0].url, h).signers) < 4
    keys5 = [bytes.fromhex(m["public_key"]) for m in members]
    assert _signers_verify(_cert(net.url("edge5"), res["first_signed"]), keys5)

    # kill -9 one original validator: four of five are a quorum, commits go on
    tn.nodes[3].kill9()
    assert net.load is not None
    net.load.wait_acks(3, 40.0)
    top = max(s["height"] for s in map(get_json, [u + "/status" for u in net.urls(("node3",))])
              if s)
    signers: set[int] = set()
    for height in range(h + 1, top + 1):
        signers |= set(_cert(net.url("edge5"), height).signers)
    assert 4 in signers and 3 in signers  # node3 signed before it was killed
    # it comes back as the validator it still is (the next case votes it out while it runs)
    tn.nodes[3].start()
    tn.nodes[3].wait_ready()
    target = get_json(net.url("edge5") + "/status")["height"]
    wait_until(lambda: (tn.nodes[3].height() or 0) >= target, 60.0, "node3 to catch up")


def test_validator_voted_out_stops_counting_and_follows_as_observer(net):
    tn = net.tn
    out = net.cli("testnet", "remove-node", "--dir", str(net.root), "--name", "node3",
                  "--timeout", str(CLI_WAIT))
    h = json.loads(out.stdout)["decided_at"]
    net.decided.append(h)
    url = tn.nodes[0].url
    st = get_json(url + "/status")
    names = [m["name"] for m in st["validator_set"]["members"]]
    assert names == ["node0", "node1", "node2", "edge5"]
    assert net.load is not None
    net.load.wait_acks(3, 40.0)
    # certificates after h carry only signatures that verify under the new set of four
    keys4 = [bytes.fromhex(m["public_key"]) for m in st["validator_set"]["members"]]
    node3_key = load_private_key(net.root / "node3" / "node.key")
    node3 = node3_key.public_key.raw
    top = get_json(url + "/status")["height"]
    for height in range(h + 1, top + 1):
        cert = _cert(url, height)
        assert len(cert.signatures) <= 4 and _signers_verify(cert, keys4), height
    assert node3 not in keys4
    # the removed validator follows as an observer
    target = get_json(url + "/status")["height"]
    wait_until(lambda: (tn.nodes[3].height() or 0) >= target, 60.0,
               "the removed node to follow the chain")
    st3 = tn.nodes[3].status()
    assert st3["validator_index"] is None and st3["height"] > h
    assert get_json(f"{tn.nodes[3].url}/blocks/{target}")["hash"] == get_json(
        f"{url}/blocks/{target}")["hash"]

    # on its own stored chain: node3's genuine signature in a current member's place is
    # refused after h, and accepted (it WAS a member) at h
    tn.nodes[3].stop()
    db = ChainDB(tn.nodes[3].home / "data" / "chain.ldb")
    try:
        chain = Chain(db, tn.genesis)
        for height, refused in ((h, False), (h + 2, True)):
            real = db.certificate(height)
            chain.check_certificate(real, height, real.block_hash)
            # at h node3 is validator 3: its signature there is genuine; after h index 3 is
            # edge5, and node3's signature in that place must not count
            t = real.signatures[0][1]
            sig3 = domain.sign(node3_key, "commit", real.chain_id, vote_payload(
                "commit", real.chain_id, real.view, height, real.block_hash, t))
            forged = dataclasses.replace(real, signatures=tuple(sorted(
                [v for v in real.signatures if v[0] != 3] + [(3, t, sig3)])))
            if refused:
                with pytest.raises(ValueError, match="does not verify"):
                    chain.check_certificate(forged, height, real.block_hash)
            else:
                chain.check_certificate(forged, height, real.block_hash)
    finally:
        db.close()


def test_fresh_node_syncs_from_genesis_across_two_set_changes(net):
    assert len(net.decided) == 2, "needs the add and the remove before it"
    out = net.cli("testnet", "add-node", "--dir", str(net.root), "--name", "fresh",
                  "--timeout", str(CLI_WAIT))
    net.added["fresh"] = json.loads(out.stdout)
    assert re.search(r"fresh: caught up at height (\d+)", out.stderr)
    fresh, ref = net.url("fresh"), net.tn.nodes[0].url
    top = get_json(fresh + "/status")["height"]
    assert top > max(net.decided)
    for height in sorted({1, *net.decided, *(d + 1 for d in net.decided), top}):
        assert get_json(f"{fresh}/blocks/{height}")["hash"] == get_json(
            f"{ref}/blocks/{height}")["hash"], height
    # the observer's own attestation, by the CLI; and `testnet status` lists the added nodes
    rc = _rc(net.cli("node", "ready", "--home", str(net.root / "fresh"), "--url", ref))
    assert rc["status"] == "ok" and rc["value"]["valid_until"] > top
    listed = net.cli("testnet", "status", "--dir", str(net.root), check=False).stdout
    assert "edge5: height" in listed and "fresh: height" in listed


def test_validator_removed_while_down_comes_back_as_observer(net):
    """edge5 is stopped, then voted out (forced: 4 -> 3 lowers f). Restarted, its chain ends
    before the removal and it claims `validator` in the handshake: the others admit it as an
    observer (never ban it), it syncs past the removal, finds itself an observer, and no
    certificate after the decision carries its signature."""
    tn = net.tn
    home = net.root / "edge5"
    stop_pid(int((home / "node.pid").read_text()))
    stored = max(n.height() or 0 for n in tn.nodes[:3])  # >= edge5's head when it stopped
    out = net.cli("testnet", "remove-node", "--dir", str(net.root), "--name", "edge5",
                  "--force", "--timeout", str(CLI_WAIT))
    h = json.loads(out.stdout)["decided_at"]
    assert h > stored  # its chain ends before the removal: it restarts as validator 4
    edge5 = NodeProc("edge5", 4, home, net.url("edge5"))
    edge5.start()  # writes node.pid: the fixture stops it
    edge5.wait_ready()
    assert net.load is not None
    net.load.wait_acks(3, 40.0)
    url = tn.nodes[0].url
    target = get_json(url + "/status")["height"]
    wait_until(lambda: (edge5.height() or 0) >= target, 60.0,
               lambda: f"edge5 to follow past the removal:\n{edge5.log_tail()}")
    st = edge5.status()
    assert st["validator_index"] is None and st["height"] > h
    assert edge5.block(target)["hash"] == get_json(f"{url}/blocks/{target}")["hash"]
    members = get_json(url + "/status")["validator_set"]["members"]
    keys3 = [bytes.fromhex(m["public_key"]) for m in members]
    assert [m["name"] for m in members] == ["node0", "node1", "node2"]
    for height in range(h + 1, target + 1):
        cert = _cert(url, height)
        assert len(cert.signatures) <= 3 and _signers_verify(cert, keys3), height
    assert "admitted as observer" in "".join(n.log_text() for n in tn.nodes[:3])
