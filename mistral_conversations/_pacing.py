"""Pacing: hold calls back while the per-minute budget the API last reported is spent.

Opt-in (``AsyncClient(pace=True)``). Every answer's ``x-ratelimit-*`` headers say how
many requests and tokens are left in the current minute and when it refills; the pacer
keeps its own count from there (each call it lets go takes one request, and the tokens
an average call has cost so far), and holds an attempt back until the window refills
when the count says nothing is left. A 429 empties the budget until the answer's
``Retry-After`` (or its reset) has passed. Without rate-limit headers it never waits.

The counts are conservative: calls in flight when an answer arrives are taken as not
yet counted by the server, so a burst of concurrent calls never overdraws a budget.
Until the first attempt is over, the others wait for it: the budget is not known yet,
and a batch that starts with a burst would otherwise spend it blind. If that attempt
got no answer, there is nothing to learn and the rest go as they would unpaced (probing
on, one at a time, would make a silent server cost every call its full timeout in turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Mapping

from ._ratelimit import RateLimit, RateWindow
from ._retry import parse_retry_after

__all__ = ["Pacer"]

# Where the API sends a budget but no reset, and once a reported window has refilled,
# the next one is taken to last a minute, until an answer says otherwise.
_MINUTE = 60.0


class _Budget:
    """One per-minute budget: what is left of it, by our count, and when it refills."""

    __slots__ = ("limit", "remaining", "resets_at")

    def __init__(self) -> None:
        self.limit: int | None = None
        self.remaining: float | None = None  # None: unknown, never a reason to wait
        self.resets_at: float | None = None

    def learn(self, window: RateWindow, read_at: float, spoken_for: float) -> None:
        if window.limit is not None:
            self.limit = window.limit
        if window.remaining is not None:
            self.remaining = window.remaining - spoken_for
            self.resets_at = read_at + (_MINUTE if window.reset is None else window.reset)

    def wait(self, now: float) -> float:
        """Seconds until this budget allows a call; 0 if it does now."""
        if self.resets_at is not None and now >= self.resets_at:
            self.remaining = self.limit
            self.resets_at = now + _MINUTE if self.limit is not None else None
        if self.remaining is None or self.remaining > 0:
            return 0.0
        return _MINUTE if self.resets_at is None else self.resets_at - now

    def empty_until(self, when: float) -> None:
        # The refusal's own word on when to come back wins over any earlier report.
        self.remaining = 0
        self.resets_at = when


class Pacer:
    """Per-minute request and token budgets, learnt from answers and spent by calls.

    ``acquire()`` before an attempt (it may wait), ``learn()`` with the answer's status
    and headers when one came, ``release()`` once the attempt is over, whatever happened.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._requests = _Budget()
        self._tokens = _Budget()
        self._in_flight = 0
        self._first_over = False  # whether the first attempt has ended, answered or not
        self._cost = 0.0  # the tokens a call costs, on average so far
        self._costs_seen = 0
        # Each loop's waiters wait on an event set when an answer teaches something new:
        # a fresher report may allow them to go before the window they wait for ends.
        self._news: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return (
            f"<Pacer requests left {self._requests.remaining}, tokens left "
            f"{self._tokens.remaining}, in flight {self._in_flight}>"
        )

    async def acquire(self) -> None:
        """Wait while a known budget is spent, then take this call's share of it."""
        while True:
            delay: float | None
            if not self._first_over and self._in_flight:
                delay = None  # the first attempt is out: wait for what its answer says
            else:
                now = self._clock()
                delay = max(self._requests.wait(now), self._tokens.wait(now))
                if delay <= 0:
                    break
            loop = asyncio.get_running_loop()
            news = self._news.get(loop)
            if news is None:
                news = self._news[loop] = asyncio.Event()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(news.wait(), delay)
        self._in_flight += 1
        if self._requests.remaining is not None:
            self._requests.remaining -= 1
        if self._tokens.remaining is not None:
            self._tokens.remaining -= self._cost

    def learn(self, status: int, headers: Mapping[str, str]) -> None:
        """Take in what an answer (of a call acquired and not yet released) reports."""
        self._first_over = True
        limits = RateLimit.from_headers(headers, now=self._clock())
        if limits is not None:
            others = self._in_flight - 1
            if limits.query_cost is not None:
                self._costs_seen += 1
                self._cost += (limits.query_cost - self._cost) / self._costs_seen
            self._requests.learn(limits.requests_minute, limits.read_at, others)
            self._tokens.learn(limits.tokens_minute, limits.read_at, others * self._cost)
        if status == 429:
            self._refused(parse_retry_after(headers))
        self._wake()

    def _refused(self, wait: float | None) -> None:
        # The server refused: whichever budget it meant is spent. Where the answer says
        # until when, that is the wait; else the later known window's refill, else a minute.
        now = self._clock()
        if wait is not None:
            until = now + wait
        else:
            resets = [b.resets_at for b in (self._requests, self._tokens) if b.resets_at]
            until = max(resets) if resets else now + _MINUTE
        self._requests.empty_until(until)

    def release(self) -> None:
        """The attempt acquired before is over."""
        self._in_flight -= 1
        if not self._first_over:
            self._first_over = True  # it ended with no answer: nothing to wait for
            self._wake()

    def _wake(self) -> None:
        for loop, news in list(self._news.items()):
            if loop.is_closed():
                continue
            # Waiters hold the old event; later ones wait on a new one.
            self._news[loop] = asyncio.Event()
            if loop is _running_loop():
                news.set()
            else:
                loop.call_soon_threadsafe(news.set)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
