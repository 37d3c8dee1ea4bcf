"""client.run: the function tools loop, against the embedded server, async and blocking."""

from __future__ import annotations

import asyncio
import enum
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import anyio
import attrs
import pytest

from mistral_conversations import (
    AsyncClient,
    Client,
    ConfigurationError,
    FunctionResultEvent,
    MaxRoundsError,
    OutputDecodeError,
    PendingCall,
    RetryPolicy,
    RunResult,
    ToolDefinitionError,
    converter,
)
from mistral_conversations.models import (
    Function,
    FunctionCallEntry,
    FunctionResultEntry,
    FunctionTool,
    MessageOutputEntry,
    MessageOutputEvent,
    ResponseDoneEvent,
    ResponseStartedEvent,
)
from mistral_conversations.testing import LocalServer

MODEL = "mistral-small-latest"


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def get_weather(city: str, unit: Unit = Unit.CELSIUS) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
        unit: How to give the temperature.
    """
    return f"sunny in {city}, 20 degrees {unit.value}"


async def get_time(zone: str) -> dict[str, str]:
    """The time in a time zone."""
    await asyncio.sleep(0)
    return {"zone": zone, "time": "12:00"}


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def explode(text: str) -> str:
    """Always fails."""
    raise ValueError("the fuse was lit")


@attrs.frozen
class Forecast:
    city: str
    degrees: int
    sunny: bool


def requests_to(server: LocalServer, suffix: str = "") -> list[Any]:
    return [r for r in server.requests if r.method == "POST" and r.path.endswith(suffix)]


@pytest.fixture
async def client(local_server: LocalServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        api_key=local_server.api_key, base_url=local_server.base_url, retry=RetryPolicy.disabled()
    ) as client:
        yield client


@pytest.fixture
def blocking(local_server: LocalServer) -> Iterator[Client]:
    with Client(api_key=local_server.api_key, base_url=local_server.base_url) as client:
        yield client


# -- the loop ------------------------------------------------------------------------------


async def test_a_sync_and_an_async_tool_in_two_rounds(
    client: AsyncClient, local_server: LocalServer
) -> None:
    result = await client.run(
        'get_weather({"city": "Paris"}) and get_time({"zone": "CET"})',
        tools=[get_weather, get_time],
        model=MODEL,
    )
    assert result.rounds == 2
    first, second, r1, r2, answer = result.entries
    assert isinstance(first, FunctionCallEntry)
    assert isinstance(second, FunctionCallEntry)
    assert (first.name, second.name) == ("get_weather", "get_time")
    assert r1 == FunctionResultEntry(
        tool_call_id=first.tool_call_id, result="sunny in Paris, 20 degrees celsius"
    )
    assert r2 == FunctionResultEntry(
        tool_call_id=second.tool_call_id, result='{"zone":"CET","time":"12:00"}'
    )
    assert isinstance(answer, MessageOutputEntry)
    assert result.output_text == (
        'Result: sunny in Paris, 20 degrees celsius; {"zone":"CET","time":"12:00"}'
    )
    assert result.pending == []
    assert result.output is None
    # What went on the wire: the tools described, then the results appended.
    start, append = requests_to(local_server)
    assert [t["function"]["name"] for t in start.json["tools"]] == ["get_weather", "get_time"]
    weather = start.json["tools"][0]["function"]
    assert weather["description"] == "The weather in a city."
    assert weather["parameters"]["properties"]["unit"] == {
        "enum": ["celsius", "fahrenheit"],
        "type": "string",
        "description": "How to give the temperature.",
        "default": "celsius",
    }
    assert append.path == f"/v1/conversations/{result.conversation_id}"
    assert [e["tool_call_id"] for e in append.json["inputs"]] == [
        first.tool_call_id,
        second.tool_call_id,
    ]
    assert result.usage.total_tokens > 0


async def test_a_round_s_calls_run_side_by_side(client: AsyncClient) -> None:
    both_async = anyio.Event()
    arrived: list[str] = []

    async def left(text: str) -> str:
        arrived.append("left")
        if len(arrived) == 2:
            both_async.set()
        with anyio.fail_after(10):
            await both_async.wait()  # returns only if the other runs at the same time
        return "L"

    async def right(text: str) -> str:
        arrived.append("right")
        if len(arrived) == 2:
            both_async.set()
        with anyio.fail_after(10):
            await both_async.wait()
        return "R"

    barrier = threading.Barrier(2, timeout=10)

    def up(text: str) -> str:
        barrier.wait()  # both sync tools must be in their threads at once
        return "U"

    def down(text: str) -> str:
        barrier.wait()
        return "D"

    result = await client.run("left right up down", tools=[left, right, up, down], model=MODEL)
    assert result.output_text == "Result: L; R; U; D"


async def test_errors_are_reported_to_the_model_without_a_traceback(
    client: AsyncClient, local_server: LocalServer
) -> None:
    def ghost() -> str:
        """Gone by the second run."""
        return "boo"

    # The conversation keeps the tools of its first run; the second brings no ghost.
    first = await client.run("hello", tools=[explode, add, ghost], model=MODEL)
    result = await client.run(
        'explode and add({"a": "two", "b": 2}) and ghost',
        tools=[explode, add],
        conversation_id=first.conversation_id,
    )
    results = [e.result for e in result.entries if isinstance(e, FunctionResultEntry)]
    assert [json.loads(r) for r in results] == [
        {"error": "ValueError: the fuse was lit"},
        {"error": "the arguments do not fit add: argument 'a': expected an integer, got \"two\""},
        {"error": "unknown function 'ghost'; the functions are: add, explode"},
    ]
    assert "Traceback" not in requests_to(local_server)[-1].body.decode()


async def test_a_run_continues_a_conversation(client: AsyncClient) -> None:
    first = await client.run("hello", tools=[add], model=MODEL)  # the tools are set here
    result = await client.run(
        'add({"a": 2, "b": 3})', tools=[add], conversation_id=first.conversation_id
    )
    assert result.conversation_id == first.conversation_id
    assert result.output_text == "Result: 5"


async def test_max_rounds_stops_with_everything_so_far(client: AsyncClient) -> None:
    asked: list[PendingCall] = []

    def confirm(call: PendingCall) -> Literal["allow"]:
        asked.append(call)
        return "allow"

    with pytest.raises(MaxRoundsError) as caught:
        await client.run(
            'add({"a": 1, "b": 2})', tools=[add], model=MODEL, max_rounds=1, confirm=confirm
        )
    assert asked == []  # nothing is asked of a call that will not run
    error = caught.value
    assert error.max_rounds == 1
    assert error.result.rounds == 1
    assert isinstance(error.result.entries[0], FunctionCallEntry)
    assert "max_rounds=1" in str(error)
    assert error.result.conversation_id in str(error)


# -- approvals -----------------------------------------------------------------------------


async def test_confirm_allows_and_denies(client: AsyncClient) -> None:
    asked: list[PendingCall] = []

    async def confirm(call: PendingCall) -> Literal["allow", "deny"]:
        asked.append(call)
        return "allow" if call.name == "add" else "deny"

    result = await client.run(
        'add({"a": 1, "b": 1}) then get_weather({"city": "Oslo"})',
        tools=[add, get_weather],
        model=MODEL,
        confirm=confirm,
    )
    assert [(c.name, c.held_by) for c in asked] == [("add", "client"), ("get_weather", "client")]
    assert json.loads(asked[0].arguments) == {"a": 1, "b": 1}
    assert result.output_text == 'Result: 2; {"error":"the user denied this call"}'


async def test_a_deferred_call_is_resumed_by_a_fresh_client(
    client: AsyncClient, local_server: LocalServer
) -> None:
    ran: list[str] = []

    def send_money(to: str, amount: int) -> str:
        ran.append(to)
        return f"sent {amount} to {to}"

    result = await client.run(
        'send_money({"to": "Ann", "amount": 5})',
        tools=[send_money],
        model=MODEL,
        confirm=lambda call: "defer",
    )
    assert ran == []
    (pending,) = result.pending
    assert pending.held_by == "client"
    assert result.output_text == ""
    # A web app stores the pending calls between two requests, as JSON.
    stored = json.dumps(converter.unstructure(result.pending))
    restored = converter.structure(json.loads(stored), list[PendingCall])
    assert restored == result.pending
    async with AsyncClient(api_key=local_server.api_key, base_url=local_server.base_url) as fresh:
        resumed = await fresh.run(
            tools=[send_money],
            conversation_id=result.conversation_id,
            decisions={restored[0].tool_call_id: "allow"},
        )
    assert ran == ["Ann"]
    assert resumed.output_text == "Result: sent 5 to Ann"
    assert resumed.rounds == 1


async def test_decisions_for_calls_that_do_not_wait_are_refused(client: AsyncClient) -> None:
    result = await client.run("hello", tools=[add], model=MODEL)
    with pytest.raises(ConfigurationError, match="no call waits for a decision under the id"):
        await client.run(
            tools=[add], conversation_id=result.conversation_id, decisions={"call_x": "allow"}
        )


MAIL = {
    "type": "connector",
    "connector_id": "mail",
    "tool_configuration": {"requires_confirmation": ["send_email"]},
}


async def test_a_call_the_server_holds_waits_for_a_decision(
    client: AsyncClient, local_server: LocalServer
) -> None:
    result = await client.run('send_email({"to": "bob"})', tools=[MAIL, add], model=MODEL)
    (held,) = result.pending
    assert held.held_by == "server"
    assert held.name == "send_email"
    resumed = await client.run(
        tools=[add],
        conversation_id=result.conversation_id,
        decisions=[{"tool_call_id": held.tool_call_id, "confirmation": "allow"}],
    )
    assert resumed.output_text.startswith("Done: send_email")
    append = requests_to(local_server)[-1]
    assert append.json["tool_confirmations"] == [
        {"tool_call_id": held.tool_call_id, "confirmation": "allow"}
    ]
    assert "inputs" not in append.json


async def test_confirm_answers_a_call_the_server_holds(client: AsyncClient) -> None:
    result = await client.run(
        'send_email({"to": "bob"})', tools=[MAIL], model=MODEL, confirm=lambda call: "deny"
    )
    assert result.pending == []
    assert result.output_text == "Not run: send_email was denied"


# -- cancellation --------------------------------------------------------------------------


async def test_cancelling_a_run_cancels_its_tool_and_sends_nothing_more(
    client: AsyncClient, local_server: LocalServer
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def wait_forever(text: str) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    task = asyncio.ensure_future(client.run("wait_forever", tools=[wait_forever], model=MODEL))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    assert len(requests_to(local_server)) == 1  # the start, and no results


# -- structured output ---------------------------------------------------------------------


async def test_structured_output_is_decoded(client: AsyncClient, local_server: LocalServer) -> None:
    result = await client.run("Weather in Rome, 21 degrees", model=MODEL, output_type=Forecast)
    assert isinstance(result.output, Forecast)
    assert result.output == Forecast(**json.loads(result.output_text))
    response_format = requests_to(local_server)[-1].json["completion_args"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Forecast"
    assert response_format["json_schema"]["schema"]["required"] == ["city", "degrees", "sunny"]


async def test_an_answer_that_does_not_fit_is_a_clear_error(client: AsyncClient) -> None:
    with pytest.raises(OutputDecodeError) as caught:
        await client.run("a malformed forecast", model=MODEL, output_type=Forecast)
    error = caught.value
    assert "cannot be read as Forecast" in str(error) or "does not fit Forecast" in str(error)
    assert error.text
    assert error.result.output_text == error.text


# -- the stream form -----------------------------------------------------------------------


async def test_run_stream_yields_every_round_and_each_result(client: AsyncClient) -> None:
    async with client.run_stream('add({"a": 2, "b": 2})', tools=[add], model=MODEL) as run:
        kinds = [type(event).__name__ async for event in run]
        result = await run.result()
    assert kinds[0] == "ResponseStartedEvent"
    first_done = kinds.index("ResponseDoneEvent")
    assert set(kinds[1:first_done]) == {"FunctionCallEvent"}
    assert kinds[first_done + 1] == "FunctionResultEvent"
    assert kinds[first_done + 2] == "ResponseStartedEvent"
    assert kinds[-1] == "ResponseDoneEvent"
    assert "MessageOutputEvent" in kinds[first_done + 3 :]
    assert result.output_text == "Result: 4"
    assert result.rounds == 2


async def test_a_result_event_says_what_was_sent(client: AsyncClient) -> None:
    events = [
        e
        async for e in client.run_stream("explode", tools=[explode], model=MODEL)
        if isinstance(e, FunctionResultEvent)
    ]
    (event,) = events
    assert event.name == "explode"
    assert event.is_error
    assert json.loads(event.result) == {"error": "ValueError: the fuse was lit"}


async def test_leaving_a_run_stream_early_closes_it(
    client: AsyncClient, local_server: LocalServer
) -> None:
    async with client.run_stream('add({"a": 2, "b": 2})', tools=[add], model=MODEL) as run:
        first = await run.__anext__()
        assert isinstance(first, ResponseStartedEvent)
    with pytest.raises(ConfigurationError, match="closed before its end"):
        await run.result()
    assert len(requests_to(local_server)) == 1


async def test_a_run_s_settings_reach_each_of_its_requests(
    client: AsyncClient, local_server: LocalServer
) -> None:
    result = await client.run(
        'add({"a": 1, "b": 2})',
        tools=[add],
        model=MODEL,
        name="sums",
        description="adds things",
        metadata={"team": "maths"},
        headers={"x-trace": "t-1"},
    )
    assert result.output_text == "Result: 3"
    sent = requests_to(local_server)
    assert len(sent) == 2  # the start, then the append with the result
    start = sent[0].json
    assert (start["name"], start["description"], start["metadata"]) == (
        "sums",
        "adds things",
        {"team": "maths"},
    )
    assert "name" not in sent[1].json
    assert [r.headers["x-trace"] for r in sent] == ["t-1", "t-1"]


async def test_a_run_s_retry_and_timeout_are_its_own(
    client: AsyncClient, local_server: LocalServer
) -> None:
    local_server.fail_next(1, status=503)  # the client's own policy: no retries
    result = await client.run("hi", model=MODEL, retry=RetryPolicy(initial_delay=0))
    assert result.output_text == "Echo: hi"
    assert len(requests_to(local_server)) == 2
    with pytest.raises(TypeError, match=r"timeout_ms=, the official SDK's keyword; here it is"):
        await client.run("hi", model=MODEL, timeout_ms=5000)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"use run_stream\(\) for a stream of events"):
        await client.run("hi", model=MODEL, stream=True)  # type: ignore[call-arg]


# -- checks before anything is sent ----------------------------------------------------------


async def test_bad_runs_are_refused_before_sending(
    client: AsyncClient, local_server: LocalServer
) -> None:
    def untyped(x):  # type: ignore[no-untyped-def]
        return x

    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"tools": [untyped]}, ToolDefinitionError, "parameter 'x'"),
        ({"tools": [add, add]}, ConfigurationError, "two tools are named 'add'"),
        (
            {"tools": [FunctionTool(function=Function(name="lookup", parameters={}))]},
            ToolDefinitionError,
            "the function tool 'lookup' is a schema with no Python function behind it",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "find", "parameters": {}}}]},
            ToolDefinitionError,
            "the function tool 'find' is a schema",
        ),
        ({"max_rounds": 0}, ConfigurationError, "max_rounds must be an int of at least 1"),
        ({"output_type": dict}, ConfigurationError, "output_type must be an attrs class"),
        ({"decisions": {"c": "allow"}}, ConfigurationError, "give its conversation_id= too"),
    ]
    for extra, error, message in cases:
        with pytest.raises(error, match=message):
            await client.run("hi", model=MODEL, **extra)
    with pytest.raises(ConfigurationError, match="keeps the conversation's"):
        await client.run("hi", conversation_id="conv_1", model=MODEL)
    with pytest.raises(ConfigurationError, match="keeps the conversation's"):
        await client.run("hi", conversation_id="conv_1", name="renamed")
    with pytest.raises(ConfigurationError, match="send new inputs in a run after this one"):
        await client.run("hi", conversation_id="conv_1", decisions={"c": "allow"})
    with pytest.raises(ConfigurationError, match="decide 'allow' or 'deny'"):
        await client.run(conversation_id="conv_1", decisions={"c": "maybe"})  # type: ignore[dict-item]
    assert local_server.requests == []


# -- every conversation ----------------------------------------------------------------------


async def test_iter_conversations_goes_through_every_page(
    client: AsyncClient, local_server: LocalServer
) -> None:
    made = [(await client.start(inputs=f"n{i}", model=MODEL)).conversation_id for i in range(7)]
    local_server.requests.clear()
    seen = [c.id async for c in client.iter_conversations(page_size=2)]
    assert sorted(seen) == sorted(made)
    assert len(seen) == 7
    pages = [r.query["page"] for r in local_server.requests]
    assert pages == ["0", "1", "2", "3"]


async def test_iter_conversations_fetches_lazily(
    client: AsyncClient, local_server: LocalServer
) -> None:
    for i in range(5):
        await client.start(inputs=f"n{i}", model=MODEL)
    local_server.requests.clear()
    conversations = client.iter_conversations(page_size=2)
    await conversations.__anext__()
    assert len(local_server.requests) == 1
    with pytest.raises(ValueError, match="page_size must be at least 1"):
        client.iter_conversations(page_size=0)


# -- the blocking facade ---------------------------------------------------------------------


def test_blocking_run_resume_and_pages(blocking: Client, local_server: LocalServer) -> None:
    result = blocking.run(
        'add({"a": 20, "b": 22}) and get_time({"zone": "UTC"})',
        tools=[add, get_time],
        model=MODEL,
    )
    assert isinstance(result, RunResult)
    assert result.output_text == 'Result: 42; {"zone":"UTC","time":"12:00"}'
    deferred = blocking.run(
        'add({"a": 1, "b": 1})', tools=[add], model=MODEL, confirm=lambda call: "defer"
    )
    resumed = blocking.run(
        tools=[add],
        conversation_id=deferred.conversation_id,
        decisions={deferred.pending[0].tool_call_id: "deny"},
    )
    assert resumed.output_text == 'Result: {"error":"the user denied this call"}'
    assert len(list(blocking.iter_conversations(page_size=1))) == 2  # the resume went on


def test_blocking_run_stream(blocking: Client) -> None:
    with blocking.run_stream('add({"a": 1, "b": 2})', tools=[add], model=MODEL) as run:
        events = list(run)
        result = run.result()
    assert isinstance(events[0], ResponseStartedEvent)
    assert any(isinstance(e, FunctionResultEvent) for e in events)
    assert isinstance(events[-1], ResponseDoneEvent)
    assert any(isinstance(e, MessageOutputEvent) for e in events)
    assert result.output_text == "Result: 3"


def test_blocking_run_stream_left_early_closes(blocking: Client, local_server: LocalServer) -> None:
    with blocking.run_stream('add({"a": 1, "b": 2})', tools=[add], model=MODEL) as run:
        next(iter(run))
    assert len(requests_to(local_server)) == 1


# -- MCP tools -------------------------------------------------------------------------------


async def test_mcp_tools_run_through_their_session(
    client: AsyncClient, local_server: LocalServer
) -> None:
    from .test_mcp import _stdio_session

    with anyio.fail_after(60):
        async with _stdio_session() as session:
            result = await client.run(
                'add({"a": 2, "b": 40}) and shout({"text": "hi"})',
                tools=[session, get_weather],
                model=MODEL,
            )
    assert result.output_text == "Result: 42; HI!"
    offered = [t["function"]["name"] for t in requests_to(local_server)[0].json["tools"]]
    assert "get_weather" in offered
    assert {"add", "shout"} <= set(offered)


def test_the_blocking_client_refuses_mcp_sessions(blocking: Client) -> None:
    async def session_of_another_loop() -> None:
        from .test_mcp import _stdio_session

        async with _stdio_session() as session:
            with pytest.raises(ConfigurationError, match="pass MCP sessions to AsyncClient"):
                blocking.run("hi", tools=[session], model=MODEL)

    anyio.run(session_of_another_loop)


async def test_a_run_result_round_trips_through_the_converter(client: AsyncClient) -> None:
    result = await client.run('add({"a": 2, "b": 2})', tools=[add], model=MODEL)
    data = json.loads(json.dumps(converter.unstructure(result)))
    assert converter.structure(data, RunResult) == result
