"""A validator whose data directory fills up under load (issue 9, case 5).

The node's data dir is a small tmpfs this test mounts (CI runs as root) and fills with a
filler file. The node must stop with EXIT_STORAGE_FAILURE and say why; the other three go on;
after the filler is deleted and the node restarted it rejoins with its head (never below what
it reported committed) and its consensus WAL intact, and never signs two different votes for
one slot: every COMMIT vote in the WAL it left on disk names the same block as any certificate
that carries its signature for that (view, height).
"""

from __future__ import annotations

import re
import time

from chainnode_fault_harness import (
    CommitClock,
    Load,
    fill_filesystem,
    final_checks,
    mounted_tmpfs,
    record_figures,
    wait_votes_again,
)

from chainnode.consensus.state import PersistedState
from chainnode.errors import EXIT_STORAGE_FAILURE
from chainnode.store.db import ChainDB
from chainnode.store.wal import ConsensusWAL

TMPFS_MB = 48  # LevelDB's write buffer is 16 MB: room to start, then the filler takes the rest
EXIT_BOUND_S = 15.0
REJOIN_BOUND_S = 20.0


def _read_store(home) -> tuple[int, PersistedState]:
    """The durable head height and the consensus WAL a stopped node left in its data dir."""
    db = ChainDB(home / "data" / "chain.ldb")
    try:
        head = db.head()
        return (0 if head is None else head.height), PersistedState.load(ConsensusWAL(db.db).load())
    finally:
        db.close()


def test_disk_full_node_stops_then_rejoins_intact(make_net, say):
    net = make_net(start=False)
    victim = net.nodes[2]  # a backup in view 0
    others = [n for n in net.nodes if n is not victim]
    data = victim.home / "data"
    with mounted_tmpfs(data, TMPFS_MB, before_unmount=net.stop_all):
        net.start()
        net.wait_meshed()
        with CommitClock(net) as clock, Load(net, threads=4, wait_timeout=8.0,
                                             max_seconds=150) as load:
            load.wait_acks(30, 30)
            filler = data / "filler"
            t_fill = time.monotonic()
            filled = fill_filesystem(filler)
            code = victim.wait_exit(EXIT_BOUND_S)
            exit_s = time.monotonic() - t_fill
            reported = clock.reported[victim.name]
            assert code == EXIT_STORAGE_FAILURE, (code, victim.log_tail())
            log = victim.log_text()
            assert re.search(r"CRITICAL.*(No space left|ENOSPC|errno 28)", log, re.I), \
                victim.log_tail()
            # the other three go on committing without it
            h_exit = clock.height()
            load.wait_acks(20, 30, after=time.monotonic())
            assert clock.height() > h_exit
            # space freed: its head and WAL on disk are intact
            filler.unlink()
            durable, wal = _read_store(victim.home)
            assert durable >= reported, f"durable head {durable} < reported {reported}"
            commit_votes = {(v.view, v.height): v.block_hash.hex()
                            for (kind, _, _), v in wal.votes.items() if kind == "commit"}
            t_restart = time.monotonic()
            victim.start()
            head = victim.wait_ready()["height"]
            assert head >= reported, f"restarted at {head}, had reported {reported}"
            voted = wait_votes_again(net, [victim.index], clock.height() + 1, 5,
                                     REJOIN_BOUND_S, clock)
            rejoin = voted[victim.index] - t_restart
            say(record_figures("disk-full", filled_mb=filled / 2**20, exit_code=code,
                               exit_s=exit_s, reported=reported, durable=durable,
                               wal_commit_votes=len(commit_votes), rejoin_vote_s=rejoin))
            load.wait_acks(10, 30)
        snap = final_checks(net, load)
        # never two different votes for one slot
        for chain in snap.chains.values():
            for b in chain.values():
                want = commit_votes.get((b.cert_view, b.height))
                if want is not None and victim.index in b.signers:
                    assert b.hash == want, f"{victim.name} signed two blocks at {b.height}"
        assert all(snap.heads()[n.name] >= reported for n in others)
