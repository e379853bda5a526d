"""Determinism: a seed fixes the output; independent random streams per sensor and for traffic."""

from __future__ import annotations

import itertools

import numpy as np

from commonsky.core.batches import Columns
from commonsky.sim import SimulationOutput, parse_scenario, simulate
from tests.sim.conftest import lab_config, run


def _same(a: Columns, b: Columns) -> bool:
    da, db = a.as_dict(), b.as_dict()
    return da.keys() == db.keys() and all(np.array_equal(da[k], db[k], equal_nan=da[k].dtype.kind == "f") for k in da)


def _small() -> dict:
    config = lab_config()
    config["traffic"]["count"] = 30
    config["scenario"]["duration_s"] = 120
    return config


def test_same_seed_same_output() -> None:
    a, b = run(_small(), seed=11), run(_small(), seed=11)
    assert _same(a.plots, b.plots) and _same(a.truth, b.truth)
    assert a.events == b.events and a.sensor_errors == b.sensor_errors
    assert [s.to_dict() for s in a.sensors] == [s.to_dict() for s in b.sensors]


def test_different_seed_different_output() -> None:
    a, b = run(_small(), seed=11), run(_small(), seed=12)
    assert not _same(a.truth, b.truth)
    assert not _same(a.plots, b.plots)


def test_default_seed_is_the_scenarios(lab: SimulationOutput) -> None:
    config = _small()
    assert _same(run(config).plots, run(config, seed=config["scenario"]["seed"]).plots)
    assert lab.seed == 7


def test_adding_a_sensor_changes_neither_traffic_nor_other_sensors() -> None:
    base = run(_small())
    config = _small()
    config["partners"][0]["sensors"].insert(
        0,
        {
            "id": "PSR-NEW",
            "kind": "psr",
            "lat_deg": 47.2,
            "lon_deg": 9.9,
            "alt_m": 300,
            "sigma_range_m": 40,
            "sigma_azimuth_deg": 0.1,
            "scan_period_s": 6,
            "pd": 0.9,
            "max_range_m": 100_000,
        },
    )
    more = run(config)
    assert _same(base.truth, more.truth)
    keep = more.plots.sensor_id != "PSR-NEW"
    assert np.count_nonzero(~keep) > 0
    assert _same(base.plots, more.plots.take(keep))


def test_progress_is_reported_from_zero_to_one() -> None:
    seen: list[float] = []
    simulate(parse_scenario(_small()), progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(seen))
    assert len(seen) >= 2 + 3
