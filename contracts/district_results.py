# District results: an edge (district) chain's day of billing and analytics goes UP to the
# main chain as a sys.anchor packet and is recorded there only as sys.anchor delivers it, i.e.
# after the packet's commitment was proven against a certified, anchored edge header.
# The same contract is deployed under the name "district_results" on both sides:
#   edge chain: `publish` (terminal) reads the edge's district and billing contracts, sends
#               the summary to the main chain and keeps what it sent;
#   main chain: `accept` (sys.anchor only, from a registered edge chain's district_results,
#               for the district that chain is registered for) records the result with the
#               edge height and time it was sent at and the main height and time it landed.
#
# Storage layout:
#   ("role", account, role)        contract role table (deployer is "admin")
#   "main_chain", "district", "billing"   configuration (init)
#   ("edge", chain)                district of a registered edge chain (main side)
#   ("result", district, date)     accepted result (main side)
#   ("dates", date)                districts accepted for a date, in arrival order (main side)
#   ("published", district, date)  what was sent and its sequence (edge side)
#   ("seq", sequence)              [district, date] of a sent packet (edge side)
#   ("acked", district, date)      the main chain's acknowledgement (edge side); a refusal
#                                  lets the terminal publish that day again

MAX_CUSTOMERS = 500
MAX_ALARM_DATES = 8
CONTROL_STATES = ["WARN", "PENDING_CUT", "CUT", "RESTORE_PENDING"]


def init(main_chain="", district_contract="district", billing_contract="billing"):
    storage.set(("role", ctx.sender, "admin"), True)
    require(isinstance(main_chain, str), "BAD_INPUT", "main_chain must be a chain id")
    storage.set("main_chain", main_chain)
    storage.set("district", district_contract)
    storage.set("billing", billing_contract)


@export
def grant_role(account, role):
    role_grant(account, role)


@export
def register_edge(chain, district):
    role_require([])
    require(isinstance(chain, str) and len(chain) > 0 and isinstance(district, str)
            and len(district) > 0, "BAD_INPUT", "chain and district are non-empty strings")
    storage.set(("edge", chain), district)


# ----------------------------------------------------------------- edge side


def bills_of(customers, month):
    billing = storage.get("billing")
    n = 0
    energy = 0
    amount = 0
    for c in customers:
        b = call(billing, "get_bill", customer=c, month=month)
        if b is not None:
            n += 1
            energy += b["energy"]
            amount += b["amount"]
    return {"count": n, "energy": energy, "amount": amount}


def alarms_of(district, dates):
    dc = storage.get("district")
    out = []
    for dt in dates:
        for a in call(dc, "get_alarms", district=district, date=dt):
            out.append([dt, a["kind"], a["subject"], a["detail"]])
    return out


def control_lists():
    # prepaid cost control: who is warned, pending a cut, cut, awaiting a restore
    billing = storage.get("billing")
    out = {}
    for st in CONTROL_STATES:
        out[st] = [row[0] for row in call(billing, "list_state", state=st)]
    return out


@export
def publish(district, date, transformer, customers, alarm_dates):
    # Send the district's evaluated day (line loss, voltage, load, alarms, bills of the
    # month so far for `customers`, cost-control lists) to the main chain. Once per
    # district and date.
    role_require(["terminal"])
    require(isinstance(customers, list) and len(customers) <= MAX_CUSTOMERS, "BAD_INPUT",
            "customers: a list of at most 500")
    require(isinstance(alarm_dates, list) and len(alarm_dates) <= MAX_ALARM_DATES, "BAD_INPUT",
            "alarm_dates: a list of at most 8 dates")
    before = storage.get(("published", district, date))
    require(before is None or before.get("refused"), "ALREADY_PUBLISHED",
            "this district's day was sent already (and not refused by the main chain)")
    dc = storage.get("district")
    loss = call(dc, "get_line_loss", district=district, date=date)
    require(loss is not None, "NOT_EVALUATED", "evaluate the line loss first")
    volt = call(dc, "district_voltage", district=district, date=date)
    load = call(dc, "get_load", transformer=transformer, date=date)
    result = {
        "supply": loss["supply"], "sales": loss["sales"], "loss_bp": loss["loss_bp"],
        "loss_status": loss["status"],
        "voltage_pass_bp": None if volt is None else volt["pass_bp"],
        "voltage_monitored": None if volt is None else volt["monitored"],
        "max_load_bp": None if load is None else load["max_bp"],
        "max_imbalance_bp": None if load is None else load["max_imbalance_bp"],
        "alarms": alarms_of(district, alarm_dates),
        "bills": bills_of(customers, date // 100),
        "control": control_lists(),
    }
    payload = {"district": district, "date": date, "result": result,
               "sent_height": ctx.height, "sent_ms": ctx.time_ms}
    seq = send_packet(storage.get("main_chain"), "district_results", "accept", payload)
    storage.set(("published", district, date), {"sequence": seq, "payload": payload})
    storage.set(("seq", seq), [district, date])
    emit("result_published", district=district, date=date, sequence=seq)
    return {"sequence": seq, "sent_height": ctx.height}


@export
def on_packet_ack(dst_chain, sequence, ack):
    require(ctx.caller == "sys.anchor" and ctx.caller_kind == "contract", "NOT_ANCHOR",
            "only sys.anchor reports acknowledgements")
    district, date = storage.get(("seq", sequence))
    storage.set(("acked", district, date), ack)
    if not ack.get("ok"):  # refused on main (e.g. edge not registered yet): may be re-sent
        p = storage.get(("published", district, date))
        p["refused"] = True
        storage.set(("published", district, date), p)


# ----------------------------------------------------------------- main side


@export
def accept(src_chain, src_contract, sequence, payload):
    require(ctx.caller == "sys.anchor" and ctx.caller_kind == "contract", "NOT_ANCHOR",
            "results are accepted only as sys.anchor delivers them (by proof)")
    require(src_contract == "district_results", "NOT_RESULTS",
            "results come only from an edge's district_results")
    district = storage.get(("edge", src_chain))
    require(district is not None, "UNKNOWN_EDGE", "no district is registered for this chain")
    require(payload["district"] == district, "WRONG_DISTRICT",
            "an edge chain reports only its own district")
    date = payload["date"]
    require(storage.get(("result", district, date)) is None, "DUPLICATE",
            "this district's day was accepted already")
    rec = {"district": district, "date": date, "result": payload["result"],
           "src_chain": src_chain, "sequence": sequence,
           "sent_height": payload["sent_height"], "sent_ms": payload["sent_ms"],
           "accepted_height": ctx.height, "accepted_ms": ctx.time_ms,
           "lag_ms": ctx.time_ms - payload["sent_ms"], "tx": ctx.tx_hash}
    storage.set(("result", district, date), rec)
    dates = storage.get(("dates", date), [])
    dates.append(district)
    storage.set(("dates", date), dates)
    emit("result_accepted", district=district, date=date, sequence=sequence,
         lag_ms=rec["lag_ms"])
    return {"district": district, "date": date, "accepted_height": ctx.height}


@view
def get_result(district, date):
    return storage.get(("result", district, date))


@view
def list_results(date):
    return storage.get(("dates", date), [])


@view
def get_published(district, date):
    p = storage.get(("published", district, date))
    if p is None:
        return None
    return {"sequence": p["sequence"], "payload": p["payload"],
            "acked": storage.get(("acked", district, date))}
