"""The governance committee's configuration: governors, weights, thresholds, proposal lifetime.

Pure data checks shared by the genesis loader (an optional "governance" section) and the
`set-committee` proposal, so both accept exactly the same documents.

Thresholds are integer percentages, FISCO BCOS 3.x style: a proposal passes once the voting
weight is >= `participation_threshold`% of the committee's total weight AND the yes weight is
>= `win_threshold`% of the voting weight.
"""

from __future__ import annotations

from typing import Any

from chainnode.crypto.address import is_address

DEFAULT_PARTICIPATION = 67
DEFAULT_WIN = 67
DEFAULT_TTL_BLOCKS = 1000
MAX_GOVERNORS = 64
MAX_WEIGHT = 1_000_000


class CommitteeError(ValueError):
    """A committee document that can never be valid."""


def _int_in(doc: dict, key: str, lo: int, hi: int, default: int) -> int:
    v = doc.get(key, default)
    if type(v) is not int or not lo <= v <= hi:
        raise CommitteeError(f"{key} must be an integer in [{lo}, {hi}]")
    return v


def normalize(doc: Any, defaults: dict | None = None) -> dict:
    """Check a committee document; return its canonical form (governors sorted by address).

    Accepted governor entries: {"address": A, "weight": W} or [A, W]; weight defaults to 1.
    Missing thresholds come from `defaults` (the current committee) or the module defaults.
    """
    if not isinstance(doc, dict):
        raise CommitteeError("committee must be a map")
    d = defaults or {}
    govs = doc.get("governors")
    if not isinstance(govs, list) or not 1 <= len(govs) <= MAX_GOVERNORS:
        raise CommitteeError(f"governors must be a list of 1..{MAX_GOVERNORS} entries")
    out: dict[str, int] = {}
    for g in govs:
        if isinstance(g, dict):
            addr, weight = g.get("address"), g.get("weight", 1)
        elif isinstance(g, list) and len(g) == 2:
            addr, weight = g
        else:
            raise CommitteeError("a governor is {address, weight} or [address, weight]")
        if not is_address(addr):
            raise CommitteeError(f"governor address {addr!r} is not 40 lowercase hex")
        if type(weight) is not int or not 1 <= weight <= MAX_WEIGHT:
            raise CommitteeError(f"governor weight must be an integer in [1, {MAX_WEIGHT}]")
        if addr in out:
            raise CommitteeError(f"governor {addr} listed twice")
        out[addr] = weight
    return {
        "governors": [[a, out[a]] for a in sorted(out)],
        "participation_threshold": _int_in(doc, "participation_threshold", 1, 100,
                                           d.get("participation_threshold",
                                                 DEFAULT_PARTICIPATION)),
        "win_threshold": _int_in(doc, "win_threshold", 1, 100,
                                 d.get("win_threshold", DEFAULT_WIN)),
        "proposal_ttl_blocks": _int_in(doc, "proposal_ttl_blocks", 1, 10_000_000,
                                       d.get("proposal_ttl_blocks", DEFAULT_TTL_BLOCKS)),
    }
