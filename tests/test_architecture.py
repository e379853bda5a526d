"""docs/architecture.md's "may import" column holds: no package imports a commonsky package it does not list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "commonsky"
DOC = ROOT / "docs" / "architecture.md"


def _allowed() -> dict[str, set[str]]:
    """Package -> the commonsky packages its row of the layout table allows ("everything above": all earlier rows)."""
    rows = re.findall(r"^\| `commonsky\.(\w+)` \|.*\| ([^|]+) \|$", DOC.read_text(), flags=re.MULTILINE)
    assert rows, "the layout table of docs/architecture.md was not found"
    packages = [name for name, _ in rows]
    allowed: dict[str, set[str]] = {}
    for i, (name, column) in enumerate(rows):
        words = {w.split(" ")[0] for w in (part.strip() for part in column.split(","))}
        allowed[name] = set(packages[:i]) if "everything above" in column else words & set(packages)
    return allowed


def _imports(path: Path) -> set[str]:
    """The commonsky packages a module imports (absolute imports; the package itself included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[1] for n in names if n.startswith("commonsky.") and n.count(".") >= 1}
    return found


def test_every_package_is_in_the_layout_table() -> None:
    documented = set(_allowed())
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()} | {"cli"}
    assert packages - {"examples"} == documented


def test_packages_import_only_what_the_layout_table_allows() -> None:
    allowed = _allowed()
    breaches = []
    for package, may in allowed.items():
        files = [SRC / f"{package}.py"] if (SRC / f"{package}.py").exists() else sorted((SRC / package).rglob("*.py"))
        for path in files:
            for used in _imports(path) - may - {package}:
                breaches.append(f"{path.relative_to(SRC)} imports commonsky.{used}")
    assert not breaches, "\n".join(breaches)
