"""`SystemTracks`: the common recognised air picture, one row per system track at one fusion time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import Col, Columns, TrackReports, Tracks, horizontal_covariance


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

    time_s: Col.F64
    system_id: Col.I64
    lat_deg: Col.F64
    lon_deg: Col.F64
    alt_m: Col.F64
    v_east_mps: Col.F64
    v_north_mps: Col.F64
    v_up_mps: Col.F64
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
    responsible: Col.Owner
    n_sources: Col.I16
    sources: Annotated[NDArray[np.str_], np.str_]
    """A text column of whatever width its longest entry needs."""

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
