"""`sys.governance`: a weighted committee that proposes and votes on chain changes.

Rules (docs/governance.md):
- Only governors propose and vote; proposing is the proposer's yes vote.
- One vote per governor, changeable (yes <-> no) until the proposal is decided; casting the
  same choice again is refused (GOV_ALREADY_VOTED).
- After every vote the proposal is tallied with the CURRENT committee (votes of ex-governors
  weigh 0): it passes once voting weight >= participation% of the total and yes weight >=
  win% of the voting weight (and yes > 0); it fails once it could not pass even if every
  governor who has not voted voted yes; it expires after `proposal_ttl_blocks` blocks.
- A passed proposal's effect runs in the same transaction (chainnode.exec.gov_kinds). If a
  safety rail refuses it then, the proposal is recorded as failed with the rail's code.

State (contract "sys.governance"): "committee", "next_id", "open" (ids, oldest first) and
["proposal", id]. Expiry needs no block hook: status is derived from the height on every read,
and the next governance transaction records it (with a ProposalExpired event).
"""

from __future__ import annotations

from chainnode.core import govconfig
from chainnode.core.genesis import Genesis
from chainnode.exec import gov_kinds
from chainnode.exec.state import TxState
from chainnode.exec.system import CallFailed, SysResult, member

GOVERNANCE = "sys.governance"
MAX_OPEN = 64  # open proposals at once: bounds the per-transaction expiry sweep
MAX_OPEN_PER_PROPOSER = 16  # so one governor cannot fill every slot for a whole lifetime
MAX_LIST = 100

OPEN, PASSED, FAILED, EXPIRED = "open", "passed", "failed", "expired"
STATUSES = (OPEN, PASSED, FAILED, EXPIRED)

# error codes (stable; each rule has its own)
NOT_GOVERNOR = "GOV_NOT_GOVERNOR"
ALREADY_VOTED = "GOV_ALREADY_VOTED"
DECIDED = "GOV_DECIDED"
EXPIRED_CODE = "GOV_EXPIRED"
NO_PROPOSAL = "GOV_NO_PROPOSAL"
UNKNOWN_KIND = gov_kinds.UNKNOWN_KIND
BAD_PAYLOAD = gov_kinds.BAD_PAYLOAD
TOO_MANY_OPEN = "GOV_TOO_MANY_OPEN"


def genesis_writes(genesis: Genesis, state: TxState) -> None:
    if genesis.governance:
        committee = govconfig.normalize(genesis.governance)
    else:  # default: every admin, weight 1 (no admins: nobody can propose)
        admins = sorted({m.address for m in genesis.members if "admin" in m.roles})
        committee = {"governors": [[a, 1] for a in admins],
                     "participation_threshold": govconfig.DEFAULT_PARTICIPATION,
                     "win_threshold": govconfig.DEFAULT_WIN,
                     "proposal_ttl_blocks": govconfig.DEFAULT_TTL_BLOCKS}
    state.set(GOVERNANCE, "committee", committee)
    state.set(GOVERNANCE, "next_id", 1)
    state.set(GOVERNANCE, "open", [])


def committee(state: TxState) -> dict:
    c = state.get(GOVERNANCE, "committee")
    return c if isinstance(c, dict) else {"governors": [], "participation_threshold": 100,
                                          "win_threshold": 100, "proposal_ttl_blocks": 1}


def weight_of(c: dict, address: str) -> int:
    for a, w in c["governors"]:
        if a == address:
            return w
    return 0


def tally(c: dict, votes: list) -> tuple[int, int, int]:
    """(yes weight, no weight, total weight) under committee `c`."""
    weights = {a: w for a, w in c["governors"]}
    yes = sum(weights.get(a, 0) for a, choice in votes if choice == "yes")
    no = sum(weights.get(a, 0) for a, choice in votes if choice == "no")
    return yes, no, sum(weights.values())


def passes(yes: int, no: int, total: int, participation: int, win: int) -> bool:
    done = yes + no
    return yes > 0 and done * 100 >= participation * total and yes * 100 >= win * done


def outcome(yes: int, no: int, total: int, participation: int, win: int) -> str:
    """OPEN, PASSED or FAILED for these weights (integer math only)."""
    if passes(yes, no, total, participation, win):
        return PASSED
    rest = max(total - yes - no, 0)
    if not passes(yes + rest, no, total, participation, win):
        return FAILED
    return OPEN


def status_at(p: dict, height: int) -> str:
    if p["status"] == OPEN and height > p["expires_at"]:
        return EXPIRED
    return p["status"]


def get_proposal(state: TxState, pid: object, height: int) -> dict | None:
    p = state.get(GOVERNANCE, ["proposal", pid]) if type(pid) is int else None
    if not isinstance(p, dict):
        return None
    return {**p, "status": status_at(p, height)}


def list_proposals(state: TxState, height: int, status: str | None = None,
                   limit: int = MAX_LIST) -> list[dict]:
    """Newest first; at most `limit` (scans at most 10 * MAX_LIST ids)."""
    next_id = state.get(GOVERNANCE, "next_id", 1)
    out: list[dict] = []
    pid = next_id - 1
    floor = max(next_id - 10 * MAX_LIST, 1)
    while pid >= floor and len(out) < limit:
        p = get_proposal(state, pid, height)
        if p is not None and (status is None or p["status"] == status):
            out.append(p)
        pid -= 1
    return out


def _need(cond: bool, code: str, message: str) -> None:
    if not cond:
        raise CallFailed(code, message)


def _sweep(state: TxState, height: int) -> list[tuple[str, str, dict]]:
    """Record open proposals past their lifetime as expired; return the events."""
    events = []
    keep = []
    for pid in state.get(GOVERNANCE, "open", []):
        p = state.get(GOVERNANCE, ["proposal", pid])
        if p["status"] == OPEN and height > p["expires_at"]:
            state.set(GOVERNANCE, ["proposal", pid], {**p, "status": EXPIRED})
            events.append((GOVERNANCE, "ProposalExpired", {"id": pid, "kind": p["kind"],
                                                           "expired_after": p["expires_at"]}))
        elif p["status"] == OPEN:
            keep.append(pid)
    state.set(GOVERNANCE, "open", keep)
    return events


def _decide(state: TxState, p: dict, height: int) -> list[tuple[str, str, dict]]:
    """Tally `p`; on a decision run its effect and record the result. Returns events."""
    c = committee(state)
    yes, no, total = tally(c, p["votes"])
    result = outcome(yes, no, total, c["participation_threshold"], c["win_threshold"])
    p.update(yes_weight=yes, no_weight=no, total_weight=total)
    pid = p["id"]
    events: list[tuple[str, str, dict]] = []
    if result == PASSED:
        try:
            events += gov_kinds.apply(state, p["kind"], p["payload"], height)
            p.update(status=PASSED, decided_at=height)
            events.insert(0, (GOVERNANCE, "ProposalPassed", {"id": pid, "kind": p["kind"],
                                                              "yes": yes, "no": no,
                                                              "total": total}))
        except CallFailed as exc:  # a safety rail refused it at decision time
            p.update(status=FAILED, decided_at=height,
                     error={"code": exc.code, "message": exc.message})
            events.append((GOVERNANCE, "ProposalFailed", {"id": pid, "kind": p["kind"],
                                                          "code": exc.code}))
    elif result == FAILED:
        p.update(status=FAILED, decided_at=height,
                 error={"code": "GOV_REJECTED", "message": "cannot reach the thresholds"})
        events.append((GOVERNANCE, "ProposalFailed", {"id": pid, "kind": p["kind"],
                                                      "code": "GOV_REJECTED"}))
    state.set(GOVERNANCE, ["proposal", pid], p)
    if p["status"] != OPEN:
        state.set(GOVERNANCE, "open", [i for i in state.get(GOVERNANCE, "open", []) if i != pid])
    return events


def _propose(state: TxState, sender: str, height: int, args: dict) -> SysResult:
    kind, payload = args.get("kind"), args.get("payload", {})
    _need(isinstance(kind, str) and kind in gov_kinds.KINDS, UNKNOWN_KIND,
          f"unknown proposal kind {kind!r}; known: {', '.join(sorted(gov_kinds.KINDS))}")
    _need(isinstance(payload, dict), BAD_PAYLOAD, "payload must be a map")
    payload = gov_kinds.check(state, kind, payload)
    events = _sweep(state, height)
    open_ids = state.get(GOVERNANCE, "open", [])
    _need(len(open_ids) < MAX_OPEN, TOO_MANY_OPEN,
          f"{MAX_OPEN} proposals are open; decide or let some expire first")
    mine = sum(1 for i in open_ids if state.get(GOVERNANCE, ["proposal", i])["proposer"] == sender)
    _need(mine < MAX_OPEN_PER_PROPOSER, TOO_MANY_OPEN,
          f"you have {MAX_OPEN_PER_PROPOSER} open proposals; decide or let some expire first")
    pid = state.get(GOVERNANCE, "next_id", 1)
    c = committee(state)
    p = {"id": pid, "kind": kind, "payload": payload, "proposer": sender,
         "created_at": height, "expires_at": height + c["proposal_ttl_blocks"],
         "status": OPEN, "votes": [[sender, "yes"]], "decided_at": 0, "error": None}
    state.set(GOVERNANCE, "next_id", pid + 1)
    state.set(GOVERNANCE, "open", state.get(GOVERNANCE, "open", []) + [pid])
    events.append((GOVERNANCE, "ProposalCreated", {"id": pid, "kind": kind, "proposer": sender,
                                                   "expires_at": p["expires_at"]}))
    events.append((GOVERNANCE, "VoteCast", {"id": pid, "voter": sender, "choice": "yes"}))
    events += _decide(state, p, height)
    return SysResult({"id": pid, "status": p["status"]}, events)


def _vote(state: TxState, sender: str, height: int, args: dict) -> SysResult:
    pid, choice = args.get("id"), args.get("choice")
    _need(choice in ("yes", "no"), BAD_PAYLOAD, "choice must be 'yes' or 'no'")
    p = state.get(GOVERNANCE, ["proposal", pid]) if type(pid) is int else None
    _need(isinstance(p, dict), NO_PROPOSAL, f"no proposal {pid!r}")
    assert isinstance(p, dict)
    _need(p["status"] == OPEN, DECIDED, f"proposal {pid} is already {p['status']}")
    _need(height <= p["expires_at"], EXPIRED_CODE,
          f"proposal {pid} expired after block {p['expires_at']}")
    votes = {a: ch for a, ch in p["votes"]}
    _need(votes.get(sender) != choice, ALREADY_VOTED,
          f"{sender} already voted {choice} on proposal {pid}")
    events = _sweep(state, height)
    changed = sender in votes
    votes[sender] = choice
    p["votes"] = [[a, votes[a]] for a in sorted(votes)]
    events.append((GOVERNANCE, "VoteChanged" if changed else "VoteCast",
                   {"id": pid, "voter": sender, "choice": choice}))
    events += _decide(state, p, height)
    return SysResult({"id": pid, "status": p["status"], "changed": changed}, events)


def _retally(state: TxState, sender: str, height: int, args: dict) -> SysResult:
    """Re-decide an open proposal under the current committee (after a set-committee changed
    weights or thresholds, a proposal everyone already voted on would otherwise wait out its
    lifetime)."""
    pid = args.get("id")
    p = state.get(GOVERNANCE, ["proposal", pid]) if type(pid) is int else None
    _need(isinstance(p, dict), NO_PROPOSAL, f"no proposal {pid!r}")
    assert isinstance(p, dict)
    _need(p["status"] == OPEN, DECIDED, f"proposal {pid} is already {p['status']}")
    _need(height <= p["expires_at"], EXPIRED_CODE,
          f"proposal {pid} expired after block {p['expires_at']}")
    events = _sweep(state, height)
    events += _decide(state, p, height)
    return SysResult({"id": pid, "status": p["status"]}, events)


def call(state: TxState, sender: str, height: int, method: str, args: dict) -> SysResult:
    """Dispatch a transaction or query to sys.governance."""
    if method in ("get", "list", "committee"):
        return query(state, height, method, args)
    _need(method in ("propose", "vote", "tally"), "NO_METHOD",
          f"sys.governance has no method {method!r}")
    _need(member(state, sender) is not None and weight_of(committee(state), sender) > 0,
          NOT_GOVERNOR, f"{sender} is not a governor")
    if method == "propose":
        return _propose(state, sender, height, args)
    if method == "tally":
        return _retally(state, sender, height, args)
    return _vote(state, sender, height, args)


def query(state: TxState, height: int, method: str, args: dict) -> SysResult:
    if method == "get":
        p = get_proposal(state, args.get("id"), height)
        _need(p is not None, NO_PROPOSAL, f"no proposal {args.get('id')!r}")
        return SysResult(p)
    if method == "list":
        status = args.get("status")
        _need(status is None or status in STATUSES, BAD_PAYLOAD,
              f"status must be one of {', '.join(STATUSES)}")
        limit = args.get("limit", MAX_LIST)
        _need(type(limit) is int and 1 <= limit <= MAX_LIST, BAD_PAYLOAD,
              f"limit must be in [1, {MAX_LIST}]")
        return SysResult(list_proposals(state, height, status, limit))
    if method == "committee":
        return SysResult(committee(state))
    raise CallFailed("NO_METHOD", f"sys.governance has no view {method!r}")

