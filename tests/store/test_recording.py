"""Recordings: lossless, ordered, crash-tolerant, and a restart appends a new segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from commonsky.core import Plots
from commonsky.core.errors import SchemaError
from commonsky.store import Recorder, batch_to_bytes, plots_from_bytes, read_events, read_meta

META = {"partner": "north", "sensors": ["N-PSR1"]}


def _plots(n: int) -> Plots:
    rng = np.random.default_rng(n)
    return Plots.build(
        n,
        time_s=1.78e9 + rng.uniform(0, 1, n),
        sensor_id=np.full(n, "N-PSR1"),
        range_m=rng.uniform(1e3, 2e5, n),
        azimuth_deg=rng.uniform(0, 360, n),
        mode_s=rng.integers(-1, 2**24, n),
        squawk=np.full(n, 7700),
        callsign=np.where(rng.random(n) < 0.5, "AFR123", ""),
    )


def test_plots_survive_the_payload_round_trip_bit_for_bit() -> None:
    plots = _plots(50)
    back = plots_from_bytes(batch_to_bytes(plots))
    for name, values in plots.as_dict().items():
        np.testing.assert_array_equal(getattr(back, name), values)
        assert getattr(back, name).dtype == values.dtype


def test_events_come_back_in_order_across_segments(tmp_path: Path) -> None:
    with Recorder(tmp_path, META) as rec:
        rec.append("plots", 1.0, batch_to_bytes(_plots(3)))
        rec.append("tick", 1.0)
    with Recorder(tmp_path, META) as rec:  # a restarted node opens a second segment
        rec.append("message", 2.0, b"\x00\x01")
    events = list(read_events(tmp_path))
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.kind for e in events] == ["plots", "tick", "message"]
    assert events[2].payload == b"\x00\x01"
    assert read_meta(tmp_path) == META
    assert len(list(tmp_path.glob("inputs-*.arrows"))) == 2


def test_a_crash_loses_at_most_the_event_being_written(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, META)
    for i in range(10):
        rec.append("tick", float(i))
    # No close(): the process died. Also tear the last record in half.
    path = rec.path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    events = list(read_events(tmp_path))
    assert [e.time_s for e in events] == [float(i) for i in range(9)]


def test_meta_of_another_node_is_refused(tmp_path: Path) -> None:
    Recorder(tmp_path, META).close()
    with pytest.raises(SchemaError, match="another node"):
        Recorder(tmp_path, {"partner": "east"})
    with pytest.raises(ValueError, match="unknown input kind"):
        Recorder(tmp_path, META).append("telepathy", 0.0)


def test_numbering_goes_on_after_empty_segments(tmp_path: Path) -> None:
    with Recorder(tmp_path, META) as rec:
        rec.append("tick", 1.0)
        rec.append("tick", 2.0)
        rec.rotate()  # a checkpoint's new segment, then the process stopped before recording more
    with Recorder(tmp_path, META) as rec:
        assert rec.append("tick", 3.0) == 3
    assert [e.seq for e in read_events(tmp_path)] == [1, 2, 3]
