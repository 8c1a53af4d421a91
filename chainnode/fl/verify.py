"""Re-check a federated task from chain data alone; every problem is one precise sentence.

Checks: rounds chain by model hash from the task's initial model; included participants are
task participants, appear once, and match their own commitments (update hash and sample
count); ε is cumulative and monotone, at least the fixed-point bound recomputed here from the
receipts' noise multipliers (and at least the float ε at the claimed α), within the budget,
and the stored bound equals the recomputed one; each round pays its whole budget when some
contribution is positive, split by largest remainder exactly as recomputed here; the task's
totals (rounds done, last hash, ε, paid, per-participant rewards) equal the sums of its
rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chainnode.fl import privacy, rewards


@dataclass(frozen=True)
class Report:
    task: str
    rounds: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(task: dict, receipts: list[dict | None],
          commit_of: Callable[[int, str], dict | None],
          rewards_view: dict[str, int]) -> Report:
    p: list[str] = []
    name = task["task"]
    members = set(task["participants"])
    prev = task["init_model_hash"]
    rho = 0
    last_eps = 0
    paid_total = 0
    earned: dict[str, int] = {}
    delta = task["delta_e18"]
    for r, rc in enumerate(receipts, start=1):
        if rc is None:
            p.append(f"round {r}: no receipt on chain although the task reports "
                     f"{task['rounds_done']} rounds done")
            continue
        if rc["prev_hash"] != prev:
            p.append(f"round {r}: prev_hash {rc['prev_hash'][:16]}… is not the previous "
                     f"model {prev[:16]}…")
        prev = rc["new_hash"]
        # participants and their commitments
        seen = set()
        for who, uh, n in rc["participants"]:
            if who not in members:
                p.append(f"round {r}: {who} is not a participant of the task")
            if who in seen:
                p.append(f"round {r}: {who} is included twice")
            seen.add(who)
            c = commit_of(r, who)
            if c is None:
                p.append(f"round {r}: {who} has no commitment on chain")
            elif (c["update_hash"], c["samples"]) != (uh, n):
                p.append(f"round {r}: {who}'s receipt entry ({uh[:16]}…, {n} samples) differs "
                         f"from its commitment ({c['update_hash'][:16]}…, {c['samples']})")
        # privacy
        rho += privacy.rho_e30(rc["noise_e6"])
        bound = privacy.bound_e6(rho, delta, rc["alpha_e6"])
        eps = rc["eps_e6"]
        if rc["delta_e18"] != delta:
            p.append(f"round {r}: δ {rc['delta_e18']}e-18 differs from the task's {delta}e-18")
        if eps < bound:
            p.append(f"round {r}: ε {eps / 1e6:.6f} is below the bound {bound / 1e6:.6f} at "
                     f"α {rc['alpha_e6'] / 1e6:g}")
        z_eq = (privacy.Q / (2 * rho)) ** 0.5
        exact = privacy.rdp_epsilon(z_eq, 1, delta / privacy.D18, rc["alpha_e6"] / 1e6)
        if eps / 1e6 < exact - 1e-9:
            p.append(f"round {r}: ε {eps / 1e6:.6f} is below the float ε(α) {exact:.6f}")
        if rc["bound_e6"] != bound:
            p.append(f"round {r}: stored bound {rc['bound_e6']} differs from the recomputed "
                     f"{bound}")
        if eps > task["eps_max_e6"]:
            p.append(f"round {r}: ε {eps / 1e6:.6f} exceeds the budget "
                     f"{task['eps_max_e6'] / 1e6:.6f}")
        if eps < last_eps:
            p.append(f"round {r}: cumulative ε went down from {last_eps / 1e6:.6f} to "
                     f"{eps / 1e6:.6f}")
        last_eps = max(last_eps, eps)
        # rewards
        ids = [who for who, _, _ in rc["participants"]]
        want = rewards.split(task["reward_fen"], rc["contributions"], ids)
        got = [fen for _, fen in rc["rewards"]]
        if [who for who, _ in rc["rewards"]] != ids:
            p.append(f"round {r}: rewards are not listed for the included participants")
        if sum(got) != rc["paid_fen"]:
            p.append(f"round {r}: rewards sum to {sum(got)} fen but paid_fen is "
                     f"{rc['paid_fen']}")
        if got != want:
            p.append(f"round {r}: rewards pay {sum(got):,} fen {got}, the largest-remainder "
                     f"split of the round budget {task['reward_fen']:,} fen over the "
                     f"contributions is {want}")
        if any(f < 0 for f in got):
            p.append(f"round {r}: a negative reward")
        paid_total += rc["paid_fen"]
        for who, fen in rc["rewards"]:
            earned[who] = earned.get(who, 0) + fen
    done = len(receipts)
    stored = [rc for rc in receipts if rc is not None]
    if done and task["last_hash"] != prev:
        p.append(f"task: last_hash {task['last_hash'][:16]}… is not round {done}'s model")
    if task["paid_fen"] != paid_total:
        p.append(f"task: paid_fen {task['paid_fen']} differs from the rounds' sum {paid_total}")
    if stored and task["eps_e6"] != stored[-1]["eps_e6"]:
        p.append(f"task: ε {task['eps_e6']} is not the last receipt's {stored[-1]['eps_e6']}")
    if task["rho_sum"] != rho:
        p.append("task: rho_sum differs from the sum over its receipts' noise multipliers")
    for who in task["participants"]:
        if rewards_view.get(who, 0) != earned.get(who, 0):
            p.append(f"task: {who} is credited {rewards_view.get(who, 0)} fen, its rounds add "
                     f"up to {earned.get(who, 0)}")
    return Report(name, done, p)


def fetch_and_check(ledger, task: str) -> Report:
    """Read everything from the chain through `ledger` (queries only) and check it."""
    from chainnode.client import RpcError

    try:
        t = ledger.task(task)
    except RpcError as exc:
        if exc.code != "NOT_FOUND":
            raise
        t = None
    if t is None:
        return Report(task, 0, [f"task {task!r} does not exist on chain"])
    receipts = ledger.rounds(task, t["rounds_done"])
    cache: dict[tuple[int, str], dict | None] = {}

    def commit_of(r: int, who: str) -> dict | None:
        if (r, who) not in cache:
            cache[(r, who)] = ledger.q("get_commit", task=task, round_no=r, participant=who)
        return cache[(r, who)]

    return check(t, receipts, commit_of, ledger.q("rewards", task=task))
