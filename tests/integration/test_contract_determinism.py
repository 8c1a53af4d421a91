"""Contract execution is deterministic across processes, hash seeds and nodes.

1. The same blocks (deploys of the three power contracts and test contracts, batches of calls,
   failures, out-of-gas, freeze/upgrade) are executed by chainnode.exec.executor.Executor on
   fresh ChainDBs in child processes with different PYTHONHASHSEED values, one of them with a
   fresh Executor (empty compile cache) for every block: encoded receipts, receipt roots, state
   roots and view results must be byte-identical, and the gas of fixed calls the same.
2. Two real single-validator nodes started from one genesis with different PYTHONHASHSEED get
   the same signed transactions, each in its own block: after every step they report the same
   height, the same receipt for the transaction and the same state root.

(The file is not called test_vm_determinism.py: tests/unit/vm/ has a module of that name and
pytest's default import mode refuses two test modules with one basename.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from integration_harness import NodeProcess, free_base_port, init_single_node, wait_until

from chainnode import codec
from chainnode.client import Client
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.crypto.sm2 import PrivateKey

REPO = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO / "contracts"
SEEDS = ("1", "2718281", "random")

# 2025-03-03 is a Monday; 02:00 UTC is 10:00 in the contracts' default UTC+8, inside the
# billing contract's cut window, so cost control really runs.
T0 = 1_740_960_000_000
HOUR = 3_600_000
DAY = 24 * HOUR

MIX = '''
idx = Map("idx")


def init(names):
    for n in names:
        idx[n] = len(n)
    storage.set("names", names)


@export
def mix(words):
    d = {}
    for w in words:
        d[w] = d.get(w, 0) + 1
    keys = [k for k in d]
    emit("Counted", keys=keys, total=sum(d.values()))
    storage.set(("count", words[0]), d)
    for k in sorted(d):
        storage.set(("w", k), d[k] * 1000003 ** 3)
    nested = {"b": {"y": [1, 2], "x": (3, "z")}, "a": d}
    return {"keys": keys, "sorted": sorted(d.items()), "h": sm3(str(d)),
            "s": f"{keys} {d} {nested}", "idx": [idx[k] for k in keys],
            "other": call("ledger_x", "read", k="x")}


@export
def poke(target):
    return call(target, "put", k="poked", v=1)


@export
def bad_key():
    d = {"x": 1}
    return d["missing"]


@export
def spin():
    n = 0
    while True:
        n = n + 1


@view
def count_of(word):
    return storage.get(("w", word))
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
    require(False, "DELIBERATE", "fails after writing " + k)


@view
def read(k):
    return storage.get(("kv", k))
'''


# -- the executor scenario -----------------------------------------------------------------

class Keys:
    def __init__(self) -> None:
        self.validator, self.admin, self.operator, self.member = (PrivateKey.generate()
                                                                  for _ in range(4))

    def genesis(self) -> Genesis:
        return Genesis("determinism", T0, (Validator("node0", self.validator.public_key.raw),),
                       (Member(address_of(self.admin.public_key), ("admin", "operator"), "adm"),
                        Member(address_of(self.operator.public_key), ("operator",), "ops"),
                        Member(address_of(self.member.public_key), ("member",), "mem")), {})


def _blocks(k: Keys) -> list[dict]:
    chain = "determinism"

    def tx(key, kind, contract, method, args, gas=5_000_000):
        return build_tx(key, chain, kind, contract, method, args, expires_at=100,
                        gas_limit=gas).encode().hex()

    def deploy(name, source, init_args=None, key=None):
        return tx(key or k.admin, "deploy", name, "deploy",
                  {"source": source, "init_args": init_args or {}}, 20_000_000)

    def call(contract, method, args, key=None, gas=5_000_000):
        return tx(key or k.admin, "call", contract, method, args, gas)

    def sys(method, args, key=None):
        return tx(key or k.admin, "system", "sys.contracts", method, args, 100_000)

    src = {n: (CONTRACTS_DIR / f"{n}.py").read_text() for n in
           ("billing", "reconciliation", "district")}
    customers = [{"customer": f"c{i}", "name": f"customer {i}", "balance": b,
                  "protected": i == 3} for i, b in enumerate([100_000, 2_000, 50_000, 1_000,
                                                             7_000])]
    meters = [{"meter": f"m{i}", "customer": f"c{i}", "ct": 1 + i % 2, "reading": 1000 * i}
              for i in range(5)]
    readings = [{"meter": f"m{i}", "value": 1000 * i + 500 + 37 * i} for i in range(5)]
    words = ["kwh", "meter", "fen", "kwh", "zeta", "alpha", "meter", "kwh", "中文", "β"]
    return [
        {"height": 1, "ts": T0 + 2 * HOUR, "txs": [
            deploy("billing", src["billing"], {"warn_threshold": 3000, "holidays": [20250505]}),
            deploy("reconciliation", src["reconciliation"]),
            deploy("district", src["district"], {"billing_contract": "billing"}),
            deploy("ledger_x", LEDGER),
            deploy("ledger_y", LEDGER),  # same source, another name
            deploy("mix", MIX, {"names": ["kwh", "meter", "fen", "zeta", "alpha", "中文", "β"]}),
            deploy("rejected", "@export\ndef f():\n    return 1.5\n"),
            deploy("by_member", LEDGER, key=k.member),
            deploy("no_ctor_args", LEDGER, {"x": 1}),
        ]},
        {"height": 2, "ts": T0 + 2 * HOUR + 5_000, "txs": [
            call("billing", "add_customers", {"customers": customers}),
            call("billing", "add_meters", {"meters": meters}),
            call("billing", "set_tariff", {"tariff_id": "biz", "flat": 6000,
                                           "bounds": [100000], "incs": [0, 700],
                                           "tou": {"peak": 7000, "valley": 3000}}),
            call("district", "add_district", {"district": "D1", "name": "north"}),
            call("district", "add_transformer", {"transformer": "T1", "district": "D1",
                                                 "rated_kva": 400}),
            call("district", "add_meters", {"district": "D1", "meters": [
                {"meter": f"m{i}", "transformer": "T1", "phase": "ABC"[i % 3]}
                for i in range(5)]}),
            call("ledger_x", "put", {"k": "x", "v": {"nested": [1, "two", None, True]}}),
        ]},
        {"height": 3, "ts": T0 + 3 * HOUR, "txs": [
            call("billing", "submit_readings", {"readings": readings}),
            call("billing", "submit_reading", {"meter": "m1", "value": 9_999}),  # fixed call
            call("billing", "pay", {"customer": "c1", "amount": 500, "serial": "p-1"}),
            call("billing", "pay", {"customer": "c1", "amount": 500, "serial": "p-1"}),  # dup
            call("billing", "daily_charge", {"customer": "c4", "energy": 1234}),
            call("mix", "mix", {"words": words}),
            call("mix", "bad_key", {}),
            call("mix", "spin", {}, gas=200_000),
            call("ledger_x", "put_then_fail", {"k": "x", "v": "lost"}),
            call("district", "submit_master", {"district": "D1", "date": 20250303,
                                               "supply": 100_000}),
            call("district", "submit_meter_days", {"district": "D1", "date": 20250303, "items": [
                {"meter": f"m{i}", "energy": 18_000 + 111 * i, "reading": 5000 + i,
                 "events": ["cover_open"] if i == 2 else []} for i in range(5)]}),
            call("district", "evaluate_line_loss", {"district": "D1", "date": 20250303}),
        ]},
        {"height": 4, "ts": T0 + DAY + 3 * HOUR, "txs": [
            call("billing", "execute_controls", {}),
            sys("freeze", {"name": "ledger_y"}),
            call("ledger_y", "put", {"k": "y", "v": 1}),
            call("mix", "poke", {"target": "ledger_y"}),
            sys("upgrade", {"name": "ledger_x", "source": LEDGER + "\n# v2\n"}),
            sys("upgrade", {"name": "ledger_y", "source": LEDGER + "\n# v2\n"}),
            sys("unfreeze", {"name": "ledger_y"}, key=k.operator),  # denied
            call("mix", "mix", {"words": list(reversed(words))}),
        ]},
        {"height": 5, "ts": T0 + DAY + 4 * HOUR, "txs": [
            sys("unfreeze", {"name": "ledger_y"}),
            call("mix", "poke", {"target": "ledger_y"}),
            call("billing", "submit_reading", {"meter": "m1", "value": 19_999}),
            call("billing", "execute_controls", {}),
        ]},
    ]


QUERIES = [
    ["billing", "get_customer", {"customer": "c1"}],
    ["billing", "list_state", {"state": "CUT"}],
    ["billing", "quote", {"ytd_before": 250000, "energy": 60000}],
    ["district", "get_line_loss", {"district": "D1", "date": 20250303}],
    ["district", "correlation", {"xs": [1, 5, 2, 8, 3], "ys": [2, 9, 4, 15, 7]}],
    ["mix", "count_of", {"word": "kwh"}],
    ["ledger_y", "read", {"k": "poked"}],
]

_CHILD = r"""
import json, sys
from chainnode import codec
from chainnode.core.block import Block, BlockHeader, receipt_root, tx_root
from chainnode.core.certificate import CommitCertificate
from chainnode.core.genesis import Genesis
from chainnode.core.tx import Transaction
from chainnode.exec.executor import Executor
from chainnode.store.db import ChainDB

doc = json.loads(sys.stdin.read())
g = Genesis.from_json(doc["genesis"])
fresh_each_block = doc["fresh_each_block"]
db = ChainDB(sys.argv[1])
ex = Executor(g)
db.write_genesis(g.hash(), ex.genesis_writes())
out = {"genesis_root": db.head().state_root.hex(), "blocks": [], "queries": []}
for b in doc["blocks"]:
    if fresh_each_block:
        ex = Executor(g)
    txs = tuple(Transaction.decode(bytes.fromhex(t)) for t in b["txs"])
    head = db.head()
    o = ex.execute_block(db, b["height"], b["ts"], txs, db.has_tx)
    root, nodes = db.compute_state_update(head.state_root, o.writes)
    hdr = BlockHeader(g.chain_id, b["height"], head.block_hash, b["ts"], 0, 0, tx_root(txs),
                      receipt_root(o.receipts), root, bytes(32), bytes(32))
    block = Block(hdr, txs)
    cert = CommitCertificate(g.chain_id, b["height"], 0, block.hash, ((0, 0, bytes(64)),))
    db.commit_block(block, cert, list(o.receipts), o.writes, nodes)
    out["blocks"].append({"receipts": [r.encode().hex() for r in o.receipts],
                          "receipt_root": receipt_root(o.receipts).hex(),
                          "state_root": root.hex(), "gas": o.gas_used,
                          "block_hash": block.hash.hex()})
last = doc["blocks"][-1]
for contract, method, args in doc["queries"]:
    r = ex.query(db, contract, method, args, last["height"], last["ts"])
    out["queries"].append([r.ok, codec.encode(r.value).hex(), r.gas_used, r.error_code,
                           r.error_message])
out["state_root_recomputed"] = db.recompute_state_root().hex()
print(json.dumps(out))
db.close()
"""


def _run_child(doc: dict, db_path: Path, seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(db_path)], input=json.dumps(doc),
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _decoded(result: dict) -> list[list]:
    from chainnode.core.block import Receipt

    return [[Receipt.decode(bytes.fromhex(r)) for r in b["receipts"]] for b in result["blocks"]]


def test_same_blocks_give_byte_identical_receipts_and_roots_under_any_hash_seed(tmp_path):
    keys = Keys()
    blocks = _blocks(keys)
    doc = {"genesis": keys.genesis().to_json(), "blocks": blocks, "queries": QUERIES,
           "fresh_each_block": False}
    runs = {seed: _run_child(doc, tmp_path / f"seed-{seed}.ldb", seed) for seed in SEEDS}
    runs["fresh-executor"] = _run_child({**doc, "fresh_each_block": True},
                                        tmp_path / "fresh.ldb", "99")
    reference = runs["1"]
    for name, result in runs.items():
        assert result == reference, f"run {name!r} differs from the run with seed 1"
    assert reference["state_root_recomputed"] == reference["blocks"][-1]["state_root"]

    # The scenario really did what it is meant to exercise (so equality means something).
    rcs = _decoded(reference)
    by_block = [[(r.ok, r.error_code) for r in b] for b in rcs]
    assert all(r.ok for r in rcs[0][:6]), by_block[0]
    assert [r.error_code for r in rcs[0][6:]] == ["CONTRACT_REJECTED", "PERMISSION_DENIED",
                                                 "BAD_ARGS"]
    assert all(r.ok for r in rcs[1]), by_block[1]
    codes3 = [r.error_code for r in rcs[2]]
    assert codes3 == ["", "", "", "DUPLICATE", "", "", "VM_KEY_ERROR", "VM_OUT_OF_GAS",
                      "DELIBERATE", "", "", ""], by_block[2]
    assert rcs[2][7].gas_used == 200_000
    assert [r.error_code for r in rcs[3]] == ["", "", "CONTRACT_FROZEN", "CONTRACT_FROZEN", "",
                                             "", "PERMISSION_DENIED", ""], by_block[3]
    assert all(r.ok for r in rcs[4]), by_block[4]
    # cost control cut the customer warned in block 2 (warning older than 24 h, cut window)
    assert rcs[3][0].value == [["c1", "CUT", ""]], rcs[3][0]
    assert codec.decode(bytes.fromhex(reference["queries"][1][1]))[0][0] == "c1"
    mix_ret = rcs[2][5].value
    assert mix_ret["keys"] == ["kwh", "meter", "fen", "zeta", "alpha", "中文", "β"]
    assert mix_ret["other"] == {"nested": [1, "two", None, True]}
    q = reference["queries"]
    assert all(ok for ok, *_ in q), q
    assert codec.decode(bytes.fromhex(q[6][1])) == 1  # ledger_y poked after unfreeze
    state_roots = [b["state_root"] for b in reference["blocks"]]
    assert len(set(state_roots)) == len(state_roots)

    # Gas of fixed calls is the same on every run: spelled out for the one-reading call,
    # the 12-call block and a view.
    fixed_reading = {n: _decoded(r)[2][1].gas_used for n, r in runs.items()}
    assert len(set(fixed_reading.values())) == 1 and 0 < fixed_reading["1"] < 5_000_000
    assert len({r["blocks"][2]["gas"] for r in runs.values()}) == 1
    assert len({r["queries"][4][2] for r in runs.values()}) == 1

    # and the same blocks executed here, in this process, agree as well
    here = _run_child(doc, tmp_path / "again.ldb", os.environ.get("PYTHONHASHSEED", "0"))
    assert here == reference


# -- two real nodes ------------------------------------------------------------------------

class SeededNode(NodeProcess):
    """A node process started with its own PYTHONHASHSEED."""

    def __init__(self, home: Path, url: str, seed: str) -> None:
        super().__init__(home, url)
        self.seed = seed

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONHASHSEED": self.seed,
                "CHAINNODE_UNPINNED_HASHSEED": "1"}  # nodes pin the seed unless told not to


def _seeded_twin(net, root: Path, seed: str, group) -> SeededNode:
    """A copy of `net`'s testnet (same genesis, same validator key) on other ports."""
    shutil.copytree(net.root, root, ignore=shutil.ignore_patterns("data", "*.log", "*.pid"))
    home = root / "node0"
    cfg_path = home / "node.json"
    cfg = json.loads(cfg_path.read_text())
    base = free_base_port(2)
    cfg["p2p_port"], cfg["rpc_port"] = base, base + 1
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    return group.add(SeededNode(home, f"http://127.0.0.1:{base + 1}", seed))


def _environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0")
                if "=" in item)


def test_two_nodes_with_different_hash_seeds_agree_after_every_block(tmp_path, procs):
    net = init_single_node(tmp_path / "a", procs, start=False, chain_id="determinism-nodes")
    # replace the harness's node with one whose hash seed we choose
    procs.nodes.remove(net.node)
    node_a = procs.add(SeededNode(net.home, net.url, "1"))
    node_b = _seeded_twin(net, tmp_path / "b", "31337", procs)
    for n in (node_a, node_b):
        n.start()
    st = [n.wait_ready() for n in (node_a, node_b)]
    assert st[0]["genesis_hash"] == st[1]["genesis_hash"]
    assert st[0]["state_root"] == st[1]["state_root"]
    assert _environ_of(node_a.pid)["PYTHONHASHSEED"] == "1"
    assert _environ_of(node_b.pid)["PYTHONHASHSEED"] == "31337"

    admin = load_private_key(net.root / "admin.key")
    ca, cb = Client(node_a.url, admin), Client(node_b.url, admin)
    genesis = net.genesis
    billing_src = (CONTRACTS_DIR / "billing.py").read_text()
    words = ["kwh", "meter", "fen", "kwh", "zeta", "alpha", "meter", "中文"]
    # Block timestamps differ between the two nodes (wall clock), so every step avoids
    # time-dependent contract paths: readings carry read_ms, balances stay above warning.
    steps = [
        ("deploy", "ledger_x", "deploy", {"source": LEDGER, "init_args": {}}),
        ("deploy", "ledger_y", "deploy", {"source": LEDGER, "init_args": {}}),
        ("deploy", "mix", "deploy", {"source": MIX, "init_args": {"names": words[:3]}}),
        ("deploy", "billing", "deploy", {"source": billing_src,
                                         "init_args": {"warn_threshold": 100}}),
        ("call", "billing", "add_customer", {"customer": "c1", "balance": 10_000_000}),
        ("call", "billing", "add_meter", {"meter": "m1", "customer": "c1", "ct": 2,
                                          "reading": 100}),
        ("call", "billing", "submit_reading", {"meter": "m1", "value": 4321,
                                               "read_ms": genesis.timestamp_ms}),
        ("call", "ledger_x", "put", {"k": "x", "v": [1, {"b": 2, "a": 1}]}),
        ("call", "mix", "mix", {"words": words}),
        ("call", "mix", "bad_key", {}),
        ("call", "mix", "spin", {}),
        ("call", "ledger_x", "put_then_fail", {"k": "x", "v": 0}),
        ("system", "sys.contracts", "freeze", {"name": "ledger_y"}),
        ("call", "mix", "poke", {"target": "ledger_y"}),
        ("system", "sys.contracts", "upgrade", {"name": "ledger_y",
                                                "source": LEDGER + "\n# v2\n"}),
        ("system", "sys.contracts", "unfreeze", {"name": "ledger_y"}),
        ("call", "mix", "poke", {"target": "ledger_y"}),
        ("deploy", "rejected", "deploy", {"source": "import os\n"}),
    ]
    gas = {"spin": 300_000}
    outcomes = []
    for i, (kind, contract, method, args) in enumerate(steps):
        h = ca.height()
        assert cb.height() == h, f"step {i}: heights diverged before the step"
        tx = build_tx(admin, genesis.chain_id, kind, contract, method, args,
                      expires_at=h + 100, gas_limit=gas.get(method, 20_000_000))
        ra, rb = ca.submit(tx), cb.submit(tx)  # the very same signed bytes to both
        assert ra["height"] == rb["height"] == h + 1, (i, ra, rb)
        da, db_ = ca.tx(tx.hash.hex()), cb.tx(tx.hash.hex())
        assert da["receipt"] == db_["receipt"] == ra["receipt"] == rb["receipt"], (i, da, db_)
        assert da["tx"] == db_["tx"]
        sa, sb = ca.status(), cb.status()
        assert (sa["height"], sa["state_root"]) == (sb["height"], sb["state_root"]), i
        outcomes.append((method, da["receipt"]["status"], da["receipt"]["error_code"],
                         da["receipt"]["gas_used"]))
    codes = [(m, c) for m, _, c, _ in outcomes if c]
    assert codes == [("bad_key", "VM_KEY_ERROR"), ("spin", "VM_OUT_OF_GAS"),
                     ("put_then_fail", "DELIBERATE"), ("poke", "CONTRACT_FROZEN"),
                     ("deploy", "CONTRACT_REJECTED")], outcomes
    assert dict((m, g) for m, _, c, g in outcomes if c == "VM_OUT_OF_GAS") == {"spin": 300_000}
    # views agree as well, gas included
    for c in (ca, cb):
        wait_until(lambda c=c: c.height() == len(steps), 10, "both nodes at the last step")
    body = {"contract": "mix", "method": "count_of", "args": {"word": "kwh"}}
    qa = ca._request("POST", "/query", json.dumps(body).encode())
    qb = cb._request("POST", "/query", json.dumps(body).encode())
    assert qa == qb and qa["value"] == 2 * 1000003 ** 3
