"""Every failure is a library error that names its real cause, built in one place."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mistral_conversations
from mistral_conversations import (
    APIConnectionError,
    APIStatusError,
    AsyncClient,
    BadRequestError,
    ConfigurationError,
    MistralError,
    NotFoundError,
    ResponseDecodeError,
    RetryPolicy,
    StreamDecodeError,
    StreamInterruptedError,
)
from mistral_conversations._failures import error_for
from mistral_conversations._outcomes import GaveUp, Link, LinkFailure, StatusFailure
from mistral_conversations._streaming import AsyncEventStream
from mistral_conversations._transport import _link_of

from .rawhttp import RawRequest, RawServer
from .scripted import ScriptedServer

PACKAGE = Path(mistral_conversations.__file__).parent
T0 = "2025-05-28T09:01:28.362436Z"


# -- one place builds errors --------------------------------------------------------


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            names.update("." * node.level + alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_transport_knows_no_models_and_builds_no_errors() -> None:
    imported = _imported_modules(PACKAGE / "_transport.py")
    assert not {name for name in imported if "models" in name or "_convert" in name}
    source = (PACKAGE / "_transport.py").read_text()
    for error in ("APIStatusError(", "APIConnectionError(", "ResponseDecodeError(", ".args ="):
        assert error not in source


# -- nothing bare escapes -----------------------------------------------------------


def _stream_of(*chunks: bytes) -> AsyncEventStream:
    class Body:
        closed_by_client = False
        status, headers, attempts, elapsed = 200, {}, 1, 0.0

        def __init__(self) -> None:
            self.pieces = list(chunks)

        async def read(self) -> bytes:
            return self.pieces.pop(0) if self.pieces else b""

        def close(self) -> None:
            pass

        def finish(self) -> None:
            pass

    async def connect() -> Any:
        return Body()

    return AsyncEventStream(connect)


def sse(data: Any, event: str = "message.output.delta") -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def delta(content_index: Any, text: str = "x") -> bytes:
    return sse(
        {
            "type": "message.output.delta",
            "created_at": T0,
            "id": "m1",
            "content": text,
            "content_index": content_index,
        }
    )


STARTED = sse(
    {"type": "conversation.response.started", "created_at": T0, "conversation_id": "c1"},
    "conversation.response.started",
)


@pytest.mark.parametrize("bad", ["1", [1], {"a": 1}, 1.5, True])
async def test_events_of_wrong_json_types_are_a_stream_decode_error(bad: Any) -> None:
    stream = _stream_of(STARTED + delta(0, "Hel") + delta(bad))
    with pytest.raises(StreamDecodeError, match=r"'message\.output\.delta' event") as caught:
        await stream.response()
    assert caught.value.partial is not None
    assert caught.value.partial.output_text == "Hel"


def _status_error(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    gave_up = GaveUp(
        StatusFailure(status, headers or {}, body), attempts=1, decision=None, max_attempts=1
    )
    return error_for(gave_up, path="/v1/conversations/c1", base_url="https://api.example")


@pytest.mark.parametrize(
    "body",
    [
        b'{"detail":[{"loc":5}]}',
        b'{"detail":[{"loc":null,"msg":[1]}]}',
        b'{"detail":[5, "x", {"loc":{"a":1}}]}',
        b'{"message": 5, "detail": {"x": 1}}',
        b"\xff\xfe not utf-8",
    ],
)
def test_odd_error_bodies_still_give_the_status_error(body: bytes) -> None:
    error = _status_error(400, body)
    assert isinstance(error, BadRequestError)
    assert error.body == body.decode("utf-8", "replace")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(300, 599),
    body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
    headers=st.dictionaries(
        st.sampled_from(["Retry-After", "retry-after-ms", "x-request-id", "Location", "X-Other"]),
        st.text(max_size=30),
    ),
)
def test_any_error_answer_gives_a_library_error(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    error = _status_error(status, body, headers)
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert str(error)


event_types = st.sampled_from(
    [
        "conversation.response.started",
        "conversation.response.done",
        "conversation.response.error",
        "message.output.delta",
        "function.call.delta",
        "tool.execution.started",
        "tool.execution.delta",
        "tool.execution.done",
        "agent.handoff.started",
        "agent.handoff.done",
        "something.new",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(
        st.tuples(event_types, st.dictionaries(st.text(max_size=12), json_values, max_size=6)),
        max_size=5,
    ),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "output_index",
                "content_index",
                "content",
                "usage",
                "conversation_id",
                "arguments",
                "created_at",
                "code",
                "message",
            ]
        ),
        json_values,
        max_size=4,
    ),
)
def test_any_event_payload_gives_events_or_a_library_error(
    payloads: list[tuple[str, dict[str, Any]]], fields: dict[str, Any]
) -> None:
    body = b"".join(sse({**data, **fields, "type": kind}, kind) for kind, data in payloads)

    async def read() -> None:
        with contextlib.suppress(MistralError):
            await _stream_of(STARTED + body).response()

    asyncio.run(read())


def test_base_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncClient("k", base_url="https://user:s3cr3t-pw@api.example.com")
    assert "s3cr3t" not in str(caught.value)
    assert "user:password@host" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("sk-abc\n", "('\\n', at its end)"),
        (" sk-abc", "(' ', at position 0)"),
        ("sk-a\tbc", "('\\t', at position 4)"),
        ("sk-ab\x00c", "('\\x00', at position 5)"),
        ("sk-\u00e9bc", "not ASCII"),
    ],
)
def test_a_key_with_whitespace_or_controls_is_refused_without_echoing_it(
    key: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncClient(key)
    assert says in str(caught.value)
    assert "sk-" not in str(caught.value)
    assert str(caught.value).startswith("api_key holds")
    if "\x00" not in key:  # the environment cannot hold a NUL
        monkeypatch.setenv("MISTRAL_API_KEY", key)
        with pytest.raises(ConfigurationError, match=r"^MISTRAL_API_KEY holds"):
            AsyncClient()


async def test_model_with_agent_id_is_refused_before_sending(scripted: ScriptedServer) -> None:
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        with pytest.raises(ConfigurationError, match=r"model=\.\.\. or agent_id=\.\.\., not both"):
            await client.start(inputs="x", model="m", agent_id="ag")
        with pytest.raises(ConfigurationError, match="not both"):
            client.start_stream(inputs="x", model="m", agent_id="ag")
    assert scripted.seen == []


# -- messages name the real cause ---------------------------------------------------


def test_an_unresolvable_host_says_so() -> None:
    os_error = OSError(-2, "Name or service not known")
    exc = aiohttp.ClientConnectorDNSError(_connection_key(), os_error)
    link, detail = _link_of(exc, answered=False, session=None)
    assert link is Link.UNRESOLVED
    error = error_for(
        GaveUp(
            LinkFailure(link, "https://api.example", detail),
            attempts=1,
            decision=None,
            max_attempts=1,
        ),
        path="/v1/conversations",
        base_url="https://api.example",
    )
    assert isinstance(error, APIConnectionError)
    assert str(error).startswith(
        "Could not resolve the host name of https://api.example (Name or service not known)."
    )


def _connection_key() -> Any:
    from aiohttp.client_reqrep import ConnectionKey

    return ConnectionKey("api.example", 443, True, True, None, None, None)


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(certificate_authority: trustme.CA) -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/v1/conversations", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(context)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_an_untrusted_certificate_says_so_and_is_not_retried(
    tls_server: tuple[str, list[str]],
) -> None:
    url, seen = tls_server
    async with AsyncClient("k", base_url=url, retry=RetryPolicy(initial_delay=0)) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.list()
    message = str(caught.value)
    assert message.startswith(f"The TLS certificate of {url} failed verification (")
    assert "SSL_CERT_FILE" in message
    assert "AsyncClient(ssl=ssl.create_default_context(cafile=...))" in message
    assert caught.value.attempts == 1
    assert seen == []


def test_a_private_ca_named_by_ssl_cert_file_is_trusted(
    certificate_authority: trustme.CA, tmp_path: Path
) -> None:
    # What the message advises, in a fresh process: TLS contexts are made at import.
    bundle = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(bundle))
    server_cert = tmp_path / "server.pem"
    certificate_authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(server_cert)
    )
    script = textwrap.dedent(
        f"""
        import asyncio, ssl
        from aiohttp import web
        from mistral_conversations import AsyncClient

        async def main():
            app = web.Application()
            app.router.add_get("/v1/conversations", lambda r: web.json_response([]))
            runner = web.AppRunner(app)
            await runner.setup()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain({str(server_cert)!r})
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
            await site.start()
            url = "https://127.0.0.1:%d" % runner.addresses[0][1]
            async with AsyncClient("k", base_url=url) as client:
                print(await client.list())
            await runner.cleanup()

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "SSL_CERT_FILE": str(bundle)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


async def test_https_to_a_plain_http_server_says_the_handshake_failed(
    scripted: ScriptedServer,
) -> None:
    url = scripted.base_url.replace("http://", "https://")
    async with AsyncClient("k", base_url=url, retry=RetryPolicy(initial_delay=0)) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.list()
    assert str(caught.value).startswith(f"The TLS handshake with {url} failed (")
    assert "use an http:// base_url" in str(caught.value)
    assert caught.value.attempts == 1


async def _call(client: AsyncClient, name: str) -> object:
    if name == "start":
        return await client.start(inputs="x", model="m")
    if name == "start_stream":
        return await client.start_stream(inputs="x", model="m").response()
    if name == "list":
        return await client.list()
    return await client.get("conv_1")


@pytest.mark.parametrize(
    ("base", "call", "wrong_base"),
    [
        ("", "start", True),
        ("", "list", True),
        ("", "get", False),
        ("/v1", "get", True),
    ],
)
async def test_a_404_points_at_the_base_url_when_no_id_can_be_to_blame(
    scripted: ScriptedServer, base: str, call: str, wrong_base: bool
) -> None:
    scripted.reply(404, b'{"detail": "Not Found"}')
    async with AsyncClient("k", base_url=scripted.base_url + base) as client:
        with pytest.raises(NotFoundError) as caught:
            await _call(client, call)
    message = str(caught.value)
    assert ("The base URL is probably wrong" in message) is wrong_base
    assert ("Check the id" in message) is not wrong_base


async def test_a_stream_cut_midway_does_not_speak_of_connecting() -> None:
    async def cut(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b"%x\r\n%s\r\n" % (len(STARTED), STARTED))
        await writer.drain()
        writer.transport.abort()
        return False

    async with (
        RawServer(cut) as server,
        AsyncClient("k", base_url=server.base_url) as client,
    ):
        with pytest.raises(StreamInterruptedError) as caught:
            await client.start_stream(inputs="x", model="m").response()
    message = str(caught.value)
    assert "may have acted" not in message
    assert "may have reached" not in message
    assert "what arrived is in .partial" in message


@pytest.mark.parametrize("call", ["list", "start", "start_stream"])
async def test_an_html_page_says_to_check_base_url_and_proxies(
    scripted: ScriptedServer, call: str
) -> None:
    page = b"<!DOCTYPE html><html><body>Please log in to the guest network</body></html>"
    scripted.reply(200, page, {"Content-Type": "text/html"})
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await _call(client, call)
    assert "HTML page" in str(caught.value)
    assert "check base_url, and any proxy" in str(caught.value)
    assert caught.value.body == page.decode()


async def test_long_bodies_are_quoted_with_a_visible_cut(scripted: ScriptedServer) -> None:
    scripted.reply(400, json.dumps({"message": "x" * 12_845}).encode())
    async with AsyncClient("k", base_url=scripted.base_url) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.list()
    assert "x" * 500 + "... (12,345 more characters)" in str(caught.value)
    assert len(str(caught.value)) < 700


@pytest.mark.parametrize("bad", [-1, 0, float("nan")])
async def test_a_bad_timeout_names_what_was_passed(bad: float) -> None:
    async with AsyncClient("k", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match=r"^timeout=") as caught:
            await client.list(timeout=bad)
    assert "Timeout.connect" not in str(caught.value)


async def test_a_drop_is_reported_once_with_its_attempts() -> None:
    async def drop(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        return False

    async with (
        RawServer(drop) as server,
        AsyncClient(
            "k", base_url=server.base_url, retry=RetryPolicy(max_attempts=3, initial_delay=0)
        ) as client,
    ):
        with pytest.raises(APIConnectionError) as caught:
            await client.list()
    assert caught.value.attempts == 3
    assert str(caught.value).count("gave up after 3 attempts") == 1
