"""POST /tx's ?wait/?timeout, remembered per raw query string, answer as if parsed anew."""

from __future__ import annotations

from chainnode.rpc import server as server_module
from tests.unit.rpc.test_tx_answers import (  # noqa: F401 - rpc is a fixture
    committed_doc,
    dumped,
    error_body,
    make_tx,
    post,
    rpc,
)


async def test_wait_arguments_per_query_string_and_bad_ones_refused_each_time(rpc):  # noqa: F811
    """?wait/?timeout are remembered per raw query string: answers are as if parsed anew."""
    node, session = rpc
    for _ in range(2):  # a refused timeout is never remembered as a good one
        status, _, body = await post(session, "/tx?wait=commit&timeout=-1", make_tx(n=60).encode())
        assert (status, body) == (400, error_body(
            "BAD_REQUEST", "timeout must be a positive number of seconds"))
    tx = make_tx(n=61)
    status, _, body = await post(session, "/tx?timeout=5&wait=commit", tx.encode())
    assert body == dumped(committed_doc(tx, node.height))
    tx = make_tx(n=62)
    node.hold.add(tx.hash)
    status, _, body = await post(session, "/tx?wait=commi%74&timeout=0.1", tx.encode())
    assert status == 504  # percent-decoded as before: "commit"
    assert len(server_module._WAIT_ARGS) <= server_module.MAX_WAIT_ARGS
    for i in range(server_module.MAX_WAIT_ARGS + 5):
        status, _, _ = await post(session, f"/tx?x={i}", make_tx(n=100 + i).encode())
        assert status == 202
    assert len(server_module._WAIT_ARGS) == server_module.MAX_WAIT_ARGS
