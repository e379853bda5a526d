"""The association seam: an `Associator` turns one slice's gated candidates into weighted hypotheses.

Plots that `gating` found near tracks come as `Candidates`, which an `Associator` turns into
`Hypotheses`: per track and sensor, candidate plots with their association probabilities and the
probability that none of them is the target's. GNN, the default, gives weights 0/1; JPDA (`jpda`)
splits them, and the IMM update (`update`) applies either as it comes. Both are columnar (arrays
over pairs), never an object per plot. `associators.ASSOCIATORS` names them for configurations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from commonsky.core.arrays import F64, I64
from commonsky.tracking.association import assign_pairs


@dataclass(frozen=True)
class Candidates:
    """Gated (plot, track row) pairs of one slice, columnar: what an associator chooses among."""

    plot: I64
    row: I64
    scan: I64
    """(track row, sensor) key of the pair: a track takes at most one plot per sensor scan in a slice."""
    d2: F64
    """Squared Mahalanobis distance, scaled to the 2-D gate for plots with a height."""
    logdet: F64
    """Log-determinant of the innovation covariance: d2 + logdet is -2 log-likelihood plus a constant."""
    penalty: F64
    """Extra cost of identity clues that disagree (Mode A codes both known and different)."""
    loglik: F64
    """Log-likelihood of the plot under the track's prediction, in the plot's measurement space."""
    pd: F64
    """Detection probability of the plot's sensor."""
    clutter_density: F64
    """Expected false plots per scan per unit of the plot's measurement space (the sensor's estimate)."""
    gate_probability: float
    """Probability that a target's own plot falls inside the gate."""

    def __len__(self) -> int:
        return len(self.plot)


@dataclass(frozen=True)
class Hypotheses:
    """Weighted association hypotheses, columnar: hypothesis h updates track `row[h]` with the candidates
    whose `owner` is h, each plot with its probability `weight`; `missed[h]` is the probability that none
    of them is the target's (weights and missed sum to one per hypothesis; owners are non-decreasing)."""

    row: I64
    missed: F64
    owner: I64
    plot: I64
    weight: F64

    def __len__(self) -> int:
        return len(self.row)

    @classmethod
    def certain(cls, plot: I64, row: I64) -> Hypotheses:
        """Track row[k] takes plot[k] for sure (GNN, or a matching Mode S address)."""
        n = len(plot)
        return cls(row=row, missed=np.zeros(n), owner=np.arange(n, dtype=np.int64), plot=plot, weight=np.ones(n))

    @classmethod
    def concat(cls, parts: Sequence[Hypotheses]) -> Hypotheses:
        """The hypotheses of all parts, in order."""
        if not parts:
            return cls.certain(np.zeros(0, np.int64), np.zeros(0, np.int64))
        offsets = np.cumsum([0] + [len(h) for h in parts[:-1]])
        return cls(
            row=np.concatenate([h.row for h in parts]),
            missed=np.concatenate([h.missed for h in parts]),
            owner=np.concatenate([h.owner + o for h, o in zip(parts, offsets, strict=True)]),
            plot=np.concatenate([h.plot for h in parts]),
            weight=np.concatenate([h.weight for h in parts]),
        )


@runtime_checkable
class Associator(Protocol):
    """Turns one slice's gated candidates into weighted hypotheses (Stone Soup's data associator)."""

    def associate(self, candidates: Candidates) -> Hypotheses:
        """Hypotheses for the tracks among the candidates; a track left out keeps its state."""
        ...


class GNN:
    """Global nearest neighbour: the minimum-total-cost one-to-one choice of plots for (track, sensor) scans.

    Independent clusters are solved exactly (`association.assign_pairs`); every chosen pair is a
    hypothesis of weight one, every other candidate weight zero (left out).
    """

    def associate(self, candidates: Candidates) -> Hypotheses:
        """The chosen pairs, each for sure."""
        c = candidates
        picked = assign_pairs(c.plot, c.scan, c.d2 + c.logdet + c.penalty)
        return Hypotheses.certain(c.plot[picked], c.row[picked])
