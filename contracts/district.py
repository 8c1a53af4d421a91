# Transformer-district analytics: line loss, voltage qualification, load rate,
# three-phase imbalance, topology identification, outage classification and
# abnormal-use rules, with alarms as events.
#
# Units: energy 0.01 kWh; voltage 0.1 V; active / reactive power 0.01 kW /
# 0.01 kvar; rated capacity kVA; current 0.01 A (stopped-meter rule in mA);
# rates and shares in 0.01 % (basis points); correlation in 1e-6.
# Curves are 96 points (15 min each by default) and one curve is accepted per
# call, so every call does bounded work under gas.
#
# Storage layout:
#   ("p", name)                     parameter
#   ("role", account, role)         contract role table (deployer is "admin")
#   ("district", d)                 {"name", "transformers", "meters"}
#   ("xfmr", t)                     {"district", "rated_kva"}
#   ("meter", m)                    {"district", "transformer", "phase", "nominal", "last_reading"}
#   ("supply", d, date)             district master-meter energy for a day
#   ("mday", m, date)               a meter's daily energy
#   ("sales", d, date)              {"energy", "count"} sum of reported meter days
#   ("menergy", m, yyyymm)          a meter's monthly energy
#   ("loss", d, date)               line-loss result
#   ("vstat", m, date)              voltage minutes of a meter for a day
#   ("vsum", d, date)               district sums of voltage minutes
#   ("vcurve", m, date)             a meter's voltage curve (for topology)
#   ("tcurve", t, phase, date)      a transformer phase's voltage curve
#   ("load", t, date)               load-rate and imbalance statistics
#   ("topo", m)                     last topology identification of a meter
#   ("down", m)                     time a meter reported power down (until up)
#   ("outage", d, t0)               outage classification of a window
#   ("alarms", d, date)             alarms raised for a district on a date

PHASES = ["A", "B", "C"]
DAY_MS = 86400000


def param_defaults():
    return {
        "billing_contract": "billing",
        "loss_low_bp": -100,
        "loss_high_bp": 1000,
        "collection_min_bp": 9800,
        "voltage_limits": {"220": [2200, 1000, 700], "380": [3800, 700, 700]},
        "point_minutes": 15,
        "curve_points": 96,
        "heavy_low_bp": 8000,
        "heavy_high_bp": 10000,
        "heavy_min_minutes": 120,
        "overload_min_minutes": 120,
        "imbalance_alarm_bp": 2500,
        "imbalance_load_bp": 5000,
        "corr_min_e6": 800000,
        "corr_margin_e6": 100000,
        "topology_use_diff": False,
        "max_candidates": 12,
        "outage_share_bp": 8000,
        "outage_window_ms": 180000,
        "stopped_current_ma": 100,
        "low_use_bp": 3000,
        "low_use_months": 3,
        "max_batch": 100,
        "max_events": 120,
        "max_alarms_day": 500,
        "utc_offset_ms": 8 * 3600000,
    }


def param(name):
    return storage.get(("p", name))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def check_param(name, value):
    require(name in param_defaults(), "BAD_INPUT", "unknown parameter " + str(name))
    if name == "billing_contract":
        require(isinstance(value, str), "BAD_INPUT", "billing_contract must be a string")
    elif name == "topology_use_diff":
        require(isinstance(value, bool), "BAD_INPUT", name + " must be a bool")
    elif name == "voltage_limits":
        require(isinstance(value, dict) and len(value) > 0, "BAD_INPUT", "voltage_limits must be a dict")
        for k in value:
            v = value[k]
            require(isinstance(v, list) and len(v) == 3 and all([is_int(x) and x >= 0 for x in v]), "BAD_INPUT", "limit is [nominal, down_bp, up_bp]")
    else:
        require(is_int(value), "BAD_INPUT", name + " must be an integer")
        if name not in ["loss_low_bp", "utc_offset_ms"]:
            require(value >= 0, "BAD_INPUT", name + " must not be negative")
        if name in ["point_minutes", "curve_points", "low_use_months", "max_candidates"]:
            require(value > 0, "BAD_INPUT", name + " must be positive")


# ----------------------------------------------------------------- roles


# The role table is the host's (role_has, role_require, role_grant, role_revoke): the
# deployer is admin; checks use ctx.caller, so a contract calling in is judged as itself.


# ----------------------------------------------------------------- calendar


def civil_from_days(days):
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


def local_date(time_ms):
    return civil_from_days((time_ms + param("utc_offset_ms")) // DAY_MS)


def prev_month(yyyymm):
    if yyyymm - (yyyymm // 100) * 100 == 1:
        return yyyymm - 100 + 11
    return yyyymm - 1


# ----------------------------------------------------------------- init / admin


def init(billing_contract=None, loss_low_bp=None, loss_high_bp=None, collection_min_bp=None,
         voltage_limits=None, point_minutes=None, curve_points=None, heavy_low_bp=None,
         heavy_high_bp=None, heavy_min_minutes=None, overload_min_minutes=None,
         imbalance_alarm_bp=None, imbalance_load_bp=None, corr_min_e6=None, corr_margin_e6=None,
         topology_use_diff=None, max_candidates=None, outage_share_bp=None, outage_window_ms=None,
         stopped_current_ma=None, low_use_bp=None, low_use_months=None, max_batch=None,
         max_events=None, max_alarms_day=None, utc_offset_ms=None):
    # Every argument left as None takes its param_defaults() value.
    storage.set(("role", ctx.sender, "admin"), True)
    given = {
        "billing_contract": billing_contract, "loss_low_bp": loss_low_bp,
        "loss_high_bp": loss_high_bp, "collection_min_bp": collection_min_bp,
        "voltage_limits": voltage_limits, "point_minutes": point_minutes,
        "curve_points": curve_points, "heavy_low_bp": heavy_low_bp,
        "heavy_high_bp": heavy_high_bp, "heavy_min_minutes": heavy_min_minutes,
        "overload_min_minutes": overload_min_minutes, "imbalance_alarm_bp": imbalance_alarm_bp,
        "imbalance_load_bp": imbalance_load_bp, "corr_min_e6": corr_min_e6,
        "corr_margin_e6": corr_margin_e6, "topology_use_diff": topology_use_diff,
        "max_candidates": max_candidates, "outage_share_bp": outage_share_bp,
        "outage_window_ms": outage_window_ms, "stopped_current_ma": stopped_current_ma,
        "low_use_bp": low_use_bp, "low_use_months": low_use_months, "max_batch": max_batch,
        "max_events": max_events, "max_alarms_day": max_alarms_day, "utc_offset_ms": utc_offset_ms,
    }
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


@export
def add_district(district, name=""):
    role_require([])
    require(isinstance(district, str) and len(district) > 0, "BAD_INPUT", "district id")
    require(not storage.has(("district", district)), "BAD_INPUT", "district exists")
    storage.set(("district", district), {"name": str(name), "transformers": [], "meters": []})
    emit("district_added", district=district)


@export
def add_transformer(transformer, district, rated_kva):
    role_require([])
    d = load_district(district)
    require(isinstance(transformer, str) and len(transformer) > 0, "BAD_INPUT", "transformer id")
    require(not storage.has(("xfmr", transformer)), "BAD_INPUT", "transformer exists")
    require(is_int(rated_kva) and rated_kva > 0, "BAD_INPUT", "rated_kva must be positive")
    storage.set(("xfmr", transformer), {"district": district, "rated_kva": rated_kva})
    d["transformers"].append(transformer)
    storage.set(("district", district), d)
    emit("transformer_added", transformer=transformer, district=district, rated_kva=rated_kva)


@export
def add_meter(meter, district, transformer, phase="A", nominal="220"):
    # phase is "A", "B", "C" for single-phase meters or "ABC" for three-phase.
    role_require([])
    d = load_district(district)
    new_meter(d, meter, district, transformer, phase, nominal)
    storage.set(("district", district), d)
    emit("meter_added", meter=meter, district=district, transformer=transformer, phase=phase)


@export
def add_meters(district, meters):
    # Batch registration: [{"meter", "transformer", "phase"?, "nominal"?}].
    role_require([])
    d = load_district(district)
    require(isinstance(meters, list) and len(meters) <= param("max_batch"), "BAD_INPUT", "batch too large")
    for it in meters:
        require(isinstance(it, dict), "BAD_INPUT", "item must be a dict")
        new_meter(d, it.get("meter"), district, it.get("transformer"), it.get("phase", "A"), it.get("nominal", "220"))
    storage.set(("district", district), d)
    return len(d["meters"])


def new_meter(d, meter, district, transformer, phase, nominal):
    require(isinstance(meter, str) and len(meter) > 0, "BAD_INPUT", "meter id")
    require(not storage.has(("meter", meter)), "BAD_INPUT", "meter exists")
    t = load_transformer(transformer)
    require(t["district"] == district, "BAD_INPUT", "transformer is in another district")
    require(phase in ["A", "B", "C", "ABC"], "BAD_INPUT", "phase must be A, B, C or ABC")
    require(nominal in param("voltage_limits"), "BAD_INPUT", "unknown nominal voltage")
    storage.set(("meter", meter), {"district": district, "transformer": transformer, "phase": phase,
                                   "nominal": nominal, "last_reading": None})
    d["meters"].append(meter)


def load_district(district):
    require(isinstance(district, str), "BAD_INPUT", "district id must be a string")
    d = storage.get(("district", district))
    require(d is not None, "NOT_FOUND", "unknown district")
    return d


def load_transformer(transformer):
    require(isinstance(transformer, str), "BAD_INPUT", "transformer id must be a string")
    t = storage.get(("xfmr", transformer))
    require(t is not None, "NOT_FOUND", "unknown transformer")
    return t


def load_meter(meter):
    require(isinstance(meter, str), "BAD_INPUT", "meter id must be a string")
    m = storage.get(("meter", meter))
    require(m is not None, "NOT_FOUND", "unknown meter")
    return m


# ----------------------------------------------------------------- alarms


def alarm(budget, district, date, kind, subject, detail):
    # Stores the alarm under the district and date and emits it while the
    # per-call event budget lasts (the VM caps events per call).
    key = ("alarms", district, date)
    lst = storage.get(key, [])
    if len(lst) < param("max_alarms_day"):
        lst.append({"kind": kind, "subject": subject, "detail": detail, "ms": ctx.time_ms})
        storage.set(key, lst)
    if budget[0] > 0:
        emit("alarm", kind=kind, district=district, date=date, subject=subject, detail=detail)
        budget[0] = budget[0] - 1


def new_budget():
    return [param("max_events")]


# ----------------------------------------------------------------- line loss


def classify_loss(supply, sales):
    # Line loss % = (supply - sales) / supply, in 0.01 %, rounded half-up.
    loss_bp = div_half_up((supply - sales) * 10000, supply)
    if loss_bp < param("loss_low_bp"):
        status = "NEGATIVE_LOSS"
    elif loss_bp > param("loss_high_bp"):
        status = "HIGH_LOSS"
    else:
        status = "QUALIFIED"
    return [loss_bp, status]


@view
def line_loss_of(supply, sales):
    require(is_int(supply) and supply > 0 and is_int(sales) and sales >= 0, "BAD_INPUT", "supply > 0, sales >= 0")
    r = classify_loss(supply, sales)
    return {"loss_bp": r[0], "status": r[1]}


@export
def submit_master(district, date, supply):
    # District master (transformer-side) meter energy for a day.
    role_require(["terminal"])
    load_district(district)
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    require(is_int(supply) and supply >= 0, "BAD_INPUT", "supply must be non-negative")
    storage.set(("supply", district, date), supply)
    emit("master", district=district, date=date, supply=supply)


def meter_day(budget, district, date, it):
    require(isinstance(it, dict) and "meter" in it and "energy" in it, "BAD_INPUT", "item needs meter and energy")
    meter = it["meter"]
    m = load_meter(meter)
    require(m["district"] == district, "BAD_INPUT", "meter " + str(meter) + " is not in the district")
    energy = it["energy"]
    require(is_int(energy) and energy >= 0, "BAD_INPUT", "energy must be non-negative")
    prior = storage.get(("mday", meter, date))
    sales = storage.get(("sales", district, date), {"energy": 0, "count": 0})
    if prior is None:
        sales["count"] = sales["count"] + 1
        prior = 0
    sales["energy"] = sales["energy"] + energy - prior
    storage.set(("sales", district, date), sales)
    storage.set(("mday", meter, date), energy)
    month = date // 100
    storage.set(("menergy", meter, month), storage.get(("menergy", meter, month), 0) + energy - prior)
    kinds = abnormal_kinds(m, it, energy)
    storage.set(("meter", meter), m)
    if len(kinds) > 0:
        alarm(budget, district, date, "ABNORMAL_USE", meter, ",".join(kinds))
    return kinds


def abnormal_kinds(m, it, energy):
    # Daily abnormal-use rules: register went down, meter stopped while
    # current flows, and cover-open / reverse-current events from the meter.
    kinds = []
    reading = it.get("reading")
    if reading is not None:
        require(is_int(reading) and reading >= 0, "BAD_INPUT", "reading must be a non-negative integer")
        if m["last_reading"] is not None and reading < m["last_reading"]:
            kinds.append("READING_DOWN")
        else:
            m["last_reading"] = reading
    current = it.get("current_ma", 0)
    require(is_int(current), "BAD_INPUT", "current_ma must be an integer")
    if energy == 0 and current > param("stopped_current_ma"):
        kinds.append("METER_STOPPED")
    events = it.get("events", [])
    require(isinstance(events, list), "BAD_INPUT", "events must be a list")
    if "cover_open" in events:
        kinds.append("COVER_OPEN")
    if "reverse_current" in events:
        kinds.append("REVERSE_CURRENT")
    return kinds


@export
def submit_meter_days(district, date, items):
    # Daily meter data: [{"meter", "energy", optional "reading", "current_ma",
    # "events"}]. Re-submitting a meter's day replaces it (sums are adjusted).
    role_require(["terminal"])
    load_district(district)
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    require(isinstance(items, list) and len(items) <= param("max_batch"), "BAD_INPUT", "batch too large")
    budget = new_budget()
    out = []
    for it in items:
        kinds = meter_day(budget, district, date, it)
        if len(kinds) > 0:
            out.append([it["meter"], kinds])
    return out


@export
def evaluate_line_loss(district, date):
    role_require(["terminal", "operator"])
    d = load_district(district)
    supply = storage.get(("supply", district, date))
    sales = storage.get(("sales", district, date), {"energy": 0, "count": 0})
    registered = len(d["meters"])
    collection_bp = 0 if registered == 0 else sales["count"] * 10000 // registered
    result = {"supply": supply, "sales": sales["energy"], "collection_bp": collection_bp, "loss_bp": None}
    if supply is None or supply == 0:
        result["status"] = "NOT_COMPUTABLE"
        result["reason"] = "MASTER_MISSING"
    elif registered == 0 or sales["count"] * 10000 < param("collection_min_bp") * registered:
        result["status"] = "NOT_COMPUTABLE"
        result["reason"] = "LOW_COLLECTION"
    else:
        r = classify_loss(supply, sales["energy"])
        result["loss_bp"] = r[0]
        result["status"] = r[1]
    storage.set(("loss", district, date), result)
    emit("line_loss", district=district, date=date, status=result["status"], loss_bp=result["loss_bp"])
    if result["status"] in ["NEGATIVE_LOSS", "HIGH_LOSS"]:
        alarm(new_budget(), district, date, result["status"], district, str(result["loss_bp"]))
    return result


# ----------------------------------------------------------------- voltage


def limits_for(nominal):
    lim = param("voltage_limits").get(nominal)
    require(lim is not None, "BAD_INPUT", "unknown nominal voltage")
    base = lim[0]
    return [base - muldiv(base, lim[1], 10000), base + muldiv(base, lim[2], 10000)]


@view
def voltage_limits(nominal):
    # [lower, upper] in 0.1 V, e.g. "220" -> [1980, 2354].
    return limits_for(nominal)


def qualification(monitored, above, below):
    # over = round_half_up((above + below) * 10000 / monitored) in 0.01 %.
    if monitored == 0:
        return {"monitored": 0, "above": 0, "below": 0, "over_bp": None, "pass_bp": None}
    over = div_half_up((above + below) * 10000, monitored)
    return {"monitored": monitored, "above": above, "below": below, "over_bp": over, "pass_bp": 10000 - over}


@view
def voltage_rate(monitored, above, below):
    require(is_int(monitored) and is_int(above) and is_int(below), "BAD_INPUT", "minutes are integers")
    require(monitored > 0 and above >= 0 and below >= 0 and above + below <= monitored, "BAD_INPUT", "bad minutes")
    return qualification(monitored, above, below)


def store_vstat(district, meter, date, monitored, above, below):
    # Keeps per-meter minutes and adjusts the district sums on re-submission.
    old = storage.get(("vstat", meter, date), {"monitored": 0, "above": 0, "below": 0})
    s = storage.get(("vsum", district, date), {"monitored": 0, "above": 0, "below": 0})
    s["monitored"] = s["monitored"] + monitored - old["monitored"]
    s["above"] = s["above"] + above - old["above"]
    s["below"] = s["below"] + below - old["below"]
    storage.set(("vsum", district, date), s)
    q = qualification(monitored, above, below)
    storage.set(("vstat", meter, date), q)
    return q


def check_curve(points):
    require(isinstance(points, list) and len(points) == param("curve_points"), "BAD_INPUT", "curve must have curve_points points")
    require(all([p is None or (is_int(p) and p >= 0) for p in points]), "BAD_INPUT", "curve points are non-negative integers or None")


@export
def submit_voltage_curve(meter, date, points):
    # One day of a meter's voltage (0.1 V, None where missing): minutes above
    # and below the limits, stored for qualification and topology.
    role_require(["terminal"])
    m = load_meter(meter)
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    check_curve(points)
    lim = limits_for(m["nominal"])
    step = param("point_minutes")
    monitored = 0
    above = 0
    below = 0
    for p in points:
        if p is not None:
            monitored = monitored + step
            if p > lim[1]:
                above = above + step
            elif p < lim[0]:
                below = below + step
    storage.set(("vcurve", meter, date), points)
    return store_vstat(m["district"], meter, date, monitored, above, below)


@export
def submit_voltage_stats(date, items):
    # Batch of precomputed minutes: [{"meter", "monitored", "above", "below"}].
    role_require(["terminal"])
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    require(isinstance(items, list) and len(items) <= param("max_batch"), "BAD_INPUT", "batch too large")
    out = []
    for it in items:
        require(isinstance(it, dict), "BAD_INPUT", "item must be a dict")
        m = load_meter(it.get("meter"))
        voltage_rate(it.get("monitored"), it.get("above"), it.get("below"))
        out.append(store_vstat(m["district"], it["meter"], date, it["monitored"], it["above"], it["below"]))
    return out


@export
def submit_phase_curve(transformer, phase, date, points):
    # Reference voltage curve of one transformer phase (from its terminal).
    role_require(["terminal"])
    load_transformer(transformer)
    require(phase in PHASES, "BAD_INPUT", "phase must be A, B or C")
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    check_curve(points)
    storage.set(("tcurve", transformer, phase, date), points)


# ----------------------------------------------------------------- topology


def series_pairs(xs, ys, use_diff):
    # Aligned points present in both series, optionally as first differences.
    px = []
    py = []
    for i in range(min(len(xs), len(ys))):
        if xs[i] is not None and ys[i] is not None:
            if not use_diff:
                px.append(xs[i])
                py.append(ys[i])
            elif i > 0 and xs[i - 1] is not None and ys[i - 1] is not None:
                px.append(xs[i] - xs[i - 1])
                py.append(ys[i] - ys[i - 1])
    return [px, py]


def pearson(xs, ys, use_diff):
    # Pearson r in 1e-6, truncated toward zero, in integers only:
    # r = (n Sxy - Sx Sy) / sqrt((n Sxx - Sx^2)(n Syy - Sy^2)).
    pairs = series_pairs(xs, ys, use_diff)
    px = pairs[0]
    py = pairs[1]
    n = len(px)
    if n < 3:
        return 0
    sx = sum(px)
    sy = sum(py)
    sxx = sum([v * v for v in px])
    syy = sum([v * v for v in py])
    sxy = sum([px[i] * py[i] for i in range(n)])
    num = n * sxy - sx * sy
    vx = n * sxx - sx * sx
    vy = n * syy - sy * sy
    if vx <= 0 or vy <= 0:
        return 0
    mag = isqrt(num * num * 1000000000000 // (vx * vy))
    return mag if num >= 0 else 0 - mag


@view
def correlation(xs, ys, use_diff=False):
    require(isinstance(xs, list) and isinstance(ys, list) and len(xs) <= 1000 and len(ys) <= 1000, "BAD_INPUT", "series")
    return pearson(xs, ys, bool(use_diff))


def decide(scores):
    # scores: [[transformer, phase, r]]; assign when the best r reaches the
    # minimum and beats the runner-up by the margin (a missing runner-up counts as 0).
    best = None
    second = 0
    for s in scores:
        if best is None or s[2] > best[2]:
            if best is not None:
                second = max(second, best[2])
            best = s
        else:
            second = max(second, s[2])
    if best is None:
        return {"status": "UNCERTAIN", "transformer": None, "phase": None, "r_e6": None, "margin_e6": None}
    margin = best[2] - second
    ok = best[2] >= param("corr_min_e6") and margin >= param("corr_margin_e6")
    return {"status": "ASSIGNED" if ok else "UNCERTAIN", "transformer": best[0] if ok else None,
            "phase": best[1] if ok else None, "r_e6": best[2], "margin_e6": margin}


@export
def assign_topology(meter, date, candidates=None):
    # Matches a meter's voltage curve against transformer-phase curves (by
    # default every phase of every transformer in its district with a curve
    # that day) and re-assigns the meter when the rule is met.
    role_require(["terminal", "operator"])
    m = load_meter(meter)
    curve = storage.get(("vcurve", meter, date))
    require(curve is not None, "NOT_FOUND", "no voltage curve for the meter on that date")
    if candidates is None:
        candidates = []
        for t in load_district(m["district"])["transformers"]:
            for ph in PHASES:
                candidates.append([t, ph])
    require(isinstance(candidates, list) and len(candidates) <= param("max_candidates") * 3, "BAD_INPUT", "too many candidates")
    use_diff = param("topology_use_diff")
    scores = []
    for cand in candidates:
        require(isinstance(cand, list) and len(cand) == 2, "BAD_INPUT", "candidate is [transformer, phase]")
        ref = storage.get(("tcurve", cand[0], cand[1], date))
        if ref is not None:
            scores.append([cand[0], cand[1], pearson(curve, ref, use_diff)])
    result = decide(scores)
    result["date"] = date
    result["scores"] = scores
    changed = False
    if result["status"] == "ASSIGNED":
        changed = result["transformer"] != m["transformer"] or (m["phase"] != "ABC" and result["phase"] != m["phase"])
        m["transformer"] = result["transformer"]
        if m["phase"] != "ABC":
            m["phase"] = result["phase"]
        storage.set(("meter", meter), m)
    result["changed"] = changed
    storage.set(("topo", meter), result)
    emit("topology", meter=meter, status=result["status"], transformer=result["transformer"], phase=result["phase"], r_e6=result["r_e6"], changed=changed)
    return result


# ----------------------------------------------------------------- load and imbalance


def load_bp(p, q, rated_kva):
    # beta = sqrt(P^2 + Q^2) / S_rated in 0.01 %; P, Q in 0.01 kW / kvar.
    return div_half_up(isqrt((p * p + q * q) * 10000), rated_kva)


@view
def load_rate(p, q, rated_kva):
    require(is_int(p) and is_int(q) and is_int(rated_kva) and rated_kva > 0, "BAD_INPUT", "integers, rated > 0")
    return load_bp(p, q, rated_kva)


def imbalance(ia, ib, ic):
    # (I_max - I_min) / I_max in 0.01 %, half-up; 0 when no current flows.
    hi = max(ia, ib, ic)
    lo = min(ia, ib, ic)
    if hi <= 0:
        return 0
    return div_half_up((hi - lo) * 10000, hi)


@view
def imbalance_of(ia, ib, ic):
    require(is_int(ia) and is_int(ib) and is_int(ic), "BAD_INPUT", "currents are integers")
    return imbalance(ia, ib, ic)


def optional_curve(points):
    if points is not None:
        check_curve(points)
        require(all([p is not None for p in points]), "BAD_INPUT", "load curves have no gaps")


def load_stats(t, p, q, ia, ib, ic):
    step = param("point_minutes")
    st = {"max_bp": 0, "heavy_min": 0, "overload_min": 0, "overload_run_min": 0, "imbalance_min": 0, "max_imbalance_bp": 0}
    run = 0
    for i in range(len(p)):
        beta = load_bp(p[i], q[i], t["rated_kva"])
        st["max_bp"] = max(st["max_bp"], beta)
        if beta > param("heavy_high_bp"):
            st["overload_min"] = st["overload_min"] + step
            run = run + step
            st["overload_run_min"] = max(st["overload_run_min"], run)
        else:
            run = 0
            if beta >= param("heavy_low_bp"):
                st["heavy_min"] = st["heavy_min"] + step
        if ia is not None:
            imb = imbalance(ia[i], ib[i], ic[i])
            st["max_imbalance_bp"] = max(st["max_imbalance_bp"], imb)
            if imb > param("imbalance_alarm_bp") and beta > param("imbalance_load_bp"):
                st["imbalance_min"] = st["imbalance_min"] + step
    return st


@export
def submit_load_curve(transformer, date, p, q, ia=None, ib=None, ic=None):
    # One day of a transformer's active / reactive power (and optional phase
    # currents): heavy load, sustained overload and imbalance alarms.
    role_require(["terminal"])
    t = load_transformer(transformer)
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    optional_curve(p)
    optional_curve(q)
    require(p is not None and q is not None, "BAD_INPUT", "p and q are required")
    require((ia is None) == (ib is None) and (ib is None) == (ic is None), "BAD_INPUT", "give all three currents or none")
    optional_curve(ia)
    optional_curve(ib)
    optional_curve(ic)
    st = load_stats(t, p, q, ia, ib, ic)
    storage.set(("load", transformer, date), st)
    budget = new_budget()
    d = t["district"]
    if st["overload_run_min"] >= param("overload_min_minutes"):
        alarm(budget, d, date, "OVERLOAD", transformer, str(st["overload_run_min"]))
    if st["heavy_min"] >= param("heavy_min_minutes"):
        alarm(budget, d, date, "HEAVY_LOAD", transformer, str(st["heavy_min"]))
    if st["imbalance_min"] > 0:
        alarm(budget, d, date, "IMBALANCE", transformer, str(st["imbalance_min"]))
    return st


# ----------------------------------------------------------------- outages


@export
def report_power_events(items):
    # Terminal events [{"meter", "kind": "down" | "up", "time_ms"}].
    role_require(["terminal"])
    require(isinstance(items, list) and len(items) <= param("max_batch"), "BAD_INPUT", "batch too large")
    for it in items:
        require(isinstance(it, dict), "BAD_INPUT", "item must be a dict")
        load_meter(it.get("meter"))
        kind = it.get("kind")
        require(kind in ["down", "up"], "BAD_INPUT", "kind must be down or up")
        t = it.get("time_ms", ctx.time_ms)
        require(is_int(t) and t <= ctx.time_ms, "BAD_INPUT", "time_ms must not be in the future")
        if kind == "down":
            storage.set(("down", it["meter"]), t)
        else:
            storage.delete(("down", it["meter"]))
    return len(items)


def meter_is_cut(meter):
    # A meter switched off by cost control (billing) is not an outage.
    name = param("billing_contract")
    if name == "":
        return False
    return call(name, "is_cut", meter=meter) == True


def phase_outages(meters, down, cut):
    # Phases whose every (non-cut) single-phase meter is down.
    out = []
    for ph in PHASES:
        members = [m for m in meters if m[1] == ph and m[0] not in cut]
        if len(members) > 0 and all([m[0] in down for m in members]):
            out.append(ph)
    return out


@export
def classify_outage(district, t0):
    # Power-down reports in [t0, t0 + window]: district outage when the share
    # of down meters reaches outage_share_bp, else phase outages, else single
    # meters. Meters cut by billing are excluded from both sides of the share.
    role_require(["terminal", "operator"])
    d = load_district(district)
    require(is_int(t0), "BAD_INPUT", "t0 must be an integer")
    window_end = t0 + param("outage_window_ms")
    meters = []
    down = {}
    cut = {}
    for meter in d["meters"]:
        meters.append([meter, storage.get(("meter", meter))["phase"]])
        t = storage.get(("down", meter))
        if t is not None and t >= t0 and t <= window_end:
            if meter_is_cut(meter):
                cut[meter] = True
            else:
                down[meter] = True
    eligible = len(meters) - len(cut)
    result = {"t0": t0, "down": len(down), "eligible": eligible, "cut": sorted(cut), "scope": "NONE", "phases": [], "meters": []}
    if len(down) > 0 and len(down) * 10000 >= param("outage_share_bp") * eligible:
        result["scope"] = "DISTRICT"
    elif len(down) > 0:
        phases = phase_outages(meters, down, cut)
        singles = [m[0] for m in meters if m[0] in down and m[1] not in phases]
        result["phases"] = phases
        result["meters"] = singles
        result["scope"] = "PHASE" if len(phases) > 0 else "METER"
    storage.set(("outage", district, t0), result)
    emit_outage(district, result)
    return result


def emit_outage(district, result):
    budget = new_budget()
    date = local_date(result["t0"])
    if result["scope"] == "DISTRICT":
        alarm(budget, district, date, "OUTAGE_DISTRICT", district, str(result["down"]))
    for ph in result["phases"]:
        alarm(budget, district, date, "OUTAGE_PHASE", ph, "")
    for m in result["meters"]:
        alarm(budget, district, date, "OUTAGE_METER", m, "")


# ----------------------------------------------------------------- monthly abnormal use


def low_use(meter, month):
    # True when this month's energy is below low_use_bp of the trailing
    # low_use_months average (all trailing months must be known).
    this = storage.get(("menergy", meter, month))
    if this is None:
        return False
    n = param("low_use_months")
    total = 0
    mo = month
    for i in range(n):
        mo = prev_month(mo)
        e = storage.get(("menergy", meter, mo))
        if e is None:
            return False
        total = total + e
    return total > 0 and this * n * 10000 < param("low_use_bp") * total


@export
def evaluate_low_use(district, month, offset=0, limit=100):
    # Pages through a district's meters so each call stays bounded.
    role_require(["terminal", "operator"])
    d = load_district(district)
    require(is_int(month) and valid_date(month * 100 + 1), "BAD_INPUT", "month must be YYYYMM")
    require(is_int(offset) and is_int(limit) and offset >= 0 and limit > 0 and limit <= param("max_batch"), "BAD_INPUT", "bad page")
    budget = new_budget()
    flagged = []
    for meter in d["meters"][offset:offset + limit]:
        if low_use(meter, month):
            flagged.append(meter)
            alarm(budget, district, month * 100 + 1, "LOW_USE", meter, str(month))
    return flagged


# ----------------------------------------------------------------- views


@view
def get_param(name):
    return param(name)


@view
def has_contract_role(account, role):
    return role_has(account, role)


@view
def get_district(district):
    return storage.get(("district", district))


@view
def get_meter(meter):
    return storage.get(("meter", meter))


@view
def get_transformer(transformer):
    return storage.get(("xfmr", transformer))


@view
def get_line_loss(district, date):
    return storage.get(("loss", district, date))


@view
def get_sales(district, date):
    return storage.get(("sales", district, date))


@view
def get_voltage(meter, date):
    return storage.get(("vstat", meter, date))


@view
def district_voltage(district, date):
    s = storage.get(("vsum", district, date))
    if s is None:
        return None
    return qualification(s["monitored"], s["above"], s["below"])


@view
def get_load(transformer, date):
    return storage.get(("load", transformer, date))


@view
def get_topology(meter):
    return storage.get(("topo", meter))


@view
def get_outage(district, t0):
    return storage.get(("outage", district, t0))


@view
def get_alarms(district, date):
    return storage.get(("alarms", district, date), [])


@view
def get_month_energy(meter, month):
    return storage.get(("menergy", meter, month))
