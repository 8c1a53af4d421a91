"""kill -9 of a process committing blocks with aggressive SMT pruning (every commit prunes)
leaves a consistent store: the head tree matches the stored values, every height the store
still claims is whole proves every key, and committing goes on from there."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from chainnode.core.block import Block, BlockHeader
from chainnode.store.db import ChainDB, state_key_hash
from chainnode.store.smt import verify_proof

N_KEYS = 200
KEEP = 3
Z = b"\0" * 32

# The child commits blocks for ever, printing each committed height; it is SIGKILLed.
CHILD = r"""
import random, sys
sys.path.insert(0, sys.argv[3])
from test_prune_crash import commit_next, open_db
db = open_db(sys.argv[1])
rnd = random.Random(int(sys.argv[2]))
head = db.head()
while True:
    head = commit_next(db, head, rnd)
    print(head.height, flush=True)
"""


class _Cert:
    def encode(self) -> bytes:
        return b"cert"


def open_db(path: str) -> ChainDB:
    db = ChainDB(path, keep_versions=KEEP)
    if db.head() is None:
        db.write_genesis(b"g" * 32, {("app", b"k%d" % i): b"0" for i in range(N_KEYS)})
    return db


def commit_next(db: ChainDB, head, rnd: random.Random):
    writes = {("app", b"k%d" % rnd.randrange(N_KEYS)): b"%d" % rnd.randrange(3)
              for _ in range(25)}
    root, nodes = db.compute_state_update(head.state_root, writes)
    hdr = BlockHeader("prune-crash", head.height + 1, head.block_hash, 1, 0, 0, Z, Z, root, Z,
                      Z)
    return db.commit_block(Block(hdr, ()), _Cert(), [], writes, nodes)


def _check(path: Path) -> int:
    db = open_db(str(path))
    try:
        head = db.head()
        assert db.recompute_state_root() == head.state_root
        oldest = db.oldest_state_height()
        assert head.height - KEEP - 1 <= oldest <= head.height
        for h in range(max(oldest, 1), head.height + 1):
            root = db.block(h).header.state_root
            items = dict(db.smt.items(root))
            assert len(items) == N_KEYS, f"tree at height {h} lost leaves"
            kh = state_key_hash("app", b"k7")
            assert verify_proof(root, kh, items[kh], db.smt.prove(root, kh))
        rnd = random.Random(head.height)
        for _ in range(5):  # and it goes on
            head = commit_next(db, head, rnd)
        assert db.recompute_state_root() == head.state_root
        return head.height
    finally:
        db.close()


def test_kill9_while_pruning_leaves_a_consistent_store(tmp_path):
    path = tmp_path / "chain.ldb"
    here = str(Path(__file__).resolve().parent)
    height = 0
    for round_ in range(3):
        target = height + 15 + random.randrange(15)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(round_), here],
                                 stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            seen = 0
            while seen < target:
                line = child.stdout.readline()
                assert line, f"child stopped at height {seen}"
                seen = int(line)
                assert time.monotonic() < deadline, f"only {seen} of {target} blocks in 120 s"
        finally:
            os.kill(child.pid, signal.SIGKILL)  # mid-commit: its batch prunes every time
            child.wait(timeout=30)
            child.stdout.close()
        height = _check(path)
        assert height >= target
