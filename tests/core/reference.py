"""The reference model the capped containers are checked against (a plain list: slow, obviously right)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def lru_reference(items: list[T], cap: int) -> tuple[list[T], int]:
    """The most recently seen `cap` distinct items, oldest first (a repeat moves an item to the end), and how
    many were evicted to keep them."""
    held: list[T] = []
    evicted = 0
    for item in items:
        if item in held:
            held.remove(item)
        held.append(item)
        if len(held) > cap:
            held.pop(0)
            evicted += 1
    return held, evicted
