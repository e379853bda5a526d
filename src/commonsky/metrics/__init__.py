"""Evaluation against truth: tracks (GOSPA/OSPA, RMSE, completeness, continuity, table and plot) and each sensor's
surveillance quality (Pd, registration errors, Mode A/C, false plots) against a requirement set."""

from commonsky.metrics.evaluation import DOMAIN_CUTOFF_M, Evaluation, domains_of, evaluate, in_domain
from commonsky.metrics.quality import (
    QualityReport,
    Requirement,
    RequirementResult,
    RequirementSet,
    SensorQuality,
    evaluate_quality,
    render_quality_tables,
    sensor_quality,
)
from commonsky.metrics.report import plot_evaluation, render_table
from commonsky.metrics.set_metrics import GospaResult, gospa, ospa

__all__ = [
    "DOMAIN_CUTOFF_M",
    "Evaluation",
    "GospaResult",
    "QualityReport",
    "Requirement",
    "RequirementResult",
    "RequirementSet",
    "SensorQuality",
    "domains_of",
    "evaluate",
    "evaluate_quality",
    "gospa",
    "in_domain",
    "ospa",
    "plot_evaluation",
    "render_quality_tables",
    "render_table",
    "sensor_quality",
]
