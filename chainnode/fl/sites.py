"""Synthetic electric-heating sites: outdoor temperature drives each site's heating load.

A "site" is a village feeder converted from coal to electric heating: a few dozen to a few
hundred households, each with direct-acting heaters (evening-heavy) or thermal-storage heaters
(charging in the night valley tariff). All sites share the region's weather (a winter in
northern China: daily mean around -3 °C with multi-day cold spells, a diurnal swing), with a
small local offset. Per site: size, insulation, thermostat set point, storage share, thermal
lag (the building stock smooths the outdoor temperature) and noise. 96 points a day, kW.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PPD = 96                      # points per day (15 min)
SLOT_HOURS = np.arange(PPD) / 4.0


@dataclass(frozen=True, eq=False)
class Site:
    """One site's data; only the site itself ever holds `load`."""
    name: str
    households: int
    load: np.ndarray = field(repr=False)    # kW, shape (days * 96,)
    temp: np.ndarray = field(repr=False)    # °C at the site, same shape

    @property
    def days(self) -> int:
        return len(self.load) // PPD


def region_temperature(days: int, rng: np.random.Generator) -> np.ndarray:
    """Regional outdoor temperature, °C, 96 points a day: AR(1) daily means + diurnal swing."""
    means = np.empty(days)
    m = -3.0
    for d in range(days):
        m = -3.0 + 0.75 * (m + 3.0) + rng.normal(0.0, 2.2)
        means[d] = m
    swing = rng.uniform(3.0, 6.0, size=days)
    shape = np.cos(2 * np.pi * (SLOT_HOURS - 14.5) / 24.0)   # warmest 14:30, coldest 02:30
    t = means[:, None] + swing[:, None] * shape[None, :]
    return (t + rng.normal(0.0, 0.3, size=t.shape)).ravel()


def _smooth(x: np.ndarray, tau_points: float) -> np.ndarray:
    """First-order lag: what the building 'feels' of the outdoor temperature."""
    a = 1.0 / max(tau_points, 1.0)
    out = np.empty_like(x)
    s = x[0]
    for i, v in enumerate(x):
        s += a * (v - s)
        out[i] = s
    return out


def _profiles() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative shapes over the day: direct heating, storage charging, base appliances."""
    h = SLOT_HOURS
    direct = 0.6 + 0.5 * np.exp(-((h - 7.5) / 1.5) ** 2) + 0.8 * np.exp(-((h - 19.5) / 2.5) ** 2)
    storage = ((h >= 22) | (h < 6)).astype(float) * 1.9 + 0.1
    base = 0.3 + 0.4 * np.exp(-((h - 12.0) / 1.5) ** 2) + 0.7 * np.exp(-((h - 19.0) / 2.0) ** 2)
    return direct, storage, base


def make_site(name: str, temp_region: np.ndarray, rng: np.random.Generator,
              households: int | None = None) -> Site:
    days = len(temp_region) // PPD
    hh = int(households if households is not None else rng.integers(40, 400))
    temp = temp_region + rng.normal(0.0, 0.8)                # local microclimate
    setpoint = rng.uniform(16.0, 20.0)
    ua = rng.uniform(0.06, 0.12)                             # kW per household per K
    storage_share = rng.uniform(0.1, 0.7)
    felt = _smooth(temp, rng.uniform(8, 32))                 # 2-8 h thermal lag
    hdd = np.maximum(setpoint - felt, 0.0)
    direct, storage, base = (np.tile(p, days) for p in _profiles())
    heat = hh * ua * hdd * ((1 - storage_share) * direct + storage_share * storage)
    appliances = hh * rng.uniform(0.25, 0.45) * base
    noise = np.empty(days * PPD)
    e = 0.0
    for i in range(len(noise)):                              # AR(1) multiplicative noise
        e = 0.8 * e + rng.normal(0.0, 0.03)
        noise[i] = e
    load = (heat + appliances) * (1.0 + noise)
    return Site(name, hh, np.maximum(load, 0.05 * hh), temp)


def make_region(n_sites: int, days: int, rng: np.random.Generator, *, min_days: int | None = None,
                prefix: str = "site") -> list[Site]:
    """`n_sites` sites of one region; with `min_days`, sites joined at different times and hold
    between min_days and days days of history (the most recent ones)."""
    temp = region_temperature(days, rng)
    sites = []
    for i in range(n_sites):
        s = make_site(f"{prefix}{i}", temp, rng)
        if min_days is not None:
            keep = int(rng.integers(min_days, days + 1)) * PPD
            s = Site(s.name, s.households, s.load[-keep:], s.temp[-keep:])
        sites.append(s)
    return sites
