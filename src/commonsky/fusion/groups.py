"""One `fuse` call's working view: the aged store's rows as a `Context`, system tracks as `Groups` of rows, their CI.

The association steps (`links`) and the output (`picture`) all read the same per-row arrays and
the same grouping of linked rows by system number; `fuse_groups` combines each group by covariance
intersection (step 6 of `engine`). A different combination rule replaces `fuse_groups` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from commonsky.core.arrays import F64, I64, B, Rows
from commonsky.fusion import kernels
from commonsky.fusion.config import FusionConfig

_BIG = np.iinfo(np.int64).max


@dataclass
class Context(Rows):
    """Per-call arrays aligned with the store rows (after ageing), shared by the steps."""

    cfg: FusionConfig
    now_s: float
    owner: I64
    time: F64
    qkey: F64
    """Quality with NaN as -1, for ordering."""
    mode_s: I64
    """Each row's address: its Mode S address, or a vessel's MMSI (the two never meet: domains never mix)."""
    squawk: I64
    vessel: B
    """Rows of the surface domain: they fuse only with each other."""
    xe: F64
    Pe: F64
    sigma: F64
    """Position σ (m) of each extrapolated row, for pre-gating."""
    w0: F64
    """CI weight of each row at the last call, where the weight optimisation starts."""


@dataclass(frozen=True)
class Groups:
    """Linked rows grouped by system number; within a group, best quality first."""

    rows: I64
    starts: I64
    """Group g is rows[starts[g]:starts[g+1]]."""
    number: I64
    """System number of each group, ascending."""

    @property
    def n(self) -> int:
        """Number of groups (system tracks)."""
        return len(self.number)

    def group_of_position(self) -> I64:
        """Group index of each position in `rows`."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.starts))


def group_links(link: I64, qkey: F64) -> Groups:
    """The rows with a link (>= 0) grouped by system number, ascending; best quality first within a group."""
    rows = np.flatnonzero(link >= 0)
    order = np.lexsort((-qkey[rows], link[rows]))
    rows = rows[order]
    lk = link[rows]
    heads = np.flatnonzero(np.r_[True, lk[1:] != lk[:-1]]) if len(rows) else np.zeros(0, np.int64)
    return Groups(rows, np.r_[heads, len(rows)].astype(np.int64), lk[heads])


def first_valid(valid: B, g: Groups) -> I64:
    """Per group, the first row (in group order) where `valid` holds, or -1."""
    if g.n == 0:
        return np.zeros(0, np.int64)
    pos = np.where(valid[g.rows], np.arange(len(g.rows)), _BIG)
    first = np.minimum.reduceat(pos, g.starts[:-1])
    return np.where(first < _BIG, g.rows[np.minimum(first, len(g.rows) - 1)], -1)


def min_row(key: F64, g: Groups) -> I64:
    """Per group, the first row (in group order) with the smallest finite key, or -1."""
    k = key[g.rows]
    smallest = np.minimum.reduceat(k, g.starts[:-1])
    pos = np.where(np.isfinite(k) & (k == np.repeat(smallest, np.diff(g.starts))), np.arange(len(g.rows)), _BIG)
    first = np.minimum.reduceat(pos, g.starts[:-1])
    return np.where(first < _BIG, g.rows[np.minimum(first, len(g.rows) - 1)], -1)


@dataclass(frozen=True)
class Fused:
    """The fused estimate of each group of `groups`, with what association needs of it."""

    groups: Groups
    x: F64
    P: F64
    weight: F64
    """CI weight of each row of `groups.rows`."""
    mask: I64
    """Bit set of the owner codes in each group."""
    addr: I64
    """Known Mode S address (or MMSI) of each group (-1 none)."""
    squawk: I64
    vessel: B
    """Groups of the surface domain."""


def fuse_groups(g: Groups, ctx: Context) -> Fused:
    """Step 6: each group's members by covariance intersection, started from the last call's weights."""
    cfg = ctx.cfg
    if g.n == 0:
        empty = np.zeros(0, np.int64)
        return Fused(g, np.zeros((0, 4)), np.zeros((0, 4, 4)), np.zeros(0), empty, empty, empty, empty.astype(bool))
    xs, Ps, weight, ok = kernels.covariance_intersection(
        ctx.xe[g.rows],
        ctx.Pe[g.rows],
        g.starts,
        ctx.w0[g.rows],
        cfg.ci_criterion == "trace",
        cfg.ci_smoothing,
        cfg.ci_max_iterations,
        cfg.ci_tolerance,
    )
    if not ok.all():  # cannot happen for validated inputs; fall back to the best member
        best = g.rows[g.starts[:-1]]
        xs[~ok] = ctx.xe[best[~ok]]
        Ps[~ok] = ctx.Pe[best[~ok]]
    heads = g.starts[:-1]
    mask = np.bitwise_or.reduceat(np.left_shift(np.int64(1), ctx.owner[g.rows]), heads)
    addr = np.maximum.reduceat(ctx.mode_s[g.rows], heads)
    sq_row = first_valid(ctx.squawk >= 0, g)
    squawk = np.where(sq_row >= 0, ctx.squawk[sq_row], -1)
    vessel = np.maximum.reduceat(ctx.vessel[g.rows], heads)
    return Fused(g, xs, Ps, weight, mask, addr, squawk, vessel)


def identity_cost(ctx: Context, addr_a: I64, addr_b: I64, squawk_a: I64, squawk_b: I64, d2: F64) -> F64:
    """Association cost of pairs: the chi-square distance, less the address bonus, plus the Mode A mismatch cost."""
    cfg = ctx.cfg
    same_addr = (addr_a >= 0) & (addr_a == addr_b)
    squawk_differs = (squawk_a >= 0) & (squawk_b >= 0) & (squawk_a != squawk_b)
    return d2 + cfg.squawk_mismatch_cost * squawk_differs - cfg.address_bonus * same_addr
