"""`python -m commonsky.cli`: the same commands as the `commonsky` script."""

from commonsky.cli import app

app()
