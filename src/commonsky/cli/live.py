"""Commands that run for a while: a live node, the operator display, the demo, and the users' password hashes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from commonsky.cli.common import EXAMPLES, DisplayOptions, console, fail, progress_bar, with_display_options
from commonsky.cli.offline import run
from commonsky.core.errors import CommonskyError, ConfigError


@with_display_options
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
    *,
    display: DisplayOptions,
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

            deployment = display.deployment(serve_host, serve_port)
            from commonsky.web.tar1090 import load_aircraft_policy

            accounts, oidc = load_accounts(users or config)
            policy = (
                None if display.aircraft_policy is None else load_aircraft_policy(display.aircraft_policy, cfg.partner)
            )
            hooks = display_hooks(accounts, deployment, oidc, policy)
            scheme = "https" if deployment.tls else "http"
            console.print(f"operator display on {scheme}://{serve_host}:{serve_port}/")
        with progress_bar(f"node {cfg.partner}") as progress:
            summary = asyncio.run(run_live_node(cfg, creds, url=nats, progress=progress, hooks=hooks))
    except CommonskyError as exc:
        raise fail(exc) from None
    console.print_json(json.dumps(summary))


def example_scenario(scenario: Path | None) -> Path:
    """The scenario file to run: `scenario` when it is a file; a bare name that is not one (e.g. `river`) picks the
    embedded example EXAMPLES/<name>.toml; None the border example. ConfigError for a bare name no example has."""
    if scenario is None:
        return EXAMPLES / "border3.toml"
    if scenario.is_file() or len(scenario.parts) != 1:
        return scenario
    example = EXAMPLES / f"{scenario.name.removesuffix('.toml')}.toml"
    if not example.is_file():
        names = ", ".join(sorted(p.stem for p in EXAMPLES.glob("*.toml")))
        raise ConfigError("command line", "scenario", f"{scenario} is neither a file nor an example ({names})")
    return example


SCENARIO_HELP = "Scenario TOML, or the name of an example: border3 (default), river, national5k."


def demo(
    out: Annotated[Path, typer.Option("--out", help="Working directory for the demo's files.")] = Path("out/demo"),
    scenario: Annotated[Path | None, typer.Option("--scenario", help=SCENARIO_HELP)] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    display: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Then serve the live display on http://127.0.0.1:8080/.")
    ] = True,
    speed: Annotated[float, typer.Option("--speed", help="Display: simulated seconds per real second.")] = 1.0,
) -> None:
    """The main job: three partners along a border track, share and fuse, each scored; then the live display
    (`--scenario river`: two partners' common surface picture of a border river)."""
    try:
        scenario = example_scenario(scenario)
    except CommonskyError as exc:
        raise fail(exc) from None
    console.rule(f"[bold]commonsky demo: {scenario.name}")
    run(scenario, out, seed)
    console.print(f"pictures: {out}/<partner>/local_tracks.csv, fused_tracks.csv, alerts.jsonl; truth: {out}/truth.csv")
    if display:
        serve(scenario, speed=speed, seed=seed, demo_accounts=True)


@with_display_options
def serve(
    scenario: Annotated[Path | None, typer.Argument(help=SCENARIO_HELP)] = None,
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
    *,
    display: DisplayOptions,
) -> None:
    """The operator display: a partner's common picture on a live map, with alerts and status."""
    from commonsky.network.runner import ScenarioSession
    from commonsky.sim import load_scenario
    from commonsky.web.app import load_accounts
    from commonsky.web.app import serve as serve_web
    from commonsky.web.auth import DEMO_USERS, User, load_users, uses_demo_accounts
    from commonsky.web.feed import PictureSource
    from commonsky.web.oidc import OidcConfig
    from commonsky.web.replay import ReplaySource
    from commonsky.web.scenario import ScenarioSource
    from commonsky.web.tar1090 import load_aircraft_policy

    deployment = display.deployment(host, port)
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
                session = ScenarioSession(load_scenario(example_scenario(scenario)), seed=seed)
            source = ScenarioSource(session, partner=partner, speed=speed)
        policy = (
            None
            if display.aircraft_policy is None
            else load_aircraft_policy(display.aircraft_policy, source.snapshot().partner)
        )
    except CommonskyError as exc:
        raise fail(exc) from None
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    if demo_accounts:
        console.print("demo accounts (demo only): viewer / viewer-demo, operator / operator-demo")
    console.print(f"commonsky display on {'https' if deployment.tls else 'http'}://{host}:{port}/ (Ctrl-C to stop)")
    try:
        serve_web(source, accounts, deployment, oidc=oidc, aircraft_policy=policy)
    except CommonskyError as exc:
        raise fail(exc) from None


def hash_password_command() -> None:
    """Print the argon2 hash of a password (read twice from the terminal) for a users TOML's [[users]] entry."""
    from commonsky.web.auth import hash_password

    console.print(hash_password(typer.prompt("password", hide_input=True, confirmation_prompt=True)))
