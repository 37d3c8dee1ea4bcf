"""The pacer: per-minute budgets learnt from answers, spent by calls, waited out."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from mistral_conversations import AsyncClient, ConfigurationError, RateLimitError, RetryPolicy
from mistral_conversations._pacing import Pacer
from mistral_conversations.testing import LocalServer


def headers(
    remaining: int, reset: float, *, limit: int = 10, tokens: int | None = None, cost: int = 0
) -> dict[str, str]:
    found = {
        "x-ratelimit-limit-req-minute": str(limit),
        "x-ratelimit-remaining-req-minute": str(remaining),
        "x-ratelimit-reset-req-minute": str(reset),
        "x-ratelimit-tokens-query-cost": str(cost),
    }
    if tokens is not None:
        found |= {
            "x-ratelimit-limit-tokens-minute": "1000",
            "x-ratelimit-remaining-tokens-minute": str(tokens),
            "x-ratelimit-reset-tokens-minute": str(reset),
        }
    return found


async def answered(pacer: Pacer, status: int, answer_headers: dict[str, str]) -> None:
    await pacer.acquire()
    pacer.learn(status, answer_headers)
    pacer.release()


async def acquired_within(pacer: Pacer, seconds: float) -> bool:
    try:
        await asyncio.wait_for(pacer.acquire(), seconds)
    except asyncio.TimeoutError:
        return False
    pacer.release()
    return True


async def test_without_rate_limit_headers_it_never_waits() -> None:
    pacer = Pacer()
    for _ in range(100):
        await answered(pacer, 200, {"content-type": "application/json"})
    assert await acquired_within(pacer, 0.5)


async def test_a_spent_budget_waits_for_its_reset() -> None:
    pacer = Pacer()
    await answered(pacer, 200, headers(remaining=0, reset=0.3))
    started = time.monotonic()
    await pacer.acquire()
    assert time.monotonic() - started >= 0.29
    pacer.release()


async def test_each_call_takes_one_request_of_what_is_left() -> None:
    pacer = Pacer()
    await answered(pacer, 200, headers(remaining=3, reset=30))
    for _ in range(3):
        assert await acquired_within(pacer, 0.5)
    assert not await acquired_within(pacer, 0.2)


async def test_until_the_first_answer_calls_go_one_at_a_time() -> None:
    pacer = Pacer()
    await pacer.acquire()
    waiter = asyncio.ensure_future(pacer.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    pacer.learn(200, headers(remaining=5, reset=30))
    await asyncio.wait_for(waiter, 2)
    assert await acquired_within(pacer, 0.5)  # once heard, calls overlap


async def test_a_first_call_that_got_no_answer_lets_the_others_go() -> None:
    # Waiting on, one call at a time, would make a silent server cost each call its
    # whole timeout in turn: 100 calls, 100 timeouts.
    pacer = Pacer()
    await pacer.acquire()
    waiters = [asyncio.ensure_future(pacer.acquire()) for _ in range(2)]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in waiters)
    pacer.release()  # a connection error or a time limit: nothing learnt
    await asyncio.wait_for(asyncio.gather(*waiters), 2)


async def test_calls_in_flight_count_against_a_report() -> None:
    pacer = Pacer()
    await answered(pacer, 200, headers(remaining=10, reset=30))
    for _ in range(3):
        await pacer.acquire()
    # The server says 3 are left, but two other calls are still on their way.
    pacer.learn(200, headers(remaining=3, reset=30))
    pacer.release()
    assert await acquired_within(pacer, 0.5)
    assert not await acquired_within(pacer, 0.2)


async def test_a_fresh_report_lets_waiting_calls_go() -> None:
    pacer = Pacer()
    await pacer.acquire()
    pacer.learn(200, headers(remaining=0, reset=30))
    waiter = asyncio.ensure_future(pacer.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    pacer.learn(200, headers(remaining=5, reset=30))
    pacer.release()
    await asyncio.wait_for(waiter, 2)
    pacer.release()


async def test_a_429_empties_the_budget_until_retry_after() -> None:
    pacer = Pacer()
    await answered(pacer, 200, headers(remaining=8, reset=30))
    await answered(pacer, 429, {**headers(remaining=8, reset=30), "Retry-After": "0.3"})
    assert not await acquired_within(pacer, 0.2)
    assert await acquired_within(pacer, 10)  # not the report's 30 s


async def test_a_429_without_headers_waits_a_minute() -> None:
    pacer = Pacer()
    await answered(pacer, 429, {})
    assert not await acquired_within(pacer, 0.2)


async def test_spent_tokens_hold_calls_back_too() -> None:
    pacer = Pacer()
    await answered(pacer, 200, headers(remaining=50, reset=0.3, tokens=0, cost=40))
    started = time.monotonic()
    await pacer.acquire()
    assert time.monotonic() - started >= 0.29
    pacer.release()


async def test_the_average_cost_is_set_aside_for_each_call() -> None:
    pacer = Pacer()
    await answered(pacer, 200, headers(remaining=50, reset=30, tokens=100, cost=40))
    assert await acquired_within(pacer, 0.5)  # 100 - 40 left
    assert await acquired_within(pacer, 0.5)  # 60 - 40 left
    assert await acquired_within(pacer, 0.5)  # 20 - 40: spent
    assert not await acquired_within(pacer, 0.2)


async def test_a_refilled_window_allows_its_limit() -> None:
    pacer = Pacer()
    await answered(pacer, 200, headers(remaining=0, reset=0.2, limit=2))
    await asyncio.sleep(0.25)
    assert await acquired_within(pacer, 0.5)
    assert await acquired_within(pacer, 0.5)
    assert not await acquired_within(pacer, 0.2)


def test_pace_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="pace must be True or False, got 'yes'"):
        AsyncClient("k", pace="yes")  # type: ignore[arg-type]


async def batch(server: LocalServer, *, pace: bool, calls: int = 200) -> list[int]:
    """Statuses of every attempt of a batch job, run 16 calls at a time, retries off."""
    statuses: list[int] = []
    gate = asyncio.Semaphore(16)

    async def one(client: AsyncClient, n: int) -> None:
        async with gate:
            with contextlib.suppress(RateLimitError):
                await client.start(inputs=f"item {n}", model="m")

    async with AsyncClient(
        api_key=server.api_key,
        base_url=server.base_url,
        retry=RetryPolicy.disabled(),
        pace=pace,
        on_response=lambda attempt: statuses.append(attempt.status),
    ) as client:
        await asyncio.gather(*(one(client, n) for n in range(calls)))
    return statuses


async def test_a_paced_batch_meets_no_429() -> None:
    async with LocalServer(requests_per_minute=40, rate_window=0.5) as server:
        statuses = await batch(server, pace=True)
    assert statuses == [200] * 200
    assert server.processed["POST", "/v1/conversations"] == 200


async def test_a_paced_batch_that_starts_all_at_once_meets_no_429() -> None:
    statuses: list[int] = []
    async with (
        LocalServer(requests_per_minute=20, rate_window=0.5) as server,
        AsyncClient(
            api_key=server.api_key,
            base_url=server.base_url,
            retry=RetryPolicy.disabled(),
            pace=True,
            on_response=lambda attempt: statuses.append(attempt.status),
        ) as client,
    ):
        await asyncio.gather(*(client.start(inputs=f"{n}", model="m") for n in range(60)))
    assert statuses == [200] * 60


async def test_the_same_batch_unpaced_meets_429s() -> None:
    async with LocalServer(requests_per_minute=40, rate_window=0.5) as server:
        statuses = await batch(server, pace=False)
    assert 429 in statuses
    assert server.processed["POST", "/v1/conversations"] < 200


async def test_a_paced_batch_keeps_under_a_token_budget() -> None:
    async with LocalServer(tokens_per_minute=120, rate_window=0.5) as server:
        statuses = await batch(server, pace=True, calls=60)
    assert statuses == [200] * 60
