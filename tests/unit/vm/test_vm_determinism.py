"""Same deployments and calls give byte-identical results and gas, whatever the hash seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# A scenario touching everything whose order or text could vary between processes: dict
# iteration of str keys, sorting, events, storage writes, error messages, cross-contract
# calls, out-of-gas. It prints one hex line: the canonical encoding of every result.
SCENARIO = r'''
from chainnode import codec
from chainnode.vm import machine
from chainnode.vm.memhost import MemoryHost

A = """
idx = Map("idx")


def init(names):
    for n in names:
        idx[n] = len(n)


@export
def mix(words):
    d = {}
    for w in words:
        d[w] = d.get(w, 0) + 1
    keys = [k for k in d]
    emit("Counted", keys=keys, total=sum(d.values()))
    storage.set(("count", words[0]), d)
    t = {(1, "a"): 1, (2, "b"): 2}
    return {"keys": keys, "sorted": sorted(d.items()), "t": [k for k in t], "h": sm3(str(d)),
            "s": f"{keys} {d}", "other": call("b", "echo", x=d)}


@export
def bad():
    d = {"x": 1}
    return d["missing"]


@export
def spin():
    n = 0
    while True:
        n += 1
"""

B = """
@view
def echo(x):
    return [x, ctx.caller, ctx.sender]
"""


def dump(r):
    return [r.ok, r.value, r.gas_used, [[e.contract, e.name, e.fields] for e in r.events],
            [list(w) for w in r.writes], r.error_code, r.error_message]


def scenario():
    machine._cache.clear()
    h = MemoryHost(chain_id="det")
    out = [dump(h.deploy("b", B) or h.call("b", "echo", x=1))]
    out.append(dump(h.deploy("a", A, names=["zeta", "alpha", "mu", "beta", "k9"])))
    words = ["pear", "apple", "fig", "apple", "kiwi", "date", "fig", "zz", "a", "b", "c"]
    out.append(dump(h.call("a", "mix", words=words)))
    out.append(dump(h.call("a", "bad")))
    out.append(dump(h.call("a", "spin", gas=20_000)))
    out.append(sorted([list(k) + [v] for k, v in h.state.items()]))
    return codec.encode(out).hex()


if __name__ == "__main__":
    print(scenario())
'''


def _scenario_namespace() -> dict:
    ns: dict = {"__name__": "scenario"}
    exec(compile(SCENARIO, "<scenario>", "exec"), ns)  # noqa: S102 - test fixture code
    return ns


def test_two_independent_instances_agree():
    ns = _scenario_namespace()
    first = ns["scenario"]()
    second = ns["scenario"]()
    assert first == second
    assert len(first) > 200


def test_hash_seed_does_not_change_results():
    outputs = []
    for seed in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
        proc = subprocess.run([sys.executable, "-c", SCENARIO], env=env, cwd=str(REPO),
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout.strip())
    assert outputs[0] == outputs[1]
    assert outputs[0] == _scenario_namespace()["scenario"]()
