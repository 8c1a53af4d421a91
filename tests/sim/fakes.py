"""Fake deterministic signatures and a toy block format for the simulator.

The signatures are keyed SM3 MACs: only the holder of validator i's secret can make one
(so a faulty simulated node cannot forge an honest vote), and the verifier has the same
signature as the one the real node injects with SM2: verify(index, domain, payload, sig).
"""

from __future__ import annotations

from chainnode import codec
from chainnode.consensus.epoch import Epoch
from chainnode.crypto.hashing import sm3


class FakeKeys:
    def __init__(self, n: int, seed: int) -> None:
        self.secrets = [sm3(codec.encode(["sim-key", seed, i])) for i in range(n)]

    def signer(self, index: int):
        secret = self.secrets[index]

        def sign(domain: str, payload: bytes) -> bytes:
            return sm3(secret + domain.encode() + b"\x00" + payload)

        return sign

    def verify(self, index: int, domain: str, payload: bytes, signature: bytes) -> bool:
        if not 0 <= index < len(self.secrets):
            return False
        return signature == sm3(self.secrets[index] + domain.encode() + b"\x00" + payload)

    def verify_commit(self, index: int, payload: bytes, signature: bytes) -> bool:
        """The 3-argument form CommitCertificate.check takes (domain fixed to commit)."""
        return self.verify(index, "commit", payload, signature)


GENESIS_HASH = sm3(b"sim-genesis")


def make_block(height: int, prev_hash: bytes, txs: list[bytes], tag: str = "") -> bytes:
    """A toy block: (height, prev_hash, transactions, proposer tag)."""
    return codec.encode([height, prev_hash, sorted(txs), tag])


def block_hash(block: bytes) -> bytes:
    return sm3(block)


def parse_block(block: bytes) -> tuple[int, bytes, list[bytes], str]:
    h, prev, txs, tag = codec.decode(block)
    return h, prev, txs, tag


# -- governance in the toy chain: transactions that change the set at h+1 --------------------

def gov_tx(kind: str, *args: int) -> bytes:
    """b"gov:add:K:nonce", b"gov:remove:K:nonce", b"gov:timeout:BASE:MAX:nonce"."""
    return b"gov:" + kind.encode() + b"".join(b":%d" % a for a in args)


def apply_governance(epoch: Epoch, height: int, txs: list[bytes]) -> Epoch | None:
    """The set and timeouts that govern height+1 after block `height` with `txs`, if they
    change (None otherwise). Same rails as sys.governance: never below one validator, and a
    removal must keep n-1 >= 3f+1 (a change it refuses is a no-op, as a failed proposal)."""
    vals = list(epoch.validators)
    base, top = epoch.base_timeout_ms, epoch.max_timeout_ms
    for tx in txs:
        if not tx.startswith(b"gov:"):
            continue
        kind, *args = tx.split(b":")[1:]
        nums = [int(a) for a in args]
        if kind == b"add" and nums[0] not in vals:
            vals.append(nums[0])
        elif kind == b"remove" and nums[0] in vals:
            n, f = len(vals), (len(vals) - 1) // 3
            if n - 1 >= max(1, 3 * f + 1):
                vals.remove(nums[0])
        elif kind == b"timeout" and 0 < nums[0] <= nums[1]:
            base, top = nums[0], nums[1]
    nxt = Epoch(height + 1, tuple(vals), base, top)
    same = (nxt.validators, base, top) == (epoch.validators, epoch.base_timeout_ms,
                                           epoch.max_timeout_ms)
    return None if same else nxt
