"""The demo's electric-heating act: a federated load model on chain, then demand response.

Five heating sites (each its own member account with its own SM2 key) train the day-ahead
load model with the reference aggregator (`chainnode.fl`) for a few rounds: every site
commits its update hash itself, the aggregator's receipts chain by model hash, claim ε and
pay rewards by contribution. Then a demand-response event (demand_response contract) is
settled with the federated model's baseline; the window runs on the live block clock, so it
is a few seconds long, and the contract's quote for a real 2-hour window is shown beside it.
Everything printed is read back from chain queries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from chainnode.client import Client
from chainnode.fl import dr, runner, verify
from chainnode.fl.ledger import Ledger, addr, ok_receipt
from chainnode.fl.rounds import Config

ROUNDS = 3
SITES = 5
DATA_SEED = 20241201
TASK = "heating-demo"
NOISE = 0.5               # z: with 5 sites, z = 1 would drown 3 rounds of learning
REPO = Path(__file__).resolve().parent.parent


def ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def fen(x: int) -> str:
    return f"{x / 100:,.2f}"


def act(net, check: Callable[[bool, str], bool], today: date, step: Callable[[str], None],
        say: Callable[[str], None]) -> None:
    t0 = time.monotonic()
    admin = net.keys["admin"]
    url = net.urls[0]
    ledger = Ledger(url, admin, chain_id=net.chain_id)
    op = Client(url, admin, chain_id=net.chain_id)
    step(f"electric heating: {SITES} coal-to-electricity sites train a load model by federated "
         f"learning ({ROUNDS} rounds)")
    cfg = Config(sites=SITES, noise=NOISE)
    res = runner.run(ledger, cfg, ROUNDS, net.root / "fl-sites", task=TASK,
                     data_seed=DATA_SEED, out=say)
    chain = ledger.q("round_chain", task=TASK)
    spent = ledger.q("eps_spent", task=TASK)
    paid = ledger.q("rewards", task=TASK)
    task = ledger.task(TASK)
    say("read back from the chain:")
    for r, prev, new, eps in chain:
        say(f"  round {r}: model {prev[:12]}… -> {new[:12]}…, cumulative ε {eps / 1e6:.4f}")
    say(f"  ε spent {spent['eps_e6'] / 1e6:.4f} of the budget {spent['eps_max_e6'] / 1e6:.4f}"
        f" (δ = {spent['delta_e18'] / 1e18:g})")
    for i, a in enumerate(res.addresses):
        say(f"  site{i} {a[:12]}… earned {fen(paid[a])} yuan")
    linked = all(chain[i][1] == chain[i - 1][2] for i in range(1, len(chain)))
    check(len(chain) == ROUNDS and linked and chain[0][1] == task["init_model_hash"],
          f"FL: {ROUNDS} receipts chained by model hash from the task's initial model")
    check(sum(paid.values()) == ROUNDS * cfg.budget,
          f"FL: rewards sum to {ROUNDS} x the round budget ({fen(ROUNDS * cfg.budget)} yuan)")
    rep = verify.fetch_and_check(ledger, TASK)
    say(f"chainnode fl verify: {'ok' if rep.ok else '; '.join(rep.problems)}")
    check(rep.ok, "FL: the task re-checks from chain data alone (chainnode fl verify)")

    step("demand response: an evening event settled with the federated baseline")
    sent = 0
    if not isinstance(op.state("sys.contracts", dr.DR_CONTRACT).value, dict):
        src = (REPO / "contracts" / "demand_response.py").read_text(encoding="utf-8")
        ok_receipt(op.deploy(dr.DR_CONTRACT, src, {}), "deploying demand_response")
        sent += 1
    terminal = net.keys["edge-terminal-d1"]
    ok_receipt(op.call(dr.DR_CONTRACT, "grant_role", {
        "account": addr(terminal), "role": "terminal"}), "grant terminal")
    sent += 1
    p = dr.portfolio(res.federation, shed=0.25)
    history = [ymd(today - timedelta(days=k)) for k in range(len(p.history_ckw), 0, -1)]
    done = dr.settle_event(op, Client(url, terminal, chain_id=net.chain_id), p,
                           event="heat-evening", model_hash=res.rounds[-1].new_hash,
                           event_date=ymd(today), history_dates=history)
    sent += done.txs
    net.sent += ledger.sent + sent
    line = done.settlement["lines"][0]
    say(f"window 17:00-19:00 of the sites' last day; bid {fen(line['bid_ckw'])} kW")
    say(f"baseline, federated model {res.rounds[-1].new_hash[:12]}…: "
        f"{fen(line['baseline_ckw'])} kW; the 5-working-day rule would say "
        f"{fen(done.rule_baseline_ckw)} kW; without the event the sites would have drawn "
        f"{fen(p.true_ckw)} kW")
    say(f"measured by edge-terminal-d1: {fen(line['actual_ckw'])} kW -> reduction "
        f"{fen(line['reduction_ckw'])} kW, effective response {fen(line['effective_ckw'])} kW "
        f"(cap 120 % of the bid)")
    say(f"settled in block {done.settlement['height']}: payment {fen(line['payment_fen'])} "
        f"yuan for the compressed window; over a real 2 h window the contract quotes "
        f"{fen(done.quote_2h['payment_fen'])} yuan (penalty {fen(done.quote_2h['penalty_fen'])})")
    check(line["baseline_ckw"] == p.forecast_ckw,
          "DR: the event is settled with the federated model's baseline")
    check(0 < line["effective_ckw"] <= line["bid_ckw"] * 12 // 10,
          "DR: the effective response is positive and within the 120 % cap")
    say(f"electric-heating act: {time.monotonic() - t0:.1f} s")
