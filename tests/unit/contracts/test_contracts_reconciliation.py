"""Reconciliation contract: the vector, windows, classes, month-end, permissions, properties."""

from datetime import datetime, timedelta, timezone

import pytest
from contracts_harness import Chain, exports
from hypothesis import given, settings
from hypothesis import strategies as st

CST = timezone(timedelta(hours=8))
ADMIN, MKT, FIN, BANK, AUD, EVE = "admin", "mkt", "fin", "bank", "aud", "eve"
D1, D2, D3 = 20240612, 20240613, 20240614


def ms(y, mo, d, h=12):
    return int(datetime(y, mo, d, h, tzinfo=CST).timestamp()) * 1000


def make_chain(**init):
    chain = Chain()
    chain.time_ms = ms(2024, 6, 12, 20)
    assert chain.deploy("reconciliation", sender=ADMIN, **init).ok
    for acct, role in [(MKT, "marketing"), (FIN, "finance"), (BANK, "bank"), (AUD, "auditor")]:
        assert chain.call("reconciliation", "grant_role", ADMIN, account=acct, role=role).ok
    return chain


@pytest.fixture
def chain():
    return make_chain()


def rec(serial, amount, customer="C1", **kw):
    return {"serial": serial, "amount": amount, "customer": customer, **kw}


PARTY_ACCOUNT = {"marketing": MKT, "finance": FIN, "bank": BANK}


def submit(chain, party, date, records):
    res = chain.call("reconciliation", "submit_batch", PARTY_ACCOUNT[party], party=party, date=date, records=records)
    assert res.ok, res
    return res


def reconcile(chain, date, who=FIN):
    res = chain.call("reconciliation", "reconcile", who, date=date)
    assert res.ok, res
    return res


def classes(chain, date):
    return {e["serial"]: (e["class"], e["diff"]) for e in chain.view("reconciliation", "get_entries", date=date)}


def test_power_domain_vector(chain):
    submit(chain, "marketing", D1, [rec("T1", 10000, "A"), rec("T2", 5000, "B"), rec("T3", 8000, "C")])
    submit(chain, "bank", D1, [rec("T1", 10000, "A"), rec("T2", 5500, "B"), rec("T4", 3000, "D")])
    submit(chain, "bank", D2, [])  # T+1 batch delivered: the window is closed
    reconcile(chain, D1)
    got = classes(chain, D1)
    assert got == {
        "T1": ("MATCHED", 0),
        "T2": ("AMOUNT_DIFF", 500),
        "T3": ("ONLY_IN_SYSTEM", -8000),
        "T4": ("ONLY_IN_BANK", 3000),
    }
    by_class = chain.view("reconciliation", "get_summary", date=D1)["by_class"]
    assert by_class["ONLY_IN_SYSTEM"]["amount"] == 8000
    assert by_class["ONLY_IN_BANK"]["amount"] == 3000
    assert by_class["MATCHED"]["records"] == 2
    bank = chain.view("reconciliation", "get_party_summary", date=D1, party="bank")
    assert bank == {"MATCHED": {"records": 1, "amount": 10000}, "AMOUNT_DIFF": {"records": 1, "amount": 5000},
                    "ONLY_IN_BANK": {"records": 1, "amount": 3000}}


def test_unmatched_is_in_transit_until_t_plus_1_then_matched_next_day(chain):
    submit(chain, "marketing", D1, [rec("T1", 10000)])
    submit(chain, "bank", D1, [])
    res = reconcile(chain, D1)
    assert classes(chain, D1) == {"T1": ("IN_TRANSIT", 0)}
    assert "difference" not in res.names()
    submit(chain, "bank", D2, [rec("T1", 10000), rec("T9", 700)])
    reconcile(chain, D1)
    assert classes(chain, D1) == {"T1": ("MATCHED", 0)}
    submit(chain, "marketing", D2, [])
    reconcile(chain, D2)
    assert classes(chain, D2) == {"T9": ("ONLY_IN_BANK", 700)}  # T1 is not counted twice
    assert chain.view("reconciliation", "record_class", party="bank", date=D2, index=0) == "MATCHED"


def test_window_elapsed_on_block_clock_closes_in_transit(chain):
    submit(chain, "marketing", D1, [rec("T1", 10000)])
    chain.time_ms = ms(2024, 6, 14, 9)
    reconcile(chain, D1)
    assert classes(chain, D1) == {"T1": ("ONLY_IN_SYSTEM", -10000)}


def test_pending_payment_is_in_transit_not_a_difference(chain):
    submit(chain, "marketing", D1, [rec("T1", 10000, status="PENDING")])
    submit(chain, "bank", D2, [])
    reconcile(chain, D1)
    assert classes(chain, D1) == {"T1": ("IN_TRANSIT", 0)}


def test_duplicates_status_customer_and_date_differences(chain):
    submit(chain, "marketing", D1, [rec("T1", 100), rec("T1", 100), rec("T2", 200), rec("T3", 300, "X"),
                                    rec("T4", 400)])
    submit(chain, "bank", D1, [rec("T1", 100), rec("T2", 200, status="FAILED"), rec("T3", 300, "Y"),
                               rec("T4", 400, date=20240615), rec("T4", 400)])
    submit(chain, "bank", D2, [])
    reconcile(chain, D1)
    entries = chain.view("reconciliation", "get_entries", date=D1)
    dups = [e for e in entries if e["class"] == "DUPLICATE"]
    assert sorted(e["refs"][0] for e in dups) == ["bank:20240612:4", "marketing:20240612:1"]
    diffs = {e["serial"]: e["reasons"] for e in entries if e["class"] == "STATUS_DIFF"}
    assert diffs == {"T2": ["status"], "T3": ["customer"], "T4": ["date"]}
    assert classes(chain, D1)["T1"] == ("MATCHED", 0)


def test_previous_date_must_be_reconciled_and_is_then_locked(chain):
    submit(chain, "marketing", D1, [rec("T1", 100)])
    submit(chain, "marketing", D2, [rec("T2", 100)])
    res = chain.call("reconciliation", "reconcile", FIN, date=D2)
    assert res.error_code == "NOT_READY"
    reconcile(chain, D1)
    reconcile(chain, D2, who=AUD)
    assert chain.call("reconciliation", "reconcile", FIN, date=D1).error_code == "LOCKED"
    res = chain.call("reconciliation", "submit_batch", MKT, party="marketing", date=D1, records=[rec("T5", 1)])
    assert res.error_code == "LOCKED"


def test_bad_records_are_rejected(chain):
    for bad in [rec("", 1), rec("T1", -1), rec("T1", 1, status="WEIRD"), rec("T1", 1, direction="up")]:
        res = chain.call("reconciliation", "submit_batch", MKT, party="marketing", date=D1, records=[bad])
        assert res.error_code == "BAD_INPUT", bad


# ---------------------------------------------------------------- month-end


def month_setup(chain):
    submit(chain, "finance", 20240603, [rec("F1", 10000), rec("F2", 5000), rec("F3", 2000, direction="out")])
    submit(chain, "finance", 20240630, [rec("F5", 700)])  # booked, bank receives on 07-01
    submit(chain, "bank", 20240603, [rec("F1", 10000), rec("F2", 5000), rec("F3", 2000, direction="out"),
                                     rec("B9", 300)])  # B9: bank interest not yet booked


def test_month_end_balance_equation_holds(chain):
    month_setup(chain)
    book = 10000 + 5000 - 2000 + 700
    statement = 10000 + 5000 - 2000 + 300
    chain.call("reconciliation", "submit_balance", FIN, party="finance", month=202406, balance=book)
    chain.call("reconciliation", "submit_balance", BANK, party="bank", month=202406, balance=statement)
    res = chain.call("reconciliation", "month_end", FIN, month=202406)
    assert res.ok, res
    assert res.value["balanced"] is True
    assert res.value["terms"] == {"bank_received_not_booked": 300, "bank_paid_not_booked": 0,
                                  "booked_not_received": 700, "booked_not_paid": 0}
    assert res.value["adjusted_book"] == res.value["adjusted_bank"] == book + 300
    month = chain.view("reconciliation", "get_month", month=202406)
    assert month["by_class"]["MATCHED"]["entries"] == 3
    assert month["by_class"]["ONLY_IN_SYSTEM"]["amount"] == 700


def test_month_end_mismatch_raises_alarm(chain):
    month_setup(chain)
    chain.call("reconciliation", "submit_balance", FIN, party="finance", month=202406, balance=13700)
    chain.call("reconciliation", "submit_balance", BANK, party="bank", month=202406, balance=13000)
    res = chain.call("reconciliation", "month_end", AUD, month=202406)
    assert res.value["balanced"] is False
    assert res.find("alarm", kind="BALANCE_MISMATCH", difference=13700 + 300 - 13000 - 700)


def test_month_end_needs_both_balances(chain):
    month_setup(chain)
    assert chain.call("reconciliation", "month_end", FIN, month=202406).error_code == "NOT_READY"


# ---------------------------------------------------------------- permissions

STATE_CHANGING = [
    ("grant_role", dict(account="x", role="bank"), ADMIN),
    ("revoke_role", dict(account=BANK, role="bank"), ADMIN),
    ("set_param", dict(name="window_days", value=2), ADMIN),
    ("submit_batch", dict(party="bank", date=D1, records=[]), BANK),
    ("submit_balance", dict(party="finance", month=202406, balance=1), FIN),
    ("reconcile", dict(date=D1), FIN),
    ("month_end", dict(month=202406), AUD),
]


@pytest.mark.parametrize("method,kwargs,good", STATE_CHANGING, ids=[m for m, _, _ in STATE_CHANGING])
def test_unauthorised_caller_is_denied(chain, method, kwargs, good):
    chain.call("reconciliation", "submit_balance", FIN, party="finance", month=202406, balance=0)
    chain.call("reconciliation", "submit_balance", BANK, party="bank", month=202406, balance=0)
    intruders = [EVE, MKT] + ([ADMIN] if method.startswith("submit") else [])
    for intruder in intruders:
        before = dict(chain.store)
        res = chain.call("reconciliation", method, intruder, **kwargs)
        assert not res.ok and res.error_code == "PERMISSION_DENIED", (method, intruder)
        assert chain.store == before  # a failed call writes nothing
    res = chain.call("reconciliation", method, good, **kwargs)
    assert res.ok, res


# ---------------------------------------------------------------- properties

record_st = st.tuples(
    st.sampled_from(["S1", "S2", "S3", "S4", "S5", "S6"]),
    st.sampled_from([100, 200]),
    st.sampled_from(["C1", "C2"]),
    st.sampled_from(["SUCCESS", "SUCCESS", "FAILED", "PENDING"]),
)
day_st = st.lists(record_st, max_size=6)


@settings(max_examples=25, deadline=None)
@given(mkt=st.lists(day_st, min_size=3, max_size=3), bank=st.lists(day_st, min_size=3, max_size=3),
       close_by_clock=st.booleans())
def test_every_record_lands_in_exactly_one_class(mkt, bank, close_by_clock):
    chain = make_chain()
    dates = [D1, D2, D3]
    expected = []
    for party, days in [("marketing", mkt), ("bank", bank)]:
        for date, day in zip(dates, days, strict=True):
            records = [rec(s, a, c, status=st_) for s, a, c, st_ in day]
            submit(chain, party, date, records)
            expected += [f"{party}:{date}:{i}" for i in range(len(records))]
    if close_by_clock:
        chain.time_ms = ms(2024, 6, 20)
    else:
        submit(chain, "bank", 20240615, [])
    seen = []
    for date in dates:
        reconcile(chain, date)
    for date in dates:
        for e in chain.view("reconciliation", "get_entries", date=date, limit=1000):
            assert e["class"] in {"MATCHED", "AMOUNT_DIFF", "STATUS_DIFF", "ONLY_IN_BANK", "ONLY_IN_SYSTEM",
                                  "DUPLICATE", "IN_TRANSIT"}
            seen += e["refs"]
    assert sorted(seen) == sorted(expected)


@settings(max_examples=20, deadline=None)
@given(fin=day_st, bank=day_st, dirs=st.lists(st.booleans(), min_size=12, max_size=12))
def test_month_end_balances_whenever_balances_match_the_records(fin, bank, dirs):
    chain = make_chain()
    balances = {}
    for party, day, flip in [("finance", fin, dirs[:6]), ("bank", bank, dirs[6:])]:
        records = [rec(s, a, c, status=st_, direction="out" if f else "in")
                   for (s, a, c, st_), f in zip(day, flip, strict=False)]
        submit(chain, party, 20240605, records)
        balances[party] = 50000 + sum((r["amount"] if r["direction"] == "in" else -r["amount"])
                                      for r in records if r["status"] == "SUCCESS")
        account = PARTY_ACCOUNT[party]
        chain.call("reconciliation", "submit_balance", account, party=party, month=202406, balance=balances[party])
    res = chain.call("reconciliation", "month_end", FIN, month=202406)
    assert res.ok and res.value["balanced"] is True
    month = chain.view("reconciliation", "get_month", month=202406, with_entries=True)
    refs = sorted(r for e in month["entries"] for r in e["refs"])
    assert len(refs) == len(set(refs)) == len(fin[:6]) + len(bank[:6])


def test_permission_table_covers_every_state_changing_method():
    table = {entry[0] for entry in STATE_CHANGING}
    assert table == {m for m, kind in exports("reconciliation").items() if kind == "export"}
