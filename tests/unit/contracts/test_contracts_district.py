"""District analytics contract: vectors, alarms, topology, outages, permissions."""

import math
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest
from contracts_harness import Chain, exports
from hypothesis import given, settings
from hypothesis import strategies as st

CST = timezone(timedelta(hours=8))
ADMIN, TERM, OPER, EVE = "admin", "term1", "oper1", "eve"
DAY = 20240612


def ms(y, mo, d, h=12, mi=0):
    return int(datetime(y, mo, d, h, mi, tzinfo=CST).timestamp()) * 1000


def call_ok(chain, method, who=TERM, **kw):
    res = chain.call("district", method, who, **kw)
    assert res.ok, res
    return res


def make_chain(meters_per_phase=(4, 3, 3), **init):
    """District D1 with transformer T1 (100 kVA) and T2, meters M0.. spread over phases A/B/C."""
    chain = Chain()
    chain.time_ms = ms(2024, 6, 12, 12)
    assert chain.deploy("district", sender=ADMIN, **init).ok
    call_ok(chain, "grant_role", ADMIN, account=TERM, role="terminal")
    call_ok(chain, "grant_role", ADMIN, account=OPER, role="operator")
    call_ok(chain, "add_district", ADMIN, district="D1", name="Riverside")
    call_ok(chain, "add_transformer", ADMIN, transformer="T1", district="D1", rated_kva=100)
    call_ok(chain, "add_transformer", ADMIN, transformer="T2", district="D1", rated_kva=200)
    n = 0
    for phase, count in zip("ABC", meters_per_phase, strict=True):
        for _ in range(count):
            call_ok(chain, "add_meter", ADMIN, meter=f"M{n}", district="D1", transformer="T1", phase=phase)
            n += 1
    return chain


@pytest.fixture
def chain():
    return make_chain()


# ---------------------------------------------------------------- line loss


def test_line_loss_vectors(chain):
    assert chain.view("district", "line_loss_of", supply=1000000, sales=935000) == {"loss_bp": 650, "status": "QUALIFIED"}
    assert chain.view("district", "line_loss_of", supply=1000000, sales=1015000) == {"loss_bp": -150, "status": "NEGATIVE_LOSS"}
    assert chain.view("district", "line_loss_of", supply=1000000, sales=880000)["status"] == "HIGH_LOSS"
    assert chain.view("district", "line_loss_of", supply=1000000, sales=990000)["status"] == "QUALIFIED"


def submit_days(chain, energies, date=DAY):
    items = [{"meter": f"M{i}", "energy": e} for i, e in enumerate(energies)]
    return call_ok(chain, "submit_meter_days", district="D1", date=date, items=items)


def test_line_loss_flow_qualified_and_negative(chain):
    submit_days(chain, [93500] * 10)
    call_ok(chain, "submit_master", district="D1", date=DAY, supply=1000000)
    res = call_ok(chain, "evaluate_line_loss", OPER, district="D1", date=DAY)
    assert res.value["loss_bp"] == 650 and res.value["status"] == "QUALIFIED"
    assert not res.find("alarm")
    submit_days(chain, [101500] * 10)  # resubmission replaces the day's sales
    assert chain.view("district", "get_sales", district="D1", date=DAY) == {"energy": 1015000, "count": 10}
    res = call_ok(chain, "evaluate_line_loss", district="D1", date=DAY)
    assert res.value["loss_bp"] == -150
    assert res.find("alarm", kind="NEGATIVE_LOSS", district="D1")
    assert chain.view("district", "get_alarms", district="D1", date=DAY)[0]["kind"] == "NEGATIVE_LOSS"


def test_line_loss_not_computable(chain):
    submit_days(chain, [1000] * 10)
    res = call_ok(chain, "evaluate_line_loss", district="D1", date=DAY)
    assert res.value["status"] == "NOT_COMPUTABLE" and res.value["reason"] == "MASTER_MISSING"
    chain2 = make_chain(meters_per_phase=(40, 30, 30))
    submit_days(chain2, [1000] * 97)  # 97 % collected
    call_ok(chain2, "submit_master", district="D1", date=DAY, supply=100000)
    res = call_ok(chain2, "evaluate_line_loss", district="D1", date=DAY)
    assert res.value["status"] == "NOT_COMPUTABLE" and res.value["reason"] == "LOW_COLLECTION"
    assert res.value["collection_bp"] == 9700
    submit_days(chain2, [1000] * 98)
    assert call_ok(chain2, "evaluate_line_loss", district="D1", date=DAY).value["status"] != "NOT_COMPUTABLE"


# ---------------------------------------------------------------- voltage


def test_voltage_limits_and_qualification_vectors(chain):
    assert chain.view("district", "voltage_limits", nominal="220") == [1980, 2354]
    assert chain.view("district", "voltage_limits", nominal="380") == [3534, 4066]
    q = chain.view("district", "voltage_rate", monitored=1440, above=30, below=14)
    assert q["over_bp"] == 306 and q["pass_bp"] == 9694


def test_voltage_curve_counts_minutes_outside_limits(chain):
    points = [2200] * 96
    points[0:2] = [2355, 2400]  # 2 points above 235.4 V
    points[10] = 1979  # 1 below 198.0 V
    points[11] = 1980  # at the limit: qualified
    points[20] = None  # missing: not monitored
    res = call_ok(chain, "submit_voltage_curve", meter="M0", date=DAY, points=points)
    assert res.value["monitored"] == 95 * 15 and res.value["above"] == 30 and res.value["below"] == 15
    assert res.value["over_bp"] == round(45 * 10000 / 1425)
    stats = [{"meter": "M1", "monitored": 1440, "above": 30, "below": 14}]
    call_ok(chain, "submit_voltage_stats", date=DAY, items=stats)
    total = chain.view("district", "district_voltage", district="D1", date=DAY)
    assert total["monitored"] == 1425 + 1440 and total["above"] == 60 and total["below"] == 29


# ---------------------------------------------------------------- load and imbalance


def test_imbalance_vector(chain):
    assert chain.view("district", "imbalance_of", ia=20000, ib=15000, ic=12000) == 4000


def test_load_rate(chain):
    assert chain.view("district", "load_rate", p=8000, q=6000, rated_kva=100) == 10000  # 100 kVA on 100
    assert chain.view("district", "load_rate", p=4000, q=3000, rated_kva=100) == 5000


def test_sustained_overload_heavy_load_and_imbalance_alarms(chain):
    p = [3000] * 96
    p[40:48] = [10100] * 8  # 8 x 15 min = 120 min above 100 %
    p[60:68] = [9000] * 8  # heavy 120 min
    q = [0] * 96
    ia, ib, ic = [100] * 96, [100] * 96, [100] * 96
    ia[40], ib[40], ic[40] = 200, 150, 120  # 40 % imbalance at 101 % load -> alarm
    ia[0], ib[0], ic[0] = 200, 150, 120  # 40 % imbalance at 30 % load -> no alarm
    res = call_ok(chain, "submit_load_curve", transformer="T1", date=DAY, p=p, q=q, ia=ia, ib=ib, ic=ic)
    st_ = res.value
    assert st_["overload_run_min"] == 120 and st_["heavy_min"] == 120 and st_["imbalance_min"] == 15
    assert st_["max_imbalance_bp"] == 4000
    kinds = sorted(f["kind"] for f in res.find("alarm"))
    assert kinds == ["HEAVY_LOAD", "IMBALANCE", "OVERLOAD"]


def test_short_overload_is_not_an_alarm(chain):
    p = [3000] * 96
    p[40:47] = [10100] * 7  # 105 min
    p[50] = 10100
    res = call_ok(chain, "submit_load_curve", transformer="T1", date=DAY, p=p, q=[0] * 96)
    assert res.value["overload_min"] == 120 and res.value["overload_run_min"] == 105
    assert not res.find("alarm")


# ---------------------------------------------------------------- topology


def wave(seed, n=96):
    """Deterministic pseudo-random voltage curve around 220 V."""
    out, x = [], seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) % (1 << 31)
        out.append(2150 + x % 120)
    return out


def test_topology_assigns_best_phase_with_margin(chain):
    refs = {("T1", "A"): wave(1), ("T1", "B"): wave(2), ("T1", "C"): wave(3)}
    for (t, ph), pts in refs.items():
        call_ok(chain, "submit_phase_curve", transformer=t, phase=ph, date=DAY, points=pts)
    meter_curve = [v - 3 + (i % 3) for i, v in enumerate(refs[("T1", "B")])]
    call_ok(chain, "submit_voltage_curve", meter="M0", date=DAY, points=meter_curve)
    res = call_ok(chain, "assign_topology", OPER, meter="M0", date=DAY)
    assert res.value["status"] == "ASSIGNED" and res.value["phase"] == "B" and res.value["changed"] is True
    assert res.value["r_e6"] >= 800000 and res.value["margin_e6"] >= 100000
    assert chain.view("district", "get_meter", meter="M0")["phase"] == "B"


def test_topology_uncertain_when_margin_too_small_or_r_too_low(chain):
    a = wave(7)
    near = [v + (1 if i % 5 == 0 else 0) for i, v in enumerate(a)]
    call_ok(chain, "submit_phase_curve", transformer="T1", phase="A", date=DAY, points=a)
    call_ok(chain, "submit_phase_curve", transformer="T2", phase="A", date=DAY, points=near)
    call_ok(chain, "submit_voltage_curve", meter="M5", date=DAY, points=a)
    res = call_ok(chain, "assign_topology", meter="M5", date=DAY)
    assert res.value["status"] == "UNCERTAIN" and res.value["margin_e6"] < 100000
    call_ok(chain, "submit_voltage_curve", meter="M6", date=DAY, points=wave(99))
    res = call_ok(chain, "assign_topology", meter="M6", date=DAY, candidates=[["T1", "A"]])
    assert res.value["status"] == "UNCERTAIN" and res.value["r_e6"] < 800000
    assert chain.view("district", "get_meter", meter="M5")["phase"] == "B"  # unchanged


def exact_r_e6(xs, ys):
    n = len(xs)
    sx, sy = sum(xs), sum(ys)
    num = n * sum(x * y for x, y in zip(xs, ys, strict=True)) - sx * sy
    vx = n * sum(x * x for x in xs) - sx * sx
    vy = n * sum(y * y for y in ys) - sy * sy
    if vx <= 0 or vy <= 0:
        return 0
    mag = math.isqrt(math.floor(Fraction(num * num * 10**12, vx * vy)))
    return mag if num >= 0 else -mag


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(1900, 2500), st.integers(1900, 2500)), min_size=3, max_size=96))
def test_fixed_point_pearson_is_exact_truncation(pairs):
    chain = Chain()
    assert chain.deploy("district", sender=ADMIN).ok
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    r = chain.view("district", "correlation", xs=xs, ys=ys)
    assert r == exact_r_e6(xs, ys)
    assert -1000000 <= r <= 1000000
    if len(set(xs)) > 1:
        assert chain.view("district", "correlation", xs=xs, ys=xs) == 1000000


# ---------------------------------------------------------------- outages


def report_down(chain, meters, t):
    items = [{"meter": m, "kind": "down", "time_ms": t} for m in meters]
    chain.time_ms = max(chain.time_ms, t + 200000)
    call_ok(chain, "report_power_events", items=items)


def test_outage_district_phase_and_single(chain):
    t0 = ms(2024, 6, 12, 11)
    chain.call("district", "set_param", ADMIN, name="billing_contract", value="")
    report_down(chain, [f"M{i}" for i in range(8)], t0 + 60000)  # 8 of 10 within 3 min
    res = call_ok(chain, "classify_outage", OPER, district="D1", t0=t0)
    assert res.value["scope"] == "DISTRICT"
    assert res.find("alarm", kind="OUTAGE_DISTRICT")
    t1 = t0 + 3600000
    report_down(chain, ["M4", "M5", "M6", "M0"], t1)  # all of phase B plus one A meter
    res = call_ok(chain, "classify_outage", district="D1", t0=t1)
    assert res.value["scope"] == "PHASE" and res.value["phases"] == ["B"] and res.value["meters"] == ["M0"]
    t2 = t1 + 3600000
    report_down(chain, ["M9"], t2)
    report_down(chain, ["M8"], t2 + 181000)  # outside the 3-minute window
    res = call_ok(chain, "classify_outage", district="D1", t0=t2)
    assert res.value["scope"] == "METER" and res.value["meters"] == ["M9"]


def test_meter_cut_by_billing_is_not_an_outage(chain):
    chain.deploy("billing", sender=ADMIN)
    chain.call("billing", "grant_role", ADMIN, account=TERM, role="terminal")
    chain.time_ms = ms(2024, 6, 10, 9)
    assert chain.call("billing", "add_customer", ADMIN, customer="C9", balance=100).ok  # warned
    assert chain.call("billing", "add_meter", ADMIN, meter="M9", customer="C9").ok
    assert chain.call("billing", "daily_charge", TERM, customer="C9", energy=1000).ok
    assert chain.call("billing", "execute_controls", TERM, time_ms=ms(2024, 6, 12, 10)).value == [["C9", "CUT", ""]]
    t0 = ms(2024, 6, 12, 11)
    report_down(chain, ["M9"], t0)
    res = call_ok(chain, "classify_outage", district="D1", t0=t0)
    assert res.value["scope"] == "NONE" and res.value["cut"] == ["M9"] and res.value["eligible"] == 9
    assert not res.find("alarm")
    report_down(chain, ["M7", "M8"], t0)  # the other C-phase meters: phase C out, M9 excluded
    res = call_ok(chain, "classify_outage", district="D1", t0=t0)
    assert res.value["scope"] == "PHASE" and res.value["phases"] == ["C"]


def test_power_up_clears_down_report(chain):
    chain.call("district", "set_param", ADMIN, name="billing_contract", value="")
    t0 = ms(2024, 6, 12, 11)
    report_down(chain, ["M1"], t0)
    call_ok(chain, "report_power_events", items=[{"meter": "M1", "kind": "up", "time_ms": t0 + 1000}])
    assert chain.view("district", "get_outage", district="D1", t0=t0) is None
    assert call_ok(chain, "classify_outage", district="D1", t0=t0).value["scope"] == "NONE"


# ---------------------------------------------------------------- abnormal use


def test_daily_abnormal_use_rules(chain):
    submit_days(chain, [100] * 10, date=20240611)
    items = [
        {"meter": "M0", "energy": 100, "reading": 5000},
        {"meter": "M1", "energy": 0, "current_ma": 150},
        {"meter": "M2", "energy": 0, "current_ma": 100},  # at the threshold: fine
        {"meter": "M3", "energy": 10, "events": ["cover_open", "reverse_current"]},
    ]
    call_ok(chain, "submit_meter_days", district="D1", date=DAY, items=items)
    res = call_ok(chain, "submit_meter_days", district="D1", date=20240613,
                  items=[{"meter": "M0", "energy": 100, "reading": 4999}])
    assert res.value == [["M0", ["READING_DOWN"]]]
    alarms = chain.view("district", "get_alarms", district="D1", date=DAY)
    assert [(a["subject"], a["detail"]) for a in alarms] == [("M1", "METER_STOPPED"), ("M3", "COVER_OPEN,REVERSE_CURRENT")]


def test_low_use_against_trailing_three_months(chain):
    for month, e in [(202403, 30000), (202404, 30000), (202405, 30000)]:
        submit_days(chain, [e] * 10, date=month * 100 + 15)
    june = [8999, 9000] + [30000] * 8  # M0 below 30 % of 300 kWh, M1 exactly at 30 %
    submit_days(chain, june, date=20240615)
    res = call_ok(chain, "evaluate_low_use", OPER, district="D1", month=202406)
    assert res.value == ["M0"]
    assert res.find("alarm", kind="LOW_USE", subject="M0")
    res = call_ok(chain, "evaluate_low_use", district="D1", month=202405)
    assert res.value == []  # only two trailing months known


def test_batch_of_100_meters_in_one_call():
    chain = make_chain(meters_per_phase=(34, 33, 33))
    res = submit_days(chain, [1000 + i for i in range(100)])
    assert res.ok
    assert chain.view("district", "get_sales", district="D1", date=DAY)["count"] == 100


# ---------------------------------------------------------------- permissions

CURVE = [2200] * 96
STATE_CHANGING = [
    ("grant_role", dict(account="x", role="terminal"), ADMIN),
    ("revoke_role", dict(account=TERM, role="terminal"), ADMIN),
    ("set_param", dict(name="loss_high_bp", value=900), ADMIN),
    ("add_district", dict(district="D9"), ADMIN),
    ("add_transformer", dict(transformer="T9", district="D1", rated_kva=50), ADMIN),
    ("add_meter", dict(meter="M99", district="D1", transformer="T1"), ADMIN),
    ("add_meters", dict(district="D1", meters=[{"meter": "M98", "transformer": "T1"}]), ADMIN),
    ("submit_master", dict(district="D1", date=DAY, supply=1), TERM),
    ("submit_meter_days", dict(district="D1", date=DAY, items=[{"meter": "M0", "energy": 1}]), TERM),
    ("evaluate_line_loss", dict(district="D1", date=DAY), OPER),
    ("submit_voltage_curve", dict(meter="M0", date=DAY, points=CURVE), TERM),
    ("submit_voltage_stats", dict(date=DAY, items=[{"meter": "M0", "monitored": 10, "above": 0, "below": 0}]), TERM),
    ("submit_phase_curve", dict(transformer="T1", phase="A", date=DAY, points=CURVE), TERM),
    ("assign_topology", dict(meter="M0", date=DAY), OPER),
    ("submit_load_curve", dict(transformer="T1", date=DAY, p=[0] * 96, q=[0] * 96), TERM),
    ("report_power_events", dict(items=[{"meter": "M0", "kind": "up"}]), TERM),
    ("classify_outage", dict(district="D1", t0=0), OPER),
    ("evaluate_low_use", dict(district="D1", month=202406), OPER),
]


@pytest.mark.parametrize("method,kwargs,good", STATE_CHANGING, ids=[m for m, _, _ in STATE_CHANGING])
def test_unauthorised_caller_is_denied(chain, method, kwargs, good):
    call_ok(chain, "submit_voltage_curve", meter="M0", date=DAY, points=CURVE)
    chain.call("district", "set_param", ADMIN, name="billing_contract", value="")
    intruders = [EVE] + ([OPER] if good in (TERM, ADMIN) else []) + ([TERM] if good == ADMIN else [])
    for intruder in intruders:
        before = dict(chain.store)
        res = chain.call("district", method, intruder, **kwargs)
        assert not res.ok and res.error_code == "PERMISSION_DENIED", (method, intruder)
        assert chain.store == before  # a failed call writes nothing
    res = chain.call("district", method, good, **kwargs)
    assert res.ok, res


def test_permission_table_covers_every_state_changing_method():
    table = {entry[0] for entry in STATE_CHANGING}
    assert table == {m for m, kind in exports("district").items() if kind == "export"}
