"""The `commonsky` command line: thin Typer adapters over the functional core, Rich for output.

The commands live in `offline` (files), `quality` (sensors against truth), `live` (node, display, demo) and
`coalition`; they are
registered here, in the order `commonsky --help` lists them.
"""

from __future__ import annotations

import typer

from commonsky.cli.coalition import coalition_app
from commonsky.cli.common import EXAMPLES
from commonsky.cli.live import demo, hash_password_command, node, serve
from commonsky.cli.offline import DECODE_HELP, decode, evaluate_command, formats, replay, run, simulate, track
from commonsky.cli.quality import quality

__all__ = ["EXAMPLES", "app"]

app = typer.Typer(
    name="commonsky",
    help="Cooperative air surveillance: simulate, track, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(simulate)
app.command()(track)
app.command("eval")(evaluate_command)
app.command()(quality)
app.command()(run)
app.command()(node)
app.add_typer(coalition_app, name="coalition")
app.command()(replay)
app.command()(demo)
app.command(help=DECODE_HELP)(decode)
app.command()(formats)
app.command()(serve)
app.command("hash-password")(hash_password_command)
