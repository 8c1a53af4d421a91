"""Red team of contracts/demand_response.py (issue 12) as a hostile aggregator, terminal or
operator holding valid keys.

Findings fixed here:
- baseline by omission: the baseline was the average of the n most recent *listed* working
  days, so a submitter could leave out the low days just before the event and get an older,
  higher baseline (every listed value true, the baseline still inflated: 800.00 -> 923.00 kW
  below). Every working day from the oldest one used up to the event day must now be listed
  (with its had_event flag), else NO_BASELINE.
- impossible dates: [20251299, ...] and [20260230, ...] were accepted as days (and as the
  event date) and, being "recent", displaced real days. Days must be calendar dates and
  listed once (BAD_INPUT).
- baseline after the measurement: a terminal or operator could change a bid's baseline after
  the event opened, i.e. after seeing the measured load, and raise the payment at will. Once
  the event opens a baseline is fixed (BASELINE_LOCKED); an operator may still give one to a
  bid that has none, so a last-minute bid cannot block settlement.
- a huge bid: an aggregator bidding 2**511 - 1 blocked every later bid (the event's bid total
  no longer encodes, VM_SIZE_LIMIT), and a bid of 2**511 - 20,001 after another made settle()
  fail for every bidder (the penalty total overflows), for good once the event opened. Loads
  and bids are now at most 10**10 ckw, prices 10**9, cap_bp 100,000 (BAD_INPUT).
The rest are attacks the contract already refuses; they stay as regression tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fl_redteam_util import harness

C = "demand_response"
CST = timezone(timedelta(hours=8))
ADMIN, OPER, TERM, AG1, AG2, EVE = "admin", "oper1", "term1", "ag1", "ag2", "eve"


def ms(y, mo, d, h=12):
    return int(datetime(y, mo, d, h, tzinfo=CST).timestamp()) * 1000


START, END = ms(2026, 1, 16, 17), ms(2026, 1, 16, 19)  # Friday 17:00-19:00
# the five working days before Friday 2026-01-16, 800.00 kW on average
WEEK = [[20260115, 81_000, False], [20260114, 79_000, False], [20260113, 80_500, False],
        [20260112, 79_500, False], [20260109, 80_000, False]]


@pytest.fixture
def chain():
    c = harness().Chain()
    c.time_ms = ms(2026, 1, 15)
    assert c.deploy(C, sender=ADMIN).ok
    for acct, role in [(OPER, "operator"), (TERM, "terminal"), (AG1, "aggregator"),
                       (AG2, "aggregator")]:
        assert c.call(C, "grant_role", ADMIN, account=acct, role=role).ok
    assert c.call(C, "create_event", OPER, event="e", start_ms=START, end_ms=END,
                  target_ckw=50_000, price=40_000, penalty_price=15_000, date=20260116).ok
    assert c.call(C, "bid", AG1, event="e", bid_ckw=20_000).ok
    return c


def days(chain, d, who=TERM, agg=AG1):
    return chain.call(C, "submit_baseline_days", who, event="e", aggregator=agg, days=d)


# ----------------------------------------------------------------- fixed findings


def test_leaving_out_low_days_does_not_raise_the_baseline(chain):
    assert days(chain, WEEK).value == 80_000
    # the three lowest recent days left out, three old high days listed instead: each listed
    # value is true, but the average of "the 5 most recent listed" was 923.00 kW
    picked = [WEEK[0], WEEK[2], [20260108, 100_000, False], [20260107, 100_000, False],
              [20260106, 100_000, False]]
    res = days(chain, picked)
    assert res.error_code == "NO_BASELINE", res
    assert chain.view(C, "baseline_of", days=picked, before=20260116) is None
    # marking a day as an event day is the only way to skip it, and it is on the record
    flagged = [*WEEK, [20260108, 90_000, False]]
    flagged[1] = [20260114, 79_000, True]
    assert days(chain, flagged).value == 82_200  # (810 + 805 + 795 + 800 + 900) / 5
    assert chain.view(C, "get_bid", event="e", aggregator=AG1)["baseline_ckw"] == 82_200


@pytest.mark.parametrize("bad", [20251299, 20260230, 20260100, 20261301, 20250229, 20260000])
def test_impossible_dates_are_refused(chain, bad):
    res = days(chain, [*WEEK, [bad, 200_000, False]])
    assert res.error_code == "BAD_INPUT", res
    res = chain.call(C, "create_event", OPER, event="x", start_ms=START, end_ms=END,
                     target_ckw=1, price=1, penalty_price=1, date=bad)
    assert res.error_code == "BAD_INPUT", res


def test_leap_day_and_year_boundary_are_real_days(chain):
    # 2024-02-29 is a Thursday; the five working days before Monday 2024-03-04
    leap = [[20240301, 100, False], [20240229, 200, False], [20240228, 300, False],
            [20240227, 400, False], [20240226, 500, False]]
    assert chain.view(C, "baseline_of", days=leap, before=20240304) == 300
    # across new year (2026-01-01 Thursday and 2025-12-31 Wednesday are both working days
    # unless listed as holidays)
    ny = [[20260102, 10, False], [20260101, 20, False], [20251231, 30, False],
          [20251230, 40, False], [20251229, 50, False]]
    assert chain.view(C, "baseline_of", days=ny, before=20260105) == 30


def test_a_day_listed_twice_is_refused(chain):
    res = days(chain, [*WEEK, [20260115, 10, True]])
    assert res.error_code == "BAD_INPUT", res


def test_baseline_is_fixed_once_the_event_opens(chain):
    assert days(chain, WEEK).ok
    assert chain.call(C, "bid", AG2, event="e", bid_ckw=20_000).ok  # no baseline yet
    chain.time_ms = START
    assert chain.call(C, "submit_measurement", TERM, event="e", aggregator=AG1,
                      load_ckw=75_000).ok
    for who in (TERM, OPER, ADMIN):
        res = chain.call(C, "set_baseline", who, event="e", aggregator=AG1,
                         baseline_ckw=200_000)
        assert res.error_code == "BASELINE_LOCKED", (who, res)
        assert days(chain, [[d[0], 200_000, False] for d in WEEK], who=who).error_code \
            == "BASELINE_LOCKED"
    # a terminal cannot fill a missing one after the opening either; an operator can
    assert chain.call(C, "set_baseline", TERM, event="e", aggregator=AG2,
                      baseline_ckw=90_000).error_code == "BASELINE_LOCKED"
    assert chain.call(C, "set_baseline", OPER, event="e", aggregator=AG2, baseline_ckw=0).ok
    assert chain.call(C, "set_baseline", OPER, event="e", aggregator=AG2,
                      baseline_ckw=1).error_code == "BASELINE_LOCKED"
    chain.time_ms = END
    res = chain.call(C, "settle", OPER, event="e")
    assert res.ok, res
    lines = {x["aggregator"]: x for x in res.value["lines"]}
    assert lines[AG1]["baseline_ckw"] == 80_000 and lines[AG1]["effective_ckw"] == 5_000


@pytest.mark.parametrize("huge", [2**511 - 1, 2**511 - 1 - 20_000, 10**10 + 1])
def test_a_huge_bid_can_neither_block_bids_nor_settlement(chain, huge):
    assert chain.call(C, "bid", AG2, event="e", bid_ckw=huge).error_code == "BAD_INPUT"
    assert chain.call(C, "bid", AG2, event="e", bid_ckw=10**10).ok  # the largest bid
    for agg in (AG1, AG2):
        assert chain.call(C, "set_baseline", OPER, event="e", aggregator=agg,
                          baseline_ckw=80_000).ok
    assert chain.call(C, "set_baseline", OPER, event="e", aggregator=AG2,
                      baseline_ckw=huge).error_code == "BAD_INPUT"
    chain.time_ms = START
    for kw in ({"load_ckw": huge}, {"points": [1, huge]}):
        assert chain.call(C, "submit_measurement", TERM, event="e", aggregator=AG1,
                          **kw).error_code == "BAD_INPUT"
    chain.time_ms = END
    res = chain.call(C, "settle", OPER, event="e")
    assert res.ok, res
    # no response on the 100 GW bid: the penalty is large but an ordinary integer
    assert res.value["penalty_fen"] == 5_000 * 10**10 * 15_000 * 2 * 3_600_000 \
        // (10**8 * 3_600_000) + 30_000


def test_event_and_parameter_bounds(chain):
    base = dict(event="x", start_ms=START, end_ms=END, target_ckw=1, price=1,
                penalty_price=1, date=20260116)
    for kw in ({"target_ckw": 10**10 + 1}, {"price": 10**9 + 1}, {"penalty_price": 2**500},
               {"cap_bp": 100_001}):
        res = chain.call(C, "create_event", OPER, **{**base, **kw})
        assert res.error_code == "BAD_INPUT", kw
    assert chain.call(C, "set_param", ADMIN, name="cap_bp", value=100_001).error_code \
        == "BAD_INPUT"
    assert chain.call(C, "create_event", OPER, **{**base, "cap_bp": 100_000}).ok


# ----------------------------------------------------------------- refused already


def test_bids_close_when_the_event_opens_and_only_for_oneself(chain):
    assert chain.call(C, "bid", EVE, event="e", bid_ckw=1).error_code == "PERMISSION_DENIED"
    assert chain.call(C, "bid", TERM, event="e", bid_ckw=1).error_code == "PERMISSION_DENIED"
    for bad in (0, -1, True):
        assert chain.call(C, "bid", AG1, event="e", bid_ckw=bad).error_code == "BAD_INPUT"
    chain.time_ms = START
    assert chain.call(C, "bid", AG1, event="e", bid_ckw=1).error_code == "BID_CLOSED"
    assert chain.call(C, "bid", AG2, event="e", bid_ckw=1).error_code == "BID_CLOSED"


def test_measurements_only_from_terminals_after_opening_and_settled_once(chain):
    assert days(chain, WEEK).ok
    assert chain.call(C, "submit_measurement", TERM, event="e", aggregator=AG1,
                      load_ckw=1).error_code == "NOT_OPEN"
    chain.time_ms = START
    for who in (ADMIN, OPER, AG1, EVE):
        assert chain.call(C, "submit_measurement", who, event="e", aggregator=AG1,
                          load_ckw=1).error_code == "NOT_TERMINAL"
    for kw in ({"load_ckw": -1}, {"points": []}, {"points": [1] * 97}, {"points": [1, -1]},
               {"load_ckw": 1, "points": [1]}):
        assert chain.call(C, "submit_measurement", TERM, event="e", aggregator=AG1,
                          **kw).error_code == "BAD_INPUT", kw
    assert chain.call(C, "submit_measurement", TERM, event="e", aggregator=AG2,
                      load_ckw=1).error_code == "NOT_FOUND"  # AG2 never bid
    assert chain.call(C, "settle", OPER, event="e").error_code == "NOT_READY"
    chain.time_ms = END
    first = chain.call(C, "settle", OPER, event="e")
    assert first.ok
    assert chain.call(C, "settle", OPER, event="e").error_code == "ALREADY_SETTLED"
    assert chain.call(C, "settle", ADMIN, event="e").error_code == "ALREADY_SETTLED"
    assert chain.view(C, "get_settlement", event="e") == first.value


def test_effective_response_never_exceeds_the_cap_at_extremes(chain):
    for bid, base, actual in [(1, 10**12, 0), (10**12, 10**12, 0), (3, 10, 0), (7, 0, 10**9)]:
        r = chain.view(C, "effective_response", bid_ckw=bid, baseline_ckw=base,
                       actual_ckw=actual)
        assert 0 <= r and r * 10_000 <= 12_000 * bid
