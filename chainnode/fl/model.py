"""Day-ahead load model of a heating site: linear in features, trained by proximal ridge.

Target: the site's load at slot s of day d divided by the site's own mean load (a local
statistic, so sites of any size share one model). Features, known the day before (weather
forecast for day d, metered load of day d-1): a per-slot intercept (96), per-hour heating
degrees at the slot and over the day (2 x 24), yesterday's load at the slot and yesterday's
mean. 146 parameters: small enough to train in closed form, large enough that sending only
the top few coordinates of an update saves bytes.

Local training solves min ||Xw - y||^2 / n + lam ||w - w_global||^2 exactly (a proximal step
toward the site's optimum; lam sets how far one round moves), so there is no learning rate to
tune and a round is deterministic given the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from chainnode.crypto.hashing import sm3
from chainnode.fl.sites import PPD, Site

SETPOINT = 18.0
DIM = PPD + 24 + 24 + 2
HOUR_SCALE = np.sqrt(24) / 2


@dataclass(frozen=True, eq=False)
class Dataset:
    """Rows of (features, normalized target) and the scale that undoes the normalization."""
    x: np.ndarray
    y: np.ndarray
    scale: float

    @property
    def n(self) -> int:
        return len(self.y)

    @cached_property
    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """XᵀX/n and Xᵀy/n: all local training needs, computed once per site."""
        return self.x.T @ self.x / self.n, self.x.T @ self.y / self.n


def features(load_norm: np.ndarray, temp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) for every day that has a previous day; inputs are 96-point days, flattened."""
    days = len(load_norm) // PPD
    ln = load_norm[:days * PPD].reshape(days, PPD)
    hdd = np.maximum(SETPOINT - temp[:days * PPD].reshape(days, PPD), 0.0) / 10.0
    rows = (days - 1) * PPD
    x = np.zeros((rows, DIM))
    slot = np.tile(np.arange(PPD), days - 1)
    hour = slot // 4
    r = np.arange(rows)
    # fixed (public) column scales keep every feature's second moment near 1, so one
    # proximal strength suits all of them
    x[r, slot] = np.sqrt(PPD)
    x[r, PPD + hour] = hdd[1:].ravel() * HOUR_SCALE
    x[r, PPD + 24 + hour] = np.repeat(hdd[1:].mean(axis=1), PPD) * HOUR_SCALE
    x[:, -2] = ln[:-1].ravel()
    x[:, -1] = np.repeat(ln[:-1].mean(axis=1), PPD)
    return x, ln[1:].ravel()


def dataset(site: Site, first_day: int = 0, last_day: int | None = None,
            scale: float | None = None) -> Dataset:
    """Rows for days (first_day, last_day) of `site` (the first day only supplies lags)."""
    end = site.days if last_day is None else last_day
    load = site.load[first_day * PPD:end * PPD]
    temp = site.temp[first_day * PPD:end * PPD]
    s = float(load.mean()) if scale is None else scale
    x, y = features(load / s, temp)
    return Dataset(x, y, s)


def split(site: Site, test_days: int) -> tuple[Dataset, Dataset]:
    """Train on all but the last `test_days` days; test on those (lags from the day before)."""
    cut = site.days - test_days
    train = dataset(site, 0, cut)
    return train, dataset(site, cut - 1, None, train.scale)


def initial() -> np.ndarray:
    """The public starting model, before any site's data: "tomorrow is like today" (the weight
    of yesterday's load at the slot is 1, everything else 0)."""
    w = np.zeros(DIM)
    w[-2] = 1.0
    return w


def whitener(sets: list[Dataset], ridge: float = 1e-3) -> np.ndarray:
    """P = (XᵀX/n + ridge·I)^(-1/2) of the aggregator's (public-hash) validation rows.
    Training in the coordinates X·P makes every site's curvature close to the identity, so a
    proximal step converges in a few rounds and one clip norm suits every direction."""
    x = np.concatenate([ds.x for ds in sets])
    vals, vecs = np.linalg.eigh(x.T @ x / len(x) + ridge * np.eye(DIM))
    return (vecs / np.sqrt(vals)) @ vecs.T


def transform(ds: Dataset, p: np.ndarray) -> Dataset:
    return Dataset(ds.x @ p, ds.y, ds.scale)


def predict(w: np.ndarray, ds: Dataset) -> np.ndarray:
    """Forecast in kW."""
    return (ds.x @ w) * ds.scale


def mape(w: np.ndarray, sets: list[Dataset]) -> float:
    """Mean absolute percentage error over all rows of all sets, in percent."""
    err = np.concatenate([np.abs(ds.x @ w - ds.y) / ds.y for ds in sets])
    return float(100.0 * err.mean())


def local_train(w_global: np.ndarray, ds: Dataset, lam: float) -> np.ndarray:
    """The proximal ridge step; returns the new local weights."""
    xx, xy = ds.moments
    return np.linalg.solve(xx + lam * np.eye(DIM), xy + lam * w_global)


def centralised(sets: list[Dataset], lam: float = 1e-6) -> np.ndarray:
    """Pooled ridge on everyone's rows: the reference federated learning should approach."""
    x = np.concatenate([ds.x for ds in sets])
    y = np.concatenate([ds.y for ds in sets])
    return np.linalg.solve(x.T @ x / len(y) + lam * np.eye(DIM), x.T @ y / len(y))


def model_bytes(w: np.ndarray) -> bytes:
    """Canonical encoding of a model (little-endian float64): what its hash commits to."""
    return np.asarray(w, dtype="<f8").tobytes()


def model_hash(w: np.ndarray) -> str:
    return sm3(model_bytes(w)).hex()


def dataset_hash(sets: list[Dataset]) -> str:
    """SM3 over the validation rows, targets and scales in order: the task's validation hash."""
    parts = []
    for ds in sets:
        parts += [np.asarray(ds.x, "<f8").tobytes(), np.asarray(ds.y, "<f8").tobytes(),
                  np.asarray([ds.scale], "<f8").tobytes()]
    return sm3(b"".join(parts)).hex()
