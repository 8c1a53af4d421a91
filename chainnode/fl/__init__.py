"""Reference federated-learning aggregator for electric-heating load models (numpy only).

One job per module: `sites` makes synthetic heating sites, `model` trains and evaluates the
day-ahead load model, `privacy` clips, adds noise and accounts ε, `sparsify` compresses
updates with error feedback, `fedavg` aggregates, `shapley` scores contributions, `rewards`
splits a budget, `rounds` plays one round off chain, `ledger` talks to the fl_receipts
contract, `verify` re-checks a task from chain data. Model blobs stay off chain; their SM3
hashes go on chain (DESIGN §14).
"""

import os

# The matrices here are small (146 columns): BLAS threads only contend with the node processes
# on the same cores. Effective when numpy is first imported through this package.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
