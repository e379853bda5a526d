"""Capped sets and maps: never more than the cap, the least recently added evicted first, every eviction counted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commonsky.core.bounded import BoundedDict, BoundedSet
from tests.core.reference import lru_reference

keys = st.lists(st.integers(0, 40), max_size=300)


@given(keys, st.integers(1, 30))
def test_bounded_set_keeps_the_most_recently_added_within_the_cap(items: list[int], cap: int) -> None:
    bounded: BoundedSet[int] = BoundedSet(cap)
    for item in items:
        bounded.add(item)
        assert len(bounded) <= cap
    held, evicted = lru_reference(items, cap)
    assert list(bounded) == held
    assert bounded.evicted == evicted
    assert len(bounded) == min(cap, len(set(items)))


@given(st.lists(st.tuples(st.integers(0, 40), st.integers()), max_size=300), st.integers(1, 30))
def test_bounded_dict_keeps_the_most_recently_set_within_the_cap(pairs: list[tuple[int, int]], cap: int) -> None:
    bounded: BoundedDict[int, int] = BoundedDict(cap)
    for key, value in pairs:
        bounded[key] = value
        assert len(bounded) <= cap
    held, evicted = lru_reference([k for k, _ in pairs], cap)
    assert list(bounded) == held
    assert bounded.evicted == evicted
    assert dict(bounded) == {k: v for k, v in pairs if k in held}


def test_uncapped_set_is_a_plain_set() -> None:
    exact: BoundedSet[str] = BoundedSet()
    exact.update(f"{i:06X}" for i in range(100_000))
    assert len(exact) == 100_000 and exact.evicted == 0
    assert exact == {f"{i:06X}" for i in range(100_000)}
    assert exact & {"000001", "ZZZ"} == {"000001"}
    assert {"000001"} <= exact
    exact.discard("000001")
    assert "000001" not in exact and exact.evicted == 0


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="maxlen"):
        BoundedSet(0)
    with pytest.raises(ValueError, match="maxlen"):
        BoundedDict(-1)
