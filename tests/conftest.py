"""Suite-wide pytest settings.

scripts/test.sh runs the suite (but tests/faults) in two invocations: everything not marked
`serial` under pytest-xdist (`-n 2 --dist loadfile`: a file's tests, and so its module-scoped
fixtures such as a shared node, stay in one worker), then the `serial` tests alone. A test is
`serial` when it asserts a wall-clock bound (a stall, a latency, a prompt stop) or relies on
short timers that a second busy worker could starve; such bounds are never loosened to make a
parallel run pass. Ports of node processes come from a per-worker slice
(tests/integration/cluster.py: free_base_port), so workers never collide.
"""

from __future__ import annotations


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "serial: asserts wall-clock bounds; run without xdist (scripts/test.sh)")
