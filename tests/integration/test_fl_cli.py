"""`chainnode fl run` for 3 rounds against a one-node testnet, then `chainnode fl verify`.

The run registers 8 site accounts, deploys fl_receipts and plays 3 rounds; verify must pass on
it. A second task gets receipts the contract accepts but that are inconsistent (a round that
pays less than its budget, a cumulative ε that goes down): verify must name both and exit 1,
while the first task still verifies.
"""

from __future__ import annotations

import pytest
from integration_harness import run_cli

from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.fl import privacy
from chainnode.fl.ledger import Ledger

pytestmark = pytest.mark.slow

BUDGET = 90_000


def _receipt(ledger: Ledger, task: str, r: int, prev: str, ids: list[str], *, eps_rounds: int,
             reward_fen: int | None = None) -> dict:
    """Round r's receipt claiming the ε of `eps_rounds` rounds (>= r: above the bound)."""
    claim = privacy.chain_claim([1_000_000] * eps_rounds, 1e-5)
    args = {"task": task, "round_no": r, "prev_hash": prev, "new_hash": f"{r:064x}",
            "participants": ids, "rule": "fedavg", "clip_e6": 10_000, "noise_e6": 1_000_000,
            "sampling_e6": 1_000_000, "delta_e18": 10**13, "alpha_e6": claim.alpha_e6,
            "eps_e6": claim.eps_e6, "metric": "mape_pct", "metric_e6": 8_000_000, "contributions": [3, 2]}
    if reward_fen is not None:
        args["reward_fen"] = reward_fen
    return ledger.call(None, "submit_receipt", args, f"round {r}").receipt


def test_fl_run_verify_and_a_tampered_task(single_node, tmp_path):
    url, key = single_node.url, single_node.root / "admin.key"
    keys_dir = tmp_path / "sites"
    run = run_cli("fl", "run", "--url", url, "--key", str(key), "--sites", "8", "--rounds", "3",
                  "--task", "heat-a", "--keys-dir", str(keys_dir), "--seed", "5",
                  timeout=180)
    for r in (1, 2, 3):
        assert f"round  {r}/3: 8 commitments" in run.stdout, run.stdout
    ledger = Ledger(url, single_node.admin_key)
    sites = [load_private_key(keys_dir / f"site{i}.key") for i in range(8)]
    ids = [address_of(k.public_key) for k in sites]
    task = ledger.task("heat-a")
    assert task["rounds_done"] == 3 and task["participants"] == ids
    assert task["paid_fen"] == 3 * BUDGET
    assert sum(ledger.q("rewards", task="heat-a").values()) == 3 * BUDGET
    rc = ledger.rounds("heat-a", 3)
    assert [x[0] for x in rc[2]["participants"]] == ids       # each site committed itself
    assert rc[0]["prev_hash"] == task["init_model_hash"] and rc[1]["prev_hash"] == rc[0]["new_hash"]
    assert rc[0]["eps_e6"] < rc[1]["eps_e6"] < rc[2]["eps_e6"] == task["eps_e6"]

    ok = run_cli("fl", "verify", "--url", url, "--task", "heat-a")
    assert "3 rounds verified" in ok.stdout

    # a second task: receipts the contract accepts, inconsistent for verify
    ledger.call(None, "create_task", {
        "task": "heat-b", "model_hash": "ab" * 32, "participants": ids[:2], "rounds": 2,
        "eps_max_e6": 10**9, "delta_e18": 10**13, "reward_fen": BUDGET,
        "validation_hash": "cd" * 32, "aggregator": address_of(single_node.admin_key.public_key)},
        "create heat-b")
    prev = "ab" * 32
    for r in (1, 2):
        for res in ledger.commit_all("heat-b", r, [(k, f"{r + i:064x}", 96 * 20)
                                                    for i, k in enumerate(sites[:2])]):
            assert res["receipt"]["status"] == "ok", res
        if r == 1:   # pays 1 fen less than the budget, claims the ε of 3 rounds
            got = _receipt(ledger, "heat-b", 1, prev, ids[:2], eps_rounds=3,
                           reward_fen=BUDGET - 1)
            assert got["value"]["paid_fen"] == BUDGET - 1
        else:        # claims the ε of 2 rounds: valid, but below round 1's claim
            got = _receipt(ledger, "heat-b", 2, prev, ids[:2], eps_rounds=2)
        prev = f"{r:064x}"
    bad = run_cli("fl", "verify", "--url", url, "--task", "heat-b", check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "round 1: rewards pay 89,999 fen" in bad.stdout, bad.stdout
    assert "round 2: cumulative ε went down" in bad.stdout, bad.stdout
    assert "round 2: rewards" not in bad.stdout, bad.stdout
    assert run_cli("fl", "verify", "--url", url, "--task", "heat-a").returncode == 0
    missing = run_cli("fl", "verify", "--url", url, "--task", "heat-zz", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stdout
