#!/usr/bin/env python3
"""The demo scenario behind scripts/demo.sh: a testnet, the power contracts, one operating day.

It starts the testnet with the CLI code, registers the platform's accounts through the SDK,
deploys billing / reconciliation / district (scripts/deploy_contracts.py), grants the contract
roles, and plays a realistic day on chain:

- 3 transformer districts x 100 meters with synthetic 96-point load and voltage curves
  (deterministic pseudo-random from a fixed seed; integer units only);
- edge terminals upload the day's meter readings (billed on chain at the Zhejiang tariff),
  meter days, master-meter supply, voltage statistics, transformer load curves and
  power-down events;
- prepaid cost control: customers drop into WARN and PENDING_CUT, a hospital is protected,
  cuts are executed, payments restore service;
- marketing and the bank deliver payment files with planted differences, finance reconciles;
- planted grid problems: a district outage, a cut meter that must not count as one, phase
  imbalance, theft patterns (reading went down, meter stopped, consumption collapse).

It then prints a summary read back from the chain only, verifies one value with an SMT proof
against a certified header, and exits 1 if anything the scenario planted was not found.
The caller (demo.sh) stops the testnet.
"""

from __future__ import annotations

import argparse
import calendar
import itertools
import random
import socket
import sys
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_heating  # noqa: E402
from deploy_contracts import (  # noqa: E402
    ZHEJIANG_TARIFF,
    DeployError,
    default_params,
    deploy_all,
)

from chainnode import testnet  # noqa: E402
from chainnode.client import Client, ProofError, RpcError  # noqa: E402
from chainnode.core.genesis import Genesis  # noqa: E402
from chainnode.crypto.address import address_of  # noqa: E402
from chainnode.crypto.keyfile import load_private_key, save_private_key  # noqa: E402
from chainnode.crypto.sm2 import PrivateKey  # noqa: E402
from chainnode.fl.ledger import LedgerError  # noqa: E402

ACCOUNTS = [
    ("marketing-dept", ["member"]), ("finance-dept", ["member"]), ("bank-icbc", ["member"]),
    ("edge-terminal-d1", ["terminal"]), ("edge-terminal-d2", ["terminal"]),
    ("edge-terminal-d3", ["terminal"]), ("auditor", ["auditor"]), ("relayer-edge", ["relayer"]),
]
SEED = 20240612
CST = timezone(timedelta(hours=8))
DISTRICTS = ("D1", "D2", "D3")
METERS = 100
TERMINAL = {"D1": "edge-terminal-d1", "D2": "edge-terminal-d2", "D3": "edge-terminal-d3"}
DISTRICT_NAME = {"D1": "Xihu riverside", "D2": "Gongshu old town", "D3": "Yuhang new village"}
RATED_KVA = {"D1": 250, "D2": 180, "D3": 200}
TECH_LOSS_BP = {"D1": 500, "D2": 520, "D3": 480}      # technical (ohmic) loss of each district
# voltage model per district, 0.1 V: base, night-time rise, evening sag at the end of the feeder
VOLTAGE = {"D1": (2310, 45, 90), "D2": (2290, 30, 160), "D3": (2255, 20, 440)}
# relative load per hour of day (residential) and for the hospital
HOUR_WEIGHT = [30] * 6 + [50, 110, 110] + [60] * 8 + [110] + [180] * 4 + [90, 50]
HOSPITAL_WEIGHT = [60] * 7 + [100] * 14 + [60] * 3
PEAK_POINTS = range(32, 88)            # 08:00-22:00 is peak, the rest valley (Zhejiang)
OUTAGE_POINTS = (78, 79)               # D1 loses supply 19:31-20:00
HOSPITAL = "D1-000"
READING_DOWN, STOPPED, LOW_USE = "D2-017", "D2-042", "D2-063"
FUSE_METER = "D2-088"                  # blows a fuse while its neighbour is cut
WARN_IDX = (11, 23, 35, 47)            # balance falls to <= 30.00 yuan today
PENDING_IDX = (5, 29, 58)              # already warned, falls to <= 0 today
RESTORED = ("D1-005", "D1-029", "D2-005", "D3-005", "D3-029")
PARTIAL_PAYER = "D2-029"               # pays 2.00 yuan: still in arrears, stays cut
CUT_NOT_OUTAGE = "D2-058"              # stays cut; its power-down must not count
WARN_PAYERS = {"D1-011": 5000, "D3-047": 10000}
RECON_CLASSES = ("MATCHED", "AMOUNT_DIFF", "STATUS_DIFF", "ONLY_IN_BANK", "ONLY_IN_SYSTEM",
                 "DUPLICATE", "IN_TRANSIT")
PRODUCTION_BILLING = default_params()["billing"]
COMPRESSED = {"warn_lead_hours": 0, "workdays": [0, 1, 2, 3, 4, 5, 6],
              "cut_start_min": 0, "cut_end_min": 1440}


# ------------------------------------------------------------------------- formatting

def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def kwh(e: int) -> str:
    return yuan(e)  # 0.01 kWh units print the same way


def pct(bp: int | None) -> str:
    return "n/a" if bp is None else f"{yuan(bp)} %"


def ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def show_date(v: int) -> str:
    return f"{v // 10000}-{v // 100 % 100:02d}-{v % 100:02d}"


def ms_at(d: date, h: int, mi: int = 0, s: int = 0) -> int:
    return int(datetime(d.year, d.month, d.day, h, mi, s, tzinfo=CST).timestamp()) * 1000


def clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, CST).strftime("%H:%M:%S")


def half_up(a: int, b: int) -> int:
    """Division rounded half away from zero (the VM's div_half_up)."""
    q, r = divmod(abs(a), abs(b))
    if 2 * r >= abs(b):
        q += 1
    return q if (a < 0) == (b < 0) else -q


def month_add(yyyymm: int, n: int) -> int:
    y, m = divmod(yyyymm // 100 * 12 + yyyymm % 100 - 1 + n, 12)
    return y * 100 + m + 1


def month_last_day(yyyymm: int) -> int:
    return yyyymm * 100 + calendar.monthrange(yyyymm // 100, yyyymm % 100)[1]


# ------------------------------------------------------------------------- the synthetic day

@dataclass
class Meter:
    id: str
    district: str
    index: int
    phase: str
    nominal: str
    ct: int
    tou: bool
    name: str = ""
    protected: bool = False
    r0: int = 0                     # register at the start of the day (0.01 kWh, before CT)
    p0: int = 0                     # TOU peak / valley registers
    v0: int = 0
    curve: list[int] = field(default_factory=list)        # measured advance per 15 min
    true_curve: list[int] = field(default_factory=list)   # what really flowed (after CT)
    volt: list[int | None] = field(default_factory=list)  # 0.1 V, None = no supply
    reading: int = 0                # registers reported at the end of the day
    peak: int = 0
    valley: int = 0
    energy: int = 0                 # reported day energy (after CT), 0.01 kWh
    true_energy: int = 0
    current_ma: int = 0
    events: list[str] = field(default_factory=list)
    charge: int = 0                 # expected bill of the day, fen
    balance0: int = 0
    history: dict[int, int] = field(default_factory=dict)        # month -> energy (after CT)
    month_end_reading: dict[int, int] = field(default_factory=dict)
    vstat: tuple[int, int, int] = (0, 0, 0)                      # monitored, above, below


def spread(total: int, weights: list[int], rng: random.Random) -> list[int]:
    """`total` split over 96 quarter hours by hourly weight with +-20 % noise; sums exactly."""
    w = [weights[k // 4] * rng.randint(80, 120) for k in range(96)]
    s = sum(w)
    pts = [total * x // s for x in w]
    pts[pts.index(max(pts))] += total - sum(pts)
    return pts


def price(m: Meter) -> int:
    """The day's bill at the Zhejiang tariff (all in tier 1: year-to-date starts at 0)."""
    t = ZHEJIANG_TARIFF
    if m.id == READING_DOWN:
        return 0
    if m.tou:
        pe = (m.peak - m.p0) * m.ct
        ve = (m.valley - m.v0) * m.ct
        return (half_up(pe * t["tou"]["peak"], 10000) if pe else 0) + \
            (half_up(ve * t["tou"]["valley"], 10000) if ve else 0)
    e = (m.reading - m.r0) * m.ct
    return half_up(e * t["flat"], 10000) if e else 0


def vlimits(nominal: str) -> tuple[int, int]:
    base = int(nominal) * 10
    drop, rise = (1000, 700) if nominal == "220" else (700, 700)
    return base - half_up(base * drop, 10000), base + half_up(base * rise, 10000)


def lowest_voltage(meters: list[Meter]) -> Meter:
    return min(meters, key=lambda m: (min(v for v in m.volt if v is not None) * 10
                                      // int(m.nominal), m.id))


def voltage_minutes(m: Meter) -> tuple[int, int, int]:
    lo, hi = vlimits(m.nominal)
    mon = above = below = 0
    for p in m.volt:
        if p is None:
            continue
        mon += 15
        if p > hi:
            above += 15
        elif p < lo:
            below += 15
    return mon, above, below


@dataclass
class Day:
    """Everything the terminals, marketing and the bank will send, with the expected results."""
    day: date
    meters: dict[str, list[Meter]]
    supply: dict[str, int]
    load: dict[str, dict[str, list[int]]]
    months: list[int]
    outage_t0: int
    downs: list[dict]
    payments: list[dict] = field(default_factory=list)
    pending_payment: dict = field(default_factory=dict)
    bank_day: list[dict] = field(default_factory=list)
    bank_next: list[dict] = field(default_factory=list)
    expected_class: dict[str, str] = field(default_factory=dict)

    @property
    def d(self) -> int:
        return ymd(self.day)

    @property
    def d_next(self) -> int:
        return ymd(self.day + timedelta(days=1))

    @property
    def month(self) -> int:
        return self.d // 100

    def all_meters(self) -> list[Meter]:
        return [m for d in DISTRICTS for m in self.meters[d]]

    def by_id(self) -> dict[str, Meter]:
        return {m.id: m for m in self.all_meters()}


def make_day(day: date, seed: int = SEED) -> Day:
    rng = random.Random(seed)
    dval = ymd(day)
    month = dval // 100
    months = [month_add(month, -k) for k in (4, 3, 2, 1)]
    meters: dict[str, list[Meter]] = {}
    for dist in DISTRICTS:
        base_v, rise, sag = VOLTAGE[dist]
        ms_list = []
        for i in range(METERS):
            mid = f"{dist}-{i:03d}"
            if dist == "D2":  # uneven phase connection: 50 % A, 30 % B, 20 % C
                phase = "A" if i % 10 < 5 else "B" if i % 10 < 8 else "C"
            else:
                phase = "ABC"[i % 3]
            m = Meter(mid, dist, i, phase, "220", 1, rng.random() < 0.6)
            daily = rng.randint(600, 1800)         # register advance, 6-18 kWh
            weights = HOUR_WEIGHT
            if mid == HOSPITAL:
                m.phase, m.nominal, m.ct, m.tou = "ABC", "380", 20, False
                m.name, m.protected = "Renmin Hospital (protected)", True
                daily, weights = 3000, HOSPITAL_WEIGHT  # 30 kWh x CT 20 = 600 kWh
            m.r0 = rng.randint(500_000, 4_000_000)
            m.p0 = m.r0 * 6 // 10
            m.v0 = m.r0 - m.p0
            m.curve = spread(daily, weights, rng)
            true_daily = daily
            if mid in (READING_DOWN, STOPPED, LOW_USE):
                true_daily = rng.randint(3000, 3500)  # the load really there
            true_curve = spread(true_daily, weights, rng) if true_daily != daily else m.curve
            if dist == "D1":
                for k in OUTAGE_POINTS:
                    m.curve[k] = 0
                    true_curve = list(true_curve)
                    true_curve[k] = 0
            if mid == LOW_USE:  # the meter is bypassed: it records a quarter of the load
                m.curve = [x // 4 for x in true_curve]
            m.true_curve = [x * m.ct for x in true_curve]
            m.true_energy = sum(m.true_curve)
            adv = sum(m.curve)
            peak_adv = sum(m.curve[k] for k in PEAK_POINTS)
            m.reading, m.peak, m.valley = m.r0 + adv, m.p0 + peak_adv, m.v0 + adv - peak_adv
            m.energy = adv * m.ct
            m.current_ma = m.true_energy * 10 * 1000 // 24 // 220
            if mid == READING_DOWN:      # register wound back and the cover was opened
                m.reading, m.peak, m.valley = m.r0 - 100_000, m.p0 - 60_000, m.v0 - 40_000
                m.energy, m.current_ma, m.events = 0, 60, ["cover_open"]
            elif mid == STOPPED:         # current flows, the register does not move
                m.reading, m.peak, m.valley, m.energy = m.r0, m.p0, m.v0, 0
                m.current_ma = 1500
            # voltage: higher at night, sagging in the evening the further down the feeder
            pos = rng.randint(0, 100)
            nominal_base = 3900 if m.nominal == "380" else base_v
            m.volt = []
            for k in range(96):
                w = weights[k // 4]
                v = (nominal_base + rise * (180 - w) // 180 - sag * pos * w // 18000
                     + rng.randint(-15, 15))
                m.volt.append(None if dist == "D1" and k in OUTAGE_POINTS else v)
            m.vstat = voltage_minutes(m)
            # last four months from the legacy metering system (monthly totals)
            hist_reg = {}
            for mo in months:
                days = calendar.monthrange(mo // 100, mo % 100)[1]
                hist_reg[mo] = days * true_daily * rng.randint(85, 115) // 100
            if mid == LOW_USE:  # the bypass went in last month
                hist_reg[months[-1]] //= 4
            reg = m.r0 - (day.day - 1) * daily
            for mo in reversed(months):
                m.month_end_reading[mo] = reg
                m.history[mo] = hist_reg[mo] * m.ct
                reg -= hist_reg[mo]
            m.charge = price(m)
            ms_list.append(m)
        meters[dist] = ms_list

    # prepaid balances: planted WARN / PENDING_CUT customers, the rest comfortably funded
    for dist in DISTRICTS:
        for m in meters[dist]:
            if m.id == HOSPITAL:
                m.balance0 = m.charge - 5000          # 50.00 yuan short after today
            elif m.index in WARN_IDX:
                m.balance0 = 3000 + m.charge // 2     # ends between 0 and 30.00 yuan
            elif m.index in PENDING_IDX:
                m.balance0 = m.charge // 3            # already warned, ends below zero
            else:
                m.balance0 = m.charge + 3001 + rng.randint(5000, 35000)

    # district supply (master meter) and the transformer's load curve
    supply, load = {}, {}
    for dist in DISTRICTS:
        true_total = sum(m.true_energy for m in meters[dist])
        s = true_total * 10000 // (10000 - TECH_LOSS_BP[dist])
        if dist == "D3":  # master meter configured with CT 150/5 instead of 200/5
            s = s * 150 // 200
        supply[dist] = s
        p, ia, ib, ic = [], [], [], []
        for k in range(96):
            ph = {"A": 0, "B": 0, "C": 0}
            for m in meters[dist]:
                kw = m.true_curve[k] * 4 * (10000 + TECH_LOSS_BP[dist]) // 10000  # 0.01 kW
                if m.phase == "ABC":
                    for x in "ABC":
                        ph[x] += kw // 3
                else:
                    ph[m.phase] += kw
            p.append(sum(ph.values()))
            ia.append(ph["A"] * 1000 // 220)   # 0.01 A at 220 V
            ib.append(ph["B"] * 1000 // 220)
            ic.append(ph["C"] * 1000 // 220)
        load[dist] = {"p": p, "q": [x * 30 // 100 for x in p], "ia": ia, "ib": ib, "ic": ic}

    t0 = ms_at(day, 19, 31)
    downs = []
    for m in meters["D1"]:
        if m.index % 10 != 9:  # 90 of 100 meters report; the rest lost their uplink too
            downs.append({"meter": m.id, "kind": "down", "time_ms": t0 + rng.randint(5, 170) * 1000})
    out = Day(day, meters, supply, load, months, t0, downs)
    _plan_payments(out, rng)
    return out


def _plan_payments(day: Day, rng: random.Random) -> None:
    """Payments of the day (marketing counter/app, bank withholding) and the bank's files."""
    seq = itertools.count(1)
    by_id = day.by_id()

    def pay(customer: str, amount: int, channel: str) -> dict:
        who = "bank-icbc" if channel == "bank" else "marketing-dept"
        return {"serial": f"ZJ{day.d}-{next(seq):04d}", "customer": customer, "amount": amount,
                "channel": channel, "who": who}

    pays = [pay(c, 10000 if c != "D3-005" else 20000, "counter") for c in RESTORED]
    pays.append(pay(PARTIAL_PAYER, 200, "app"))
    pays += [pay(c, a, "bank" if c == "D1-011" else "app") for c, a in WARN_PAYERS.items()]
    special = set(RESTORED) | {PARTIAL_PAYER, CUT_NOT_OUTAGE, HOSPITAL, READING_DOWN, STOPPED,
                               LOW_USE, FUSE_METER} | set(WARN_PAYERS)
    pool = [m.id for m in day.all_meters()
            if m.id not in special and m.index not in WARN_IDX + PENDING_IDX]
    topups = [pay(c, rng.choice([5000, 10000, 20000, 30000]), rng.choice(["counter", "app", "bank"]))
              for c in rng.sample(pool, 12)]
    pays += topups
    day.payments = pays
    assert all(by_id[p["customer"]] for p in pays)
    day.pending_payment = {"serial": f"ZJ{day.d}-{next(seq):04d}", "customer": "D2-070",
                           "amount": 8000, "status": "PENDING"}  # app payment not yet settled
    amount_diff, missing, dup, late = topups[0], topups[1], topups[2], topups[3]
    bank = []
    for p in pays:
        rec = {"serial": p["serial"], "customer": p["customer"], "amount": p["amount"]}
        if p is missing:
            continue
        if p is late:
            day.bank_next.append(rec)   # booked by the bank on T+1: inside the window
            continue
        if p is amount_diff:
            rec = {**rec, "amount": rec["amount"] + 500}
        bank.append(rec)
        if p is dup:
            bank.append(dict(rec))      # the bank file lists it twice
    bank.append({"serial": f"ICBC{day.d}-9001", "customer": "D3-071", "amount": 3000})
    day.bank_day = bank
    cls = {p["serial"]: "MATCHED" for p in pays}
    cls[amount_diff["serial"]] = "AMOUNT_DIFF"
    cls[missing["serial"]] = "ONLY_IN_SYSTEM"
    cls[day.pending_payment["serial"]] = "IN_TRANSIT"
    cls[f"ICBC{day.d}-9001"] = "ONLY_IN_BANK"
    cls["dup:" + dup["serial"]] = "DUPLICATE"
    day.expected_class = cls


# ------------------------------------------------------------------------- talking to the chain

class DemoError(Exception):
    pass


@dataclass
class Tx:
    who: str
    contract: str
    method: str
    args: dict
    ok: bool = True   # the expected outcome


class Net:
    """Signs and sends batches of transactions round-robin over the nodes' RPC URLs."""

    def __init__(self, root: Path, urls: list[str], chain_id: str,
                 keys: dict[str, PrivateKey]) -> None:
        self.root = root
        self.urls = urls
        self.chain_id = chain_id
        self.keys = keys
        self._rr = itertools.count()
        self.sent = 0
        self.failed_as_expected = 0
        self.gas: dict[str, int] = {}
        self.pool = ThreadPoolExecutor(16)

    def url(self) -> str:
        return self.urls[next(self._rr) % len(self.urls)]

    def client(self, who: str | None = None) -> Client:
        return Client(self.url(), self.keys[who] if who else None, chain_id=self.chain_id)

    def height(self) -> int:
        return self.client().height()

    def send(self, txs: list[Tx]) -> list[dict]:
        """Submit all (they must not depend on each other), wait for every commit, and check
        each receipt against its expected outcome."""
        if not txs:
            return []
        h = self.height()

        def one(tx: Tx) -> dict:
            c = self.client(tx.who)
            kind = "system" if tx.contract.startswith("sys.") else "call"
            signed = c.build(kind, tx.contract, tx.method, tx.args, height=h, expires_in=500)
            return c.submit(signed, wait=True, timeout=60)

        results = list(self.pool.map(one, txs))
        top = 0
        for tx, res in zip(txs, results, strict=True):
            self.sent += 1
            rc = res["receipt"]
            top = max(top, res["height"])
            name = f"{tx.contract}.{tx.method}"
            self.gas[name] = max(self.gas.get(name, 0), rc["gas_used"])
            if (rc["status"] == "ok") != tx.ok:
                raise DemoError(f"{name} from {tx.who}: expected "
                                f"{'success' if tx.ok else 'failure'}, got {rc['status']} "
                                f"{rc['error_code']}: {rc['error_message']}")
            if not tx.ok:
                self.failed_as_expected += 1
        self.settle(top)
        return results

    def settle(self, height: int, timeout: float = 30.0) -> None:
        """Wait until every node has applied `height`, so any node answers queries."""
        deadline = time.monotonic() + timeout
        for u in self.urls:
            while Client(u).height() < height:
                if time.monotonic() > deadline:
                    raise DemoError(f"{u} did not reach height {height} in {timeout:.0f} s")
                time.sleep(0.05)

    def q(self, contract: str, method: str, **args: Any) -> Any:
        return self.client().query(contract, method, args)

    def q_many(self, calls: list[tuple[str, str, dict]]) -> list[Any]:
        return list(self.pool.map(lambda c: self.q(c[0], c[1], **c[2]), calls))

    def block_time(self, height: int) -> int:
        self.settle(height)  # the round-robin node may not have applied `height` yet
        return self.client().block(height)["header"]["timestamp_ms"]


def gas_of(results: list[dict]) -> str:
    g = sum(r["receipt"]["gas_used"] for r in results)
    return f"{g / 1e6:.2f} M gas" if g >= 100_000 else f"{g:,} gas"


# ------------------------------------------------------------------------- the scenario

class Checks:
    def __init__(self) -> None:
        self.items: list[tuple[bool, str]] = []

    def __call__(self, ok: bool, what: str) -> bool:
        self.items.append((bool(ok), what))
        return bool(ok)

    @property
    def failed(self) -> list[str]:
        return [w for ok, w in self.items if not ok]


def step(title: str) -> None:
    print(f"==> {title}", flush=True)


def say(text: str) -> None:
    print(f"    {text}", flush=True)


def register_accounts(root: Path, nodes: list[dict]) -> dict[str, PrivateKey]:
    admin = Client(nodes[0]["rpc"], load_private_key(root / "admin.key"))
    step("registering the platform's accounts (admin-signed SM2 transactions)")
    keys = {}
    for name, roles in ACCOUNTS:
        k = PrivateKey.generate()
        save_private_key(root / f"{name}.key", k)
        keys[name] = k
        r = admin.register(address_of(k.public_key), roles, name)
        rc = r["receipt"]
        if rc["status"] != "ok":
            raise DemoError(f"registering {name} failed: {rc['error_code']}: "
                            f"{rc['error_message']}")
        say(f"{name:<18} {address_of(k.public_key)} roles={roles} -> block {r['height']} "
            f"{rc['status']}")
    keys["admin"] = load_private_key(root / "admin.key")
    return keys


def play(net: Net, day: Day, genesis: Genesis) -> Checks:
    check = Checks()
    D, D1 = day.d, day.d_next
    addr = {who: address_of(k.public_key) for who, k in net.keys.items()}

    # -- a non-member and a self-promoting member (the chain's own permission rules)
    step("a non-member tries to send a transaction")
    outsider = Client(net.urls[-1], PrivateKey.generate(), chain_id=net.chain_id)
    try:
        outsider.call("sys.members", "register", {"address": "00" * 20, "roles": ["admin"]})
        net.sent += 1
        check(False, "a non-member's transaction is refused")
        say("UNEXPECTED: accepted")
    except RpcError as exc:
        check(exc.code == "TX_NOT_MEMBER", "a non-member's transaction is refused")
        say(f"rejected: {exc}")
    step("a member without the admin role tries to grant itself admin")
    r = net.send([Tx("marketing-dept", "sys.members", "set_roles",
                     {"address": addr["marketing-dept"], "roles": ["admin"]}, ok=False)])[0]
    rc = r["receipt"]
    say(f"receipt: {rc['status']} {rc['error_code']}: {rc['error_message']}")

    # -- contracts and roles
    step("deploying the power contracts (scripts/deploy_contracts.py, Zhejiang parameters)")
    deployed = deploy_all(Client(net.urls[net.sent % len(net.urls)], net.keys["admin"],
                                 chain_id=net.chain_id), out=say)
    net.sent += sum(1 for x in deployed if x.action != "unchanged")
    step("granting contract roles (each contract keeps its own role table)")
    grants = [("billing", t, "terminal") for t in TERMINAL.values()]
    grants += [("district", t, "terminal") for t in TERMINAL.values()]
    grants += [("billing", "marketing-dept", "marketing"), ("billing", "bank-icbc", "bank")]
    grants += [("reconciliation", w, r) for w, r in [
        ("marketing-dept", "marketing"), ("bank-icbc", "bank"), ("finance-dept", "finance"),
        ("auditor", "auditor")]]
    net.send([Tx("admin", c, "grant_role", {"account": addr[w], "role": r})
              for c, w, r in grants])
    for c in ("billing", "district", "reconciliation"):
        say(f"{c:<15} " + ", ".join(f"{w}={r}" for cc, w, r in grants if cc == c))

    # -- registry
    step(f"registering {len(DISTRICTS)} districts x {METERS} customers and meters")
    net.send([Tx("admin", "billing", "add_customers", {"customers": [
        {"customer": m.id, "name": m.name, "balance": m.balance0, "protected": m.protected}
        for m in day.meters[d]]}) for d in DISTRICTS]
        + [Tx("admin", "district", "add_district", {"district": d, "name": DISTRICT_NAME[d]})
           for d in DISTRICTS])
    meter_args = []
    for d in DISTRICTS:
        items = []
        for m in day.meters[d]:
            it = {"meter": m.id, "customer": m.id, "ct": m.ct, "reading": m.r0}
            if m.tou:
                it["tou"] = {"peak": m.p0, "valley": m.v0}
            items.append(it)
        meter_args.append(Tx("admin", "billing", "add_meters", {"meters": items}))
    net.send(meter_args + [Tx("admin", "district", "add_transformer", {
        "transformer": f"T-{d}", "district": d, "rated_kva": RATED_KVA[d]}) for d in DISTRICTS])
    net.send([Tx("admin", "district", "add_meters", {"district": d, "meters": [
        {"meter": m.id, "transformer": f"T-{d}", "phase": m.phase, "nominal": m.nominal}
        for m in day.meters[d]]}) for d in DISTRICTS])
    for d in DISTRICTS:
        tou = sum(m.tou for m in day.meters[d])
        say(f"{d} {DISTRICT_NAME[d]:<20} transformer T-{d} {RATED_KVA[d]} kVA, {METERS} meters "
            f"({tou} time-of-use), prepaid balances {yuan(sum(m.balance0 for m in day.meters[d]))} yuan")
    say(f"{HOSPITAL} is {day.by_id()[HOSPITAL].name}, three-phase 380 V, CT 100/5")

    # -- history for the monthly low-use rule
    step("terminals backfill four months of monthly energy from the legacy metering system")
    for mo in day.months:
        net.send([Tx(TERMINAL[d], "district", "submit_meter_days", {
            "district": d, "date": month_last_day(mo), "items": [
                {"meter": m.id, "energy": m.history[mo], "reading": m.month_end_reading[mo]}
                for m in day.meters[d]]}) for d in DISTRICTS])
    say("months " + ", ".join(f"{mo // 100}-{mo % 100:02d}" for mo in day.months)
        + f": {len(day.months) * len(DISTRICTS)} batches of {METERS} meters")

    # -- the day's data from the edge
    step(f"operating day {show_date(D)}: edge terminals upload the day's data")
    read_ms = ms_at(day.day, 23, 59)
    txs = []
    for d in DISTRICTS:
        t = TERMINAL[d]
        readings = []
        for m in day.meters[d]:
            r = {"meter": m.id, "value": m.reading, "read_ms": read_ms}
            if m.tou:
                r["tou"] = {"peak": m.peak, "valley": m.valley}
            readings.append(r)
        txs += [
            Tx(t, "billing", "submit_readings", {"readings": readings}),
            Tx(t, "district", "submit_meter_days", {"district": d, "date": D, "items": [
                {"meter": m.id, "energy": m.energy, "reading": m.reading,
                 "current_ma": m.current_ma, **({"events": m.events} if m.events else {})}
                for m in day.meters[d]]}),
            Tx(t, "district", "submit_master", {"district": d, "date": D,
                                                "supply": day.supply[d]}),
            Tx(t, "district", "submit_voltage_stats", {"date": D, "items": [
                {"meter": m.id, "monitored": m.vstat[0], "above": m.vstat[1],
                 "below": m.vstat[2]} for m in day.meters[d]]}),
            Tx(t, "district", "submit_load_curve", {"transformer": f"T-{d}", "date": D,
                                                    **day.load[d]}),
        ]
    txs.append(Tx(TERMINAL["D1"], "district", "report_power_events", {"items": day.downs}))
    res = net.send(txs)
    billed = [r["receipt"]["value"] for r in res[0:15:5]]
    for d, vals in zip(DISTRICTS, billed, strict=True):
        amount = sum(v["amount"] for v in vals)
        odd = [f"{v['meter']} {v['status']}" for v in vals if v["status"] != "BILLED"]
        say(f"{TERMINAL[d]}: 100 readings billed {yuan(amount)} yuan; 100 meter days, "
            f"master meter, voltage minutes, 96-point load curve"
            + (f"; not billed: {', '.join(odd)}" if odd else ""))
    alarms = res[1]["receipt"]["value"] + res[6]["receipt"]["value"] + res[11]["receipt"]["value"]
    for meter, kinds in alarms:
        say(f"abnormal use flagged at upload: {meter} {', '.join(kinds)}")
    say(f"{TERMINAL['D1']}: {len(day.downs)} power-down events between "
        f"{clock(day.outage_t0)} and {clock(max(x['time_ms'] for x in day.downs))}")
    say(f"{len(txs)} transactions, {gas_of(res)}")

    step("terminals evaluate line loss, outage and last month's low-use rule on chain")
    samples = {d: lowest_voltage(day.meters[d]) for d in DISTRICTS}
    res = net.send(
        [Tx(TERMINAL[d], "district", "evaluate_line_loss", {"district": d, "date": D})
         for d in DISTRICTS]
        + [Tx(TERMINAL["D1"], "district", "classify_outage",
              {"district": "D1", "t0": day.outage_t0})]
        + [Tx(TERMINAL[d], "district", "evaluate_low_use",
              {"district": d, "month": day.months[-1]}) for d in DISTRICTS]
        + [Tx(TERMINAL[d], "district", "submit_voltage_curve",
              {"meter": samples[d].id, "date": D, "points": samples[d].volt})
           for d in DISTRICTS])
    out = res[3]["receipt"]["value"]
    say(f"D1 power-downs {clock(day.outage_t0)}-{clock(day.outage_t0 + 180_000)}: "
        f"{out['down']} of {out['eligible']} meters -> {out['scope']} outage")
    say("raw 96-point voltage curves of the lowest-voltage meter per district, re-checked on "
        "chain: " + ", ".join(samples[d].id for d in DISTRICTS))
    net.send([Tx(TERMINAL["D1"], "district", "report_power_events", {"items": [
        {"meter": x["meter"], "kind": "up", "time_ms": ms_at(day.day, 20, 0)}
        for x in day.downs]})])
    say("D1 supply restored at 20:00 (power-up events)")

    # -- prepaid cost control
    step("prepaid cost control (terminals sweep their districts' pending cuts)")

    def sweep(label: str) -> list[list]:
        pending = set()
        for st in ("PENDING_CUT", "RESTORE_PENDING"):
            pending |= {c for c, _ in net.q("billing", "list_state", state=st)}
        txs = [Tx(TERMINAL[d], "billing", "execute_controls",
                  {"customers": sorted(c for c in pending if c.startswith(d))})
               for d in DISTRICTS if any(c.startswith(d) for c in pending)]
        rows = [row for r in net.send(txs) for row in r["receipt"]["value"]]
        counts: dict[str, int] = {}
        for _, st, why in rows:
            k = f"{st}{' (' + why + ')' if why else ''}"
            counts[k] = counts.get(k, 0) + 1
        say(f"{label}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        return rows

    warn = net.q("billing", "list_state", state="WARN")
    pend = net.q("billing", "list_state", state="PENDING_CUT")
    say(f"after the day's charges: {len(warn)} customers in WARN, {len(pend)} in PENDING_CUT")
    rows = sweep("sweep with production rules (08:00-17:00 working days, warning >= 24 h old)")
    check(not any(st == "CUT" for _, st, _ in rows), "production rules cut nobody: the warnings "
          "are minutes old (24 h needed) or it is outside 08:00-17:00 on a working day")
    say("demo clock: an operator compresses the day; billing.set_param "
        + ", ".join(f"{k}={v}" for k, v in COMPRESSED.items()))
    net.send([Tx("admin", "billing", "set_param", {"name": k, "value": v})
              for k, v in COMPRESSED.items()])
    rows = sweep("sweep")
    cut_height = net.height()
    cut_ms = net.block_time(cut_height)
    cut_now = sorted(c for c, st, _ in rows if st == "CUT")
    say(f"cut at {clock(cut_ms)}: {', '.join(cut_now)}")

    step("payments: counters and app (marketing), withholding (bank)")
    res = net.send([Tx(p["who"], "billing", "pay", {
        "customer": p["customer"], "amount": p["amount"], "serial": p["serial"],
        "channel": p["channel"]}) for p in day.payments])
    say(f"{len(day.payments)} payments, {yuan(sum(p['amount'] for p in day.payments))} yuan "
        f"credited; " + ", ".join(f"{p['customer']} {yuan(p['amount'])}"
                                  for p in day.payments[:8]) + ", ...")
    sweep("sweep")
    say("production rules restored: billing.set_param "
        + ", ".join(f"{k}={PRODUCTION_BILLING[k]}" for k in COMPRESSED))
    t_down = cut_ms
    net.send([Tx("admin", "billing", "set_param", {"name": k, "value": PRODUCTION_BILLING[k]})
              for k in COMPRESSED]
             + [Tx(TERMINAL["D2"], "district", "report_power_events", {"items": [
                 {"meter": CUT_NOT_OUTAGE, "kind": "down", "time_ms": t_down},
                 {"meter": FUSE_METER, "kind": "down", "time_ms": t_down}]})])
    t0_cut = t_down - 60_000
    out = net.send([Tx(TERMINAL["D2"], "district", "classify_outage",
                       {"district": "D2", "t0": t0_cut})])[0]["receipt"]["value"]
    say(f"D2: {CUT_NOT_OUTAGE} (cut for arrears) and {FUSE_METER} (blown fuse) report "
        f"power-down -> {out['scope']} {', '.join(out['meters'])}; excluded as cut: "
        f"{', '.join(out['cut']) or 'none'}")

    # -- reconciliation
    step(f"reconciliation of {show_date(D)}: marketing and bank deliver their files")
    mk = [{k: p[k] for k in ("serial", "customer", "amount")} for p in day.payments]
    mk.append(day.pending_payment)
    net.send([
        Tx("marketing-dept", "reconciliation", "submit_batch",
           {"party": "marketing", "date": D, "records": mk}),
        Tx("bank-icbc", "reconciliation", "submit_batch",
           {"party": "bank", "date": D, "records": day.bank_day}),
        Tx("bank-icbc", "reconciliation", "submit_batch",
           {"party": "bank", "date": D1, "records": day.bank_next}),
    ])
    say(f"marketing {len(mk)} records, bank {len(day.bank_day)} records for {show_date(D)} "
        f"and {len(day.bank_next)} for {show_date(D1)}")
    r = net.send([Tx("finance-dept", "reconciliation", "reconcile", {"date": D})])[0]
    say(f"finance-dept reconciled {show_date(D)} ({gas_of([r])})")

    summary(net, day, genesis, check, t0_cut)
    return check


# ------------------------------------------------------------------------- summary (chain reads)

def summary(net: Net, day: Day, genesis: Genesis, check: Checks, t0_cut: int) -> None:
    D = day.d
    step("summary (everything below is read back from the chain)")

    # billing
    print(f"\n  Bills for {show_date(D)}, readings at 23:59 (Zhejiang residential tariff: flat "
          "0.538, time-of-use peak 0.568 / valley 0.288 yuan/kWh)")
    print(f"    {'district':<9}{'bills':>6}{'energy kWh':>14}{'amount yuan':>14}"
          f"{'peak':>11}{'valley':>11}{'flat':>11}   not billed")
    month = day.d // 100
    bills = net.q_many([("billing", "get_bill", {"customer": m.id, "month": month})
                        for m in day.all_meters()])
    meters = net.q_many([("billing", "get_meter", {"meter": m.id}) for m in day.all_meters()])
    wrong = []
    for d in DISTRICTS:
        rows = [(m, b, mm) for m, b, mm in zip(day.all_meters(), bills, meters, strict=True)
                if m.district == d]
        items: dict[str, int] = {}
        for _, b, _ in rows:
            for k, v in (b or {}).get("items", {}).items():
                items[k] = items.get(k, 0) + v
        energy = sum((b or {}).get("energy", 0) for _, b, _ in rows)
        amount = sum((b or {}).get("amount", 0) for _, b, _ in rows)
        anomalies = [m.id for m, _, mm in rows if mm and mm.get("anomalies")]
        wrong += [m.id for m, b, _ in rows if (b or {}).get("amount", 0) != m.charge]
        print(f"    {d:<9}{sum(1 for _, b, _ in rows if b):>6}{kwh(energy):>14}{yuan(amount):>14}"
              f"{yuan(items.get('peak', 0)):>11}{yuan(items.get('valley', 0)):>11}"
              f"{yuan(items.get('tier1', 0)):>11}   "
              + (", ".join(f"{a} (reading went down)" for a in anomalies) or "-"))
    check(not wrong, "every bill equals the tariff computed off chain"
          + (f" (differs: {', '.join(wrong[:5])})" if wrong else ""))
    check(meters[[m.id for m in day.all_meters()].index(READING_DOWN)]["anomalies"] == 1,
          f"billing refused to bill {READING_DOWN} (reading went down)")

    # cost control
    print("\n  Prepaid cost control (warn at <= 30.00 yuan, cut at <= 0 inside the window)")
    lists = {st: net.q("billing", "list_state", state=st)
             for st in ("WARN", "PENDING_CUT", "CUT", "RESTORE_PENDING")}
    custs = dict(zip([m.id for m in day.all_meters()], net.q_many(
        [("billing", "get_customer", {"customer": m.id}) for m in day.all_meters()]),
        strict=True))
    for st, rows in lists.items():
        names = [c for c, _ in rows]
        detail = ", ".join(f"{c} {yuan(custs[c]['balance'])}" for c in names[:12])
        print(f"    {st:<16}{len(names):>3}  {detail}{' ...' if len(names) > 12 else ''}".rstrip())
    hosp = custs[HOSPITAL]
    print(f"    {HOSPITAL} {hosp['name']}: {hosp['state']}, balance {yuan(hosp['balance'])} "
          f"yuan, never cut (protected)")
    restored = [c for c in RESTORED if custs[c]["state"] == "NORMAL"]
    print(f"    restored after paying today: {', '.join(restored)} (now NORMAL)")
    print(f"    {PARTIAL_PAYER} paid 2.00 yuan: balance {yuan(custs[PARTIAL_PAYER]['balance'])}, "
          f"still {custs[PARTIAL_PAYER]['state']}")
    exp_warn = sorted(f"{d}-{i:03d}" for d in DISTRICTS for i in WARN_IDX
                      if f"{d}-{i:03d}" not in WARN_PAYERS)
    exp_cut = sorted(f"{d}-{i:03d}" for d in DISTRICTS for i in PENDING_IDX
                     if f"{d}-{i:03d}" not in RESTORED)
    check([c for c, _ in lists["WARN"]] == exp_warn, f"{len(exp_warn)} customers in WARN")
    check([c for c, _ in lists["CUT"]] == exp_cut, f"{len(exp_cut)} customers cut: "
          + ", ".join(exp_cut))
    check([c for c, _ in lists["PENDING_CUT"]] == [HOSPITAL] and hosp["protected"],
          "the hospital stays PENDING_CUT (protected), nobody else is pending")
    check(restored == list(RESTORED) and not lists["RESTORE_PENDING"],
          f"{len(RESTORED)} cut customers restored after payment")

    # reconciliation
    print(f"\n  Reconciliation of {show_date(D)}: marketing vs bank (bank T+1 included)")
    summ = net.q("reconciliation", "get_summary", date=D)
    entries = net.q("reconciliation", "get_entries", date=D, limit=500)
    print(f"    {'class':<16}{'entries':>8}{'records':>8}{'amount yuan':>14}   detail")
    found: dict[str, str] = {}
    for cls in RECON_CLASSES:
        s = summ["by_class"][cls]
        if not s["entries"]:
            continue
        ens = [e for e in entries if e["class"] == cls]
        for e in ens:
            key = ("dup:" if cls == "DUPLICATE" else "") + e["serial"]
            found[key] = cls
        detail = ""
        if cls == "AMOUNT_DIFF":
            detail = "; ".join(f"{e['serial']} system {yuan(e['amount'])}, bank "
                               f"{yuan(e['amount'] + e['diff'])} ({'+' if e['diff'] > 0 else ''}"
                               f"{yuan(e['diff'])})" for e in ens)
        elif cls == "ONLY_IN_SYSTEM":
            detail = "bank short: " + "; ".join(e["serial"] for e in ens)
        elif cls == "ONLY_IN_BANK":
            detail = "bank long: " + "; ".join(e["serial"] for e in ens)
        elif cls == "DUPLICATE":
            detail = "listed twice in the bank file: " + "; ".join(e["serial"] for e in ens)
        elif cls == "IN_TRANSIT":
            detail = "in flight, not a difference: " + "; ".join(e["serial"] for e in ens)
        elif cls == "MATCHED":
            late = [e["serial"] for e in ens if any(r.startswith(f"bank:{day.d_next}")
                                                    for r in e["refs"])]
            detail = f"incl. {', '.join(late)} booked by the bank on T+1" if late else ""
        print(f"    {cls:<16}{s['entries']:>8}{s['records']:>8}{yuan(s['amount']):>14}   {detail}")
    diffs = [c for c in RECON_CLASSES[1:-1] if summ["by_class"][c]["entries"]]
    print(f"    differences to clear: {sum(summ['by_class'][c]['entries'] for c in diffs)} "
          f"({', '.join(diffs)}); in transit is not a difference")
    missing = {k: v for k, v in day.expected_class.items() if found.get(k) != v}
    extra = {k: v for k, v in found.items() if k not in day.expected_class}
    check(not missing and not extra, "every planted difference found, nothing else: "
          "AMOUNT_DIFF, ONLY_IN_SYSTEM, ONLY_IN_BANK, DUPLICATE, IN_TRANSIT"
          + (f" (missing {missing}, unexpected {extra})" if missing or extra else ""))

    # line loss, voltage, load
    print(f"\n  Transformer districts on {show_date(D)}")
    print(f"    {'district':<9}{'supply kWh':>12}{'sales kWh':>12}{'loss':>10}  {'band':<15}"
          f"{'voltage pass':>13}{'max load':>10}{'imbalance':>10}")
    want_band = {"D1": "QUALIFIED", "D2": "HIGH_LOSS", "D3": "NEGATIVE_LOSS"}
    for d in DISTRICTS:
        ll = net.q("district", "get_line_loss", district=d, date=D)
        v = net.q("district", "district_voltage", district=d, date=D)
        ld = net.q("district", "get_load", transformer=f"T-{d}", date=D)
        print(f"    {d:<9}{kwh(ll['supply']):>12}{kwh(ll['sales']):>12}{pct(ll['loss_bp']):>10}  "
              f"{ll['status']:<15}{pct(v['pass_bp']):>13}{pct(ld['max_bp']):>10}"
              f"{pct(ld['max_imbalance_bp']):>10}")
        sales = sum(m.energy for m in day.meters[d])
        exp_loss = half_up((day.supply[d] - sales) * 10000, day.supply[d])
        check(ll["status"] == want_band[d] and ll["loss_bp"] == exp_loss,
              f"{d} line loss {pct(exp_loss)} {want_band[d]}")
        mon = sum(m.vstat[0] for m in day.meters[d])
        bad = sum(m.vstat[1] + m.vstat[2] for m in day.meters[d])
        check(v["monitored"] == mon and v["pass_bp"] == 10000 - half_up(bad * 10000, mon),
              f"{d} voltage qualification {pct(10000 - half_up(bad * 10000, mon))} "
              "matches the edge's minutes")
    print("    loss = (supply - sales) / supply, qualified -1 % ... 10 %; voltage pass = share of "
          "minutes inside")
    print("    198.0-235.4 V (220 V) or 353.4-406.6 V (380 V), GB/T 12325; load = sqrt(P2+Q2) / "
          "rated kVA")
    print("    D2: energy stolen in the district; D3: master meter CT on file 150/5, fitted 200/5")
    for d in DISTRICTS:
        m = lowest_voltage(day.meters[d])
        got = net.q("district", "get_voltage", meter=m.id, date=D)
        check(got["monitored"] == m.vstat[0] and got["above"] == m.vstat[1]
              and got["below"] == m.vstat[2],
              f"{m.id}: the contract's minutes from the raw curve equal the edge's")

    # alarms
    print("\n  Alarms")
    alarm_dates = {D, day.months[-1] * 100 + 1, int(datetime.fromtimestamp(
        t0_cut / 1000, CST).strftime("%Y%m%d"))}
    got: list[tuple[str, int, dict]] = []
    for d in DISTRICTS:
        for dt in sorted(alarm_dates):
            for a in net.q("district", "get_alarms", district=d, date=dt):
                got.append((d, dt, a))
    d1_out = net.q("district", "get_outage", district="D1", t0=day.outage_t0)
    for d, dt, a in got:
        text = a["detail"]
        when = show_date(dt)
        if a["kind"] == "OUTAGE_DISTRICT":
            text = (f"{a['detail']} of {d1_out['eligible']} meters down within 3 min from "
                    f"{clock(d1_out['t0'])}")
        elif a["kind"] == "OUTAGE_METER":
            text = "single-meter outage (its neighbour, cut for arrears, is not counted)"
        elif a["kind"] == "IMBALANCE":
            text = f"{a['detail']} min above 25 % imbalance at > 50 % load"
        elif a["kind"] == "LOW_USE":
            when = show_date(dt)[:7] + "   "
            text = "month's energy below 30 % of the previous 3 months' average"
        elif a["kind"] == "ABNORMAL_USE":
            text = text.replace(",", ", ")
        elif a["kind"] in ("NEGATIVE_LOSS", "HIGH_LOSS"):
            text = f"line loss {pct(int(a['detail']))}"
        print(f"    {d} {when} {a['kind']:<16} {a['subject']:<8} {text}")
    kinds = {(d, a["kind"], a["subject"]): a["detail"] for d, _, a in got}
    check(("D1", "OUTAGE_DISTRICT", "D1") in kinds, "D1 district outage detected")
    check(("D2", "IMBALANCE", "T-D2") in kinds
          and not any(k[1] == "IMBALANCE" for k in kinds if k[0] != "D2"),
          "phase imbalance alarm on T-D2 only")
    check(kinds.get(("D2", "ABNORMAL_USE", READING_DOWN)) == "READING_DOWN,COVER_OPEN",
          f"{READING_DOWN}: reading went down, cover opened")
    check(kinds.get(("D2", "ABNORMAL_USE", STOPPED)) == "METER_STOPPED",
          f"{STOPPED}: meter stopped while current flows")
    check(("D2", "LOW_USE", LOW_USE) in kinds
          and sum(1 for k in kinds if k[1] == "LOW_USE") == 1,
          f"{LOW_USE}: consumption collapse (low use), no other meter")
    check(sum(1 for k in kinds if k[1] == "ABNORMAL_USE") == 2, "no other abnormal-use alarm")
    out_cut = net.q("district", "get_outage", district="D2", t0=t0_cut)
    check(out_cut["scope"] == "METER" and out_cut["meters"] == [FUSE_METER]
          and CUT_NOT_OUTAGE in out_cut["cut"],
          f"{CUT_NOT_OUTAGE} (cut) not counted as an outage; {FUSE_METER} is")
    check(("D2", "OUTAGE_METER", CUT_NOT_OUTAGE) not in kinds, "no outage alarm for a cut meter")

    # one value with a proof
    print("\n  Proof")
    st = Client(net.urls[-1]).state("reconciliation", ["result", D], genesis)
    proven = st.value["by_class"]
    ok = proven == summ["by_class"]
    print(f"    reconciliation result of {show_date(D)} read from {net.urls[-1]} with an SMT "
          f"proof: verified against the state root {st.state_root.hex()[:16]}... of block "
          f"{st.height}, certified by a quorum of the genesis validators")
    print(f"    proven: AMOUNT_DIFF {yuan(proven['AMOUNT_DIFF']['amount'])} yuan, ONLY_IN_SYSTEM "
          f"{yuan(proven['ONLY_IN_SYSTEM']['amount'])}, ONLY_IN_BANK "
          f"{yuan(proven['ONLY_IN_BANK']['amount'])}; equals the query answer: {ok}")
    check(ok, "the proven reconciliation result equals the queried one")


# ------------------------------------------------------------------------- main

DEFAULT_BASE_PORT = 26600


def ports_free(base: int, count: int) -> bool:
    for port in range(base, base + count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_base_port(requested: int | None, nodes: int) -> int:
    """The requested range if free (else an error); without a request the default range or
    the next free one (another testnet on this machine must not be mistaken for ours)."""
    span = 2 * nodes  # p2p and rpc per node
    if requested is not None:
        if not ports_free(requested, span):
            raise DemoError(f"ports {requested}-{requested + span - 1} are in use on 127.0.0.1; "
                            "choose another --base-port")
        return requested
    for base in range(DEFAULT_BASE_PORT, 32000, 100):
        if ports_free(base, span):
            if base != DEFAULT_BASE_PORT:
                say(f"ports {DEFAULT_BASE_PORT}-{DEFAULT_BASE_PORT + span - 1} are in use "
                    f"(another testnet?); using {base}-{base + span - 1}")
            return base
    raise DemoError("no free port range between 26600 and 32000; pass --base-port")


def start_testnet(root: Path, nodes: int, base_port: int | None) -> tuple[Genesis, list[str]]:
    step(f"creating a {nodes}-validator testnet in {root}")
    base = pick_base_port(base_port, nodes)
    try:
        g = testnet.init(root, nodes, base_port=base)
    except (FileExistsError, ValueError) as exc:
        raise DemoError(str(exc)) from exc
    say(f"chain {g.chain_id}, genesis {g.hash().hex()[:16]}, validators: "
        + ", ".join(v.name for v in g.validators))
    step("starting nodes")
    try:
        testnet.up(root)
    except TimeoutError as exc:
        raise DemoError(str(exc)) from exc
    nodes = testnet.manifest(root)["nodes"]
    for n in nodes:  # an RPC that answers must be ours, not another chain on the same port
        st = Client(n["rpc"]).status()
        if st.get("genesis_hash") != g.hash().hex():
            raise DemoError(f"{n['rpc']} answers for another chain (genesis "
                            f"{str(st.get('genesis_hash'))[:16]}): {n['name']} could not bind "
                            f"its port (see {root / n['name'] / 'node.log'}); choose another "
                            "--base-port")
    return g, [n["rpc"] for n in nodes]


def main() -> int:
    ap = argparse.ArgumentParser(description="Run the chainnode demo day on a fresh testnet.")
    ap.add_argument("--dir", required=True, help="testnet directory to create")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--base-port", type=int, default=None,
                    help=f"first port (default {DEFAULT_BASE_PORT}, or the next free range)")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the synthetic day")
    a = ap.parse_args()
    root = Path(a.dir)
    t0 = time.monotonic()
    try:
        g, urls = start_testnet(root, a.nodes, a.base_port)
        nodes = testnet.manifest(root)["nodes"]
        h0 = Client(urls[0]).height()
        keys = register_accounts(root, nodes)
        net = Net(root, urls, g.chain_id, keys)
        net.sent += len(ACCOUNTS)
        ts = net.block_time(net.height())
        today = datetime.fromtimestamp(ts / 1000, CST).date()
        day = make_day(today - timedelta(days=1), a.seed)
        step("the scenario")
        say(f"the chain's clock says {datetime.fromtimestamp(ts / 1000, CST):%Y-%m-%d %H:%M} "
            f"(UTC+8); the terminals upload yesterday, {show_date(day.d)}, as they do after "
            "midnight;")
        say("cost control and payments run on the live block clock, sped up by a parameter "
            "change (shown)")
        say(f"synthetic data: seed {a.seed}, {len(DISTRICTS)} districts x {METERS} meters, "
            "96-point curves, integer units (fen, 0.01 kWh, 0.1 V)")
        check = play(net, day, g)
        demo_heating.act(net, check, today, step, say)
    except (DemoError, DeployError, ProofError, LedgerError) as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        return 1
    except RpcError as exc:
        print(f"\nDEMO FAILED: a node refused a request: {exc}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"\nDEMO FAILED: cannot reach a node: {exc.reason}", file=sys.stderr)
        return 1
    step("cluster status")
    testnet.status(root)
    h1 = Client(urls[0]).height()
    net.settle(h1)  # blocks are read round-robin: every node must have them
    on_chain = sum(len(b["tx_hashes"]) for b in net.pool.map(
        lambda h: Client(urls[h % len(urls)]).block(h), range(h0 + 1, h1 + 1)))
    check(on_chain == net.sent, f"the blocks hold the {net.sent} transactions sent "
          f"(counted {on_chain})")
    elapsed = time.monotonic() - t0
    big = max(net.gas.items(), key=lambda kv: kv[1])
    print()
    print(f"  largest call: {big[0]} {big[1] / 1e6:.2f} M gas (limit 5 M per transaction)")
    ok = [w for good, w in check.items if good]
    print("  what the demo checked against what it planted:")
    for good, w in check.items:
        print(f"    {'ok     ' if good else 'NOT MET'} {w}")
    print(f"  checks: {len(ok)} of {len(check.items)} expectations met")
    step(f"done: {net.sent} transactions sent ({net.failed_as_expected} refused on purpose) in "
         f"{h1 - h0} blocks (height {h0} -> {h1}), {elapsed:.1f} s in all")
    if check.failed:
        print("DEMO FAILED: the scenario's expectations above were not all met", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
