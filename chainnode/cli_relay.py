"""`chainnode relay --a URL --b URL --key K`: relay packets, acknowledgements and light-client
updates between two chains until interrupted (docs/sidechains.md, "Relayer")."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading


def _channels(text: str | None) -> tuple[tuple[str, str], ...] | None:
    if not text:
        return None
    out = []
    for item in text.split(","):
        src, sep, dst = item.strip().partition(":")
        if not sep or not src or not dst:
            raise ValueError(f"RELAY_BAD_CHANNEL: {item!r} is not SRC:DST (two chain ids)")
        out.append((src, dst))
    return tuple(out)


def cmd_relay(a: argparse.Namespace) -> int:
    from chainnode.client import Client
    from chainnode.crypto.keyfile import load_private_key
    from chainnode.relay import metrics as relay_metrics
    from chainnode.relay.chain import RelayChain
    from chainnode.relay.loop import Relayer
    from chainnode.relay.planner import Policy

    logging.basicConfig(level=getattr(logging, a.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    channels = _channels(a.channels)
    pw = os.environ.get(a.passphrase_env, "") if a.passphrase_env else ""
    key = load_private_key(a.key, pw.encode() if pw else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    chains = []
    for url in (a.a, a.b):  # wait for both chains to answer, backing off, before starting
        delay = 0.5
        while not stop.is_set():
            try:
                chains.append(RelayChain([Client(u.strip(), key, timeout=a.rpc_timeout)
                                          for u in url.split(",")], a.gas_limit))
                break
            except OSError as exc:
                logging.getLogger("chainnode.relay").warning(
                    "cannot reach %s (%s); retrying in %.1fs", url, exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, a.backoff_max)
    if stop.is_set():
        return 0
    relayer = Relayer(chains[0], chains[1], channels=channels, commit_timeout=a.commit_timeout,
                      policy=Policy(batch=a.batch, refresh_fraction=a.refresh_fraction))
    if a.metrics_port:
        relay_metrics.serve(relayer.metrics, a.metrics_port)
    logging.getLogger("chainnode.relay").info("relaying %s <-> %s", chains[0].chain_id,
                                              chains[1].chain_id)
    relayer.run(stop, interval=a.interval, backoff_max=a.backoff_max,
                status_every=a.status_every, status_out=sys.stdout)
    return 0


def add_parser(sub) -> None:
    r = sub.add_parser("relay", help="relay packets and light-client updates between two chains")
    r.add_argument("--a", required=True, help="RPC URL of one chain's node; give every validator's "
                   "URL, comma-separated, to keep each batch in order in every pool")
    r.add_argument("--b", required=True, help="RPC URL(s) of the other chain's node(s), as for --a")
    r.add_argument("--key", required=True,
                   help="SM2 key file of an account with the relayer role on both chains")
    r.add_argument("--passphrase-env", help="env variable holding the key file's passphrase")
    r.add_argument("--channels", help="directions to relay packets in, as SRC:DST chain-id "
                   "pairs separated by commas (default: both ways); clients are kept fresh "
                   "either way")
    r.add_argument("--batch", type=int, default=50,
                   help="packets (and acknowledgements) per direction per round")
    r.add_argument("--interval", type=float, default=0.5,
                   help="seconds between rounds when there is nothing to do")
    r.add_argument("--refresh-fraction", type=float, default=1 / 3,
                   help="update a client once this fraction of its trusting period passed")
    r.add_argument("--backoff-max", type=float, default=30.0,
                   help="longest wait, in seconds, between retries while a chain is down")
    r.add_argument("--commit-timeout", type=float, default=30.0,
                   help="seconds to wait for a batch to commit")
    r.add_argument("--rpc-timeout", type=float, default=10.0,
                   help="seconds per HTTP request to a node")
    r.add_argument("--gas-limit", type=int, default=20_000_000,
                   help="gas limit of each relayed transaction (a delivery runs a contract)")
    r.add_argument("--metrics-port", type=int, default=0,
                   help="serve /metrics and /status on this loopback port (0: off)")
    r.add_argument("--status-every", type=float, default=10.0,
                   help="seconds between JSON status lines on stdout")
    r.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log verbosity (logs go to stderr)")
    r.set_defaults(fn=cmd_relay)
