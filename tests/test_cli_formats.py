"""`commonsky formats`: the format registry printed as the table docs/formats.md holds, and `--format` checked by it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from commonsky.cli import app
from commonsky.formats.registry import REGISTRY

DOCS = Path(__file__).resolve().parents[1] / "docs" / "formats.md"
runner = CliRunner()


def test_the_formats_command_prints_the_table_of_the_docs() -> None:
    result = runner.invoke(app, ["formats"])
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()
    assert len(rows) == 2 + len(REGISTRY)
    assert result.output in DOCS.read_text(), "docs/formats.md's format table differs from `commonsky formats`"


def test_decode_refuses_a_format_the_registry_lacks(tmp_path: Path) -> None:
    recording = tmp_path / "r.txt"
    recording.write_text("MSG,3\n")
    result = runner.invoke(app, ["decode", str(recording), "--format", "kml"])
    assert result.exit_code == 2
    assert "expected one of auto, " + ", ".join(f.name for f in REGISTRY) in " ".join(result.output.split())
