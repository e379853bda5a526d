"""Tracker configuration: one typed object, loaded and validated once from TOML."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

from commonsky.core.config import SectionConfig
from commonsky.core.errors import ConfigError
from commonsky.tracking.associate import Associator
from commonsky.tracking.associators import ASSOCIATORS


@dataclass(frozen=True)
class TrackerConfig(SectionConfig):
    """Every tuning knob of the multi-sensor tracker, with the units in its name.

    Defaults suit en-route and terminal traffic seen by 4-12 s radars and 1 Hz ADS-B.
    """

    SECTION: ClassVar[str] = "tracker"
    CHOICES: ClassVar[Mapping[str, Collection[str]]] = {"associator": ASSOCIATORS}
    NON_NEGATIVE: ClassVar[frozenset[str]] = frozenset(
        {"reacquire_within_s", "silence_probability", "surface_height_m"}
    )

    slice_s: float = 1.0
    """Plots are processed in time slices of this length; a track takes one plot per sensor per slice."""
    output_period_s: float = 1.0
    """The picture (all confirmed and coasting tracks) is written at multiples of this period."""

    # Motion models (IMM of constant velocity and coordinated turn with unknown rate).
    q_cv_mps2: float = 0.5
    """Acceleration noise density of the constant-velocity model, sqrt(m^2/s^3)."""
    q_ct_mps2: float = 3.0
    """Acceleration noise density of the coordinated-turn model, sqrt(m^2/s^3)."""
    q_turn_rate_dps: float = 0.6
    """Turn-rate noise density of the coordinated-turn model, deg/s per sqrt(s)."""
    cv_mean_sojourn_s: float = 60.0
    """Mean time spent in constant velocity before a turn starts (sets the IMM transition rate)."""
    ct_mean_sojourn_s: float = 30.0
    """Mean time spent turning before flying straight again."""
    q_vertical_mps2: float = 1.0
    """Vertical acceleration noise density of the altitude channel, sqrt(m^2/s^3)."""
    q_surface_mps2: float = 1.0
    """Acceleration noise density of both models for an aircraft on the ground (taxiing), sqrt(m^2/s^3)."""
    q_surface_turn_rate_dps: float = 3.0
    """Turn-rate noise density on the ground (taxiway turns are sharp and slow), deg/s per sqrt(s)."""
    q_vessel_mps2: float = 0.05
    """Acceleration noise density of a vessel's constant-velocity model (barges and tankers change speed over
    minutes), sqrt(m^2/s^3)."""
    q_vessel_manoeuvre_mps2: float = 0.5
    """Acceleration noise density of a vessel's manoeuvre model (small fast craft, a ship turning), sqrt(m^2/s^3)."""
    q_vessel_turn_rate_dps: float = 2.0
    """Turn-rate noise density of a vessel's manoeuvre model, deg/s per sqrt(s)."""
    surface_height_m: float = 0.0
    """Height above the ellipsoid of the water the surface domain's vessels float on: AIS reports carry no height
    and a shore radar's geometry needs one (zero or more: a water level below the ellipsoid is not supported yet)."""
    surface_height_sigma_m: float = 1.0
    """Standard deviation of that height (waves, the river's level over the day)."""

    # Initiation.
    max_speed_mps: float = 320.0
    """Fastest target expected: sets the velocity uncertainty of a new track."""
    max_vessel_speed_mps: float = 25.0
    """Fastest vessel expected (a fast patrol or speed boat, about 50 kn): the same for a new vessel track."""
    default_altitude_m: float = 6000.0
    """Altitude assumed for primary-only tracks, whose altitude is unknown."""
    default_altitude_sigma_m: float = 4000.0
    """Standard deviation of that assumed altitude."""

    # Gating and association.
    associator: str | Associator = "gnn"
    """How plots are shared among the tracks that gate them: a name from `associate.ASSOCIATORS`
    ("gnn": global nearest neighbour), or an object implementing `associate.Associator` (in code only)."""
    gate_chi2: float = 16.0
    """Mahalanobis gate on a 2-D innovation (16 keeps 99.97 % of true plots)."""
    initiation_exclusion_chi2: float = 60.0
    """A plot this close to a track starts no new track: it is that track's outlier (say, an unregistered radar)."""
    address_gate_chi2: float = 400.0
    address_distrust_s: float = 60.0
    """After a vessel track refused a report of its own MMSI (an AIS position far from its radar echo), its AIS
    reports need the ordinary gate for this long: a spoofed position must not capture it while the radar is out."""
    """Looser gate for a plot whose Mode S address matches the track's."""
    pregate_margin_m: float = 2_000.0
    """Pre-gate radius around a plot's approximate position, beyond 5 sigma of its cross-range error."""
    pregate_unknown_altitude_m: float = 3_000.0
    """Extra pre-gate radius for a primary plot, whose position depends on an unknown altitude."""
    squawk_mismatch_cost: float = 20.0
    """Cost added to a pair whose Mode A codes are both known and differ."""

    # Track management.
    confirm_hits_identified: int = 2
    """Hits that confirm a track fed by a Mode S address."""
    confirm_hits_secondary: int = 3
    """Hits that confirm a track with Mode A/C but no address."""
    confirm_hits_primary: int = 4
    """Hits that confirm a primary-only track (stricter: clutter)."""
    confirm_hits_adsb: int = 1
    """Hits that confirm a track started by a good ADS-B report (an address and `adsb_confirm_max_sigma_m`)."""
    adsb_confirm_max_sigma_m: float = 50.0
    """An ADS-B position this accurate (1-sigma per axis; NACp 8 or better, or the receiver's default) is good."""
    tentative_timeout_s: float = 14.0
    """A tentative track with no plot for this long is dropped."""
    coast_after_s: float = 5.0
    """A confirmed track with no plot for this long is reported as coasting."""
    delete_after_s: float = 12.0
    """A track with no plot for this long is deleted (at least; see `delete_after_missed_scans`)."""
    delete_after_missed_scans: float = 3.0
    """...and not before this many scans of its sensor have gone by without a plot: two misses in a row
    are common for a primary radar (pd 0.88 gives one every ~70 scans), three are rare."""
    silence_probability: float = 1e-3
    """Contact ends sooner when a silence this improbable for a live aircraft has gone by: the sensors that were
    detecting the track, cover its predicted position and still deliver plots have all missed it, scan after
    scan, at their stated pd (1e-3: three missed scans of a pd 0.9 radar, two of a pd 0.97 one); 0 turns it off."""
    silence_min_s: float = 4.0
    """...but not before this long without a plot (a few ADS-B reports lost in a row are common)."""
    transponder_off_probability: float = 0.01
    """Where a primary radar covers the track, a silence of its SSR and ADS-B sensors (they share one transponder)
    is a transponder switched off with at least this probability: it weighs at most -ln(this), and the
    primary radar's own misses must say the rest."""
    coverage_deletion: bool = True
    """A track predicted outside every own sensor's coverage ends as soon as it misses an update there."""
    reacquire_within_s: float = 120.0
    """An identified track whose contact ends is kept lost this long after its last plot, to be re-acquired
    under its id when its address (or distinctive Mode A code) comes back; 0 deletes it at once."""
    reacquire_margin_m: float = 3000.0
    """Slack on where a lost aircraft may reappear: beyond `max_speed_mps` times the gap for an address,
    beyond the dead-reckoned position plus `reacquire_accel_mps2` over the gap for a Mode A code."""
    reacquire_accel_mps2: float = 1.5
    """Manoeuvre allowed to an aircraft re-acquired by its Mode A code alone (weaker than an address)."""
    reacquire_by_squawk: bool = True
    """Re-acquire tracks without an address by a distinctive Mode A code (not 0000, 1000, 1200, 2000, 7000)."""
    max_position_sigma_m: float = 5000.0
    """A track whose position uncertainty grows beyond this is deleted."""
    merge_chi2: float = 9.0
    """Two tracks closer than this (Mahalanobis, position and velocity) are duplicates and merge."""

    # Sensor registration.
    registration: bool = True
    """Estimate radar range/azimuth biases and time offsets against ADS-B-fed tracks."""
    registration_min_samples: int = 30
    """Radar plots on ADS-B-fed tracks needed before an estimate is applied."""
    registration_forgetting_s: float = 1800.0
    """Time constant over which old registration evidence is forgotten (biases may drift)."""

    def check(self, source: str = "tracker config") -> None:
        """Probabilities stay probabilities."""
        for name in ("silence_probability", "transponder_off_probability"):
            if getattr(self, name) >= 1.0:
                raise ConfigError(source, name, "must be below 1")
