"""The relayer's figures: counters, per-direction lag and client status; rendered as a JSON
status line and as Prometheus text on an optional loopback HTTP endpoint."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chainnode.relay.planner import Direction


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.directions: tuple[Direction, ...] = ()
        self.last_update_ms: dict[str, int] = {}  # "on<-of" -> wall time of our last update
        self.chains_up: dict[str, bool] = {}
        self.blocked: tuple[str, ...] = ()

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[name] += n

    def snapshot(self) -> dict:
        with self.lock:
            return {"directions": [asdict(d) for d in self.directions],
                    "packets_pending": sum(d.to_receive + d.to_acknowledge
                                           for d in self.directions),
                    "last_client_update_ms": dict(self.last_update_ms),
                    "chains_up": dict(self.chains_up), "blocked": list(self.blocked),
                    "counters": dict(sorted(self.counters.items()))}

    def prometheus(self) -> str:
        s = self.snapshot()
        lines = []
        for d in s["directions"]:
            lab = f'src="{d["src"]}",dst="{d["dst"]}"'
            lines += [f"relay_lag_blocks{{{lab}}} {d['lag_blocks']}",
                      f"relay_lag_seconds{{{lab}}} {d['lag_seconds']}",
                      f"relay_packets_to_receive{{{lab}}} {d['to_receive']}",
                      f"relay_packets_to_acknowledge{{{lab}}} {d['to_acknowledge']}",
                      f"relay_client_active{{{lab}}} {int(d['client_status'] == 'active')}",
                      f"relay_client_updated_at_ms{{{lab}}} {d['client_updated_at_ms']}"]
        for chain, up in s["chains_up"].items():
            lines.append(f'relay_chain_up{{chain="{chain}"}} {int(up)}')
        for name, n in s["counters"].items():
            lines.append(f'relay_events_total{{event="{name}"}} {n}')
        return "\n".join(lines) + "\n"


def serve(metrics: Metrics, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """GET /metrics (Prometheus text) and GET /status (JSON), in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/metrics":
                body, ctype = metrics.prometheus().encode(), "text/plain; version=0.0.4"
            elif self.path == "/status":
                body, ctype = json.dumps(metrics.snapshot()).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="relay-metrics").start()
    return server
