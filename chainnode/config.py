"""Node configuration: `node.json` in the node's home directory.

Relative paths inside it resolve against the home, so a testnet directory can be moved.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    pass


QUERY_KEY_MAX = {
    "query_gas_limit": 1_000_000_000, "query_timeout_ms": 600_000, "query_workers": 64,
    "query_max_inflight": 10_000, "query_max_body_bytes": 16 * 1024 * 1024,
    "query_auth_window_ms": 3_600_000,
}
QUERY_KEYS = tuple(QUERY_KEY_MAX)


@dataclass
class NodeConfig:
    name: str
    chain_id: str
    key_file: str = "node.key"
    genesis_file: str = "genesis.json"
    data_dir: str = "data"
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 8545
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 26656
    peers: list[str] = field(default_factory=list)  # "host:port"
    role: str = "validator"  # or "observer"
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    log_level: str = "INFO"
    verify_threads: int = 0  # 0: one per core
    # SM2 checks of incoming transactions in worker processes, off the node's GIL (-1: one per
    # core when the machine has two or more; 0: threads only, as on a testnet whose nodes
    # share one machine)
    verify_processes: int = -1
    # POST /query (read-only calls; never consensus, so wall-clock limits are allowed here)
    query_gas_limit: int = 2_000_000  # gas cap of one query (transactions: the genesis cap)
    query_timeout_ms: int = 2_000  # wall-clock limit of one query
    query_workers: int = 1  # threads running queries, apart from block execution
    query_max_inflight: int = 64  # queries running or waiting; beyond: 429 QUERY_BUSY
    query_max_body_bytes: int = 256 * 1024  # request body of one query
    query_auth_window_ms: int = 60_000  # signed queries: accepted clock skew, replay memory
    # SMT versions kept provable below the head; older state nodes are pruned (0: keep all)
    state_keep_versions: int = 10_000
    home: Path = field(default=Path("."), repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.verify_processes) is not int or not -1 <= self.verify_processes <= 64:
            raise ConfigError("verify_processes must be an integer from -1 (one per core) to 64 "
                              "(0: verify in threads)")
        v = self.state_keep_versions
        if type(v) is not int or v < 0:
            raise ConfigError("state_keep_versions must be an integer >= 0 (0: keep every "
                              "version)")
        for name in QUERY_KEYS:
            v = getattr(self, name)
            if type(v) is not int or not 0 < v <= QUERY_KEY_MAX[name]:
                raise ConfigError(f"{name} must be an integer from 1 to {QUERY_KEY_MAX[name]}")

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.home / p

    def save(self) -> None:
        d = asdict(self)
        d.pop("home")
        (self.home / "node.json").write_text(json.dumps(d, indent=2) + "\n")

    @classmethod
    def load(cls, home: str | Path) -> NodeConfig:
        home = Path(home)
        f = home / "node.json"
        try:
            doc = json.loads(f.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"no node.json in {home}: run `chainnode testnet init` or "
                              "create one") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{f}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        known = set(cls.__dataclass_fields__) - {"home"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigError(f"{f}: unknown settings {unknown}")
        try:
            cfg = cls(**doc)
        except TypeError as exc:
            raise ConfigError(f"{f}: {exc}") from exc
        except ConfigError as exc:
            raise ConfigError(f"{f}: {exc}") from exc
        cfg.home = home
        return cfg
