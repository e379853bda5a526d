"""Evaluation of tracks against truth: GOSPA/OSPA, RMSE, completeness and continuity, with table and plot."""

from commonsky.metrics.evaluation import DOMAIN_CUTOFF_M, Evaluation, domains_of, evaluate, in_domain
from commonsky.metrics.report import plot_evaluation, render_table
from commonsky.metrics.set_metrics import GospaResult, gospa, ospa

__all__ = [
    "DOMAIN_CUTOFF_M",
    "Evaluation",
    "GospaResult",
    "domains_of",
    "evaluate",
    "gospa",
    "in_domain",
    "ospa",
    "plot_evaluation",
    "render_table",
]
