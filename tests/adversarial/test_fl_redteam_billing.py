"""Red team of billing's tier periods (issue 12): month boundaries in local time, leap years,
months no season lists, malformed period parameters.

Finding fixed here: `seasons` of a wrong type with a non-seasonal period (e.g. 5) failed
with VM_TYPE_ERROR (len() of an int inside the contract) instead of BAD_INPUT, and "" or {}
were accepted and ignored; only None or [] are accepted now.
The rest are regression tests of what already held.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fl_redteam_util import harness

CST = timezone(timedelta(hours=8))
B = "billing"


def ms(y, mo, d, h=12, mi=0):
    return int(datetime(y, mo, d, h, mi, tzinfo=CST).timestamp()) * 1000


@pytest.fixture
def chain():
    c = harness().Chain()
    c.time_ms = ms(2024, 1, 2)
    assert c.deploy(B, sender="admin").ok
    assert c.call(B, "grant_role", "admin", account="t", role="terminal").ok
    assert c.call(B, "set_tariff", "admin", tariff_id="m", flat=5900, bounds=[26000, 60000],
                  incs=[0, 500, 3000], period="month").ok
    # winter (Dec-Feb) 300 / 700; months not listed use the tariff's 200 / 400
    assert c.call(B, "set_tariff", "admin", tariff_id="s", flat=5900, bounds=[20000, 40000],
                  incs=[0, 500, 3000], period="seasonal-month",
                  seasons=[{"months": [12, 1, 2], "bounds": [30000, 70000]}]).ok
    for cu, tariff in (("A", "m"), ("S", "s")):
        assert c.call(B, "add_customer", "admin", customer=cu, tariff=tariff,
                      prepaid=False).ok
        assert c.call(B, "add_meter", "admin", meter="M" + cu, customer=cu).ok
    return c


def read(chain, meter, value, t):
    res = chain.call(B, "submit_reading", "t", time_ms=t, meter=meter, value=value)
    assert res.ok, res
    return res.value


@pytest.mark.parametrize("seasons", [5, "", {}, "abc", [1]])
def test_wrong_seasons_are_bad_input_for_every_period(chain, seasons):
    for period in ("month", "year", None, "seasonal-month"):
        res = chain.call(B, "set_tariff", "admin", tariff_id="x", flat=1, bounds=[1, 2],
                         incs=[0, 1, 2], period=period, seasons=seasons)
        assert res.error_code == "BAD_INPUT", (period, seasons, res)


def test_month_boundary_is_local_midnight_and_leap_day_is_february(chain):
    # 23:59 local on 2024-02-29 (leap day) is February; 00:00 on 2024-03-01 is March
    feb = read(chain, "MA", 30000, ms(2024, 2, 29, 23, 59))
    assert feb["amount"] == 15340 + 2560
    mar = read(chain, "MA", 60000, ms(2024, 3, 1, 0, 0))
    assert mar["amount"] == 15340 + 2560  # tiers restart
    assert chain.view(B, "get_bill", customer="A", month=202402)["amount"] == 15340 + 2560
    assert chain.view(B, "get_ytd", customer="A", year=202402) == 30000
    assert chain.view(B, "get_ytd", customer="A", year=202403) == 30000
    assert chain.view(B, "get_ytd", customer="A", year=2024) == 0


def test_listed_and_unlisted_months_pick_their_own_bounds(chain):
    jan = read(chain, "MS", 45000, ms(2024, 1, 31, 20))  # winter: 300 / 700
    assert jan["amount"] == 300 * 59 + 150 * 64
    apr = read(chain, "MS", 90000, ms(2024, 4, 30, 20))  # not listed: 200 / 400
    assert apr["amount"] == 200 * 59 + 200 * 64 + 50 * 89
    dec = read(chain, "MS", 135000, ms(2024, 12, 31, 23, 59))  # winter again, year end
    assert dec["amount"] == 300 * 59 + 150 * 64
    jan2 = read(chain, "MS", 180000, ms(2025, 1, 1, 0, 0))
    assert chain.view(B, "get_ytd", customer="S", year=202501) == 45000
    assert jan2["amount"] == 300 * 59 + 150 * 64
