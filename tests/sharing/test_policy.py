"""Policies from TOML and published JSON: loading, validation errors that name the key, digests."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from commonsky.core.errors import ConfigError
from commonsky.sharing import (
    SharingAgreement,
    SharingPolicy,
    from_json,
    policy_digest,
    policy_from_mapping,
    to_json,
)

from .strategies import policies

BORDER = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "border strip"},
            "geometry": {"type": "Polygon", "coordinates": [[[9, 47], [10, 47], [10, 48], [9, 48], [9, 47]]]},
        }
    ],
}

CONFIG = """
[node]
id = "north"

[[sharing]]
to = "east"
areas = "border.geojson"
altitude_bands_m = [[0, 6000], [8000, 12500.5]]
fields = ["squawk", "callsign"]
min_delay_s = 4
max_rate_hz = 0.2

[[sharing]]
to = "west"
content = "tracks"
areas = { type = "Polygon", coordinates = [[[8, 46], [9, 46], [9, 47], [8, 46]]] }
share_unknown_altitude = true

[[sharing]]
from = "east"
to = "north"
everywhere = true
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "border.geojson").write_text(json.dumps(BORDER))
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_load_agreement_from_node_config(tmp_path: Path) -> None:
    agreement = SharingAgreement.load(write(tmp_path, CONFIG), exporter="north")
    east = agreement.policy("north", "east")
    assert east.areas is not None and east.areas.contains([9.5], [47.5]).tolist() == [True]
    assert east.altitude_bands_m == ((0.0, 6000.0), (8000.0, 12500.5))
    assert east.fields == {"squawk", "callsign"} and east.withheld() == ("mode_s", "mmsi")
    assert east.min_delay_s == 4.0 and east.max_rate_hz == 0.2 and math.isclose(east.min_interval_s, 5.0)
    west = agreement.policy("north", "west")
    assert west.share_unknown_altitude and west.fields == frozenset() and west.max_rate_hz is None
    assert agreement.policy("east", "north").everywhere
    assert agreement.receivers("north") == ("east", "west")
    # No policy: nothing is shared.
    nothing = agreement.policy("west", "north")
    assert nothing.areas is None and not nothing.everywhere and not nothing.altitude_bands_m


def test_inline_geojson_text(tmp_path: Path) -> None:
    text = f"[[sharing]]\nfrom = 'north'\nto = 'east'\nareas = '''{json.dumps(BORDER)}'''\n"
    policy = SharingAgreement.load(write(tmp_path, text)).policy("north", "east")
    assert policy.areas is not None and policy.areas.contains([9.5], [47.5]).all()


def test_defaults_share_nothing() -> None:
    p = policy_from_mapping({"from": "north", "to": "east"})
    assert (p.areas, p.everywhere, p.altitude_bands_m, p.share_unknown_altitude) == (None, False, (), False)
    assert p.fields == frozenset() and p.withheld() == ("callsign", "mode_s", "squawk", "mmsi")


ENTRY = '[[sharing]]\nfrom = "north"\nto = "east"\neverywhere = true\n'


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ('colour = "red"', "sharing[0].colour", "allowed: from, to"),
        ('content = "video"', "sharing[0].content", "allowed: tracks, plots"),
        ('fields = ["covariance"]', "sharing[0].fields", "always travels"),
        ('fields = ["name"]', "sharing[0].fields", "allowed: callsign, mode_s, squawk"),
        ("fields = [1]", "sharing[0].fields", "allowed: callsign"),
        ('fields = "squawk"', "sharing[0].fields", "expected a list"),
        ("min_delay_s = -1", "sharing[0].min_delay_s", ">= 0"),
        ("min_delay_s = true", "sharing[0].min_delay_s", ">= 0"),
        ("max_rate_hz = 0", "sharing[0].max_rate_hz", "(0, 100]"),
        ("max_rate_hz = 1000", "sharing[0].max_rate_hz", "(0, 100]"),
        ("altitude_bands_m = [[6000, 0]]", "sharing[0].altitude_bands_m[0]", "low <= high"),
        ("altitude_bands_m = [[0, 1000], [5]]", "sharing[0].altitude_bands_m[1]", "[low, high]"),
        ("altitude_bands_m = [[0, inf]]", "sharing[0].altitude_bands_m[0]", "finite"),
        ("altitude_bands_m = 5", "sharing[0].altitude_bands_m", "expected a list"),
        ('share_unknown_altitude = "yes"', "sharing[0].share_unknown_altitude", "true or false"),
        ('areas = "border.geojson"', "sharing[0].everywhere", "not both"),
        ('areas = "missing.geojson"', "sharing[0].areas", "cannot read"),
        ("areas = 5", "sharing[0].areas", "GeoJSON file path"),
        ("areas = '{not json'", "sharing[0].areas", "not valid JSON"),
        ('areas = { type = "Point", coordinates = [1, 2] }', "sharing[0].areas.type", "allowed: Polygon"),
    ],
)
def test_bad_config_names_file_key_and_allowed_values(tmp_path: Path, extra: str, key: str, words: str) -> None:
    text = ENTRY + extra + "\n"
    if "areas" in extra:
        text = text.replace("everywhere = true\n", "everywhere = true\n" if "border" in extra else "")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        SharingAgreement.load(path)
    assert err.value.key == key
    assert err.value.source == str(path)
    assert words in err.value.problem


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[[sharing]]\nto = "east"\n', "sharing[0].from", "missing"),
        ('[[sharing]]\nfrom = "north"\n', "sharing[0].to", "missing"),
        ('[[sharing]]\nfrom = "north"\nto = "north"\n', "sharing[0].to", "itself"),
        ('[[sharing]]\nfrom = "a-very-long-partner-name"\nto = "x"\n', "sharing[0].from", "1 to 16 characters"),
        ('[[sharing]]\nfrom = ""\nto = "x"\n', "sharing[0].from", "1 to 16 characters"),
        ('[[sharing]]\nfrom = "a"\nto = "b"\n[[sharing]]\nfrom = "a"\nto = "b"\n', "sharing[1]", "second policy"),
        ('sharing = "everything"\n', "sharing", "array of tables"),
        ("sharing = [1]\n", "sharing[0]", "expected a table"),
        ("[[sharing]\n", "(file)", "not valid TOML"),
    ],
)
def test_bad_agreement_names_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        SharingAgreement.load(path)
    assert (err.value.source, err.value.key) == (str(path), key)
    assert words in err.value.problem


def test_errors_inside_a_geojson_file_name_that_file(tmp_path: Path) -> None:
    bad = {"type": "Polygon", "coordinates": [[[9, 47], [10, 47], [10, 48], [9, 48]]]}
    (tmp_path / "open.geojson").write_text(json.dumps(bad))
    path = tmp_path / "node.toml"
    path.write_text('[[sharing]]\nfrom = "north"\nto = "east"\nareas = "open.geojson"\n')
    with pytest.raises(ConfigError) as err:
        SharingAgreement.load(path)
    assert err.value.source == str(tmp_path / "open.geojson")
    assert err.value.key == "(root).coordinates[0]" and "not closed" in err.value.problem


def test_json_round_trip_and_digest() -> None:
    p = SharingAgreement.from_dict(
        {"sharing": [{"from": "north", "to": "east", "areas": BORDER["features"][0]["geometry"],  # type: ignore[index]
                      "altitude_bands_m": [[8000, 9000], [0, 100]], "fields": ["squawk"], "max_rate_hz": 2}]}
    ).policy("north", "east")  # fmt: skip
    text = to_json(p)
    assert json.loads(text)["schema"] == "commonsky.sharing.policy/1"
    assert json.loads(text)["altitude_bands_m"] == [[0.0, 100.0], [8000.0, 9000.0]]  # canonical order
    q = from_json(text, expected_digest=policy_digest(p))
    assert q == p and to_json(q) == text
    assert policy_digest(p).startswith("sha256:") and len(policy_digest(p)) == 7 + 64
    # Key order and spacing of the published text do not change the digest; any content change does.
    loose = json.dumps(dict(reversed(list(json.loads(text).items()))), indent=2)
    assert policy_digest(from_json(loose)) == policy_digest(p)
    assert policy_digest(dataclasses.replace(p, min_delay_s=1.0)) != policy_digest(p)
    with pytest.raises(ConfigError) as err:
        from_json(text.replace('"squawk"', '"callsign"'), expected_digest=policy_digest(p))
    assert err.value.key == "digest"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("{", "(json)"),
        ("[]", "(json)"),
        ('{"from": "north", "to": "east"}', "schema"),
        ('{"schema": "commonsky.sharing.policy/1", "from": "north", "to": "east", "speed": 1}', "speed"),
        ('{"schema": "commonsky.sharing.policy/1", "from": "north", "to": "east", "max_rate_hz": -1}', "max_rate_hz"),
        ('{"schema": "commonsky.sharing.policy/1", "from": "north", "to": "east", "areas": "/etc/passwd"}', "areas"),
    ],
)
def test_bad_published_policy(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_json(text, source="north.policy.json")
    assert (err.value.source, err.value.key) == ("north.policy.json", key)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(p=policies())
def test_any_policy_round_trips_through_json(p: SharingPolicy) -> None:
    q = from_json(to_json(p), expected_digest=policy_digest(p))
    assert q == p and policy_digest(q) == policy_digest(p)
