"""Demand-response contract: power-domain vectors, the event life cycle, refusal codes and
the cap property."""

from datetime import datetime, timedelta, timezone

import pytest
from contracts_harness import Chain
from hypothesis import given, settings
from hypothesis import strategies as st

C = "demand_response"
CST = timezone(timedelta(hours=8))
ADMIN, OPER, TERM, AG1, AG2, EVE = "admin", "oper1", "term1", "ag1", "ag2", "eve"
HOUR = 3_600_000


def ms(y, mo, d, h=12):
    return int(datetime(y, mo, d, h, tzinfo=CST).timestamp()) * 1000


START, END = ms(2026, 1, 16, 17), ms(2026, 1, 16, 19)  # Friday 17:00-19:00, 2 h


def make_chain():
    chain = Chain()
    chain.time_ms = ms(2026, 1, 15)
    assert chain.deploy(C, sender=ADMIN).ok
    for acct, role in [(OPER, "operator"), (TERM, "terminal"), (AG1, "aggregator"),
                       (AG2, "aggregator")]:
        assert chain.call(C, "grant_role", ADMIN, account=acct, role=role).ok
    return chain


def create(chain, event="e1", **kw):
    args = dict(event=event, start_ms=START, end_ms=END, target_ckw=50_000, price=40_000,
                penalty_price=15_000, date=20260116)
    args.update(kw)
    return chain.call(C, "create_event", OPER, **args)


@pytest.fixture
def chain():
    c = make_chain()
    assert create(c).ok
    return c


# ----------------------------------------------------------------- vectors


@pytest.mark.parametrize("actual,reduction,r", [(56_000, 24_000, 24_000), (50_000, 30_000, 24_000),
                                                (74_000, 6_000, 6_000)])
def test_effective_response_vectors(actual, reduction, r):
    chain = make_chain()
    assert chain.view(C, "effective_response", bid_ckw=20_000, baseline_ckw=80_000,
                      actual_ckw=actual) == r
    q = chain.view(C, "settle_quote", bid_ckw=20_000, baseline_ckw=80_000, actual_ckw=actual,
                   price=40_000, penalty_price=15_000, duration_ms=2 * HOUR)
    assert q["effective_ckw"] == r


def test_penalty_vector():
    chain = make_chain()
    q = chain.view(C, "settle_quote", bid_ckw=20_000, baseline_ckw=80_000, actual_ckw=74_000,
                   price=40_000, penalty_price=15_000, duration_ms=2 * HOUR)
    assert q == {"effective_ckw": 6_000, "payment_fen": 0, "penalty_fen": 12_000}  # 120.00


def test_payment_vector():
    chain = make_chain()
    q = chain.view(C, "settle_quote", bid_ckw=20_000, baseline_ckw=80_000, actual_ckw=62_000,
                   price=40_000, penalty_price=15_000, duration_ms=2 * HOUR)
    assert q == {"effective_ckw": 18_000, "payment_fen": 144_000, "penalty_fen": 0}  # 1,440.00


def test_baseline_vector_skips_events_weekends_and_the_event_day():
    chain = make_chain()
    days = [[20260115, 81_000, False], [20260114, 79_000, False], [20260113, 80_500, False],
            [20260112, 79_500, False], [20260109, 80_000, False],
            [20260111, 10_000, False],  # Sunday
            [20260110, 10_000, False],  # Saturday
            [20260108, 99_000, False],  # sixth working day: too old
            [20260107, 1_000, True],  # an event day
            [20260116, 1, False]]  # the event day itself
    assert chain.view(C, "baseline_of", days=days, before=20260116) == 80_000  # 800.00 kW
    assert chain.view(C, "baseline_of", days=days[:4], before=20260116) is None


# ----------------------------------------------------------------- life cycle


def test_event_settled_once_with_payment_and_penalty(chain):
    assert chain.call(C, "bid", AG1, event="e1", bid_ckw=20_000).ok
    assert chain.call(C, "bid", AG2, event="e1", bid_ckw=10_000).ok
    assert chain.call(C, "bid", AG2, event="e1", bid_ckw=20_000).ok  # re-bid replaces
    assert chain.view(C, "get_event", event="e1")["bid_total_ckw"] == 40_000
    days = [[20260115, 81_000, False], [20260114, 79_000, False], [20260113, 80_500, False],
            [20260112, 79_500, False], [20260109, 80_000, False]]
    res = chain.call(C, "submit_baseline_days", TERM, event="e1", aggregator=AG1, days=days)
    assert res.ok and res.value == 80_000
    assert chain.call(C, "set_baseline", OPER, event="e1", aggregator=AG2, baseline_ckw=80_000,
                      source="ab" * 32).ok
    chain.time_ms = START + 1
    assert chain.call(C, "submit_measurement", TERM, event="e1", aggregator=AG1,
                      points=[62_000, 62_000, 61_999, 62_001]).value == 62_000
    assert chain.call(C, "submit_measurement", TERM, event="e1", aggregator=AG2,
                      load_ckw=74_000).ok
    assert chain.call(C, "settle", OPER, event="e1").error_code == "NOT_READY"
    chain.time_ms = END
    res = chain.call(C, "settle", OPER, event="e1")
    assert res.ok, res
    lines = {x["aggregator"]: x for x in res.value["lines"]}
    assert (lines[AG1]["effective_ckw"], lines[AG1]["payment_fen"]) == (18_000, 144_000)
    assert (lines[AG2]["effective_ckw"], lines[AG2]["penalty_fen"]) == (6_000, 12_000)
    assert res.find("settled", payment_fen=144_000, penalty_fen=12_000)
    assert chain.view(C, "get_settlement", event="e1") == res.value
    assert chain.call(C, "settle", OPER, event="e1").error_code == "ALREADY_SETTLED"
    assert chain.call(C, "submit_measurement", TERM, event="e1", aggregator=AG1,
                      load_ckw=1).error_code == "ALREADY_SETTLED"


def test_refusal_codes(chain):
    assert chain.call(C, "bid", EVE, event="e1", bid_ckw=1).error_code == "PERMISSION_DENIED"
    assert chain.call(C, "bid", AG1, event="nope", bid_ckw=1).error_code == "NOT_FOUND"
    assert chain.call(C, "bid", AG1, event="e1", bid_ckw=20_000).ok
    assert create(chain).error_code == "DUPLICATE"
    assert chain.call(C, "submit_baseline_days", TERM, event="e1", aggregator=AG1,
                      days=[[20260115, 1, False]]).error_code == "NO_BASELINE"
    assert chain.call(C, "submit_measurement", TERM, event="e1", aggregator=AG1,
                      load_ckw=1).error_code == "NOT_OPEN"
    chain.time_ms = START
    assert chain.call(C, "bid", AG2, event="e1", bid_ckw=1).error_code == "BID_CLOSED"
    assert chain.call(C, "bid", AG1, event="e1", bid_ckw=1).error_code == "BID_CLOSED"
    for who in (OPER, AG1, ADMIN):
        assert chain.call(C, "submit_measurement", who, event="e1", aggregator=AG1,
                          load_ckw=1).error_code == "NOT_TERMINAL"
    assert chain.call(C, "settle", TERM, event="e1").error_code == "PERMISSION_DENIED"
    chain.time_ms = END
    assert chain.call(C, "settle", OPER, event="e1").error_code == "NOT_READY"  # no baseline
    assert chain.call(C, "set_baseline", OPER, event="e1", aggregator=AG1, baseline_ckw=80_000).ok
    # no measurement: no response, a penalty of the floor x bid
    res = chain.call(C, "settle", OPER, event="e1")
    assert res.ok and res.value["lines"][0]["penalty_fen"] == 30_000  # 100 kW x 1.50 x 2 h
    assert chain.call(C, "settle", OPER, event="e1").error_code == "ALREADY_SETTLED"


VIEW = make_chain()


@settings(max_examples=150, deadline=None)
@given(bid=st.integers(0, 10**7), base=st.integers(0, 10**7), actual=st.integers(0, 10**7),
       cap=st.integers(0, 30_000))
def test_effective_response_never_exceeds_cap(bid, base, actual, cap):
    r = VIEW.view(C, "effective_response", bid_ckw=bid, baseline_ckw=base, actual_ckw=actual,
                  cap_bp=cap)
    assert 0 <= r and r * 10_000 <= cap * bid and r <= max(base - actual, 0)

