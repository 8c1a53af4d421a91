# Three-party reconciliation of electricity payments: the marketing (billing)
# system, finance (book-keeping) and the bank each submit daily batches of
# payment records. Daily: marketing vs bank, matched on the bank serial with
# customer / amount / status / date cross-checks inside a T..T+window window.
# Month-end: finance vs bank with the balance-adjustment equation.
#
# Every input record lands in exactly one class, recorded as a reference
# "party:date:index" inside one result entry:
#   MATCHED, AMOUNT_DIFF, STATUS_DIFF, ONLY_IN_BANK, ONLY_IN_SYSTEM, DUPLICATE, IN_TRANSIT
#
# Storage layout:
#   ("p", name)                    parameter
#   ("role", account, role)        contract role table (deployer is "admin")
#   ("n", party, date)             number of records submitted for that date
#   ("rec", party, date, i)        the i-th record of that batch
#   ("consumed", bank_date)        {str(index): source_date} bank records already
#                                  classified by an earlier date's reconciliation
#   ("result", date)               daily result summary (count, by_class, by_party)
#   ("entry", "day"|"month", key, i) i-th result entry of a date or month
#   ("locked", date)               set once the following date has been reconciled
#   ("balance", party, month)      book (finance) / statement (bank) balance, fen
#   ("month", month)               month-end result summary and equation terms

CLASSES = ["MATCHED", "AMOUNT_DIFF", "STATUS_DIFF", "ONLY_IN_BANK", "ONLY_IN_SYSTEM", "DUPLICATE", "IN_TRANSIT"]
PARTIES = ["marketing", "finance", "bank"]
DAY_MS = 86400000


def param_defaults():
    return {
        "window_days": 1,
        "statuses": ["SUCCESS", "FAILED", "PENDING"],
        "in_transit_statuses": ["PENDING"],
        "settled_status": "SUCCESS",
        "utc_offset_ms": 8 * 3600000,
        "max_batch": 500,
        "max_events": 100,
    }


def param(name):
    return storage.get(("p", name))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def check_param(name, value):
    require(name in param_defaults(), "BAD_INPUT", "unknown parameter " + str(name))
    if name in ["statuses", "in_transit_statuses"]:
        require(isinstance(value, list) and all([isinstance(v, str) for v in value]), "BAD_INPUT", name + " must be a list of strings")
    elif name == "settled_status":
        require(isinstance(value, str), "BAD_INPUT", name + " must be a string")
    elif name == "window_days":
        require(is_int(value) and 0 <= value <= 7, "BAD_INPUT", "window_days out of range")
    else:
        require(is_int(value), "BAD_INPUT", name + " must be an integer")


# ----------------------------------------------------------------- roles


# The role table is the host's (role_has, role_require, role_grant, role_revoke): the
# deployer is admin; checks use ctx.caller, so a contract calling in is judged as itself.


def require_party(party):
    # Batches and balances come only from the party itself (not even an admin).
    require(party in PARTIES, "BAD_INPUT", "party must be one of " + ",".join(PARTIES))
    require(role_has(ctx.caller, party), "PERMISSION_DENIED", "caller is not " + party)


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


def add_days(ymd, n):
    return civil_from_days(days_from_civil(ymd) + n)


def today():
    return civil_from_days((ctx.time_ms + param("utc_offset_ms")) // DAY_MS)


# ----------------------------------------------------------------- init / admin


def init(window_days=None, statuses=None, in_transit_statuses=None, settled_status=None,
         utc_offset_ms=None, max_batch=None, max_events=None):
    # Every argument left as None takes its param_defaults() value.
    storage.set(("role", ctx.sender, "admin"), True)
    given = {
        "window_days": window_days, "statuses": statuses,
        "in_transit_statuses": in_transit_statuses, "settled_status": settled_status,
        "utc_offset_ms": utc_offset_ms, "max_batch": max_batch, "max_events": max_events,
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


# ----------------------------------------------------------------- submissions


def clean_record(r, date):
    # Normalised copy of one submitted record; "date" is the value date and
    # defaults to the batch date.
    require(isinstance(r, dict), "BAD_INPUT", "record must be a dict")
    serial = r.get("serial")
    require(isinstance(serial, str) and len(serial) > 0 and len(serial) <= 64, "BAD_INPUT", "serial must be a non-empty string")
    amount = r.get("amount")
    require(is_int(amount) and amount >= 0, "BAD_INPUT", "amount must be non-negative fen")
    status = r.get("status", param("settled_status"))
    require(status in param("statuses"), "BAD_INPUT", "unknown status")
    direction = r.get("direction", "in")
    require(direction in ["in", "out"], "BAD_INPUT", "direction must be in or out")
    vdate = r.get("date", date)
    require(valid_date(vdate), "BAD_INPUT", "bad value date")
    return {"serial": serial, "customer": str(r.get("customer", "")), "amount": amount,
            "status": status, "direction": direction, "date": vdate}


@export
def submit_batch(party, date, records):
    # Appends records to the party's batch for `date`. An empty list still
    # marks the batch as delivered (closes the T+1 window for the bank).
    require_party(party)
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    require(not storage.has(("locked", date)), "LOCKED", "date already closed")
    require(isinstance(records, list) and len(records) <= param("max_batch"), "BAD_INPUT", "batch too large")
    n = storage.get(("n", party, date), 0)
    for r in records:
        storage.set(("rec", party, date, n), clean_record(r, date))
        n = n + 1
    storage.set(("n", party, date), n)
    emit("batch", party=party, date=date, added=len(records), total=n)
    return n


@export
def submit_balance(party, month, balance):
    # Month-end book balance (finance) or bank statement balance (bank), fen.
    require_party(party)
    require(party in ["finance", "bank"], "BAD_INPUT", "only finance and bank report balances")
    require(is_int(month) and valid_date(month * 100 + 1), "BAD_INPUT", "month must be YYYYMM")
    require(is_int(balance), "BAD_INPUT", "balance must be integer fen")
    storage.set(("balance", party, month), balance)
    emit("balance", party=party, month=month, balance=balance)


# ----------------------------------------------------------------- daily reconciliation


def has_batch(party, date):
    return storage.has(("n", party, date))


def load_batch(party, date):
    # Records are stored one per key so a day's batch never hits the value size cap.
    n = storage.get(("n", party, date), 0)
    return [storage.get(("rec", party, date, i)) for i in range(n)]


def save_entries(kind, key, entries):
    for i in range(len(entries)):
        storage.set(("entry", kind, key, i), entries[i])


def load_entries(kind, key, count):
    return [storage.get(("entry", kind, key, i)) for i in range(count)]


def ref(party, date, idx):
    return party + ":" + str(date) + ":" + str(idx)


def entry(cls, serial, refs, amount, diff, reasons):
    return {"class": cls, "serial": serial, "refs": refs, "amount": amount, "diff": diff, "reasons": reasons}


def compare(s, b):
    # Class of a system/bank pair with the same serial.
    reasons = []
    if s["status"] != b["status"]:
        reasons.append("status")
    if s["customer"] != b["customer"]:
        reasons.append("customer")
    if s["direction"] != b["direction"]:
        reasons.append("direction")
    lag = days_from_civil(b["date"]) - days_from_civil(s["date"])
    if lag < 0 or lag > param("window_days"):
        reasons.append("date")
    if len(reasons) > 0:
        return "STATUS_DIFF", reasons
    if s["amount"] != b["amount"]:
        return "AMOUNT_DIFF", []
    return "MATCHED", []


def index_side(records, party, date, skip, entries):
    # First occurrence of each serial -> [record, ref]; later ones are DUPLICATE.
    first = {}
    for i in range(len(records)):
        if str(i) in skip:
            continue
        r = records[i]
        if r["serial"] in first:
            entries.append(entry("DUPLICATE", r["serial"], [ref(party, date, i)], r["amount"], 0, []))
        else:
            first[r["serial"]] = [r, ref(party, date, i), i]
    return first


def later_bank(date, wanted):
    # Bank records of the following window days whose serial is still wanted;
    # returns {serial: [record, ref, index, bank_date]} (first occurrence).
    found = {}
    for k in range(1, param("window_days") + 1):
        d = add_days(date, k)
        records = load_batch("bank", d)
        taken = storage.get(("consumed", d), {})
        for i in range(len(records)):
            s = records[i]["serial"]
            if s in wanted and s not in found and (str(i) not in taken or taken[str(i)] == date):
                found[s] = [records[i], ref("bank", d, i), i, d]
    return found


def window_closed(date):
    # Unmatched system records stay IN_TRANSIT until the bank has delivered the
    # last batch of the window or the window has passed on the block clock.
    last = add_days(date, param("window_days"))
    return has_batch("bank", last) or today() > last


def release_consumed(date):
    for k in range(1, param("window_days") + 1):
        d = add_days(date, k)
        taken = storage.get(("consumed", d), {})
        kept = {}
        for i in sorted(taken):
            if taken[i] != date:
                kept[i] = taken[i]
        storage.set(("consumed", d), kept)


def mark_consumed(date, hits):
    for h in hits:
        taken = storage.get(("consumed", h[3]), {})
        taken[str(h[2])] = date
        storage.set(("consumed", h[3]), taken)


def classify_day(date):
    entries = []
    system = load_batch("marketing", date)
    bank = load_batch("bank", date)
    sys_first = index_side(system, "marketing", date, {}, entries)
    bank_first = index_side(bank, "bank", date, storage.get(("consumed", date), {}), entries)
    wanted = {}
    # dicts keep insertion order, so entries follow submission order
    for s in sys_first:
        if s not in bank_first:
            wanted[s] = True
    later = later_bank(date, wanted)
    closed = window_closed(date)
    used = {}
    hits = []
    for s in sys_first:
        rec = sys_first[s][0]
        b = bank_first.get(s)
        if b is None and s in later:
            b = later[s]
            hits.append(b)
        if b is not None:
            used[s] = True
            cls_reasons = compare(rec, b[0])
            entries.append(entry(cls_reasons[0], s, [sys_first[s][1], b[1]], rec["amount"], b[0]["amount"] - rec["amount"], cls_reasons[1]))
        elif rec["status"] in param("in_transit_statuses") or not closed:
            entries.append(entry("IN_TRANSIT", s, [sys_first[s][1]], rec["amount"], 0, []))
        else:
            entries.append(entry("ONLY_IN_SYSTEM", s, [sys_first[s][1]], rec["amount"], -rec["amount"], []))
    for s in bank_first:
        if s not in used:
            b = bank_first[s]
            entries.append(entry("ONLY_IN_BANK", s, [b[1]], b[0]["amount"], b[0]["amount"], []))
    return [entries, hits]


def summarise(entries):
    # Per class: entries, records and amount; per party: records and amount by class.
    by_class = {}
    by_party = {}
    for cls in CLASSES:
        by_class[cls] = {"entries": 0, "records": 0, "amount": 0}
    for e in entries:
        c = by_class[e["class"]]
        c["entries"] = c["entries"] + 1
        c["records"] = c["records"] + len(e["refs"])
        c["amount"] = c["amount"] + e["amount"]
        for r in e["refs"]:
            party = r.split(":")[0]
            p = by_party.get(party, {})
            pc = p.get(e["class"], {"records": 0, "amount": 0})
            pc["records"] = pc["records"] + 1
            pc["amount"] = pc["amount"] + e["amount"]
            p[e["class"]] = pc
            by_party[party] = p
    return [by_class, by_party]


@export
def reconcile(date):
    # Classifies marketing records of `date` against bank records of `date`
    # (not already taken by the previous date) and of the next window days.
    # May be re-run until the next date is reconciled, which locks this one.
    role_require(["finance", "auditor"])
    require(valid_date(date), "BAD_INPUT", "date must be YYYYMMDD")
    require(not storage.has(("locked", date)), "LOCKED", "date already closed")
    prev = add_days(date, -1)
    if has_batch("marketing", prev) or has_batch("bank", prev):
        require(storage.has(("result", prev)), "NOT_READY", "reconcile the previous date first")
        storage.set(("locked", prev), True)
    release_consumed(date)
    out = classify_day(date)
    entries = out[0]
    mark_consumed(date, out[1])
    sums = summarise(entries)
    save_entries("day", date, entries)
    storage.set(("result", date), {"count": len(entries), "by_class": sums[0], "by_party": sums[1], "ms": ctx.time_ms})
    # One event per difference, capped (the VM limits events per call); the
    # full list is always available through get_entries.
    budget = param("max_events")
    for e in entries:
        if e["class"] != "MATCHED" and e["class"] != "IN_TRANSIT" and budget > 0:
            emit("difference", date=date, cls=e["class"], serial=e["serial"], amount=e["amount"], diff=e["diff"])
            budget = budget - 1
    emit("reconciled", date=date, entries=len(entries), matched=sums[0]["MATCHED"]["entries"])
    return sums[0]


# ----------------------------------------------------------------- month-end


def month_records(party, month):
    # All records of a party dated in `month` with their references, in date order.
    out = []
    for day in range(1, 32):
        date = month * 100 + day
        if valid_date(date):
            records = load_batch(party, date)
            for i in range(len(records)):
                out.append([records[i], ref(party, date, i)])
    return out


def money(r):
    # Money actually moved by a record: only settled records count.
    return r["amount"] if r["status"] == param("settled_status") else 0


def book_gap(terms, direction, book_amt, bank_amt):
    # Adds the bank-minus-book gap of one serial to the four equation terms.
    delta = bank_amt - book_amt
    if direction == "in":
        if delta > 0:
            terms["bank_received_not_booked"] = terms["bank_received_not_booked"] + delta
        else:
            terms["booked_not_received"] = terms["booked_not_received"] - delta
    else:
        if delta > 0:
            terms["bank_paid_not_booked"] = terms["bank_paid_not_booked"] + delta
        else:
            terms["booked_not_paid"] = terms["booked_not_paid"] - delta


def first_by_serial(items, entries, terms, is_book):
    first = {}
    for it in items:
        r = it[0]
        if r["serial"] in first:
            entries.append(entry("DUPLICATE", r["serial"], [it[1]], r["amount"], 0, []))
            if is_book:
                book_gap(terms, r["direction"], money(r), 0)
            else:
                book_gap(terms, r["direction"], 0, money(r))
        else:
            first[r["serial"]] = it
    return first


def pair_month(f, b, entries, terms):
    fr = f[0]
    br = b[0]
    if fr["direction"] != br["direction"]:
        entries.append(entry("STATUS_DIFF", fr["serial"], [f[1], b[1]], fr["amount"], br["amount"] - fr["amount"], ["direction"]))
        book_gap(terms, fr["direction"], money(fr), 0)
        book_gap(terms, br["direction"], 0, money(br))
        return
    if fr["status"] != br["status"]:
        cls = "STATUS_DIFF"
    elif fr["amount"] != br["amount"]:
        cls = "AMOUNT_DIFF"
    else:
        cls = "MATCHED"
    reasons = ["status"] if cls == "STATUS_DIFF" else []
    entries.append(entry(cls, fr["serial"], [f[1], b[1]], fr["amount"], br["amount"] - fr["amount"], reasons))
    book_gap(terms, fr["direction"], money(fr), money(br))


@export
def month_end(month):
    # Finance vs bank for the month, then the balance-adjustment equation:
    # book + bank_received_not_booked - bank_paid_not_booked
    #   == statement + booked_not_received - booked_not_paid
    role_require(["finance", "auditor"])
    require(is_int(month) and valid_date(month * 100 + 1), "BAD_INPUT", "month must be YYYYMM")
    book = storage.get(("balance", "finance", month))
    statement = storage.get(("balance", "bank", month))
    require(book is not None and statement is not None, "NOT_READY", "book and statement balances are needed")
    entries = []
    terms = {"bank_received_not_booked": 0, "bank_paid_not_booked": 0, "booked_not_received": 0, "booked_not_paid": 0}
    fin = first_by_serial(month_records("finance", month), entries, terms, True)
    bank = first_by_serial(month_records("bank", month), entries, terms, False)
    for s in fin:
        if s in bank:
            pair_month(fin[s], bank[s], entries, terms)
        else:
            r = fin[s][0]
            entries.append(entry("ONLY_IN_SYSTEM", s, [fin[s][1]], r["amount"], -r["amount"], []))
            book_gap(terms, r["direction"], money(r), 0)
    for s in bank:
        if s not in fin:
            r = bank[s][0]
            entries.append(entry("ONLY_IN_BANK", s, [bank[s][1]], r["amount"], r["amount"], []))
            book_gap(terms, r["direction"], 0, money(r))
    adjusted_book = book + terms["bank_received_not_booked"] - terms["bank_paid_not_booked"]
    adjusted_bank = statement + terms["booked_not_received"] - terms["booked_not_paid"]
    sums = summarise(entries)
    result = {"book": book, "statement": statement, "terms": terms, "adjusted_book": adjusted_book,
              "adjusted_bank": adjusted_bank, "balanced": adjusted_book == adjusted_bank,
              "count": len(entries), "by_class": sums[0], "by_party": sums[1], "ms": ctx.time_ms}
    save_entries("month", month, entries)
    storage.set(("month", month), result)
    emit("month_end", month=month, balanced=adjusted_book == adjusted_bank, adjusted_book=adjusted_book, adjusted_bank=adjusted_bank)
    if adjusted_book != adjusted_bank:
        emit("alarm", kind="BALANCE_MISMATCH", month=month, difference=adjusted_book - adjusted_bank)
    return {"balanced": adjusted_book == adjusted_bank, "adjusted_book": adjusted_book, "adjusted_bank": adjusted_bank, "terms": terms}


# ----------------------------------------------------------------- views


@view
def get_param(name):
    return param(name)


@view
def has_contract_role(account, role):
    return role_has(account, role)


@view
def get_batch(party, date):
    return load_batch(party, date)


@view
def get_summary(date):
    # Counts and amounts per class for a reconciled date (None if not yet run).
    r = storage.get(("result", date))
    if r is None:
        return None
    return {"by_class": r["by_class"], "locked": storage.has(("locked", date)), "ms": r["ms"]}


@view
def get_party_summary(date, party):
    r = storage.get(("result", date))
    if r is None:
        return None
    return r["by_party"].get(party, {})


@view
def get_entries(date, cls=None, offset=0, limit=100):
    r = storage.get(("result", date))
    if r is None:
        return []
    picked = [e for e in load_entries("day", date, r["count"]) if cls is None or e["class"] == cls]
    return picked[offset:offset + limit]


@view
def get_month(month, with_entries=False):
    r = storage.get(("month", month))
    if r is not None and with_entries:
        r["entries"] = load_entries("month", month, r["count"])
    return r


@view
def record_class(party, date, index):
    # Class of one input record: searched in its own date and, for bank
    # records, in the earlier dates of the window that may have taken it.
    want = ref(party, date, index)
    for k in range(0, param("window_days") + 1):
        r = storage.get(("result", add_days(date, -k)))
        if r is not None:
            for e in load_entries("day", add_days(date, -k), r["count"]):
                if want in e["refs"]:
                    return e["class"]
    return None
