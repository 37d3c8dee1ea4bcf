"""The local server's rate limits, seen through the library's own client.

Every answer to an authenticated request reports the budgets in Mistral's
``x-ratelimit-*`` headers; a spent budget is a 429 that the client's retry waits out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mistral_conversations import AsyncClient, RetryPolicy
from mistral_conversations._hooks import AttemptResponse
from mistral_conversations._ratelimit import RateLimit
from mistral_conversations.errors import (
    AuthenticationError,
    NotFoundError,
    RateLimitError,
    UnprocessableEntityError,
)
from mistral_conversations.models import MessageOutputEntry
from mistral_conversations.testing import LocalServer
from mistral_conversations.testing._limits import (
    MONTH_REQUESTS,
    MONTH_TOKENS,
    UNLIMITED_REQUESTS,
    UNLIMITED_TOKENS,
)

MODEL = "mistral-small-latest"
# Short enough for a quick test, long enough that two requests sent one after the other
# land in the same window even on a loaded machine; under a second, so that a client
# reading only Retry-After (whole seconds) would wait visibly longer than it should.
SHORT_WINDOW = 0.9


class Answers:
    """Each answer the client received, through its ``on_response`` hook."""

    def __init__(self) -> None:
        self.seen: list[AttemptResponse] = []

    def __call__(self, answer: AttemptResponse) -> None:
        self.seen.append(answer)

    @property
    def statuses(self) -> list[int]:
        return [answer.status for answer in self.seen]

    def limits(self, index: int = -1) -> RateLimit:
        found = RateLimit.from_headers(self.seen[index].headers)
        assert found is not None, dict(self.seen[index].headers)
        return found


@pytest.fixture
def answers() -> Answers:
    return Answers()


def connect(server: LocalServer, answers: Answers, **options: Any) -> AsyncClient:
    options.setdefault("retry", RetryPolicy.disabled())
    return AsyncClient(
        api_key=server.api_key, base_url=server.base_url, on_response=answers, **options
    )


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with LocalServer() as started:
        yield started


# -- headers -----------------------------------------------------------------------


async def test_every_answer_reports_the_budgets(server: LocalServer, answers: Answers) -> None:
    async with connect(server, answers) as client:
        first = await client.start(inputs="hello there", model=MODEL)
        async with client.start_stream(inputs="one two three", model=MODEL) as stream:
            streamed = await stream.response()
        await client.get(first.conversation_id)
        await client.list()
        with pytest.raises(NotFoundError):
            await client.get("conv_missing")
        with pytest.raises(UnprocessableEntityError):
            await client.restart(first.conversation_id, from_entry_id="msg_nope", inputs="x")

    assert answers.statuses == [200, 200, 200, 200, 404, 422]
    # "hello there" + "Echo: hello there"; "one two three" + "Echo: one two three".
    assert (first.usage.total_tokens, streamed.usage.total_tokens) == (5, 7)
    costs = [5, 7, 0, 0, 0, 0]
    for index, cost in enumerate(costs):
        limits = answers.limits(index)
        spent = sum(costs[: index + 1])
        assert limits.query_cost == cost
        assert limits.requests_minute.limit == UNLIMITED_REQUESTS
        assert limits.requests_minute.remaining == UNLIMITED_REQUESTS - (index + 1)
        assert limits.tokens_minute.limit == UNLIMITED_TOKENS
        assert limits.tokens_minute.remaining == UNLIMITED_TOKENS - spent
        assert limits.requests_month.limit == MONTH_REQUESTS
        assert limits.requests_month.remaining == MONTH_REQUESTS - (index + 1)
        assert limits.tokens_month.limit == MONTH_TOKENS
        assert limits.tokens_month.remaining == MONTH_TOKENS - spent
        for window in (limits.requests_minute, limits.tokens_minute):
            assert window.reset is not None
            assert 0 < window.reset <= 60
        assert limits.requests_minute.reset == limits.tokens_minute.reset
        assert answers.seen[index].request_id


async def test_headers_are_written_as_mistral_writes_them(server: LocalServer) -> None:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.api_key}"}) as http,
        http.get(server.base_url + "/v1/conversations") as response,
    ):
        headers = {k.lower(): v for k, v in response.headers.items()}
    named = sorted(name for name in headers if name.startswith("x-ratelimit-"))
    assert named == sorted(
        f"x-ratelimit-{name}"
        for name in (
            "limit-req-minute",
            "remaining-req-minute",
            "reset-req-minute",
            "limit-tokens-minute",
            "remaining-tokens-minute",
            "reset-tokens-minute",
            "tokens-query-cost",
            "limit-req-month",
            "remaining-req-month",
            "limit-tokens-month",
            "remaining-tokens-month",
        )
    )
    for name in named:
        if "reset" in name:
            # Seconds, to the millisecond: "59.998", or a whole "60".
            assert float(headers[name]) >= 0
            assert len(headers[name].partition(".")[2]) <= 3
        else:
            assert headers[name].isdigit()


async def test_unauthenticated_and_faulted_answers_carry_no_budget(
    server: LocalServer, answers: Answers
) -> None:
    async with AsyncClient(
        api_key="wrong", base_url=server.base_url, on_response=answers
    ) as stranger:
        with pytest.raises(AuthenticationError) as refused:
            await stranger.list()
    assert RateLimit.from_headers(refused.value.headers) is None
    server.fail_next(1, status=500)
    async with connect(server, answers) as client:
        with pytest.raises(Exception, match="500"):
            await client.list()
        await client.list()
    assert answers.statuses == [401, 500, 200]
    assert RateLimit.from_headers(answers.seen[1].headers) is None
    # Neither counted: the 200 is the window's first request.
    assert answers.limits().requests_minute.remaining == UNLIMITED_REQUESTS - 1


async def test_a_turns_cost_is_its_total_tokens(server: LocalServer, answers: Answers) -> None:
    async with connect(server, answers) as client:
        first = await client.start(inputs="a b c", model=MODEL)
        second = await client.append(first.conversation_id, inputs="d e")
        echo = second.outputs[0]
        assert isinstance(echo, MessageOutputEntry)
        assert echo.id is not None
        third = await client.restart(first.conversation_id, from_entry_id=echo.id, inputs="f")
        async with client.append_stream(first.conversation_id, inputs="g") as stream:
            fourth = await stream.response()
    turns = [first, second, third, fourth]
    assert [answers.limits(i).query_cost for i in range(4)] == [
        turn.usage.total_tokens for turn in turns
    ]
    # The prompt grows with the conversation ("a b c" + "Echo: a b c"; then 3 + 2 words
    # of prompt and "Echo: d e"; ...): each cost is the turn's own usage.
    assert [turn.usage.total_tokens for turn in turns] == [7, 8, 8, 8]
    assert answers.limits().tokens_minute.remaining == UNLIMITED_TOKENS - 31


# -- budgets -----------------------------------------------------------------------


async def test_a_spent_request_budget_is_a_rate_limit_error(answers: Answers) -> None:
    async with (
        LocalServer(requests_per_minute=2) as server,
        connect(server, answers) as client,
    ):
        first = await client.start(inputs="hi", model=MODEL)
        assert answers.limits().requests_minute.remaining == 1
        await client.get(first.conversation_id)
        assert answers.limits().requests_minute.remaining == 0
        with pytest.raises(RateLimitError) as caught:
            await client.append(first.conversation_id, inputs="more")
        error = caught.value
        history = await asyncio.gather(
            *[client.get_history(first.conversation_id) for _ in range(2)],
            return_exceptions=True,
        )
    assert error.status_code == 429
    assert json.loads(error.body) == {
        "object": "error",
        "message": "Requests rate limit exceeded",
        "type": "rate_limited",
        "param": None,
        "code": "1300",
    }
    assert "Requests rate limit exceeded" in str(error)
    assert error.retry_after is not None
    assert 0 < error.retry_after <= 60
    assert error.headers["retry-after-ms"] == str(math.ceil(error.retry_after * 1000))
    assert error.headers["Retry-After"] == str(math.ceil(error.retry_after))
    limits = error.rate_limit
    assert limits is not None
    assert (limits.requests_minute.limit, limits.requests_minute.remaining) == (2, 0)
    assert limits.query_cost == 0
    assert limits.requests_minute.reset is not None
    # Both say when the same window ends; the headers are written a moment after the
    # refusal's wait was worked out, so the reset may be that moment shorter.
    assert error.retry_after - 1 < limits.requests_minute.reset <= error.retry_after
    assert all(isinstance(found, RateLimitError) for found in history)
    # Refused requests change nothing: the append was not applied.
    assert server.processed == {
        ("POST", "/v1/conversations"): 1,
        ("GET", f"/v1/conversations/{first.conversation_id}"): 1,
    }
    assert len(server.requests) == 5


async def test_a_spent_token_budget_is_a_rate_limit_error(answers: Answers) -> None:
    async with (
        LocalServer(tokens_per_minute=10) as server,
        connect(server, answers) as client,
    ):
        first = await client.start(inputs="one two three", model=MODEL)  # 3 + 4 tokens
        assert answers.limits().tokens_minute.remaining == 3
        # A turn's cost is known only once answered: this one overdraws the budget,
        # which reads as 0, never below.
        await client.append(first.conversation_id, inputs="four five")
        limits = answers.limits()
        assert limits.query_cost == 8
        assert (limits.tokens_minute.limit, limits.tokens_minute.remaining) == (10, 0)
        with pytest.raises(RateLimitError) as caught:
            await client.get(first.conversation_id)
    assert json.loads(caught.value.body)["message"] == "Tokens rate limit exceeded"
    assert server.processed[("GET", f"/v1/conversations/{first.conversation_id}")] == 0


async def test_the_default_retry_waits_out_a_short_window_exactly(
    answers: Answers, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        LocalServer(requests_per_minute=1, rate_window=SHORT_WINDOW) as server,
        AsyncClient(
            api_key=server.api_key, base_url=server.base_url, on_response=answers
        ) as client,
    ):
        first = await client.start(inputs="hi", model=MODEL)
        with caplog.at_level(logging.INFO, logger="mistral_conversations"):
            again = await client.get(first.conversation_id)
    assert again.id == first.conversation_id
    assert answers.statuses == [200, 429, 200]
    refused = answers.seen[1].headers
    millis = int(refused["retry-after-ms"])
    assert 0 < millis <= SHORT_WINDOW * 1000
    assert refused["Retry-After"] == "1"
    # The client slept the exact milliseconds, not Retry-After's whole second.
    [retried] = [r for r in caplog.records if r.getMessage().startswith("retrying GET")]
    assert isinstance(retried.args, tuple)
    assert retried.args[2] == millis / 1000
    arrived = [request.received_at for request in server.requests]
    assert arrived[2] - arrived[1] >= millis / 1000 - 0.001
    # The retry opened a new window and is its first request.
    assert answers.limits().requests_minute.remaining == 0
    assert server.processed[("GET", f"/v1/conversations/{first.conversation_id}")] == 1


async def test_a_window_refills_when_it_ends(answers: Answers) -> None:
    async with (
        LocalServer(requests_per_minute=1, rate_window=SHORT_WINDOW) as server,
        connect(server, answers) as client,
    ):
        await client.list()
        first_reset = answers.limits().requests_minute.reset
        with pytest.raises(RateLimitError) as caught:
            await client.list()
        assert caught.value.retry_after is not None
        await asyncio.sleep(caught.value.retry_after)
        await client.list()
    assert first_reset is not None
    assert 0 < first_reset <= SHORT_WINDOW
    assert answers.statuses == [200, 429, 200]
    limits = answers.limits()
    assert (limits.requests_minute.limit, limits.requests_minute.remaining) == (1, 0)
    assert limits.requests_minute.reset is not None
    assert 0 < limits.requests_minute.reset <= SHORT_WINDOW
    # The monthly count goes on across windows; refusals are not counted.
    assert limits.requests_month.remaining == MONTH_REQUESTS - 2


async def test_a_pacing_client_keeps_within_the_budget(answers: Answers) -> None:
    async with (
        LocalServer(requests_per_minute=2, rate_window=0.3) as server,
        connect(server, answers, pace=True) as client,
    ):
        for _ in range(6):
            await client.list()
    # The headers told the client when each window refilled: it waited, never refused.
    assert answers.statuses == [200] * 6
    assert len(server.requests) == 6


async def test_limits_change_while_running_and_reset_refills(
    server: LocalServer, answers: Answers
) -> None:
    assert (server.requests_per_minute, server.tokens_per_minute) == (None, None)
    assert server.rate_window == 60.0
    async with connect(server, answers) as client:
        await client.list()
        await client.list()
        server.requests_per_minute = 2
        with pytest.raises(RateLimitError):
            await client.list()
        server.requests_per_minute = 3
        await client.list()
        assert answers.limits().requests_minute.remaining == 0
        server.requests_per_minute = None
        server.tokens_per_minute = 0
        with pytest.raises(RateLimitError, match="Tokens rate limit exceeded"):
            await client.list()
        server.tokens_per_minute = None
        server.reset()
        await client.list()
    assert answers.limits().requests_minute.remaining == UNLIMITED_REQUESTS - 1
    assert answers.limits().requests_month.remaining == MONTH_REQUESTS - 1


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="requests_per_minute must be 0 or more"):
        LocalServer(requests_per_minute=-1)
    with pytest.raises(TypeError, match="tokens_per_minute must be an int"):
        LocalServer(tokens_per_minute=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate_window must be a positive number"):
        LocalServer(rate_window=0)
    server = LocalServer()
    with pytest.raises(ValueError, match="rate_window"):
        server.rate_window = float("inf")
