"""Logging that a noisy source cannot flood: per key (a feed, a partner), the first message and then at
most one per interval, which says how many similar ones were left out since the one before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from commonsky.core.bounded import BoundedDict

MAX_KEYS = 4096
"""Keys remembered (oldest forgotten first), so keys taken from input cannot grow memory."""


class RateLimitedLog:
    """Warnings to `logger`, per key at most one every `per_key_interval_s` (by `clock`, seconds).

    The first message of a key is logged at once; later ones within the interval are counted and
    left out, and the next one logged ends with "(N similar suppressed)". `suppressed` counts all
    left out. Thread-safe (file inputs decode in worker threads).
    """

    def __init__(
        self,
        logger: logging.Logger,
        per_key_interval_s: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.logger = logger
        self.interval_s = per_key_interval_s
        self.clock = clock
        self.suppressed = 0
        self._keys: BoundedDict[Hashable, tuple[float, int]] = BoundedDict(max_keys)
        """Key -> (when its last message was logged, how many were left out since)."""
        self._lock = threading.Lock()

    def warning(self, key: Hashable, msg: str, *args: Any) -> bool:
        """Log `msg % args` as a warning unless `key` logged one within the interval; True if logged."""
        with self._lock:
            now = self.clock()
            last = self._keys.get(key)
            if last is not None and now - last[0] < self.interval_s:
                self._keys[key] = (last[0], last[1] + 1)
                self.suppressed += 1
                return False
            left_out = last[1] if last is not None else 0
            self._keys[key] = (now, 0)
        if left_out:
            msg, args = f"{msg} (%d similar suppressed)", (*args, left_out)
        self.logger.warning(msg, *args, stacklevel=2)
        return True
