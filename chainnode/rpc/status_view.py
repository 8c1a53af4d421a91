"""The validator set as /status shows it: who validates the next block and since when.

`sys.validators["set"]` after the head block is the set that governs head+1 (a change decided
in block h governs h+1 on); `["joined", name]` is the first height a governed member validated
(0 for the genesis validators).
"""

from __future__ import annotations

from chainnode.crypto.address import address_of
from chainnode.exec import gov_kinds
from chainnode.exec.state import BlockState, TxState
from chainnode.exec.system import VALIDATORS


def validator_set(db, head_height: int) -> dict:
    st = TxState(BlockState(db))
    members = [{"index": i, "name": name, "public_key": pub.hex(), "address": address_of(pub),
                "joined": st.get(VALIDATORS, ["joined", name], 0)}
               for i, (name, pub) in enumerate(gov_kinds.validator_set(st))]
    n = len(members)
    return {"from_height": head_height + 1, "n": n, "f": gov_kinds.fault_tolerance(n),
            "members": members}
