"""Identity rules per system track: lists, ADS-B identity, transponder, pending, emergencies, overrides, no flapping."""

from __future__ import annotations

import numpy as np
import pytest

from commonsky.assess import AlertError, assess, override_identity

from .helpers import ADSB, PSR, SSR, T0, picture, state


def _identities(st, ticks, **columns):  # type: ignore[no-untyped-def]
    """Assess the same picture over `ticks` seconds; the state and the last identities."""
    out = None
    for k in range(ticks):
        st, out = assess(st, T0 + k, picture(T0 + k, **columns))
    assert out is not None
    return st, out.identity.tolist()


def test_rules_give_the_standard_identities() -> None:
    st = state(friend_mode_s=(0xAAAAAA,), neutral_squawks=(1200,))
    columns = {
        "system_id": [1, 2, 3, 4, 5],
        "mode_s": [0xAAAAAA, 0x111111, 0x222222, -1, -1],
        "squawk": [-1, 1200, 3456, 2345, -1],
        "callsign": ["", "", "DLH1", "", ""],
        "sensor_kinds": [SSR, SSR, ADSB | SSR, SSR | PSR, PSR],
    }
    _, first = _identities(st, 1, **columns)
    assert first == ["friend", "neutral", "pending", "pending", "pending"]
    _, settled = _identities(st, 12, **columns)
    assert settled == ["friend", "neutral", "neutral", "assumed_friend", "unknown"]


def test_transponder_identity_is_configurable_and_tentative_tracks_stay_pending() -> None:
    columns = {"system_id": [1, 2], "squawk": [2345, -1], "status": ["confirmed", "tentative"]}
    _, ids = _identities(state(transponder_identity="neutral"), 12, **columns)
    assert ids == ["neutral", "pending"]


def test_primary_track_next_to_a_transponder_track_stays_pending() -> None:
    columns = {
        "system_id": [1, 2, 3],
        "lat_deg": [47.0, 47.01, 47.5],
        "lon_deg": [9.0, 9.0, 9.0],
        "squawk": [2345, -1, -1],
        "sensor_kinds": [SSR, PSR, PSR],
    }
    _, ids = _identities(state(), 12, **columns)
    assert ids == ["assumed_friend", "pending", "unknown"]


def test_emergency_squawk_and_transponder_loss_do_not_change_identity() -> None:
    st, ids = _identities(state(), 12, system_id=[1], mode_s=[0x123456], callsign=["SWR1"], sensor_kinds=[ADSB])
    assert ids == ["neutral"]
    for k in range(12, 40):
        emergency = picture(T0 + k, system_id=[1], mode_s=[0x123456], squawk=[7700], sensor_kinds=[SSR])
        st, out = assess(st, T0 + k, emergency)
        assert out.identity.tolist() == ["neutral"]
    for k in range(40, 60):
        silent = picture(T0 + k, system_id=[1], sensor_kinds=[PSR])
        st, out = assess(st, T0 + k, silent)
        assert out.identity.tolist() == ["neutral"]


def test_identity_does_not_flap_and_changes_only_after_confirmation() -> None:
    st = state(friend_squawks=(400,), identity_confirm_s=10.0)
    st, ids = _identities(st, 12, system_id=[1], squawk=[1234])
    assert ids == ["assumed_friend"]
    seen = []
    for k in range(12, 40):  # squawk alternates between a friend code and another every tick
        st, out = assess(st, T0 + k, picture(T0 + k, system_id=[1], squawk=[400 if k % 2 else 1234]))
        seen.append(out.identity[0])
    assert set(seen) == {"assumed_friend"}
    changes = []
    for k in range(40, 60):  # the friend code holds from tick 39 on: friend at 39 + identity_confirm_s
        st, out = assess(st, T0 + k, picture(T0 + k, system_id=[1], squawk=[400]))
        changes += out.identity_changes
        seen.append(out.identity[0])
    assert out.identity.tolist() == ["friend"]
    assert [(c["from"], c["to"], c["by"], c["time_s"]) for c in changes] == [
        ("assumed_friend", "friend", "rules", T0 + 49)
    ]


def test_operator_override_wins_and_is_recorded() -> None:
    st, ids = _identities(state(), 12, system_id=[7], sensor_kinds=[PSR])
    assert ids == ["unknown"]
    st = override_identity(st, 7, "hostile", "alice", T0 + 12.5)
    st, out = assess(
        st, T0 + 13, picture(T0 + 13, system_id=[7], mode_s=[0x123456], callsign=["X"], sensor_kinds=[ADSB])
    )
    assert out.identity.tolist() == ["hostile"]
    assert out.identity_changes == [
        {"system_id": 7, "time_s": T0 + 12.5, "from": "unknown", "to": "hostile", "by": "alice", "reason": "override"}
    ]
    history = st.identity_history(7)
    assert [(h.previous, h.identity, h.by) for h in history] == [
        ("", "pending", "rules"),
        ("pending", "unknown", "rules"),
        ("unknown", "hostile", "alice"),
    ]
    for k in range(14, 40):
        st, out = assess(
            st, T0 + k, picture(T0 + k, system_id=[7], mode_s=[0x123456], callsign=["X"], sensor_kinds=[ADSB])
        )
    assert out.identity.tolist() == ["hostile"]


def test_override_errors() -> None:
    st, _ = _identities(state(), 2, system_id=[1])
    with pytest.raises(AlertError, match="not in the picture"):
        override_identity(st, 99, "friend", "alice", T0)
    with pytest.raises(AlertError, match="not one of"):
        override_identity(st, 1, "foe", "alice", T0)
    with pytest.raises(AlertError, match="user"):
        override_identity(st, 1, "friend", "", T0)


def test_assess_is_pure_and_identities_align_with_rows() -> None:
    st, _ = _identities(state(), 12, system_id=[1, 2], squawk=[1234, -1])
    frame = picture(T0 + 20, system_id=[2, 1], squawk=[-1, 1234])
    _, a = assess(st, T0 + 20, frame)
    _, b = assess(st, T0 + 20, frame)
    assert a.identity.tolist() == b.identity.tolist() == ["unknown", "assumed_friend"]
    assert np.array_equal(a.system_id, [2, 1])
