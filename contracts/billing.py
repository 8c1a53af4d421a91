# Smart fee control for a power utility: customers, meters, tariffs, readings,
# prepaid balances, payments and the cost-control (cut / restore) state machine.
#
# Units: money in integer fen, energy and register values in 0.01 kWh, prices in
# 0.0001 yuan/kWh (0.538 yuan/kWh = 5380), percentages in 0.01 % (basis points).
# Every threshold, tariff and window is a parameter; defaults follow the
# power-domain rules (Zhejiang residential tariff, 08:00-17:00 cut window, UTC+8).
#
# Storage layout (all keys are tuples):
#   ("p", name)                 parameter value
#   ("role", account, role)     contract role table (deployer is "admin")
#   ("tariff", tariff_id)       {"flat", "bounds", "incs", "tou", "period"?, "seasons"?}
#   ("cust", customer)          customer record (balance, state, flags, meters)
#   ("meter", meter)            meter record (multiplier, digits, last readings)
#   ("ytd", customer, year)     energy billed so far in the calendar year (tier period "year")
#   ("ytd", customer, yyyymm)   energy billed so far in the month ("month", "seasonal-month")
#   ("bill", customer, yyyymm)  monthly bill (energy, amount, line items)
#   ("paid", serial)            payment serial seen (duplicate guard)
#   ("list", state)             {customer: since_ms} for WARN / PENDING_CUT / CUT / RESTORE_PENDING

STATES = ["NORMAL", "WARN", "PENDING_CUT", "CUT", "RESTORE_PENDING"]
LISTED = ["WARN", "PENDING_CUT", "CUT", "RESTORE_PENDING"]
DAY_MS = 86400000
HOUR_MS = 3600000
MINUTE_MS = 60000

# ----------------------------------------------------------------- parameters


def param_defaults():
    # Defaults from the power-domain rules; each can be overridden at deploy or
    # changed later by a contract admin with set_param.
    return {
        "warn_threshold": 3000,
        "restore_threshold": 0,
        "warn_lead_hours": 24,
        "utc_offset_ms": 8 * HOUR_MS,
        "cut_start_min": 8 * 60,
        "cut_end_min": 17 * 60,
        "workdays": [0, 1, 2, 3, 4],
        "holidays": [],
        "extra_workdays": [],
        "rollover_max_pct": 1000,
        "default_digits": 6,
        "max_batch": 100,
        "default_tariff": "zj_res",
        "max_estimates": 62,
    }


def param(name):
    return storage.get(("p", name))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_int_list(x):
    if not isinstance(x, list):
        return False
    return all([is_int(v) for v in x])


def check_param(name, value):
    # Lists hold dates (YYYYMMDD) or weekdays; everything else is an integer
    # except default_tariff, which must name an existing tariff.
    require(name in param_defaults(), "BAD_INPUT", "unknown parameter " + str(name))
    if name in ["workdays", "holidays", "extra_workdays"]:
        require(is_int_list(value), "BAD_INPUT", name + " must be a list of integers")
        if name == "workdays":
            require(all([0 <= d <= 6 for d in value]), "BAD_INPUT", "weekday out of range")
        else:
            require(all([valid_date(d) for d in value]), "BAD_INPUT", "bad date in " + name)
    elif name == "default_tariff":
        require(storage.has(("tariff", value)), "NOT_FOUND", "unknown tariff")
    else:
        require(is_int(value), "BAD_INPUT", name + " must be an integer")
        if name in ["cut_start_min", "cut_end_min"]:
            require(0 <= value <= 1440, "BAD_INPUT", name + " out of range")
        elif name not in ["warn_threshold", "restore_threshold", "utc_offset_ms"]:
            require(value >= 0, "BAD_INPUT", name + " must not be negative")


# ----------------------------------------------------------------- roles


# The role table is the host's (role_has, role_require, role_grant, role_revoke): the
# deployer is admin; checks use ctx.caller, so a contract calling in is judged as itself.


# ----------------------------------------------------------------- calendar


def civil_from_days(days):
    # Days since 1970-01-01 -> YYYYMMDD (proleptic Gregorian, integers only).
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return y * 10000 + m * 100 + d


def days_from_civil(ymd):
    y = ymd // 10000
    m = (ymd // 100) - (ymd // 10000) * 100
    d = ymd - (ymd // 100) * 100
    if m <= 2:
        y = y - 1
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def valid_date(ymd):
    if not is_int(ymd) or ymd < 10000101 or ymd > 99991231:
        return False
    return civil_from_days(days_from_civil(ymd)) == ymd


def local_days(time_ms):
    return (time_ms + param("utc_offset_ms")) // DAY_MS


def local_date(time_ms):
    return civil_from_days(local_days(time_ms))


def local_minute(time_ms):
    t = time_ms + param("utc_offset_ms")
    return (t - (t // DAY_MS) * DAY_MS) // MINUTE_MS


def is_working_day(time_ms):
    # Weekday pattern, minus listed holidays, plus listed make-up working days.
    days = local_days(time_ms)
    date = civil_from_days(days)
    if date in param("extra_workdays"):
        return True
    if date in param("holidays"):
        return False
    weekday = (days + 3) - ((days + 3) // 7) * 7
    return weekday in param("workdays")


def in_cut_window(time_ms):
    if not is_working_day(time_ms):
        return False
    minute = local_minute(time_ms)
    return param("cut_start_min") <= minute and minute < param("cut_end_min")


# ----------------------------------------------------------------- init / admin


def init(warn_threshold=None, restore_threshold=None, warn_lead_hours=None, utc_offset_ms=None,
         cut_start_min=None, cut_end_min=None, workdays=None, holidays=None, extra_workdays=None,
         rollover_max_pct=None, default_digits=None, max_batch=None, max_estimates=None,
         tariff=None):
    # Every argument left as None takes its param_defaults() value. `tariff`
    # replaces the default Zhejiang tariff: {"flat", "bounds", "incs", "tou"}.
    storage.set(("role", ctx.sender, "admin"), True)
    given = {
        "warn_threshold": warn_threshold, "restore_threshold": restore_threshold,
        "warn_lead_hours": warn_lead_hours, "utc_offset_ms": utc_offset_ms,
        "cut_start_min": cut_start_min, "cut_end_min": cut_end_min, "workdays": workdays,
        "holidays": holidays, "extra_workdays": extra_workdays,
        "rollover_max_pct": rollover_max_pct, "default_digits": default_digits,
        "max_batch": max_batch, "max_estimates": max_estimates,
    }
    store_tariff("zj_res", 5380, [276000, 480000], [0, 500, 3000], {"peak": 5680, "valley": 2880})
    if tariff is not None:
        require(isinstance(tariff, dict), "BAD_INPUT", "tariff must be a dict")
        tou = tariff.get("tou", {})
        check_tariff(tariff.get("flat"), tariff.get("bounds"), tariff.get("incs"), tou)
        check_period(tariff.get("period"), tariff.get("seasons"), tariff["bounds"])
        store_tariff("zj_res", tariff["flat"], tariff["bounds"], tariff["incs"], tou)
        store_period("zj_res", tariff.get("period"), tariff.get("seasons"))
    defaults = param_defaults()
    for name in sorted(defaults):
        value = given.get(name)
        if value is None:
            value = defaults[name]
        check_param(name, value)
        storage.set(("p", name), value)


@export
def grant_role(account, role):
    role_grant(account, role)


@export
def revoke_role(account, role):
    role_revoke(account, role)


@export
def set_param(name, value):
    role_require([])
    check_param(name, value)
    storage.set(("p", name), value)
    emit("param_set", name=name)


def check_tariff(flat, bounds, incs, tou):
    require(is_int(flat) and flat >= 0, "BAD_INPUT", "flat price must be a non-negative integer")
    require(is_int_list(bounds) and is_int_list(incs), "BAD_INPUT", "bounds and incs are integer lists")
    require(len(incs) == len(bounds) + 1, "BAD_INPUT", "one increment per tier")
    require(all([v >= 0 for v in incs]) and all([v > 0 for v in bounds]), "BAD_INPUT", "negative tier data")
    for i in range(1, len(bounds)):
        require(bounds[i] > bounds[i - 1], "BAD_INPUT", "tier bounds must ascend")
    require(isinstance(tou, dict), "BAD_INPUT", "tou must be a dict")
    for period in tou:
        require(isinstance(period, str) and is_int(tou[period]) and tou[period] >= 0, "BAD_INPUT", "bad tou price")


def store_tariff(tariff_id, flat, bounds, incs, tou):
    storage.set(("tariff", tariff_id), {"flat": flat, "bounds": bounds, "incs": incs, "tou": tou})


PERIODS = ["year", "month", "seasonal-month"]


def check_period(period, seasons, bounds):
    # Tier period: "year" (annual, the default), "month" (each calendar month starts from
    # zero) or "seasonal-month" (monthly, with other bounds in listed months):
    # seasons = [{"months": [5, 6, ...], "bounds": [...]}, ...], each month in one season.
    require(period is None or period in PERIODS, "BAD_INPUT", "period must be one of " + ",".join(PERIODS))
    if period != "seasonal-month":
        require(seasons is None or len(seasons) == 0, "BAD_INPUT", "seasons need period seasonal-month")
        return
    require(isinstance(seasons, list) and len(seasons) > 0 and len(seasons) <= 12, "BAD_INPUT", "seasons: a list of 1..12")
    seen = {}
    for sn in seasons:
        require(isinstance(sn, dict) and is_int_list(sn.get("months")) and is_int_list(sn.get("bounds")), "BAD_INPUT", "a season is {months, bounds}")
        require(len(sn["bounds"]) == len(bounds), "BAD_INPUT", "a season has as many bounds as the tariff")
        require(all([v > 0 for v in sn["bounds"]]), "BAD_INPUT", "negative tier data")
        for i in range(1, len(sn["bounds"])):
            require(sn["bounds"][i] > sn["bounds"][i - 1], "BAD_INPUT", "tier bounds must ascend")
        for mo in sn["months"]:
            require(mo >= 1 and mo <= 12 and mo not in seen, "BAD_INPUT", "season months are 1..12, each once")
            seen[mo] = True


def store_period(tariff_id, period, seasons):
    # Only non-annual tariffs carry the fields, so annual tariffs are stored as before.
    if period is None or period == "year":
        return
    t = storage.get(("tariff", tariff_id))
    t["period"] = period
    if period == "seasonal-month":
        t["seasons"] = [{"months": sn["months"], "bounds": sn["bounds"]} for sn in seasons]
    storage.set(("tariff", tariff_id), t)


def tariff_bounds(tariff, month):
    # The tier bounds that apply in calendar month 1..12.
    for sn in tariff.get("seasons", []):
        if month in sn["months"]:
            return sn["bounds"]
    return tariff["bounds"]


def period_key(tariff, local_ymd):
    # Accumulator id of the tier period a day belongs to: YYYY or YYYYMM.
    if tariff.get("period", "year") == "year":
        return local_ymd // 10000
    return local_ymd // 100


@export
def set_tariff(tariff_id, flat, bounds, incs, tou=None, period=None, seasons=None):
    # flat / tou prices in 0.0001 yuan/kWh; bounds are tier upper limits per period in
    # 0.01 kWh; incs[i] is the increment of tier i+1 over the base price. period and
    # seasons: see check_period.
    role_require([])
    if tou is None:
        tou = {}
    require(isinstance(tariff_id, str) and len(tariff_id) > 0, "BAD_INPUT", "tariff id")
    check_tariff(flat, bounds, incs, tou)
    check_period(period, seasons, bounds)
    store_tariff(tariff_id, flat, bounds, incs, tou)
    store_period(tariff_id, period, seasons)
    emit("tariff_set", tariff=tariff_id)


@export
def add_customer(customer, name="", tariff=None, prepaid=True, protected=False, balance=0):
    role_require([])
    new_customer(customer, name, tariff, prepaid, protected, balance, False)


@export
def add_customers(customers):
    # Batch registration: [{"customer", "name"?, "tariff"?, "prepaid"?, "protected"?, "balance"?}].
    role_require([])
    require(isinstance(customers, list) and len(customers) <= param("max_batch"), "BAD_INPUT", "batch too large")
    for it in customers:
        require(isinstance(it, dict), "BAD_INPUT", "item must be a dict")
        new_customer(it.get("customer"), it.get("name", ""), it.get("tariff"), it.get("prepaid", True), it.get("protected", False), it.get("balance", 0), True)
    return len(customers)


def new_customer(customer, name, tariff, prepaid, protected, balance, quiet):
    require(isinstance(customer, str) and len(customer) > 0, "BAD_INPUT", "customer id")
    require(not storage.has(("cust", customer)), "BAD_INPUT", "customer exists")
    if tariff is None:
        tariff = param("default_tariff")
    require(storage.has(("tariff", tariff)), "NOT_FOUND", "unknown tariff")
    require(is_int(balance), "BAD_INPUT", "balance must be integer fen")
    c = {
        "name": str(name), "tariff": tariff, "prepaid": bool(prepaid),
        "protected": bool(protected), "balance": balance, "state": "NORMAL",
        "warned_at": None, "meters": [],
    }
    storage.set(("cust", customer), c)
    if not quiet:
        emit("customer_added", customer=customer, prepaid=bool(prepaid), protected=bool(protected))
    settle_state(customer, c)


@export
def set_customer(customer, tariff=None, protected=None, prepaid=None):
    role_require([])
    c = load_customer(customer)
    if tariff is not None:
        require(storage.has(("tariff", tariff)), "NOT_FOUND", "unknown tariff")
        c["tariff"] = tariff
    if protected is not None:
        c["protected"] = bool(protected)
    if prepaid is not None:
        c["prepaid"] = bool(prepaid)
    storage.set(("cust", customer), c)
    emit("customer_updated", customer=customer)


@export
def add_meter(meter, customer, ct=1, pt=1, digits=None, reading=0, tou=None):
    # Multiplier = CT ratio x PT ratio; digits = integer digits of the register.
    role_require([])
    new_meter(meter, customer, ct, pt, digits, reading, tou, False)


@export
def add_meters(meters):
    # Batch registration: [{"meter", "customer", "ct"?, "pt"?, "digits"?, "reading"?, "tou"?}].
    role_require([])
    require(isinstance(meters, list) and len(meters) <= param("max_batch"), "BAD_INPUT", "batch too large")
    for it in meters:
        require(isinstance(it, dict), "BAD_INPUT", "item must be a dict")
        new_meter(it.get("meter"), it.get("customer"), it.get("ct", 1), it.get("pt", 1), it.get("digits"), it.get("reading", 0), it.get("tou"), True)
    return len(meters)


def new_meter(meter, customer, ct, pt, digits, reading, tou, quiet):
    require(isinstance(meter, str) and len(meter) > 0, "BAD_INPUT", "meter id")
    require(not storage.has(("meter", meter)), "BAD_INPUT", "meter exists")
    c = load_customer(customer)
    if digits is None:
        digits = param("default_digits")
    if tou is None:
        tou = {}
    require(is_int(ct) and ct > 0 and is_int(pt) and pt > 0, "BAD_INPUT", "ct and pt must be positive")
    require(is_int(digits) and 1 <= digits <= 12, "BAD_INPUT", "digits out of range")
    check_register(reading, digits)
    require(isinstance(tou, dict), "BAD_INPUT", "tou must be a dict")
    for period in tou:
        check_register(tou[period], digits)
    m = {
        "customer": customer, "ct": ct, "pt": pt, "digits": digits,
        "last": reading, "last_tou": tou, "last_ms": 0,
        "actual": reading, "actual_tou": tou, "prov": [], "anomalies": 0,
    }
    storage.set(("meter", meter), m)
    c["meters"].append(meter)
    storage.set(("cust", customer), c)
    if not quiet:
        emit("meter_added", meter=meter, customer=customer, multiplier=ct * pt)


def check_register(value, digits):
    require(is_int(value) and 0 <= value < pow10(digits + 2), "BAD_INPUT", "register value out of range")


def load_customer(customer):
    require(isinstance(customer, str), "BAD_INPUT", "customer id must be a string")
    c = storage.get(("cust", customer))
    require(c is not None, "NOT_FOUND", "unknown customer")
    return c


def load_meter(meter):
    require(isinstance(meter, str), "BAD_INPUT", "meter id must be a string")
    m = storage.get(("meter", meter))
    require(m is not None, "NOT_FOUND", "unknown meter")
    return m


# ----------------------------------------------------------------- pricing


def tier_split(bounds, ytd_before, energy):
    # Energy of this interval falling into each annual tier, using the interval
    # (ytd_before, ytd_before + energy] against tier edges 0 < b1 < b2 ...
    lo = ytd_before
    hi = ytd_before + energy
    edges = [0] + bounds
    out = []
    for i in range(len(edges)):
        a = edges[i]
        part = min(hi, edges[i + 1]) - max(lo, a) if i + 1 < len(edges) else hi - max(lo, a)
        out.append(max(part, 0))
    return out


def price_items(tariff, ytd_before, energy, tou_energy, month=1):
    # Line items [label, energy, unit_price, amount_fen]; each amount is rounded
    # half-up on its own. Flat: each tier at base + increment. TOU: every kWh at
    # its period price, plus each tier's increment on the kWh above its boundary.
    # ytd_before is the energy already billed in the tier period; month picks seasonal bounds.
    tiers = tier_split(tariff_bounds(tariff, month), ytd_before, energy)
    incs = tariff["incs"]
    items = []
    if len(tou_energy) > 0 and len(tariff["tou"]) > 0:
        for period in sorted(tou_energy):
            e = tou_energy[period]
            require(period in tariff["tou"], "BAD_INPUT", "tariff has no price for period " + period)
            if e > 0:
                p = tariff["tou"][period]
                items.append([period, e, p, muldiv(e, p, 10000)])
        for i in range(1, len(tiers)):
            if tiers[i] > 0 and incs[i] > 0:
                items.append(["tier" + str(i + 1) + "_inc", tiers[i], incs[i], muldiv(tiers[i], incs[i], 10000)])
    else:
        for i in range(len(tiers)):
            if tiers[i] > 0:
                p = tariff["flat"] + incs[i]
                items.append(["tier" + str(i + 1), tiers[i], p, muldiv(tiers[i], p, 10000)])
    return items


@view
def quote(ytd_before, energy=0, tou=None, tariff=None, month=1):
    # Price an interval without state: energy in 0.01 kWh, tou = {period: energy};
    # ytd_before = energy already in the tier period; month (1..12) picks seasonal bounds.
    if tariff is None:
        tariff = param("default_tariff")
    t = storage.get(("tariff", tariff))
    require(t is not None, "NOT_FOUND", "unknown tariff")
    if tou is None:
        tou = {}
    require(is_int(ytd_before) and ytd_before >= 0, "BAD_INPUT", "ytd_before")
    if len(tou) > 0:
        require(all([is_int(tou[k]) and tou[k] >= 0 for k in tou]), "BAD_INPUT", "tou energy")
        energy = sum([tou[k] for k in tou])
    require(is_int(energy) and energy >= 0, "BAD_INPUT", "energy")
    require(is_int(month) and month >= 1 and month <= 12, "BAD_INPUT", "month is 1..12")
    items = price_items(t, ytd_before, energy, tou, month)
    return {"energy": energy, "items": items, "total": sum([it[3] for it in items])}


# ----------------------------------------------------------------- readings


def register_delta(prev, now, digits):
    # Returns the advance of a register, or None when it went down and the
    # decrease is not a plausible rollover of a `digits`-digit register.
    if now >= prev:
        return now - prev
    modulus = pow10(digits + 2)
    delta = modulus - prev + now
    if delta * 10000 <= modulus * param("rollover_max_pct"):
        return delta
    return None


def anomaly(meter, m, value, prev, kind):
    m["anomalies"] = m["anomalies"] + 1
    emit("anomaly", meter=meter, kind=kind, reading=value, previous=prev)


def reading_deltas(m, base, base_tou, value, tou):
    # Register deltas vs a base reading: (total_delta, {period: delta}) or None.
    delta = register_delta(base, value, m["digits"])
    if delta is None:
        return None
    tou_delta = {}
    for period in sorted(tou):
        prev = base_tou.get(period, 0)
        d = register_delta(prev, tou[period], m["digits"])
        if d is None:
            return None
        tou_delta[period] = d
    return [delta, tou_delta]


def add_bill(customer, month, energy, items, label_sign):
    key = ("bill", customer, month)
    b = storage.get(key, {"energy": 0, "amount": 0, "items": {}, "readings": 0})
    b["energy"] = b["energy"] + energy * label_sign
    for it in items:
        label = it[0] if label_sign > 0 else "reversed_" + it[0]
        b["items"][label] = b["items"].get(label, 0) + it[3] * label_sign
        b["amount"] = b["amount"] + it[3] * label_sign
    if label_sign > 0:
        b["readings"] = b["readings"] + 1
    storage.set(key, b)


def charge(customer, c, meter, energy, tou_energy, read_ms, quiet):
    # Price one interval against the year-to-date energy and debit the balance.
    ymd = local_date(read_ms)
    year = ymd // 10000
    month = ymd // 100
    tariff = storage.get(("tariff", c["tariff"]))
    pkey = period_key(tariff, ymd)
    ytd_key = ("ytd", customer, pkey)
    ytd = storage.get(ytd_key, 0)
    items = price_items(tariff, ytd, energy, tou_energy, month % 100)
    amount = sum([it[3] for it in items])
    storage.set(ytd_key, ytd + energy)
    c["balance"] = c["balance"] - amount
    add_bill(customer, month, energy, items, 1)
    if not quiet:
        emit("charge", customer=customer, meter=meter, energy=energy, amount=amount, balance=c["balance"], month=month)
    out = {"energy": energy, "amount": amount, "year": year, "month": month, "items": items}
    if pkey != year:
        out["period"] = pkey
    return out


def reverse_provisional(customer, c, m):
    # Undo every provisional (estimated) charge since the last actual reading.
    total = 0
    for p in m["prov"]:
        ytd_key = ("ytd", customer, p.get("period", p["year"]))
        storage.set(ytd_key, storage.get(ytd_key, 0) - p["energy"])
        c["balance"] = c["balance"] + p["amount"]
        add_bill(customer, p["month"], p["energy"], p["items"], -1)
        total = total + p["amount"]
    m["prov"] = []
    return total


def scaled(m, delta, tou_delta):
    mult = m["ct"] * m["pt"]
    tou_energy = {}
    for period in sorted(tou_delta):
        tou_energy[period] = tou_delta[period] * mult
    return [delta * mult, tou_energy]


def process_reading(meter, value, tou, estimated, read_ms, quiet):
    m = load_meter(meter)
    customer = m["customer"]
    c = load_customer(customer)
    if tou is None:
        tou = {}
    if read_ms is None:
        read_ms = ctx.time_ms
    check_register(value, m["digits"])
    require(isinstance(tou, dict), "BAD_INPUT", "tou must be a dict")
    for period in tou:
        check_register(tou[period], m["digits"])
    require(is_int(read_ms) and m["last_ms"] <= read_ms and read_ms <= ctx.time_ms, "BAD_INPUT", "reading time out of order")
    # Estimated readings continue from the last reading of any kind; an actual
    # reading is measured from the last actual one so estimates can be trued up.
    if estimated:
        # the meter record keeps every provisional charge until the true-up
        require(len(m["prov"]) < param("max_estimates"), "BAD_INPUT", "too many consecutive estimated readings")
        base, base_tou = m["last"], m["last_tou"]
    else:
        base, base_tou = m["actual"], m["actual_tou"]
    deltas = reading_deltas(m, base, base_tou, value, tou)
    if deltas is None:
        anomaly(meter, m, value, base, "READING_DOWN")
        storage.set(("meter", meter), m)
        return {"meter": meter, "status": "ANOMALY", "amount": 0}
    energy_tou = scaled(m, deltas[0], deltas[1])
    energy = energy_tou[0]
    if len(energy_tou[1]) > 0 and len(storage.get(("tariff", c["tariff"]))["tou"]) > 0:
        energy = sum([energy_tou[1][k] for k in energy_tou[1]])
    reversed_amount = 0
    trued_up = not estimated and len(m["prov"]) > 0
    if trued_up:
        reversed_amount = reverse_provisional(customer, c, m)
    result = charge(customer, c, meter, energy, energy_tou[1], read_ms, quiet)
    m["last"], m["last_tou"], m["last_ms"] = value, tou, read_ms
    if estimated:
        m["prov"].append(result)
        status = "PROVISIONAL"
    else:
        m["actual"], m["actual_tou"] = value, tou
        status = "BILLED"
        if trued_up and not quiet:
            emit("true_up", meter=meter, customer=customer, provisional=reversed_amount, actual=result["amount"], difference=result["amount"] - reversed_amount)
    storage.set(("meter", meter), m)
    settle_state(customer, c)
    return {"meter": meter, "status": status, "energy": energy, "amount": result["amount"], "reversed": reversed_amount}


@export
def submit_reading(meter, value, tou=None, estimated=False, read_ms=None):
    # value / tou registers in 0.01 kWh as shown on the meter (before multiplier).
    role_require(["terminal"])
    return process_reading(meter, value, tou, bool(estimated), read_ms, False)


@export
def submit_readings(readings):
    # Batch form: a list of {"meter", "value", optional "tou", "estimated", "read_ms"}.
    # Per-reading charge / true_up events are left out (the VM caps events per
    # call); the amounts are in the return value and the monthly bills.
    role_require(["terminal"])
    require(isinstance(readings, list) and len(readings) <= param("max_batch"), "BAD_INPUT", "batch too large")
    out = []
    for r in readings:
        require(isinstance(r, dict) and "meter" in r and "value" in r, "BAD_INPUT", "reading needs meter and value")
        out.append(process_reading(r["meter"], r["value"], r.get("tou"), bool(r.get("estimated", False)), r.get("read_ms"), True))
    return out


@export
def daily_charge(customer, energy):
    # Direct debit of a day's energy (0.01 kWh, already multiplied) for
    # cost-control systems that meter centrally instead of via readings.
    role_require(["terminal"])
    c = load_customer(customer)
    require(is_int(energy) and energy >= 0, "BAD_INPUT", "energy must be a non-negative integer")
    result = charge(customer, c, "", energy, {}, ctx.time_ms, False)
    settle_state(customer, c)
    return result["amount"]


# ----------------------------------------------------------------- payments and cost control


@export
def pay(customer, amount, serial, channel=""):
    role_require(["marketing", "bank"])
    c = load_customer(customer)
    require(is_int(amount) and amount > 0, "BAD_INPUT", "amount must be positive fen")
    require(isinstance(serial, str) and len(serial) > 0, "BAD_INPUT", "serial required")
    require(not storage.has(("paid", serial)), "DUPLICATE", "payment serial already recorded")
    storage.set(("paid", serial), {"customer": customer, "amount": amount, "ms": ctx.time_ms})
    c["balance"] = c["balance"] + amount
    emit("notice", kind="payment", customer=customer, amount=amount, balance=c["balance"], serial=serial, channel=str(channel))
    settle_state(customer, c)
    return c["balance"]


def move(customer, c, state):
    old = c["state"]
    if old == state:
        return
    if old in LISTED:
        lst = storage.get(("list", old), {})
        if customer in lst:
            lst.pop(customer)
        storage.set(("list", old), lst)
    if state in LISTED:
        lst = storage.get(("list", state), {})
        lst[customer] = ctx.time_ms
        storage.set(("list", state), lst)
    c["state"] = state


def warn(customer, c):
    c["warned_at"] = ctx.time_ms
    emit("notice", kind="warning", customer=customer, balance=c["balance"])


def settle_state(customer, c):
    # Balance-driven transitions. Cuts and restores that touch the switch are
    # executed by execute_controls, which checks the window and lead time.
    if not c["prepaid"]:
        storage.set(("cust", customer), c)
        return
    bal = c["balance"]
    state = c["state"]
    if state in ["NORMAL", "WARN"]:
        if bal <= 0:
            if c["warned_at"] is None:
                warn(customer, c)
            move(customer, c, "PENDING_CUT")
            emit("notice", kind="arrears", customer=customer, balance=bal)
        elif bal <= param("warn_threshold"):
            if state == "NORMAL":
                warn(customer, c)
                move(customer, c, "WARN")
        else:
            c["warned_at"] = None
            move(customer, c, "NORMAL")
    elif state == "PENDING_CUT":
        if bal > 0:
            if bal > param("warn_threshold"):
                c["warned_at"] = None
                move(customer, c, "NORMAL")
            else:
                move(customer, c, "WARN")
    elif state == "CUT":
        if bal > param("restore_threshold"):
            move(customer, c, "RESTORE_PENDING")
    elif state == "RESTORE_PENDING":
        if bal <= param("restore_threshold"):
            move(customer, c, "CUT")
    storage.set(("cust", customer), c)


def cut_blocker(c):
    # Why a pending cut may not run now; "" when it may.
    if c["protected"]:
        return "PROTECTED"
    if not in_cut_window(ctx.time_ms):
        return "OUTSIDE_WINDOW"
    if c["warned_at"] is None or ctx.time_ms - c["warned_at"] < param("warn_lead_hours") * HOUR_MS:
        return "WARNING_TOO_RECENT"
    return ""


def control_one(customer):
    c = load_customer(customer)
    if c["state"] == "PENDING_CUT":
        reason = cut_blocker(c)
        if reason != "":
            return [customer, "PENDING_CUT", reason]
        move(customer, c, "CUT")
        emit("notice", kind="cut", customer=customer, balance=c["balance"])
    elif c["state"] == "RESTORE_PENDING":
        move(customer, c, "NORMAL")
        c["warned_at"] = None
        emit("notice", kind="restored", customer=customer, balance=c["balance"])
        settle_state(customer, c)
    storage.set(("cust", customer), c)
    return [customer, c["state"], ""]


@export
def execute_controls(customers=None):
    # Executes pending cuts (only inside the window, never for protected
    # customers, only after an old-enough warning) and pending restores.
    # Without a list it sweeps the PENDING_CUT and RESTORE_PENDING lists.
    role_require(["terminal", "operator"])
    if customers is None:
        # restores first (customers who paid), then pending cuts; one page per call
        customers = sorted(storage.get(("list", "RESTORE_PENDING"), {})) + sorted(storage.get(("list", "PENDING_CUT"), {}))
        customers = customers[0:param("max_batch")]
    require(isinstance(customers, list) and len(customers) <= param("max_batch"), "BAD_INPUT", "too many customers")
    return [control_one(cu) for cu in customers]


# ----------------------------------------------------------------- views


@view
def get_param(name):
    return param(name)


@view
def has_contract_role(account, role):
    return role_has(account, role)


@view
def get_customer(customer):
    return storage.get(("cust", customer))


@view
def get_meter(meter):
    return storage.get(("meter", meter))


@view
def get_tariff(tariff_id):
    return storage.get(("tariff", tariff_id))


@view
def get_ytd(customer, year):
    # Energy billed in a tier period: a year YYYY, or a month YYYYMM for monthly tariffs.
    return storage.get(("ytd", customer, year), 0)


@view
def get_bill(customer, month):
    return storage.get(("bill", customer, month))


@view
def list_state(state):
    # Customers currently in a listed state (warning, pending cut, cut, restore
    # pending), sorted, with the time they entered it.
    require(state in LISTED, "BAD_INPUT", "state must be one of " + ",".join(LISTED))
    lst = storage.get(("list", state), {})
    return [[cu, lst[cu]] for cu in sorted(lst)]


@view
def is_cut(meter):
    # True while the supply of this meter is switched off for arrears.
    m = storage.get(("meter", meter))
    if m is None:
        return False
    c = storage.get(("cust", m["customer"]))
    return c["state"] in ["CUT", "RESTORE_PENDING"]


@view
def cut_window_open(time_ms):
    return in_cut_window(time_ms)


@view
def local_date_of(time_ms):
    return local_date(time_ms)
