"""The `commonsky` command line: thin Typer adapters over the functional core, Rich for output."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from commonsky.core.errors import CommonskyError, ConfigError

if TYPE_CHECKING:
    from commonsky.core.batches import Plots, Truth
    from commonsky.core.sensors import SensorSpec
    from commonsky.network.runner import PartnerRun
    from commonsky.tracking import TrackerState
    from commonsky.web.security import Deployment

app = typer.Typer(
    name="commonsky",
    help="Cooperative air surveillance: simulate, track, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

EXAMPLES = Path(__file__).resolve().parent / "examples"
"""Scenario files shipped inside the package, so `commonsky demo` works from any directory."""


@contextmanager
def _progress(description: str) -> Iterator[Callable[[float], None]]:
    """A Rich progress bar driven by a fraction-done callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=1.0)
        yield lambda fraction: bar.update(task, completed=min(max(fraction, 0.0), 1.0))


def _fail(exc: CommonskyError) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(str(exc))}")
    return typer.Exit(code=2)


TlsCert = Annotated[
    Path | None, typer.Option("--tls-cert", help="Serve HTTPS with this certificate (PEM).", dir_okay=False)
]
TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="The certificate's private key (PEM).", dir_okay=False)]
AllowedHosts = Annotated[
    list[str] | None,
    typer.Option("--allowed-host", help="A name the display answers to (repeat; loopback names always; *.dom ok)."),
]
AllowedOrigins = Annotated[
    list[str] | None, typer.Option("--allowed-origin", help="Another origin (scheme://host[:port]) that may write.")
]
Proxies = Annotated[
    list[str] | None,
    typer.Option("--proxy", help="Address of a TLS reverse proxy whose X-Forwarded-For/-Proto to believe (repeat)."),
]
AllowPlainHttp = Annotated[
    bool, typer.Option("--allow-plain-http", help="Serve plain HTTP off the loopback anyway (not recommended).")
]
AircraftPolicy = Annotated[
    Path | None,
    typer.Option(
        "--aircraft-json-policy",
        help="Cut /data/aircraft.json to the one [[sharing]] policy from the viewed partner in this TOML.",
        exists=True,
        dir_okay=False,
    ),
]
SecurityLogFile = Annotated[
    Path | None, typer.Option("--security-log", help="Append sign-ins, failures and refusals here (JSON lines).")
]


def _deployment(
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    allowed_hosts: list[str] | None,
    allowed_origins: list[str] | None,
    proxies: list[str] | None,
    allow_plain_http: bool,
    security_log: Path | None,
) -> Deployment:
    """The display's deployment from the command line's options."""
    from commonsky.web.security import Deployment

    return Deployment(
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        allowed_hosts=tuple(allowed_hosts or ()),
        allowed_origins=tuple(allowed_origins or ()),
        proxies=tuple(proxies or ()),
        allow_plain_http=allow_plain_http,
        security_log=security_log,
    )


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory for sensors.json, plots.csv, truth.csv, events.json.")],
    seed: Annotated[int | None, typer.Option("--seed", help="Overrides the scenario's seed.")] = None,
) -> None:
    """Simulate a scenario's traffic and sensors; write the file contracts of docs/formats.md."""
    from commonsky.sim import load_scenario, write_outputs
    from commonsky.sim import simulate as run_simulation

    try:
        spec = load_scenario(scenario)
        started = time.perf_counter()
        with _progress(f"simulating {spec.name}") as progress:
            result = run_simulation(spec, seed=seed, progress=progress)
        with console.status("writing files"):
            write_outputs(result, out)
    except CommonskyError as exc:
        raise _fail(exc) from None
    elapsed = time.perf_counter() - started
    console.print(
        f"{len(result.truth.time_s):,} truth rows, {len(result.plots):,} plots from {len(result.sensors)} sensors "
        f"in {elapsed:.1f} s -> {out}"
    )


def _sensors_for(plots: Plots, sensors: Path | None) -> list[SensorSpec]:
    """The sensors of `plots`: from sensors.json, else a default ADS-B receiver per sensor id.

    Radar plots need their radar's position and accuracy, so a recording with radar plots and no
    sensors.json is refused with the sensor ids that need describing.
    """
    import numpy as np

    from commonsky.core.sensors import SensorSpec
    from commonsky.formats import read_sensors

    if sensors is not None:
        return read_sensors(sensors)
    radar = np.unique(plots.sensor_id[np.isfinite(plots.range_m)])
    if len(radar):
        raise ConfigError("--sensors", "sensors.json", f"radar plots need a description of sensors {radar.tolist()}")
    specs = []
    for sid in np.unique(plots.sensor_id).tolist():
        mine = plots.sensor_id == sid
        lat, lon = float(np.nanmean(plots.lat_deg[mine])), float(np.nanmean(plots.lon_deg[mine]))
        specs.append(SensorSpec.adsb_receiver(sid, "local", lat, lon))
    return specs


def _is_plots_csv(path: Path) -> bool:
    """True when a CSV's header is the plots.csv contract's (else it is, say, a raw Mode S CSV)."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        header = {name.strip() for name in f.readline().split(",")}
    return {"time_s", "sensor_id"} <= header


def _read_plots_any(path: Path, fmt: str, sensor_id: str) -> Plots:
    """plots.csv/.parquet by the file contract, anything else as a recording in a real format."""
    from commonsky.formats import read_plots
    from commonsky.formats.files import decode_file

    suffix = path.suffix.lower()
    if fmt == "auto" and (suffix in (".parquet", ".pq") or (suffix == ".csv" and _is_plots_csv(path))):
        return read_plots(path)
    decoded = decode_file(path, fmt, sensor_id=sensor_id)
    console.print(
        f"decoded {path} as {decoded.format}: {decoded.report.messages:,} messages, "
        f"{decoded.report.errors:,} errors, {len(decoded.plots):,} plots"
    )
    return decoded.plots.sorted_by_time()


@app.command()
def track(
    plots: Annotated[
        Path,
        typer.Option(
            "--plots",
            help="plots.csv/.parquet, or a recording (ASTERIX, pcap, Beast, SBS, Mode S, AIS)",
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
    fmt: Annotated[str, typer.Option("--format", help="format of --plots when not a contract file")] = "auto",
    sensor_id: Annotated[str, typer.Option("--sensor", help="sensor id for formats that carry none")] = "receiver",
) -> None:
    """Run the multi-sensor tracker over recorded plots and write the picture every output period."""
    from commonsky.formats import write_tracks
    from commonsky.tracking import TrackerConfig, run

    try:
        cfg = TrackerConfig.load(config) if config else TrackerConfig()
        plot_batch = _read_plots_any(plots, fmt, sensor_id)
        sensor_list = _sensors_for(plot_batch, sensors)
    except CommonskyError as exc:
        raise _fail(exc) from None
    started = time.perf_counter()
    with _progress("tracking") as progress:
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


@app.command("eval")
def evaluate_command(
    truth: Annotated[Path, typer.Option("--truth", help="truth.csv", exists=True, dir_okay=False)],
    tracks: Annotated[Path, typer.Option("--tracks", help="tracks.csv", exists=True, dir_okay=False)],
    cutoff_m: Annotated[float, typer.Option("--cutoff-m", help="GOSPA cut-off c (m).")] = 5000.0,
    max_age_s: Annotated[float, typer.Option("--max-age-s", help="Ignore track rows older than this.")] = 10.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the summary as JSON.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG: GOSPA over time and a map.")] = None,
) -> None:
    """Score a track file against truth: GOSPA and its split, OSPA, RMSE, completeness, breaks, swaps."""
    from commonsky.formats import read_tracks, read_truth
    from commonsky.metrics import evaluate, plot_evaluation, render_table

    try:
        truth_batch = read_truth(truth)
        track_batch = read_tracks(tracks)
    except CommonskyError as exc:
        raise _fail(exc) from None
    with console.status("evaluating"):
        result = evaluate(truth_batch, track_batch, cutoff_m=cutoff_m, max_age_s=max_age_s)
    console.print(render_table(result))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        summary = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.summary.items()}
        json_out.write_text(json.dumps(summary, indent=2) + "\n")
    if plot:
        plot_evaluation(result, truth_batch, track_batch, plot)
        console.print(f"plot -> {plot}")


@app.command()
def run(
    scenario: Annotated[
        Path,
        typer.Argument(
            help="Scenario TOML, or a recording (ASTERIX, pcap, Beast, SBS, Mode S, AIS) to run one node over.",
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
    fmt: Annotated[str, typer.Option("--format", help="format of a recording (default: auto)")] = "auto",
    sensor_id: Annotated[str, typer.Option("--sensor", help="sensor id for formats that carry none")] = "receiver",
) -> None:
    """Run every partner of a scenario on the in-process bus (local vs fused scores), or one node over a recording."""
    from commonsky.network.runner import run_recording, run_scenario
    from commonsky.sim import load_scenario

    if scenario.suffix.lower() != ".toml":
        try:
            plot_batch = _read_plots_any(scenario, fmt, sensor_id)
            sensor_list = _sensors_for(plot_batch, sensors)
            with _progress(f"running a node over {scenario.name}") as progress:
                result = run_recording(plot_batch, sensor_list, out, progress=progress)
        except CommonskyError as exc:
            raise _fail(exc) from None
        raised = sum(e["event"] == "raised" for e in result.alert_events)
        tracks = len(set(result.local.track_id.tolist()))
        console.print(
            f"{tracks:,} tracks ({len(result.local):,} rows), {len(set(result.system.system_id.tolist())):,} "
            f"system tracks, {raised:,} alerts -> {out / result.partner}"
        )
        return
    try:
        spec = load_scenario(scenario)
        with _progress(f"running {spec.name}") as progress:
            run_result = run_scenario(spec, out, seed=seed, progress=progress)
    except CommonskyError as exc:
        raise _fail(exc) from None
    console.print(partner_table(run_result.simulation.truth, run_result.partners))
    console.print(f"pictures and recordings -> {out}")


def partner_table(truth: Truth, partners: dict[str, PartnerRun]) -> Table:
    """Per partner: GOSPA, completeness and breaks of its local picture against its fused picture."""
    from commonsky.metrics import evaluate

    table = Table(title="local vs fused picture, per partner (GOSPA c = 5 km)")
    for col in ("partner", "picture", "GOSPA m", "missed km²", "false km²", "RMSE m", "completeness", "breaks"):
        table.add_column(col, justify="right")
    for pid, run in partners.items():
        for label, tracks in (("local", run.local), ("fused", run.fused)):
            s = evaluate(truth, tracks).summary
            table.add_row(
                pid,
                label,
                f"{s['gospa_mean']:.0f}",
                f"{s['gospa_missed'] / 1e6:.2f}",
                f"{s['gospa_false'] / 1e6:.2f}",
                f"{s['rmse_position_m']:.1f}",
                f"{100 * s['completeness']:.1f} %",
                f"{s['track_breaks']}",
            )
    return table


@app.command()
def node(
    config: Annotated[Path, typer.Option("--config", help="Node config TOML.", exists=True, dir_okay=False)],
    creds: Annotated[
        Path | None,
        typer.Option("--creds", help="NATS credentials file (without: stand-alone).", exists=True, dir_okay=False),
    ] = None,
    nats: Annotated[str | None, typer.Option("--nats", help="Server URL (default: the one in the creds file).")] = None,
    serve_port: Annotated[
        int | None, typer.Option("--serve", help="Also serve the operator display on PORT (of --serve-host).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default: the config's `out`).", file_okay=False)
    ] = None,
    serve_host: Annotated[str, typer.Option("--serve-host", help="Where the display listens.")] = "127.0.0.1",
    users: Annotated[
        Path | None,
        typer.Option("--users", help="The display's users TOML (default: the config's [[users]]).", dir_okay=False),
    ] = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    allowed_hosts: AllowedHosts = None,
    allowed_origins: AllowedOrigins = None,
    proxies: Proxies = None,
    allow_plain_http: AllowPlainHttp = False,
    security_log: SecurityLogFile = None,
    aircraft_policy: AircraftPolicy = None,
    on_config_change: Annotated[
        str | None,
        typer.Option(
            "--on-config-change",
            help="When the config differs from the recording's: refuse (default), apply (new sharing policies, "
            "assessment and zones from now on, recorded) or new-recording (the old one set aside).",
        ),
    ] = None,
) -> None:
    """Run one partner's node in this process: with --creds it exchanges tracks with its peers over NATS JetStream,
    without it runs stand-alone (e.g. one receiver's picture, display and outputs)."""
    import asyncio

    from commonsky.network.live import CONFIG_CHANGES, LiveHooks, LiveNodeConfig, run_live_node

    try:
        cfg = LiveNodeConfig.load(config, out)
        if on_config_change is not None:
            if on_config_change not in CONFIG_CHANGES:
                raise ConfigError("--on-config-change", "on_config_change", f"one of {', '.join(CONFIG_CHANGES)}")
            cfg = dataclasses.replace(cfg, on_config_change=on_config_change)
        hooks: LiveHooks | None = None
        if serve_port is not None:
            from commonsky.web.app import load_accounts
            from commonsky.web.live import display_hooks

            deployment = _deployment(
                serve_host,
                serve_port,
                tls_cert,
                tls_key,
                allowed_hosts,
                allowed_origins,
                proxies,
                allow_plain_http,
                security_log,
            )
            from commonsky.web.tar1090 import load_aircraft_policy

            accounts, oidc = load_accounts(users or config)
            policy = None if aircraft_policy is None else load_aircraft_policy(aircraft_policy, cfg.partner)
            hooks = display_hooks(accounts, deployment, oidc, policy)
            scheme = "https" if deployment.tls else "http"
            console.print(f"operator display on {scheme}://{serve_host}:{serve_port}/")
        with _progress(f"node {cfg.partner}") as progress:
            summary = asyncio.run(run_live_node(cfg, creds, url=nats, progress=progress, hooks=hooks))
    except CommonskyError as exc:
        raise _fail(exc) from None
    console.print_json(json.dumps(summary))


coalition_app = typer.Typer(
    help="Coalition keys and servers: each partner makes its own keys, the hub builds its config from public keys.",
    no_args_is_help=True,
)
app.add_typer(coalition_app, name="coalition")


@coalition_app.command("keygen")
def coalition_keygen(
    partner: Annotated[str, typer.Argument(help="Your partner id.")],
    directory: Annotated[Path, typer.Option("--dir", help="Your own folder for the keys (stays on your machine).")],
    rotate: Annotated[bool, typer.Option("--rotate", help="Make new keys even if some exist.")] = False,
) -> None:
    """On the partner's machine: NKey seed and TLS key (kept 0600), and request.json for the hub (public only)."""
    from commonsky.network.transport.natsserver import partner_keygen

    try:
        request = partner_keygen(directory, partner, rotate=rotate)
    except ValueError as exc:
        raise _fail(ConfigError(str(directory), "partner", str(exc))) from None
    from commonsky.network.transport.seal import fingerprint

    console.print(f"{partner}: public key {request.user_key}, seal key fingerprint {fingerprint(request.seal_key)}")
    console.print(
        f"send {directory / 'request.json'} to the hub operator; user.nk, client.key, seal.key stay in {directory}"
    )


@coalition_app.command("hub")
def coalition_hub(
    coalition: Annotated[
        Path, typer.Option("--coalition", help="Coalition TOML/JSON (partners, receives_from, limits).")
    ],
    requests: Annotated[list[Path], typer.Option("--request", help="A partner's request.json (one per partner).")],
    directory: Annotated[Path, typer.Option("--dir", help="The hub's folder (CA, configs, grants).")],
    host: Annotated[
        str, typer.Option("--host", help="Where the servers listen (and partners reach them).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Client port of the first server.")] = 4222,
    servers: Annotated[int, typer.Option("--servers", help="1, or 3 for a clustered backbone (streams R3).")] = 1,
    leaf_port: Annotated[int | None, typer.Option("--leaf-port", help="Accept partners' leaf servers here.")] = None,
) -> None:
    """At the hub: check the partners' requests, sign their certificates, write each server's config and grants."""
    from commonsky.network.transport.natsconfig import Coalition, JoinRequest
    from commonsky.network.transport.natsserver import hub_build, topology

    if servers not in (1, 3):
        raise _fail(ConfigError("--servers", "servers", "1 or 3"))
    try:
        hub = hub_build(
            directory,
            Coalition.load(coalition),
            [JoinRequest.read(r) for r in requests],
            topology(host, port, servers, leaf_port),
        )
    except ValueError as exc:
        raise _fail(ConfigError(str(coalition), "requests", str(exc))) from None
    for config in hub.configs:
        console.print(f"server config {config}  (run: nats-server -c {config})")
    for partner, grant in hub.grants.items():
        console.print(f"grant for {partner}: {grant}")


@coalition_app.command("join")
def coalition_join(
    grant: Annotated[Path, typer.Argument(help="The grant the hub sent you.", exists=True, dir_okay=False)],
    directory: Annotated[Path, typer.Option("--dir", help="Your key folder (from keygen).")],
) -> None:
    """On the partner's machine: install the hub's grant (CA, your certificate, servers) and write creds.json."""
    from commonsky.network.transport.natsconfig import JoinGrant
    from commonsky.network.transport.natsserver import partner_join
    from commonsky.network.transport.seal import fingerprint

    try:
        granted = JoinGrant.read(grant)
        creds = partner_join(directory, granted)
    except ValueError as exc:
        raise _fail(ConfigError(str(grant), "grant", str(exc))) from None
    console.print("compare these with your partners once, out of band (the hub handed them out):")
    for peer, key in sorted(granted.peer_seal_keys.items()):
        console.print(f"  {peer}: seal key fingerprint {fingerprint(key)}")
    console.print(f"commonsky node --config YOUR.toml --creds {creds}")


@app.command()
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
        raise _fail(exc) from None
    write_tracks(Tracks.concat([o.local for o in outputs]), out / "local_tracks.csv")
    write_tracks(Tracks.concat([o.fused.as_tracks() for o in outputs]), out / "fused_tracks.csv")
    console.print(f"{len(outputs)} ticks replayed -> {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Working directory for the demo's files.")] = Path("out/demo"),
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Scenario (default: the border example).")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    display: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Then serve the live display on http://127.0.0.1:8080/.")
    ] = True,
    speed: Annotated[float, typer.Option("--speed", help="Display: simulated seconds per real second.")] = 1.0,
) -> None:
    """The main job: three partners along a border track, share and fuse, each scored; then the live display."""
    scenario = scenario or EXAMPLES / "border3.toml"
    console.rule(f"[bold]commonsky demo: {scenario.name}")
    run(scenario, out, seed)
    console.print(f"pictures: {out}/<partner>/local_tracks.csv, fused_tracks.csv, alerts.jsonl; truth: {out}/truth.csv")
    if display:
        serve(scenario, speed=speed, seed=seed, demo_accounts=True)


@app.command()
def decode(
    recording: Annotated[Path, typer.Argument(help="A recording file (gzip allowed).", exists=True, dir_okay=False)],
    fmt: Annotated[str, typer.Option("--format", help="auto, asterix, pcap, final, beast, sbs, modes or ais")] = "auto",
    out: Annotated[
        Path | None, typer.Option("--out", help="plots.csv (radar/ADS-B/AIS reports) or tracks.csv (CAT062)")
    ] = None,
    summary_json: Annotated[Path | None, typer.Option("--summary-json", help="Write the summary as JSON.")] = None,
    sensor_id: Annotated[str, typer.Option("--sensor", help="Sensor id for formats that carry none.")] = "receiver",
    reference: Annotated[
        str | None, typer.Option("--ref", help="Receiver position LAT,LON for local CPR decoding.")
    ] = None,
    day: Annotated[str | None, typer.Option("--day", help="UTC day YYYY-MM-DD of an ASTERIX recording.")] = None,
) -> None:
    """Decode a recording (ASTERIX, pcap, Final Format, Beast, SBS, Mode S, AIS): summary, plots or tracks."""
    from datetime import UTC, datetime

    from commonsky.formats import write_plots, write_tracks
    from commonsky.formats.files import decode_file

    try:
        ref = None
        if reference is not None:
            lat, lon = (float(v) for v in reference.split(","))
            ref = (lat, lon)
        day_start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() if day else None
    except ValueError as exc:
        raise _fail(ConfigError("command line", "--ref/--day", str(exc))) from None
    try:
        with console.status(f"decoding {recording}"):
            decoded = decode_file(recording, fmt, sensor_id=sensor_id, reference=ref, day_start_utc_s=day_start)
    except CommonskyError as exc:
        raise _fail(exc) from None
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


@app.command()
def serve(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML (default: the three-partner border example).")
    ] = None,
    replay_dir: Annotated[
        Path | None,
        typer.Option("--replay", help="A node's recording directory to review.", exists=True, file_okay=False),
    ] = None,
    partner: Annotated[str | None, typer.Option("--partner", help="Whose picture (default: the first).")] = None,
    speed: Annotated[float, typer.Option("--speed", help="Simulated seconds per real second.")] = 1.0,
    users: Annotated[
        Path | None,
        typer.Option("--users", help="Users TOML ([[users]] and/or [oidc]; commonsky hash-password).", exists=True),
    ] = None,
    demo_accounts: Annotated[bool, typer.Option("--demo", help="The public demo accounts (127.0.0.1 only).")] = False,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="No sign-in (127.0.0.1 only).")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
    seed: Annotated[int | None, typer.Option("--seed", help="Scenario seed override.")] = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    allowed_hosts: AllowedHosts = None,
    allowed_origins: AllowedOrigins = None,
    proxies: Proxies = None,
    allow_plain_http: AllowPlainHttp = False,
    security_log: SecurityLogFile = None,
    aircraft_policy: AircraftPolicy = None,
) -> None:
    """The operator display: a partner's common picture on a live map, with alerts and status."""
    from commonsky.network.runner import ScenarioSession
    from commonsky.sim import load_scenario
    from commonsky.web.app import load_accounts
    from commonsky.web.app import serve as serve_web
    from commonsky.web.auth import DEMO_USERS, User, load_users, uses_demo_accounts
    from commonsky.web.oidc import OidcConfig
    from commonsky.web.source import PictureSource, ReplaySource, ScenarioSource
    from commonsky.web.tar1090 import load_aircraft_policy

    deployment = _deployment(
        host, port, tls_cert, tls_key, allowed_hosts, allowed_origins, proxies, allow_plain_http, security_log
    )
    try:
        if sum((users is not None, demo_accounts, no_auth)) != 1:
            raise ConfigError(
                "command line",
                "--users",
                "say who may sign in: --users FILE (make one with `commonsky hash-password`; see the README, "
                "'Deploying the display'), or on 127.0.0.1 --demo (public demo accounts) or --no-auth",
            )
        accounts: dict[str, User] | None = None
        oidc: OidcConfig | None = None
        if users is not None:
            accounts, oidc = load_accounts(users)
        elif demo_accounts:
            accounts = load_users(DEMO_USERS)
        deployment.check(uses_demo_accounts(accounts))
        source: PictureSource
        if replay_dir is not None:
            source = ReplaySource(replay_dir, speed=speed)
        else:
            with console.status("simulating the scenario"):
                session = ScenarioSession(load_scenario(scenario or EXAMPLES / "border3.toml"), seed=seed)
            source = ScenarioSource(session, partner=partner, speed=speed)
        policy = None if aircraft_policy is None else load_aircraft_policy(aircraft_policy, source.snapshot().partner)
    except CommonskyError as exc:
        raise _fail(exc) from None
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    if demo_accounts:
        console.print("demo accounts (demo only): viewer / viewer-demo, operator / operator-demo")
    console.print(f"commonsky display on {'https' if deployment.tls else 'http'}://{host}:{port}/ (Ctrl-C to stop)")
    try:
        serve_web(source, accounts, deployment, oidc=oidc, aircraft_policy=policy)
    except CommonskyError as exc:
        raise _fail(exc) from None


@app.command("hash-password")
def hash_password_command() -> None:
    """Print the argon2 hash of a password (read twice from the terminal) for a users TOML's [[users]] entry."""
    from commonsky.web.auth import hash_password

    console.print(hash_password(typer.prompt("password", hide_input=True, confirmation_prompt=True)))


if __name__ == "__main__":
    app()
