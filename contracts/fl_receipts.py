# Federated-learning receipts for electric-heating load models: tasks, participants'
# update commitments, the aggregator's per-round receipts chained by model hash, an
# on-chain check of the claimed differential-privacy cost, contribution scores and
# rewards split by the largest-remainder rule. docs/fl-contracts.md is the interface.
#
# Units: money in integer fen; noise multiplier, clip norm, sampling rate, RDP order
# alpha, epsilon, metric and contributions in 1e-6 (`*_e6`); delta in 1e-18
# (`delta_e18`). Hashes are SM3 hex (64 lowercase hex chars); participants and the
# aggregator are account addresses (40 lowercase hex chars).
#
# Storage layout (all keys are tuples):
#   ("p", name)                      parameter value
#   ("role", account, role)          contract role table (deployer is "admin")
#   ("task", task)                   task record (spec, DP budget, progress)
#   ("commit", task, round, who)     {"update_hash", "samples"}
#   ("round", task, round)           the stored receipt of a round
#   ("reward", task, who)            fen earned so far in the task

HEX = "0123456789abcdef"
M6 = 1000000  # the 1e-6 fixed-point unit of *_e6 values
D18 = 1000000000000000000  # delta_e18 unit
# Internal scale of the epsilon bound: Q = 10^30. LN2_Q, LN10_Q are ln 2 and ln 10
# times Q, truncated (error < 1 unit). LN_ERR bounds |ln_q(n) - Q ln n| (see docs).
Q = 1000000000000000000000000000000
LN2_Q = 693147180559945309417232121458
LN10_Q = 2302585092994045684017991454684
LN_ERR = 1000
Q_PER_E6 = 1000000000000000000000000  # Q / 10^6

# ----------------------------------------------------------------- parameters


def param_defaults():
    return {
        "max_participants": 64,
        "max_rounds": 10000,
        "max_alpha_e6": 10000 * M6,
        "max_events": 100,
    }


def param(name):
    return storage.get(("p", name))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_hash(x):
    if not isinstance(x, str) or len(x) != 64:
        return False
    return all([c in HEX for c in x])


def is_address(x):
    if not isinstance(x, str) or len(x) != 40:
        return False
    return all([c in HEX for c in x])


def is_name(x):
    return isinstance(x, str) and len(x) > 0 and len(x) <= 64


def check_param(name, value):
    require(name in param_defaults(), "BAD_INPUT", "unknown parameter " + str(name))
    require(is_int(value) and value > 0, "BAD_INPUT", name + " must be a positive integer")
    if name == "max_participants":
        require(value <= 200, "BAD_INPUT", "max_participants at most 200")
    if name == "max_alpha_e6":
        require(value > M6 and value <= 1000000 * M6, "BAD_INPUT", "max_alpha_e6 out of range")


# ----------------------------------------------------------------- roles


# The role table is the host's (role_has, role_require, role_grant, role_revoke): the
# deployer is admin; checks use ctx.caller, so a contract calling in is judged as itself.


# ----------------------------------------------------------------- fixed-point epsilon


def ceil_div(a, b):
    # b > 0; rounds toward +infinity for either sign of a.
    return -((-a) // b)


def ln_q(n):
    # Q * ln(n) for an integer n >= 1, within LN_ERR units (floors only, error analysis in
    # docs/fl-contracts.md). n = 2^k * m with 1 <= m < 2; ln m = 2 atanh(s), s = (m-1)/(m+1)
    # = (n - 2^k)/(n + 2^k) < 1/3, so each term shrinks at least 9x: at most 33 terms.
    k = n.bit_length() - 1
    base = 1 << k
    p = n - base
    d = n + base
    p2 = p * p
    d2 = d * d
    t = Q * p // d
    total = 0
    j = 1
    while t > 0:
        total += t // j
        t = t * p2 // d2
        j += 2
    return k * LN2_Q + 2 * total


def rho_of(noise_e6):
    # One round's RDP slope 1/(2 z^2), times Q, rounded up: eps_RDP(alpha) = alpha * rho.
    return ceil_div(Q * M6 * M6, 2 * noise_e6 * noise_e6)


def bound_from_rho(rho_sum, delta_e18, alpha_e6):
    # Upper bound of eps(alpha) = alpha * sum(rho) + ln((alpha-1)/alpha)
    #                             - (ln delta + ln alpha)/(alpha - 1), in 1e-6, rounded up.
    a1 = alpha_e6 - M6
    term1 = ceil_div(rho_sum * alpha_e6, M6)
    ln_a_q = ln_q(alpha_e6)  # Q ln(alpha_e6); ln alpha = that - 6 ln 10
    l1 = (ln_q(a1) + LN_ERR) - (ln_a_q - LN_ERR)
    inv_delta_hi = 18 * (LN10_Q + 1) - (ln_q(delta_e18) - LN_ERR)
    ln_alpha_lo = (ln_a_q - LN_ERR) - 6 * (LN10_Q + 1)
    l2 = ceil_div((inv_delta_hi - ln_alpha_lo) * M6, a1)
    return ceil_div(term1 + l1 + l2, Q_PER_E6)


def check_dp_args(noise_e6, delta_e18, alpha_e6):
    require(is_int(noise_e6) and noise_e6 > 0 and noise_e6 <= 1000 * M6, "BAD_INPUT", "noise_e6 must be in 1..10^9")
    require(is_int(delta_e18) and 0 < delta_e18 < D18, "BAD_INPUT", "delta_e18 must be in 1..10^18-1")
    require(is_int(alpha_e6) and alpha_e6 > M6 and alpha_e6 <= param("max_alpha_e6"), "BAD_INPUT", "alpha_e6 must be above 10^6 and at most max_alpha_e6")


# ----------------------------------------------------------------- rewards


def split(budget, ids, contributions):
    # Largest remainder: shares in proportion to max(c, 0), floors first, then one fen
    # each to the largest remainders, ties to the lowest participant id. Nothing is paid
    # when no contribution is positive.
    w = [max(c, 0) for c in contributions]
    total = sum(w)
    if total == 0:
        return [0 for c in contributions]
    shares = [budget * x // total for x in w]
    left = budget - sum(shares)
    order = sorted([[-(budget * w[i] % total), ids[i], i] for i in range(len(ids))])
    for entry in order[:left]:
        shares[entry[2]] += 1
    return shares


# ----------------------------------------------------------------- init / admin


def init(max_participants=None, max_rounds=None, max_alpha_e6=None, max_events=None):
    storage.set(("role", ctx.sender, "admin"), True)
    given = {"max_participants": max_participants, "max_rounds": max_rounds,
             "max_alpha_e6": max_alpha_e6, "max_events": max_events}
    defaults = param_defaults()
    for name in sorted(defaults):
        value = given.get(name)
        if value is None:
            value = defaults[name]
        check_param(name, value)
        storage.set(("p", name), value)


@export
def grant_role(account, role):
    role_grant(account, role)


@export
def revoke_role(account, role):
    role_revoke(account, role)


@export
def set_param(name, value):
    role_require([])
    check_param(name, value)
    storage.set(("p", name), value)
    emit("param_set", name=name)


# ----------------------------------------------------------------- tasks


def load_task(task):
    require(is_name(task), "BAD_INPUT", "task must be a non-empty str of at most 64 chars")
    t = storage.get(("task", task))
    require(t is not None, "NOT_FOUND", "unknown task")
    return t


@export
def create_task(task, model_hash, participants, rounds, eps_max_e6, delta_e18, reward_fen,
                validation_hash, aggregator, init_model_hash=None):
    role_require(["operator"])
    require(is_name(task), "BAD_INPUT", "task must be a non-empty str of at most 64 chars")
    require(not storage.has(("task", task)), "DUPLICATE", "task exists")
    require(is_hash(model_hash) and is_hash(validation_hash), "BAD_INPUT", "hashes are 64 lowercase hex chars")
    if init_model_hash is None:
        init_model_hash = model_hash
    require(is_hash(init_model_hash), "BAD_INPUT", "init_model_hash is 64 lowercase hex chars")
    require(isinstance(participants, list) and len(participants) > 0 and len(participants) <= param("max_participants"), "BAD_INPUT", "participants: 1..max_participants addresses")
    require(all([is_address(p) for p in participants]), "BAD_INPUT", "participants are account addresses")
    seen = {}
    for p in participants:
        require(p not in seen, "DUPLICATE_PARTICIPANT", "participant listed twice")
        seen[p] = True
    require(is_address(aggregator), "BAD_INPUT", "aggregator is an account address")
    require(is_int(rounds) and rounds > 0 and rounds <= param("max_rounds"), "BAD_INPUT", "rounds: 1..max_rounds")
    require(is_int(eps_max_e6) and eps_max_e6 > 0, "BAD_INPUT", "eps_max_e6 must be positive")
    require(is_int(delta_e18) and 0 < delta_e18 < D18, "BAD_INPUT", "delta_e18 must be in 1..10^18-1")
    require(is_int(reward_fen) and reward_fen >= 0, "BAD_INPUT", "reward_fen must not be negative")
    t = {
        "task": task, "model_hash": model_hash, "participants": participants,
        "rounds": rounds, "eps_max_e6": eps_max_e6, "delta_e18": delta_e18,
        "reward_fen": reward_fen, "validation_hash": validation_hash,
        "aggregator": aggregator, "init_model_hash": init_model_hash,
        "creator": ctx.caller, "created_height": ctx.height,
        "rounds_done": 0, "last_hash": init_model_hash, "rho_sum": 0, "eps_e6": 0,
        "paid_fen": 0,
    }
    storage.set(("task", task), t)
    emit("task_created", task=task, aggregator=aggregator, participants=len(participants),
         rounds=rounds, eps_max_e6=eps_max_e6, delta_e18=delta_e18, reward_fen=reward_fen)
    return t


@export
def commit_update(task, round_no, update_hash, samples):
    t = load_task(task)
    who = ctx.caller
    require(ctx.caller_kind == "account" and who in t["participants"], "NOT_PARTICIPANT", "sender is not a participant of the task")
    require(is_int(round_no) and round_no > 0, "BAD_INPUT", "round_no must be a positive integer")
    require(round_no > t["rounds_done"], "ROUND_CLOSED", "round_no already has its receipt")
    require(round_no <= t["rounds"], "TASK_COMPLETE", "task has no such round_no")
    require(round_no == t["rounds_done"] + 1, "BAD_ROUND", "only the open round_no takes commitments")
    require(is_hash(update_hash), "BAD_INPUT", "update_hash is 64 lowercase hex chars")
    require(is_int(samples) and 0 < samples <= 1000000000000, "BAD_INPUT", "samples: 1..10^12")
    require(not storage.has(("commit", task, round_no, who)), "ALREADY_COMMITTED", "already committed this round_no")
    storage.set(("commit", task, round_no, who), {"update_hash": update_hash, "samples": samples})
    emit("committed", task=task, round=round_no, participant=who, update_hash=update_hash,
         samples=samples)
    return {"task": task, "round": round_no, "participant": who}


@export
def submit_receipt(task, round_no, prev_hash, new_hash, participants, rule, clip_e6, noise_e6,
                   sampling_e6, delta_e18, alpha_e6, eps_e6, metric, metric_e6,
                   contributions, reward_fen=None):
    t = load_task(task)
    require(ctx.caller_kind == "account" and ctx.caller == t["aggregator"], "NOT_AGGREGATOR", "only the task's aggregator")
    require(is_int(round_no), "BAD_INPUT", "round_no must be an integer")
    require(t["rounds_done"] < t["rounds"], "TASK_COMPLETE", "all rounds have receipts")
    require(round_no == t["rounds_done"] + 1, "BAD_ROUND", "round_no must be the open round_no")
    require(is_hash(prev_hash) and is_hash(new_hash), "BAD_INPUT", "hashes are 64 lowercase hex chars")
    require(prev_hash == t["last_hash"], "BAD_PREV_HASH", "prev_hash is not the last round_no's model")
    require(is_name(rule) and is_name(metric), "BAD_INPUT", "rule and metric are names")
    require(is_int(clip_e6) and clip_e6 > 0, "BAD_INPUT", "clip_e6 must be positive")
    require(is_int(sampling_e6) and 0 < sampling_e6 <= M6, "BAD_INPUT", "sampling_e6 in 1..10^6")
    require(is_int(metric_e6), "BAD_INPUT", "metric_e6 must be an integer")
    check_dp_args(noise_e6, delta_e18, alpha_e6)
    require(delta_e18 == t["delta_e18"], "DELTA_MISMATCH", "delta differs from the task's")
    require(isinstance(participants, list) and len(participants) > 0 and len(participants) <= len(t["participants"]), "BAD_INPUT", "participants: 1..task size")
    require(isinstance(contributions, list) and len(contributions) == len(participants), "BAD_INPUT", "one contribution per participant")
    require(all([is_int(c) and -D18 <= c <= D18 for c in contributions]), "BAD_INPUT", "contributions are integers within 10^18")
    seen = {}
    included = []
    for p in participants:
        require(isinstance(p, str), "BAD_INPUT", "participants are addresses")
        require(p not in seen, "DUPLICATE_PARTICIPANT", "participant included twice")
        seen[p] = True
        c = storage.get(("commit", task, round_no, p))
        require(c is not None, "NOT_COMMITTED", "participant did not commit this round_no")
        included.append([p, c["update_hash"], c["samples"]])
    if reward_fen is None:
        reward_fen = t["reward_fen"]
    require(is_int(reward_fen) and reward_fen >= 0, "BAD_INPUT", "reward_fen must not be negative")
    require(reward_fen <= t["reward_fen"], "REWARD_OVER_BUDGET", "rewards above the round budget")
    rho_sum = t["rho_sum"] + rho_of(noise_e6)
    bound = bound_from_rho(rho_sum, delta_e18, alpha_e6)
    require(is_int(eps_e6) and eps_e6 >= bound, "EPS_BELOW_BOUND", "claimed epsilon below the bound at alpha: " + str(bound))
    require(eps_e6 <= t["eps_max_e6"], "EPS_OVER_BUDGET", "claimed epsilon above eps_max")
    shares = split(reward_fen, participants, contributions)
    paid = sum(shares)
    paid_list = []
    for i in range(len(participants)):
        p = participants[i]
        paid_list.append([p, shares[i]])
        if shares[i] > 0:
            storage.set(("reward", task, p), (storage.get(("reward", task, p)) or 0) + shares[i])
    receipt = {
        "task": task, "round": round_no, "prev_hash": prev_hash, "new_hash": new_hash,
        "participants": included, "rule": rule, "clip_e6": clip_e6, "noise_e6": noise_e6,
        "sampling_e6": sampling_e6, "delta_e18": delta_e18, "alpha_e6": alpha_e6,
        "eps_e6": eps_e6, "bound_e6": bound, "metric": metric, "metric_e6": metric_e6,
        "contributions": contributions, "rewards": paid_list, "paid_fen": paid,
        "aggregator": ctx.caller, "height": ctx.height, "tx_hash": ctx.tx_hash,
    }
    storage.set(("round", task, round_no), receipt)
    t["rounds_done"] = round_no
    t["last_hash"] = new_hash
    t["rho_sum"] = rho_sum
    t["eps_e6"] = eps_e6
    t["paid_fen"] = t["paid_fen"] + paid
    storage.set(("task", task), t)
    emit("receipt", task=task, round=round_no, prev_hash=prev_hash, new_hash=new_hash,
         participants=len(included), eps_e6=eps_e6, bound_e6=bound, paid_fen=paid)
    cap = param("max_events")
    for r in paid_list[:cap]:
        if r[1] > 0:
            emit("reward", task=task, round=round_no, participant=r[0], fen=r[1])
    return {"round": round_no, "new_hash": new_hash, "eps_e6": eps_e6, "bound_e6": bound,
            "rewards": paid_list, "paid_fen": paid}


# ----------------------------------------------------------------- views


@view
def get_param(name):
    return param(name)


@view
def has_contract_role(account, role):
    return role_has(account, role)


@view
def get_task(task):
    return load_task(task)


@view
def get_round(task, round_no):
    load_task(task)
    return storage.get(("round", task, round_no))


@view
def get_commit(task, round_no, participant):
    load_task(task)
    return storage.get(("commit", task, round_no, participant))


@view
def round_chain(task, offset=0, limit=100):
    t = load_task(task)
    require(is_int(offset) and is_int(limit) and offset >= 0 and 0 < limit <= 500, "BAD_INPUT", "offset >= 0, limit 1..500")
    out = []
    for r in range(offset + 1, min(t["rounds_done"], offset + limit) + 1):
        rc = storage.get(("round", task, r))
        out.append([r, rc["prev_hash"], rc["new_hash"], rc["eps_e6"]])
    return out


@view
def eps_spent(task):
    t = load_task(task)
    return {"eps_e6": t["eps_e6"], "eps_max_e6": t["eps_max_e6"], "delta_e18": t["delta_e18"],
            "rounds_done": t["rounds_done"], "rho_sum": t["rho_sum"]}


@view
def rewards(task):
    t = load_task(task)
    return {p: storage.get(("reward", task, p)) or 0 for p in t["participants"]}


@view
def reward_of(task, participant):
    load_task(task)
    return storage.get(("reward", task, participant)) or 0


@view
def eps_bound(noise_e6, rounds, delta_e18, alpha_e6):
    # The bound the contract enforces after `rounds` rounds at a constant noise multiplier.
    check_dp_args(noise_e6, delta_e18, alpha_e6)
    require(is_int(rounds) and rounds > 0 and rounds <= param("max_rounds"), "BAD_INPUT", "rounds: 1..max_rounds")
    return bound_from_rho(rounds * rho_of(noise_e6), delta_e18, alpha_e6)


@view
def eps_bound_rho(rho_sum, delta_e18, alpha_e6):
    # The bound for an accumulated rho_sum (as eps_spent returns it).
    require(is_int(rho_sum) and rho_sum >= 0, "BAD_INPUT", "rho_sum must not be negative")
    check_dp_args(1, delta_e18, alpha_e6)
    return bound_from_rho(rho_sum, delta_e18, alpha_e6)


@view
def split_rewards(budget, ids, contributions):
    require(is_int(budget) and budget >= 0, "BAD_INPUT", "budget must not be negative")
    require(isinstance(ids, list) and isinstance(contributions, list) and len(ids) == len(contributions) and len(ids) <= 200, "BAD_INPUT", "ids and contributions of equal length")
    require(all([is_int(c) for c in contributions]), "BAD_INPUT", "contributions are integers")
    require(all([isinstance(i, str) for i in ids]), "BAD_INPUT", "ids are strings")
    return split(budget, ids, contributions)


@view
def fedavg(samples, values):
    # FedAvg of per-participant values weighted by sample counts, sum(n_k v_k) / sum(n_k),
    # rounded half away from zero (values in any fixed-point unit, e.g. 1e-6).
    require(isinstance(samples, list) and isinstance(values, list) and len(samples) == len(values) and len(samples) > 0 and len(samples) <= 200, "BAD_INPUT", "samples and values of equal length 1..200")
    require(all([is_int(n) and n > 0 for n in samples]), "BAD_INPUT", "sample counts are positive integers")
    require(all([is_int(v) for v in values]), "BAD_INPUT", "values are integers")
    return div_half_up(sum([samples[i] * values[i] for i in range(len(samples))]), sum(samples))
