"""One federated task played off chain: sites train and send, the aggregator combines.

`Federation` owns the synthetic world (the sites' private data, the aggregator's validation
set from its own reference feeders) and the global model. A round is two halves, so the chain
can sit between them: `site_updates()` returns what each site commits (the hash of its encoded
update and its sample count) and sends off chain (the blob); `aggregate()` takes the blobs of
the committed sites, checks them against their hashes, and returns the receipt's content:
new model hash, validation MAPE, Shapley contributions and rewards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainnode.fl import fedavg, model, rewards, shapley, sparsify
from chainnode.fl.privacy import clip
from chainnode.fl.sites import make_region

METRIC_SCALE = 100        # MAPE in 0.01 % on chain
SCORE_SCALE = 10_000      # contributions: MAPE reduction in 0.0001 percentage points


@dataclass(frozen=True)
class Config:
    sites: int = 8
    days: int = 35                 # history of the longest-running site
    min_days: int = 21             # sites joined at different times: sample counts differ
    test_days: int = 5             # held out per site (figures only)
    reference_sites: int = 2       # the aggregator's own feeders: the validation set
    clip: float = 0.01             # L2 bound of a sent update (whitened coordinates)
    noise: float = 1.0             # noise multiplier z (std of the sum's noise = z * clip)
    delta: float = 1e-5
    topk: int = 8                  # coordinates sent per round (0 = dense)
    lam: float = 1.0               # proximal strength of local training
    cap: int = 2_400               # sample-count cap of the FedAvg weights
    budget: int = 90_000           # reward per round, fen
    permutations: int = 200        # Monte-Carlo Shapley above 8 sites
    momentum: float = 0.0          # server momentum (FedAvgM) on the noisy global step
    server_lr: float = 1.0         # scale of the global step


@dataclass(frozen=True)
class Update:
    site: int
    blob: bytes
    hash: str
    samples: int


@dataclass(frozen=True)
class RoundResult:
    prev_hash: str
    new_hash: str
    included: list[int]
    metric: int                   # validation MAPE of the new model, 0.01 %
    phi: list[float]              # Shapley values (MAPE reduction, percentage points)
    half_width: list[float]       # their stated 95 % error (0 when exact)
    scores: list[int]             # phi in 1/SCORE_SCALE
    rewards: list[int]            # fen, same order as `included`
    upload_bytes: int


class Federation:
    def __init__(self, cfg: Config, data_rng: np.random.Generator,
                 noise_rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.noise_rng = noise_rng
        world = make_region(cfg.sites + cfg.reference_sites, cfg.days, data_rng,
                            min_days=cfg.min_days)
        self.sites = world[:cfg.sites]
        raw_val = [model.dataset(s) for s in world[cfg.sites:]]
        self.validation_hash = model.dataset_hash(raw_val)
        self.whitener = model.whitener(raw_val)
        self.validation = [model.transform(ds, self.whitener) for ds in raw_val]
        self.train, self.test = zip(*[
            tuple(model.transform(ds, self.whitener) for ds in model.split(s, cfg.test_days))
            for s in self.sites], strict=True)
        self.w = np.linalg.solve(self.whitener, model.initial())
        self.velocity = np.zeros(model.DIM)
        self.feedback = [sparsify.ErrorFeedback(model.DIM) for _ in self.sites]

    @property
    def model_hash(self) -> str:
        return model.model_hash(self.w)

    def site_update(self, k: int) -> Update:
        """Site k: train locally from the global model, compress, clip, encode."""
        ds = self.train[k]
        delta = model.local_train(self.w, ds, self.cfg.lam) - self.w
        if self.cfg.topk:
            sent = self.feedback[k].compress(delta, self.cfg.topk, self.cfg.clip)
        else:
            sent = clip(delta, self.cfg.clip)
        blob = sparsify.encode(sent, sparse=bool(self.cfg.topk))
        return Update(k, blob, sparsify.update_hash(blob), ds.n)

    def site_updates(self) -> list[Update]:
        return [self.site_update(k) for k in range(len(self.sites))]

    def aggregate(self, updates: list[Update], ids: list[str] | None = None) -> RoundResult:
        """Combine the committed updates (in participant order), move the global model."""
        for u in updates:
            if sparsify.update_hash(u.blob) != u.hash:
                raise ValueError(f"site {u.site}: update does not match its committed hash")
        cfg = self.cfg
        vecs = [sparsify.decode(u.blob) for u in updates]
        samples = [u.samples for u in updates]
        prev = self.model_hash
        step = fedavg.aggregate(vecs, samples, cfg.cap, cfg.noise * cfg.clip, self.noise_rng)
        phi = self._shapley(vecs, samples)
        self.velocity = cfg.momentum * self.velocity + cfg.server_lr * step
        self.w = self.w + self.velocity
        scores = rewards.to_scores(phi.phi, SCORE_SCALE)
        pay = rewards.split(cfg.budget, scores, ids)
        metric = int(round(model.mape(self.w, self.validation) * METRIC_SCALE))
        return RoundResult(prev, self.model_hash, [u.site for u in updates], metric, phi.phi,
                           phi.half_width, scores, pay, sum(len(u.blob) for u in updates))

    def _shapley(self, vecs: list[np.ndarray], samples: list[int]) -> shapley.Estimate:
        """v(S) = validation MAPE of the current model minus that after S's (noise-free)
        FedAvg step; linear model, so per-site validation predictions are computed once."""
        x = np.concatenate([ds.x for ds in self.validation])
        y = np.concatenate([ds.y for ds in self.validation])
        base = x @ self.w
        per = np.stack([x @ v for v in vecs])
        wts = fedavg.weights(samples, self.cfg.cap)
        m0 = float(np.mean(np.abs(base - y) / y))

        def value(mask: int) -> float:
            if mask == 0:
                return 0.0
            sel = [i for i in range(len(vecs)) if mask >> i & 1]
            pred = base + wts[sel] @ per[sel] / wts[sel].sum()
            return 100.0 * (m0 - float(np.mean(np.abs(pred - y) / y)))

        return shapley.contributions(len(vecs), value, self.noise_rng, self.cfg.permutations)

    def test_mape(self, w: np.ndarray | None = None) -> float:
        """MAPE on every site's held-out days (figures; sites would compute this locally)."""
        return model.mape(self.w if w is None else w, list(self.test))
