"""`chainnode fl run|verify`: the reference federated-learning aggregator against a node.

run   registers the site accounts (admin key), deploys fl_receipts if missing, creates a task
      and plays it round by round: sites commit their own update hashes, the aggregator
      sends receipts with the ε it claims, contributions and rewards; one line per round.
verify re-checks a task from chain data alone and prints every inconsistency (exit 1 if any).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def _run(a: argparse.Namespace, key_loader: Callable) -> int:
    from chainnode.fl import runner
    from chainnode.fl.ledger import Ledger, LedgerError
    from chainnode.fl.rounds import Config

    if a.sites < 1 or a.rounds < 1:
        raise SystemExit("error: --sites and --rounds must be at least 1")
    cfg = Config(sites=a.sites, noise=a.noise, clip=a.clip, topk=a.topk, delta=a.delta,
                 budget=a.budget)
    key = key_loader(a.key)
    keys_dir = Path(a.keys_dir) if a.keys_dir else Path(a.key).resolve().parent / "fl-sites"
    try:
        res = runner.run(Ledger(a.url, key, contract=a.contract), cfg, a.rounds, keys_dir,
                         task=a.task, eps_max=a.eps_max, seed=a.seed)
    except LedgerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"task {res.task}: {len(res.rounds)} rounds on chain, final MAPE "
          f"{res.metric_e6 / 100:.2f} %, ε {res.eps_e6 / 1e6:.4f}; check it with: "
          f"chainnode fl verify --url {a.url} --task {res.task}")
    return 0


def _verify(a: argparse.Namespace) -> int:
    from chainnode.fl import verify
    from chainnode.fl.ledger import Ledger

    rep = verify.fetch_and_check(Ledger(a.url, None, contract=a.contract), a.task)
    if rep.ok:
        print(f"task {rep.task}: {rep.rounds} rounds verified: hash chain, commitments, "
              "ε bounds and budget, rewards all consistent")
        return 0
    print(f"task {rep.task}: {len(rep.problems)} problem(s) in {rep.rounds} rounds:")
    for line in rep.problems:
        print(f"  {line}")
    return 1


def add_parser(sub, default_url: str, key_loader: Callable) -> None:
    g = sub.add_parser("fl", help="federated learning: run a task, verify a task")
    gs = g.add_subparsers(dest="fl_cmd", required=True, metavar="ACTION",
                         help="run: a federated task end to end; verify: re-check a task")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--url", default=default_url, help="node RPC URL")
        sp.add_argument("--contract", default="fl_receipts",
                        help="name of the deployed fl_receipts contract")

    r = gs.add_parser("run", help="run a federated task end to end against a node")
    common(r)
    r.add_argument("--key", required=True,
                   help="admin SM2 key file: registers site accounts, deploys the contract if "
                        "missing, creates the task and signs the receipts (the aggregator)")
    r.add_argument("--sites", type=int, default=8, help="number of sites (exact Shapley <= 8)")
    r.add_argument("--rounds", type=int, default=20, help="aggregation rounds")
    r.add_argument("--keys-dir", help="where the sites' own SM2 keys are kept or created "
                                      "(default: fl-sites/ next to --key)")
    r.add_argument("--task", help="task id (default: heat-<milliseconds>)")
    r.add_argument("--noise", type=float, default=1.0, help="noise multiplier z (> 0)")
    r.add_argument("--clip", type=float, default=0.01, help="L2 clip norm of a site's update")
    r.add_argument("--topk", type=int, default=8,
                   help="coordinates a site sends per round (0 = dense)")
    r.add_argument("--delta", type=float, default=1e-5, help="δ of the (ε, δ) guarantee")
    r.add_argument("--eps-max", type=float,
                   help="the task's ε budget (default: the ε the planned rounds will claim)")
    r.add_argument("--budget", type=int, default=90_000, help="reward per round, fen")
    r.add_argument("--seed", type=int, help="seed the synthetic data and noise (tests and "
                                            "figures only; default: OS randomness)")
    r.set_defaults(fn=lambda a: _run(a, key_loader))

    v = gs.add_parser("verify", help="re-check a task from chain data alone")
    common(v)
    v.add_argument("--task", required=True, help="task id")
    v.set_defaults(fn=_verify)

