"""The web console at /ui in a real Chromium against a real 4-validator testnet with the demo's
day: every view shows the chain's values (read independently from the RPC), the browser
reports no errors, chain strings holding markup render as text, and each view leaves a
screenshot in tests/console/artifacts/.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from console_env import ARTIFACTS, HOSTILE_NAME, HOSTILE_NOTE, REPO, VIEW_TIMEOUT_MS

from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.keyfile import load_private_key

pytestmark = pytest.mark.slow


def yuan(v: int) -> str:
    s = f"{abs(v) // 100:,}.{abs(v) % 100:02d}"
    return "-" + s if v < 0 else s


def pct(bp: int) -> str:
    return f"{yuan(bp)} %"


def show(pg, demo_net, route: str, ready: str):
    pg.goto(f"{demo_net.url}/ui/#/{route}")
    pg.wait_for_selector(f'main[data-ready="{ready}"]')
    return pg


def shot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000
    return path


def rows(pg, table_id: str) -> list[list[str]]:
    return pg.eval_on_selector_all(
        f"#{table_id} tbody tr",
        "trs => trs.map(tr => [...tr.children].map(td => td.innerText.trim()))")


def test_overview_shows_head_validators_peers_and_charts(page, demo_net):
    st = demo_net.get("/status")
    show(page, demo_net, "overview", "overview")
    assert page.inner_text("#ov-height") == str(st["height"])
    assert page.inner_text("#ov-view") == str(st["view"])
    assert page.inner_text("#ov-mempool") == str(st["mempool"])
    assert page.inner_text("#ov-peers") == str(len(st["peers"])) == "3"
    assert page.inner_text("#ov-sync") == "in sync"
    vals = rows(page, "validators")
    assert [r[1].split()[0] for r in vals] == [v["name"] for v in st["validators"]]
    assert all(r[6] == "yes" for r in vals), vals  # every validator connected
    # a quorum signed recently; each shown last vote is in that block's certificate (the
    # slowest validator's vote may be left out of a quorum certificate)
    assert sum(r[3] == "active" for r in vals) >= 3, vals
    for i, r in enumerate(vals):
        cert = demo_net.get(f"/blocks/{r[4]}")["certificate"]
        assert i in [s[0] for s in cert["signatures"]], (r, cert)
    head_signers = [s[0] for s in demo_net.get(f"/blocks/{st['height']}")["certificate"][
        "signatures"]]
    assert sum(r[4] == str(st["height"]) for r in vals) >= 3 and len(head_signers) >= 3
    peers = rows(page, "peers")
    assert sorted(r[0].rstrip("…") for r in peers) == sorted(
        p["public_key"][:24] for p in st["peers"])
    # four charts; the tx-per-block bars are the last 60 blocks
    assert page.locator("#charts svg.chart").count() == 4
    n = min(60, st["height"])
    assert page.locator("#charts section").nth(3).locator("rect.bar").count() == n
    shot(page, "overview")


def test_blocks_list_and_block_detail_with_certificate_signers(page, demo_net):
    st = demo_net.get("/status")
    show(page, demo_net, "blocks", "blocks")
    first = rows(page, "blocks")[0]
    assert first[0] == str(st["height"])
    assert st["head_hash"].startswith(first[2].rstrip("…"))
    shot(page, "blocks")
    # a demo block with transactions: header and signers as the RPC has them
    h = next(h for h in range(st["height"], 0, -1)
             if len(demo_net.get(f"/blocks/{h}")["tx_hashes"]) >= 3)
    b = demo_net.get(f"/blocks/{h}")
    page.goto(f"{demo_net.url}/ui/#/block/{h}")
    page.wait_for_selector('main[data-ready="block"]')
    header = page.inner_text("#block-header")
    for v in (b["hash"], b["header"]["state_root"], b["header"]["tx_root"]):
        assert v in header
    signers = rows(page, "signers")
    names = [v["name"] for v in st["validators"]]
    assert [(r[0], r[1], r[3]) for r in signers] == [
        (str(i), names[i], sig) for i, _, sig in b["certificate"]["signatures"]]
    assert [r[1] for r in rows(page, "block-txs")] == b["tx_hashes"]
    shot(page, "block")
    page.click(f'#block-txs a[href="#/tx/{b["tx_hashes"][0]}"]')
    page.wait_for_selector('main[data-ready="tx"]')


def test_tx_detail_shows_receipt_events_and_decoded_args(page, demo_net):
    # the reconciliation run of the demo: a receipt value and difference events
    ev = demo_net.get("/console/events?contract=reconciliation&name=reconciled&limit=1")
    txh = ev["events"][0]["tx_hash"]
    tx = demo_net.get(f"/tx/{txh}")
    show(page, demo_net, f"tx/{txh}", "tx")
    summary = page.inner_text("#tx-summary")
    assert txh in summary and "reconciliation" in summary and "reconcile" in summary
    assert f"\n{tx['height']}\n" in f"\n{summary}\n"
    args = rows(page, "tx-args")
    assert args == [["date", str(tx["tx"]["args"]["date"])]]
    rc = tx["receipt"]
    assert str(rc["gas_used"]) in page.inner_text("#tx-receipt")
    events = rows(page, "tx-events")
    assert [r[1] for r in events] == [e["name"] for e in rc["events"]]
    assert "AMOUNT_DIFF" in page.inner_text("#tx-events")
    shot(page, "tx")


def test_search_by_height_hash_address_and_contract(page, demo_net):
    st = demo_net.get("/status")
    show(page, demo_net, "overview", "overview")
    auditor = address_of(load_private_key(demo_net.root / "auditor.key").public_key)

    def search(text: str, ready: str) -> str:
        page.evaluate("document.querySelector('main').removeAttribute('data-ready')")
        page.fill("#q", text)
        page.click("#go")
        page.wait_for_selector(f'main[data-ready="{ready}"]')
        return page.inner_text("main")

    assert f"Block #{st['height'] - 1}" in search(str(st["height"] - 1), "block")
    assert f"Block #{st['height']}" in search(st["head_hash"], "block")
    assert demo_net.hostile_tx in search(demo_net.hostile_tx, "tx")
    text = search(auditor, "address")
    assert auditor in text and "auditor" in page.inner_text("#address-member")
    assert "Contract district" in search("district", "contract")
    assert "Not found" in search("no-such-thing", "search")
    shot(page, "search")


def test_contracts_list_source_and_view_call(page, demo_net):
    show(page, demo_net, "contracts", "contracts")
    listed = {r[0]: r for r in rows(page, "contracts")}
    for name in ("billing", "district", "reconciliation"):
        src = (REPO / "contracts" / f"{name}.py").read_text()
        assert listed[name][1] == "1"
        assert listed[name][2] == sm3(src.encode()).hex()  # the code hash is the source's SM3
    shot(page, "contracts")
    page.click('#contracts a[href="#/contract/district"]')
    page.wait_for_selector('main[data-ready="contract"]')
    src = (REPO / "contracts" / "district.py").read_text()
    assert page.inner_text("#contract-source").strip() == src.strip()
    assert [r[1] for r in rows(page, "contract-history")] == ["ContractDeployed"]
    # call get_line_loss(district, date) from its form; the answer equals POST /query's
    date = demo_net.get("/console/events?contract=district&name=line_loss&limit=1")[
        "events"][0]["fields"]["date"]
    want = demo_net.q("district", "get_line_loss", district="D2", date=date)
    form = page.locator('form[data-method="get_line_loss"]')
    form.locator('input[data-arg="district"]').fill("D2")
    form.locator('input[data-arg="date"]').fill(str(date))
    form.locator("button").click()
    out = page.locator('[data-result="get_line_loss"] pre')
    out.wait_for()
    assert f'"loss_bp": {want["loss_bp"]}' in out.inner_text()
    assert f'"status": "{want["status"]}"' in out.inner_text()
    shot(page, "contract")


def test_members_and_roles(page, demo_net):
    show(page, demo_net, "members", "members")
    got = {r[1]: r for r in rows(page, "members")}
    for name, roles in (("auditor", ["auditor"]), ("edge-terminal-d2", ["terminal"]),
                        ("bank-icbc", ["member"])):
        addr = address_of(load_private_key(demo_net.root / f"{name}.key").public_key)
        st = demo_net.client().get(f"/console/address/{addr}")["member"]
        row = next(r for r in got.values() if r[0] == name)
        assert addr.startswith(row[1].rstrip("…")) and row[2].split() == roles == st["roles"]
    admin = next(r for r in got.values() if r[0] == "admin")
    assert admin[2].split() == ["admin", "operator"]
    assert len(got) == len(demo_net.get("/console/members")["members"])
    shot(page, "members")


def test_governance_committee_proposals_and_votes(page, demo_net):
    g = demo_net.get("/governance")
    props = demo_net.get("/governance/proposals")["proposals"]
    show(page, demo_net, "governance", "governance")
    committee = page.inner_text("#committee")
    assert str(g["committee"]["win_threshold"]) in committee
    assert [r[0] for r in rows(page, "next-validators")] == [
        v["name"] for v in g["next_validators"]]
    shown = rows(page, "proposals")
    assert [(r[0], r[1], r[2]) for r in shown] == [
        (str(p["id"]), p["kind"], p["status"]) for p in props]
    assert "yes" in shown[0][4] and '"max_block_txs"' in shown[0][6]
    assert rows(page, "params") == [[k, json.dumps(v)] for k, v in g["params"].items()]
    assert ["max_block_txs", "1999"] in rows(page, "params")  # the proposal passed
    shot(page, "governance")


def test_power_business_from_the_contracts_views(page, demo_net):
    show(page, demo_net, "power", "power")
    date = demo_net.get("/console/events?contract=district&name=line_loss&limit=1")[
        "events"][0]["fields"]["date"]
    # line loss and voltage per district
    for r in rows(page, "districts"):
        ll = demo_net.q("district", "get_line_loss", district=r[0], date=date)
        v = demo_net.q("district", "district_voltage", district=r[0], date=date)
        assert r[3:8] == [yuan(ll["supply"]), yuan(ll["sales"]), pct(ll["loss_bp"]),
                          ll["status"], pct(v["pass_bp"])]
    assert [r[0] for r in rows(page, "districts")] == ["D1", "D2", "D3"]
    # bills of D1: every meter's customer's bill for the month, summed
    meters = demo_net.q("district", "get_district", district="D1")["meters"]
    with ThreadPoolExecutor(8) as pool:
        bills = list(pool.map(lambda m: demo_net.q("billing", "get_bill", customer=demo_net.q(
            "billing", "get_meter", meter=m)["customer"], month=date // 100), meters))
    page.wait_for_selector('#bills-slot[data-loaded="1"]', timeout=90_000)
    d1 = rows(page, "bills")[0]
    assert d1[:4] == ["D1", str(sum(1 for b in bills if b)),
                      yuan(sum(b["energy"] for b in bills if b)),
                      yuan(sum(b["amount"] for b in bills if b))]
    # warnings and cuts
    for r in rows(page, "cost-control"):
        lst = demo_net.q("billing", "list_state", state=r[0])
        assert r[1] == str(len(lst)) and r[2] == ", ".join(c for c, _ in lst)
    # alarms: as many as the views list for the dates the events name
    alarm_rows = rows(page, "alarms")
    kinds = {(r[0], r[2], r[3]) for r in alarm_rows}
    assert {("D1", "OUTAGE_DISTRICT", "D1"), ("D2", "IMBALANCE", "T-D2"),
            ("D2", "ABNORMAL_USE", "D2-042"), ("D2", "LOW_USE", "D2-063")} <= kinds
    # reconciliation differences
    summ = demo_net.q("reconciliation", "get_summary", date=date)["by_class"]
    for r in rows(page, "recon-summary"):
        assert r[1:] == [str(summ[r[0]]["entries"]), str(summ[r[0]]["records"]),
                         yuan(summ[r[0]]["amount"])]
    diffs = rows(page, "recon-diffs")
    assert sorted(r[1] for r in diffs) == sorted(
        c for c in summ if c != "MATCHED" for _ in range(summ[c]["entries"]))
    page.wait_for_selector('#bills-slot[data-loaded="1"]', timeout=90_000)
    shot(page, "power")


# a stand-in with the views of fl_receipts' interface (the real contract is on another branch)
FL_STAND_IN = """\
@export
def create(task, participants):
    chain = []
    prev = "00" * 32
    for r in range(1, 4):
        new = str(r) * 64
        chain.append([r, prev, new, 40000 * r])
        prev = new
    storage.set(("task", task), {"participants": participants, "chain": chain})
    emit("task_created", task=task, participants=len(participants))


@view
def get_task(task):
    return storage.get(("task", task))


@view
def eps_spent(task):
    return {"eps_e6": 240000, "eps_max_e6": 800000, "delta_e18": 1000, "rounds_done": 3,
            "rho_sum": 7}


@view
def round_chain(task, offset=0, limit=100):
    return storage.get(("task", task))["chain"][offset:offset + limit]


@view
def rewards(task):
    return {p: 1250 * (i + 1) for i, p in enumerate(storage.get(("task", task))["participants"])}
"""


def test_fl_tasks_page_empty_then_from_the_contracts_views(page, demo_net):
    show(page, demo_net, "fl", "fl")
    assert "fl_receipts" in page.inner_text("#fl-empty")
    shot(page, "fl-empty")
    admin = demo_net.client(demo_net.admin)
    rc = admin.deploy("fl_receipts", FL_STAND_IN)["receipt"]
    assert rc["status"] == "ok", rc
    people = [address_of(load_private_key(demo_net.root / f"{n}.key").public_key)
              for n in ("edge-terminal-d1", "edge-terminal-d2")]
    rc = admin.call("fl_receipts", "create", {"task": "heat-load-1", "participants": people})
    assert rc["receipt"]["status"] == "ok", rc
    chain = demo_net.q("fl_receipts", "round_chain", task="heat-load-1")
    rewards = demo_net.q("fl_receipts", "rewards", task="heat-load-1")
    page.reload()
    task = page.locator('[data-task="heat-load-1"]')
    task.wait_for()
    assert "0.24 / 0.8 (30.0 %)" in task.locator(".fl-eps").inner_text()
    got = task.locator(".fl-rounds tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in got] == [str(c[0]) for c in chain]
    assert chain[1][1] == chain[0][2]  # the chain links round to round
    assert all(c[2][:16] in r for c, r in zip(chain, got, strict=True))
    assert task.locator(".fl-rewards tbody tr").count() == len(rewards) == 2
    assert yuan(rewards[people[1]]) in task.locator(".fl-rewards").inner_text()
    shot(page, "fl")


def test_side_chains_empty_state(page, demo_net):
    show(page, demo_net, "sidechains", "sidechains")
    assert "No side chains are configured" in page.inner_text("#sidechains-empty")
    shot(page, "sidechains")


def test_live_event_stream_receives_a_new_commit(page, demo_net):
    show(page, demo_net, "events?contract=hostile", "events")
    page.wait_for_selector("#ws-state.ok")
    res = demo_net.client(demo_net.admin).call("hostile", "note", {"text": "live-é-42"})
    row = page.locator(f'#stream tr:has(a[href="#/tx/{res["hash"]}"])')
    row.wait_for(timeout=VIEW_TIMEOUT_MS)
    assert "live-é-42" in row.inner_text() and str(res["height"]) in row.inner_text()
    # the filter holds: only the hostile contract's events are listed
    assert set(page.eval_on_selector_all("#stream tr", "t => t.map(r => r.children[2]"
                                         ".innerText)")) == {"hostile"}
    shot(page, "events")


def test_markup_in_chain_data_renders_as_text(page, demo_net):
    """A member name, tx args, an event field and a contract source with HTML and script:
    shown literally, no element made from them, nothing executed."""
    show(page, demo_net, f"tx/{demo_net.hostile_tx}", "tx")
    assert HOSTILE_NOTE in page.inner_text("#tx-args")
    assert HOSTILE_NOTE in page.inner_text("#tx-events")
    shot(page, "hostile-tx")
    show(page, demo_net, "members", "members")
    assert HOSTILE_NAME in page.inner_text("#members")
    show(page, demo_net, "events?contract=hostile", "events")
    assert HOSTILE_NOTE in page.inner_text("#stream")
    show(page, demo_net, "contract/hostile", "contract")
    assert "<script>window.__xss=3</script>" in page.inner_text("#contract-source")
    for sel in ("#xss-img", "#xss-b", "img", "main script"):
        assert page.locator(sel).count() == 0, sel
    assert page.evaluate("window.__xss") is None
    shot(page, "hostile-contract")


def test_chinese_labels_and_tablet_width(page, demo_net):
    page.set_viewport_size({"width": 800, "height": 1100})
    show(page, demo_net, "overview", "overview")
    page.click("#lang")
    page.wait_for_selector('a[data-nav="overview"]:text("概览")')
    page.wait_for_selector('main[data-ready="overview"]')
    assert "高度" in page.inner_text("main") and "验证者" in page.inner_text("main")
    assert page.inner_text("#ov-height") == str(demo_net.get("/status")["height"])
    # nothing wider than the tablet's screen but the tables' own scroll areas
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    shot(page, "overview-zh-tablet")
    show(page, demo_net, "power", "power")
    assert "台区线损" in page.inner_text("main")
    page.wait_for_selector('#bills-slot[data-loaded="1"]', timeout=90_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    shot(page, "power-zh-tablet")
    page.click("#lang")  # back to English for the other tests' contexts (localStorage)


def test_console_files_are_served_with_types_and_csp(demo_net):
    def get(path: str) -> tuple[int, dict, bytes]:
        try:
            with urllib.request.urlopen(demo_net.url + path, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    for path, ctype in (("/ui/", "text/html"), ("/ui/app.js", "text/javascript"),
                        ("/ui/views/overview.js", "text/javascript"),
                        ("/ui/console.css", "text/css")):
        status, headers, body = get(path)
        assert status == 200 and headers["Content-Type"].startswith(ctype), (path, headers)
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = get("/ui/")
    assert b"<script" in body and not re.search(rb"<script>|\son\w+=|style=", body)
    assert get("/ui")[2] == body
    # chain data reaches the page only as text: no HTML-parsing sink in the console's code
    ui = REPO / "chainnode" / "rpc" / "ui"
    for js in sorted(ui.rglob("*.js")):
        code = js.read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|"
                             r"new Function", code), js
    for bad in ("/ui/../setup.cfg", "/ui/%2e%2e/server.py", "/ui/views/..%2F..%2Fserver.py",
                "/ui/nothing.js", "/ui/console_routes.py"):
        assert get(bad)[0] == 404, bad


def test_console_json_routes_refuse_bad_input_with_4xx(demo_net):
    def status(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(demo_net.url + path, timeout=10) as r:
                return r.status, ""
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())["error"]["code"]

    for path in ("/console/blocks?before=abc", "/console/blocks?limit=0",
                 "/console/blocks?limit=201", "/console/events?scan=5001",
                 "/console/events?limit=-1", "/console/address/xyz", "/console/search",
                 "/console/search?q=" + "9" * 201):
        assert status(path) == (400, "BAD_REQUEST"), path
    assert status("/console/contracts/nope") == (404, "NOT_FOUND")
    head = demo_net.get("/status")["height"]
    assert demo_net.get(f"/console/search?q={head + 1}")["kind"] == "none"
    assert demo_net.get("/console/search?q=%C2%B2")["kind"] == "none"  # a non-ASCII digit
    page = demo_net.get(f"/console/blocks?before={head}&limit=2")["blocks"]
    assert [b["height"] for b in page] == [head - 1, head - 2]
