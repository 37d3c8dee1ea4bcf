"""Corporate networks and the next API release: proxies, TLS, own sessions, key rotation."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from mistral_conversations import (
    APIConnectionError,
    AsyncClient,
    ConfigurationError,
    RetryPolicy,
)
from mistral_conversations.testing import LocalServer

from .proxy import ForwardProxy
from .rawhttp import RawRequest, RawServer, response

REPLY = b'{"conversation_id": "c1", "outputs": [], "usage": {}}'
T0 = "2025-05-28T09:01:28.362436Z"


def _sse(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


STREAM = _sse(
    {"type": "conversation.response.started", "created_at": T0, "conversation_id": "c1"}
) + _sse({"type": "conversation.response.done", "created_at": T0, "usage": {}})


async def _answer(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    if json.loads(request.body or b"{}").get("stream"):
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(STREAM), STREAM)
        )
    else:
        writer.write(response(200, b"[]" if request.method == "GET" else REPLY))
    await writer.drain()
    return True


@pytest.fixture
async def api() -> AsyncIterator[RawServer]:
    async with RawServer(_answer) as server:
        yield server


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as forward:
        yield forward


async def _use(client: AsyncClient) -> None:
    assert await client.list() == []
    assert (await client.start_stream(inputs="x", model="m").response()).conversation_id == "c1"


# -- proxies ------------------------------------------------------------------------


async def test_the_environment_s_proxy_is_used_for_calls_and_streams(
    api: RawServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with AsyncClient("k", base_url=api.base_url) as client:
        await _use(client)
    assert [r.target for r in api.requests] == [
        f"{api.base_url}/v1/conversations?page=0&page_size=100",
        f"{api.base_url}/v1/conversations",
    ]
    assert len(proxy.lines) == 2
    # The API key goes to the API only (aiohttp would hand a session's Authorization
    # to the proxy as Proxy-Authorization).
    assert proxy.auth == [None, None]
    assert [r.headers["authorization"] for r in api.requests] == ["Bearer k"] * 2


async def test_no_proxy_bypasses_it(
    api: RawServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with AsyncClient("k", base_url=api.base_url) as client:
        await _use(client)
    assert proxy.lines == []
    assert all(r.target.startswith("/v1/") for r in api.requests)


async def test_trust_env_false_ignores_the_environment(
    api: RawServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with AsyncClient("k", base_url=api.base_url, trust_env=False) as client:
        await _use(client)
    assert proxy.lines == []


async def test_an_explicit_proxy_wins_and_its_password_never_shows(
    api: RawServer,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    with_password = proxy.url.replace("http://", "http://ops:s3cr%40t@")
    async with AsyncClient("k", base_url=api.base_url, proxy=with_password) as client:
        await _use(client)
        assert "s3cr" not in repr(client)
    expected = "Basic " + base64.b64encode(b"ops:s3cr@t").decode()
    assert proxy.auth == [expected] * len(proxy.lines)
    assert all("proxy-authorization" not in r.headers for r in api.requests)
    # A dead proxy: the error names neither the password nor the proxy's user.
    dead = "http://ops:s3cr%40t@127.0.0.1:9"
    async with AsyncClient(
        "k", base_url=api.base_url, proxy=dead, retry=RetryPolicy.disabled()
    ) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.list()
    assert "s3cr" not in str(caught.value)
    assert "s3cr" not in caplog.text


def test_a_proxy_that_is_not_a_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="proxy must be an http") as caught:
        AsyncClient("k", proxy="socks5://u:hunter2@proxy:1080")
    assert "hunter2" not in str(caught.value)


# -- TLS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_api(ca: trustme.CA) -> AsyncIterator[str]:
    async def listing(request: web.Request) -> web.Response:
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/v1/conversations", listing)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_an_ssl_context_trusting_a_private_ca_is_used(tls_api: str, ca: trustme.CA) -> None:
    async with AsyncClient("k", base_url=tls_api, ssl=_trusting(ca)) as client:
        assert await client.list() == []


async def test_https_through_a_proxy_tunnels_with_connect(
    tls_api: str, ca: trustme.CA, proxy: ForwardProxy
) -> None:
    async with AsyncClient("k", base_url=tls_api, ssl=_trusting(ca), proxy=proxy.url) as client:
        assert await client.list() == []
    assert proxy.lines == [f"CONNECT {tls_api.removeprefix('https://')} HTTP/1.1"]
    assert proxy.auth == [None]  # never the API key


async def test_verification_off_works_and_says_so_once(
    tls_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncClient("k", base_url=tls_api, ssl=False) as client:
        assert await client.list() == []
        assert await client.list() == []
    warnings = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_ssl_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"ssl must be an ssl\.SSLContext"):
        AsyncClient("k", ssl="yes")  # type: ignore[arg-type]


# -- a session of your own ----------------------------------------------------------


async def test_a_session_factory_is_used_once_per_loop_and_closed(
    local_server: LocalServer,
) -> None:
    made: list[aiohttp.ClientSession] = []
    traced: list[str] = []

    async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        traced.append(params.url.path)

    def factory() -> aiohttp.ClientSession:
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_start)
        made.append(aiohttp.ClientSession(trace_configs=[trace]))
        return made[-1]

    local_server.faults.fail_next(1, 503, retry_after="0")
    client = AsyncClient(
        local_server.api_key,
        base_url=local_server.base_url,
        session_factory=factory,
        retry=RetryPolicy(initial_delay=0),
    )
    async with client:
        reply = await client.start(inputs="hi", model="m")  # the key is ours to send
        assert reply.output_text == "Echo: hi"
        assert (await client.start_stream(inputs="yo", model="m").response()).output_text
    assert len(made) == 1
    assert made[0].closed
    assert traced == ["/v1/conversations"] * 3  # the 503, its retry, the stream


async def test_a_factory_that_returns_something_else_is_a_clear_error() -> None:
    async with AsyncClient("k", base_url="http://127.0.0.1:9", session_factory=dict) as client:  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=r"must return an aiohttp\.ClientSession"):
            await client.list()


# -- key providers ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_key_provider_is_asked_before_every_attempt(api: RawServer, kind: str) -> None:
    keys = iter(["sk-one", "sk-two", "sk-three"])

    def sync_key() -> str:
        return next(keys)

    async def async_key() -> str:
        return next(keys)

    provider = sync_key if kind == "sync" else async_key
    async with AsyncClient(provider, base_url=api.base_url) as client:
        await client.list()
        await client.list()
        await client.start_stream(inputs="x", model="m").response()
    assert [r.headers["authorization"] for r in api.requests] == [
        "Bearer sk-one",
        "Bearer sk-two",
        "Bearer sk-three",
    ]


@pytest.mark.parametrize(
    ("returned", "says"),
    [("sk-abc\n", "holds a whitespace"), ("", "returned no key"), (5, "must be a str")],
)
async def test_what_a_provider_returns_is_checked_and_never_echoed(
    api: RawServer, returned: object, says: str
) -> None:
    async with AsyncClient(lambda: returned, base_url=api.base_url) as client:  # type: ignore[arg-type,return-value]
        with pytest.raises(ConfigurationError, match=says) as caught:
            await client.list()
    assert "sk-abc" not in str(caught.value)
    assert api.requests == []


async def test_a_provider_that_raises_is_a_configuration_error(api: RawServer) -> None:
    def broken() -> str:
        raise RuntimeError("vault sealed")

    async with AsyncClient(broken, base_url=api.base_url) as client:
        with pytest.raises(ConfigurationError, match="provider raised RuntimeError") as caught:
            await client.list()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert api.requests == []


# -- extra fields -------------------------------------------------------------------


async def test_extra_body_and_query_are_sent_as_they_are(api: RawServer) -> None:
    async with AsyncClient("k", base_url=api.base_url) as client:
        await client.start(
            inputs="x", model="m", extra_body={"new_field": [1, 2]}, extra_query={"beta": "1"}
        )
        await client.start_stream(inputs="x", model="m", extra_body={"n": 1}).response()
        await client.list(extra_query={"sort": "asc"})
    start, stream, listing = api.requests
    assert json.loads(start.body) == {
        "inputs": "x",
        "model": "m",
        "stream": False,
        "new_field": [1, 2],
    }
    assert start.target == "/v1/conversations?beta=1"
    assert json.loads(stream.body)["n"] == 1
    assert listing.target == "/v1/conversations?page=0&page_size=100&sort=asc"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"extra_body": {"model": "other"}}, "extra_body sets 'model'"),
        ({"extra_body": {"stream": True}}, "extra_body sets 'stream'"),
        ({"extra_body": [("a", 1)]}, "extra_body must be a mapping"),
    ],
)
async def test_extra_fields_may_not_repeat_named_ones(
    api: RawServer, kwargs: dict[str, Any], says: str
) -> None:
    async with AsyncClient("k", base_url=api.base_url) as client:
        with pytest.raises(ConfigurationError, match=says):
            await client.start(inputs="x", model="m", **kwargs)
        with pytest.raises(ConfigurationError, match="extra_query sets 'page'"):
            await client.list(extra_query={"page": "2"})
    assert api.requests == []


# -- the official SDK's keywords ----------------------------------------------------


async def test_stream_false_is_accepted_as_the_sdk_s_users_write_it(api: RawServer) -> None:
    async with AsyncClient("k", base_url=api.base_url) as client:
        reply = await client.start(inputs="x", model="m", stream=False)  # type: ignore[call-arg]
    assert reply.conversation_id == "c1"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"stream": True}, r"start\(stream=True\): use start_stream\(\)"),
        ({"timeout_ms": 2500}, r"timeout= in seconds \(timeout_ms=2500 is timeout=2\.5\)"),
        ({"http_headers": {}}, "here it is headers="),
        ({"retries": None}, r"here it is retry=RetryPolicy\(\.\.\.\)"),
        ({"server_url": "x"}, r"base_url= on the client"),
    ],
)
async def test_the_sdk_s_keywords_name_ours(kwargs: dict[str, Any], says: str) -> None:
    async with AsyncClient("k", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(TypeError, match=says):
            await client.start(inputs="x", model="m", **kwargs)
        with pytest.raises(TypeError, match=r"start_stream\(stream=False\): use start\(\)"):
            client.start_stream(inputs="x", model="m", stream=False)  # type: ignore[call-arg]
