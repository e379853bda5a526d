"""The associators a configuration can name (`TrackerConfig.associator`, `--associator`)."""

from __future__ import annotations

from collections.abc import Callable

from commonsky.tracking.associate import GNN, Associator
from commonsky.tracking.jpda import JPDA

ASSOCIATORS: dict[str, Callable[[], Associator]] = {"gnn": GNN, "jpda": JPDA}
"""Associators by name: global nearest neighbour (the default) and joint probabilistic data association."""


def associator_for(choice: str | Associator) -> Associator:
    """The associator a configuration names, or the object it gives."""
    return ASSOCIATORS[choice]() if isinstance(choice, str) else choice
