"""`SystemTracks`: the common recognised air picture, one row per system track at one fusion time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from commonsky.core.batches import Col, Columns, TrackEstimate, Tracks


@dataclass(frozen=True, eq=False)
class _SystemKey(Columns):
    """The leading columns of `SystemTracks`: when, and which system track."""

    time_s: Col.F64
    system_id: Col.I64


@dataclass(frozen=True, eq=False)
class SystemTracks(TrackEstimate, _SystemKey):
    """Fused system tracks in the same terms as `TrackReports` (frame-independent), plus their make-up.

    `system_id` is the stable system track number (never reused). Position in WGS-84, velocity and
    the horizontal covariance in local east/north axes at the aircraft; altitude variance separately
    (NaN when no source knows the altitude). `responsible` is the owner whose track is reported for
    the system track (see `commonsky.fusion` on reporting responsibility), `n_sources` the number of
    owners' tracks fused, `sources` these tracks as "owner:track_id" joined by ";" in order of
    decreasing quality. `quality` is the best source quality; identity (Mode S address, Mode A code,
    callsign) comes from the best-quality source that has it.
    """

    responsible: Col.Owner
    n_sources: Col.I16
    sources: Annotated[NDArray[np.str_], np.str_]
    """A text column of whatever width its longest entry needs."""

    DEFAULTS: ClassVar[dict[str, Any]] = {**TrackEstimate.DEFAULTS, "n_sources": 0}

    def as_tracks(self) -> Tracks:
        """The `tracks.csv` view: track_id is the system track number (owner make-up and uncertainty dropped;
        `on_ground` unknown, as partners' reports do not carry it)."""
        columns = {k: getattr(self, k) for k in Tracks.DTYPES if k not in ("track_id", "on_ground")}
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
