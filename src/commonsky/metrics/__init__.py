"""Evaluation of tracks against truth: GOSPA/OSPA, RMSE, completeness and continuity, with table and plot."""

from commonsky.metrics.evaluation import Evaluation, evaluate
from commonsky.metrics.report import plot_evaluation, render_table
from commonsky.metrics.set_metrics import GospaResult, gospa, ospa

__all__ = ["Evaluation", "GospaResult", "evaluate", "gospa", "ospa", "plot_evaluation", "render_table"]
