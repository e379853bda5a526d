"""Commands over files: simulate, track, evaluate, run a scenario or recording, replay a node, decode, list formats."""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from commonsky.cli.common import console, fail, option_group, progress_bar
from commonsky.core.errors import CommonskyError, ConfigError
from commonsky.formats.files import FORMATS
from commonsky.formats.registry import choices_text, formats_table, titles_text

if TYPE_CHECKING:
    from commonsky.core.batches import Plots, Truth
    from commonsky.core.sensors import SensorSpec
    from commonsky.network.runner import PartnerRun
    from commonsky.tracking import TrackerConfig, TrackerState

RECORDINGS = titles_text()
"""The recording formats as help texts name them."""
FORMAT_CHOICES = choices_text(FORMATS)
"""What `--format` accepts, as its help lists it."""
DECODE_HELP = f"Decode a recording ({RECORDINGS}): summary, plots or tracks."
ReferenceOption = Annotated[
    str | None,
    typer.Option(
        "--ref", help="Receiver position LAT,LON: decodes surface positions and positions heard without a CPR pair."
    ),
]


def parse_reference(reference: str | None) -> tuple[float, float] | None:
    """`--ref LAT,LON` as a (lat, lon) pair in degrees; ConfigError when it is not one."""
    if reference is None:
        return None
    try:
        lat, lon = (float(v) for v in reference.split(","))
    except ValueError:
        raise ConfigError("--ref", reference, "expected LAT,LON in degrees, e.g. 49.01,2.55") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ConfigError("--ref", reference, "latitude must lie in [-90, 90] and longitude in [-180, 180]")
    return lat, lon


@dataclass(frozen=True)
class TrackingOptions:
    """The options of every command that tracks plots, a recording's included: each field is one Typer option."""

    fmt: Annotated[str, typer.Option("--format", help="format of a recording (default: auto)")] = "auto"
    sensor_id: Annotated[str, typer.Option("--sensor", help="sensor id for formats that carry none")] = "receiver"
    reference: ReferenceOption = None
    associator: Annotated[
        str | None,
        typer.Option(
            "--associator",
            help="How plots are shared among tracks: gnn (global nearest neighbour, the default) or jpda (joint "
            "probabilistic); overrides the configuration's.",
        ),
    ] = None

    def tracker(self, config: TrackerConfig) -> TrackerConfig:
        """The tracker configuration with `--associator` applied (checked against the associators' registry)."""
        if self.associator is None:
            return config
        from dataclasses import replace

        from commonsky.tracking import TrackerConfig

        checked = TrackerConfig.from_dict({"associator": self.associator}, source="--associator")
        return replace(config, associator=checked.associator)

    def read(self, path: Path, sensors: Path | None) -> tuple[Plots, list[SensorSpec]]:
        """The plots of a contract file or recording at `path`, and their sensors (`_sensors_for`)."""
        reference = parse_reference(self.reference)
        plots = _read_plots_any(path, self.fmt, self.sensor_id, reference)
        return plots, _sensors_for(plots, sensors, reference)


with_tracking_options = option_group(TrackingOptions, "tracking")
"""Commands that track take the `TrackingOptions` as one `tracking` argument."""


def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.", exists=True, dir_okay=False)],
    out: Annotated[
        Path,
        typer.Option("--out", help="Directory for sensors.json, plots.csv, truth.csv, events.json (and vessels.json)."),
    ],
    seed: Annotated[int | None, typer.Option("--seed", help="Overrides the scenario's seed.")] = None,
) -> None:
    """Simulate a scenario's traffic and sensors; write the file contracts of docs/formats.md."""
    from commonsky.sim import load_scenario, write_outputs
    from commonsky.sim import simulate as run_simulation

    try:
        spec = load_scenario(scenario)
        started = time.perf_counter()
        with progress_bar(f"simulating {spec.name}") as progress:
            result = run_simulation(spec, seed=seed, progress=progress)
        with console.status("writing files"):
            write_outputs(result, out)
    except CommonskyError as exc:
        raise fail(exc) from None
    elapsed = time.perf_counter() - started
    console.print(
        f"{len(result.truth.time_s):,} truth rows, {len(result.plots):,} plots from {len(result.sensors)} sensors "
        f"in {elapsed:.1f} s -> {out}"
    )


def _sensors_for(plots: Plots, sensors: Path | None, reference: tuple[float, float] | None) -> list[SensorSpec]:
    """The sensors of `plots`: from sensors.json, else a default ADS-B receiver per sensor id (at `reference`
    when given, else at the mean of its positions).

    Radar plots need their radar's position and accuracy, so a recording with radar plots and no
    sensors.json is refused with the sensor ids that need describing.
    """
    import numpy as np

    from commonsky.core.sensors import SensorKind, SensorSpec
    from commonsky.formats import read_sensors

    if sensors is not None:
        return read_sensors(sensors)
    radar = np.unique(plots.sensor_id[np.isfinite(plots.range_m)])
    if len(radar):
        raise ConfigError("--sensors", "sensors.json", f"radar plots need a description of sensors {radar.tolist()}")
    specs = []
    for sid in np.unique(plots.sensor_id).tolist():
        mine = plots.sensor_id == sid
        lat, lon = reference or (float(np.nanmean(plots.lat_deg[mine])), float(np.nanmean(plots.lon_deg[mine])))
        kind = SensorKind.AIS if plots.surface[mine].all() else SensorKind.ADSB
        specs.append(SensorSpec.receiver(sid, "local", lat, lon, kind))
    return specs


def _is_plots_csv(path: Path) -> bool:
    """True when a CSV's header is the plots.csv contract's (else it is, say, a raw Mode S CSV)."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        header = {name.strip() for name in f.readline().split(",")}
    return {"time_s", "sensor_id"} <= header


def _read_plots_any(path: Path, fmt: str, sensor_id: str, reference: tuple[float, float] | None) -> Plots:
    """plots.csv/.parquet by the file contract, anything else as a recording in a real format."""
    from commonsky.formats import read_plots
    from commonsky.formats.files import decode_file

    suffix = path.suffix.lower()
    if fmt == "auto" and (suffix in (".parquet", ".pq") or (suffix == ".csv" and _is_plots_csv(path))):
        return read_plots(path)
    decoded = decode_file(path, fmt, sensor_id=sensor_id, reference=reference)
    console.print(
        f"decoded {path} as {decoded.format}: {decoded.report.messages:,} messages, "
        f"{decoded.report.errors:,} errors, {len(decoded.plots):,} plots"
    )
    return decoded.plots.sorted_by_time()


@with_tracking_options
def track(
    plots: Annotated[
        Path,
        typer.Option(
            "--plots",
            help=f"plots.csv/.parquet, or a recording ({RECORDINGS})",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="tracks.csv or .parquet to write")],
    sensors: Annotated[
        Path | None,
        typer.Option(
            "--sensors", help="sensors.json (optional for ADS-B-only recordings)", exists=True, dir_okay=False
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="tracker.toml", exists=True, dir_okay=False)] = None,
    tracking: TrackingOptions = TrackingOptions(),
) -> None:
    """Run the multi-sensor tracker over recorded plots and write the picture every output period."""
    from commonsky.formats import write_tracks
    from commonsky.tracking import TrackerConfig, run

    try:
        cfg = tracking.tracker(TrackerConfig.load(config) if config else TrackerConfig())
        plot_batch, sensor_list = tracking.read(plots, sensors)
    except CommonskyError as exc:
        raise fail(exc) from None
    started = time.perf_counter()
    with progress_bar("tracking") as progress:
        tracks, state = run(sensor_list, plot_batch, cfg, progress)
    elapsed = time.perf_counter() - started
    write_tracks(tracks, out)
    stats = state.stats
    table = Table(title="tracker summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("plots in", f"{stats.plots_in:,}")
    table.add_row("ADS-B copies of one broadcast merged", f"{stats.adsb_duplicates:,}")
    table.add_row("plots assigned", f"{stats.plots_assigned:,}")
    table.add_row("tracks started", f"{stats.tracks_started:,}")
    table.add_row("tracks confirmed", f"{stats.tracks_confirmed:,}")
    table.add_row("tracks merged as duplicates", f"{stats.tracks_merged:,}")
    table.add_row("tracks lost (identified, out of contact)", f"{stats.tracks_lost:,}")
    table.add_row("lost tracks re-acquired under their id", f"{stats.tracks_reacquired:,}")
    table.add_row("tracks ended on leaving coverage", f"{stats.tracks_left_coverage:,}")
    table.add_row("Mode S address conflicts", f"{stats.address_conflicts:,}")
    table.add_row("plots per second (wall)", f"{stats.plots_in / max(elapsed, 1e-9):,.0f}")
    console.print(table)
    console.print(registration_table(state))
    console.print(f"wrote {len(tracks):,} track rows -> {out}")


def registration_table(state: TrackerState) -> Table:
    """Each radar's estimated range bias, azimuth bias and time offset with one-sigma uncertainty."""
    from commonsky.tracking import registration_report

    table = Table(title="sensor registration (estimate ± 1σ)")
    for col in ("sensor", "plots used", "range bias m", "azimuth bias deg", "time offset s"):
        table.add_column(col, justify="right")
    for sid, r in registration_report(state).items():
        cells = [
            f"{r[value]:+{fmt}} ± {r[sigma]:{fmt}}" if r["applied"] else "—"
            for value, sigma, fmt in (
                ("range_bias_m", "range_bias_sigma_m", ".1f"),
                ("azimuth_bias_deg", "azimuth_bias_sigma_deg", ".3f"),
                ("time_offset_s", "time_offset_sigma_s", ".2f"),
            )
        ]
        table.add_row(sid, f"{r['samples']}", *cells)
    return table


def evaluate_command(
    truth: Annotated[Path, typer.Option("--truth", help="truth.csv", exists=True, dir_okay=False)],
    tracks: Annotated[Path, typer.Option("--tracks", help="tracks.csv", exists=True, dir_okay=False)],
    cutoff_m: Annotated[
        float | None,
        typer.Option("--cutoff-m", help="GOSPA cut-off c (m); default 5000 for aircraft, 500 for vessels."),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            help="Score one picture: air or surface. Default: each domain the truth holds, one table each.",
        ),
    ] = None,
    max_age_s: Annotated[float, typer.Option("--max-age-s", help="Ignore track rows older than this.")] = 10.0,
    pictures: Annotated[
        bool,
        typer.Option(
            "--pictures",
            help="The file holds complete pictures (as commonsky track and run write them): a track left out of "
            "one has ended, instead of standing until --max-age-s.",
        ),
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the summary as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG: GOSPA over time and a map.")] = None,
) -> None:
    """Score a track file against truth: GOSPA and its split, OSPA, RMSE, completeness, breaks, swaps.

    Aircraft and vessels are scored apart, each with its own cut-off; the JSON holds one summary, or one per
    domain (keyed by domain) when several are scored."""
    from commonsky.core.sensors import DOMAINS
    from commonsky.formats import read_tracks, read_truth
    from commonsky.metrics import DOMAIN_CUTOFF_M, domains_of, evaluate, in_domain, plot_evaluation, render_table

    if domain is not None and domain not in DOMAINS:
        raise fail(ConfigError("--domain", "domain", f"{domain!r} is not one of {', '.join(DOMAINS)}"))
    try:
        truth_all = read_truth(truth)
        tracks_all = read_tracks(tracks)
    except CommonskyError as exc:
        raise fail(exc) from None
    summaries: dict[str, dict[str, float | int | None]] = {}
    for name in [domain] if domain else domains_of(truth_all) or [DOMAINS[0]]:
        truth_batch, track_batch = in_domain(truth_all, tracks_all, name)
        c = cutoff_m if cutoff_m is not None else DOMAIN_CUTOFF_M[name]
        with console.status(f"evaluating the {name} picture"):
            result = evaluate(truth_batch, track_batch, cutoff_m=c, max_age_s=max_age_s, pictures=pictures)
        console.print(f"[bold]{name}[/bold] picture (GOSPA c = {c:g} m)")
        console.print(render_table(result))
        summaries[name] = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.summary.items()
        }
        if plot:
            target = plot if len(summaries) == 1 else plot.with_name(f"{plot.stem}_{name}{plot.suffix}")
            plot_evaluation(result, truth_batch, track_batch, target)
            console.print(f"plot -> {target}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = next(iter(summaries.values())) if len(summaries) == 1 else summaries
        json_out.write_text(json.dumps(payload, indent=2) + "\n")


@with_tracking_options
def run(
    scenario: Annotated[
        Path,
        typer.Argument(
            help=f"Scenario TOML, or a recording ({RECORDINGS}) to run one node over.",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for truth.csv and each partner's pictures.")],
    seed: Annotated[int | None, typer.Option("--seed", help="Overrides the scenario's seed.")] = None,
    sensors: Annotated[
        Path | None,
        typer.Option("--sensors", help="sensors.json for a recording's radars", exists=True, dir_okay=False),
    ] = None,
    tracking: TrackingOptions = TrackingOptions(),
) -> None:
    """Run every partner of a scenario on the in-process bus (local vs fused scores), or one node over a recording."""
    from commonsky.network.runner import run_recording, run_scenario
    from commonsky.sim import load_scenario
    from commonsky.tracking import TrackerConfig

    try:
        tracker = tracking.tracker(TrackerConfig())
    except CommonskyError as exc:
        raise fail(exc) from None

    if scenario.suffix.lower() != ".toml":
        try:
            plot_batch, sensor_list = tracking.read(scenario, sensors)
            with progress_bar(f"running a node over {scenario.name}") as progress:
                result = run_recording(plot_batch, sensor_list, out, progress=progress, tracker=tracker)
        except CommonskyError as exc:
            raise fail(exc) from None
        raised = sum(e["event"] == "raised" for e in result.alert_events)
        tracks = len(set(result.local.track_id.tolist()))
        console.print(
            f"{tracks:,} tracks ({len(result.local):,} rows), {len(set(result.system.system_id.tolist())):,} "
            f"system tracks, {raised:,} alerts -> {out / result.partner}"
        )
        return
    try:
        spec = load_scenario(scenario)
        with progress_bar(f"running {spec.name}") as progress:
            run_result = run_scenario(spec, out, seed=seed, progress=progress, tracker=tracker)
    except CommonskyError as exc:
        raise fail(exc) from None
    console.print(partner_table(run_result.simulation.truth, run_result.partners))
    console.print(f"pictures and recordings -> {out}")


def partner_table(truth: Truth, partners: dict[str, PartnerRun]) -> Table:
    """Per partner: GOSPA, completeness and breaks of its local picture against its fused picture."""
    from commonsky.metrics import DOMAIN_CUTOFF_M, domains_of, evaluate, in_domain

    domains = domains_of(truth)
    cutoffs = ", ".join(f"{d} {DOMAIN_CUTOFF_M[d]:g} m" for d in domains)
    table = Table(title=f"local vs fused picture, per partner (GOSPA c: {cutoffs})")
    for col in ("partner", "picture", "GOSPA m", "missed km²", "false km²", "RMSE m", "completeness", "breaks"):
        table.add_column(col, justify="right")
    for pid, run in partners.items():
        for domain, (label, tracks) in itertools.product(domains, (("local", run.local), ("fused", run.fused))):
            truth_d, tracks_d = in_domain(truth, tracks, domain)
            # Both files are complete pictures per tick.
            s = evaluate(truth_d, tracks_d, cutoff_m=DOMAIN_CUTOFF_M[domain], pictures=True).summary
            table.add_row(
                pid,
                label if len(domains) == 1 else f"{label} {domain}",
                f"{s['gospa_mean']:.0f}",
                f"{s['gospa_missed'] / 1e6:.2f}",
                f"{s['gospa_false'] / 1e6:.2f}",
                f"{s['rmse_position_m']:.1f}",
                f"{100 * s['completeness']:.1f} %",
                f"{s['track_breaks']}",
            )
    return table


def replay(
    recording: Annotated[Path, typer.Argument(help="A node's recording directory.", exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory for local_tracks.csv and fused_tracks.csv.")],
) -> None:
    """Replay a node's recorded inputs through a fresh node: the same local and fused pictures, bit for bit."""
    from commonsky.core.batches import Tracks
    from commonsky.formats import write_tracks
    from commonsky.network.node import replay as replay_node

    try:
        with console.status("replaying"):
            outputs = replay_node(recording)
    except CommonskyError as exc:
        raise fail(exc) from None
    write_tracks(Tracks.concat([o.local for o in outputs]), out / "local_tracks.csv")
    write_tracks(Tracks.concat([o.fused.as_tracks() for o in outputs]), out / "fused_tracks.csv")
    console.print(f"{len(outputs)} ticks replayed -> {out}")


def decode(
    recording: Annotated[Path, typer.Argument(help="A recording file (gzip allowed).", exists=True, dir_okay=False)],
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_CHOICES)] = "auto",
    out: Annotated[
        Path | None, typer.Option("--out", help="plots.csv (radar/ADS-B/AIS reports) or tracks.csv (CAT062)")
    ] = None,
    summary_json: Annotated[Path | None, typer.Option("--summary-json", help="Write the summary as JSON.")] = None,
    sensor_id: Annotated[str, typer.Option("--sensor", help="Sensor id for formats that carry none.")] = "receiver",
    reference: ReferenceOption = None,
    day: Annotated[str | None, typer.Option("--day", help="UTC day YYYY-MM-DD of an ASTERIX recording.")] = None,
) -> None:
    """Decode a recording in any format of `formats.registry` (help: `DECODE_HELP`): summary, plots or tracks."""
    from datetime import UTC, datetime

    from commonsky.formats import write_plots, write_tracks
    from commonsky.formats.files import decode_file

    try:
        ref = parse_reference(reference)
        day_start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() if day else None
    except ValueError as exc:
        raise fail(ConfigError("--day", str(day), str(exc))) from None
    except CommonskyError as exc:
        raise fail(exc) from None
    try:
        with console.status(f"decoding {recording}"):
            decoded = decode_file(recording, fmt, sensor_id=sensor_id, reference=ref, day_start_utc_s=day_start)
    except CommonskyError as exc:
        raise fail(exc) from None
    summary = {"format": decoded.format, **decoded.report.summary(), "plots": len(decoded.plots)}
    summary["tracks"] = len(decoded.tracks)
    table = Table(title=f"{recording.name} ({decoded.format})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("messages", "errors", "addresses", "callsigns", "time_span_s", "plots", "tracks"):
        table.add_row(key, f"{summary[key]:,}")
    for category, count in summary["by_category"].items():
        table.add_row(f"  {category}", f"{count:,}")
    for category, count in summary["not_decoded"].items():
        table.add_row(f"  {category} blocks, not decoded", f"{count:,}")
    console.print(table)
    for error in summary["first_errors"][:5]:
        console.print(f"[yellow]{error}[/]")
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    if out is not None:
        if len(decoded.plots) or not len(decoded.tracks):
            write_plots(decoded.plots.sorted_by_time(), out)
            console.print(f"wrote {len(decoded.plots):,} plots -> {out}")
        else:
            write_tracks(decoded.tracks.sorted_by_time(), out)
            console.print(f"wrote {len(decoded.tracks):,} track rows -> {out}")


def formats() -> None:
    """Print the formats commonsky reads as docs/formats.md's Markdown table (what `--format` and `format=` accept)."""
    typer.echo(formats_table(), nl=False)
