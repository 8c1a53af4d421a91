"""Billing tier periods (wave 2): annual (unchanged), monthly and seasonal-monthly tier
boundaries as tariff parameters, with the power-domain vectors."""

from datetime import datetime, timedelta, timezone

import pytest
from contracts_harness import Chain

CST = timezone(timedelta(hours=8))
ADMIN, TERM = "admin", "term1"
SUMMER = list(range(5, 11))  # May-Oct


def ms(y, mo, d, h=12):
    return int(datetime(y, mo, d, h, tzinfo=CST).timestamp()) * 1000


@pytest.fixture
def chain():
    c = Chain()
    c.time_ms = ms(2026, 1, 2)
    assert c.deploy("billing", sender=ADMIN).ok
    assert c.call("billing", "grant_role", ADMIN, account=TERM, role="terminal").ok
    # <= 260 kWh at 0.59; 261-600 +0.05; > 600 +0.30
    assert c.call("billing", "set_tariff", ADMIN, tariff_id="monthly", flat=5900,
                  bounds=[26000, 60000], incs=[0, 500, 3000], period="month").ok
    assert c.call("billing", "set_tariff", ADMIN, tariff_id="seasonal", flat=5900,
                  bounds=[20000, 40000], incs=[0, 500, 3000], period="seasonal-month",
                  seasons=[{"months": SUMMER, "bounds": [26000, 60000]}]).ok
    return c


def customer(chain, cust, tariff):
    assert chain.call("billing", "add_customer", ADMIN, customer=cust, tariff=tariff,
                      prepaid=False).ok
    assert chain.call("billing", "add_meter", ADMIN, meter="M" + cust, customer=cust).ok


def read(chain, meter, value, t):
    res = chain.call("billing", "submit_reading", TERM, time_ms=t, meter=meter, value=value)
    assert res.ok, res
    return res.value


def test_monthly_tiers_700_kwh_is_460_00_and_the_next_month_restarts(chain):
    customer(chain, "C1", "monthly")
    jan = read(chain, "MC1", 70000, ms(2026, 1, 31, 23))
    assert jan["amount"] == 46000  # 153.40 + 217.60 + 89.00
    assert chain.view("billing", "get_bill", customer="C1", month=202601)["items"] == {
        "tier1": 15340, "tier2": 21760, "tier3": 8900}
    feb = read(chain, "MC1", 140000, ms(2026, 2, 28, 23))
    assert feb["amount"] == 46000  # the period restarts
    assert chain.view("billing", "get_ytd", customer="C1", year=202602) == 70000
    q = chain.view("billing", "quote", ytd_before=0, energy=70000, tariff="monthly")
    assert q["total"] == 46000


def test_seasonal_january_450_kwh_is_290_50(chain):
    customer(chain, "C2", "seasonal")
    jan = read(chain, "MC2", 45000, ms(2026, 1, 31, 23))
    assert jan["amount"] == 29050  # 118.00 + 128.00 + 44.50
    assert chain.view("billing", "get_bill", customer="C2", month=202601)["items"] == {
        "tier1": 11800, "tier2": 12800, "tier3": 4450}
    # a summer month uses 260 / 600: 450 kWh = 260 x 0.59 + 190 x 0.64
    assert chain.view("billing", "quote", ytd_before=0, energy=45000, tariff="seasonal",
                      month=7)["total"] == 15340 + 12160
    assert chain.view("billing", "quote", ytd_before=0, energy=45000, tariff="seasonal",
                      month=1)["total"] == 29050


def test_monthly_periods_split_within_the_month_and_reverse_estimates(chain):
    customer(chain, "C3", "monthly")
    read(chain, "MC3", 20000, ms(2026, 1, 10))
    est = chain.call("billing", "submit_reading", TERM, time_ms=ms(2026, 1, 20), meter="MC3",
                     value=50000, estimated=True).value
    assert est["status"] == "PROVISIONAL"
    # actual 400 kWh in the month: 260 x 0.59 + 140 x 0.64 in total
    read(chain, "MC3", 40000, ms(2026, 1, 30))
    assert chain.view("billing", "get_ytd", customer="C3", year=202601) == 40000
    assert chain.view("billing", "get_bill", customer="C3", month=202601)["amount"] == \
        15340 + 8960
    assert chain.view("billing", "get_ytd", customer="C3", year=2026) == 0  # no annual counter


def test_annual_tariffs_are_stored_as_before(chain):
    assert chain.view("billing", "get_tariff", tariff_id="zj_res") == {
        "flat": 5380, "bounds": [276000, 480000], "incs": [0, 500, 3000],
        "tou": {"peak": 5680, "valley": 2880}}
    assert "period" not in chain.view("billing", "get_tariff", tariff_id="zj_res")
    assert chain.call("billing", "set_tariff", ADMIN, tariff_id="y", flat=1, bounds=[1],
                      incs=[0, 1], period="year").ok
    assert "period" not in chain.view("billing", "get_tariff", tariff_id="y")
    t = chain.view("billing", "get_tariff", tariff_id="seasonal")
    assert t["period"] == "seasonal-month" and t["seasons"][0]["months"] == SUMMER


@pytest.mark.parametrize("kw", [
    {"period": "week"},
    {"period": "month", "seasons": [{"months": [1], "bounds": [1, 2]}]},
    {"period": "seasonal-month"},
    {"period": "seasonal-month", "seasons": [{"months": [13], "bounds": [1, 2]}]},
    {"period": "seasonal-month", "seasons": [{"months": [1], "bounds": [1]}]},
    {"period": "seasonal-month", "seasons": [{"months": [1], "bounds": [2, 1]}]},
    {"period": "seasonal-month", "seasons": [{"months": [1], "bounds": [1, 2]},
                                             {"months": [1], "bounds": [1, 3]}]},
])
def test_bad_period_parameters_are_refused(chain, kw):
    res = chain.call("billing", "set_tariff", ADMIN, tariff_id="bad", flat=5900,
                     bounds=[20000, 40000], incs=[0, 500, 3000], **kw)
    assert res.error_code == "BAD_INPUT"


def test_an_estimate_is_reversed_in_its_own_month(chain):
    customer(chain, "C4", "monthly")
    est = chain.call("billing", "submit_reading", TERM, time_ms=ms(2026, 1, 31), meter="MC4",
                     value=30000, estimated=True).value
    assert est["amount"] == 15340 + 2560  # 260 x 0.59 + 40 x 0.64
    assert chain.view("billing", "get_ytd", customer="C4", year=202601) == 30000
    feb = read(chain, "MC4", 27000, ms(2026, 2, 3))
    assert feb["reversed"] == 15340 + 2560
    assert chain.view("billing", "get_ytd", customer="C4", year=202601) == 0
    assert chain.view("billing", "get_ytd", customer="C4", year=202602) == 27000
    assert chain.view("billing", "get_bill", customer="C4", month=202601)["amount"] == 0
    assert feb["amount"] == 15340 + 640  # 270 kWh in February's own tiers
