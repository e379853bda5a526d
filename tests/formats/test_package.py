"""The formats package's lazy public names: what the type checker reads is what runs."""

from __future__ import annotations

import ast
from pathlib import Path

import commonsky.formats


def test_the_type_checking_imports_name_each_lazy_name_from_its_module() -> None:
    tree = ast.parse(Path(commonsky.formats.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {
        alias.name: node.module.removeprefix("commonsky.formats.")
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    assert imported == commonsky.formats._HOME
    assert commonsky.formats.__all__ == sorted(imported)
