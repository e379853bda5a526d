"""FusionConfig: documented defaults, validation of overrides, TOML loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from commonsky.core.errors import ConfigError
from commonsky.fusion import FusionConfig, new_fusion_state

from .helpers import FRAME


def test_defaults_are_valid_and_hysteretic() -> None:
    cfg = FusionConfig()
    cfg.check()
    assert cfg.keep_gate_chi2 > cfg.make_gate_chi2
    assert cfg.address_keep_gate_chi2 > cfg.address_make_gate_chi2 >= cfg.make_gate_chi2
    assert cfg.max_age_s == 12.0
    assert cfg.ci_criterion == "det"


def test_overrides_are_applied() -> None:
    cfg = FusionConfig.from_dict({"max_age_s": 8, "ci_criterion": "trace", "ci_max_iterations": 5, "address_bonus": 0})
    assert (cfg.max_age_s, cfg.ci_criterion, cfg.ci_max_iterations, cfg.address_bonus) == (8, "trace", 5, 0)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"max_agee_s": 3.0}, "max_agee_s"),
        ({"max_age_s": -1.0}, "max_age_s"),
        ({"max_age_s": 0.0}, "max_age_s"),
        ({"max_age_s": "12"}, "max_age_s"),
        ({"max_age_s": True}, "max_age_s"),
        ({"max_age_s": float("nan")}, "max_age_s"),
        ({"address_bonus": -1.0}, "address_bonus"),
        ({"ci_max_iterations": 2.5}, "ci_max_iterations"),
        ({"ci_max_iterations": 0}, "ci_max_iterations"),
        ({"ci_criterion": "volume"}, "ci_criterion"),
        ({"keep_gate_chi2": 10.0}, "keep_gate_chi2"),
        ({"address_make_gate_chi2": 10.0}, "address_make_gate_chi2"),
        ({"address_keep_gate_chi2": 150.0}, "address_keep_gate_chi2"),
    ],
)
def test_bad_values_raise_config_error_naming_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        FusionConfig.from_dict(data, source="test.toml")
    assert err.value.key == key
    assert err.value.source == "test.toml"


def test_new_state_rejects_an_inconsistent_config() -> None:
    with pytest.raises(ConfigError):
        new_fusion_state(FRAME, FusionConfig(make_gate_chi2=50.0))


def test_load_reads_a_fusion_table(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text("[fusion]\nmax_age_s = 20.0\nresponsibility_margin = 0.2\n")
    cfg = FusionConfig.load(path)
    assert cfg.max_age_s == 20.0
    assert cfg.responsibility_margin == 0.2
    path.write_text("[fusion\n")
    with pytest.raises(ConfigError):
        FusionConfig.load(path)
