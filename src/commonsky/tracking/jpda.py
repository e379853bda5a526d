"""Joint probabilistic data association (JPDA): each plot updates every track that may have made it,
weighted by the marginal probability of that assignment over all joint events.

The joint events of a cluster (each plot from at most one track, each track's scan giving at most
one plot, the rest clutter) are not enumerated: their marginals come from loopy belief propagation
on the bipartite graph of scans and plots (Williams & Lau, "Approximate evaluation of marginal
association probabilities with belief propagation", IEEE TAES 2014), which is exact on trees, within
a few per cent of exact JPDA elsewhere, linear in the number of gated pairs and vectorised here over
all pairs at once. Per pair the likelihood ratio of plot versus clutter is pd N(innovation; 0, S) /
clutter density; a scan's weight of seeing nothing is 1 - pd pg (pg: the gate's probability).
"""

from __future__ import annotations

import numpy as np

from commonsky.core.arrays import F64, I64
from commonsky.tracking.associate import Candidates, Hypotheses

BP_ITERATIONS = 50
"""Most belief-propagation sweeps (convergence takes about ten on dense clusters)."""
BP_TOLERANCE = 1e-7
"""Sweeps stop when no message moves by more than this."""


class JPDA:
    """Joint probabilistic data association with marginals by belief propagation (module docstring).

    Gives every gated (scan, plot) pair its marginal probability and each scan the probability that
    none of its plots is the target's; the IMM update applies them as a mixture (PDA per model).
    """

    def associate(self, candidates: Candidates) -> Hypotheses:
        """One hypothesis per (track, sensor) scan with all its gated plots, weights summing to one with the miss."""
        c = candidates
        if len(c) == 0:
            return Hypotheses.certain(np.zeros(0, np.int64), np.zeros(0, np.int64))
        order = np.lexsort((c.plot, c.scan))
        scan_key, plot = c.scan[order], c.plot[order]
        scans, target = np.unique(scan_key, return_inverse=True)
        _, measurement = np.unique(plot, return_inverse=True)
        # Likelihood ratio of each pair, relative to its scan seeing nothing (log domain for the range).
        miss = 1.0 - c.pd[order] * c.gate_probability
        log_ratio = np.log(c.pd[order]) + c.loglik[order] - np.log(c.clutter_density[order]) - c.penalty[order] / 2.0
        first_of_target = np.r_[0, np.flatnonzero(np.diff(target)) + 1]
        ratio = np.exp(np.minimum(log_ratio - np.log(miss), 700.0))
        weight, missed = marginals(target, measurement, ratio, len(scans))
        rows = c.row[order][first_of_target]
        return Hypotheses(row=rows, missed=missed, owner=target.astype(np.int64), plot=plot, weight=weight)


def marginals(target: I64, measurement: I64, ratio: F64, n_targets: int) -> tuple[F64, F64]:
    """Marginal association probabilities by belief propagation over pairs (target[k], measurement[k]).

    `ratio[k]` is the likelihood of pair k relative to its target being missed. Returns per pair the
    probability that its target made its measurement, and per target the probability of no measurement.
    """
    n_measurements = int(measurement.max()) + 1 if len(measurement) else 0
    from_measurement = np.ones(len(ratio))
    for _ in range(BP_ITERATIONS):
        weighted = ratio * from_measurement
        per_target = np.bincount(target, weighted, n_targets)
        from_target = ratio / (1.0 + per_target[target] - weighted)
        per_measurement = np.bincount(measurement, from_target, n_measurements)
        updated = 1.0 / (1.0 + per_measurement[measurement] - from_target)
        converged = np.max(np.abs(updated - from_measurement)) < BP_TOLERANCE
        from_measurement = updated
        if converged:
            break
    weighted = ratio * from_measurement
    total = (1.0 + np.bincount(target, weighted, n_targets)).astype(np.float64)
    return weighted / total[target], 1.0 / total
