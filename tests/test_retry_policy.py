"""The retry policy: what is retried for which method, how long to wait, when to give up."""

from __future__ import annotations

import doctest
import math
import random
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from mistral_conversations import _retry
from mistral_conversations._retry import Decision, Failure, GiveUp, RetryPolicy, parse_retry_after

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)

# Written out by hand, not derived from the module, so that a change there shows here.
RETRIED_FOR_SAFE_METHODS = {
    Failure.CONNECT,
    Failure.TIMEOUT,
    Failure.DROPPED,
    408,
    429,
    500,
    502,
    503,
    504,
}
RETRIED_FOR_POST_BY_DEFAULT = {Failure.CONNECT, 429, 503}
NEVER_RETRIED = [400, 401, 403, 404, 409, 422, 501, 505]
ALL_FAILURES = [*Failure, 408, 429, 500, 502, 503, 504, *NEVER_RETRIED]


def test_the_worked_example_in_the_docstring_holds() -> None:
    results = doctest.testmod(_retry)
    assert results.attempted >= 6
    assert results.failed == 0


# --- which failures are retried ------------------------------------------------------


@pytest.mark.parametrize("failure", ALL_FAILURES, ids=str)
@pytest.mark.parametrize("retry_posts", ["safe", "all"])
@pytest.mark.parametrize("method", ["GET", "DELETE", "POST", "get", "delete", "post"])
def test_retry_matrix(method: str, retry_posts: str, failure: Failure | int) -> None:
    policy = RetryPolicy(retry_posts=retry_posts)  # type: ignore[arg-type]
    if method.upper() == "POST" and retry_posts == "safe":
        expected = failure in RETRIED_FOR_POST_BY_DEFAULT
    else:
        expected = failure in RETRIED_FOR_SAFE_METHODS

    assert policy.should_retry(method=method, failure=failure) is expected
    decision = policy.decide(method=method, failure=failure, attempt=1, elapsed=0.0)
    if expected:
        assert decision.give_up is None
        assert decision.reason == ""
    else:
        assert decision.give_up is GiveUp.NOT_RETRYABLE
        assert decision.reason


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (Failure.DROPPED, "the connection dropped after the POST was sent"),
        (Failure.TIMEOUT, "the POST timed out after it was sent"),
        (500, "the POST was answered with HTTP 500"),
        (408, "the POST was answered with HTTP 408"),
    ],
)
def test_a_post_not_sent_again_says_why_and_how_to_widen(failure: Failure | int, says: str) -> None:
    decision = RetryPolicy().decide(method="post", failure=failure, attempt=1, elapsed=0.0)
    assert decision.give_up is GiveUp.NOT_RETRYABLE
    assert decision.reason.startswith(says)
    assert "the server may have acted on it" in decision.reason
    assert "retry_posts='all'" in decision.reason


def test_a_status_never_retried_says_so() -> None:
    decision = RetryPolicy().decide(method="GET", failure=404, attempt=1, elapsed=0.0)
    assert decision == Decision(give_up=GiveUp.NOT_RETRYABLE, reason="HTTP 404 is not retried")


def test_other_non_idempotent_methods_are_treated_like_post() -> None:
    policy = RetryPolicy()
    assert not policy.should_retry(method="PATCH", failure=Failure.DROPPED)
    assert policy.should_retry(method="PATCH", failure=Failure.CONNECT)
    assert policy.should_retry(method="PUT", failure=Failure.DROPPED)


def test_give_up_members_are_truthy_so_the_transport_can_test_them() -> None:
    assert not Decision(delay=1.0).give_up
    assert Decision(give_up=GiveUp.ATTEMPTS).give_up


# --- how long to wait ----------------------------------------------------------------


def test_backoff_without_jitter_doubles_up_to_max_delay() -> None:
    policy = RetryPolicy(jitter=False)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_follows_initial_delay_and_multiplier() -> None:
    policy = RetryPolicy(jitter=False, initial_delay=0.1, multiplier=3.0, max_delay=1.0)
    assert [policy.backoff(n) for n in range(1, 5)] == pytest.approx([0.1, 0.3, 0.9, 1.0])


def test_full_jitter_scales_the_ceiling_by_the_draw() -> None:
    policy = RetryPolicy()
    assert policy.backoff(3, rng=lambda: 0.25) == 0.5
    assert policy.backoff(3, rng=lambda: 0.0) == 0.0
    expected = 2.0 * random.Random(7).random()
    assert policy.backoff(3, rng=random.Random(7)) == expected


def test_full_jitter_without_an_rng_varies_within_the_ceiling() -> None:
    policy = RetryPolicy()
    draws = {policy.backoff(4) for _ in range(50)}
    assert len(draws) > 1
    assert all(0.0 <= d <= 4.0 for d in draws)


def test_backoff_counts_retries_from_one() -> None:
    with pytest.raises(ValueError, match="retry must be >= 1, got 0"):
        RetryPolicy().backoff(0)


def test_decide_uses_the_computed_delay_for_the_retry_number() -> None:
    policy = RetryPolicy(max_attempts=10, jitter=False, max_elapsed=None)
    delays = [
        policy.decide(method="GET", failure=503, attempt=n, elapsed=0.0).delay for n in (1, 2, 3)
    ]
    assert delays == [0.5, 1.0, 2.0]


policies = st.builds(
    RetryPolicy,
    initial_delay=st.floats(0, 100),
    max_delay=st.floats(0, 100),
    multiplier=st.floats(1, 1000),
    jitter=st.booleans(),
)


@given(policy=policies, retry=st.integers(1, 100_000), draw=st.floats(0, 1, exclude_max=True))
def test_backoff_stays_within_zero_and_max_delay(
    policy: RetryPolicy, retry: int, draw: float
) -> None:
    delay = policy.backoff(retry, rng=lambda: draw)
    assert 0.0 <= delay <= policy.max_delay
    assert math.isfinite(delay)


@given(policy=policies, retry=st.integers(1, 10_000))
def test_the_backoff_ceiling_never_decreases(policy: RetryPolicy, retry: int) -> None:
    policy = attrs.evolve(policy, jitter=False)
    assert policy.backoff(retry) <= policy.backoff(retry + 1)


# --- Retry-After ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "5"}, 5.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": " 7 "}, 7.0),
        ({"retry-after": "3"}, 3.0),
        ({"RETRY-AFTER": "3"}, 3.0),
        ({"Retry-After": "Sat, 01 Mar 2025 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "Sat, 01 Mar 2025 13:00:00 +0100"}, 0.0),
        ({"Retry-After": "Sat, 01 Mar 2025 12:01:00 -0000"}, 60.0),
        ({"Retry-After": "Sat, 01 Mar 2025 11:59:00 GMT"}, 0.0),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5"}, 0.2505),
        ({"Retry-After-Ms": "250"}, 0.25),
        ({"Retry-After": "30", "retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "Retry-After": "30"}, 1.5),
        ({"retry-after-ms": "soon", "Retry-After": "30"}, 30.0),
        ({}, None),
        ({"Content-Type": "application/json"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "soon",
        "-5",
        "+5",
        "1e3",
        "inf",
        "nan",
        "0x10",
        "1_000",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: float() takes it, HTTP does not
        "5 seconds",
        "Sat, 32 Mar 2025 12:00:00 GMT",
        "Mon, 01 Foo 2025 12:00:00 GMT",
        "9" * 400,
    ],
)
def test_parse_retry_after_ignores_garbage(garbage: str) -> None:
    assert parse_retry_after({"Retry-After": garbage}, now=NOW) is None
    assert parse_retry_after({"retry-after-ms": garbage}, now=NOW) is None


def test_parse_retry_after_reads_aiohttp_headers_in_any_case() -> None:
    headers = CIMultiDictProxy(CIMultiDict({"RETRY-AFTER": "4"}))
    assert parse_retry_after(headers, now=NOW) == 4.0


def test_parse_retry_after_takes_now_as_timestamp_or_naive_utc_datetime() -> None:
    headers = {"Retry-After": "Sat, 01 Mar 2025 12:00:30 GMT"}
    assert parse_retry_after(headers, now=NOW.timestamp()) == 30.0
    assert parse_retry_after(headers, now=NOW.replace(tzinfo=None)) == 30.0
    assert parse_retry_after(headers, now=NOW.astimezone(timezone(timedelta(hours=5)))) == 30.0


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
def test_a_date_or_now_without_a_zone_is_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "EST5")  # a POSIX zone string: needs no tz database
    time.tzset()
    try:
        zoneless = {"Retry-After": "Sat, 01 Mar 2025 12:01:00 -0000"}
        assert parse_retry_after(zoneless, now=NOW) == 60.0
        gmt = {"Retry-After": "Sat, 01 Mar 2025 12:00:30 GMT"}
        assert parse_retry_after(gmt, now=NOW.replace(tzinfo=None)) == 30.0
    finally:
        monkeypatch.undo()
        time.tzset()


def test_parse_retry_after_measures_a_date_from_the_clock_by_default() -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=120)
    waited = parse_retry_after({"Retry-After": format_datetime(soon, usegmt=True)})
    assert waited is not None
    assert 115.0 <= waited <= 120.0


@given(st.integers(0, 10**12))
def test_parse_retry_after_delta_seconds_round_trip(seconds: int) -> None:
    assert parse_retry_after({"Retry-After": str(seconds)}) == seconds


@given(st.integers(0, 10**9))
def test_parse_retry_after_ms_round_trip(millis: int) -> None:
    assert parse_retry_after({"retry-after-ms": str(millis)}) == pytest.approx(millis / 1000)


@given(st.integers(-(10**9), 10**9))
def test_parse_retry_after_http_date_round_trip(offset: int) -> None:
    when = format_datetime(NOW + timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after({"Retry-After": when}, now=NOW) == max(0, offset)


@given(st.text(), st.text())
def test_parse_retry_after_never_raises(retry_after: str, retry_after_ms: str) -> None:
    for headers in (
        {"Retry-After": retry_after},
        {"retry-after-ms": retry_after_ms, "Retry-After": retry_after},
    ):
        waited = parse_retry_after(headers, now=NOW)
        assert waited is None or (math.isfinite(waited) and waited >= 0)


def test_a_server_demand_wins_over_backoff_and_is_not_jittered() -> None:
    decision = RetryPolicy().decide(
        method="GET",
        failure=503,
        attempt=1,
        elapsed=0.0,
        headers={"Retry-After": "12"},
        rng=lambda: 0.0,
    )
    assert decision == Decision(delay=12.0, retry_after=12.0)


def test_a_server_demand_shorter_than_backoff_wins_too() -> None:
    policy = RetryPolicy(jitter=False)
    decision = policy.decide(
        method="GET", failure=429, attempt=3, elapsed=0.0, headers={"retry-after-ms": "100"}
    )
    assert decision.delay == 0.1


def test_a_server_demand_as_a_date_is_measured_from_now() -> None:
    decision = RetryPolicy().decide(
        method="POST",
        failure=429,
        attempt=1,
        elapsed=0.0,
        headers={"Retry-After": "Sat, 01 Mar 2025 12:00:20 GMT"},
        now=NOW,
    )
    assert decision == Decision(delay=20.0, retry_after=20.0)


def test_a_server_demand_over_max_retry_after_gives_up_at_once() -> None:
    decision = RetryPolicy().decide(
        method="POST", failure=429, attempt=1, elapsed=0.0, headers={"Retry-After": "61"}
    )
    assert decision.give_up is GiveUp.RETRY_AFTER
    assert decision.retry_after == 61.0
    assert decision.reason == (
        "the server asked to wait 61s before trying again, longer than max_retry_after=60s"
    )


def test_a_server_demand_of_exactly_max_retry_after_is_honoured() -> None:
    policy = RetryPolicy(max_retry_after=10.0, max_elapsed=None)
    decision = policy.decide(
        method="GET", failure=503, attempt=1, elapsed=0.0, headers={"Retry-After": "10"}
    )
    assert decision == Decision(delay=10.0, retry_after=10.0)


def test_without_respect_retry_after_the_demand_is_reported_but_not_followed() -> None:
    policy = RetryPolicy(respect_retry_after=False, jitter=False)
    decision = policy.decide(
        method="GET", failure=429, attempt=1, elapsed=0.0, headers={"Retry-After": "3600"}
    )
    assert decision == Decision(delay=0.5, retry_after=3600.0)


def test_the_demand_is_reported_when_giving_up_for_another_reason() -> None:
    decision = RetryPolicy.disabled().decide(
        method="POST", failure=429, attempt=1, elapsed=0.0, headers={"Retry-After": "2"}
    )
    assert decision.give_up is GiveUp.ATTEMPTS
    assert decision.retry_after == 2.0


# --- attempts and time ----------------------------------------------------------------


def test_max_attempts_counts_the_first_attempt() -> None:
    policy = RetryPolicy(max_attempts=4, jitter=False)
    outcomes = [
        policy.decide(method="GET", failure=Failure.TIMEOUT, attempt=n, elapsed=0.0).give_up
        for n in (1, 2, 3, 4, 5)
    ]
    assert outcomes == [None, None, None, GiveUp.ATTEMPTS, GiveUp.ATTEMPTS]
    last = policy.decide(method="GET", failure=Failure.TIMEOUT, attempt=4, elapsed=0.0)
    assert last.reason == "gave up after 4 attempts (max_attempts=4)"


def test_disabled_makes_one_attempt() -> None:
    policy = RetryPolicy.disabled()
    assert policy == RetryPolicy(max_attempts=1)
    decision = policy.decide(method="GET", failure=Failure.CONNECT, attempt=1, elapsed=0.0)
    assert decision == Decision(
        give_up=GiveUp.ATTEMPTS, reason="retries are disabled (max_attempts=1)"
    )


def test_a_failure_never_retried_is_reported_as_such_even_when_disabled() -> None:
    decision = RetryPolicy.disabled().decide(
        method="POST", failure=Failure.DROPPED, attempt=1, elapsed=0.0
    )
    assert decision.give_up is GiveUp.NOT_RETRYABLE


def test_max_elapsed_stops_a_wait_that_would_pass_it() -> None:
    policy = RetryPolicy(jitter=False)  # first wait 0.5s, max_elapsed 60s
    ok = policy.decide(method="GET", failure=502, attempt=1, elapsed=59.5)
    assert ok == Decision(delay=0.5)
    late = policy.decide(method="GET", failure=502, attempt=1, elapsed=59.6)
    assert late.give_up is GiveUp.ELAPSED
    assert late.reason == (
        "gave up after 1 attempt in 59.6s: waiting 0.5s more would pass max_elapsed=60s"
    )


def test_max_elapsed_counts_a_server_demand() -> None:
    decision = RetryPolicy().decide(
        method="GET", failure=503, attempt=2, elapsed=50.0, headers={"Retry-After": "11"}
    )
    assert decision.give_up is GiveUp.ELAPSED
    assert decision.retry_after == 11.0


def test_max_elapsed_none_means_no_time_limit() -> None:
    policy = RetryPolicy(max_elapsed=None, jitter=False)
    decision = policy.decide(method="GET", failure=502, attempt=1, elapsed=1e9)
    assert decision == Decision(delay=0.5)


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 1, got 0"):
        RetryPolicy().decide(method="GET", failure=502, attempt=0, elapsed=0.0)


@given(
    max_attempts=st.integers(1, 20),
    max_elapsed=st.none() | st.floats(0, 100),
    retry_after=st.none() | st.integers(0, 120).map(str),
    seed=st.integers(),
)
def test_a_transport_following_the_policy_stays_within_its_limits(
    max_attempts: int, max_elapsed: float | None, retry_after: str | None, seed: int
) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, max_elapsed=max_elapsed)
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    rng = random.Random(seed)
    clock = 0.0  # when the current attempt starts, counted from the first
    attempt = 1
    while True:
        decision = policy.decide(
            method="GET", failure=503, attempt=attempt, elapsed=clock, headers=headers, rng=rng
        )
        if decision.give_up:
            break
        assert decision.delay >= 0.0
        clock += decision.delay
        attempt += 1
    assert attempt <= max_attempts
    if max_elapsed is not None:
        assert clock <= max_elapsed
    if attempt < max_attempts:
        assert decision.give_up in (GiveUp.ELAPSED, GiveUp.RETRY_AFTER)


# --- construction ---------------------------------------------------------------------


def test_defaults_match_the_design() -> None:
    assert RetryPolicy() == RetryPolicy(
        max_attempts=4,
        initial_delay=0.5,
        max_delay=8.0,
        multiplier=2.0,
        jitter=True,
        max_elapsed=60.0,
        respect_retry_after=True,
        max_retry_after=60.0,
        retry_posts="safe",
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_attempts": 0}, ValueError, r"max_attempts must be >= 1 \(1 means no retry\), got 0"),
        ({"max_attempts": -3}, ValueError, "max_attempts must be >= 1"),
        ({"max_attempts": 2.0}, TypeError, "max_attempts must be an int, got 2.0"),
        ({"max_attempts": True}, TypeError, "max_attempts must be an int, got True"),
        ({"initial_delay": -0.1}, ValueError, "initial_delay must be >= 0, got -0.1"),
        ({"initial_delay": math.nan}, ValueError, "initial_delay must be >= 0, got nan"),
        ({"initial_delay": "1"}, TypeError, "initial_delay must be a number, got '1'"),
        ({"max_delay": -1}, ValueError, "max_delay must be >= 0, got -1"),
        ({"max_delay": math.inf}, ValueError, "max_delay must be finite, got inf"),
        ({"multiplier": 0.5}, ValueError, "multiplier must be >= 1, got 0.5"),
        ({"multiplier": None}, TypeError, "multiplier must be a number, got None"),
        ({"max_elapsed": -1.0}, ValueError, "max_elapsed must be >= 0, got -1.0"),
        ({"max_retry_after": -1}, ValueError, "max_retry_after must be >= 0, got -1"),
        ({"max_retry_after": None}, TypeError, "max_retry_after must be a number"),
        ({"retry_posts": "yes"}, ValueError, "retry_posts must be 'safe' or 'all', got 'yes'"),
        ({"retry_posts": True}, ValueError, "retry_posts must be 'safe' or 'all', got True"),
        ({"jitter": "no"}, TypeError, "jitter"),
        ({"respect_retry_after": 1}, TypeError, "respect_retry_after"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 1},
        {"initial_delay": 0, "max_delay": 0},
        {"multiplier": 1},
        {"max_elapsed": None},
        {"max_elapsed": 0},
        {"max_retry_after": 0},
        {"max_retry_after": math.inf},
        {"retry_posts": "all"},
        {"initial_delay": 10.0, "max_delay": 1.0},
    ],
)
def test_edge_arguments_are_accepted(kwargs: dict[str, object]) -> None:
    RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_policy_is_frozen_and_keyword_only() -> None:
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_attempts = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[call-arg]


def test_instant_policy_for_tests_never_waits() -> None:
    policy = RetryPolicy(initial_delay=0, respect_retry_after=False)
    for attempt in (1, 2, 3):
        decision = policy.decide(
            method="GET", failure=503, attempt=attempt, elapsed=0.0, headers={"Retry-After": "9"}
        )
        assert decision.delay == 0.0
        assert decision.give_up is None


def test_one_attempt_longer_than_max_elapsed_says_so() -> None:
    policy = RetryPolicy(max_elapsed=60.0, jitter=False)
    decision = policy.decide(method="GET", failure=Failure.TIMEOUT, attempt=1, elapsed=120.1)
    assert decision.give_up is GiveUp.ELAPSED
    assert decision.reason == ("gave up after 1 attempt: it took 120.1s, past max_elapsed=60s")
