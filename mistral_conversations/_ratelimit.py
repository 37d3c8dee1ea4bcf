"""RateLimit: what the API's ``x-ratelimit-*`` headers say of the budget left."""

from __future__ import annotations

import time
from collections.abc import Mapping

import attrs

__all__ = ["RateLimit", "RateWindow"]

# Where no reset is sent, a per-minute window is taken to refill a minute after it was read.
_MINUTE = 60.0


@attrs.frozen(kw_only=True)
class RateWindow:
    """One budget: its ``limit``, what ``remaining`` of it, and ``reset`` seconds to refill.

    Each is None where the answer did not say (or said something that is not a number).
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None


@attrs.frozen(kw_only=True)
class RateLimit:
    """The rate limits an answer reported, per window.

    ``requests_minute`` and ``tokens_minute`` (and their monthly twins) are
    :class:`RateWindow`; ``query_cost`` is the tokens this request counted against
    them; ``read_at`` is when the headers were read, on ``time.monotonic()``'s clock.
    Missing headers are None, malformed ones are ignored, never an error.

    >>> limits = RateLimit.from_headers({"x-ratelimit-remaining-req-minute": "59"})
    >>> limits.requests_minute.remaining
    59
    """

    requests_minute: RateWindow = RateWindow()
    tokens_minute: RateWindow = RateWindow()
    requests_month: RateWindow = RateWindow()
    tokens_month: RateWindow = RateWindow()
    query_cost: int | None = None
    read_at: float = 0.0

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], *, now: float | None = None
    ) -> RateLimit | None:
        """Read the ``x-ratelimit-*`` headers; None if the answer carried none."""
        if not any(name.lower().startswith("x-ratelimit-") for name in headers):
            return None
        lower = {name.lower(): value for name, value in headers.items()}

        def window(unit: str, span: str) -> RateWindow:
            limit = _count(lower.get(f"x-ratelimit-limit-{unit}-{span}"))
            remaining = _count(lower.get(f"x-ratelimit-remaining-{unit}-{span}"))
            reset = _seconds(lower.get(f"x-ratelimit-reset-{unit}-{span}"))
            if reset is None and span == "minute" and (limit, remaining) != (None, None):
                reset = _MINUTE
            return RateWindow(limit=limit, remaining=remaining, reset=reset)

        return cls(
            requests_minute=window("req", "minute"),
            tokens_minute=window("tokens", "minute"),
            requests_month=window("req", "month"),
            tokens_month=window("tokens", "month"),
            query_cost=_count(lower.get("x-ratelimit-tokens-query-cost")),
            read_at=time.monotonic() if now is None else now,
        )


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return int(value)
    except ValueError:  # more digits than int() takes
        return None


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    # NaN, infinities and negative times are not a wait anybody meant.
    return seconds if 0 <= seconds < float("inf") else None
