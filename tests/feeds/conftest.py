"""Helpers for the feed tests: free loopback ports and batch comparison."""

from __future__ import annotations

import socket
from collections.abc import Callable

import numpy as np
import pytest

from commonsky.core.batches import Columns


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a loopback port nobody listens on (TCP and UDP)."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return pick


def assert_same_rows(got: Columns, want: Columns, skip: tuple[str, ...] = ()) -> None:
    """Every column equal (NaN equals NaN), except those in `skip`."""
    assert len(got) == len(want)
    for name, column in want.as_dict().items():
        if name not in skip:
            np.testing.assert_array_equal(got.as_dict()[name], column, err_msg=name)
