"""A demand-response event for the federation's sites, with the federated model's baseline.

The aggregator's portfolio is every site. For an evening window of the last held-out day it
needs: the baseline (what the sites would have drawn without the event), forecast by the
trained global model from the day before's load and the day's temperature; the classic rule
baseline (average of the same window on the previous working days, which does not know that
tonight is colder); and the load actually measured when the sites shed part of their heating.
Loads in 0.01 kW (`ckw`) as the demand_response contract takes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from chainnode.crypto.address import address_of
from chainnode.fl import model
from chainnode.fl.ledger import ok_receipt
from chainnode.fl.rounds import Federation
from chainnode.fl.sites import PPD

EVENING = (68, 76)        # 17:00-19:00 in 15-minute slots


@dataclass(frozen=True)
class Portfolio:
    forecast_ckw: int             # federated model's baseline for the window
    true_ckw: int                 # what the sites would really have drawn
    history_ckw: list[int]        # the same window on each earlier day, oldest first
    actual_ckw: int               # measured during the event

    def bid_ckw(self, share: float) -> int:
        return int(self.forecast_ckw * share)


def window_mean(load: np.ndarray, day: int, window: tuple[int, int]) -> float:
    return float(load[day * PPD + window[0]:day * PPD + window[1]].mean())


def portfolio(fed: Federation, shed: float, window: tuple[int, int] = EVENING) -> Portfolio:
    """The last day of every site's held-out data; the sites shed `shed` of their load."""
    forecast = true = 0.0
    hist = None
    for site, test in zip(fed.sites, fed.test, strict=True):
        pred = model.predict(fed.w, test)[-PPD:]           # the last day, kW
        forecast += float(pred[window[0]:window[1]].mean())
        last = site.days - 1
        true += window_mean(site.load, last, window)
        h = np.array([window_mean(site.load, d, window) for d in range(last - 7, last)])
        hist = h if hist is None else hist + h
    ckw = lambda kw: int(round(kw * 100))  # noqa: E731
    return Portfolio(ckw(forecast), ckw(true), [ckw(x) for x in hist], ckw(true * (1 - shed)))


# ---------------------------------------------------------------- on chain (demand_response)

DR_CONTRACT = "demand_response"
PRICE = 40_000            # 4.00 yuan per kW·h (0.0001 yuan units)
PENALTY = 15_000          # 1.50 yuan per kW·h


@dataclass(frozen=True)
class Settled:
    event: str
    settlement: dict              # get_settlement as the chain returns it
    quote_2h: dict                # settle_quote of the same numbers over a real 2-hour window
    rule_baseline_ckw: int        # the 5-working-day rule (baseline_of view) for comparison
    txs: int                      # transactions sent


def _retry(call, code: str, deadline: float, what: str) -> int:
    """Send until the receipt is not `code` (a window boundary the block clock has not
    reached yet) or the deadline passes; the number of transactions sent."""
    sent = 0
    while True:
        res = call()
        sent += 1
        rc = res.get("receipt") or {}
        if rc.get("error_code") != code or time.monotonic() > deadline:
            ok_receipt(res, what)
            return sent
        time.sleep(0.2)


def settle_event(operator, terminal, p: Portfolio, *, event: str, model_hash: str,
                 event_date: int, history_dates: list[int], bid_share: float = 0.2,
                 window_ms: int = 3_000, lead_ms: int = 2_500) -> Settled:
    """A compressed event on the live block clock: created `lead_ms` ahead, `window_ms` long.
    The operator (also the bidding aggregator) bids and sets the federated baseline, the
    terminal reports the measured load once the window opens, the operator settles after."""
    bid = p.bid_ckw(bid_share)
    start = int(time.time() * 1000) + lead_ms
    end = start + window_ms
    ok_receipt(operator.call(DR_CONTRACT, "create_event", {
        "event": event, "start_ms": start, "end_ms": end, "target_ckw": bid, "price": PRICE,
        "penalty_price": PENALTY, "date": event_date}), "create_event")
    ok_receipt(operator.call(DR_CONTRACT, "bid", {"event": event, "bid_ckw": bid}), "bid")
    me = address_of(operator.key.public_key)
    ok_receipt(operator.call(DR_CONTRACT, "set_baseline", {
        "event": event, "aggregator": me, "baseline_ckw": p.forecast_ckw,
        "source": model_hash}), "set_baseline")
    while time.time() * 1000 < start:
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    sent = 3 + _retry(lambda: terminal.call(DR_CONTRACT, "submit_measurement", {
        "event": event, "aggregator": me, "load_ckw": p.actual_ckw}), "NOT_OPEN", deadline,
        "submit_measurement")
    while time.time() * 1000 < end:
        time.sleep(0.05)
    sent += _retry(lambda: operator.call(DR_CONTRACT, "settle", {"event": event}), "NOT_READY",
           deadline, "settle")
    days = [[d, ckw, False] for d, ckw in zip(history_dates, p.history_ckw, strict=True)]
    rule = operator.query(DR_CONTRACT, "baseline_of", {"days": days, "before": event_date})
    quote = operator.query(DR_CONTRACT, "settle_quote", {
        "bid_ckw": bid, "baseline_ckw": p.forecast_ckw, "actual_ckw": p.actual_ckw,
        "price": PRICE, "penalty_price": PENALTY, "duration_ms": 2 * 3_600_000})
    return Settled(event, operator.query(DR_CONTRACT, "get_settlement", {"event": event}),
                   quote, rule, sent)
