"""The node's one reading of wall-clock time.

Everything that stamps or judges a wall time (block timestamps, vote timestamps, TLS validity
checks) reads it here, so a fault test can run a node whose clock is offset — as a badly set
machine clock would be — without touching the machine's clock: the environment variable
``CHAINNODE_CLOCK_OFFSET_MS`` (signed integer milliseconds, default 0) is read once at import.
Monotonic timers (timeouts, rate limits) do not come through here: they never feed consensus.
"""

from __future__ import annotations

import os
import time

ENV_OFFSET = "CHAINNODE_CLOCK_OFFSET_MS"


def _offset_from_env() -> int:
    raw = os.environ.get(ENV_OFFSET, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{ENV_OFFSET} must be an integer number of milliseconds, got {raw!r}") from None


OFFSET_MS = _offset_from_env()


def wall_ms() -> int:
    """Milliseconds since the Unix epoch as this node believes it (machine clock + offset)."""
    return int(time.time() * 1000) + OFFSET_MS


def wall_s() -> float:
    """Seconds since the Unix epoch as this node believes it."""
    return time.time() + OFFSET_MS / 1000
