"""The relayer's I/O loop: observe both chains, plan (chainnode.relay.planner), submit.

Failures of a chain (refused connection, timeouts, 5xx) back the whole loop off
exponentially up to a bound, logging each retry; nothing is kept across rounds but figures,
so a restart (or a kill -9 mid-batch) resumes from what the chains say.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error

from chainnode import codec
from chainnode.anchor import errors as E
from chainnode.anchor import packets as pk
from chainnode.client import RpcError
from chainnode.relay import planner
from chainnode.relay.chain import RelayChain
from chainnode.relay.metrics import Metrics

log = logging.getLogger("chainnode.relay")

EFFECTS = {"delivered", "timeout", "acknowledged", "timed_out", "updated"}
NOOPS = {E.ALREADY_RECEIVED, E.ALREADY_SETTLED, E.ALREADY_UPDATED, "known"}
RACES = {E.STALE_HEIGHT}  # another relayer moved the client first
TRANSIENT = (OSError, urllib.error.URLError, TimeoutError, ConnectionError)


def _reraise(exc: Exception) -> None:
    raise exc


class ChainDown(Exception):
    def __init__(self, chain: str, exc: BaseException) -> None:
        super().__init__(f"{chain}: {exc}")
        self.chain = chain


class Relayer:
    def __init__(self, a: RelayChain, b: RelayChain, *, policy: planner.Policy | None = None,
                 channels: tuple[tuple[str, str], ...] | None = None,
                 commit_timeout: float = 30.0, metrics: Metrics | None = None) -> None:
        self.a, self.b = a, b
        self.by_id = {a.chain_id: a, b.chain_id: b}
        self.policy = policy or planner.Policy()
        self.channels = channels
        self.commit_timeout = commit_timeout
        self.metrics = metrics or Metrics()

    def _io(self, chain: RelayChain, fn, *args):
        try:
            out = fn(*args)
        except RpcError as exc:
            if exc.status >= 500 or exc.code == "UNAVAILABLE":
                self.metrics.chains_up[chain.chain_id] = False
                raise ChainDown(chain.chain_id, exc) from None
            raise
        except TRANSIENT as exc:
            self.metrics.chains_up[chain.chain_id] = False
            raise ChainDown(chain.chain_id, exc) from None
        self.metrics.chains_up[chain.chain_id] = True
        return out

    # -- one round
    def round(self) -> planner.Plan:
        # each side's next expected sequence first: packets the other side settled as timed
        # out are listed from there on (the destination must still take them)
        ra = self._io(self.a, self.a.recv_next, self.b.chain_id)
        rb = self._io(self.b, self.b.recv_next, self.a.chain_id)
        va = self._io(self.a, self.a.observe, self.b.chain_id, rb)
        vb = self._io(self.b, self.b.observe, self.a.chain_id, ra)
        plan = planner.plan(va, vb, int(time.time() * 1000), self.policy, self.channels)
        if plan.blocked != self.metrics.blocked:
            for why in plan.blocked:
                log.warning("blocked: %s", why)
        self.metrics.directions, self.metrics.blocked = plan.directions, plan.blocked
        heights = {va.chain_id: va.height, vb.chain_id: vb.height}
        for act in plan.updates:
            if isinstance(act, planner.Heartbeat):
                self._heartbeat(act, heights[act.chain])
            else:
                self._update(act, heights[act.on])
        for rel in plan.relays:
            self._relay(rel, heights[rel.on])
        return plan

    def _receipts(self, chain: RelayChain, txs: list, what: str) -> list[dict]:
        rcs = self._io(chain, chain.submit_in_order, txs, self.commit_timeout)
        for rc in rcs:
            if rc.get("status") == "ok":
                result = (rc.get("value") or {}).get("result") \
                    if isinstance(rc.get("value"), dict) else None
                key = ("noop" if result in NOOPS else "effect" if result in EFFECTS else "ok")
                self.metrics.count(f"{what}_{key}")
            elif rc.get("status") == "failed":
                code = rc.get("error_code")
                kind = "raced" if code in RACES else "failed"
                self.metrics.count(f"{what}_{kind}")
                (log.info if kind == "raced" else log.warning)(
                    "%s on %s %s: %s %s", what, chain.chain_id, kind, code,
                    rc.get("error_message"))
            else:
                self.metrics.count(f"{what}_uncommitted")
        return rcs

    def _heartbeat(self, act: planner.Heartbeat, height: int) -> None:
        chain = self.by_id[act.chain]
        log.info("heartbeat on %s: %s", act.chain, act.reason)
        peer = self.a if chain is self.b else self.b
        self._receipts(chain, [chain.tx("next_send", {"chain_id": peer.chain_id}, height)],
                       "heartbeat")

    def _update(self, act: planner.UpdateClient, height: int) -> None:
        on, of = self.by_id[act.on], self.by_id[act.of]
        c = self._io(on, on.client_of, of.chain_id)
        if c is None or c.latest_height >= act.height:
            return  # another relayer got there first
        headers: dict[int, dict] = {}

        def hdr(h: int) -> dict:
            if h not in headers:
                headers[h] = self._io(of, of.header, h)
            return headers[h]

        trusted_next = hdr(c.latest_height)["header"]["next_validators_hash"]
        steps = planner.update_path(c.latest_height, trusted_next, act.height,
                                    lambda h: hdr(h)["header"]["validators_hash"],
                                    lambda h: hdr(h)["header"]["next_validators_hash"])
        txs = []
        for h in steps:
            d = hdr(h)
            vals = d.get("next_validators")
            txs.append(on.tx("update", {
                "chain_id": of.chain_id, "header": codec.decode(bytes.fromhex(d["header_hex"])),
                "certificate": codec.decode(bytes.fromhex(d["certificate_hex"])),
                "validators": None if vals is None else [[n, bytes.fromhex(k)] for n, k in vals],
            }, height))
        log.info("updating %s's client of %s: %d -> %s (%s)", on.chain_id, of.chain_id,
                 c.latest_height, steps, act.reason)
        rcs = self._receipts(on, txs, "update")
        if any(rc.get("status") == "ok" for rc in rcs):
            self.metrics.last_update_ms[f"{on.chain_id}<-{of.chain_id}"] = int(time.time() * 1000)

    def _relay(self, rel: planner.Recv | planner.Ack | planner.Timeout, height: int) -> None:
        on, of = self.by_id[rel.on], self.by_id[rel.of]
        c = self._io(on, on.client_of, of.chain_id)
        if c is None or c.latest_height < rel.min_height:
            log.info("%s on %s waits: its client of %s is at %s, needs %d", type(rel).__name__,
                     on.chain_id, of.chain_id, None if c is None else c.latest_height,
                     rel.min_height)
            return
        proof_h = c.latest_height
        t0 = time.monotonic()
        recv = isinstance(rel, planner.Recv)
        what, method = {planner.Recv: ("recv", "recv"), planner.Ack: ("ack", "acknowledge"),
                        planner.Timeout: ("timeout", "timeout")}[type(rel)]

        def args_of(p: planner.PendingPacket) -> dict:
            if recv:
                proof = of.proof(pk.commit_key(on.chain_id, p.sequence), proof_h)
                return {"packet": p.packet, "height": proof_h, "proof": proof}
            if what == "timeout":  # received meanwhile: LookupError, the ack path takes it
                proof = of.proof(pk.ack_key(on.chain_id, p.sequence), proof_h, exists=False)
                return {"packet": p.packet, "height": proof_h, "proof": proof}
            rec, _ = of.state_value(pk.ack_key(on.chain_id, p.sequence))
            proof = of.proof(pk.ack_key(on.chain_id, p.sequence), proof_h)
            return {"packet": p.packet, "ack": rec["ack"], "height": proof_h, "proof": proof}

        txs = []
        for res in self._io(of, of.map, args_of, list(rel.packets)):
            if isinstance(res, LookupError):  # settled meanwhile (acked packets leave state)
                break  # keep the batch contiguous: the rest waits for the next round
            if isinstance(res, Exception):
                self._io(of, _reraise, res)  # a chain that went down becomes ChainDown
            txs.append(on.tx(method, res, height))
        if txs:
            t1 = time.monotonic()
            self._receipts(on, txs, what)
            log.info("%s %d packet(s) %s -> %s (seq %d..) proven at %s height %d: proofs %.2fs, "
                     "commit %.2fs", what, len(txs), of.chain_id, on.chain_id,
                     rel.packets[0].sequence, of.chain_id, proof_h, t1 - t0,
                     time.monotonic() - t1)

    # -- forever
    def run(self, stop: threading.Event, interval: float = 0.5, backoff_max: float = 30.0,
            status_every: float = 10.0, status_out=None) -> None:
        delay = interval
        next_status = time.monotonic()
        while not stop.is_set():
            try:
                plan = self.round()
                delay = interval if not (plan.updates or plan.relays) else 0.0
            except ChainDown as exc:
                delay = min(max(delay, interval) * 2, backoff_max)
                self.metrics.count("chain_down")
                log.warning("chain %s unreachable (%s); retrying in %.1fs", exc.chain, exc,
                            delay)
            except (RpcError, ValueError, KeyError) as exc:
                delay = min(max(delay, interval) * 2, backoff_max)
                self.metrics.count("round_error")
                log.warning("round failed: %s; retrying in %.1fs", exc, delay)
            if status_out is not None and time.monotonic() >= next_status:
                next_status = time.monotonic() + status_every
                print(json.dumps({"relay_status": self.metrics.snapshot()}), file=status_out,
                      flush=True)
            stop.wait(delay)
