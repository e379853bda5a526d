"""`SystemTracks`: the common recognised air picture, one row per system track at one fusion time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import OWNER_DTYPE, Columns, TrackReports, Tracks, horizontal_covariance


@dataclass(frozen=True, eq=False)
class SystemTracks(Columns):
    """Fused system tracks in the same terms as `TrackReports` (frame-independent), plus their make-up.

    `system_id` is the stable system track number (never reused). Position in WGS-84, velocity and
    the horizontal covariance in local east/north axes at the aircraft; altitude variance separately
    (NaN when no source knows the altitude). `responsible` is the owner whose track is reported for
    the system track (see `commonsky.fusion` on reporting responsibility), `n_sources` the number of
    owners' tracks fused, `sources` these tracks as "owner:track_id" joined by ";" in order of
    decreasing quality. `quality` is the best source quality; identity (Mode S address, Mode A code,
    callsign) comes from the best-quality source that has it.
    """

    time_s: NDArray[np.float64]
    system_id: NDArray[np.int64]
    lat_deg: NDArray[np.float64]
    lon_deg: NDArray[np.float64]
    alt_m: NDArray[np.float64]
    v_east_mps: NDArray[np.float64]
    v_north_mps: NDArray[np.float64]
    v_up_mps: NDArray[np.float64]
    var_alt_m2: NDArray[np.float64]
    cov_ee: NDArray[np.float64]
    cov_en: NDArray[np.float64]
    cov_nn: NDArray[np.float64]
    cov_e_ve: NDArray[np.float64]
    cov_e_vn: NDArray[np.float64]
    cov_n_ve: NDArray[np.float64]
    cov_n_vn: NDArray[np.float64]
    cov_ve_ve: NDArray[np.float64]
    cov_ve_vn: NDArray[np.float64]
    cov_vn_vn: NDArray[np.float64]
    status: NDArray[np.str_]
    quality: NDArray[np.float64]
    sensor_kinds: NDArray[np.int8]
    mode_s: NDArray[np.int32]
    squawk: NDArray[np.int16]
    callsign: NDArray[np.str_]
    responsible: NDArray[np.str_]
    n_sources: NDArray[np.int16]
    sources: NDArray[np.str_]

    DTYPES: ClassVar[dict[str, Any]] = {
        "time_s": np.float64,
        "system_id": np.int64,
        **{k: v for k, v in TrackReports.DTYPES.items() if k not in ("time_s", "owner", "track_id")},
        "responsible": OWNER_DTYPE,
        "n_sources": np.int16,
        "sources": np.str_,
    }
    """The columns of `TrackReports` (system_id instead of owner and track_id) and the make-up;
    `sources` is a text column of whatever width its longest entry needs."""
    DEFAULTS: ClassVar[dict[str, Any]] = {**TrackReports.DEFAULTS, "n_sources": 0}

    def covariance(self) -> NDArray[np.float64]:
        """(K,4,4) horizontal covariance of [east, north, v_east, v_north] in local axes."""
        return horizontal_covariance(self)

    def as_tracks(self) -> Tracks:
        """The `tracks.csv` view: track_id is the system track number (owner make-up and uncertainty dropped)."""
        columns = {k: getattr(self, k) for k in Tracks.DTYPES if k != "track_id"}
        return Tracks.build(len(self), track_id=self.system_id, **columns)

    def owners(self) -> list[tuple[str, ...]]:
        """Per row, the owners whose tracks it fuses (sorted, each once)."""
        by_id: dict[int, set[str]] = {}
        for sid, owner, _ in self.source_links():
            by_id.setdefault(sid, set()).add(owner)
        return [tuple(sorted(by_id.get(sid, ()))) for sid in self.system_id.tolist()]

    def fed_by(self, owner: str) -> NDArray[np.bool_]:
        """Per row, whether one of `owner`'s tracks is fused into it (vectorised over `sources`)."""
        if len(self) == 0:
            return np.zeros(0, dtype=bool)
        return np.char.find(np.char.add(";", self.sources), f";{owner}:") >= 0

    def source_links(self) -> list[tuple[int, str, int]]:
        """(system_id, owner, track_id) of every fused source track, parsed from `sources`."""
        out: list[tuple[int, str, int]] = []
        for sid, text in zip(self.system_id.tolist(), self.sources.tolist(), strict=True):
            for item in str(text).split(";"):
                if item:
                    owner, _, track = item.rpartition(":")
                    out.append((int(sid), owner, int(track)))
        return out
