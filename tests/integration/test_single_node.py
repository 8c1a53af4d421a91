"""Acceptance: a one-validator testnet made and run with the CLI commits SM2-signed transactions,
certifies every block, serves verifiable state proofs, metrics and its OpenAPI description."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from integration_harness import http, run_cli, wait_until

from chainnode import codec
from chainnode.client import ProofError, verify_state_doc
from chainnode.core.block import BlockHeader
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.core.tx import Transaction
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.merkle import merkle_root
from chainnode.crypto.sm2 import PrivateKey, PublicKey
from chainnode.store.db import state_key_hash
from chainnode.store.smt import EMPTY_ROOT, MemoryNodeStore, SmtProof, SparseMerkleTree

N_TXS = 1000
WORKERS = 16


def commit_verifier(genesis, keys: list[bytes] | None = None):
    """verify(index, payload, sig) over the 'commit' domain with the genesis validator keys."""
    pubs = keys if keys is not None else [v.public_key for v in genesis.validators]

    def verify(i: int, payload: bytes, sig: bytes) -> bool:
        return domain.verify(PublicKey(pubs[i]), "commit", genesis.chain_id, payload, sig)

    return verify


def register_tx(client, address: str, height: int, name: str = ""):
    return client.build("system", "sys.members", "register",
                        {"address": address, "roles": ["member"], "name": name},
                        height=height, expires_in=900, gas_limit=100_000)


def test_thousand_concurrent_registrations_commit_in_certified_blocks(single_node):
    net = single_node
    client = net.client()
    h0 = client.height()
    assert h0 == 0
    addresses = [secrets.token_hex(20) for _ in range(N_TXS)]
    txs = [register_tx(client, a, h0, f"meter-{i}") for i, a in enumerate(addresses)]
    assert len({tx.hash for tx in txs}) == N_TXS

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda tx: client.submit(tx, wait=True, timeout=60), txs))

    for tx, addr, res in zip(txs, addresses, results, strict=True):
        assert res["hash"] == tx.hash.hex()
        assert res["status"] == "committed"
        rc = res["receipt"]
        assert rc["status"] == "ok", rc
        assert rc["events"] == [{"contract": "sys.members", "name": "MemberRegistered",
                                 "fields": {"address": addr, "roles": ["member"]}}]

    # every receipt is retrievable by GET /tx/{hash}
    def fetch(tx):
        return client.tx(tx.hash.hex())

    with ThreadPoolExecutor(WORKERS) as pool:
        docs = list(pool.map(fetch, txs))
    located: dict[str, tuple[int, int]] = {}
    for tx, doc in zip(txs, docs, strict=True):
        assert doc["status"] == "committed"
        assert doc["receipt"]["status"] == "ok"
        assert doc["receipt"]["tx_hash"] == tx.hash.hex()
        assert doc["tx"]["hash"] == tx.hash.hex()
        assert doc["tx"]["signature"] == tx.signature.hex()
        assert doc["tx"]["sender"] == address_of(net.admin_key.public_key)
        located[tx.hash.hex()] = (doc["height"], doc["index"])
    # a tx's tx_root leaf, as a client recomputes it from GET /tx/{hash}: id and signature
    leaf_of = {doc["tx"]["hash"]: sm3(Transaction.WITNESS_TAG + bytes.fromhex(doc["tx"]["hash"])
                                      + bytes.fromhex(doc["tx"]["signature"])) for doc in docs}

    # every block links to its parent and carries a certificate that verifies against the
    # genesis validator key in the "commit" domain
    status = client.status()
    head = status["height"]
    assert head >= 1
    verify = commit_verifier(net.genesis)
    prev_hash = net.genesis.hash()
    in_blocks: list[str] = []
    header = None
    for h in range(1, head + 1):
        b = client.block(h)
        header = BlockHeader.from_wire(codec.decode(bytes.fromhex(b["header_wire"])))
        assert header.height == h
        assert header.chain_id == net.chain_id
        assert header.hash().hex() == b["hash"] == b["header"]["hash"]
        assert header.prev_hash == prev_hash
        assert header.tx_root == merkle_root([leaf_of[x] for x in b["tx_hashes"]])
        cert = CommitCertificate.decode(bytes.fromhex(b["certificate"]["wire"]))
        cert.check(len(net.genesis.validators), verify, chain_id=net.chain_id, height=h,
                   block_hash=header.hash())
        for i, th in enumerate(b["tx_hashes"]):
            assert located.get(th, (h, i)) == (h, i)
        in_blocks += b["tx_hashes"]
        prev_hash = header.hash()
    assert sorted(in_blocks) == sorted(located)  # exactly our txs, each once
    assert status["head_hash"] == prev_hash.hex()
    assert status["state_root"] == header.state_root.hex()
    assert status["mempool"] == 0

    # the certificate check is not vacuous: another key, or another block, does not verify
    stranger = PrivateKey.generate().public_key.raw
    with pytest.raises(ValueError, match="does not verify"):
        cert.check(1, commit_verifier(net.genesis, [stranger]), chain_id=net.chain_id)
    with pytest.raises(ValueError, match="another block"):
        cert.check(1, verify, block_hash=header.prev_hash)

    # the registered members are in verified state
    for addr in (addresses[0], addresses[-1]):
        st = client.state("sys.members", addr, net.genesis)
        assert st.exists and st.value["roles"] == ["member"] and st.value["active"] is True

    m = net.metrics()
    assert m["chainnode_height"] == head
    assert m["chainnode_txs_committed_total"] == N_TXS
    assert m["chainnode_mempool_size"] == 0


# -- state proofs ---------------------------------------------------------------------------

def _state_doc(net, contract: str, raw_key: bytes) -> dict:
    status, doc = net.http("GET", f"/state/{contract}/_?key_hex={raw_key.hex()}&prove=1")
    assert status == 200, doc
    return doc


def _proof(doc: dict) -> SmtProof:
    return SmtProof.from_wire(codec.decode(bytes.fromhex(doc["proof"])))


def _with_proof(doc: dict, proof: SmtProof) -> dict:
    return {**doc, "proof": codec.encode(proof.to_wire()).hex()}


def _header(doc: dict) -> BlockHeader:
    return BlockHeader.from_wire(codec.decode(bytes.fromhex(doc["header_wire"])))


def _with_header(doc: dict, header: BlockHeader) -> dict:
    return {**doc, "header_wire": codec.encode(header.to_wire()).hex()}


def _flip(b: bytes, i: int = -1) -> bytes:
    a = bytearray(b)
    a[i] ^= 0x01
    return bytes(a)


def _forge(net, signer: PrivateKey, contract: str, raw_key: bytes, value: object,
           base_header: BlockHeader) -> dict:
    """A self-consistent answer for a made-up state: a one-leaf tree holding `value`, a header
    with that root, and a certificate signed by `signer` as validator 0."""
    value_raw = codec.encode(value)
    kh = state_key_hash(contract, raw_key)
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    root, nodes = tree.update(EMPTY_ROOT, {kh: sm3(value_raw)})
    store.put_nodes(nodes)
    proof = tree.prove(root, kh)
    w = base_header.to_wire()
    w[8] = root
    header = BlockHeader.from_wire(w)
    payload = vote_payload("commit", net.chain_id, header.view, header.height, header.hash(),
                           header.timestamp_ms)
    sig = domain.sign(signer, "commit", net.chain_id, payload)
    cert = CommitCertificate(net.chain_id, header.height, header.view, header.hash(),
                             ((0, header.timestamp_ms, sig),))
    return {"contract": contract, "key_hex": raw_key.hex(), "exists": True,
            "height": header.height, "value_hex": value_raw.hex(), "value": None,
            "proof": codec.encode(proof.to_wire()).hex(),
            "header_wire": codec.encode(header.to_wire()).hex(),
            "certificate": cert.encode().hex()}


def test_state_proofs_verify_and_every_tampering_is_caught(single_node):
    net = single_node
    g = net.genesis
    client = net.client()
    addr = address_of(PrivateKey.generate().public_key)
    res = client.register(addr, ["member", "auditor"], name="substation-7")
    assert res["receipt"]["status"] == "ok"
    # one more block, so the proof is against a header after the one that wrote the value
    client.register(secrets.token_hex(20), ["member"])

    # inclusion and non-inclusion verify through the SDK against the certified header
    st = client.state("sys.members", addr, g)
    assert st.exists
    assert st.value["roles"] == ["auditor", "member"]
    assert st.value["name"] == "substation-7"
    assert st.height == client.height() == 2
    assert st.state_root.hex() == client.block(st.height)["header"]["state_root"]
    raw_key = codec.encode(addr)
    doc = _state_doc(net, "sys.members", raw_key)
    # an absent key whose non-inclusion proof differs from addr's inclusion proof: in a small
    # tree the absent path can end at addr's own leaf, and then the two proofs are identical
    # (swapping them would be no tampering at all)
    for _ in range(64):
        absent_addr = secrets.token_hex(20)
        if _state_doc(net, "sys.members", codec.encode(absent_addr))["proof"] != doc["proof"]:
            break
    else:
        raise AssertionError("no absent key with a distinct proof in 64 tries")
    absent = client.state("sys.members", absent_addr, g)
    assert not absent.exists and absent.value is None
    assert absent.state_root == st.state_root

    assert verify_state_doc(doc, "sys.members", raw_key, g).value == st.value
    absent_key = codec.encode(absent_addr)
    adoc = _state_doc(net, "sys.members", absent_key)
    assert adoc["exists"] is False
    assert verify_state_doc(adoc, "sys.members", absent_key, g).exists is False

    value = codec.decode(bytes.fromhex(doc["value_hex"]))
    forged_value = {**value, "roles": ["admin", "member"]}
    proof = _proof(doc)
    header = _header(doc)
    cert = CommitCertificate.decode(bytes.fromhex(doc["certificate"]))
    assert proof.leaf is not None and proof.siblings

    prev_block = client.block(header.height - 1)
    other_header = BlockHeader.from_wire(codec.decode(bytes.fromhex(prev_block["header_wire"])))
    tw = header.to_wire()
    tw[3] += 1  # timestamp
    retimed_header = BlockHeader.from_wire(tw)
    rw = header.to_wire()
    rw[8] = sm3(b"another state root")
    rerooted_header = BlockHeader.from_wire(rw)
    sibling_flipped = SmtProof(proof.leaf, tuple(
        _flip(s) if i == len(proof.siblings) - 1 else s for i, s in enumerate(proof.siblings)))
    forged_leaf = SmtProof((proof.leaf[0], sm3(codec.encode(forged_value))), proof.siblings)
    stranger = PrivateKey.generate()

    def resigned(signer: PrivateKey, index: int = 0) -> str:
        t = cert.signatures[0][1]
        payload = vote_payload("commit", net.chain_id, cert.view, cert.height, cert.block_hash,
                               t)
        sig = domain.sign(signer, "commit", net.chain_id, payload)
        return CommitCertificate(cert.chain_id, cert.height, cert.view, cert.block_hash,
                                 ((index, t, sig),)).encode().hex()

    def with_sigs(sigs) -> str:
        return CommitCertificate(cert.chain_id, cert.height, cert.view, cert.block_hash,
                                 tuple(sigs)).encode().hex()

    wrong_domain_sig = domain.sign(
        load_private_key(net.home / "node.key"), "prepare", net.chain_id,
        vote_payload("prepare", net.chain_id, cert.view, cert.height, cert.block_hash))

    tampered = {
        # value
        "value changed": {**doc, "value_hex": codec.encode(forged_value).hex()},
        "value changed with matching leaf": _with_proof(
            {**doc, "value_hex": codec.encode(forged_value).hex()}, forged_leaf),
        "value hidden": {k: v for k, v in {**doc, "exists": False}.items()
                         if k != "value_hex"},
        # proof
        "proof sibling flipped": _with_proof(doc, sibling_flipped),
        "proof sibling dropped": _with_proof(doc, SmtProof(proof.leaf, proof.siblings[:-1])),
        "proof of the absent key": {**doc, "proof": adoc["proof"]},
        "proof garbage": {**doc, "proof": "c1"},
        # header
        "header timestamp changed": _with_header(doc, retimed_header),
        "header state root changed": _with_header(doc, rerooted_header),
        "header of the previous block": _with_header(doc, other_header),
        # certificate
        "certificate signature flipped": {**doc, "certificate": with_sigs(
            [(i, t, _flip(s, 5)) for i, t, s in cert.signatures])},
        "certificate vote time changed": {**doc, "certificate": with_sigs(
            [(i, t + 1, s) for i, t, s in cert.signatures])},
        "certificate signed by a stranger": {**doc, "certificate": resigned(stranger)},
        "certificate without signatures": {**doc, "certificate": with_sigs([])},
        "certificate index out of range": {**doc, "certificate": with_sigs(
            [(1, t, s) for _, t, s in cert.signatures])},
        "certificate in the prepare domain": {**doc, "certificate": with_sigs(
            [(0, cert.signatures[0][1], wrong_domain_sig)])},
        "certificate of the previous block": {
            **doc, "certificate": prev_block["certificate"]["wire"]},
        # a complete, self-consistent forgery, signed by someone who is not the validator
        "forged state signed by a stranger": _forge(net, stranger, "sys.members", raw_key,
                                                    forged_value, header),
    }
    for name, bad in tampered.items():
        with pytest.raises(ProofError):
            verify_state_doc(bad, "sys.members", raw_key, g)
            pytest.fail(f"tampering not detected: {name}")

    # non-inclusion answers cannot be turned into inclusion, or broken
    for name, bad in {
        "absent claimed present": {**adoc, "exists": True,
                                   "value_hex": codec.encode(forged_value).hex()},
        "absent proof flipped": _with_proof(adoc, SmtProof(
            _proof(adoc).leaf, tuple(_flip(s) for s in _proof(adoc).siblings))),
        "absent certificate by stranger": {**adoc, "certificate": resigned(stranger)},
    }.items():
        with pytest.raises(ProofError):
            verify_state_doc(bad, "sys.members", absent_key, g)
            pytest.fail(f"tampering not detected: {name}")

    # answers do not transfer to another key or another contract
    with pytest.raises(ProofError):
        verify_state_doc(doc, "sys.members", absent_key, g)
    with pytest.raises(ProofError):
        verify_state_doc(doc, "sys.contracts", raw_key, g)

    # positive control: the same forgery signed with the real validator key WOULD verify, so the
    # stranger forgery above failed on its signature alone
    node_key = load_private_key(net.home / "node.key")
    forged_ok = _forge(net, node_key, "sys.members", raw_key, forged_value, header)
    assert verify_state_doc(forged_ok, "sys.members", raw_key, g).value == forged_value


# -- metrics and OpenAPI --------------------------------------------------------------------

def test_metrics_report_height_commits_and_mempool(single_node):
    net = single_node
    client = net.client()
    m0 = net.metrics()
    assert m0["chainnode_height"] == 0
    assert m0["chainnode_txs_committed_total"] == 0
    assert m0["chainnode_mempool_size"] == 0
    status, text = http("GET", net.url + "/metrics")
    assert "# TYPE chainnode_height gauge" in text
    assert "# TYPE chainnode_txs_committed_total counter" in text
    assert "# TYPE chainnode_mempool_size gauge" in text

    h = client.height()
    txs = [register_tx(client, secrets.token_hex(20), h) for _ in range(40)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda tx: client.submit(tx, wait=True), txs))
    # a tx from a non-member is refused at admission: counted by code, not committed
    outsider = net.client(PrivateKey.generate())
    status, body = net.http("POST", "/tx", register_tx(outsider, secrets.token_hex(20),
                                                       h).encode())
    assert status == 403 and body["error"]["code"] == "TX_NOT_MEMBER"

    m = net.metrics()
    st = net.status()
    assert m["chainnode_height"] == st["height"] == client.height() > 0
    assert m["chainnode_txs_committed_total"] == 40
    assert m["chainnode_blocks_committed_total"] == st["height"]
    assert m["chainnode_txs_failed_total"] == 0
    assert m["chainnode_mempool_size"] == st["mempool"] == 0
    assert m['chainnode_tx_rejected_total{code="TX_NOT_MEMBER"}'] == 1

    # a tx posted without waiting is counted once it commits
    tx = register_tx(client, secrets.token_hex(20), client.height())
    status, body = net.http("POST", "/tx", tx.encode())
    assert status == 202 and body == {"hash": tx.hash.hex(), "status": "pending"}
    wait_until(lambda: client.tx(tx.hash.hex())["status"] == "committed", 20, "commit")
    m2 = net.metrics()
    assert m2["chainnode_txs_committed_total"] == 41
    assert m2["chainnode_mempool_size"] == 0
    assert m2["chainnode_height"] == client.height()


# the OpenAPI document against the router: tests/integration/test_openapi_fuzz.py


def test_testnet_up_status_down_with_the_cli(tmp_path, procs):
    from integration_harness import init_single_node

    net = init_single_node(tmp_path / "tn", procs, start=False)
    root = str(net.root)
    try:
        out = run_cli("testnet", "up", "--dir", root, "--timeout", "30").stdout
        pid = int((net.home / "node.pid").read_text())
        procs.extra_pids.append(pid)  # stopped in teardown even if an assertion fails below
        assert f"started pid {pid}" in out and "ready at" in out
        st = run_cli("testnet", "status", "--dir", root)
        assert "node0: height 0" in st.stdout
        res = net.client().register(secrets.token_hex(20), ["member"])
        assert res["receipt"]["status"] == "ok"
        st = run_cli("testnet", "status", "--dir", root)
        assert "node0: height 1" in st.stdout
        assert json.loads(run_cli("testnet", "status", "--dir", root, "--json").stdout)[0][
            "height"] == 1
        # `chainnode status`: a table for people, the /status object with --json
        table = run_cli("status", "--url", net.url).stdout.splitlines()
        assert table[0].split()[:2] == ["chain", net.chain_id]
        assert ["height", "1"] in [ln.split()[:2] for ln in table]
        assert "validators (1)" in table and any("node0" in ln for ln in table)
        raw = json.loads(run_cli("status", "--url", net.url, "--json").stdout)
        assert raw["height"] == 1 and raw["chain_id"] == net.chain_id
        # `up` again is a no-op for a running node
        again = run_cli("testnet", "up", "--dir", root, "--timeout", "30").stdout
        assert f"already running (pid {pid})" in again
    finally:
        down = run_cli("testnet", "down", "--dir", root, check=False)
    assert down.returncode == 0, down.stderr
    assert "stopped pid" in down.stdout
    assert not (net.home / "node.pid").exists()
    wait_until(lambda: net.node.status() is None, 10, "RPC to go away")
    st = run_cli("testnet", "status", "--dir", root, check=False)
    assert st.returncode == 1 and "DOWN" in st.stdout
