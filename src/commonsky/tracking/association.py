"""Pre-gating and one-to-one assignment over sparse candidate pairs (the solvers behind `associate.GNN`).

Pairs come as flat arrays (a, b, cost). Independent clusters are found as connected components of
the bipartite pair graph and each is solved exactly by `scipy.optimize.linear_sum_assignment`;
singletons are assigned without a solver call. Fusion uses the same solver for its own pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from commonsky.core.arrays import F64, I64


def pregate_pairs(plot_en: F64, track_en: F64, radius_m: F64) -> tuple[I64, I64]:
    """All (plot, track) pairs whose approximate positions are within each plot's radius: k-d tree, ~linear cost."""
    if len(plot_en) == 0 or len(track_en) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tree = cKDTree(track_en)
    neighbours = tree.query_ball_point(plot_en, r=radius_m, return_sorted=False)
    counts = np.fromiter((len(nb) for nb in neighbours), dtype=np.int64, count=len(neighbours))
    plots = np.repeat(np.arange(len(plot_en), dtype=np.int64), counts)
    tracks = np.fromiter((t for nb in neighbours for t in nb), dtype=np.int64, count=int(counts.sum()))
    return plots, tracks


def assign_pairs(a: I64, b: I64, cost: F64) -> I64:
    """Minimum-total-cost one-to-one choice among candidate pairs (a[k], b[k]); returns the chosen k.

    The pair graph is split into connected components; a component with one pair needs no
    solver, the others are solved exactly by `linear_sum_assignment` on a dense block.
    """
    if len(a) == 0:
        return np.zeros(0, np.int64)
    a_values, a_index = np.unique(a, return_inverse=True)
    b_values, b_index = np.unique(b, return_inverse=True)
    na = len(a_values)
    n = na + len(b_values)
    graph = coo_matrix((np.ones(len(a)), (a_index, na + b_index)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    pair_label = labels[a_index]
    order = np.argsort(pair_label, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(pair_label[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    single = (ends - starts) == 1
    chosen: list[I64] = [order[starts[single]]]
    for s, e in zip(starts[~single], ends[~single], strict=True):
        idx = order[s:e]
        rows, r_inv = np.unique(a_index[idx], return_inverse=True)
        cols, c_inv = np.unique(b_index[idx], return_inverse=True)
        big = float(np.abs(cost[idx]).max()) * 10.0 + 1e6
        matrix = np.full((len(rows), len(cols)), big)
        matrix[r_inv, c_inv] = cost[idx]
        r_sel, c_sel = linear_sum_assignment(matrix)
        ok = matrix[r_sel, c_sel] < big
        lookup = np.full((len(rows), len(cols)), -1, dtype=np.int64)
        lookup[r_inv, c_inv] = idx
        chosen.append(lookup[r_sel[ok], c_sel[ok]])
    return np.sort(np.concatenate(chosen))
