"""Every failure a user can meet: its exception class, attributes and message."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from mistral_conversations import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InputShapeError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    Timeout,
    UnprocessableEntityError,
)
from mistral_conversations.models import ValidationErrorDetail

from .scripted import ScriptedServer

NO_RETRY = RetryPolicy.disabled()


@pytest.fixture
async def api(scripted: ScriptedServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient("sk-secret-key", base_url=scripted.base_url, retry=NO_RETRY) as c:
        yield c


@pytest.mark.parametrize(
    ("status", "cls", "advice"),
    [
        (400, BadRequestError, "Check the arguments"),
        (401, AuthenticationError, "MISTRAL_API_KEY"),
        (403, PermissionDeniedError, "permissions"),
        (404, NotFoundError, "Check the id"),
        (409, ConflictError, "changed meanwhile"),
        (429, RateLimitError, "Rate limited"),
        (500, InternalServerError, "tried again later"),
        (502, InternalServerError, "tried again later"),
        (503, InternalServerError, "tried again later"),
        (418, APIStatusError, ""),
    ],
)
async def test_status_maps_to_error_class_with_server_message(
    api: AsyncClient, scripted: ScriptedServer, status: int, cls: type[APIStatusError], advice: str
) -> None:
    body = json.dumps({"object": "error", "message": "Server says no"})
    scripted.reply(status, body, {"mistral-correlation-id": "req-123"})
    with pytest.raises(cls) as info:
        await api.get("conv_1")
    error = info.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.message == "Server says no"
    assert error.body == body
    assert error.request_id == "req-123"
    assert error.headers["mistral-correlation-id"] == "req-123"
    text = str(error)
    assert text.startswith(f"{status} ")
    assert "Server says no" in text
    assert advice in text
    assert "(request id: req-123)" in text
    assert "sk-secret-key" not in text + repr(error)


async def test_422_carries_validation_detail(api: AsyncClient, scripted: ScriptedServer) -> None:
    detail = [{"type": "missing", "loc": ["body", "inputs"], "msg": "Field required"}]
    scripted.reply(422, json.dumps({"detail": detail}))
    with pytest.raises(UnprocessableEntityError) as info:
        await api.start(inputs="hi", model="m")
    assert info.value.detail == [
        ValidationErrorDetail(loc=["body", "inputs"], msg="Field required", type="missing")
    ]
    assert "inputs: Field required" in str(info.value)


async def test_429_carries_retry_after(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(429, '{"message": "slow down"}', {"Retry-After": "7"})
    with pytest.raises(RateLimitError) as info:
        await api.list()
    assert info.value.retry_after == 7.0


async def test_non_json_error_body_is_kept_as_text(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    scripted.reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})
    with pytest.raises(InternalServerError) as info:
        await api.get_history("conv_1")
    assert info.value.body == "<html>Bad Gateway</html>"
    assert "<html>Bad Gateway</html>" in str(info.value)


async def test_redirect_is_not_followed(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(307, b"", {"Location": "http://elsewhere.example/v1/conversations"})
    with pytest.raises(APIStatusError) as info:
        await api.list()
    assert info.value.status_code == 307
    assert "does not follow redirects" in str(info.value)
    assert len(scripted.seen) == 1


async def test_success_with_unreadable_body(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(200, b'{"not": "a conversation"}')
    with pytest.raises(ResponseDecodeError) as info:
        await api.get_history("conv_1")
    assert info.value.body == '{"not": "a conversation"}'
    assert "ConversationHistory" in str(info.value)
    assert info.value.attempts == 1


async def test_an_unreadable_answer_after_a_retry_counts_both_attempts(
    scripted: ScriptedServer,
) -> None:
    scripted.reply(503, b'{"message": "busy"}')
    scripted.reply(200, b'{"not": "a conversation"}')
    retrying = RetryPolicy(initial_delay=0, respect_retry_after=False)
    async with AsyncClient("k", base_url=scripted.base_url, retry=retrying) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.get_history("conv_1")
    assert info.value.attempts == 2


async def test_connection_refused_says_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with AsyncClient("k", base_url=f"http://127.0.0.1:{port}", retry=NO_RETRY) as c:
        with pytest.raises(APIConnectionError) as info:
            await c.list()
    assert not isinstance(info.value, APITimeoutError)
    assert f"Could not connect to http://127.0.0.1:{port}: Connection refused." in str(info.value)
    assert "was not sent" in str(info.value)


async def test_dropped_connection_says_server_may_have_acted(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    scripted.drop()
    with pytest.raises(APIConnectionError) as info:
        await api.append("conv_1", inputs="hi")
    assert "may have acted" in str(info.value)


async def test_read_timeout(scripted: ScriptedServer) -> None:
    scripted.reply(200, b"[]", delay=1.0)
    async with AsyncClient(
        "k", base_url=scripted.base_url, retry=NO_RETRY, timeout=Timeout(read=0.1)
    ) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.list()
    assert "read timeout" in str(info.value)
    assert "Timeout(read=...)" in str(info.value)


async def test_per_call_total_timeout(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(200, b"[]", delay=1.0)
    with pytest.raises(APITimeoutError) as info:
        await api.list(timeout=Timeout(total=0.1, read=None))
    assert "total time limit" in str(info.value)


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncClient()
    assert "api_key=" in str(info.value)
    assert "MISTRAL_API_KEY" in str(info.value)


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "from-env")
    monkeypatch.setenv("MISTRAL_BASE_URL", "http://127.0.0.1:9/")
    client = AsyncClient()
    assert client.base_url == "http://127.0.0.1:9"
    assert "from-env" not in repr(client)


@pytest.mark.parametrize("url", ["api.mistral.ai", "ftp://x", "http://"])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url must be an http"):
        AsyncClient("k", base_url=url)


@pytest.mark.parametrize("value", [0, -1.0])
def test_bad_timeout(value: float) -> None:
    with pytest.raises(ValueError, match=rf"^timeout={value}: a timeout is a positive number"):
        AsyncClient("k", timeout=value)


def test_timeout_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="timeout must be a Timeout"):
        AsyncClient("k", timeout="10")  # type: ignore[arg-type]


async def test_path_ids_are_escaped(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(200, b"{}")
    await api.delete("a/b c?")
    assert scripted.seen[0].raw_path == "/v1/conversations/a%2Fb%20c%3F"


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("", "conversation_id: '' is not a conversation id"),
        (None, "conversation_id: expected a str, got NoneType"),
        (5, "conversation_id: expected a str, got int"),
    ],
)
async def test_conversation_id_must_be_a_string(api: AsyncClient, bad: object, says: str) -> None:
    with pytest.raises(InputShapeError) as caught:
        await api.get(bad)  # type: ignore[arg-type]
    assert str(caught.value).startswith(says)
    assert isinstance(caught.value, TypeError)


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        ("http://api.example.com", True),
        ("http://10.0.0.5:8080", True),
        ("https://api.example.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
    ],
)
def test_plain_http_to_another_host_warns(
    caplog: pytest.LogCaptureFixture, url: str, warns: bool
) -> None:
    with caplog.at_level(logging.WARNING, logger="mistral_conversations"):
        AsyncClient("k", base_url=url)
    messages = [r.getMessage() for r in caplog.records]
    if warns:
        assert messages == [
            f"base_url {url} is plain http:// to another host: the API key will be sent "
            "unencrypted. Use https:// unless this is a trusted network."
        ]
    else:
        assert messages == []


async def test_server_message_equal_to_the_reason_is_not_repeated(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    scripted.reply(401, json.dumps({"message": "Unauthorized"}))
    with pytest.raises(AuthenticationError) as info:
        await api.list()
    assert str(info.value) == (
        "401 Unauthorized. Check the API key: pass api_key= or set MISTRAL_API_KEY."
    )
    assert info.value.message == "Unauthorized"


async def test_errors_survive_pickling(api: AsyncClient, scripted: ScriptedServer) -> None:
    import pickle

    scripted.reply(429, '{"message": "slow down"}', {"Retry-After": "7"})
    with pytest.raises(RateLimitError) as info:
        await api.list()
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is RateLimitError
    assert str(copy) == str(info.value)
    assert (copy.status_code, copy.retry_after, copy.body) == (429, 7.0, '{"message": "slow down"}')
    detail = [ValidationErrorDetail(loc=["body"], msg="bad", type="value_error")]
    unprocessable = UnprocessableEntityError(
        "422", detail=detail, status_code=422, body="", headers={}, request_id=None
    )
    assert pickle.loads(pickle.dumps(unprocessable)).detail == detail


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"nope", "it is not JSON"),
        (b"[]", "expected a JSON object, got list"),
        (b'{"conversation_id": "c", "outputs": []}', "required field 'usage' is missing"),
    ],
)
async def test_unreadable_success_says_why(
    api: AsyncClient, scripted: ScriptedServer, body: bytes, says: str
) -> None:
    scripted.reply(200, body)
    with pytest.raises(ResponseDecodeError) as info:
        await api.start(inputs="hi", model="m")
    assert str(info.value) == (
        "The server answered with success, but its body could not be read as "
        f"ConversationResponse: {says}. The raw body is kept in .body; please report this "
        "with it."
    )
    assert info.value.body == body.decode()


async def test_stream_answered_with_json(api: AsyncClient, scripted: ScriptedServer) -> None:
    scripted.reply(200, b'{"conversation_id": "c"}')
    with pytest.raises(ResponseDecodeError) as info:
        await api.start_stream(inputs="hi", model="m")
    assert "answered with application/json instead of an event stream" in str(info.value)
    assert info.value.body == '{"conversation_id": "c"}'


async def test_a_value_that_is_not_json_is_named_before_sending(
    api: AsyncClient, scripted: ScriptedServer
) -> None:
    with pytest.raises(InputShapeError) as info:
        await api.start(inputs="hi", model="m", metadata={"when": object()})
    assert str(info.value).startswith("a value cannot be sent as JSON (")
    assert "metadata, tool parameters and JSON schemas may hold only" in str(info.value)
    assert isinstance(info.value, TypeError)
    assert scripted.seen == []
