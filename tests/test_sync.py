"""The blocking facade: same API, run on a private loop, safe from any thread."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mistral_conversations import (
    AsyncClient,
    AsyncEventStream,
    Client,
    EventStream,
    MistralError,
    NotFoundError,
    RetryPolicy,
    StreamInterruptedError,
)
from mistral_conversations.models import (
    ConversationHistory,
    ConversationMessages,
    MessageOutputEvent,
    ModelConversation,
    ResponseDoneEvent,
)
from mistral_conversations.testing import LocalServer

from .sockets import client_connections_to

MODEL = "mistral-small-latest"
OPERATIONS = ["start", "list", "get", "delete", "append", "get_history", "get_messages", "restart"]
STREAMS = ["start_stream", "append_stream", "restart_stream"]


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mistral-conversations"]


def outcome_of(call: Callable[[], object], *, within: float = 5.0) -> object:
    """What ``call`` returned or raised, run in a thread; a call that hangs fails the test."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    if thread.is_alive():
        pytest.fail(f"the call was still blocked after {within} s: it hangs")
    return outcome[0]


@pytest.fixture
def sync_client(local_server: LocalServer) -> Iterator[Client]:
    with Client(
        local_server.api_key,
        base_url=local_server.base_url,
        retry=RetryPolicy(initial_delay=0, respect_retry_after=False),
    ) as client:
        yield client


@pytest.mark.parametrize("name", OPERATIONS + STREAMS)
def test_signatures_match_the_async_client(name: str) -> None:
    sync_sig = inspect.signature(getattr(Client, name))
    async_sig = inspect.signature(getattr(AsyncClient, name))
    assert sync_sig.parameters == async_sig.parameters
    assert getattr(Client, name).__doc__ == getattr(AsyncClient, name).__doc__
    if name in STREAMS:
        assert async_sig.return_annotation == "AsyncEventStream"
        assert sync_sig.return_annotation == "EventStream"
    else:
        assert sync_sig.return_annotation == async_sig.return_annotation


@pytest.mark.parametrize(
    ("name", "returns"),
    [
        ("run", "RunResult"),
        ("run_stream", "RunStream"),
        ("iter_conversations", "BlockingIterator[Conversation]"),
    ],
)
def test_the_run_and_paging_twins_say_what_they_return(name: str, returns: str) -> None:
    sync_sig = inspect.signature(getattr(Client, name))
    assert sync_sig.parameters == inspect.signature(getattr(AsyncClient, name)).parameters
    assert sync_sig.return_annotation == returns


def test_constructor_matches() -> None:
    assert inspect.signature(Client).parameters == inspect.signature(AsyncClient).parameters


def test_the_pool_holds_a_thousand_connections_by_default() -> None:
    assert inspect.signature(Client).parameters["max_connections"].default == 1000


def test_constructor_arguments_are_checked_as_the_async_clients_are() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'server_url'"):
        Client("key", server_url="http://127.0.0.1:1")  # type: ignore[call-arg]


# Calls a user may get wrong, as the official SDK's users will: its keywords
# (timeout_ms), a required keyword left out, a keyword passed by position.
BAD_CALLS = [
    pytest.param(name, args, kwargs, id=f"{name}-{mistake}")
    for name, mistake, args, kwargs in [
        ("start", "timeout_ms", (), {"inputs": "x", "model": MODEL, "timeout_ms": 5}),
        ("start", "by-position", ("x",), {"model": MODEL}),
        ("start", "no-inputs", (), {"model": MODEL}),
        ("list", "timeout_ms", (), {"timeout_ms": 5}),
        ("list", "by-position", (0,), {}),
        ("get", "timeout_ms", ("conv_x",), {"timeout_ms": 5}),
        ("get", "no-id", (), {}),
        ("delete", "timeout_ms", ("conv_x",), {"timeout_ms": 5}),
        ("append", "timeout_ms", ("conv_x",), {"inputs": "x", "timeout_ms": 5}),
        ("append", "by-position", ("conv_x", "x"), {}),
        ("get_history", "timeout_ms", ("conv_x",), {"timeout_ms": 5}),
        ("get_messages", "timeout_ms", ("conv_x",), {"timeout_ms": 5}),
        ("restart", "timeout_ms", ("conv_x",), {"from_entry_id": "e", "timeout_ms": 5}),
        ("restart", "no-from_entry_id", ("conv_x",), {"inputs": "x"}),
        ("start_stream", "timeout_ms", (), {"inputs": "x", "model": MODEL, "timeout_ms": 5}),
        ("append_stream", "timeout_ms", ("conv_x",), {"inputs": "x", "timeout_ms": 5}),
        ("restart_stream", "timeout_ms", ("conv_x",), {"from_entry_id": "e", "timeout_ms": 5}),
        ("restart_stream", "no-from_entry_id", ("conv_x",), {"inputs": "x"}),
    ]
]


@pytest.mark.parametrize(("name", "args", "kwargs"), BAD_CALLS)
def test_a_bad_call_raises_at_once(
    sync_client: Client,
    local_server: LocalServer,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    # What the same mistake raises with the async client, as Python words it.
    async_client = AsyncClient(local_server.api_key, base_url=local_server.base_url)
    with pytest.raises(TypeError) as expected:
        getattr(async_client, name)(*args, **kwargs)

    raised = outcome_of(lambda: getattr(sync_client, name)(*args, **kwargs))

    assert type(raised) is TypeError
    assert str(raised) == str(expected.value)
    assert local_server.requests == []
    assert sync_client.list() == []  # and the client goes on working


def _raises_at_call(self: AsyncEventStream, *args: object) -> object:
    raise TypeError("failed while the call started")


def _gives_no_coroutine(self: AsyncEventStream, *args: object) -> object:
    return None


STREAM_OPERATIONS: dict[str, tuple[str, Callable[[EventStream], object]]] = {
    # operation: (the AsyncEventStream method it runs, how a user calls it)
    "enter": ("_ensure_connected", lambda stream: stream.__enter__()),
    "iterate": ("_next_batch", lambda stream: next(iter(stream))),
    "response": ("response", lambda stream: stream.response()),
    "text_deltas": ("_next_batch", lambda stream: next(stream.text_deltas())),
    "close": ("_close_as", lambda stream: stream.close()),
}


@pytest.mark.parametrize("failure", [_raises_at_call, _gives_no_coroutine])
@pytest.mark.parametrize("operation", list(STREAM_OPERATIONS))
def test_a_stream_operation_that_fails_to_start_raises_at_once(
    sync_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    failure: Callable[[AsyncEventStream], object],
) -> None:
    method, call = STREAM_OPERATIONS[operation]
    stream = sync_client.start_stream(inputs="a b c", model=MODEL)
    if operation == "close":
        stream.__enter__()  # only an open stream's close() goes to the loop
    monkeypatch.setattr(AsyncEventStream, method, failure)

    raised = outcome_of(lambda: call(stream))

    assert isinstance(raised, TypeError)
    if failure is _raises_at_call:
        assert str(raised) == "failed while the call started"
    monkeypatch.undo()
    stream.close()
    assert sync_client.start(inputs="still here", model=MODEL).output_text == "Echo: still here"


@pytest.mark.parametrize("name", STREAMS)
def test_a_stream_closed_before_reading_never_sends_its_request(
    sync_client: Client, local_server: LocalServer, name: str
) -> None:
    cid = sync_client.start(inputs="one", model=MODEL).conversation_id
    entry_id = sync_client.get_history(cid).entries[1].id
    streams: dict[str, Callable[[], EventStream]] = {
        "start_stream": lambda: sync_client.start_stream(inputs="two", model=MODEL),
        "append_stream": lambda: sync_client.append_stream(cid, inputs="two"),
        "restart_stream": lambda: sync_client.restart_stream(
            cid, from_entry_id=entry_id, inputs="two"
        ),
    }
    sent = len(local_server.requests)
    stream = streams[name]()

    stream.close()

    with pytest.raises(StreamInterruptedError, match="closed before"):
        list(stream)
    with pytest.raises(StreamInterruptedError):
        stream.response()
    with pytest.raises(StreamInterruptedError):
        list(stream.text_deltas())
    with pytest.raises(StreamInterruptedError), stream:
        pass
    stream.close()
    assert local_server.requests[sent:] == []


def test_a_stream_is_sent_once_however_often_it_is_read(
    sync_client: Client, local_server: LocalServer
) -> None:
    local_server.stream_delay = 0.01
    with sync_client.start_stream(inputs="a b c d e f g h", model=MODEL) as stream:
        next(stream)
    with pytest.raises(StreamInterruptedError):
        list(stream)
    with pytest.raises(StreamInterruptedError):
        stream.response()
    assert [r.path for r in local_server.requests] == ["/v1/conversations"]


def test_every_operation(sync_client: Client) -> None:
    reply = sync_client.start(inputs="one", model=MODEL)
    cid = reply.conversation_id
    assert reply.output_text == "Echo: one"
    assert sync_client.append(cid, inputs="two").output_text == "Echo: two"
    conversation = sync_client.get(cid)
    assert isinstance(conversation, ModelConversation)
    assert [c.id for c in sync_client.list()] == [cid]
    history = sync_client.get_history(cid)
    assert isinstance(history, ConversationHistory)
    assert len(history.entries) == 4
    messages = sync_client.get_messages(cid)
    assert isinstance(messages, ConversationMessages)
    restarted = sync_client.restart(cid, from_entry_id=history.entries[1].id, inputs="three")
    assert restarted.output_text == "Echo: three"
    sync_client.delete(cid)
    with pytest.raises(NotFoundError):
        sync_client.get(cid)


def test_streams(sync_client: Client) -> None:
    with sync_client.start_stream(inputs="tell me more", model=MODEL) as stream:
        assert isinstance(stream, EventStream)
        events = list(stream)
    assert isinstance(events[-1], ResponseDoneEvent)
    text = "".join(e.content for e in events if isinstance(e, MessageOutputEvent))  # type: ignore[misc]
    assert text == "Echo: tell me more"
    cid = stream.response().conversation_id

    pieces = list(sync_client.append_stream(cid, inputs="and again").text_deltas())
    assert "".join(pieces) == "Echo: and again"
    assert len(pieces) > 1

    history = sync_client.get_history(cid)
    restarted = sync_client.restart_stream(
        cid, from_entry_id=history.entries[1].id, inputs="fresh"
    ).response()
    assert restarted.output_text == "Echo: fresh"
    assert restarted.conversation_id != cid


def test_stream_errors_raise_in_the_caller(sync_client: Client) -> None:
    with pytest.raises(NotFoundError), sync_client.append_stream("conv_nope", inputs="x"):
        pass


def test_breaking_out_closes_the_response(sync_client: Client, local_server: LocalServer) -> None:
    stream = sync_client.start_stream(inputs="a b c d e f g h", model=MODEL)
    for event in stream:
        if isinstance(event, MessageOutputEvent):
            break
    stream.close()
    assert client_connections_to(local_server.port) <= 1
    assert sync_client.list()  # the client is still usable


def test_a_stream_has_its_answer_s_headers_and_request_id(
    sync_client: Client, local_server: LocalServer
) -> None:
    stream = sync_client.start_stream(inputs="a b c", model=MODEL)
    assert (stream.headers, stream.request_id) == ({}, None)
    with stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.request_id == stream.headers["mistral-correlation-id"]
        assert stream.request_id


def test_reading_a_closed_stream_names_close(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.02
    with (
        Client(local_server.api_key, base_url=local_server.base_url) as client,
        client.start_stream(inputs="w " * 50, model=MODEL) as stream,
    ):
        next(stream)
        stream.close()
        with pytest.raises(StreamInterruptedError) as caught:
            next(stream)
    assert str(caught.value) == (
        "The stream was closed before the response was complete (close() or leaving its "
        "block); what arrived is in .partial."
    )


def test_works_inside_a_running_event_loop(sync_client: Client) -> None:
    async def notebook_cell() -> str:
        # As in Jupyter: blocking code called from a thread whose loop is running.
        return sync_client.start(inputs="from a notebook", model=MODEL).output_text

    assert asyncio.run(notebook_cell()) == "Echo: from a notebook"


def test_sixteen_threads_share_one_client(sync_client: Client) -> None:
    errors: list[BaseException] = []
    texts: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            for i in range(25):
                text = sync_client.start(inputs=f"t{n}-{i}", model=MODEL, store=False).output_text
                with lock:
                    texts.append(text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(texts) == sorted(f"Echo: t{n}-{i}" for n in range(16) for i in range(25))


def test_close_leaves_no_thread_and_no_socket(local_server: LocalServer) -> None:
    before = set(loop_threads())
    client = Client(local_server.api_key, base_url=local_server.base_url)
    client.list()
    assert client_connections_to(local_server.port) == 1
    assert len(set(loop_threads()) - before) == 1
    client.close()
    assert set(loop_threads()) - before == set()
    assert client_connections_to(local_server.port) == 0
    with pytest.raises(RuntimeError, match="closed"):
        client.list()


def test_calling_from_its_own_loop_is_a_clear_error(sync_client: Client) -> None:
    async def inside() -> None:
        sync_client.list()

    with pytest.raises(RuntimeError, match="own event loop"):
        sync_client._call(inside)


def test_keyboard_interrupt_cancels_the_request(local_server: LocalServer) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    local_server.stream_delay = 0.05
    with Client(local_server.api_key, base_url=local_server.base_url) as client:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.start_stream(inputs=" ".join(["word"] * 200), model=MODEL).response()
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 2
        while client_connections_to(local_server.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client_connections_to(local_server.port) == 0
        local_server.stream_delay = 0.0
        assert client.start(inputs="still here", model=MODEL).output_text == "Echo: still here"


def test_keyboard_interrupt_cancels_a_call_waiting_for_its_answer(
    local_server: LocalServer,
) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    # Held long past the interrupt: only a cancelled request lets go of its connection.
    local_server.delay_next(1, 30.0)
    with Client(local_server.api_key, base_url=local_server.base_url) as client:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                client.start(inputs="slow", model=MODEL)
        finally:
            timer.cancel()
        deadline = time.monotonic() + 5
        while client_connections_to(local_server.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client_connections_to(local_server.port) == 0
        assert client.start(inputs="still here", model=MODEL).output_text == "Echo: still here"


def test_an_interrupted_call_whose_task_then_fails_prints_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    from mistral_conversations._sync import _LoopThread

    failed = threading.Event()

    async def fails_as_it_is_cancelled() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            failed.set()
            raise ValueError("broke while being closed") from None

    loop = _LoopThread()
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    interrupted = False
    try:
        loop.call(fails_as_it_is_cancelled)
    except KeyboardInterrupt:
        interrupted = True  # and its traceback, which holds the task, is let go here
    finally:
        timer.cancel()
    assert interrupted
    assert failed.wait(5)
    loop.call(asyncio.sleep, 0)  # a turn of the loop: the task has ended, its callbacks ran
    gc.collect()  # asyncio reports an outcome nobody took when the task is collected
    loop.stop(5)
    assert "never retrieved" not in caplog.text


def test_unclosed_client_warns_and_stops_its_thread(local_server: LocalServer) -> None:
    before = set(loop_threads())

    def use_and_forget() -> None:
        client = Client(local_server.api_key, base_url=local_server.base_url)
        client.list()

    with pytest.warns(ResourceWarning, match=r"was never closed; use 'with Client"):
        use_and_forget()
    deadline = time.monotonic() + 2
    while set(loop_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(loop_threads()) - before == set()
    assert client_connections_to(local_server.port) == 0


@pytest.fixture(scope="module")
def shared_async_client() -> Iterator[AsyncClient]:
    """One AsyncClient used by several tests, each of which runs in its own event loop."""
    with LocalServer().run_in_thread() as server:
        client = AsyncClient(server.api_key, base_url=server.base_url)
        yield client
        asyncio.run(client.aclose())


@pytest.mark.parametrize("turn", ["loop one", "loop two", "loop three"])
async def test_one_async_client_across_pytest_asyncio_loops(
    shared_async_client: AsyncClient, turn: str
) -> None:
    reply = await shared_async_client.start(inputs=turn, model=MODEL, store=False)
    assert reply.output_text == f"Echo: {turn}"
    stream = shared_async_client.start_stream(inputs=turn, model=MODEL, store=False)
    assert (await stream.response()).output_text == f"Echo: {turn}"


def test_close_while_calls_are_in_flight(local_server: LocalServer) -> None:
    local_server.stream_delay = 0.02
    client = Client(local_server.api_key, base_url=local_server.base_url)
    outcomes: list[BaseException | str] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            text = client.start_stream(inputs="w " * 50, model=MODEL).response().output_text
            outcome: BaseException | str = text
        except BaseException as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    client.close()
    for t in threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 8
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, MistralError | RuntimeError), repr(outcome)
            assert "closed" in str(outcome)
    assert client_connections_to(local_server.port) == 0


def test_leaving_text_deltas_early_closes_the_stream(
    sync_client: Client, local_server: LocalServer
) -> None:
    local_server.stream_delay = 0.01
    with sync_client.start_stream(inputs="w " * 50, model=MODEL) as stream:
        for _ in stream.text_deltas():
            break
        deadline = time.monotonic() + 5
        while local_server.disconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert local_server.disconnects == 1
        with pytest.raises(StreamInterruptedError, match="closed before the response"):
            stream.response()


def test_a_stream_collected_open_warns(sync_client: Client, local_server: LocalServer) -> None:
    local_server.stream_delay = 0.01
    stream = sync_client.start_stream(inputs="w " * 50, model=MODEL)
    next(iter(stream))
    with pytest.warns(ResourceWarning, match="with client.start_stream"):
        del stream
    deadline = time.monotonic() + 5
    while local_server.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert local_server.disconnects == 1


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"timeout_ms": 5000}, r"timeout= in seconds"),
        ({"stream": True}, r"start\(stream=True\): use start_stream\(\)"),
    ],
)
def test_the_official_sdk_s_keywords_name_ours_on_the_blocking_client(
    sync_client: Client, kwargs: dict[str, Any], says: str
) -> None:
    with pytest.raises(TypeError, match=says):
        sync_client.start(inputs="x", model=MODEL, **kwargs)
    assert sync_client.start(inputs="x", model=MODEL, stream=False).output_text  # type: ignore[call-arg]
