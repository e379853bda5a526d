"""What the commands share: the Rich console, progress bars, error exits and the display's deployment options."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from commonsky.core.errors import CommonskyError

if TYPE_CHECKING:
    from commonsky.web.security import Deployment

console = Console()

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
"""Scenario files shipped inside the package, so `commonsky demo` works from any directory."""


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[float], None]]:
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


def fail(exc: CommonskyError) -> typer.Exit:
    """Print a commonsky error in red; the `typer.Exit` (code 2) for the caller to raise."""
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


def deployment_from(
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
