"""Columnar batch types: one NumPy array per column, one row per plot, track or truth sample.

These are the only shapes that flow between stages. A batch is immutable by convention: stages
build new batches with `take`, `concat` or `replace` instead of editing arrays in place.
Missing values: NaN for floats, -1 for integer codes (Mode S address, squawk, ids), "" for text.
Squawks are held as the integer whose decimal digits are the four octal digits (7700 is 7700).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, Self, TypeAlias, get_origin, get_type_hints

import numpy as np
from numpy.typing import ArrayLike, NDArray

from commonsky.core.arrays import Rows
from commonsky.core.errors import SchemaError
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE, SensorKind

MISSING_INT = -1
EMERGENCY_SQUAWKS = (7500, 7600, 7700)
"""Squawks of an emergency: unlawful interference, radio failure, general emergency."""

SENSOR_ID_DTYPE = "<U24"
CALLSIGN_DTYPE = "<U8"
STATUS_DTYPE = "<U10"
OWNER_DTYPE = "<U16"
DOMAIN_DTYPE = "<U7"


class Col:
    """Annotations of `Columns` fields: the array type for type checkers, the dtype (the metadata) for `DTYPES`."""

    F64: TypeAlias = Annotated[NDArray[np.float64], np.float64]
    I64: TypeAlias = Annotated[NDArray[np.int64], np.int64]
    I32: TypeAlias = Annotated[NDArray[np.int32], np.int32]
    I16: TypeAlias = Annotated[NDArray[np.int16], np.int16]
    I8: TypeAlias = Annotated[NDArray[np.int8], np.int8]
    U64: TypeAlias = Annotated[NDArray[np.uint64], np.uint64]
    Bool: TypeAlias = Annotated[NDArray[np.bool_], np.bool_]
    SensorId: TypeAlias = Annotated[NDArray[np.str_], SENSOR_ID_DTYPE]
    Callsign: TypeAlias = Annotated[NDArray[np.str_], CALLSIGN_DTYPE]
    Status: TypeAlias = Annotated[NDArray[np.str_], STATUS_DTYPE]
    Owner: TypeAlias = Annotated[NDArray[np.str_], OWNER_DTYPE]
    Domain: TypeAlias = Annotated[NDArray[np.str_], DOMAIN_DTYPE]


class Columns(Rows):
    """Base of every batch: equal-length NumPy columns with typed construction and slicing (`Rows.take`).

    Subclasses are frozen dataclasses whose fields are annotated `Annotated[NDArray[...], dtype]`
    (`Col.F64`, ...), so each column is declared once and its dtype derived from it.
    """

    DTYPES: ClassVar[dict[str, Any]] = {}
    """Column name -> NumPy dtype, in declaration order; derived from the field annotations."""
    DEFAULTS: ClassVar[dict[str, Any]] = {}
    """Fill value of a column left out at construction."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Derive `DTYPES` from the annotations, so a column without a dtype fails when its class is defined."""
        super().__init_subclass__(**kwargs)
        dtypes: dict[str, Any] = {}
        for name, hint in get_type_hints(cls, include_extras=True).items():
            if get_origin(hint) is ClassVar:
                continue
            if get_origin(hint) is not Annotated:
                raise SchemaError(f"{cls.__name__}.{name}: a column needs an Annotated[NDArray[...], dtype] annotation")
            dtypes[name] = hint.__metadata__[0]
        cls.DTYPES = dtypes

    def __post_init__(self) -> None:
        n: int | None = None
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            arr = np.asarray(value, dtype=self.DTYPES[f.name])
            if arr.ndim != 1:
                raise SchemaError(f"{type(self).__name__}.{f.name}: expected a 1-D column, got shape {arr.shape}")
            if n is None:
                n = len(arr)
            elif len(arr) != n:
                raise SchemaError(f"{type(self).__name__}.{f.name}: length {len(arr)} differs from {n}")
            object.__setattr__(self, f.name, arr)

    @classmethod
    def build(cls, n: int | None = None, **columns: ArrayLike) -> Self:
        """Construct from the columns given, filling the others with their missing value."""
        if n is None:
            n = 0 if not columns else len(np.asarray(next(iter(columns.values()))))
        unknown = set(columns) - set(cls.DTYPES)
        if unknown:
            raise SchemaError(f"{cls.__name__}: unknown columns {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, dtype in cls.DTYPES.items():
            if name in columns:
                values[name] = columns[name]
            else:
                values[name] = np.full(n, cls.DEFAULTS.get(name, _missing_for(dtype)), dtype=dtype)
        return cls(**values)

    @classmethod
    def empty(cls) -> Self:
        """A batch with no rows."""
        return cls.build(0)

    def __len__(self) -> int:
        first = fields(self)[0]  # type: ignore[arg-type]
        return len(getattr(self, first.name))

    def column_names(self) -> list[str]:
        """Names of the columns, in declaration order."""
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    def replace(self, **columns: ArrayLike) -> Self:
        """A copy with some columns replaced."""
        return dataclasses.replace(self, **columns)  # type: ignore[type-var]

    def sorted_by_time(self) -> Self:
        """Rows in stable time order (the `time_s` column)."""
        times = self.as_dict()["time_s"]
        return self.take(np.argsort(times, kind="stable"))

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        """Rows of several batches of the same type, in order."""
        if not parts:
            return cls.empty()
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in cls.DTYPES})

    def as_dict(self) -> dict[str, NDArray[Any]]:
        """Column name -> array (no copy)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


def _missing_for(dtype: Any) -> Any:
    kind = np.dtype(dtype).kind
    if kind == "f":
        return np.nan
    if kind in "iu":
        return MISSING_INT
    if kind == "U":
        return ""
    if kind == "b":
        return False
    raise SchemaError(f"no missing value for dtype {dtype}")


@dataclass(frozen=True, eq=False)
class Plots(Columns):
    """Sensor reports in each sensor's own terms (see docs/formats.md, `plots.csv`).

    Radar plots fill `range_m` (slant range) and `azimuth_deg`, SSR also `altitude_m` (Mode C);
    ADS-B fills `lat_deg`, `lon_deg`, `altitude_m`. `nacp` is the ADS-B navigation accuracy
    category for position (-1 unknown; AIS plots take it from their position accuracy flag);
    `truth_id` is the simulator's answer key and is never read by trackers; `on_ground` marks an ADS-B
    surface position (BDS 0,6), which has no altitude. `domain` is "air" or "surface" (a vessel: AIS or shore
    radar); `mmsi` is an AIS report's Maritime Mobile Service Identity (-1 otherwise), kept apart from `mode_s`.
    """

    time_s: Col.F64
    sensor_id: Col.SensorId
    range_m: Col.F64
    azimuth_deg: Col.F64
    altitude_m: Col.F64
    lat_deg: Col.F64
    lon_deg: Col.F64
    mode_s: Col.I32
    squawk: Col.I16
    callsign: Col.Callsign
    nacp: Col.I8
    truth_id: Col.I32
    on_ground: Col.Bool
    mmsi: Col.I32
    domain: Col.Domain

    DEFAULTS: ClassVar[dict[str, Any]] = {"domain": DOMAIN_AIR}

    @property
    def surface(self) -> NDArray[np.bool_]:
        """Rows of the surface domain."""
        return self.domain == DOMAIN_SURFACE


@dataclass(frozen=True, eq=False)
class Kinematics(Columns):
    """Where a target is and how it moves (WGS-84 position, local east/north/up velocity): the columns
    `Tracks`, `Truth` and `TrackEstimate` share, declared once. A batch lists it before the class of its
    leading (key) columns: dataclass fields follow the bases from the last one back, so the key comes first."""

    lat_deg: Col.F64
    lon_deg: Col.F64
    alt_m: Col.F64
    v_east_mps: Col.F64
    v_north_mps: Col.F64
    v_up_mps: Col.F64


@dataclass(frozen=True, eq=False)
class _TrackKey(Columns):
    """The leading columns of `Tracks`: when, and which track."""

    time_s: Col.F64
    track_id: Col.I64


@dataclass(frozen=True, eq=False)
class Tracks(Kinematics, _TrackKey):
    """Track reports in geodetic terms, one row per track per output time (`tracks.csv`).

    `quality` is in [0, 1] (higher is better, NaN unknown); `status` is one of
    "tentative", "confirmed", "coasting"; `on_ground` is 1 while the aircraft reports ADS-B surface
    positions, 0 while it reports airborne ones or flies, -1 where unknown (a fused picture: partners'
    reports do not carry it). `domain` is "air" or "surface"; a vessel's identity is its `mmsi` (-1 unknown).
    """

    status: Col.Status
    mode_s: Col.I32
    squawk: Col.I16
    callsign: Col.Callsign
    quality: Col.F64
    on_ground: Col.I8
    domain: Col.Domain
    mmsi: Col.I32

    DEFAULTS: ClassVar[dict[str, Any]] = {"status": "confirmed", "domain": DOMAIN_AIR}


@dataclass(frozen=True, eq=False)
class _TruthKey(Columns):
    """The leading columns of `Truth`: when, and which target."""

    time_s: Col.F64
    target_id: Col.I32


@dataclass(frozen=True, eq=False)
class Truth(Kinematics, _TruthKey):
    """Simulated ground truth, one row per target per second (`truth.csv`); `domain` and `mmsi` as in `Tracks`."""

    mode_s: Col.I32
    squawk: Col.I16
    callsign: Col.Callsign
    domain: Col.Domain
    mmsi: Col.I32

    DEFAULTS: ClassVar[dict[str, Any]] = {"domain": DOMAIN_AIR}


COVARIANCE_COLUMNS = (
    ("cov_ee", 0, 0),
    ("cov_en", 0, 1),
    ("cov_nn", 1, 1),
    ("cov_e_ve", 0, 2),
    ("cov_e_vn", 0, 3),
    ("cov_n_ve", 1, 2),
    ("cov_n_vn", 1, 3),
    ("cov_ve_ve", 2, 2),
    ("cov_ve_vn", 2, 3),
    ("cov_vn_vn", 3, 3),
)
"""The 10 unique entries of the horizontal [east, north, v_east, v_north] covariance, as columns."""


SENSOR_PSR = SensorKind.PSR.bit
SENSOR_SSR = SensorKind.SSR.bit
SENSOR_ADSB = SensorKind.ADSB.bit
SENSOR_AIS = SensorKind.AIS.bit
SENSOR_SURFACE_RADAR = SensorKind.SURFACE_RADAR.bit
"""Bits of `TrackReports.sensor_kinds`: which kinds of sensor fed the track recently."""
SENSOR_RADAR = SENSOR_PSR | SENSOR_SSR | SENSOR_SURFACE_RADAR
"""The kinds that measure range and azimuth."""
SENSOR_COOPERATIVE = SENSOR_SSR | SENSOR_ADSB | SENSOR_AIS
"""The kinds that hear the target's own transmissions (transponder or AIS)."""


def sensor_kind_names(kinds: int) -> list[str]:
    """The sensor kinds ("psr", "ssr", "adsb", "ais", "surface_radar") set in a `sensor_kinds` bit mask."""
    return [kind.value for kind in SensorKind if kinds & kind.bit]


@dataclass(frozen=True, eq=False)
class TrackEstimate(Kinematics):
    """The columns of a track's estimate that `TrackReports` and `SystemTracks` share, declared once.

    A batch takes them by listing this class before the class of its leading (key) columns: dataclass fields
    follow the bases from the last one back, so the key columns come first and the order stays as documented.
    """

    var_alt_m2: Col.F64
    cov_ee: Col.F64
    cov_en: Col.F64
    cov_nn: Col.F64
    cov_e_ve: Col.F64
    cov_e_vn: Col.F64
    cov_n_ve: Col.F64
    cov_n_vn: Col.F64
    cov_ve_ve: Col.F64
    cov_ve_vn: Col.F64
    cov_vn_vn: Col.F64
    status: Col.Status
    quality: Col.F64
    sensor_kinds: Col.I8
    mode_s: Col.I32
    squawk: Col.I16
    callsign: Col.Callsign
    mmsi: Col.I32
    domain: Col.Domain

    DEFAULTS: ClassVar[dict[str, Any]] = {"status": "confirmed", "sensor_kinds": 0, "domain": DOMAIN_AIR}

    def covariance(self) -> NDArray[np.float64]:
        """(K,4,4) horizontal covariance of [east, north, v_east, v_north] in local axes."""
        cov = np.empty((len(self), 4, 4))
        for name, i, j in COVARIANCE_COLUMNS:
            cov[:, i, j] = cov[:, j, i] = getattr(self, name)
        return cov

    @staticmethod
    def covariance_columns(cov: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Column values of a (K,4,4) covariance, for `TrackReports.build(**...)`."""
        return {name: cov[:, i, j] for name, i, j in COVARIANCE_COLUMNS}


@dataclass(frozen=True, eq=False)
class _ReportKey(Columns):
    """The leading columns of `TrackReports`: when, and which owner's track."""

    time_s: Col.F64
    owner: Col.Owner
    track_id: Col.I64


@dataclass(frozen=True, eq=False)
class TrackReports(TrackEstimate, _ReportKey):
    """Tracks with their uncertainty, as partners exchange them and as fusion consumes them.

    Frame-independent: position in WGS-84, velocity and the horizontal covariance in the local
    east/north axes at the aircraft (m, m/s), altitude variance separately (NaN when the altitude
    is unknown). `owner` is the partner whose tracker made the track; `track_id` is unique per
    owner. The covariance is one column per unique entry (see `COVARIANCE_COLUMNS`).
    """

    def as_tracks(self) -> Tracks:
        """The `tracks.csv` view (drops owner and uncertainty)."""
        return Tracks.build(len(self), **{k: getattr(self, k) for k in Tracks.DTYPES if k != "on_ground"})
