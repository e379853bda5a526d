"""Candidate pairs and one-to-one assignment for track-to-track association.

Pre-gate: a pair can pass a chi-square gate g only if its horizontal distance is at most
sqrt(g) (σa + σb), where σ is the square root of the largest eigenvalue of each position
covariance (sqrt(λmax(Pa + Pb)) <= σa + σb). A k-d tree finds those pairs in about linear time;
the few estimates with very large σ are queried the other way round so that they do not inflate
every query radius. Pairs with the same Mode S address are found by a join on the address, since
they are allowed a larger gate. Assignment: connected components of the bipartite candidate
graph, each solved exactly by `scipy.optimize.linear_sum_assignment` (global nearest neighbour).
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from commonsky.core.arrays import F64, I64, B
from commonsky.tracking.association import assign_pairs

_EMPTY = np.zeros(0, np.int64)
LARGE_SIGMA_QUANTILE = 0.99
"""Estimates above this quantile of position σ are pre-gated separately."""


def position_sigma(P: F64) -> F64:
    """Square root of the largest eigenvalue of each (K, ≥2, ≥2) matrix's 2x2 position block (m)."""
    a, b, c = P[:, 0, 0], P[:, 0, 1], P[:, 1, 1]
    half = 0.5 * (a + c)
    return np.sqrt(half + np.sqrt(np.maximum(0.25 * (a - c) ** 2 + b * b, 0.0)))


def _flatten(lists: NDArray[np.object_] | list[list[int]]) -> tuple[I64, I64]:
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    owners = np.repeat(np.arange(len(lists), dtype=np.int64), counts)
    values = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
    return owners, values


def radius_pairs(pa: F64, sa: F64, pb: F64, sb: F64, k: float, cap_m: float) -> tuple[I64, I64]:
    """All (a, b) with |pa - pb| <= min(k (sa + sb), cap_m), as index arrays into a and b."""
    if len(pa) == 0 or len(pb) == 0:
        return _EMPTY, _EMPTY
    s_cut = float(np.quantile(sb, LARGE_SIGMA_QUANTILE)) if len(sb) > 100 else float(sb.max())
    normal = np.flatnonzero(sb <= s_cut)
    big = np.flatnonzero(sb > s_cut)
    ia_parts: list[I64] = []
    ib_parts: list[I64] = []
    if len(normal):
        tree = cKDTree(pb[normal])
        radius = np.minimum(k * (sa + s_cut), cap_m)
        qa, qb = _flatten(tree.query_ball_point(pa, r=radius, return_sorted=False))
        ia_parts.append(qa)
        ib_parts.append(normal[qb])
    if len(big):
        tree = cKDTree(pa)
        radius = np.minimum(k * (sb[big] + float(sa.max())), cap_m)
        qb, qa = _flatten(tree.query_ball_point(pb[big], r=radius, return_sorted=False))
        ia_parts.append(qa)
        ib_parts.append(big[qb])
    ia = np.concatenate(ia_parts)
    ib = np.concatenate(ib_parts)
    dist = np.hypot(pa[ia, 0] - pb[ib, 0], pa[ia, 1] - pb[ib, 1])
    keep = dist <= np.minimum(k * (sa[ia] + sb[ib]), cap_m)
    return ia[keep], ib[keep]


def address_pairs(addr_a: I64, addr_b: I64) -> tuple[I64, I64]:
    """All (a, b) whose known Mode S addresses (>= 0) are equal."""
    ka = np.flatnonzero(addr_a >= 0)
    kb = np.flatnonzero(addr_b >= 0)
    if len(ka) == 0 or len(kb) == 0:
        return _EMPTY, _EMPTY
    order = kb[np.argsort(addr_b[kb], kind="stable")]
    sorted_b = addr_b[order]
    lo = np.searchsorted(sorted_b, addr_a[ka], side="left")
    hi = np.searchsorted(sorted_b, addr_a[ka], side="right")
    counts = hi - lo
    ia = np.repeat(ka, counts)
    starts = np.repeat(lo - np.r_[0, np.cumsum(counts)[:-1]], counts)
    ib = order[np.arange(len(ia)) + starts]
    return ia.astype(np.int64), ib.astype(np.int64)


def candidate_pairs(
    pa: F64, sa: F64, addr_a: I64, pb: F64, sb: F64, addr_b: I64, gate_chi2: float, cap_m: float
) -> tuple[I64, I64]:
    """Unique (a, b) pairs that may pass the gate: in the pre-gate radius or sharing an address; all within cap_m."""
    ra, rb = radius_pairs(pa, sa, pb, sb, float(np.sqrt(gate_chi2)), cap_m)
    xa, xb = address_pairs(addr_a, addr_b)
    if len(xa):
        near = np.hypot(pa[xa, 0] - pb[xb, 0], pa[xa, 1] - pb[xb, 1]) <= cap_m
        ra = np.concatenate([ra, xa[near]])
        rb = np.concatenate([rb, xb[near]])
    if len(ra) == 0:
        return _EMPTY, _EMPTY
    key = np.unique(ra * np.int64(len(pb)) + rb)
    return key // len(pb), key % len(pb)


def pair_compatible(addr_a: I64, addr_b: I64, d2: F64, gate_chi2: float, address_gate_chi2: float) -> B:
    """Pairs inside their gate: the address gate for equal known addresses, never for differing ones."""
    both = (addr_a >= 0) & (addr_b >= 0)
    same = both & (addr_a == addr_b)
    differ = both & (addr_a != addr_b)
    gate = np.where(same, address_gate_chi2, gate_chi2)
    return ~differ & (d2 <= gate)


def assign(ia: I64, ib: I64, cost: F64) -> I64:
    """Minimum-total-cost one-to-one choice among candidate pairs (a, b); returns the chosen pair indices."""
    return assign_pairs(ia, ib, cost)
