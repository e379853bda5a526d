"""A set and a map that hold at most a fixed number of entries, forgetting the least recently added
first and counting what they forgot: state kept per identity seen on a live input must not grow for ever.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, MutableMapping, MutableSet
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
S = TypeVar("S")


class _Bounded(Generic[K, V]):
    """What the set and the map share: entries in the order they were last added, the cap and the count of
    entries forgotten past it."""

    def __init__(self, maxlen: int | None = None) -> None:
        if maxlen is not None and maxlen < 1:
            raise ValueError(f"maxlen must be at least 1 (or None for no cap), got {maxlen}")
        self.maxlen = maxlen
        self.evicted = 0
        self._items: OrderedDict[K, V] = OrderedDict()

    def _hold(self, key: K, value: V) -> None:
        """Hold `key` as the newest with `value`; the oldest goes (counted) if that passes the cap."""
        if key in self._items:
            self._items.move_to_end(key)
        self._items[key] = value
        if self.maxlen is not None and len(self._items) > self.maxlen:
            self._items.popitem(last=False)
            self.evicted += 1

    def __iter__(self) -> Iterator[K]:
        """Oldest first."""
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class BoundedSet(_Bounded[T, None], MutableSet[T]):
    """A set of at most `maxlen` items (None: no cap); adding an item again makes it the newest, and
    past the cap the oldest goes (counted in `evicted`). `&`, `|`, `-` give plain sets."""

    @classmethod
    def _from_iterable(cls, it: Iterable[S]) -> set[S]:
        return set(it)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __repr__(self) -> str:
        return f"BoundedSet({list(self._items)!r}, maxlen={self.maxlen}, evicted={self.evicted})"

    def add(self, item: T) -> None:
        """Hold `item` as the newest; the oldest goes if that passes the cap."""
        self._hold(item, None)

    def discard(self, item: T) -> None:
        """Forget `item` if held (not counted as an eviction)."""
        self._items.pop(item, None)

    def update(self, items: Iterable[T]) -> None:
        """`add` each of `items` in order."""
        for item in items:
            self.add(item)


class BoundedDict(_Bounded[K, V], MutableMapping[K, V]):
    """A dict of at most `maxlen` entries (None: no cap); setting a key makes it the newest, and past
    the cap the oldest entry goes (counted in `evicted`). Reading does not change the order."""

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._hold(key, value)

    def __delitem__(self, key: K) -> None:
        del self._items[key]

    def __repr__(self) -> str:
        return f"BoundedDict({dict(self._items)!r}, maxlen={self.maxlen}, evicted={self.evicted})"
