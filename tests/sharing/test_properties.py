"""For any policy and any traffic: exports obey the policy, match a row-by-row reference, and pass import.

The receiver checks against the policy as published (JSON round trip), so these also prove that
a partner's published policy judges exactly like the one its exporter enforces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonsky.core.batches import TrackReports
from commonsky.sharing import (
    RATE_TOLERANCE_S,
    ExportState,
    SharingPolicy,
    check_import,
    export_reports,
    from_json,
    to_json,
)

from .reference import ref_export, ref_inside, row_key, rows_of
from .strategies import policies, traffic

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Run:
    """The outputs of a sequence of export calls."""

    outs: list[TrackReports]
    nows: list[float]


def run(policy: SharingPolicy, calls: list[tuple[float, TrackReports]]) -> Run:
    state = ExportState()
    outs = []
    for now, batch in calls:
        held_before = len(state.pending)
        out, state, stats = export_reports(policy, batch, now, state)
        assert stats.received + held_before == stats.sent + stats.held + sum(stats.dropped.values())
        outs.append(out)
    return Run(outs, [now for now, _ in calls])


def assert_obeys(policy: SharingPolicy, out: TrackReports, now: float) -> None:
    """Every row of one export call obeys every rule of the policy (checked row by row)."""
    for row in rows_of(out):
        assert row["owner"] == policy.exporter
        if not policy.everywhere:
            assert policy.areas is not None and ref_inside(policy.areas.polygons, row["lon_deg"], row["lat_deg"])
        alt = row["alt_m"]
        if math.isnan(alt):
            assert policy.share_unknown_altitude
        else:
            assert any(low <= alt <= high for low, high in policy.altitude_bands_m)
        for name, missing in (("mode_s", -1), ("squawk", -1), ("callsign", ""), ("mmsi", -1)):
            if name not in policy.fields:
                assert row[name] == missing
        assert row["time_s"] <= now - policy.min_delay_s


def assert_rate(policy: SharingPolicy, outs: list[TrackReports]) -> None:
    """Across all calls, reports of one track are in order and at least the interval apart."""
    sent = TrackReports.concat(outs)
    for track in np.unique(sent.track_id):
        times = sent.time_s[sent.track_id == track]  # in send order
        assert (np.diff(times) >= policy.min_interval_s - RATE_TOLERANCE_S).all()


@SETTINGS
@given(policy=policies(), calls=traffic())
def test_exports_obey_the_policy_match_the_reference_and_pass_import(
    policy: SharingPolicy, calls: list[tuple[float, TrackReports]]
) -> None:
    result = run(policy, calls)
    for out, now in zip(result.outs, result.nows, strict=True):
        assert_obeys(policy, out, now)
    assert_rate(policy, result.outs)
    # Nothing allowed is lost either: each call sends exactly what the row-by-row reference sends.
    want = ref_export(policy, calls)
    for out, expected in zip(result.outs, want, strict=True):
        assert sorted(map(row_key, rows_of(out))) == sorted(map(row_key, expected))
    # The receiver, checking against the published policy, accepts every call's output as sent ...
    published = from_json(to_json(policy))
    for out, now in zip(result.outs, result.nows, strict=True):
        kept, stats = check_import(published, out, now)
        assert stats.kept == len(out) == len(kept), stats.dropped
        assert np.array_equal(kept.time_s, out.time_s)
    # ... and all calls together, judged at the last time (the rate holds across calls).
    everything = TrackReports.concat(result.outs)
    kept, stats = check_import(published, everything, result.nows[-1])
    assert stats.kept == len(everything), stats.dropped


VIOLATIONS = ("owner", "area", "altitude", "withheld_field", "delay", "rate")


def violate(policy: SharingPolicy, row: TrackReports, now: float, violation: str, pick: int) -> TrackReports | None:
    """The row changed to break one rule, or None where the policy leaves nothing to break."""
    if violation == "owner":
        return row.replace(owner=["west"])
    if violation == "area":
        return None if policy.everywhere else row.replace(lon_deg=[179.0], lat_deg=[89.0])  # far from all polygons
    if violation == "altitude":
        return row.replace(alt_m=[1e6] if policy.share_unknown_altitude else [math.nan])
    if violation == "withheld_field":
        withheld = policy.withheld()
        if not withheld:
            return None
        name = withheld[pick % len(withheld)]
        value: Any = {"mode_s": 0x3C6586, "squawk": 7700, "callsign": "SPY1", "mmsi": 211234560}[name]
        return row.replace(**{name: np.array([value])})
    if violation == "delay":
        return row.replace(time_s=[now - policy.min_delay_s + 0.5])
    if policy.max_rate_hz is None:
        return None
    return row.replace(time_s=row.time_s - policy.min_interval_s / 2)  # between this report and the one before


@SETTINGS
@given(policy=policies(), calls=traffic(), pick=st.integers(0, 10**6))
def test_import_rejects_a_violating_row(
    policy: SharingPolicy, calls: list[tuple[float, TrackReports]], pick: int
) -> None:
    """Break one rule in one exported row: the receiver drops exactly that row, for that reason."""
    result = run(policy, calls)
    now = result.nows[-1]
    sent = TrackReports.concat(result.outs)
    published = from_json(to_json(policy))
    if not len(sent):
        return
    i = pick % len(sent)
    for violation in VIOLATIONS:
        bad = violate(policy, sent.take([i]), now, violation, pick)
        if bad is None:
            continue
        # A rate violation is an extra report next to the original; the others replace it.
        others = sent if violation == "rate" else sent.take(np.arange(len(sent)) != i)
        batch = TrackReports.concat([others, bad])
        kept, stats = check_import(published, batch, now)
        assert stats.kept == len(batch) - 1
        assert stats.dropped[violation] == 1, (violation, stats.dropped)
        if violation != "rate":
            assert np.array_equal(kept.time_s, others.time_s)
