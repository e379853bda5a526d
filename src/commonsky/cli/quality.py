"""`commonsky quality`: each sensor's surveillance quality against truth, a Rich table per sensor and quality.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from commonsky.cli.common import console, fail
from commonsky.core.errors import CommonskyError, ConfigError, SchemaError


def quality(
    sensors: Annotated[Path, typer.Option("--sensors", help="sensors.json", exists=True, dir_okay=False)],
    plots: Annotated[
        Path,
        typer.Option(
            "--plots", help="plots.csv with truth_id, as commonsky simulate writes it", exists=True, dir_okay=False
        ),
    ],
    json_out: Annotated[Path, typer.Option("--json", help="Write quality.json here (docs/formats.md).")],
    truth: Annotated[
        Path | None, typer.Option("--truth", help="truth.csv: the reference", exists=True, dir_okay=False)
    ] = None,
    requirements: Annotated[
        Path | None,
        typer.Option(
            "--requirements",
            help="Requirement set (TOML); default: the EUROCONTROL radar standard (examples/quality).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Each sensor's quality against truth: Pd, range/azimuth bias and SD, time offset, Mode A/C, false plots.

    Pd per scan in coverage, the biases estimated jointly with the time-stamp offset, each with its 95 % interval, and
    pass/fail per requirement (docs/formats.md, "quality.json")."""
    from commonsky.formats import read_plots, read_sensors, read_truth
    from commonsky.metrics import RequirementSet, evaluate_quality, render_quality_tables

    if truth is None:
        raise fail(
            ConfigError(
                "commonsky quality",
                "--truth",
                "required: truth is the only reference so far (the ADS-B and fused references are not built yet)",
            )
        )
    try:
        specs = read_sensors(sensors)
        plot_batch = read_plots(plots)
        truth_batch = read_truth(truth)
        required = RequirementSet.load() if requirements is None else RequirementSet.load(requirements)
        if not (plot_batch.truth_id >= 0).any():
            raise SchemaError(f"{plots}: no plot carries a truth_id (the answer key of commonsky simulate)")
    except CommonskyError as exc:
        raise fail(exc) from None
    with console.status("measuring each sensor against truth"):
        report = evaluate_quality(specs, plot_batch, truth_batch, required)
    for table in render_quality_tables(report):
        console.print(table)
    console.print(f"requirements: {report.requirement_set.name}")
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report.as_dict(), indent=2, allow_nan=False) + "\n")
    console.print(f"quality -> {json_out}")
