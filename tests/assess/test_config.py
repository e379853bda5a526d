"""AssessmentConfig: defaults, identity lists in hex/octal, TOML loading and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonsky.assess import AssessmentConfig, load_assessment_config
from commonsky.core.errors import ConfigError


def test_lists_are_parsed_from_hex_and_octal_text() -> None:
    cfg = AssessmentConfig.from_dict(
        {"friend_mode_s": ["4B1A2C", "3c0001"], "friend_squawks": ["0400"], "neutral_squawks": [1000], "clear_s": 20}
    )
    assert cfg.friend_mode_s == (0x4B1A2C, 0x3C0001)
    assert cfg.friend_squawks == (400,)
    assert cfg.neutral_squawks == (1000,)
    assert cfg.clear_s == 20
    assert cfg.pending_s == AssessmentConfig().pending_s


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"friend_mode_s": ["XYZ"]}, "friend_mode_s"),
        ({"friend_mode_s": "4B1A2C"}, "friend_mode_s"),
        ({"neutral_squawks": ["7800"]}, "neutral_squawks"),
        ({"transponder_identity": "hostile"}, "transponder_identity"),
        ({"clear_seconds": 3}, "clear_seconds"),
        ({"clear_s": -1}, "clear_s"),
        ({"raise_min_ticks": 0}, "raise_min_ticks"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        AssessmentConfig.from_dict(data, "assess.toml")
    assert err.value.key == key


def test_zero_raise_delay_is_allowed_but_not_zero_clear_time() -> None:
    assert AssessmentConfig.from_dict({"adsb_raise_s": 0}).adsb_raise_s == 0
    with pytest.raises(ConfigError):
        AssessmentConfig.from_dict({"clear_s": 0})


def test_toml_assess_section(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('[assess]\nfriend_squawks = ["0400"]\npredict_horizon_s = 300\ntransponder_identity = "neutral"\n')
    cfg = load_assessment_config(path)
    assert (cfg.friend_squawks, cfg.predict_horizon_s, cfg.transponder_identity) == ((400,), 300, "neutral")
