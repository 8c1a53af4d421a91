# Edge parameters: tariffs and billing parameters decided on the main chain go DOWN to the
# edge (district) chains as sys.anchor packets and are applied there to the edge's billing.
# The same contract is deployed under the name "edge_params" on both sides:
#   main chain: `push` (admin) sends one packet per edge chain; `on_packet_ack` records the
#               edge's acknowledgement (proven by sys.anchor against an anchored edge header);
#   edge chain: `apply` runs only when sys.anchor delivers a packet from the configured main
#               chain's edge_params (its commitment proven against an anchored main header)
#               and calls billing.set_tariff / billing.set_param, so this contract needs the
#               admin role in the edge's billing contract.
#
# Storage layout:
#   ("role", account, role)     contract role table (deployer is "admin")
#   "main_chain", "billing"     configuration (init)
#   "version"                   last version pushed (main side)
#   ("sent", chain, version)    packet sequence of a push to one edge (main side)
#   ("ack", chain, sequence)    the edge's acknowledgement (main side)
#   "applied"                   the last version applied and where it came from (edge side)


def init(main_chain="", billing_contract="billing"):
    storage.set(("role", ctx.sender, "admin"), True)
    require(isinstance(main_chain, str), "BAD_INPUT", "main_chain must be a chain id")
    require(isinstance(billing_contract, str) and len(billing_contract) > 0, "BAD_INPUT",
            "billing_contract must be a contract name")
    storage.set("main_chain", main_chain)
    storage.set("billing", billing_contract)


@export
def grant_role(account, role):
    role_grant(account, role)


def check_tariff(tariff):
    require(isinstance(tariff, dict), "BAD_INPUT", "tariff must be a dict")
    for k in ["flat", "bounds", "incs"]:
        require(k in tariff, "BAD_INPUT", "tariff needs flat, bounds and incs")


@export
def push(chains, tariff_id, tariff, params=None):
    # Send tariff `tariff_id` (billing.set_tariff fields) and billing parameters to each edge.
    role_require([])
    if params is None:
        params = {}
    require(isinstance(chains, list) and len(chains) > 0 and len(chains) <= 32, "BAD_INPUT",
            "chains: a list of 1..32 chain ids")
    require(isinstance(tariff_id, str) and len(tariff_id) > 0, "BAD_INPUT", "tariff id")
    require(isinstance(params, dict), "BAD_INPUT", "params must be a dict")
    check_tariff(tariff)
    version = storage.get("version", 0) + 1
    storage.set("version", version)
    seqs = {}
    for c in chains:
        require(isinstance(c, str) and storage.get(("sent", c, version)) is None, "BAD_INPUT",
                "chains must be distinct chain ids")
        seq = send_packet(c, "edge_params", "apply", {
            "version": version, "tariff_id": tariff_id, "tariff": tariff, "params": params,
            "sent_height": ctx.height, "sent_ms": ctx.time_ms})
        storage.set(("sent", c, version), seq)
        seqs[c] = seq
    emit("params_pushed", version=version, chains=chains)
    return {"version": version, "sequences": seqs}


@export
def apply(src_chain, src_contract, sequence, payload):
    require(ctx.caller == "sys.anchor" and ctx.caller_kind == "contract", "NOT_ANCHOR",
            "only sys.anchor delivers edge parameters")
    require(src_chain == storage.get("main_chain") and src_contract == "edge_params",
            "NOT_MAIN", "edge parameters come only from the main chain's edge_params")
    applied = storage.get("applied")
    version = payload["version"]
    require(applied is None or version > applied["version"], "STALE",
            "a newer version is already applied")
    t = payload["tariff"]
    billing = storage.get("billing")
    call(billing, "set_tariff", tariff_id=payload["tariff_id"], flat=t["flat"],
         bounds=t["bounds"], incs=t["incs"], tou=t.get("tou", {}))
    params = payload["params"]
    for name in sorted(params):
        call(billing, "set_param", name=name, value=params[name])
    storage.set("applied", {
        "version": version, "tariff_id": payload["tariff_id"], "src_chain": src_chain,
        "sequence": sequence, "params": sorted(params), "sent_height": payload["sent_height"],
        "sent_ms": payload["sent_ms"], "applied_height": ctx.height, "applied_ms": ctx.time_ms})
    emit("params_applied", version=version, sequence=sequence)
    return {"version": version, "applied_height": ctx.height}


@export
def on_packet_ack(dst_chain, sequence, ack):
    require(ctx.caller == "sys.anchor" and ctx.caller_kind == "contract", "NOT_ANCHOR",
            "only sys.anchor reports acknowledgements")
    storage.set(("ack", dst_chain, sequence), ack)


@view
def get_applied():
    return storage.get("applied")


@view
def get_version():
    return storage.get("version", 0)


@view
def get_push(chain, version):
    seq = storage.get(("sent", chain, version))
    if seq is None:
        return None
    return {"sequence": seq, "ack": storage.get(("ack", chain, seq))}
