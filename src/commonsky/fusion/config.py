"""Fusion configuration: one typed object with documented defaults, validated once."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

from commonsky.core.config import SectionConfig
from commonsky.core.errors import ConfigError

CI_CRITERIA = ("det", "trace")
"""Allowed values of `FusionConfig.ci_criterion`."""


@dataclass(frozen=True)
class FusionConfig(SectionConfig):
    """Every tuning knob of track-to-track fusion, with the units in its name.

    Defaults suit partners exchanging confirmed tracks about once a second, trackers whose
    covariances are consistent (NEES-tested), and en-route/terminal traffic. Chi-square gates are
    on the 4-D difference of [east, north, v_east, v_north] (4 degrees of freedom: the 99 % point
    is 13.3, 99.9 % is 18.5, 99.99 % is 23.5).
    """

    SECTION: ClassVar[str] = "fusion"
    NON_NEGATIVE: ClassVar[frozenset[str]] = frozenset(
        {"address_bonus", "squawk_mismatch_cost", "responsibility_margin", "ci_smoothing"}
    )
    CHOICES: ClassVar[Mapping[str, Collection[str]]] = {"ci_criterion": CI_CRITERIA}

    # Alignment in time.
    max_age_s: float = 12.0
    """A stored report older than this at the fusion time is dropped: the partner's track aged out."""
    clock_skew_tolerance_s: float = 0.5
    """Reports stamped later than the fusion time are clamped to it; beyond this margin they are also counted."""
    accel_noise_m2ps3: float = 4.0
    """White-acceleration noise density q (m²/s³, per horizontal axis) added while extrapolating a report."""
    vertical_accel_noise_m2ps3: float = 1.0
    """The same for altitude: its variance grows by q dt³/3 (the vertical-rate variance is not exchanged)."""
    coast_after_s: float = 5.0
    """A system track whose newest source report is older than this is reported as coasting."""

    # Association.
    make_gate_chi2: float = 18.5
    """A new link is made only below this distance (99.9 % of chi-square, 4 dof)."""
    keep_gate_chi2: float = 40.0
    """An existing link is kept while below this distance (larger than the make gate: hysteresis)."""
    address_make_gate_chi2: float = 200.0
    """Make gate for two tracks with the same Mode S address (a strong hint that they are one aircraft)."""
    address_keep_gate_chi2: float = 400.0
    """Keep gate for two tracks with the same Mode S address."""
    address_bonus: float = 20.0
    """Cost subtracted from a pair with the same Mode S address in the assignment."""
    squawk_mismatch_cost: float = 10.0
    """Cost added to a pair whose Mode A codes are both known and differ (it does not change the gate)."""
    ais_refute_distance_m: float = 300.0
    """A vessel's AIS-only report farther than this from every shore-radar-fed report of its MMSI, and within
    `ais_refute_reach_m` of one, is left out of the fused picture (`engine.refuted_ais`): radar contradicts it."""
    ais_refute_reach_m: float = 3_000.0
    """Farther than this from the radar-fed report, an AIS-only report of the same MMSI may be a second vessel."""
    max_link_distance_m: float = 20_000.0
    """Two tracks farther apart than this are never linked, whatever their covariances or addresses."""
    revive_within_s: float = 300.0
    """A track that aged out (its partner fell silent, e.g. a link outage) and comes back within this
    time gets its old system track number again, when that number is free: the aircraft keeps its number."""
    supersede_after_s: float = 4.0
    """A partner track may take the place of the same partner's track in a system track when that one's
    newest report is at least this much older: the partner has dropped it and started a new one."""

    # Fusion.
    ci_criterion: str = "det"
    """Covariance intersection weights minimise the determinant ("det", unit-free) or the trace ("trace")."""
    ci_smoothing: float = 0.1
    """Term (s/2) Σ (w - 1/n)² added to the CI objective (log det, or trace relative to its start) so that the
    weights, and the fused track, change continuously when the sources' covariances are nearly proportional
    instead of jumping between sources; costs at most s/2 in log det (0: the exact minimum)."""
    ci_max_iterations: int = 30
    """Newton iterations of the weight optimisation per system track (it stops earlier when converged)."""
    ci_tolerance: float = 1e-4
    """The weight optimisation stops when no weight would move by more than this (the fused covariance
    is then within about 1e-8 of its optimum, relatively; any weights give a consistent result)."""

    # Reporting responsibility.
    responsibility_margin: float = 0.1
    """A challenger takes reporting responsibility only if its quality (0-1) exceeds the current owner's by this."""

    def check(self, source: str = "fusion config") -> None:
        """Relations between fields: keep gates at least as large as make gates (hysteresis)."""
        if self.keep_gate_chi2 < self.make_gate_chi2:
            raise ConfigError(source, "keep_gate_chi2", f"must be >= make_gate_chi2 ({self.make_gate_chi2})")
        if self.address_make_gate_chi2 < self.make_gate_chi2:
            raise ConfigError(source, "address_make_gate_chi2", f"must be >= make_gate_chi2 ({self.make_gate_chi2})")
        if self.address_keep_gate_chi2 < self.address_make_gate_chi2:
            raise ConfigError(
                source, "address_keep_gate_chi2", f"must be >= address_make_gate_chi2 ({self.address_make_gate_chi2})"
            )
        if self.address_keep_gate_chi2 < self.keep_gate_chi2:
            raise ConfigError(source, "address_keep_gate_chi2", f"must be >= keep_gate_chi2 ({self.keep_gate_chi2})")
        if self.ci_criterion not in CI_CRITERIA:
            raise ConfigError(source, "ci_criterion", f"expected one of {', '.join(CI_CRITERIA)}")
