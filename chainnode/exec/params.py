"""Chain parameters as committed state: genesis values overlaid by decided `set-param` proposals.

Genesis writes every parameter into `sys.params["chain"]`; governance rewrites that map. A
block at height h+1 executes on the state committed at h, so a change decided in block h
governs h+1 on, identically on every node (including one syncing through the change).

Only the LIVE_SAFE parameters may change after genesis. The others are read where no state is
at hand (wire decoding before a block is executed), so they cannot switch at a height.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainnode import codec
from chainnode.core.genesis import DEFAULT_PARAMS, Genesis
from chainnode.exec.state import StateReader

PARAMS = "sys.params"
PARAMS_KEY = codec.encode("chain")

# name -> (minimum, maximum) for ints; None for bools
LIVE_SAFE: dict[str, tuple[int, int] | None] = {
    "max_block_txs": (1, 100_000),
    "max_block_bytes": (64 * 1024, 64 * 1024 * 1024),
    "tx_gas_limit": (100_000, 10**12),
    "block_gas_limit": (100_000, 10**13),
    "max_expiry_window": (10, 1_000_000),
    "block_interval_ms": (0, 60_000),
    "view_timeout_ms": (100, 600_000),
    "max_view_timeout_ms": (100, 3_600_000),
    "delivery_gas": (100_000, 10**12),
}
# Gas a sys.anchor recv or acknowledge needs besides the delivery or callback it runs: the
# system call (20,000), its arguments (a 256 KiB transaction: 65,536), the proof (256 nodes
# and 16 KiB: 18,732) and the acknowledgement record (16 KiB at 5 gas a byte: ~82,500), so
# ~187,000 at worst, with a margin. A transaction must be able to give a delivery its whole
# budget on top of that, or an endless method could never be turned into an error
# acknowledgement and would block the channel.
RECV_OVERHEAD_GAS = 250_000
# why each of the others is refused (shown in the GOV_UNSAFE_PARAM message)
UNSAFE_WHY: dict[str, str] = {
    "max_tx_bytes": "checked while decoding transactions off the wire and from RPC, before any "
                    "block state exists, so it cannot switch at one height on every node",
    "empty_blocks": "the consensus core arms its view timer from it at startup: a leader "
                    "that stopped building empty blocks while replicas still expect them "
                    "would trigger endless view changes (live once the core reads it per "
                    "height)",
}


# liveness of the timing parameters (a value that stops blocks from committing can never be
# governed back): the view timer's cap must leave time to verify and execute a full block, and
# the leader's pre-proposal sleep must fit well inside the first view timeout.
CAP_MS_PER_TX = 2  # measured: ~0.5 ms per SM2 verification, plus execution, on one core
MIN_VIEW_CAP_MS = 1000
TIMING = ("max_block_txs", "block_interval_ms", "view_timeout_ms", "max_view_timeout_ms")


def min_view_cap(values: Mapping[str, Any]) -> int:
    """The smallest `max_view_timeout_ms` under which a full block can still commit."""
    return max(MIN_VIEW_CAP_MS, CAP_MS_PER_TX * values["max_block_txs"])


class ParamError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChainParams(Mapping[str, Any]):
    """A read-only parameter map with the same `param(name)` call as Genesis."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def param(self, name: str) -> Any:
        return self._values[name]

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def from_genesis(genesis: Genesis) -> ChainParams:
    return ChainParams({**DEFAULT_PARAMS, **genesis.params})


def read(reader: StateReader, genesis: Genesis) -> ChainParams:
    """The parameters in force for the NEXT block executed on `reader`'s committed state."""
    raw = reader.state_get(PARAMS, PARAMS_KEY)
    stored = codec.decode(raw) if raw is not None else {}
    values = {**DEFAULT_PARAMS, **genesis.params}
    if isinstance(stored, dict):
        values.update({k: v for k, v in stored.items() if k in DEFAULT_PARAMS})
    return ChainParams(values)


def check_change(current: Mapping[str, Any], name: object, value: object) -> None:
    """Raise ParamError unless setting `name` to `value` is allowed live and consistent."""
    if not isinstance(name, str) or name not in DEFAULT_PARAMS:
        raise ParamError("GOV_UNKNOWN_PARAM", f"no chain parameter {name!r}; known: "
                         f"{', '.join(sorted(DEFAULT_PARAMS))}")
    if name not in LIVE_SAFE:
        raise ParamError("GOV_UNSAFE_PARAM", f"{name} cannot change on a running chain: "
                         f"{UNSAFE_WHY.get(name, 'not live-safe')}")
    bounds = LIVE_SAFE[name]
    if type(value) is not type(DEFAULT_PARAMS[name]):
        raise ParamError("GOV_BAD_PAYLOAD",
                         f"{name} takes a {type(DEFAULT_PARAMS[name]).__name__}")
    if bounds is not None:
        lo, hi = bounds
        if not lo <= value <= hi:  # type: ignore[operator]
            raise ParamError("GOV_BAD_PAYLOAD", f"{name} must be in [{lo}, {hi}]")
    after = {**current, name: value}
    if after["tx_gas_limit"] > after["block_gas_limit"]:
        raise ParamError("GOV_BAD_PAYLOAD", "tx_gas_limit would exceed block_gas_limit")
    if name in ("delivery_gas", "tx_gas_limit") and \
            after["delivery_gas"] > after["tx_gas_limit"] - RECV_OVERHEAD_GAS:
        raise ParamError("GOV_BAD_PAYLOAD", f"delivery_gas ({after['delivery_gas']}) must "
                         f"stay <= tx_gas_limit ({after['tx_gas_limit']}) - "
                         f"{RECV_OVERHEAD_GAS} (the recv overhead), or a relayed delivery "
                         "could not be given its whole budget")
    if after["view_timeout_ms"] > after["max_view_timeout_ms"]:
        raise ParamError("GOV_BAD_PAYLOAD", "view_timeout_ms would exceed max_view_timeout_ms")
    if name == "max_block_bytes" and value < after["max_tx_bytes"]:  # type: ignore[operator]
        # the mempool takes oldest first: one admissible tx too big for any block would head
        # it forever, no block would be built, and no proposal could undo the change
        raise ParamError("GOV_BAD_PAYLOAD", f"max_block_bytes must be at least max_tx_bytes "
                         f"({after['max_tx_bytes']}): every admissible tx must fit a block")
    if name in TIMING:  # only changes of these: a genesis may have chosen otherwise
        _check_timing(after)


def _check_timing(after: Mapping[str, Any]) -> None:
    cap = min_view_cap(after)
    if after["max_view_timeout_ms"] < cap:
        raise ParamError("GOV_BAD_PAYLOAD",
                         f"max_view_timeout_ms {after['max_view_timeout_ms']} would be below "
                         f"{cap} ms, the time to verify and execute a full block of "
                         f"{after['max_block_txs']} txs: no view could commit it, and no "
                         "later proposal could undo the change")
    if 2 * after["block_interval_ms"] > after["view_timeout_ms"]:
        raise ParamError("GOV_BAD_PAYLOAD",
                         f"block_interval_ms {after['block_interval_ms']} must be at most half "
                         f"of view_timeout_ms {after['view_timeout_ms']}: the leader sleeps "
                         "the interval while the replicas' view timers run")
