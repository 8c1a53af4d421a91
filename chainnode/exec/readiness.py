"""`sys.validators.ready`: a candidate validator attests that it follows the chain.

Whether a node is connected and caught up is not in deterministic state, so the candidate
proves it: it signs (with its own validator key, as a registered member) a transaction that
names its head height and that block's hash. Execution checks the claim against the chain
(the block at that height must have that hash, and be at most READY_MAX_LAG blocks or
READY_MAX_LAG_MS of BFT time behind the block including the attestation) and records it under the key. An add-validator proposal is
only applied at decision time if its key attested within the last READY_WINDOW_BLOCKS blocks and
READY_WINDOW_MS of BFT time (gov_kinds), so adding a validator never waits on a node that is
not there.

State: sys.validators ["ready", <public key hex>] -> {"address", "head", "head_hash", "at",
"at_ms"} (`at_ms`: the including block's BFT time; freshness is checked in blocks AND time).
"""

from __future__ import annotations

from collections.abc import Callable

from chainnode.exec.state import TxState
from chainnode.exec.system import VALIDATORS, CallFailed, SysResult

READY_MAX_LAG = 10  # the attested head is at most this many blocks behind the including block
# ...or at most this much BFT time behind it: an observer polls sync about once a second, so on
# a busy chain (many blocks a second) it is routinely more than READY_MAX_LAG blocks behind
READY_MAX_LAG_MS = 5_000
READY_WINDOW_BLOCKS = 100  # an attestation counts for add-validator decided this many blocks on
READY_WINDOW_MS = 10 * 60 * 1000  # ...and this long in BFT time (a quiet chain makes few blocks)

NOT_READY = "GOV_CANDIDATE_NOT_READY"  # add-validator decided without a fresh attestation
READY_BAD_ARGS = "READY_BAD_ARGS"
READY_STALE = "READY_STALE"  # the attested head is too far behind (or ahead)
READY_WRONG_HASH = "READY_WRONG_HASH"  # the attested block is not the chain's block there

BlockHashAt = Callable[[int], "bytes | None"]
BlockTimeAt = Callable[[int], int]


def _need(cond: bool, code: str, message: str) -> None:
    if not cond:
        raise CallFailed(code, message)


def record(state: TxState, public_key_hex: str) -> dict | None:
    rec = state.get(VALIDATORS, ["ready", public_key_hex])
    return rec if isinstance(rec, dict) else None


def call(state: TxState, sender: str, sender_pub: bytes, height: int, method: str,
         args: dict, block_hash_at: BlockHashAt | None,
         block_time_at: BlockTimeAt | None = None) -> SysResult:
    """Dispatch sys.validators (a transaction in block `height`)."""
    _need(method == "ready", "NO_METHOD", f"sys.validators has no method {method!r}")
    head, head_hash = args.get("height"), args.get("hash")
    _need(type(head) is int and head >= 0, READY_BAD_ARGS, "height must be a block height")
    _need(isinstance(head_hash, str) and len(head_hash) == 64, READY_BAD_ARGS,
          "hash must be the 64-hex-character hash of the block at that height")
    recent = head < height and (
        height - head <= READY_MAX_LAG
        or (block_time_at is not None and state.time_ms - block_time_at(head) <= READY_MAX_LAG_MS))
    _need(recent, READY_STALE,
          f"attested head {head} is neither within {READY_MAX_LAG} blocks nor within "
          f"{READY_MAX_LAG_MS} ms of BFT time before block {height}: the node is not caught up "
          "(or the attestation waited too long)")
    real = block_hash_at(head) if block_hash_at is not None else None
    _need(real is not None and real.hex() == head_hash.lower(), READY_WRONG_HASH,
          f"the chain's block {head} does not have hash {head_hash[:16]}…: the node follows "
          "another chain or a stale fork")
    rec = {"address": sender, "head": head, "head_hash": head_hash.lower(), "at": height,
           "at_ms": state.time_ms}
    state.set(VALIDATORS, ["ready", sender_pub.hex()], rec)
    return SysResult({"at": height, "valid_until": height + READY_WINDOW_BLOCKS},
                     [(VALIDATORS, "ValidatorReady", {"address": sender, "head": head,
                                                     "at": height})])


def require_ready(state: TxState, name: str, public_key_hex: str, height: int) -> None:
    """The add-validator rail at decision height `height`."""
    rec = record(state, public_key_hex)
    fresh = (rec is not None and height - rec["at"] <= READY_WINDOW_BLOCKS
             and state.time_ms - rec.get("at_ms", state.time_ms) <= READY_WINDOW_MS)
    _need(fresh, NOT_READY,
          f"candidate {name!r} has not attested that it is connected and caught up in the last "
          f"{READY_WINDOW_BLOCKS} blocks and {READY_WINDOW_MS // 60000} minutes: start it as an "
          "observer, wait until it has synced, run `chainnode node ready --home DIR`, then "
          "propose it again")
