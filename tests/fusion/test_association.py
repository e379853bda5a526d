"""Association across owners: formations, Mode S / Mode A hints, persistence, hysteresis, merges, numbers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from commonsky.core.batches import TrackReports
from commonsky.fusion import FusionState, SystemTracks, fuse

from .helpers import concat, cov4, links_of, reports, state


def _noisy(
    rng: np.random.Generator,
    owner: str,
    ids: list[int],
    truth: np.ndarray,
    t: float,
    cov: np.ndarray,
    **columns: object,
) -> TrackReports:
    """One owner's reports of aircraft truth (K, 4) [e, n, ve, vn] with errors drawn from cov."""
    est = truth + rng.multivariate_normal(np.zeros(4), cov, len(truth))
    return reports(owner, ids, est[:, 0], est[:, 1], est[:, 2], est[:, 3], t=t, cov=cov, **columns)


def _formation(t: float, gap_m: float = 500.0) -> np.ndarray:
    """Two aircraft side by side (gap across track), flying east at 200 m/s."""
    return np.array([[200.0 * t, 0.0, 200.0, 0.0], [200.0 * t, gap_m, 200.0, 0.0]])


def _pairs(picture: SystemTracks) -> set[frozenset[tuple[str, int]]]:
    by_system: dict[int, set[tuple[str, int]]] = {}
    for sid, owner, track in picture.source_links():
        by_system.setdefault(sid, set()).add((owner, track))
    return {frozenset(v) for v in by_system.values()}


def _fly(
    st: FusionState, seconds: int, make: Callable[[float], TrackReports]
) -> tuple[FusionState, list[SystemTracks]]:
    pictures = []
    for t in range(seconds):
        st, pic = fuse(st, make(float(t)), float(t))
        pictures.append(pic)
    return st, pictures


def test_close_formation_with_distinct_addresses_stays_two_system_tracks() -> None:
    """500 m apart with 200 m position errors per owner: geometry alone is ambiguous, addresses are not."""
    rng = np.random.default_rng(1)
    cov = cov4(200.0, 200.0, 5.0)

    def make(t: float) -> TrackReports:
        truth = _formation(t)
        return concat(
            _noisy(rng, "east", [1, 2], truth, t, cov, mode_s=[0xAAA001, 0xAAA002]),
            _noisy(rng, "north", [11, 12], truth, t, cov, mode_s=[0xAAA001, 0xAAA002]),
        )

    st, pictures = _fly(state(), 60, make)
    expected = {frozenset({("east", 1), ("north", 11)}), frozenset({("east", 2), ("north", 12)})}
    for pic in pictures:
        assert len(pic) == 2
        assert _pairs(pic) == expected
        assert sorted(pic.mode_s.tolist()) == [0xAAA001, 0xAAA002]
    assert [p.system_id.tolist() for p in pictures] == [pictures[0].system_id.tolist()] * 60
    assert st.stats.number_changes == 0


def test_formation_without_addresses_but_well_separated_stays_two() -> None:
    rng = np.random.default_rng(2)
    cov = cov4(40.0, 40.0, 3.0)

    def make(t: float) -> TrackReports:
        truth = _formation(t)
        return concat(_noisy(rng, "east", [1, 2], truth, t, cov), _noisy(rng, "north", [11, 12], truth, t, cov))

    st, pictures = _fly(state(), 60, make)
    expected = {frozenset({("east", 1), ("north", 11)}), frozenset({("east", 2), ("north", 12)})}
    assert all(_pairs(pic) == expected for pic in pictures)
    assert st.stats.number_changes == 0
    assert st.stats.system_tracks_created == 2


def test_crossing_aircraft_keep_their_system_numbers() -> None:
    """One flies east, one north; they pass the same point at t = 30 s."""
    rng = np.random.default_rng(3)
    cov = cov4(80.0, 80.0, 5.0)

    def truth(t: float) -> np.ndarray:
        return np.array([[-6000.0 + 200.0 * t, 0.0, 200.0, 0.0], [0.0, -6000.0 + 200.0 * t, 0.0, 200.0]])

    def make(t: float) -> TrackReports:
        x = truth(t)
        return concat(
            _noisy(rng, "east", [1, 2], x, t, cov, mode_s=[0x100, 0x200]),
            _noisy(rng, "north", [7, 8], x, t, cov, mode_s=[0x100, 0x200]),
        )

    st, pictures = _fly(state(), 60, make)
    first = links_of(pictures[0])
    assert first[("east", 1)] == first[("north", 7)] != first[("east", 2)] == first[("north", 8)]
    for pic in pictures:
        assert links_of(pic) == first
    assert st.stats.number_changes == 0
    assert st.stats.links_released == 0


def test_links_do_not_flicker_under_noise() -> None:
    """Three owners, one aircraft, independent errors every second for two minutes."""
    rng = np.random.default_rng(4)
    covs = {"east": cov4(150.0, 40.0, 6.0, 0.0), "north": cov4(150.0, 40.0, 6.0, 60.0), "west": cov4(60.0, 60.0, 4.0)}

    def make(t: float) -> TrackReports:
        x = np.array([[150.0 * t, 90.0 * t, 150.0, 90.0]])
        return concat(*(_noisy(rng, o, [5], x, t, c) for o, c in covs.items()))

    st, pictures = _fly(state(), 120, make)
    assert all(len(p) == 1 and p.n_sources[0] == 3 for p in pictures)
    assert {int(p.system_id[0]) for p in pictures} == {1}
    assert st.stats.links_released == 0
    assert st.stats.number_changes == 0


def test_hysteresis_keeps_a_link_that_would_not_be_made() -> None:
    """Position σ 50 m per owner: d² = Δ² / 5000 for an east offset Δ. Make gate 18.5, keep gate 40."""
    cov = cov4(50.0, 50.0, 5.0)

    def pair(t: float, offset: float) -> TrackReports:
        return concat(
            reports("a", 1, 0.0, 0.0, t=t, cov=cov, quality=0.9),
            reports("b", 2, offset, 0.0, t=t, cov=cov, quality=0.8),
        )

    st = state()
    st, pic = fuse(st, pair(0.0, 0.0), 0.0)
    assert len(pic) == 1
    st, pic = fuse(st, pair(1.0, 354.0), 1.0)  # d² ≈ 25: inside the keep gate
    assert len(pic) == 1
    _, fresh = fuse(state(), pair(1.0, 354.0), 1.0)  # the same geometry from scratch: no link
    assert len(fresh) == 2
    st, pic = fuse(st, pair(2.0, 500.0), 2.0)  # d² = 50: released, the older/better link keeps number 1
    assert len(pic) == 2
    assert links_of(pic)[("a", 1)] == 1
    assert links_of(pic)[("b", 2)] != 1
    assert st.stats.links_released == 1
    st, pic = fuse(st, pair(3.0, 0.0), 3.0)  # back together: merged, the older number survives
    assert len(pic) == 1
    assert int(pic.system_id[0]) == 1
    assert st.stats.merges == 1
    assert st.stats.number_changes == 2  # b:2 went 1 -> 2 -> 1


def test_same_address_links_at_a_larger_distance() -> None:
    """600 m apart with σ 50 m: d² = 72, beyond the make gate but inside the address gate."""
    cov = cov4(50.0, 50.0, 5.0)
    with_addr = concat(
        reports("a", 1, 0.0, 0.0, cov=cov, mode_s=0x4B1234), reports("b", 2, 600.0, 0.0, cov=cov, mode_s=0x4B1234)
    )
    without = concat(reports("a", 1, 0.0, 0.0, cov=cov), reports("b", 2, 600.0, 0.0, cov=cov))
    assert len(fuse(state(), with_addr, 0.0)[1]) == 1
    assert len(fuse(state(), without, 0.0)[1]) == 2


def test_different_known_addresses_never_link() -> None:
    both = concat(reports("a", 1, 0.0, 0.0, mode_s=0x111111), reports("b", 2, 0.0, 0.0, mode_s=0x222222))
    st, pic = fuse(state(), both, 0.0)
    assert len(pic) == 2
    # An existing link is released when the addresses start to differ.
    st, pic = fuse(state(), concat(reports("a", 1, 0.0, 0.0, mode_s=0x111111), reports("b", 2, 0.0, 0.0)), 0.0)
    assert len(pic) == 1
    st, pic = fuse(st, reports("b", 2, 0.0, 0.0, t=1.0, mode_s=0x222222), 1.0)
    assert len(pic) == 2


def test_mode_a_mismatch_is_penalised() -> None:
    """b:11 is closer to a:1 but squawks another code; b:12 matches a:1's code."""
    cov = cov4(50.0, 50.0, 5.0)
    a = reports("a", 1, 0.0, 0.0, cov=cov, squawk=1234)
    b = reports("b", [11, 12], [30.0, -60.0], 0.0, cov=cov, squawk=[4321, 1234])
    _, pic = fuse(state(), concat(a, b), 0.0)
    assert links_of(pic)[("a", 1)] == links_of(pic)[("b", 12)]
    b_unknown = reports("b", [11, 12], [30.0, -60.0], 0.0, cov=cov)
    _, pic = fuse(state(), concat(a, b_unknown), 0.0)
    assert links_of(pic)[("a", 1)] == links_of(pic)[("b", 11)]


def test_two_tracks_of_one_owner_never_share_a_system_track() -> None:
    batch = concat(reports("a", [1, 2], 0.0, 0.0, mode_s=0xABCDEF), reports("b", 3, 0.0, 0.0, mode_s=0xABCDEF))
    st, pic = fuse(state(), batch, 0.0)
    assert len(pic) == 2
    for sid in pic.system_id.tolist():
        owners = [o for s, o, _ in pic.source_links() if s == sid]
        assert len(owners) == len(set(owners))
    for t in (1.0, 2.0, 3.0):
        st, pic = fuse(st, batch.replace(time_s=np.full(3, t)), t)
        assert len(pic) == 2


def test_system_track_keeps_its_number_when_an_owner_replaces_its_track() -> None:
    """Owner a drops track 1 and starts track 2 on the same aircraft; owner b's link persists."""
    rng = np.random.default_rng(5)
    cov = cov4(60.0, 60.0, 4.0)

    def make(t: float) -> TrackReports:
        x = np.array([[200.0 * t, 0.0, 200.0, 0.0]])
        a_id = 1 if t < 10 else 2
        return concat(_noisy(rng, "a", [a_id], x, t, cov), _noisy(rng, "b", [9], x, t, cov))

    st, pictures = _fly(state(), 30, make)
    assert all(links_of(p)[("b", 9)] == 1 for p in pictures)
    # Within supersede_after_s the new track is linked in place of the stale one.
    last = pictures[-1]
    assert len(last) == 1
    assert links_of(last) == {("a", 2): 1, ("b", 9): 1}
    assert all(len(p) == 1 for p in pictures[10 + int(st.config.supersede_after_s) :])
    assert ("a", 1) not in st.links()
    assert st.stats.superseded == 1


def test_separate_system_tracks_of_one_aircraft_merge_into_the_older_number() -> None:
    """b's track starts 2 km off (its own system track), then converges on a's."""
    cov = cov4(50.0, 50.0, 5.0)
    st = state()
    for t in range(15):
        batch = [reports("a", 1, 200.0 * t, 0.0, t=float(t), cov=cov)]
        if t >= 5:
            offset = max(2000.0 - 400.0 * (t - 5), 0.0)
            batch.append(reports("b", 4, 200.0 * t, offset, t=float(t), cov=cov))
        st, pic = fuse(st, concat(*batch), float(t))
    assert len(pic) == 1
    assert int(pic.system_id[0]) == 1
    assert st.stats.merges == 1
    assert st.stats.system_tracks_created == 2


def test_a_released_track_leaves_the_number_with_the_majority() -> None:
    """a (oldest link), b and c fused; a then drifts away from both: a leaves, the number stays."""
    cov = cov4(50.0, 50.0, 5.0)

    def still(owner: str, track: int, e: float, t: float) -> TrackReports:
        return reports(owner, track, e, 0.0, ve=0.0, vn=0.0, t=t, cov=cov)

    st = state()
    st, _ = fuse(st, still("a", 1, 0.0, 0.0), 0.0)
    st, _ = fuse(st, still("b", 2, 0.0, 1.0), 1.0)
    st, pic = fuse(st, still("c", 3, 0.0, 2.0), 2.0)
    assert len(pic) == 1
    st, pic = fuse(st, concat(still("a", 1, 800.0, 3.0), still("b", 2, 0.0, 3.0), still("c", 3, 0.0, 3.0)), 3.0)
    links = links_of(pic)
    assert links[("b", 2)] == links[("c", 3)] == 1
    assert links[("a", 1)] != 1
    assert st.stats.links_released == 1
    # The youngest link leaves when it is the one in conflict.
    st, pic = fuse(st, concat(still("a", 1, 800.0, 4.0), still("b", 2, 0.0, 4.0), still("c", 3, 900.0, 4.0)), 4.0)
    links = links_of(pic)
    assert links[("b", 2)] == 1
    assert links[("c", 3)] != 1
