"""FedAvg with capped sample-count weights and central Gaussian noise.

Weights are n_k capped at `cap` and divided by the cap, so each site's weight is at most 1 and
its clipped update (norm <= C) moves the weighted sum by at most C: the sensitivity the noise
N(0, (zC)^2) is calibrated to (the fixed-denominator estimator of DP-FedAvg). The sum is then
divided by the total weight. Without noise this is plain FedAvg weighted n_k / sum n when no
site exceeds the cap.
"""

from __future__ import annotations

import numpy as np

from chainnode.fl.privacy import gaussian


def weights(samples: list[int], cap: int) -> np.ndarray:
    return np.minimum(np.asarray(samples, dtype=float), cap) / cap


def aggregate(updates: list[np.ndarray], samples: list[int], cap: int, noise_std: float = 0.0,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """The global update: (sum_k w_k u_k + N(0, noise_std^2)) / sum_k w_k."""
    if not updates:
        raise ValueError("no updates to aggregate")
    w = weights(samples, cap)
    total = np.tensordot(w, np.stack(updates), axes=1)
    if noise_std > 0:
        if rng is None:
            raise ValueError("noise needs a generator (privacy.make_rng())")
        total = total + gaussian(len(total), noise_std, rng)
    return total / w.sum()
