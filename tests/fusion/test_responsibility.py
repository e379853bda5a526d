"""Reporting responsibility: the best-quality owner, with hysteresis against small fluctuations."""

from __future__ import annotations

from commonsky.fusion import FusionState, SystemTracks, fuse

from .helpers import concat, reports, state


def _step(st: FusionState, t: float, qa: float, qb: float | None) -> tuple[FusionState, SystemTracks]:
    parts = [reports("a", 1, 200.0 * t, 0.0, t=t, quality=qa)]
    if qb is not None:
        parts.append(reports("b", 2, 200.0 * t, 0.0, t=t, quality=qb))
    return fuse(st, concat(*parts), t)


def test_small_quality_fluctuations_do_not_switch_responsibility() -> None:
    st = state(responsibility_margin=0.1)
    st, pic = _step(st, 0.0, 0.80, 0.78)
    assert pic.responsible[0] == "a"
    for t in range(1, 40):
        qa, qb = (0.80, 0.86) if t % 2 else (0.84, 0.79)  # b better by up to 0.06 half of the time
        st, pic = _step(st, float(t), qa, qb)
        assert pic.responsible[0] == "a"
    assert st.stats.responsibility_changes == 0
    assert st.responsible() == {1: "a"}


def test_a_large_quality_advantage_switches_responsibility() -> None:
    st = state(responsibility_margin=0.1)
    st, pic = _step(st, 0.0, 0.80, 0.78)
    assert pic.responsible[0] == "a"
    st, pic = _step(st, 1.0, 0.60, 0.95)
    assert pic.responsible[0] == "b"
    assert st.stats.responsibility_changes == 1
    # And it stays with b while a is only slightly better.
    st, pic = _step(st, 2.0, 0.97, 0.93)
    assert pic.responsible[0] == "b"


def test_responsibility_moves_when_the_responsible_owner_loses_its_link() -> None:
    st = state(max_age_s=3.0)
    st, pic = _step(st, 0.0, 0.9, 0.5)
    assert pic.responsible[0] == "a"
    for t in range(1, 6):  # a stops reporting and ages out; b, worse, takes over
        st, pic = fuse(st, reports("b", 2, 200.0 * t, 0.0, t=float(t), quality=0.5), float(t))
    assert pic.responsible[0] == "b"
    assert int(pic.system_id[0]) == 1
