"""Billing contract: tariff vectors, readings, true-up, prepaid cost control, permissions."""

from datetime import datetime, timedelta, timezone

import pytest
from contracts_harness import Chain, exports
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CST = timezone(timedelta(hours=8))


def ms(y, mo, d, h=12, mi=0):
    """Block time (ms since epoch) of a wall-clock time in UTC+8."""
    return int(datetime(y, mo, d, h, mi, tzinfo=CST).timestamp()) * 1000


ADMIN, TERM, MKT, BANK, OPER, EVE = "admin", "term1", "mkt1", "bank1", "oper1", "eve"


def make_chain(**init):
    chain = Chain()
    chain.time_ms = ms(2024, 6, 3, 9)
    res = chain.deploy("billing", sender=ADMIN, **init)
    assert res.ok, res
    for acct, role in [(TERM, "terminal"), (MKT, "marketing"), (BANK, "bank"), (OPER, "operator")]:
        assert chain.call("billing", "grant_role", ADMIN, account=acct, role=role).ok
    return chain


@pytest.fixture
def chain():
    return make_chain()


def add_customer(chain, cust="C1", **kw):
    res = chain.call("billing", "add_customer", ADMIN, customer=cust, **kw)
    assert res.ok, res
    return res


def add_meter(chain, meter="M1", cust="C1", **kw):
    res = chain.call("billing", "add_meter", ADMIN, meter=meter, customer=cust, **kw)
    assert res.ok, res
    return res


def read(chain, meter, value, t=None, **kw):
    res = chain.call("billing", "submit_reading", TERM, time_ms=t, meter=meter, value=value, **kw)
    assert res.ok, res
    return res


def balance(chain, cust="C1"):
    return chain.view("billing", "get_customer", customer=cust)["balance"]


def state(chain, cust="C1"):
    return chain.view("billing", "get_customer", customer=cust)["state"]


# ---------------------------------------------------------------- tariff vectors


def test_flat_crossing_tier_1_to_2_is_114_60(chain):
    q = chain.view("billing", "quote", ytd_before=270000, energy=20000)
    assert q["total"] == 11460
    assert [it[:2] + [it[3]] for it in q["items"]] == [["tier1", 6000, 3228], ["tier2", 14000, 8232]]


def test_tou_plus_tier_is_98_20(chain):
    q = chain.view("billing", "quote", ytd_before=270000, tou={"peak": 12000, "valley": 8000})
    amounts = {it[0]: it[3] for it in q["items"]}
    assert amounts == {"peak": 6816, "valley": 2304, "tier2_inc": 700}
    assert q["total"] == 9820


def test_tier_3_increment_applies_above_4800_kwh(chain):
    q = chain.view("billing", "quote", ytd_before=470000, energy=20000)
    # 100 kWh at 0.588 and 100 kWh at 0.838
    assert q["total"] == 5880 + 8380


def test_rollover_vector_21_75_kwh_times_80(chain):
    add_customer(chain, balance=10_000_00, prepaid=False)
    add_meter(chain, ct=20, pt=4, digits=6, reading=99999050)
    res = read(chain, "M1", 1225)
    assert res.value["energy"] == 174000  # 1,740.00 kWh
    assert res.find("charge")[0]["energy"] == 174000


def test_monthly_reading_bills_tiered_amount_and_month_bill(chain):
    add_customer(chain, balance=0, prepaid=False)
    add_meter(chain, reading=0)
    read(chain, "M1", 270000, t=ms(2024, 5, 31, 23))
    first = balance(chain)
    read(chain, "M1", 290000, t=ms(2024, 6, 30, 23))
    assert first - balance(chain) == 11460
    bill = chain.view("billing", "get_bill", customer="C1", month=202406)
    assert bill["amount"] == 11460 and bill["energy"] == 20000
    assert bill["items"] == {"tier1": 3228, "tier2": 8232}
    assert chain.view("billing", "get_ytd", customer="C1", year=2024) == 290000


def test_tou_customer_reading_is_the_tou_plus_tier_vector(chain):
    add_customer(chain, balance=0, prepaid=False)
    add_meter(chain, reading=100000, tou={"peak": 60000, "valley": 40000})
    chain.call("billing", "daily_charge", TERM, customer="C1", energy=270000)  # ytd 2,700 kWh
    res = read(chain, "M1", 120000, tou={"peak": 72000, "valley": 48000})
    assert res.value["energy"] == 20000 and res.value["amount"] == 9820  # 98.20 yuan
    items = chain.view("billing", "get_bill", customer="C1", month=202406)["items"]
    assert items["peak"] == 6816 and items["valley"] == 2304 and items["tier2_inc"] == 700


def test_ytd_resets_each_calendar_year(chain):
    add_customer(chain, balance=0, prepaid=False)
    add_meter(chain, reading=0)
    read(chain, "M1", 300000, t=ms(2024, 12, 31, 12))
    res = read(chain, "M1", 301000, t=ms(2025, 1, 2, 12))
    assert res.value["amount"] == 538  # back in tier 1
    assert chain.view("billing", "get_ytd", customer="C1", year=2025) == 1000


def test_reading_that_goes_down_is_an_anomaly_and_not_billed(chain):
    add_customer(chain, balance=5000, prepaid=False)
    add_meter(chain, reading=50000)
    res = read(chain, "M1", 40000)
    assert res.value["status"] == "ANOMALY"
    assert res.find("anomaly", meter="M1", kind="READING_DOWN")
    assert "charge" not in res.names()
    assert balance(chain) == 5000
    # the next good reading is measured from the last good one
    res = read(chain, "M1", 51000)
    assert res.value["energy"] == 1000


def test_estimated_reading_is_provisional_then_trued_up(chain):
    add_customer(chain, balance=100000, prepaid=False)
    add_meter(chain, reading=0)
    est = read(chain, "M1", 1000, estimated=True)
    assert est.value["status"] == "PROVISIONAL" and est.value["amount"] == 538
    assert balance(chain) == 100000 - 538
    act = read(chain, "M1", 800)
    assert act.value["status"] == "BILLED"
    ev = act.find("true_up", meter="M1")[0]
    assert ev["provisional"] == 538 and ev["actual"] == 430 and ev["difference"] == -108
    assert balance(chain) == 100000 - 430
    assert chain.view("billing", "get_ytd", customer="C1", year=2024) == 800
    assert chain.view("billing", "get_bill", customer="C1", month=202406)["amount"] == 430


def test_consecutive_estimates_are_bounded():
    chain = make_chain(max_estimates=2)
    add_customer(chain, balance=0, prepaid=False)
    add_meter(chain, reading=0)
    read(chain, "M1", 100, estimated=True)
    read(chain, "M1", 200, estimated=True)
    res = chain.call("billing", "submit_reading", TERM, meter="M1", value=300, estimated=True)
    assert res.error_code == "BAD_INPUT"
    assert read(chain, "M1", 300).value["energy"] == 300  # the actual reading clears them


# ---------------------------------------------------------------- prepaid cost control


def test_balance_25_yuan_is_warn_with_warning_notice(chain):
    add_customer(chain, balance=10000)
    assert state(chain) == "NORMAL"
    # 139.41 kWh at 0.538 = 75.00 yuan brings the balance to 25.00
    res = chain.call("billing", "daily_charge", TERM, customer="C1", energy=13941)
    assert res.value == 7500 and balance(chain) == 2500
    assert res.find("notice", kind="warning", customer="C1")
    assert state(chain) == "WARN"
    assert chain.view("billing", "list_state", state="WARN")[0][0] == "C1"


def test_daily_charge_12_kwh_is_6_46_and_balance_18_54(chain):
    add_customer(chain, balance=2500)
    res = chain.call("billing", "daily_charge", TERM, customer="C1", energy=1200)
    assert res.ok and res.value == 646
    assert balance(chain) == 1854
    assert state(chain) == "WARN"


def test_arrears_cut_at_0800_then_payment_restores():
    chain = make_chain()
    chain.time_ms = ms(2024, 6, 10, 10)
    add_customer(chain, balance=2500)  # warning issued Monday 10:00
    add_meter(chain, reading=0)
    chain.time_ms = ms(2024, 6, 12, 7)  # Wednesday 07:00
    res = read(chain, "M1", 4740)  # 47.40 kWh x 0.538 = 25.50 -> balance -0.50
    assert balance(chain) == -50
    assert state(chain) == "PENDING_CUT"
    assert res.find("notice", kind="arrears", customer="C1")
    early = chain.call("billing", "execute_controls", OPER)
    assert early.ok and early.value == [["C1", "PENDING_CUT", "OUTSIDE_WINDOW"]]
    assert not chain.view("billing", "is_cut", meter="M1")
    cut = chain.call("billing", "execute_controls", OPER, time_ms=ms(2024, 6, 12, 8))
    assert cut.value == [["C1", "CUT", ""]]
    assert cut.find("notice", kind="cut", customer="C1")
    assert chain.view("billing", "is_cut", meter="M1")
    assert chain.view("billing", "list_state", state="CUT")[0][0] == "C1"
    paid = chain.call("billing", "pay", BANK, time_ms=ms(2024, 6, 12, 19), customer="C1", amount=10000, serial="B1")
    assert paid.value == 9950
    assert paid.find("notice", kind="payment", customer="C1", amount=10000)
    assert state(chain) == "RESTORE_PENDING"
    assert chain.view("billing", "list_state", state="RESTORE_PENDING")[0][0] == "C1"
    restored = chain.call("billing", "execute_controls", OPER)  # restores run at any hour
    assert restored.find("notice", kind="restored", customer="C1")
    assert state(chain) == "NORMAL"
    assert not chain.view("billing", "is_cut", meter="M1")
    assert chain.view("billing", "list_state", state="CUT") == []


def _pending_cut(chain, warned_at, cust="C1", **kw):
    chain.time_ms = warned_at
    add_customer(chain, cust=cust, balance=2500, **kw)
    chain.call("billing", "daily_charge", TERM, customer=cust, energy=10000)
    assert state(chain, cust) == "PENDING_CUT"


def test_protected_customer_is_never_cut(chain):
    _pending_cut(chain, ms(2024, 6, 3, 9), protected=True)
    res = chain.call("billing", "execute_controls", OPER, time_ms=ms(2024, 6, 12, 10))
    assert res.value == [["C1", "PENDING_CUT", "PROTECTED"]]
    assert "cut" not in [f.get("kind") for _, f in res.events]


def test_no_cut_on_weekend_holiday_or_after_17(chain):
    chain.call("billing", "set_param", ADMIN, name="holidays", value=[20240610])
    _pending_cut(chain, ms(2024, 6, 3, 9))
    for t in [ms(2024, 6, 8, 10), ms(2024, 6, 10, 10), ms(2024, 6, 11, 17), ms(2024, 6, 11, 7, 59)]:
        res = chain.call("billing", "execute_controls", OPER, time_ms=t)
        assert res.value == [["C1", "PENDING_CUT", "OUTSIDE_WINDOW"]], t
    res = chain.call("billing", "execute_controls", OPER, time_ms=ms(2024, 6, 11, 16, 59))
    assert res.value == [["C1", "CUT", ""]]


def test_extra_workday_allows_cut_on_saturday(chain):
    chain.call("billing", "set_param", ADMIN, name="extra_workdays", value=[20240608])
    _pending_cut(chain, ms(2024, 6, 3, 9))
    res = chain.call("billing", "execute_controls", OPER, time_ms=ms(2024, 6, 8, 10))
    assert res.value == [["C1", "CUT", ""]]


def test_cut_waits_for_warning_lead_time(chain):
    _pending_cut(chain, ms(2024, 6, 12, 9))
    res = chain.call("billing", "execute_controls", OPER, time_ms=ms(2024, 6, 12, 16))
    assert res.value == [["C1", "PENDING_CUT", "WARNING_TOO_RECENT"]]
    res = chain.call("billing", "execute_controls", OPER, time_ms=ms(2024, 6, 13, 9))
    assert res.value == [["C1", "CUT", ""]]


def test_cut_window_and_offset_are_parameters():
    chain = make_chain(utc_offset_ms=0, cut_start_min=0, cut_end_min=60, warn_lead_hours=0)
    assert chain.view("billing", "cut_window_open", time_ms=ms(2024, 6, 12, 8, 30))  # 00:30 UTC
    assert not chain.view("billing", "cut_window_open", time_ms=ms(2024, 6, 12, 10))


def test_postpaid_customer_has_no_cost_control(chain):
    add_customer(chain, balance=0, prepaid=False)
    chain.call("billing", "daily_charge", TERM, customer="C1", energy=10000)
    assert balance(chain) < 0 and state(chain) == "NORMAL"


def test_duplicate_payment_serial_is_rejected(chain):
    add_customer(chain, balance=0)
    assert chain.call("billing", "pay", MKT, customer="C1", amount=100, serial="X").ok
    res = chain.call("billing", "pay", BANK, customer="C1", amount=100, serial="X")
    assert not res.ok and res.error_code == "DUPLICATE"
    assert balance(chain) == 100


def test_batch_of_100_readings(chain):
    items = []
    for i in range(100):
        add_customer(chain, cust=f"C{i}", balance=100000)
        add_meter(chain, meter=f"M{i}", cust=f"C{i}", reading=0)
        items.append({"meter": f"M{i}", "value": 1000 + i})
    res = chain.call("billing", "submit_readings", TERM, readings=items)
    assert res.ok, res
    assert len(res.value) == 100 and all(r["status"] == "BILLED" for r in res.value)
    assert balance(chain, "C99") == 100000 - (1099 * 5380 + 5000) // 10000


# ---------------------------------------------------------------- permissions


def _setup_for_permissions(chain):
    add_customer(chain, balance=0)
    add_meter(chain, reading=0)


STATE_CHANGING = [
    ("grant_role", dict(account="x", role="terminal")),
    ("revoke_role", dict(account=TERM, role="terminal")),
    ("set_param", dict(name="warn_threshold", value=1)),
    ("set_tariff", dict(tariff_id="t2", flat=5000, bounds=[100], incs=[0, 1])),
    ("add_customer", dict(customer="C9")),
    ("set_customer", dict(customer="C1", protected=True)),
    ("add_customers", dict(customers=[{"customer": "C8"}])),
    ("add_meter", dict(meter="M9", customer="C1")),
    ("add_meters", dict(meters=[{"meter": "M8", "customer": "C1"}])),
    ("submit_reading", dict(meter="M1", value=10)),
    ("submit_readings", dict(readings=[{"meter": "M1", "value": 10}])),
    ("daily_charge", dict(customer="C1", energy=10)),
    ("pay", dict(customer="C1", amount=10, serial="P1")),
    ("execute_controls", dict()),
]

AUTHORISED = {
    "submit_reading": TERM, "submit_readings": TERM, "daily_charge": TERM,
    "pay": MKT, "execute_controls": OPER,
}


@pytest.mark.parametrize("method,kwargs", STATE_CHANGING, ids=[m for m, _ in STATE_CHANGING])
def test_unauthorised_caller_is_denied(chain, method, kwargs):
    _setup_for_permissions(chain)
    for intruder in [EVE, BANK if method != "pay" else TERM]:
        before = dict(chain.store)
        res = chain.call("billing", method, intruder, **kwargs)
        assert not res.ok and res.error_code == "PERMISSION_DENIED", (method, intruder)
        assert chain.store == before  # a failed call writes nothing
    res = chain.call("billing", method, AUTHORISED.get(method, ADMIN), **kwargs)
    assert res.ok, res


def test_revoked_role_loses_access(chain):
    _setup_for_permissions(chain)
    assert chain.call("billing", "revoke_role", ADMIN, account=TERM, role="terminal").ok
    res = chain.call("billing", "submit_reading", TERM, meter="M1", value=5)
    assert res.error_code == "PERMISSION_DENIED"


# ---------------------------------------------------------------- properties

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(
    ytd=st.integers(0, 600000),
    peak=st.integers(0, 100000),
    valley=st.integers(0, 100000),
    tou=st.booleans(),
)
def test_quote_is_never_negative(chain, ytd, peak, valley, tou):
    kwargs = {"tou": {"peak": peak, "valley": valley}} if tou else {"energy": peak + valley}
    q = chain.view("billing", "quote", ytd_before=ytd, **kwargs)
    assert q["total"] >= 0 and all(it[3] >= 0 for it in q["items"])
    assert q["total"] == sum(it[3] for it in q["items"])


@SETTINGS
@given(steps=st.lists(st.tuples(st.integers(-3000, 5000), st.booleans()), min_size=1, max_size=8))
def test_readings_never_bill_negative_and_down_is_never_billed(steps):
    chain = make_chain()
    add_customer(chain, balance=0, prepaid=False)
    add_meter(chain, reading=50000, digits=6)
    actual = est = 50000
    for delta, estimated in steps:
        base = est if estimated else actual
        value = max(base + delta, 0)
        res = read(chain, "M1", value, estimated=estimated)
        for ev in res.find("charge"):
            assert ev["amount"] >= 0 and ev["energy"] >= 0
        if value < base:
            assert res.value["status"] == "ANOMALY" and not res.find("charge")
        else:
            assert res.value["energy"] == value - base
            est = value
            if not estimated:
                actual = value
    bill = chain.view("billing", "get_bill", customer="C1", month=202406) or {"amount": 0}
    assert bill["amount"] >= 0


def test_permission_table_covers_every_state_changing_method():
    table = {entry[0] for entry in STATE_CHANGING}
    assert table == {m for m, kind in exports("billing").items() if kind == "export"}
