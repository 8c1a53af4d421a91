"""Replay simulator seeds from the command line (from the repository root).

    python -m tests.sim.run --seed 17            # one seed, with a summary
    python -m tests.sim.run --seed 17 --trace    # ... and every send/commit/crash/sync
    python -m tests.sim.run --from 0 --to 500    # a range; prints the failing seeds
    python -m tests.sim.run --reconfig --from 0 --to 300   # validator-set changes
"""

from __future__ import annotations

import argparse
import sys
import time

from .reconfig import build_reconfig, run_reconfig_seed
from .scenarios import build, run_seed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim.run")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--from", dest="start", type=int, default=0)
    ap.add_argument("--to", dest="stop", type=int, default=200)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--replay", action="store_true",
                    help="variant: one validator replays old messages and stale certificates")
    ap.add_argument("--reconfig", action="store_true",
                    help="reconfiguration runs: governance adds/removes validators, timeouts")
    args = ap.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else list(range(args.start, args.stop))
    failed = []
    t0 = time.perf_counter()
    for seed in seeds:
        _, meta = build_reconfig(seed) if args.reconfig else build(seed)
        try:
            trace = print if args.trace else None
            res = (run_reconfig_seed(seed, trace=trace) if args.reconfig
                   else run_seed(seed, trace=trace, replay=args.replay))
            print(f"seed {seed}: ok n={res.n} heights={res.heights} "
                  f"recovered in {res.recovery_ms} ms, {res.messages} sends, "
                  f"{' '.join(res.notes)} {meta['cfg']}")
        except AssertionError as exc:
            failed.append(seed)
            print(f"seed {seed}: FAILED {type(exc).__name__}: {exc}")
    print(f"{len(seeds) - len(failed)}/{len(seeds)} seeds passed in "
          f"{time.perf_counter() - t0:.1f} s" + (f"; failing: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
