"""The local server's rate limits: a request and a token budget per window, as headers.

Mistral's API reports its budgets on every answer in ``x-ratelimit-*`` headers and
refuses with 429 once one is spent. :class:`RateLimiter` does the same arithmetic for
the local server, on fixed windows: a window opens with the first request counted after
the previous one ended, and lasts ``window`` seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MONTH_REQUESTS",
    "MONTH_TOKENS",
    "UNLIMITED_REQUESTS",
    "UNLIMITED_TOKENS",
    "RateLimited",
    "RateLimiter",
    "Ticket",
    "seconds_text",
]

# Advertised where no per-window limit is enforced: the headers are always there to
# read, and their remaining still counts down.
UNLIMITED_REQUESTS = 1_000_000
UNLIMITED_TOKENS = 100_000_000
# The monthly budgets are advertised and counted down, never enforced: no test waits a
# month, and a monthly refusal would look exactly like a per-window one.
MONTH_REQUESTS = 1_000_000_000
MONTH_TOKENS = 100_000_000_000


def seconds_text(seconds: float) -> str:
    """``seconds`` rounded up to the millisecond, as the headers write it: ``"0.734"``, ``"60"``.

    Rounded up so that a client waiting that long finds the window refilled.
    """
    millis = max(0, math.ceil(seconds * 1000))
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis / 1000:.3f}".rstrip("0")


@dataclass
class Ticket:
    """One request's place in the budgets: the window it counted in, and its token cost.

    ``window`` is None for a request that was not counted (an unserved path, a refusal).
    """

    window: int | None = None
    cost: int = 0


class RateLimited(Exception):
    """The window's budget is spent: answer 429 and come back in ``wait`` seconds."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.message = message
        self.wait = wait


def _limit(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None (no limit), not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, or None for no limit; got {value}")
    return value


def _window(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"rate_window must be a number of seconds, not {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"rate_window must be a positive number of seconds, got {value!r}")
    return float(value)


class RateLimiter:
    """Request and token budgets per fixed window, and the headers that report them.

    ``requests_per_minute`` and ``tokens_per_minute`` are the budgets of one window
    (named as Mistral's headers name them, whatever ``window`` is); ``None`` enforces
    nothing and advertises :data:`UNLIMITED_REQUESTS` / :data:`UNLIMITED_TOKENS`.
    Each may be changed at any time, from any thread; a change applies to the current
    window at once.
    """

    def __init__(
        self,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._requests_limit = _limit("requests_per_minute", requests_per_minute)
        self._tokens_limit = _limit("tokens_per_minute", tokens_per_minute)
        self._window = _window(window)
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._started: float | None = None
        self._requests = 0
        self._tokens = 0
        self._month_requests = 0
        self._month_tokens = 0

    @property
    def requests_per_minute(self) -> int | None:
        """Requests allowed per window; None: not enforced."""
        return self._requests_limit

    @requests_per_minute.setter
    def requests_per_minute(self, value: int | None) -> None:
        self._requests_limit = _limit("requests_per_minute", value)

    @property
    def tokens_per_minute(self) -> int | None:
        """Tokens allowed per window; None: not enforced."""
        return self._tokens_limit

    @tokens_per_minute.setter
    def tokens_per_minute(self, value: int | None) -> None:
        self._tokens_limit = _limit("tokens_per_minute", value)

    @property
    def window(self) -> float:
        """The window's length in seconds."""
        return self._window

    @window.setter
    def window(self, value: float) -> None:
        self._window = _window(value)

    def reset(self) -> None:
        """Refill every budget, monthly ones included; the next request opens a window."""
        with self._lock:
            self._generation += 1
            self._started = None
            self._requests = self._tokens = 0
            self._month_requests = self._month_tokens = 0

    def _roll(self, now: float) -> None:
        if self._started is not None and now >= self._started + self._window:
            self._generation += 1
            self._started = None
            self._requests = self._tokens = 0

    def admit(self, ticket: Ticket) -> None:
        """Count one request in ``ticket``, or raise :class:`RateLimited` if the window is spent."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            if self._started is None:
                self._started = now
            wait = self._started + self._window - now
            if self._requests_limit is not None and self._requests >= self._requests_limit:
                raise RateLimited("Requests rate limit exceeded", wait)
            if self._tokens_limit is not None and self._tokens >= self._tokens_limit:
                raise RateLimited("Tokens rate limit exceeded", wait)
            self._requests += 1
            self._month_requests += 1
            ticket.window = self._generation

    def charge(self, ticket: Ticket, tokens: int) -> None:
        """Spend ``tokens`` on the request of ``ticket``."""
        with self._lock:
            ticket.cost += tokens
            self._month_tokens += tokens
            # A turn that outlived its window spends nothing of the next one.
            if ticket.window == self._generation:
                self._tokens += tokens

    def headers(self, ticket: Ticket) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers of an answer, as the budgets stand now."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            # A window not yet open is full, and full already: nothing to wait for.
            reset = 0.0 if self._started is None else self._started + self._window - now
            requests = _or(self._requests_limit, UNLIMITED_REQUESTS)
            tokens = _or(self._tokens_limit, UNLIMITED_TOKENS)
            reset_text = seconds_text(reset)
            return {
                "x-ratelimit-limit-req-minute": str(requests),
                "x-ratelimit-remaining-req-minute": str(max(0, requests - self._requests)),
                "x-ratelimit-reset-req-minute": reset_text,
                "x-ratelimit-limit-tokens-minute": str(tokens),
                "x-ratelimit-remaining-tokens-minute": str(max(0, tokens - self._tokens)),
                "x-ratelimit-reset-tokens-minute": reset_text,
                "x-ratelimit-tokens-query-cost": str(ticket.cost),
                "x-ratelimit-limit-req-month": str(MONTH_REQUESTS),
                "x-ratelimit-remaining-req-month": str(
                    max(0, MONTH_REQUESTS - self._month_requests)
                ),
                "x-ratelimit-limit-tokens-month": str(MONTH_TOKENS),
                "x-ratelimit-remaining-tokens-month": str(
                    max(0, MONTH_TOKENS - self._month_tokens)
                ),
            }


def _or(limit: int | None, default: int) -> int:
    return default if limit is None else limit
