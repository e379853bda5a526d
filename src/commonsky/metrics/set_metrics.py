"""GOSPA and OSPA between two finite point sets, solved sparsely so thousands of points stay cheap.

GOSPA (Rahmathullah, García-Fernández, Svensson 2017) with alpha = 2 and cut-off c is

    GOSPA(X, Y) = ( min over partial assignments γ of
                    Σ_{(i,j)∈γ} d(x_i, y_j)^p + c^p/2 · (|X| − |γ|) + c^p/2 · (|Y| − |γ|) )^(1/p)

with d cut at c. Assigning a pair at distance d ≥ c costs c^p, exactly what leaving both points
unassigned costs, so the optimum only needs pairs closer than c. That makes the problem sparse: a
KD-tree finds the candidate pairs within c, the bipartite candidate graph splits into connected
components, and each component is solved on its own (exact, because no optimal assignment links two
components): small ones by enumeration vectorised over all components of the same shape, larger ones
with the Hungarian method.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from commonsky.core.arrays import F64, I64


@dataclass(frozen=True)
class GospaResult:
    """One GOSPA evaluation; the three parts are contributions to the p-th-power sum (squared sum for p=2).

    total = (localisation + missed + false) ** (1/p), where
    localisation = Σ d^p over assigned pairs (all with d < c), missed = c^p/2 · #unassigned X,
    false = c^p/2 · #unassigned Y. `assignment` holds the (index in X, index in Y) pairs, shape (k, 2).
    """

    total: float
    localisation: float
    missed: float
    false: float
    assignment: I64


@dataclass(frozen=True)
class Pairs:
    """Pairs between two point sets (candidates or an assignment): indices into X and Y, and distances."""

    i: I64
    j: I64
    distance: F64


def optimal_pairs(X: F64, Y: F64, c: float, p: float = 2.0) -> Pairs:
    """Assignment minimising Σ (d^p − c^p) over pairs closer than c: the optimum of GOSPA (alpha=2) and OSPA.

    Both metrics differ from that sum only by terms fixed by |X|, |Y| and c, so one solver serves
    both. Result is sorted by index into X.
    """
    return best_assignment(len(X), len(Y), candidate_pairs(X, Y, c), c, p)


def candidate_pairs(X: F64, Y: F64, c: float) -> Pairs:
    """Every pair (x_i, y_j) closer than c, found with KD-trees."""
    if len(X) == 0 or len(Y) == 0:
        return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    near = cKDTree(X).sparse_distance_matrix(cKDTree(Y), c, output_type="ndarray")
    keep = near["v"] < c
    return Pairs(near["i"][keep].astype(np.int64), near["j"][keep].astype(np.int64), near["v"][keep].astype(np.float64))


def best_assignment(m: int, n: int, candidates: Pairs, c: float, p: float = 2.0) -> Pairs:
    """The subset of `candidates` (a one-to-one assignment between m and n points) minimising Σ (d^p − c^p).

    The candidate graph is split into connected components, which are independent problems.
    Components of one shape (a points of X, b of Y) are solved together, by enumerating every
    injection of the smaller side when there are at most `MAX_ENUMERATED` of them (vectorised over
    the components), else one Hungarian solve per component.
    """
    ei, ej = candidates.i, candidates.j
    if len(ei) == 0:
        return candidates
    graph = coo_matrix((np.ones(len(ei)), (ei, m + ej)), shape=(m + n, m + n))
    _, labels = connected_components(graph, directed=False)
    label_x, label_y = labels[:m], labels[m:]
    size_x = np.bincount(label_x, minlength=labels.max() + 1)
    size_y = np.bincount(label_y, minlength=labels.max() + 1)
    comp = label_x[ei]
    row, col = _rank_within_label(label_x)[ei], _rank_within_label(label_y)[ej]
    gain = candidates.distance**p - c**p
    shape = size_x[comp] * (n + 1) + size_y[comp]
    order = np.argsort(shape, kind="stable")
    chosen = [
        _solve_shape(int(size_x[comp[g[0]]]), int(size_y[comp[g[0]]]), comp[g], row[g], col[g], gain[g], g)
        for g in np.split(order, np.flatnonzero(np.diff(shape[order])) + 1)
    ]
    sel = np.concatenate(chosen)
    sel = sel[np.argsort(ei[sel], kind="stable")]
    return Pairs(ei[sel], ej[sel], candidates.distance[sel])


MAX_ENUMERATED = 120
"""Largest number of injections enumerated per component (5 x 5); bigger components go to the Hungarian solver."""


def _solve_shape(a: int, b: int, comp: I64, row: I64, col: I64, gain: F64, edge: I64) -> I64:
    """Best edges of all components with a X-points and b Y-points; edges given by component and local row/col."""
    slot = np.unique(comp, return_inverse=True)[1]
    k = int(slot.max()) + 1
    cost = np.zeros((k, a, b))
    edge_at = np.full((k, a, b), -1, dtype=np.int64)
    cost[slot, row, col] = gain
    edge_at[slot, row, col] = edge
    if a > b:
        cost, edge_at, a, b = cost.transpose(0, 2, 1), edge_at.transpose(0, 2, 1), b, a
    # Gains are negative on candidate edges and 0 elsewhere, so a best full injection of the smaller
    # side, with its non-candidate cells dropped, is a best partial assignment.
    if math.perm(b, a) <= MAX_ENUMERATED:
        injections = np.array(list(itertools.permutations(range(b), a)), dtype=np.int64)
        rows = np.arange(a)
        best = injections[np.argmin(cost[:, rows, injections].sum(axis=2), axis=1)]
        picked = edge_at[np.arange(k)[:, None], rows, best].ravel()
    else:
        picked = np.concatenate([e[linear_sum_assignment(g)] for g, e in zip(cost, edge_at, strict=True)])
    return picked[picked >= 0]


def _rank_within_label(labels: I64) -> I64:
    """Position of each element among the elements sharing its label (0, 1, ... in index order)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - np.searchsorted(sorted_labels, sorted_labels, side="left")
    return rank


def _as_point_sets(X: ArrayLike, Y: ArrayLike) -> tuple[F64, F64]:
    """Both sets as (k, d) float arrays; an empty set may come as any empty array."""
    x = np.asarray(X, dtype=np.float64)
    y = np.asarray(Y, dtype=np.float64)
    dim = x.shape[1] if x.ndim == 2 else y.shape[1] if y.ndim == 2 else 1
    x = x.reshape(-1, dim) if x.size == 0 else x
    y = y.reshape(-1, dim) if y.size == 0 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"point sets must be (m, d) and (n, d) arrays, got {x.shape} and {y.shape}")
    return x, y


def _check(c: float, p: float) -> None:
    """Reject a cut-off or order outside the metrics' definition."""
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"cut-off c must be positive and finite, got {c}")
    if not p >= 1:
        raise ValueError(f"order p must be >= 1, got {p}")


def gospa(X: ArrayLike, Y: ArrayLike, c: float, p: float = 2, alpha: float = 2) -> GospaResult:
    """GOSPA distance between truth points X (m, d) and estimates Y (n, d), with its split.

    Only alpha = 2 is accepted: it is the value for which GOSPA splits into localisation, missed
    and false parts, which is what the metric is used for here.
    """
    if alpha != 2:
        raise ValueError(f"only alpha = 2 is supported (it gives the missed/false split), got {alpha}")
    _check(c, p)
    x, y = _as_point_sets(X, Y)
    pairs = optimal_pairs(x, y, c, p)
    k = len(pairs.i)
    localisation = float(np.sum(pairs.distance**p))
    missed = c**p / 2 * (len(x) - k)
    false = c**p / 2 * (len(y) - k)
    total = (localisation + missed + false) ** (1 / p)
    return GospaResult(float(total), localisation, float(missed), float(false), np.column_stack([pairs.i, pairs.j]))


def ospa(X: ArrayLike, Y: ArrayLike, c: float, p: float = 2) -> float:
    """OSPA distance (Schuhmacher, Vo, Vo 2008) between X (m, d) and Y (n, d); 0 when both are empty.

    OSPA^p = (min over assignments of Σ min(d, c)^p + c^p · ||X| − |Y||) / max(|X|, |Y|); its
    optimal assignment is the GOSPA one, since both differ from Σ (d^p − c^p) by constants.
    """
    _check(c, p)
    x, y = _as_point_sets(X, Y)
    size = max(len(x), len(y))
    if size == 0:
        return 0.0
    pairs = optimal_pairs(x, y, c, p)
    total = np.sum(pairs.distance**p) + c**p * (size - len(pairs.i))
    return float((total / size) ** (1 / p))
