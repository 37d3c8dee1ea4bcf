"""Raw responses and rate limits: the headers of every answer, typed and timed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mistral_conversations import (
    AsyncClient,
    AsyncEventStream,
    Client,
    EventStream,
    RateLimit,
    RateLimitError,
    RateWindow,
    RetryPolicy,
)
from mistral_conversations.models import ConversationResponse
from mistral_conversations.testing import LocalServer

from .rawhttp import RawRequest, RawServer

REPLY = b'{"conversation_id": "c1", "outputs": [], "usage": {}}'
T0 = "2025-05-28T09:01:28.362436Z"
LIMITS = {
    "x-ratelimit-limit-req-minute": "60",
    "x-ratelimit-remaining-req-minute": "59",
    "x-ratelimit-limit-tokens-minute": "50000",
    "x-ratelimit-remaining-tokens-minute": "49000",
    "x-ratelimit-reset-tokens-minute": "12.5",
    "x-ratelimit-tokens-query-cost": "1000",
    "x-ratelimit-limit-tokens-month": "1000000",
    "x-ratelimit-remaining-tokens-month": "990000",
}


def _sse(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


STREAM = _sse(
    {"type": "conversation.response.started", "created_at": T0, "conversation_id": "c1"}
) + _sse({"type": "conversation.response.done", "created_at": T0, "usage": {}})


def _head(status: int, content_type: str, body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
    lines += [f"Content-Length: {len(body)}", "x-request-id: req-42"]
    lines += [f"{name}: {value}" for name, value in LIMITS.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
async def api() -> AsyncIterator[RawServer]:
    failed: list[bool] = []

    async def answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        if request.headers.get("x-test") == "flaky" and not failed:
            failed.append(True)
            writer.write(_head(503, "application/json", b'{"message": "busy"}'))
        elif json.loads(request.body or b"{}").get("stream"):
            writer.write(_head(200, "text/event-stream", STREAM))
        elif request.headers.get("x-test") == "429":
            writer.write(_head(429, "application/json", b'{"message": "slow down"}'))
        else:
            writer.write(_head(200, "application/json", REPLY))
        await writer.drain()
        return True

    async with RawServer(answer) as api_server:
        yield api_server


FAST = RetryPolicy(initial_delay=0, respect_retry_after=False)
EXPECTED_LIMITS = RateLimit(
    requests_minute=RateWindow(limit=60, remaining=59, reset=60.0),
    tokens_minute=RateWindow(limit=50000, remaining=49000, reset=12.5),
    requests_month=RateWindow(),
    tokens_month=RateWindow(limit=1000000, remaining=990000),
    query_cost=1000,
    read_at=0.0,
)


def _same_limits(got: RateLimit | None) -> None:
    assert got is not None
    assert got.read_at > 0
    assert attrs.evolve(got, read_at=0.0) == EXPECTED_LIMITS


async def test_a_raw_answer_has_status_headers_timing_and_the_model(api: RawServer) -> None:
    async with AsyncClient("k", base_url=api.base_url, retry=FAST) as client:
        raw = await client.with_raw_response.start(
            inputs="x", model="m", headers={"x-test": "flaky"}
        )
    assert raw.status_code == 200
    assert raw.request_id == "req-42"
    assert raw.headers["x-ratelimit-tokens-query-cost"] == "1000"
    assert raw.attempts == 2  # a 503, then the answer
    assert raw.elapsed > 0
    _same_limits(raw.rate_limit)
    parsed = raw.parse()
    assert isinstance(parsed, ConversationResponse)
    assert parsed.conversation_id == "c1"
    assert len(api.requests) == 2


async def test_a_raw_stream_is_connected_and_read_as_usual(api: RawServer) -> None:
    async with AsyncClient("k", base_url=api.base_url) as client:
        raw = await client.with_raw_response.start_stream(inputs="x", model="m")
        assert raw.status_code == 200
        assert raw.request_id == "req-42"
        _same_limits(raw.rate_limit)
        stream = raw.parse()
        assert isinstance(stream, AsyncEventStream)
        assert stream.request_id == "req-42"
        async with stream:
            reply = await stream.response()
    assert reply.conversation_id == "c1"


async def test_a_rate_limit_error_carries_the_limits(api: RawServer) -> None:
    async with AsyncClient("k", base_url=api.base_url, retry=RetryPolicy.disabled()) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.list(headers={"x-test": "429"})
    _same_limits(caught.value.rate_limit)


def test_the_blocking_client_has_raw_responses_too(local_server: LocalServer) -> None:
    with Client(local_server.api_key, base_url=local_server.base_url) as client:
        raw = client.with_raw_response.start(inputs="hi", model="m")
        assert raw.status_code == 200
        assert raw.request_id
        assert raw.parse().output_text == "Echo: hi"
        streamed = client.with_raw_response.start_stream(inputs="yo", model="m")
        assert streamed.request_id
        stream = streamed.parse()
        assert isinstance(stream, EventStream)
        with stream:
            assert stream.response().output_text == "Echo: yo"


def test_headers_without_limits_give_none() -> None:
    assert RateLimit.from_headers({"content-type": "application/json"}) is None


@pytest.mark.parametrize("bad", ["", "-1", "1.5", "lots", "\u0661\u0662", "9" * 5000])
def test_malformed_limits_are_ignored(bad: str) -> None:
    limits = RateLimit.from_headers(
        {"x-ratelimit-remaining-req-minute": bad, "x-ratelimit-reset-req-minute": bad}
    )
    assert limits is not None
    assert limits.requests_minute.remaining is None


@given(st.dictionaries(st.sampled_from(sorted(LIMITS)), st.text(max_size=20)))
def test_any_header_values_read_without_error(headers: dict[str, str]) -> None:
    limits = RateLimit.from_headers(headers)
    assert limits is None or isinstance(limits.tokens_minute, RateWindow)
