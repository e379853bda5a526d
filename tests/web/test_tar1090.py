"""aircraft.json and receiver.json: read back by a tar1090-like reader, they give the tracks the display lists."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonsky.cli import EXAMPLES
from commonsky.core.batches import SENSOR_ADSB
from commonsky.fusion import SystemTracks
from commonsky.network.runner import ScenarioSession
from commonsky.sharing import Area, SharingError, SharingPolicy
from commonsky.sim import load_scenario
from commonsky.web.picture import EMPTY_ZONES, Picture
from commonsky.web.scenario import ScenarioSource
from commonsky.web.tar1090 import aircraft_json, receiver_json
from tests.web.conftest import T0
from tests.web.tar1090_reader import Aircraft, read_aircraft_json

BOX = (46.9, 47.45, 9.4, 10.5)
"""lat_min, lat_max, lon_min, lon_max of the policy test's area: south-east of the lake, where north's, east's
and west's coverage meet."""
BAND_M = (0.0, 10_000.0)


@pytest.fixture(scope="module")
def border3() -> Picture:
    """North's picture of the border3 demo after 120 s (stepped by hand: no threads)."""
    source = ScenarioSource(ScenarioSession(load_scenario(EXAMPLES / "border3.toml")), partner="north")
    for _ in range(120):
        source.step()
    return source.snapshot()


def read_back(data: dict[str, Any]) -> tuple[float, list[Aircraft]]:
    """What a client gets: strict JSON text (no NaN or infinity), parsed and checked against the format."""
    return read_aircraft_json(json.loads(json.dumps(data, allow_nan=False)))


def test_aircraft_json_reads_back_as_the_listed_tracks(border3: Picture) -> None:
    now, aircraft = read_back(aircraft_json(border3))
    cols = border3.columns
    assert now == border3.time_s and len(aircraft) == len(cols["id"]) > 30
    expected_ids = {
        (int(m, 16), True) if m else (sid, False) for m, sid in zip(cols["mode_s"], cols["id"], strict=True)
    }
    assert {(a.address, a.icao) for a in aircraft} == expected_ids
    by_id = {a.extras["cs_id"]: a for a in aircraft}
    for i, sid in enumerate(cols["id"]):
        a = by_id[sid]
        assert a.lat == pytest.approx(cols["lat"][i], abs=1e-5) and a.lon == pytest.approx(cols["lon"][i], abs=1e-5)
        assert a.v_east_mps == pytest.approx(cols["ve"][i], abs=0.11)
        assert a.v_north_mps == pytest.approx(cols["vn"][i], abs=0.11)
        if cols["alt"][i] is None:
            assert a.alt_m is None and a.v_up_mps is None
        else:
            assert a.alt_m == pytest.approx(cols["alt"][i], abs=0.7)
            assert a.v_up_mps == pytest.approx(cols["vu"][i], abs=0.06)
        assert (a.callsign or "") == cols["callsign"][i] and (a.squawk or "") == cols["squawk"][i]
        adsb, address = bool(cols["kinds"][i] & SENSOR_ADSB), bool(cols["mode_s"][i])
        assert a.type == {(True, True): "adsb_icao", (True, False): "adsb_other"}.get(
            (adsb, address), "tisb_icao" if address else "tisb_trackfile"
        )
        assert a.seen_s == a.seen_pos_s == 0.0 and not a.on_ground
        assert a.extras["cs_identity"] == cols["identity"][i] and a.extras["cs_status"] == cols["status"][i]
    assert {a.type for a in aircraft} >= {"adsb_icao", "tisb_icao", "tisb_trackfile"}


def test_policy_keeps_the_exporters_tracks_in_its_area_and_bands_without_withheld_fields(border3: Picture) -> None:
    lat0, lat1, lon0, lon1 = BOX
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    policy = SharingPolicy(
        "north",
        "tar1090",
        areas=Area.from_geojson({"type": "Polygon", "coordinates": [ring]}),
        altitude_bands_m=(BAND_M,),
        share_unknown_altitude=True,
        fields=frozenset({"squawk"}),
    )
    _, aircraft = read_back(aircraft_json(border3, policy))

    f, cols = border3.fused, border3.columns
    inside = (f.lat_deg > lat0) & (f.lat_deg < lat1) & (f.lon_deg > lon0) & (f.lon_deg < lon1)
    north = np.array(["north" in owners.split(",") for owners in cols["owners"]])
    in_band = np.isnan(f.alt_m) | ((f.alt_m >= BAND_M[0]) & (f.alt_m <= BAND_M[1]))
    assert np.any(inside & ~north) and np.any(inside & north & ~in_band)  # both rules drop something here
    kept = f.system_id[inside & north & in_band].tolist()
    assert kept and sorted(a.extras["cs_id"] for a in aircraft) == sorted(kept)
    for a in aircraft:
        i = border3.index[a.extras["cs_id"]]
        assert not a.icao and a.address == a.extras["cs_id"]  # the address is withheld: the track number stands in
        assert a.callsign is None and a.type in ("adsb_other", "tisb_trackfile")
        assert (a.squawk or "") == cols["squawk"][i]
        assert "cs_identity" not in a.extras  # the viewer's assessment is not the policy's to share


def test_policy_delay_holds_the_live_picture_and_content_must_be_tracks(border3: Picture) -> None:
    policy = SharingPolicy("north", "tar1090", everywhere=True, share_unknown_altitude=True, min_delay_s=5.0)
    assert aircraft_json(border3, policy)["aircraft"] == []  # the picture is too fresh to share
    _, aircraft = read_back(aircraft_json(border3, policy, now_s=border3.time_s + 5.0))
    assert aircraft and all(a.alt_m is None and a.seen_s == 5.0 for a in aircraft)  # no band: unknown altitude only
    with pytest.raises(SharingError, match="not tracks"):
        aircraft_json(border3, SharingPolicy("north", "tar1090", content="plots", everywhere=True))
    with pytest.raises(ValueError, match="finite"):
        aircraft_json(border3, now_s=math.nan)


def test_receiver_json_centres_on_the_first_own_sensor(border3: Picture) -> None:
    receiver = receiver_json(border3, refresh_ms=2000)
    first = next(s for s in border3.sensors if s["own"])
    assert receiver["refresh"] == 2000 and receiver["history"] == 0 and receiver["version"].startswith("commonsky")
    assert (receiver["lat"], receiver["lon"]) == (first["lat_deg"], first["lon_deg"])
    json.dumps(receiver, allow_nan=False)


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def _floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Mostly plausible values, sometimes NaN, infinite or absurd ones."""
    return st.one_of(st.floats(low, high), st.just(math.nan), ANY_FLOAT)


@st.composite
def pictures(draw: st.DrawFn) -> Picture:
    """A picture of random system tracks: unknown altitudes, missing identities, non-finite numbers."""
    n = draw(st.integers(0, 6))

    def column(elements: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(elements, min_size=n, max_size=n))

    octal_codes = st.integers(0, 0o7777).map(lambda v: int(f"{v:o}"))
    fused = SystemTracks.build(
        n,
        time_s=column(st.one_of(st.just(T0), _floats(T0 - 60, T0))),
        system_id=np.arange(1, n + 1) + draw(st.integers(0, 2**40)),
        lat_deg=column(_floats(-90, 90)),
        lon_deg=column(_floats(-180, 180)),
        alt_m=column(_floats(-500, 15_000)),
        v_east_mps=column(_floats(-400, 400)),
        v_north_mps=column(_floats(-400, 400)),
        v_up_mps=column(_floats(-50, 50)),
        quality=column(_floats(0, 1)),
        status=column(st.sampled_from(["tentative", "confirmed", "coasting"])),
        sensor_kinds=column(st.integers(0, 7)),
        mode_s=column(st.one_of(st.just(-1), st.integers(0, 2**31 - 1))),
        squawk=column(st.one_of(st.just(-1), octal_codes)),
        callsign=column(st.text("ABCXYZ0189 ", max_size=8)),
        sources=column(st.sampled_from(["north:1", "east:2", "east:3;north:4", ""])),
    )
    return Picture(
        time_s=T0,
        partner="north",
        version=1,
        fused=fused,
        identity=["unknown"] * n,
        track_alerts=[[] for _ in range(n)],
        alerts=[],
        partners=[],
        sensors=[],
        zones=EMPTY_ZONES,
        identity_history=lambda sid: [],
        replay=None,
    )


policies = st.one_of(
    st.none(),
    st.builds(
        SharingPolicy,
        exporter=st.just("north"),
        receiver=st.just("tar1090"),
        everywhere=st.just(True),
        altitude_bands_m=st.lists(st.tuples(st.floats(-1000, 0), st.floats(0, 20_000)), max_size=2).map(tuple),
        share_unknown_altitude=st.booleans(),
        fields=st.frozensets(st.sampled_from(["callsign", "mode_s", "squawk"])),
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pictures(), policies)
def test_aircraft_json_is_strict_json_in_the_format_for_any_picture(
    picture: Picture, policy: SharingPolicy | None
) -> None:
    _, aircraft = read_back(aircraft_json(picture, policy))  # json.dumps(allow_nan=False) raises on NaN or inf
    assert len(aircraft) <= len(picture.fused) and (policy is not None or len(aircraft) == len(picture.fused))
    for a in aircraft:
        assert (a.lat is None) == (a.lon is None) and (a.seen_pos_s is None or a.lat is not None)
        if policy is not None:
            assert a.callsign is None or "callsign" in policy.fields
            assert not a.icao or "mode_s" in policy.fields
            assert a.squawk is None or "squawk" in policy.fields


def test_the_display_serves_aircraft_json_matching_its_track_list(tmp_path: Any) -> None:
    from commonsky.web.app import create_app
    from commonsky.web.auth import DEMO_USERS, load_users
    from commonsky.web.tar1090 import load_aircraft_policy
    from tests.web.conftest import local_client, sign_in
    from tests.web.hand_fed import HandFedNode

    source = ScenarioSource(ScenarioSession(load_scenario(EXAMPLES / "border3.toml")), partner="north", stop_s=90)
    for _ in range(90):
        source.step()
    copy = HandFedNode("north")  # the same tracks for the second app (a source starts once)
    copy.push(source.snapshot().time_s, source.snapshot().fused)
    lat0, lat1, lon0, lon1 = BOX
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    area = json.dumps({"type": "Polygon", "coordinates": [ring]})
    (tmp_path / "publish.toml").write_text(
        '[[sharing]]\nfrom = "north"\nto = "tar1090"\naltitude_bands_m = [[0, 15000]]\nfields = ["squawk"]\n'
        f"areas = '''{area}'''\n"
    )
    policy = load_aircraft_policy(tmp_path / "publish.toml", "north")
    for picture, app_policy in ((source, None), (copy.feed, policy)):
        with local_client(create_app(picture, load_users(DEMO_USERS), aircraft_policy=app_policy)) as client:
            assert client.get("/data/aircraft.json").status_code == 401
            sign_in(client, "viewer")
            listed = {t["id"]: t for t in client.get("/api/tracks").json()["tracks"]}
            _, aircraft = read_aircraft_json(client.get("/data/aircraft.json").json())
            assert client.get("/data/receiver.json").json()["refresh"] == 1000
        served = {a.extras["cs_id"]: a for a in aircraft}
        if app_policy is None:
            assert set(served) == set(listed) and len(served) > 30
        else:
            assert 0 < len(served) < len(listed) and all(a.callsign is None for a in served.values())
        for sid, a in served.items():
            t = listed[sid]
            assert a.lat == pytest.approx(t["lat"], abs=1e-5) and a.lon == pytest.approx(t["lon"], abs=1e-5)
            assert (a.squawk or "") == t["squawk"]
            if app_policy is None:
                assert (a.callsign or "") == t["callsign"]
                assert a.address == (int(t["mode_s"], 16) if t["mode_s"] else sid)
