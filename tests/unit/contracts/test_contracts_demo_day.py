"""A demo day across the three contracts: 3 districts x 100 meters, every batch in one call.

Each call must fit the client's default gas limit (the harness runs with it) and the VM's
per-call event cap, so this checks that the batch methods are usable as the demo uses them.
"""

from datetime import datetime, timedelta, timezone

from contracts_harness import GAS_LIMIT, Chain

CST = timezone(timedelta(hours=8))
ADMIN, TERM, MKT, BANK, FIN = "admin", "term", "mkt", "bank", "fin"
DAY = 20240612
DISTRICTS = ["D1", "D2", "D3"]


def ms(h, mi=0):
    return int(datetime(2024, 6, 12, h, mi, tzinfo=CST).timestamp()) * 1000


def ok(res):
    assert res.ok, res
    assert res.gas_used < GAS_LIMIT
    return res


def setup_chain():
    chain = Chain()
    chain.time_ms = ms(0, 30)
    for name in ["billing", "district", "reconciliation"]:
        ok(chain.deploy(name, sender=ADMIN))
    ok(chain.call("billing", "grant_role", ADMIN, account=TERM, role="terminal"))
    ok(chain.call("billing", "grant_role", ADMIN, account=MKT, role="marketing"))
    ok(chain.call("district", "grant_role", ADMIN, account=TERM, role="terminal"))
    for acct, role in [(MKT, "marketing"), (BANK, "bank"), (FIN, "finance")]:
        ok(chain.call("reconciliation", "grant_role", ADMIN, account=acct, role=role))
    for d in DISTRICTS:
        ids = [f"{d}-{i:03d}" for i in range(100)]
        # every tenth customer starts with 20.00 yuan: below the warning threshold
        customers = [{"customer": c, "balance": 2000 if i % 10 == 0 else 20000} for i, c in enumerate(ids)]
        res = ok(chain.call("billing", "add_customers", ADMIN, customers=customers))
        assert len(res.find("notice", kind="warning")) == 10
        ok(chain.call("billing", "add_meters", ADMIN, meters=[{"meter": c, "customer": c} for c in ids]))
        ok(chain.call("district", "add_district", ADMIN, district=d))
        ok(chain.call("district", "add_transformer", ADMIN, transformer=d + "-T", district=d, rated_kva=400))
        meters = [{"meter": c, "transformer": d + "-T", "phase": "ABC"[i % 3]} for i, c in enumerate(ids)]
        ok(chain.call("district", "add_meters", ADMIN, district=d, meters=meters))
    return chain


def test_demo_day_three_districts_of_100_meters():
    chain = setup_chain()
    chain.time_ms = ms(1)
    gas = {}
    for d in DISTRICTS:
        ids = [f"{d}-{i:03d}" for i in range(100)]
        readings = [{"meter": c, "value": 500 + 10 * i} for i, c in enumerate(ids)]
        res = ok(chain.call("billing", "submit_readings", TERM, readings=readings))
        gas["billing.submit_readings"] = res.gas_used
        assert [r["status"] for r in res.value] == ["BILLED"] * 100
        days = [{"meter": c, "energy": 500 + 10 * i, "current_ma": 2000} for i, c in enumerate(ids)]
        res = ok(chain.call("district", "submit_meter_days", TERM, district=d, date=DAY, items=days))
        gas["district.submit_meter_days"] = res.gas_used
        sales = sum(x["energy"] for x in days)
        ok(chain.call("district", "submit_master", TERM, district=d, date=DAY, supply=sales * 100 // 94))
        loss = ok(chain.call("district", "evaluate_line_loss", TERM, district=d, date=DAY)).value
        assert loss["status"] == "QUALIFIED" and 590 <= loss["loss_bp"] <= 610
        stats = [{"meter": c, "monitored": 1440, "above": i % 3 * 15, "below": 0} for i, c in enumerate(ids)]
        res = ok(chain.call("district", "submit_voltage_stats", TERM, date=DAY, items=stats))
        gas["district.submit_voltage_stats"] = res.gas_used
        downs = [{"meter": c, "kind": "down", "time_ms": ms(0, 59)} for c in ids[:85]]
        ok(chain.call("district", "report_power_events", TERM, items=downs))
        res = ok(chain.call("district", "classify_outage", TERM, district=d, t0=ms(0, 58)))
        gas["district.classify_outage"] = res.gas_used
        assert res.value["scope"] == "DISTRICT"
    payments = [{"serial": f"P{i}", "customer": f"D1-{i:03d}", "amount": 5000} for i in range(300)]
    ok(chain.call("reconciliation", "submit_batch", MKT, party="marketing", date=DAY, records=payments))
    ok(chain.call("reconciliation", "submit_batch", BANK, party="bank", date=DAY, records=payments[:299]))
    ok(chain.call("reconciliation", "submit_batch", BANK, party="bank", date=20240613, records=[]))
    res = ok(chain.call("reconciliation", "reconcile", FIN, date=DAY))
    gas["reconciliation.reconcile"] = res.gas_used
    assert res.value["MATCHED"]["entries"] == 299 and res.value["ONLY_IN_SYSTEM"]["entries"] == 1
    # every batch stays well inside one transaction's gas
    assert max(gas.values()) < GAS_LIMIT // 4, gas
