"""Retries against the embedded server's faults: ride through, never act twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pytest

from mistral_conversations import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    StreamInterruptedError,
    Timeout,
)
from mistral_conversations.testing import LocalServer

from .sockets import client_connections_to

MODEL = "mistral-small-latest"
START = ("POST", "/v1/conversations")
SECRET = "sk-very-secret-key-1234"


def everything_said_by(error: BaseException) -> list[str]:
    """str, repr and attributes of an exception and of every exception in its chain."""
    texts: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        texts += [str(exc), repr(exc), *(repr(v) for v in vars(exc).values())]
        texts += [repr(getattr(exc, name, None)) for name in ("request_info", "headers")]
        pending += [exc.__cause__, exc.__context__]
    return texts


@contextlib.asynccontextmanager
async def garbling_server() -> AsyncIterator[str]:
    """A server that answers every request with a status line no HTTP client can read."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 twohundred OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


class Sleeps:
    """Stands in for asyncio.sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def resilient(local_server: LocalServer, sleeps: Sleeps) -> AsyncIterator[AsyncClient]:
    """A client with the default RetryPolicy whose waits take no time."""
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        client._transport.sleep = sleeps
        yield client


async def test_429_and_503_ride_through_for_post(
    resilient: AsyncClient, local_server: LocalServer, sleeps: Sleeps
) -> None:
    local_server.faults.fail_next(1, 429, methods=["POST"])
    local_server.faults.fail_next(1, 503, methods=["POST"])
    reply = await resilient.start(inputs="hi", model=MODEL)
    assert reply.output_text == "Echo: hi"
    assert local_server.processed[START] == 1
    assert len(sleeps.delays) == 2
    assert all(0 <= d <= 1.0 for d in sleeps.delays)  # jittered 0.5, then 1.0 at most


async def test_retry_after_is_honoured(
    resilient: AsyncClient, local_server: LocalServer, sleeps: Sleeps
) -> None:
    local_server.faults.fail_next(1, 429, retry_after="3", methods=["POST"])
    local_server.faults.fail_next(1, 503, headers={"retry-after-ms": "250"}, methods=["POST"])
    await resilient.start(inputs="hi", model=MODEL)
    assert sleeps.delays == [3.0, 0.25]


async def test_one_hour_retry_after_raises_at_once(
    resilient: AsyncClient, local_server: LocalServer, sleeps: Sleeps
) -> None:
    local_server.faults.fail_next(1, 429, retry_after="3600")
    with pytest.raises(RateLimitError) as info:
        await resilient.list()
    assert info.value.retry_after == 3600.0
    assert "longer than max_retry_after=60s" in str(info.value)
    assert sleeps.delays == []


async def test_post_answered_500_is_not_sent_again(
    resilient: AsyncClient, local_server: LocalServer
) -> None:
    first = await resilient.start(inputs="hi", model=MODEL)
    path = f"/v1/conversations/{first.conversation_id}"
    local_server.faults.fail_next(1, 500, methods=["POST"])
    with pytest.raises(InternalServerError) as info:
        await resilient.append(first.conversation_id, inputs="again")
    assert [r.path for r in local_server.requests].count(path) == 1
    assert "not sent again" in str(info.value)
    assert "retry_posts='all'" in str(info.value)


async def test_post_dropped_after_processing_is_not_sent_again(
    resilient: AsyncClient, local_server: LocalServer
) -> None:
    local_server.faults.drop_next(1, "after_processing", methods=["POST"])
    with pytest.raises(APIConnectionError) as info:
        await resilient.start(inputs="hi", model=MODEL)
    assert local_server.processed[START] == 1
    assert len(local_server.requests) == 1
    assert "may have acted" in str(info.value)
    assert info.value.attempts == 1


async def test_retry_posts_all_does_send_again(local_server: LocalServer, sleeps: Sleeps) -> None:
    async with AsyncClient(
        local_server.api_key,
        base_url=local_server.base_url,
        retry=RetryPolicy(retry_posts="all"),
    ) as client:
        client._transport.sleep = sleeps
        local_server.faults.fail_next(1, 500, methods=["POST"])
        await client.start(inputs="hi", model=MODEL)
    assert local_server.processed[START] == 1
    assert len(local_server.requests) == 2


async def test_dropped_get_is_retried(resilient: AsyncClient, local_server: LocalServer) -> None:
    local_server.faults.drop_next(2, methods=["GET"])
    assert await resilient.list() == []
    assert len(local_server.requests) == 3


async def test_gives_up_after_max_attempts_and_says_so(
    resilient: AsyncClient, local_server: LocalServer, sleeps: Sleeps
) -> None:
    local_server.faults.fail_next(10, 502)
    with pytest.raises(InternalServerError) as info:
        await resilient.list()
    assert info.value.attempts == 4
    assert "[gave up after 4 attempts (max_attempts=4)]" in str(info.value)
    assert len(sleeps.delays) == 3


async def test_per_call_retry_overrides_the_clients(
    resilient: AsyncClient, local_server: LocalServer
) -> None:
    local_server.faults.fail_next(1, 503)
    with pytest.raises(InternalServerError):
        await resilient.list(retry=RetryPolicy.disabled())
    assert len(local_server.requests) == 1


async def test_read_timeout_on_get_is_retried(local_server: LocalServer, sleeps: Sleeps) -> None:
    async with AsyncClient(
        local_server.api_key, base_url=local_server.base_url, timeout=Timeout(read=0.2)
    ) as client:
        client._transport.sleep = sleeps
        local_server.faults.delay_next(1, 0.5, methods=["GET"])
        assert await client.list() == []
        local_server.faults.delay_next(1, 0.5, methods=["POST"])
        with pytest.raises(APITimeoutError) as info:
            await client.start(inputs="slow", model=MODEL)
    assert "not sent again" in str(info.value)
    assert len(sleeps.delays) == 1


async def test_stream_cut_midway_is_not_retried(
    resilient: AsyncClient, local_server: LocalServer
) -> None:
    local_server.faults.cut_stream_after(3)
    stream = resilient.start_stream(inputs="one two three four five six", model=MODEL)
    with pytest.raises(StreamInterruptedError) as info:
        await stream.response()
    assert local_server.processed[START] == 1
    assert len(local_server.requests) == 1
    assert info.value.partial is not None
    assert info.value.partial.output_text.startswith("Echo:")


async def test_a_stream_error_counts_the_attempts_its_connect_took(
    resilient: AsyncClient, local_server: LocalServer
) -> None:
    local_server.faults.fail_next(2, 503)
    local_server.faults.cut_stream_after(3)
    stream = resilient.start_stream(inputs="one two three four five six", model=MODEL)
    with pytest.raises(StreamInterruptedError) as info:
        await stream.response()
    assert info.value.attempts == 3
    local_server.stream_delay = 0.02  # the turn still arriving when the stream is closed
    local_server.faults.fail_next(1, 503)
    closed = resilient.start_stream(inputs="w " * 50, model=MODEL)
    async with closed:
        await closed.__anext__()
    with pytest.raises(StreamInterruptedError) as info:
        await closed.response()
    assert info.value.attempts == 2


async def test_stream_is_retried_before_its_first_byte(
    resilient: AsyncClient, local_server: LocalServer
) -> None:
    local_server.faults.fail_next(1, 503, methods=["POST"])
    response = await resilient.start_stream(inputs="hi", model=MODEL).response()
    assert response.output_text == "Echo: hi"
    assert local_server.processed[START] == 1


async def test_retries_are_logged_at_info(
    resilient: AsyncClient, local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    local_server.faults.fail_next(1, 503)
    with caplog.at_level(logging.INFO, logger="mistral_conversations"):
        await resilient.list()
    [record] = [r for r in caplog.records if r.name == "mistral_conversations"]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert message.startswith("retrying GET /v1/conversations in ")
    assert "attempt 1 of 4 failed: HTTP 503" in message


async def test_ride_through_a_server_failing_a_third_of_requests(
    local_server: LocalServer, sleeps: Sleeps
) -> None:
    """Default settings; POSTs meet 429/503, GETs 500/502/503/504 and dropped connections."""
    faults = local_server.faults
    get_failures = [500, 502, 503, 504]
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        client._transport.sleep = sleeps
        for i in range(12):
            # Per turn 7 requests are sent, 3 of which fail: a POST, and two GETs.
            faults.fail_next(1, (429, 503)[i % 2], methods=["POST"])
            reply = await client.start(inputs=f"turn {i}", model=MODEL)
            faults.drop_next(1, methods=["GET"])
            await client.get(reply.conversation_id)
            await client.append(reply.conversation_id, inputs="more")
            faults.fail_next(1, get_failures[i % 4], methods=["GET"])
            history = await client.get_history(reply.conversation_id)
            assert [e.text for e in history.entries] == [
                f"turn {i}",
                f"Echo: turn {i}",
                "more",
                "Echo: more",
            ]
    assert len(local_server.requests) == 12 * 7
    assert local_server.processed[START] == 12
    appends = [n for (method, path), n in local_server.processed.items() if method == "POST"]
    assert appends.count(1) == 12  # each append processed exactly once
    # Every retry is the policy's, and waits first: the 429/503 POSTs, the dropped GETs
    # and the 5xx GETs (aiohttp's own silent re-send of a dropped GET is off).
    assert len(sleeps.delays) == 12 * 3


async def test_key_never_appears_in_messages_reprs_or_logs(
    sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    async with LocalServer(api_key=SECRET) as server:
        async with AsyncClient(SECRET, base_url=server.base_url) as client:
            client._transport.sleep = sleeps
            server.faults.fail_next(2, 503)
            server.faults.fail_next(1, 429, retry_after="9999")
            with pytest.raises(RateLimitError) as info:
                await client.list()
            errors.append(info.value)
            await client.start_stream(inputs="hi", model=MODEL).response()
            texts = [repr(client), repr(client._transport)]
        async with AsyncClient(SECRET + "-wrong", base_url=server.base_url) as wrong:
            with pytest.raises(AuthenticationError) as auth:
                await wrong.list()
            errors.append(auth.value)
    async with AsyncClient(SECRET, base_url="http://127.0.0.1:9") as dead:
        with pytest.raises(APIConnectionError) as refused:
            await dead.get("conv_x", retry=RetryPolicy.disabled())
        errors.append(refused.value)
    async with garbling_server() as url, AsyncClient(SECRET, base_url=url) as garbled:
        with pytest.raises(APIConnectionError) as bad_answer:
            await garbled.list(retry=RetryPolicy.disabled())
        errors.append(bad_answer.value)
    texts += [text for error in errors for text in everything_said_by(error)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying GET" in t for t in texts)
    assert not [t for t in texts if SECRET in t]


async def test_no_socket_left_after_aclose(local_server: LocalServer) -> None:
    client = AsyncClient(local_server.api_key, base_url=local_server.base_url)
    await client.list()
    await client.start_stream(inputs="x", model=MODEL).response()
    assert client_connections_to(local_server.port) == 1
    await client.aclose()
    assert client_connections_to(local_server.port) == 0


async def test_cancelling_a_call_releases_its_connection(local_server: LocalServer) -> None:
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        local_server.faults.delay_next(1, 1.0, methods=["GET"])
        task = asyncio.create_task(client.list())
        await asyncio.sleep(0.2)
        assert client_connections_to(local_server.port) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client_connections_to(local_server.port) == 0
        assert await client.list() == []


async def test_the_wait_between_retries_is_cancellable(local_server: LocalServer) -> None:
    async with AsyncClient(local_server.api_key, base_url=local_server.base_url) as client:
        local_server.faults.fail_next(1, 503, retry_after="30")
        task = asyncio.create_task(client.list())
        await asyncio.sleep(0.2)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0
        assert len(local_server.requests) == 1
