"""A smoke-test contract for a relayer: deploy `courier` on two chains, call `send(dst, n)`
on one and watch `stats(peer)` on both. It counts what arrives per source chain instead of
refusing anything, so duplicates (`dups`), gaps in sequence (`gaps`) and repeated
acknowledgements (`ackdups`) show up as numbers, and packets proven timed out as `timeouts` (used by the relayer's tests and
scripts/bench_sidechain.py)."""

from __future__ import annotations

COURIER = """
@export
def send(dst, n, timeout=0):
    for i in range(n):
        k = storage.get(['sent', dst], 0) + 1
        storage.set(['sent', dst], k)
        send_packet(dst, 'courier', 'deliver', {'k': k}, timeout)
    return n

@export
def deliver(src_chain, src_contract, sequence, payload):
    require(ctx.caller == 'sys.anchor', 'NOT_ANCHOR')
    last = storage.get(['last', src_chain], 0)
    if payload['k'] != last + 1:
        storage.set(['gaps', src_chain], storage.get(['gaps', src_chain], 0) + 1)
    if storage.get(['got', src_chain, payload['k']], 0):
        storage.set(['dups', src_chain], storage.get(['dups', src_chain], 0) + 1)
    storage.set(['got', src_chain, payload['k']], 1)
    storage.set(['last', src_chain], payload['k'])
    storage.set(['count', src_chain], storage.get(['count', src_chain], 0) + 1)
    return payload['k']

@export
def on_packet_ack(dst_chain, sequence, ack):
    require(ctx.caller == 'sys.anchor', 'NOT_ANCHOR')
    if storage.get(['acked', dst_chain, sequence], 0):
        storage.set(['ackdups', dst_chain], storage.get(['ackdups', dst_chain], 0) + 1)
    storage.set(['acked', dst_chain, sequence], 1)
    storage.set(['acks', dst_chain], storage.get(['acks', dst_chain], 0) + 1)

@export
def on_packet_timeout(dst_chain, sequence):
    require(ctx.caller == 'sys.anchor', 'NOT_ANCHOR')
    storage.set(['timeouts', dst_chain], storage.get(['timeouts', dst_chain], 0) + 1)

@view
def stats(peer):
    return {'sent': storage.get(['sent', peer], 0), 'count': storage.get(['count', peer], 0),
            'last': storage.get(['last', peer], 0), 'gaps': storage.get(['gaps', peer], 0),
            'dups': storage.get(['dups', peer], 0), 'acks': storage.get(['acks', peer], 0),
            'ackdups': storage.get(['ackdups', peer], 0),
            'timeouts': storage.get(['timeouts', peer], 0)}
"""

