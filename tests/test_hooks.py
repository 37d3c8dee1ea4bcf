"""Hooks, trace configs and log lines: every attempt seen, the key never."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import aiohttp
import pytest

from mistral_conversations import (
    AsyncClient,
    AttemptRequest,
    AttemptResponse,
    Client,
    RetryPolicy,
)
from mistral_conversations.testing import LocalServer

KEY = "sk-hooks-secret"
FAST = RetryPolicy(initial_delay=0, respect_retry_after=False)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_hooks_see_every_attempt_with_the_key_redacted(
    local_server: LocalServer, kind: str
) -> None:
    requests: list[AttemptRequest] = []
    responses: list[AttemptResponse] = []

    def on_request_sync(info: AttemptRequest) -> None:
        requests.append(info)

    async def on_request_async(info: AttemptRequest) -> None:
        requests.append(info)

    local_server.faults.fail_next(1, 503, retry_after="0")
    async with AsyncClient(
        local_server.api_key,
        base_url=local_server.base_url,
        retry=FAST,
        on_request=on_request_sync if kind == "sync" else on_request_async,
        on_response=responses.append,
    ) as client:
        await client.start(inputs="hi", model="m")
        await client.start_stream(inputs="yo", model="m").response()
    assert [(r.method, r.attempt) for r in requests] == [("POST", 1), ("POST", 2), ("POST", 1)]
    assert all(r.url == f"{local_server.base_url}/v1/conversations" for r in requests)
    assert all(r.headers["Authorization"] == "[redacted]" for r in requests)
    assert local_server.api_key not in repr(requests)
    assert [(r.status, r.attempt) for r in responses] == [(503, 1), (200, 2), (200, 1)]
    assert all(r.elapsed >= 0 and r.request_id for r in responses)


async def test_a_hook_that_raises_is_logged_and_the_call_goes_on(
    local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(info: Any) -> None:
        raise ValueError("hook bug")

    async with AsyncClient(
        local_server.api_key, base_url=local_server.base_url, on_request=broken, on_response=broken
    ) as client:
        assert (await client.start(inputs="hi", model="m")).output_text == "Echo: hi"
    hook_lines = [r for r in caplog.records if "hook raised" in r.getMessage()]
    assert [r.getMessage() for r in hook_lines] == [
        "the AttemptRequest hook raised; the call goes on",
        "the AttemptResponse hook raised; the call goes on",
    ]


async def test_trace_configs_reach_the_session(local_server: LocalServer) -> None:
    started: list[str] = []

    async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with AsyncClient(
        local_server.api_key, base_url=local_server.base_url, trace_configs=[trace]
    ) as client:
        await client.list()
    assert started == ["GET"]


def test_each_attempt_is_one_debug_line_without_the_key(
    local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mistral_conversations")
    with Client(local_server.api_key, base_url=local_server.base_url) as client:
        client.list()
    lines = [r.getMessage() for r in caplog.records if r.name == "mistral_conversations"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /v1/conversations -> 200 in ")
    assert "(attempt 1, request id " in lines[0]
    assert local_server.api_key not in caplog.text


def test_mistral_log_debug_shows_the_lines_in_a_script(local_server: LocalServer) -> None:
    script = textwrap.dedent(
        f"""
        from mistral_conversations import Client
        with Client({KEY!r}, base_url={local_server.base_url!r}) as client:
            try:
                client.list()
            except Exception as exc:
                print(type(exc).__name__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "MISTRAL_LOG": "debug"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "mistral_conversations DEBUG GET /v1/conversations -> 401" in done.stderr
    assert KEY not in done.stderr + done.stdout
