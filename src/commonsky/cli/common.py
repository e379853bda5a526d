"""What the commands share: the Rich console, progress bars, error exits and the display's deployment options."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

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


@dataclass(frozen=True)
class DisplayOptions:
    """The command-line options of every command that serves the display: each field is one Typer option."""

    tls_cert: TlsCert = None
    tls_key: TlsKey = None
    allowed_hosts: AllowedHosts = None
    allowed_origins: AllowedOrigins = None
    proxies: Proxies = None
    allow_plain_http: AllowPlainHttp = False
    security_log: SecurityLogFile = None
    aircraft_policy: AircraftPolicy = None

    def deployment(self, host: str, port: int) -> Deployment:
        """The display's deployment on host:port with these options."""
        from commonsky.web.security import Deployment

        return Deployment(
            host=host,
            port=port,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            allowed_hosts=tuple(self.allowed_hosts or ()),
            allowed_origins=tuple(self.allowed_origins or ()),
            proxies=tuple(self.proxies or ()),
            allow_plain_http=self.allow_plain_http,
            security_log=self.security_log,
        )


def option_group(group: type[Any], name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator: the command's parameter `name` becomes the fields of the dataclass `group` as its own Typer
    options, which the command is handed as one `group` object: options several commands share are declared once."""
    hints = get_type_hints(group, include_extras=True)
    options = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
        for f in dataclasses.fields(group)
    ]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        parameters: list[inspect.Parameter] = []
        for parameter in own.parameters.values():
            parameters.extend(options if parameter.name == name else [parameter])
        signature = own.replace(parameters=parameters)

        @functools.wraps(command)
        def with_options(*args: Any, **kwargs: Any) -> None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            grouped = group(**{option.name: given.pop(option.name) for option in options})
            command(**given, **{name: grouped})

        with_options.__signature__ = signature  # type: ignore[attr-defined]
        with_options.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return with_options

    return decorate


with_display_options = option_group(DisplayOptions, "display")
"""Commands that serve the display take the `DisplayOptions` as one `display` argument."""
