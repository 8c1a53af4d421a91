# Demand response for electric heating: events (time window, target), aggregators'
# bids, baselines, measured load, effective response with cap and floor, payments and
# penalties in fen, one settlement per event.
#
# Units: load and bids in 0.01 kW (`*_ckw`), prices in 0.0001 yuan per kW·h (4.00 yuan =
# 40000, as billing's 0.0001 yuan/kWh), money in fen, shares in 0.01 % (bp), dates
# YYYYMMDD, times ms of block time.
#
# Storage layout (all keys are tuples):
#   ("p", name)                     parameter value
#   ("role", account, role)         contract role table (deployer is "admin")
#   ("event", event)                event record
#   ("bids", event)                 [aggregator, ...] in bid order
#   ("bid", event, aggregator)      {"bid_ckw", "baseline_ckw", "actual_ckw", ...}
#   ("settle", event)               settlement result

HOUR_MS = 3600000
DAY_MS = 86400000

# ----------------------------------------------------------------- parameters


def param_defaults():
    return {
        "cap_bp": 12000,
        "floor_bp": 5000,
        "baseline_days": 5,
        "workdays": [0, 1, 2, 3, 4],
        "holidays": [],
        "max_bids": 100,
        "max_points": 96,
        "max_events": 100,
    }


def param(name):
    return storage.get(("p", name))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_name(x):
    return isinstance(x, str) and len(x) > 0 and len(x) <= 64


def check_param(name, value):
    require(name in param_defaults(), "BAD_INPUT", "unknown parameter " + str(name))
    if name in ["workdays", "holidays"]:
        require(isinstance(value, list) and all([is_int(v) for v in value]), "BAD_INPUT", name + " must be a list of integers")
        if name == "workdays":
            require(all([d >= 0 and d <= 6 for d in value]), "BAD_INPUT", "weekday out of range")
    else:
        require(is_int(value) and value > 0, "BAD_INPUT", name + " must be a positive integer")
        if name == "floor_bp":
            require(value <= 10000, "BAD_INPUT", "floor_bp at most 10000")


# ----------------------------------------------------------------- roles


# The role table is the host's (role_has, role_require, role_grant, role_revoke): the
# deployer is admin; checks use ctx.caller, so a contract calling in is judged as itself.


# ----------------------------------------------------------------- rules


def days_from_civil(ymd):
    y = ymd // 10000
    m = (ymd // 100) % 100
    d = ymd % 100
    if m <= 2:
        y = y - 1
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def is_working(ymd, workdays, holidays):
    # 1970-01-01 was a Thursday (weekday 3, Monday = 0).
    return (days_from_civil(ymd) + 3) % 7 in workdays and ymd not in holidays


def baseline(days, before, workdays, holidays, n):
    # Average load of the n most recent working days before `before` without an event,
    # half away from zero; None when fewer than n such days are given.
    picked = {}
    for d in days:
        require(isinstance(d, list) and len(d) == 3 and is_int(d[0]) and is_int(d[1]) and isinstance(d[2], bool), "BAD_INPUT", "days are [YYYYMMDD, load_ckw, had_event]")
        require(d[0] >= 19700101 and d[0] <= 99991231 and d[1] >= 0, "BAD_INPUT", "bad day")
        if d[0] < before and not d[2] and is_working(d[0], workdays, holidays):
            picked[d[0]] = d[1]
    dates = sorted(picked.keys(), reverse=True)[:n]
    if len(dates) < n:
        return None
    return div_half_up(sum([picked[x] for x in dates]), n)


def effective(bid_ckw, baseline_ckw, actual_ckw, cap_bp):
    # R = min(max(baseline - actual, 0), cap x bid); the cap rounds down so R never exceeds it.
    return min(max(baseline_ckw - actual_ckw, 0), bid_ckw * cap_bp // 10000)


def money(bid_ckw, r_ckw, floor_bp, price, penalty_price, duration_ms):
    # [payment_fen, penalty_fen]: below the floor no payment and a penalty on the shortfall,
    # otherwise R x price x hours. ckw x (1e-4 yuan/kWh) x h = ckw * price * ms / (1e4 * 3.6e6) fen.
    if r_ckw * 10000 < floor_bp * bid_ckw:
        short = floor_bp * bid_ckw - r_ckw * 10000  # in ckw x 1e-4
        return [0, div_half_up(short * penalty_price * duration_ms, 10000 * 10000 * HOUR_MS)]
    return [div_half_up(r_ckw * price * duration_ms, 10000 * HOUR_MS), 0]


# ----------------------------------------------------------------- init / admin


def init(cap_bp=None, floor_bp=None, baseline_days=None, workdays=None, holidays=None,
         max_bids=None, max_points=None, max_events=None):
    storage.set(("role", ctx.sender, "admin"), True)
    given = {"cap_bp": cap_bp, "floor_bp": floor_bp, "baseline_days": baseline_days,
             "workdays": workdays, "holidays": holidays, "max_bids": max_bids,
             "max_points": max_points, "max_events": max_events}
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


# ----------------------------------------------------------------- events and bids


def load_event(event):
    require(is_name(event), "BAD_INPUT", "event must be a non-empty str of at most 64 chars")
    e = storage.get(("event", event))
    require(e is not None, "NOT_FOUND", "unknown event")
    return e


def load_bid(event, aggregator):
    require(isinstance(aggregator, str), "BAD_INPUT", "aggregator must be a str")
    b = storage.get(("bid", event, aggregator))
    require(b is not None, "NOT_FOUND", "no bid of this aggregator")
    return b


@export
def create_event(event, start_ms, end_ms, target_ckw, price, penalty_price, date,
                 cap_bp=None, floor_bp=None):
    role_require(["operator"])
    require(is_name(event), "BAD_INPUT", "event must be a non-empty str of at most 64 chars")
    require(not storage.has(("event", event)), "DUPLICATE", "event exists")
    require(is_int(start_ms) and is_int(end_ms) and end_ms > start_ms, "BAD_INPUT", "window must have end_ms > start_ms")
    require(start_ms > ctx.time_ms, "BAD_INPUT", "the window must start in the future")
    require(end_ms - start_ms <= 7 * DAY_MS, "BAD_INPUT", "window at most 7 days")
    require(is_int(target_ckw) and target_ckw > 0, "BAD_INPUT", "target_ckw must be positive")
    require(is_int(price) and price >= 0 and is_int(penalty_price) and penalty_price >= 0, "BAD_INPUT", "prices must not be negative")
    require(is_int(date) and date >= 19700101 and date <= 99991231, "BAD_INPUT", "date is YYYYMMDD (the event day, for baselines)")
    if cap_bp is None:
        cap_bp = param("cap_bp")
    if floor_bp is None:
        floor_bp = param("floor_bp")
    require(is_int(cap_bp) and cap_bp > 0 and is_int(floor_bp) and floor_bp >= 0 and floor_bp <= cap_bp, "BAD_INPUT", "need 0 <= floor_bp <= cap_bp")
    e = {"event": event, "start_ms": start_ms, "end_ms": end_ms, "target_ckw": target_ckw,
         "price": price, "penalty_price": penalty_price, "date": date, "cap_bp": cap_bp,
         "floor_bp": floor_bp, "bid_total_ckw": 0, "settled": False, "creator": ctx.caller}
    storage.set(("event", event), e)
    storage.set(("bids", event), [])
    emit("dr_event", event=event, start_ms=start_ms, end_ms=end_ms, target_ckw=target_ckw,
         price=price, penalty_price=penalty_price)
    return e


@export
def bid(event, bid_ckw):
    # An aggregator bids (or re-bids) for itself until the event opens.
    role_require(["aggregator"])
    e = load_event(event)
    require(ctx.time_ms < e["start_ms"], "BID_CLOSED", "the event has opened")
    require(is_int(bid_ckw) and bid_ckw > 0, "BAD_INPUT", "bid_ckw must be positive")
    who = ctx.caller
    b = storage.get(("bid", event, who))
    if b is None:
        bids = storage.get(("bids", event))
        require(len(bids) < param("max_bids"), "BAD_INPUT", "too many bids")
        bids.append(who)
        storage.set(("bids", event), bids)
        b = {"aggregator": who, "bid_ckw": 0, "baseline_ckw": None, "baseline_source": "",
             "actual_ckw": None}
    e["bid_total_ckw"] = e["bid_total_ckw"] - b["bid_ckw"] + bid_ckw
    b["bid_ckw"] = bid_ckw
    storage.set(("bid", event, who), b)
    storage.set(("event", event), e)
    emit("bid", event=event, aggregator=who, bid_ckw=bid_ckw)
    return b


@export
def set_baseline(event, aggregator, baseline_ckw, source=""):
    # A baseline computed off chain (e.g. by a forecasting model whose hash is `source`).
    role_require(["operator", "terminal"])
    e = load_event(event)
    require(not e["settled"], "ALREADY_SETTLED", "event settled")
    b = load_bid(event, aggregator)
    require(is_int(baseline_ckw) and baseline_ckw >= 0, "BAD_INPUT", "baseline_ckw must not be negative")
    require(isinstance(source, str) and len(source) <= 64, "BAD_INPUT", "source at most 64 chars")
    b["baseline_ckw"] = baseline_ckw
    b["baseline_source"] = source
    storage.set(("bid", event, aggregator), b)
    emit("baseline", event=event, aggregator=aggregator, baseline_ckw=baseline_ckw, source=source)
    return baseline_ckw


@export
def submit_baseline_days(event, aggregator, days):
    # days: [[YYYYMMDD, window-average load_ckw, had_event], ...]; the baseline is the
    # average of the `baseline_days` most recent working days before the event without one.
    role_require(["operator", "terminal"])
    e = load_event(event)
    require(not e["settled"], "ALREADY_SETTLED", "event settled")
    b = load_bid(event, aggregator)
    require(isinstance(days, list) and len(days) <= 62, "BAD_INPUT", "days: a list of at most 62")
    base = baseline(days, e["date"], param("workdays"), param("holidays"), param("baseline_days"))
    require(base is not None, "NO_BASELINE", "fewer than baseline_days usable days")
    b["baseline_ckw"] = base
    b["baseline_source"] = "days"
    storage.set(("bid", event, aggregator), b)
    emit("baseline", event=event, aggregator=aggregator, baseline_ckw=base, source="days")
    return base


@export
def submit_measurement(event, aggregator, load_ckw=None, points=None):
    # Measured load of the aggregator's sites over the window: its average (load_ckw) or
    # the window's points, averaged half-up. Terminals only, once the event has opened.
    require(role_has(ctx.caller, "terminal"), "NOT_TERMINAL", "measurements come from terminals")
    e = load_event(event)
    require(not e["settled"], "ALREADY_SETTLED", "event settled")
    require(ctx.time_ms >= e["start_ms"], "NOT_OPEN", "the event has not opened")
    b = load_bid(event, aggregator)
    if points is not None:
        require(load_ckw is None, "BAD_INPUT", "load_ckw or points, not both")
        require(isinstance(points, list) and len(points) > 0 and len(points) <= param("max_points"), "BAD_INPUT", "points: 1..max_points")
        require(all([is_int(x) and x >= 0 for x in points]), "BAD_INPUT", "points are loads in ckw")
        load_ckw = div_half_up(sum(points), len(points))
    require(is_int(load_ckw) and load_ckw >= 0, "BAD_INPUT", "load_ckw must not be negative")
    b["actual_ckw"] = load_ckw
    storage.set(("bid", event, aggregator), b)
    emit("measurement", event=event, aggregator=aggregator, load_ckw=load_ckw)
    return load_ckw


@export
def settle(event):
    # Once, after the window: every bid gets R, payment and penalty. A bid without a
    # measurement counts as no response (R = 0); every bid needs a baseline.
    role_require(["operator"])
    e = load_event(event)
    require(not e["settled"], "ALREADY_SETTLED", "event settled")
    require(ctx.time_ms >= e["end_ms"], "NOT_READY", "the window has not ended")
    duration = e["end_ms"] - e["start_ms"]
    lines = []
    pay_total = 0
    pen_total = 0
    r_total = 0
    for who in storage.get(("bids", event)):
        b = storage.get(("bid", event, who))
        require(b["baseline_ckw"] is not None, "NOT_READY", "a bid has no baseline")
        actual = b["actual_ckw"]
        if actual is None:
            actual = b["baseline_ckw"]
        r = effective(b["bid_ckw"], b["baseline_ckw"], actual, e["cap_bp"])
        m = money(b["bid_ckw"], r, e["floor_bp"], e["price"], e["penalty_price"], duration)
        line = {"aggregator": who, "bid_ckw": b["bid_ckw"], "baseline_ckw": b["baseline_ckw"],
                "actual_ckw": b["actual_ckw"], "reduction_ckw": b["baseline_ckw"] - actual,
                "effective_ckw": r, "payment_fen": m[0], "penalty_fen": m[1]}
        lines.append(line)
        pay_total += m[0]
        pen_total += m[1]
        r_total += r
    result = {"event": event, "lines": lines, "payment_fen": pay_total,
              "penalty_fen": pen_total, "effective_ckw": r_total, "height": ctx.height}
    storage.set(("settle", event), result)
    e["settled"] = True
    storage.set(("event", event), e)
    emit("settled", event=event, bids=len(lines), effective_ckw=r_total,
         payment_fen=pay_total, penalty_fen=pen_total)
    for line in lines[:param("max_events")]:
        emit("dr_line", event=event, aggregator=line["aggregator"],
             effective_ckw=line["effective_ckw"], payment_fen=line["payment_fen"],
             penalty_fen=line["penalty_fen"])
    return result


# ----------------------------------------------------------------- views


@view
def get_param(name):
    return param(name)


@view
def has_contract_role(account, role):
    return role_has(account, role)


@view
def get_event(event):
    return load_event(event)


@view
def get_bid(event, aggregator):
    load_event(event)
    return storage.get(("bid", event, aggregator))


@view
def list_bids(event):
    load_event(event)
    return [storage.get(("bid", event, who)) for who in storage.get(("bids", event))]


@view
def get_settlement(event):
    load_event(event)
    return storage.get(("settle", event))


@view
def effective_response(bid_ckw, baseline_ckw, actual_ckw, cap_bp=None):
    if cap_bp is None:
        cap_bp = param("cap_bp")
    require(is_int(bid_ckw) and is_int(baseline_ckw) and is_int(actual_ckw) and is_int(cap_bp), "BAD_INPUT", "integers")
    require(bid_ckw >= 0 and cap_bp >= 0, "BAD_INPUT", "bid and cap must not be negative")
    return effective(bid_ckw, baseline_ckw, actual_ckw, cap_bp)


@view
def settle_quote(bid_ckw, baseline_ckw, actual_ckw, price, penalty_price, duration_ms,
                 cap_bp=None, floor_bp=None):
    # What settle() would give one bid: {"effective_ckw", "payment_fen", "penalty_fen"}.
    if cap_bp is None:
        cap_bp = param("cap_bp")
    if floor_bp is None:
        floor_bp = param("floor_bp")
    for x in [bid_ckw, baseline_ckw, actual_ckw, price, penalty_price, duration_ms, cap_bp, floor_bp]:
        require(is_int(x), "BAD_INPUT", "integers")
    require(bid_ckw >= 0 and price >= 0 and penalty_price >= 0 and duration_ms >= 0 and cap_bp >= 0 and floor_bp >= 0, "BAD_INPUT", "must not be negative")
    r = effective(bid_ckw, baseline_ckw, actual_ckw, cap_bp)
    m = money(bid_ckw, r, floor_bp, price, penalty_price, duration_ms)
    return {"effective_ckw": r, "payment_fen": m[0], "penalty_fen": m[1]}


@view
def baseline_of(days, before):
    require(isinstance(days, list) and len(days) <= 62, "BAD_INPUT", "days: a list of at most 62")
    require(is_int(before), "BAD_INPUT", "before is YYYYMMDD")
    return baseline(days, before, param("workdays"), param("holidays"), param("baseline_days"))
