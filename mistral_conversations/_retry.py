"""When to send a failed request again, and how long to wait first.

Plain data and pure functions: nothing here sleeps, touches the network or knows aiohttp.
After each failed attempt the transport names the failure, asks
:meth:`RetryPolicy.decide`, and either sleeps ``decision.delay`` seconds and tries again
or raises, ending its message with ``decision.reason``.
"""

from __future__ import annotations

import enum
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import attrs

__all__ = [
    "RETRYABLE_STATUSES",
    "Decision",
    "Failure",
    "GiveUp",
    "RetryPolicy",
    "parse_retry_after",
]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""The HTTP statuses worth trying again (for a POST only some of them; see RetryPolicy)."""

# The statuses by which the server says it did not act on the request, so that even a
# POST may be sent again.
_NOT_ACTED_STATUSES = frozenset({429, 503})

# RFC 9110, section 9.2.2: sending these twice has the same effect as sending them once.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

# Delta-seconds, with the fraction some servers send; ASCII digits only, no sign, no
# exponent, no "inf", which float() alone would all accept.
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class Failure(enum.Enum):
    """How an attempt failed when no HTTP status came back; a status is passed as an int.

    The transport picks the member by what it knows of the request's fate. Where it cannot
    tell whether the request was written, it picks TIMEOUT or DROPPED: for a POST the safe
    assumption is that the server may have acted.
    """

    CONNECT = "connect"
    """No request reached the server.

    Connecting failed or timed out (a connect timeout is CONNECT, not TIMEOUT), or the
    request could not be written, including on a pooled keep-alive connection found dead
    before the request went out.
    """

    TIMEOUT = "timeout"
    """The request was (possibly) sent, then a read or total time limit ran out."""

    DROPPED = "dropped"
    """The connection broke after the request was (possibly) sent, before the answer."""


class GiveUp(enum.Enum):
    """Why no further attempt is made. Members are truthy, so ``if decision.give_up:``."""

    NOT_RETRYABLE = "not_retryable"
    """This failure is never retried for this method under this policy."""

    ATTEMPTS = "attempts"
    """``max_attempts`` attempts have been made."""

    RETRY_AFTER = "retry_after"
    """The server asked for a wait longer than ``max_retry_after``."""

    ELAPSED = "elapsed"
    """The next attempt would start more than ``max_elapsed`` seconds after the first."""


@attrs.frozen(kw_only=True)
class Decision:
    """What to do after a failed attempt: wait ``delay`` seconds and try again, or give up.

    ``give_up`` is None to retry, else the :class:`GiveUp` that says why not. ``reason``
    says why in words that can end an error message; it is empty when retrying.
    ``retry_after`` is the wait in seconds that the answer's headers asked for (None if
    they asked none), whether or not it was honoured: it is what
    :attr:`~mistral_conversations.errors.RateLimitError.retry_after` carries.
    """

    delay: float = 0.0
    give_up: GiveUp | None = None
    retry_after: float | None = None
    reason: str = ""


def _number(
    minimum: float, *, finite: bool = True, none: bool = False
) -> Callable[[Any, Any, Any], None]:
    """Return an attrs validator: a real number (not a bool), at least *minimum*."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if none and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{attribute.name} must be a number, got {value!r}")
        if not value >= minimum:  # written so that NaN fails too
            raise ValueError(f"{attribute.name} must be >= {minimum:g}, got {value!r}")
        if finite and math.isinf(value):
            raise ValueError(f"{attribute.name} must be finite, got {value!r}")

    return check


def _check_attempts(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_attempts must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"max_attempts must be >= 1 (1 means no retry), got {value!r}")


def _check_retry_posts(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in ("safe", "all"):
        raise ValueError(f"retry_posts must be 'safe' or 'all', got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When to send a failed request again, and how long to wait before each new attempt.

    A handful of keyword arguments, with defaults that suit an interactive client::

        AsyncClient(retry=RetryPolicy(max_attempts=6, max_elapsed=120.0))
        AsyncClient(retry=RetryPolicy.disabled())        # one attempt, never retried
        await client.get(conversation_id, retry=RetryPolicy(max_attempts=2))

    What is retried depends on the method, because sending a request again is safe only
    where doing a thing twice is the same as doing it once:

    * GET and DELETE are sent again after any failure that may pass: the connection could
      not be made (:attr:`Failure.CONNECT`), a time limit ran out
      (:attr:`Failure.TIMEOUT`), the connection dropped before the answer
      (:attr:`Failure.DROPPED`), and the statuses 408, 429, 500, 502, 503 and 504. (A
      DELETE whose first attempt did take effect gets 404 when sent again.)
    * A POST is not idempotent here: ``start`` creates a conversation, and sending an
      ``append`` twice writes the turn twice. So by default (``retry_posts="safe"``) a
      POST is sent again only where the server cannot have acted on it: the connection
      could not be made or the request was never written (:attr:`Failure.CONNECT`,
      connect timeouts included), 429 (rate limited) and 503 (unavailable). A POST that
      timed out or lost its connection after it was sent, or that got 408, 500, 502 or
      504, is not sent again; the error says why, and the caller, who knows whether a
      duplicate turn matters, decides.
    * ``retry_posts="all"`` sends POSTs again on everything GET is, for callers who prefer
      a possible duplicate to a failure.

    The wait before retry *n* (1 for the first) is ``min(max_delay, initial_delay *
    multiplier ** (n - 1))``; with ``jitter`` it is drawn uniformly between 0 and that
    ("full jitter"), so that clients that failed together do not come back together. When
    the answer says how long to wait (``retry-after-ms``, else ``Retry-After`` in seconds
    or as an HTTP date) and ``respect_retry_after`` is true, that wait is used instead, as
    it is, without jitter; a demand longer than ``max_retry_after`` seconds gives up at
    once rather than sleep that long (a 429 then raises
    :class:`~mistral_conversations.errors.RateLimitError` with its ``retry_after``). No
    attempt starts more than ``max_elapsed`` seconds after the first: a wait that would
    pass it gives up instead. A stream is retried only before its body begins.

    A worked example, without jitter so that the numbers are exact. After each failed
    attempt the transport says how many attempts were made and how long ago the first
    one started:

    >>> policy = RetryPolicy(max_attempts=3, initial_delay=1.0, jitter=False)
    >>> policy.decide(method="GET", failure=Failure.DROPPED, attempt=1, elapsed=0.3)
    Decision(delay=1.0, give_up=None, retry_after=None, reason='')
    >>> policy.decide(method="GET", failure=502, attempt=2, elapsed=1.6).delay
    2.0
    >>> policy.decide(method="GET", failure=502, attempt=3, elapsed=4.0).reason
    'gave up after 3 attempts (max_attempts=3)'
    >>> policy.decide(method="POST", failure=Failure.DROPPED, attempt=1, elapsed=0.3).give_up
    <GiveUp.NOT_RETRYABLE: 'not_retryable'>
    >>> policy.decide(
    ...     method="POST", failure=429, attempt=1, elapsed=0.3, headers={"Retry-After": "7"}
    ... ).delay
    7.0
    >>> policy.decide(
    ...     method="POST", failure=429, attempt=1, elapsed=0.3, headers={"Retry-After": "90"}
    ... ).reason
    'the server asked to wait 90s before trying again, longer than max_retry_after=60s'

    Tests that retry against a fake server run at once with
    ``RetryPolicy(initial_delay=0, respect_retry_after=False)``.
    """

    max_attempts: int = attrs.field(default=4, validator=_check_attempts)
    """Attempts in all, the first included; 1 means no retry."""

    initial_delay: float = attrs.field(default=0.5, validator=_number(0))
    """Seconds before the first retry, before jitter."""

    max_delay: float = attrs.field(default=8.0, validator=_number(0))
    """The most the computed wait grows to, before jitter."""

    multiplier: float = attrs.field(default=2.0, validator=_number(1))
    """How much the computed wait grows from one retry to the next."""

    jitter: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    """Draw each computed wait uniformly between 0 and its value."""

    max_elapsed: float | None = attrs.field(
        default=60.0, validator=_number(0, finite=False, none=True)
    )
    """No attempt starts more than this many seconds after the first; None: no limit."""

    respect_retry_after: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )
    """Wait as long as the server's ``retry-after-ms`` or ``Retry-After`` asks."""

    max_retry_after: float = attrs.field(default=60.0, validator=_number(0, finite=False))
    """A server demand longer than this many seconds gives up at once."""

    retry_posts: Literal["safe", "all"] = attrs.field(default="safe", validator=_check_retry_posts)
    """``"safe"``: POSTs only where the server cannot have acted; ``"all"``: as GET."""

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """Return a policy that makes one attempt and never retries."""
        return cls(max_attempts=1)

    def should_retry(self, *, method: str, failure: Failure | int) -> bool:
        """Return whether this kind of failure may be retried for *method*.

        *failure* is a :class:`Failure`, or the HTTP status the answer came with. Attempts,
        time and ``Retry-After`` are not considered here; :meth:`decide` does that.
        """
        if isinstance(failure, Failure):
            return failure is Failure.CONNECT or self._may_resend(method)
        if failure not in RETRYABLE_STATUSES:
            return False
        return failure in _NOT_ACTED_STATUSES or self._may_resend(method)

    def backoff(
        self, retry: int, *, rng: random.Random | Callable[[], float] | None = None
    ) -> float:
        """Return the computed wait in seconds before retry number *retry* (1 for the first).

        That is ``min(max_delay, initial_delay * multiplier ** (retry - 1))``, times a draw
        in [0, 1) from *rng* when ``jitter`` is on. *rng* is a :class:`random.Random` or a
        function like :func:`random.random`; None uses the :mod:`random` module's own.
        """
        if retry < 1:
            raise ValueError(f"retry must be >= 1, got {retry!r}")
        ceiling = self._ceiling(retry)
        if not self.jitter:
            return ceiling
        draw = rng.random if isinstance(rng, random.Random) else (rng or random.random)
        return ceiling * draw()

    def decide(
        self,
        *,
        method: str,
        failure: Failure | int,
        attempt: int,
        elapsed: float,
        headers: Mapping[str, str] | None = None,
        now: float | datetime | None = None,
        rng: random.Random | Callable[[], float] | None = None,
    ) -> Decision:
        """Return what to do after a failed attempt: the :class:`Decision`.

        *method* is the request's HTTP method; *failure* a :class:`Failure`, or the HTTP
        status the answer came with, whose *headers* are read for ``retry-after-ms`` and
        ``Retry-After``. *attempt* counts the attempts made so far, the failed one
        included (1 after the first); *elapsed* is the seconds since the first attempt
        started, on a monotonic clock. *now* (a POSIX timestamp or a datetime, by default
        the current time) is what a ``Retry-After`` date is measured from, and *rng* is
        passed to :meth:`backoff`.

        The checks come in this order: a failure this policy never retries, attempts used
        up, a server demand longer than ``max_retry_after``, ``max_elapsed`` passed.
        """
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt!r}")
        retry_after = None if headers is None else parse_retry_after(headers, now=now)

        def give_up(why: GiveUp, reason: str) -> Decision:
            return Decision(give_up=why, retry_after=retry_after, reason=reason)

        if not self.should_retry(method=method, failure=failure):
            return give_up(GiveUp.NOT_RETRYABLE, _not_retryable(method, failure))
        if attempt >= self.max_attempts:
            if self.max_attempts == 1:
                return give_up(GiveUp.ATTEMPTS, "retries are disabled (max_attempts=1)")
            return give_up(
                GiveUp.ATTEMPTS,
                f"gave up after {attempt} attempts (max_attempts={self.max_attempts})",
            )
        if self.respect_retry_after and retry_after is not None:
            if retry_after > self.max_retry_after:
                return give_up(
                    GiveUp.RETRY_AFTER,
                    f"the server asked to wait {retry_after:g}s before trying again, "
                    f"longer than max_retry_after={self.max_retry_after:g}s",
                )
            delay = retry_after
        else:
            delay = self.backoff(attempt, rng=rng)
        if self.max_elapsed is not None and elapsed + delay > self.max_elapsed:
            attempts = f"{attempt} attempt{'s' if attempt > 1 else ''}"
            if elapsed >= self.max_elapsed:  # e.g. one read timeout longer than max_elapsed
                took = f"{'it' if attempt == 1 else 'they'} took {elapsed:.1f}s"
                why = f"{attempts}: {took}, past max_elapsed={self.max_elapsed:g}s"
            else:
                why = f"{attempts} in {elapsed:.1f}s: waiting {delay:.1f}s more would pass "
                why += f"max_elapsed={self.max_elapsed:g}s"
            return give_up(GiveUp.ELAPSED, f"gave up after {why}")
        return Decision(delay=delay, retry_after=retry_after)

    def _may_resend(self, method: str) -> bool:
        return self.retry_posts == "all" or method.upper() in _IDEMPOTENT_METHODS

    def _ceiling(self, retry: int) -> float:
        if self.initial_delay == 0:
            return 0.0
        try:
            grown = self.initial_delay * float(self.multiplier) ** (retry - 1)
        except OverflowError:
            return float(self.max_delay)
        return float(min(self.max_delay, grown))


def _not_retryable(method: str, failure: Failure | int) -> str:
    """Say why *failure* is not retried for *method*, in words that can end a message."""
    if isinstance(failure, int) and failure not in RETRYABLE_STATUSES:
        return f"HTTP {failure} is not retried"
    method = method.upper()
    if failure is Failure.TIMEOUT:
        what = f"the {method} timed out after it was sent"
    elif failure is Failure.DROPPED:
        what = f"the connection dropped after the {method} was sent"
    else:
        what = f"the {method} was answered with HTTP {failure}"
    return (
        f"{what}, so the server may have acted on it; it was not sent again, since that "
        f"could act twice (RetryPolicy(retry_posts='all') sends it again anyway)"
    )


def parse_retry_after(
    headers: Mapping[str, str], *, now: float | datetime | None = None
) -> float | None:
    """Return the wait in seconds that the answer's headers ask for, or None.

    ``retry-after-ms`` (milliseconds, maybe fractional) wins over ``Retry-After``, which
    is delta-seconds (an integer, or a decimal as some servers send) or an HTTP date,
    measured from *now* (a POSIX timestamp or a datetime; by default the current time); a
    date in the past means 0. A value that is neither is ignored: a bad
    ``retry-after-ms`` falls back to ``Retry-After``, and a bad ``Retry-After`` gives
    None. Header names are matched in any case, in plain dicts too.
    """
    millis = _seconds(_header(headers, "retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    # Imported here: an HTTP date is rare, and email.utils took ~5% of the package's import.
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value.strip())
        if when.tzinfo is None:  # "-0000" means UTC too, with no zone claimed
            when = when.replace(tzinfo=timezone.utc)
        target = when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # a bad date: ValueError, or TypeError on older Pythons
    if now is None:
        now = time.time()
    elif isinstance(now, datetime):
        now = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).timestamp()
    return max(0.0, target - now)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Return the header *name* (lower case) in any case, or None."""
    value = headers.get(name)  # a case-insensitive mapping (aiohttp's) finds any case here
    if value is not None:
        return value
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _seconds(value: str | None) -> float | None:
    """Return *value* as a finite non-negative number, or None if it is not one."""
    if value is None or not _SECONDS.fullmatch(value.strip()):
        return None
    number = float(value.strip())
    return number if math.isfinite(number) else None
