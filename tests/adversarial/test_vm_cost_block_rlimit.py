"""Acceptance for reproducer 4 at block level: the same block (a deploy and memory-hungry
calls, including the zip reproducer) executed by the real Executor on a real LevelDB in two
processes, under different RLIMIT_AS values and hash seeds, gives byte-identical receipts,
receipt root and state root."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey

REPO = Path(__file__).resolve().parents[2]
CHAIN = "rlimit"
VALIDATOR, ADMIN = PrivateKey.generate(), PrivateKey.generate()

HOG = '''
@export
def zip_5000():
    s = "\\u4e00" * 2000
    return list(zip(s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s,
                    s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s,
                    s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s))


@export
def zip_kept():
    s = "\\u4e00" * 20000
    xs = []
    while True:
        xs.append(zip(s, s, s, s, s, s, s, s))


@export
def budget():
    xs = []
    while True:
        xs.append("a" * 1000000)


@export
def comps():
    xs = []
    s = "\\U0001f600" * 90000
    while True:
        xs.append([c for c in s])


@export
def ok(n):
    storage.set("n", n)
    return n
'''

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
out = ex.execute_block(db, 1, 1_700_000_000_001, txs, lambda h: False)
root, _ = db.compute_state_update(db.head().state_root, out.writes)
print(json.dumps({"receipts": [r.encode().hex() for r in out.receipts],
                  "codes": [[r.error_code, r.gas_used] for r in out.receipts],
                  "receipt_root": receipt_root(out.receipts).hex(), "state_root": root.hex()}))
db.close()
"""


def _block() -> tuple[str, list]:
    genesis = Genesis(CHAIN, 1_700_000_000_000, (Validator("node0", VALIDATOR.public_key.raw),),
                      (Member(address_of(ADMIN.public_key), ("admin",), "root"),), {})

    def tx(kind, contract, method, args, gas):
        return build_tx(ADMIN, CHAIN, kind, contract, method, args, expires_at=50,
                        gas_limit=gas)

    txs = [tx("deploy", "hog", "deploy", {"source": HOG}, 5_000_000),
           tx("call", "hog", "zip_5000", {}, 2_000_000),
           tx("call", "hog", "zip_kept", {}, 20_000_000),
           tx("call", "hog", "budget", {}, 30_000_000),
           tx("call", "hog", "comps", {}, 20_000_000),
           tx("call", "hog", "ok", {"n": 7}, 100_000)]
    return json.dumps(genesis.to_json()), txs


def _run(tmp: Path, name: str, limit: int, seed: str, doc: str) -> dict:
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp / name)], input=doc,
                          capture_output=True, text=True, timeout=300, env=env,
                          preexec_fn=set_limit, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_same_block_same_receipts_under_two_memory_limits(tmp_path):
    genesis_json, txs = _block()
    doc = json.dumps({"genesis": json.loads(genesis_json),
                      "txs": [t.encode().hex() for t in txs]})
    low = _run(tmp_path, "low.ldb", 1024 * 1024 * 1024, "0", doc)
    high = _run(tmp_path, "high.ldb", 16 * 1024 * 1024 * 1024, "4242", doc)
    assert low == high, (low["codes"], high["codes"])
    codes = [c for c, _ in low["codes"]]
    assert codes[0] == "" and codes[-1] == ""  # the deploy and the normal call succeed
    assert codes[1] == "VM_SIZE_LIMIT"  # 65 zip columns: refused before any work
    assert codes[3] == "VM_MEMORY_LIMIT"  # the deterministic budget, not MemoryError
    assert set(codes[2:5]) <= {"VM_OUT_OF_GAS", "VM_MEMORY_LIMIT", "VM_SIZE_LIMIT"}
