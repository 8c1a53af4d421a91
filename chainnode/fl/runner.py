"""`chainnode fl run`: a federated task end to end against a node.

Setup (admin key): site accounts registered, the fl_receipts contract deployed if missing, the
task created with the model spec, initial model and validation-set hashes, the sites as
participants and the admin account as aggregator. Then per round: every site trains, commits
its update hash and sample count in a transaction it signs itself; the aggregator takes the
committed updates, aggregates with clipping and noise, scores contributions and sends the
receipt with the ε it claims (never below the contract's bound); one line per round.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chainnode.crypto.hashing import sm3
from chainnode.fl import model, privacy
from chainnode.fl.ledger import Ledger, LedgerError, addr, ok_receipt
from chainnode.fl.rounds import METRIC_SCALE, Config, Federation, RoundResult


@dataclass(frozen=True)
class RunResult:
    task: str
    rounds: list[RoundResult]
    receipt_gas: list[int]
    commit_gas: list[int]
    eps_e6: int
    metric_e6: int
    addresses: list[str]
    federation: Federation = field(repr=False)


def spec_hash(cfg: Config, fed: Federation) -> str:
    """The task's model_hash: SM3 of the model specification (features, training rule,
    whitening of the validation set) that every site runs."""
    spec = {"model": "linear-day-ahead-v1", "dim": model.DIM, "setpoint": model.SETPOINT,
            "local": "proximal-ridge", "lam": cfg.lam, "topk": cfg.topk, "cap": cfg.cap,
            "whitener": sm3(model.model_bytes(fed.whitener.ravel())).hex()}
    return sm3(json.dumps(spec, sort_keys=True).encode()).hex()


def default_task_name() -> str:
    return f"heat-{int(time.time() * 1000)}"


def run(ledger: Ledger, cfg: Config, rounds: int, keys_dir: Path, *, task: str | None = None,
        eps_max: float | None = None, seed: int | None = None, data_seed: int | None = None,
        out: Callable[[str], None] = print) -> RunResult:
    """`seed` fixes data and noise (tests, figures); `data_seed` only the synthetic data."""
    noise_e6 = privacy.to_e6(cfg.noise)
    if noise_e6 < 1:
        raise ValueError("--noise must be > 0 on chain (the contract needs a noise multiplier)")
    final = privacy.chain_claim([noise_e6] * rounds, cfg.delta)
    eps_max_e6 = final.eps_e6 if eps_max is None else privacy.to_e6(eps_max)
    if final.eps_e6 > eps_max_e6:
        raise ValueError(f"ε after {rounds} rounds at z = {cfg.noise:g} would be "
                         f"{final.eps_e6 / 1e6:.4f} > --eps-max {eps_max:g}")
    ds = seed if data_seed is None else data_seed
    data_rng = np.random.default_rng(ds) if ds is not None else privacy.make_rng()
    fed = Federation(cfg, data_rng, privacy.make_rng(None if seed is None else seed + 1))
    keys = ledger.site_keys(keys_dir, cfg.sites)
    addresses = [addr(k) for k in keys]
    out(f"sites: {cfg.sites} member accounts ({keys_dir}), "
        f"{', '.join(f'{s.name} {s.households} households' for s in fed.sites[:3])}, ...")
    dep = ledger.ensure_contract()
    if dep is not None:
        out(f"deployed {ledger.contract}: gas {dep.receipt['gas_used']:,}, block {dep.height}")
    name = task or default_task_name()
    created = ledger.call(None, "create_task", {
        "task": name, "model_hash": spec_hash(cfg, fed), "participants": addresses,
        "rounds": rounds, "eps_max_e6": eps_max_e6, "delta_e18": privacy.delta_e18(cfg.delta),
        "reward_fen": cfg.budget, "validation_hash": fed.validation_hash,
        "aggregator": addr(ledger.admin.key), "init_model_hash": fed.model_hash},
        f"creating task {name}")
    out(f"task {name}: {rounds} rounds, z = {cfg.noise:g}, clip {cfg.clip:g}, top-{cfg.topk}, "
        f"δ = {cfg.delta:g}, ε_max = {eps_max_e6 / 1e6:.4f}, {cfg.budget / 100:,.2f} yuan per "
        f"round; validation {fed.validation_hash[:16]}… (MAPE of the starting model "
        f"{model.mape(fed.w, fed.validation):.2f} %), block {created.height}")
    results, gas, commit_gas = [], [], []
    for r in range(1, rounds + 1):
        t0 = time.monotonic()
        ups = fed.site_updates()
        res = ledger.commit_all(name, r, [(keys[u.site], u.hash, u.samples) for u in ups])
        included = []
        for u, x in zip(ups, res, strict=True):
            try:
                commit_gas.append(ok_receipt(x, f"site{u.site} commitment")["gas_used"])
                included.append(u)
            except LedgerError as exc:
                out(f"  round {r}: {exc} (left out)")
        if not included:
            raise LedgerError(f"round {r}: no site could commit")
        ids = [addresses[u.site] for u in included]
        rr = fed.aggregate(included, ids)
        claim = privacy.chain_claim([noise_e6] * r, cfg.delta)
        sent = ledger.call(None, "submit_receipt", {
            "task": name, "round_no": r, "prev_hash": rr.prev_hash, "new_hash": rr.new_hash,
            "participants": ids, "rule": "fedavg-capped", "clip_e6": privacy.to_e6(cfg.clip),
            "noise_e6": noise_e6, "sampling_e6": privacy.M6,
            "delta_e18": privacy.delta_e18(cfg.delta), "alpha_e6": claim.alpha_e6,
            "eps_e6": claim.eps_e6, "metric": "mape_pct",
            "metric_e6": rr.metric * (privacy.M6 // METRIC_SCALE),
            "contributions": rr.scores}, f"round {r} receipt")
        paid = [fen for _, fen in sent.receipt["value"]["rewards"]]
        if paid != rr.rewards:
            raise LedgerError(f"round {r}: the contract paid {paid}, the aggregator computed "
                              f"{rr.rewards}")
        results.append(rr)
        gas.append(sent.receipt["gas_used"])
        mc = (f", Shapley ±{max(rr.half_width):.4f} (Monte-Carlo, 95 %)"
              if any(rr.half_width) else "")
        out(f"round {r:>2}/{rounds}: {len(included)} commitments, MAPE {rr.metric / 100:.2f} %, "
            f"ε {claim.eps_e6 / 1e6:.4f} (bound {sent.receipt['value']['bound_e6'] / 1e6:.4f}, "
            f"α {claim.alpha_e6 / 1e6:g}), upload {rr.upload_bytes:,} B, paid "
            f"{sum(paid) / 100:,.2f} yuan (max {max(paid) / 100:,.2f}), receipt gas "
            f"{sent.receipt['gas_used']:,}, block {sent.height}, "
            f"{time.monotonic() - t0:.1f} s{mc}")
    return RunResult(name, results, gas, commit_gas, claim.eps_e6, results[-1].metric, addresses, fed)
