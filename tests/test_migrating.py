"""The migration guide, docs/migrating.md, checked against the installed official SDK.

The guide's tables are read back and compared with both packages: every conversations
method of ``mistralai`` is in the table of calls, with the keywords the table gives, and
every name in the "here" column is a method of ``AsyncClient`` and ``Client`` taking the
keywords claimed; the model names said to differ are exactly those that do, computed
from both packages; and the behaviours the guide describes still hold. Skipped where
``mistralai`` is not installed (it comes with the ``bench`` and ``dev`` extras).
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

sdk_client = pytest.importorskip("mistralai.client", reason="the official SDK is not installed")
sdk_conversations = pytest.importorskip("mistralai.client.conversations")
sdk_errors = pytest.importorskip("mistralai.client.errors")
sdk_models = pytest.importorskip("mistralai.client.models")
sdk_configuration = pytest.importorskip("mistralai.client.sdkconfiguration")
pydantic = pytest.importorskip("pydantic")

from mistral_conversations import AsyncClient, Client, ServerEventError  # noqa: E402
from mistral_conversations import models as our_models  # noqa: E402
from mistral_conversations.testing import LocalServer  # noqa: E402

from .official_sdk import aimed_at  # noqa: E402
from .scripted import ScriptedServer  # noqa: E402

PAGE = Path(__file__).resolve().parent.parent / "docs" / "migrating.md"
Conversations = sdk_conversations.Conversations

# The keywords every call takes on each side, which the table of calls leaves out.
SDK_PER_CALL = {"retries", "server_url", "timeout_ms", "http_headers"}
OUR_PER_CALL = {"timeout", "retry", "headers", "extra_body", "extra_query"}
# Our calls that take none of those, and those that take timeout, retry and headers only.
WITHOUT_PER_CALL = {"iter_conversations"}
RUNS = {"run", "run_stream"}
WITH_BODY = {"start", "start_stream", "append", "append_stream", "restart", "restart_stream"}

_CODE = re.compile(r"`([^`]+)`")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


# -- reading the page ----------------------------------------------------------------


def section(heading: str) -> str:
    """The page's text under ``heading``, up to the next heading of its level or above."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    start = lines.index(heading) + 1
    end = len(lines)
    for number in range(start, len(lines)):
        hashes = len(lines[number]) - len(lines[number].lstrip("#"))
        if 0 < hashes <= level and lines[number][hashes : hashes + 1] == " ":
            end = number
            break
    return "\n".join(lines[start:end])


def tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables of ``text``: for each, its body rows, as lists of cells."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] | None = None
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if rows is None:
                rows = []  # the header
            elif not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows is not None:
            found.append(rows)
            rows = None
    return found


def names(cell: str) -> set[str]:
    """The identifiers written as code in a table cell (``none`` and prose are not)."""
    return {span for span in _CODE.findall(cell) if _IDENTIFIER.fullmatch(span)}


def keyword_names(cell: str) -> set[str]:
    """The keywords written as ``name=...`` code in a table cell."""
    return {m.group(1) for span in _CODE.findall(cell) if (m := re.match(r"(\w+)=", span))}


@attrs.frozen
class CallRow:
    sdk: set[str]
    ours: set[str]
    both: set[str]
    only_sdk: set[str]
    only_ours: set[str]


def call_rows() -> list[CallRow]:
    [rows, *_] = tables(section("## Every call, side by side"))
    return [CallRow(*(names(cell) for cell in row)) for row in rows]


# -- reading the packages ------------------------------------------------------------


def keywords(function: Callable[..., Any]) -> set[str]:
    """The parameters of a method, but ``self``."""
    return set(inspect.signature(function).parameters) - {"self"}


def sdk_methods() -> dict[str, Callable[..., Any]]:
    """Every public method of the SDK's ``client.beta.conversations``."""
    return {
        name: value
        for name, value in vars(Conversations).items()
        if not name.startswith("_") and callable(value)
    }


def _union_members(hint: Any) -> list[Any]:
    if type(hint).__name__ == "TypeAliasType":
        return _union_members(hint.__value__)
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _union_members(typing.get_args(hint)[0])
    if origin is typing.Union or isinstance(hint, types.UnionType):
        return [member for arg in typing.get_args(hint) for member in _union_members(arg)]
    return [hint]


def sdk_conversation_models() -> dict[str, type[Any]]:
    """The SDK's model classes that its conversations calls take or return, or contain.

    Found from the models its ``Conversations`` class names (arguments, request bodies,
    answers, events) and the body of a 422, following every field. The per-operation
    wrappers of path and query parameters (``AgentsAPIV1Conversations*Request``) and
    ``Security`` are the SDK's plumbing, never built or seen by its users.
    """
    found: dict[str, type[Any]] = {}

    def visit(hint: Any) -> None:
        if type(hint).__name__ == "TypeAliasType":
            visit(hint.__value__)
            return
        arguments = typing.get_args(hint)
        if arguments:
            for argument in arguments:
                visit(argument)
            return
        if (
            isinstance(hint, type)
            and issubclass(hint, pydantic.BaseModel)
            and hint.__name__ not in found
        ):
            found[hint.__name__] = hint
            for field in hint.model_fields.values():
                visit(field.annotation)

    source = inspect.getsource(Conversations)
    for name in sorted(set(re.findall(r"\bmodels\.(\w+)", source))):
        if name == "Security" or re.fullmatch(r"AgentsAPIV1Conversations\w*Request", name):
            continue
        visit(getattr(sdk_models, name))
    visit(sdk_errors.HTTPValidationErrorData)
    return found


def our_model_classes() -> dict[str, type[Any]]:
    """Every model class of ``mistral_conversations.models`` (the unions left out)."""
    return {
        name: getattr(our_models, name)
        for name in our_models.__all__
        if attrs.has(getattr(our_models, name))
    }


def model_rows() -> list[list[str]]:
    return tables(section("## Models whose names differ"))[0]


def model_pairs() -> dict[str, str]:
    """SDK model name -> ours, for the same names and the table's one-to-one rows."""
    pairs = {name: name for name in set(sdk_conversation_models()) & set(our_model_classes())}
    for row in model_rows():
        ours = names(row[1])
        if len(ours) == 1:
            pairs.update(dict.fromkeys(names(row[0]), next(iter(ours))))
    return pairs


# -- the table of calls --------------------------------------------------------------


def test_every_sdk_conversations_method_is_in_the_table() -> None:
    listed = [name for row in call_rows() for name in row.sdk]
    assert sorted(listed) == sorted(sdk_methods())


@pytest.mark.parametrize("row", call_rows(), ids=lambda row: "/".join(sorted(row.ours | row.sdk)))
def test_sdk_keywords_are_as_listed(row: CallRow) -> None:
    for name in row.sdk:
        taken = keywords(sdk_methods()[name]) - SDK_PER_CALL
        assert taken == row.both | row.only_sdk, name


@pytest.mark.parametrize("row", call_rows(), ids=lambda row: "/".join(sorted(row.ours | row.sdk)))
def test_our_methods_exist_with_the_keywords_listed(row: CallRow) -> None:
    if not row.ours:
        assert not row.both
        assert not row.only_ours
    for name in row.ours:
        for cls in (AsyncClient, Client):
            method = getattr(cls, name)
            assert keywords(method) - OUR_PER_CALL == row.both | row.only_ours, (cls, name)


def test_per_call_keywords() -> None:
    [rows] = tables(section("### Per-call keywords"))
    assert set().union(*(keyword_names(row[0]) for row in rows)) == SDK_PER_CALL
    assert set().union(*(keyword_names(row[1]) for row in rows)) == OUR_PER_CALL | {"base_url"}
    for name, method in sdk_methods().items():
        assert keywords(method) >= SDK_PER_CALL, name
    ours = {name for row in call_rows() for name in row.ours}
    for name in ours:
        for cls in (AsyncClient, Client):
            taken = keywords(getattr(cls, name)) & OUR_PER_CALL
            if name in WITHOUT_PER_CALL:
                assert not taken, name
            elif name in RUNS:
                assert taken == {"timeout", "retry", "headers"}, name
            elif name in WITH_BODY:
                assert taken == OUR_PER_CALL, name
            else:
                assert taken == OUR_PER_CALL - {"extra_body"}, name


async def test_the_sdks_keywords_are_refused_naming_ours() -> None:
    expected = {
        "timeout_ms": "timeout= in seconds",
        "http_headers": "headers=",
        "retries": "retry=RetryPolicy",
        "server_url": "base_url=",
    }
    async with AsyncClient("key", base_url="http://127.0.0.1:9") as client:
        for keyword, ours in expected.items():
            with pytest.raises(TypeError, match=re.escape(ours)):
                await client.start(inputs="hi", model="m", **{keyword: 1})
            with pytest.raises(TypeError, match=re.escape(ours)):
                await client.get("conv_1", **{keyword: 1})


# -- the models ------------------------------------------------------------------------


def test_the_model_names_that_differ_are_exactly_those_listed() -> None:
    sdk = set(sdk_conversation_models())
    ours = set(our_model_classes())
    rows = model_rows()
    listed_sdk = set().union(*(names(row[0]) for row in rows))
    listed_ours = set().union(*(names(row[1]) for row in rows))
    assert sorted(listed_sdk) == sorted(sdk - ours)
    assert sorted(listed_ours) == sorted(ours - sdk)


def test_field_names_differ_only_where_the_page_says() -> None:
    sdk = sdk_conversation_models()
    ours = our_model_classes()
    differences = {}
    for sdk_name, our_name in model_pairs().items():
        sdk_fields = set(sdk[sdk_name].model_fields) - {"is_unknown"}
        our_fields = {field.name for field in attrs.fields(ours[our_name])}
        if sdk_fields != our_fields:
            differences[sdk_name, our_name] = (sdk_fields - our_fields, our_fields - sdk_fields)
    assert differences == {("JSONSchema", "JsonSchema"): ({"schema_definition"}, {"schema"})}
    text = section("## Models whose names differ")
    assert "`JSONSchema.schema_definition`" in text
    assert "`JsonSchema.schema`" in text
    unknown = [name for name in sdk if name.startswith("Unknown")]
    assert unknown
    assert all("is_unknown" in sdk[name].model_fields for name in unknown)


def test_the_unions_listed_have_the_same_members() -> None:
    pairs = model_pairs()
    [_, rows] = tables(section("## Models whose names differ"))
    for row in rows:
        [our_name] = names(row[1])
        ours = {
            member.__name__
            for member in _union_members(getattr(our_models, our_name))
            if not member.__name__.startswith("Unknown")
        }
        for sdk_name in names(row[0]):
            members = _union_members(getattr(sdk_models, sdk_name))
            theirs = {pairs[member.__name__] for member in members}
            assert {name for name in theirs if not name.startswith("Unknown")} == ours, sdk_name


def test_the_sdk_fails_on_an_unknown_entry_where_we_keep_it() -> None:
    answer = {
        "object": "conversation.response",
        "conversation_id": "conv_1",
        "outputs": [{"object": "entry", "type": "brand.new", "id": "x"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    with pytest.raises(pydantic.ValidationError):
        sdk_models.ConversationResponse.model_validate(answer)
    chunk = {"type": "brand_new_chunk", "x": 1}
    message = {"object": "entry", "type": "message.output", "id": "m", "content": [chunk]}
    with pytest.raises(pydantic.ValidationError):
        sdk_models.ConversationResponse.model_validate({**answer, "outputs": [message]})


# -- the behaviours --------------------------------------------------------------------


def test_aimed_at_points_the_sdk_at_a_server_and_puts_it_back(local_server: LocalServer) -> None:
    servers = sdk_configuration.SERVERS
    before = dict(servers)
    with aimed_at(local_server.base_url), sdk_client.Mistral(api_key=local_server.api_key) as sdk:
        assert set(servers.values()) == {local_server.base_url}
        reply = sdk.beta.conversations.start(inputs="ping", model="m")
        assert reply.outputs[0].content == "Echo: ping"
    assert servers == before
    with pytest.raises(RuntimeError), aimed_at(local_server.base_url):
        raise RuntimeError
    assert servers == before


def test_the_sdk_list_bug_the_page_works_around(local_server: LocalServer) -> None:
    """mistralai 3.7 sends its "unset" marker as metadata; the day it stops, fix the page."""
    with aimed_at(local_server.base_url), sdk_client.Mistral(api_key=local_server.api_key) as sdk:
        with pytest.raises(sdk_errors.HTTPValidationError):
            sdk.beta.conversations.list()
        assert local_server.requests[-1].query["metadata"] == '"~?~unset~?~sentinel~?~"'
        assert sdk.beta.conversations.list(metadata=None) == []
        assert local_server.requests[-1].query["metadata"] == "null"
    assert '"~?~unset~?~sentinel~?~"' in PAGE.read_text(encoding="utf-8").replace("`", '"')


def test_the_sdk_neither_retries_by_default_nor_keeps_posts_from_retries(
    local_server: LocalServer,
) -> None:
    local_server.fail_next(1, 503)
    with (
        sdk_client.Mistral(api_key=local_server.api_key, server_url=local_server.base_url) as sdk,
        pytest.raises(sdk_errors.SDKError) as info,
    ):
        sdk.beta.conversations.start(inputs="hi", model="m")
    assert info.value.status_code == 503
    assert len(local_server.requests) == 1
    for name in set(sdk_methods()) - {"run_async", "run_stream_async"}:
        source = inspect.getsource(sdk_methods()[name])
        assert "timeout_ms = 300000" in source, name
        assert 'retry_config = (retries, ["429", "500", "502", "503", "504"])' in source, name


def _sse(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


async def test_an_error_event_is_yielded_by_the_sdk_and_raised_here(
    scripted: ScriptedServer,
) -> None:
    at = "2025-01-01T00:00:00Z"
    body = _sse(
        {"type": "conversation.response.started", "created_at": at, "conversation_id": "conv_1"}
    ) + _sse({"type": "conversation.response.error", "created_at": at, "message": "x", "code": 3})
    for _ in range(2):
        scripted.reply(200, body, {"Content-Type": "text/event-stream"})

    async with sdk_client.Mistral(api_key="key", server_url=scripted.base_url) as sdk:
        stream = await sdk.beta.conversations.start_stream_async(inputs="hi", model="m")
        async with stream:
            events = [event async for event in stream]
    assert [event.event for event in events] == [
        "conversation.response.started",
        "conversation.response.error",
    ]
    assert isinstance(events[1].data, sdk_models.ResponseErrorEvent)

    async with AsyncClient("key", base_url=scripted.base_url) as client:
        with pytest.raises(ServerEventError) as info:
            async for _event in client.start_stream(inputs="hi", model="m"):
                pass
    assert info.value.code == 3
