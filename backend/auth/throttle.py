"""Slows down password guessing: a username with too many recent failures is refused for a while."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class LoginThrottle:
    """Counts failed logins per username in a sliding window (in memory, per process)."""

    def __init__(
        self,
        *,
        max_failures: int,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, username: str) -> deque[float]:
        failures = self._failures[username.lower()]
        horizon = self._clock() - self.window_seconds
        while failures and failures[0] < horizon:
            failures.popleft()
        return failures

    def retry_after(self, username: str) -> float:
        """Seconds until this username may try again; 0 when it may try now."""
        failures = self._recent(username)
        if len(failures) < self.max_failures:
            return 0.0
        return max(0.0, failures[0] + self.window_seconds - self._clock())

    def record_failure(self, username: str) -> None:
        self._recent(username).append(self._clock())

    def reset(self, username: str) -> None:
        self._failures.pop(username.lower(), None)
