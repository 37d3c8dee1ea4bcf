"""The loopback server of the benchmarks: pre-rendered answers, in a process of its own.

Every answer is rendered once, at start-up, to the exact bytes sent on the wire, so that
serving a request costs the server a header scan and a few ``transport.write`` calls. It
is a plain ``asyncio.Protocol`` speaking just enough HTTP/1.1 (keep-alive, Content-Length
request bodies). ``aiohttp.web`` serving the same bytes was measured and was too slow for
the ``start`` scenarios: 100-180 µs of server CPU per request against 17-30 µs here, which
cut the measured rate of the fastest clients by 35-45% (at concurrency 1 the server's time
per request is in the critical path of every call). For streams both cost ~0.1-0.2 µs of
server CPU per event, 1-8% of a core.

It runs in a separate process (``multiprocessing``) so that it never shares the GIL with
the client being measured.

What it serves, for any bearer key:

- ``POST /v1/conversations`` with ``"stream": true`` and ``"model": "bench-N"``: a
  ``text/event-stream`` of ``conversation.response.started``, N ``message.output.delta``
  events and ``conversation.response.done``, chunked, written ~16 KiB at a time;
- the same with ``"model": "bench-chunks-N"``, each delta's content a text chunk
  (``{"type": "text", "text": ...}``) rather than a string;
- the same with ``"model": "bench-hold-N"``, held after its first delta: the started
  event and the first delta are sent at once, the rest (N - 1 deltas and the done event)
  when ``POST /_release`` comes, which releases every stream held then and answers their
  number, so that the runner can hold many streams open at once and let them go together;
- the same without ``"stream": true`` (any model): one ``ConversationResponse`` as JSON;
- ``GET /_stats``: the server process's CPU seconds so far, so that the runner can show
  that the server was never the bottleneck.
"""

from __future__ import annotations

import asyncio
import functools
import json
import multiprocessing
import re
import resource
import signal
import time
from collections import deque
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

__all__ = [
    "START_TOKENS",
    "BenchServer",
    "chunk_model_for",
    "expected_text",
    "hold_model_for",
    "model_for",
    "raise_open_files_limit",
    "render_response_json",
    "render_stream_body",
]

WRITE_SIZE = 16 * 1024
START_TOKENS = 120  # the text of the non-streaming answer: this many tokens

# Pieces of text the deltas cycle through: accents, an emoji, quotes and a newline, so
# that every client decodes UTF-8 and JSON escapes on the way.
_VOCAB = (
    "Le",
    " fromage",
    " est",
    " délicieux",
    ",",
    " n'est",
    "-ce",
    " pas",
    " ?",
    " 🧀",
    ' "Comté"',
    " 24",
    " mois",
    ".\n",
)
_CONVERSATION_ID = "conv_0123456789abcdef0123456789"
_MESSAGE_ID = "msg_0123456789abcdef0123456789"
_CREATED_AT = "2025-06-01T12:00:00.000000Z"
_COMPLETED_AT = "2025-06-01T12:00:03.500000Z"


def model_for(events: int) -> str:
    """The model name that asks the server for a stream of that many deltas."""
    return f"bench-{events}"


def chunk_model_for(events: int) -> str:
    """The model name that asks for a stream of that many deltas whose content is a chunk."""
    return f"bench-chunks-{events}"


def hold_model_for(events: int) -> str:
    """The model name that asks for a stream of that many deltas, held after the first."""
    return f"bench-hold-{events}"


def raise_open_files_limit() -> None:
    """Lift this process's limit of open files to its hard limit.

    A thousand streams held at once take a thousand sockets on each side, and the soft
    limit is often 1,024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def token(i: int) -> str:
    """The text of the i-th delta."""
    return _VOCAB[i % len(_VOCAB)]


@functools.cache
def expected_text(tokens: int) -> str:
    """The text that the first ``tokens`` deltas add up to."""
    return "".join(token(i) for i in range(tokens))


def _timestamp(i: int) -> str:
    # Distinct, increasing timestamps (one per millisecond), as a real stream has.
    seconds, millis = divmod(i, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"2025-06-01T{12 + hours % 12:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}000Z"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": 12, "completion_tokens": tokens, "total_tokens": 12 + tokens}


def render_stream_body(events: int, chunks: bool = False) -> bytes:
    """The whole SSE body of a streamed turn of ``events`` deltas (spec-valid events).

    With ``chunks``, each delta's content is a text chunk instead of a string.
    """
    model = chunk_model_for(events) if chunks else model_for(events)
    blocks = []

    def add(data: dict[str, Any]) -> None:
        blocks.append(f"event: {data['type']}\ndata: {_json(data)}\n\n")

    add(
        {
            "type": "conversation.response.started",
            "created_at": _CREATED_AT,
            "conversation_id": _CONVERSATION_ID,
        }
    )
    for i in range(events):
        add(
            {
                "type": "message.output.delta",
                "created_at": _timestamp(i),
                "output_index": 0,
                "id": _MESSAGE_ID,
                "content_index": 0,
                "model": model,
                "role": "assistant",
                "content": {"type": "text", "text": token(i)} if chunks else token(i),
            }
        )
    add(
        {
            "type": "conversation.response.done",
            "created_at": _timestamp(events),
            "usage": _usage(events),
        }
    )
    return "".join(blocks).encode()


def render_response_json() -> bytes:
    """The JSON body of a (spec-valid) ConversationResponse, for the non-streaming start."""
    return _json(
        {
            "object": "conversation.response",
            "conversation_id": _CONVERSATION_ID,
            "outputs": [
                {
                    "object": "entry",
                    "type": "message.output",
                    "created_at": _CREATED_AT,
                    "completed_at": _COMPLETED_AT,
                    "model": "bench-start",
                    "id": _MESSAGE_ID,
                    "role": "assistant",
                    "content": expected_text(START_TOKENS),
                }
            ],
            "usage": _usage(START_TOKENS),
        }
    ).encode()


def _chunked_writes(head: bytes, body: bytes) -> list[bytes]:
    """Frame a body in chunked transfer-encoding, one chunk per write of ~16 KiB."""
    writes = _chunks(body)
    writes.append(b"0\r\n\r\n")
    writes[0] = head + writes[0]
    return writes


def _chunks(body: bytes) -> list[bytes]:
    return [
        b"%x\r\n%s\r\n" % (len(piece), piece)
        for piece in (body[i : i + WRITE_SIZE] for i in range(0, len(body), WRITE_SIZE))
    ]


def _held_writes(head: bytes, events: int) -> tuple[list[bytes], list[bytes]]:
    """The writes of a held stream: those sent at once (the head, the started event and
    the first delta, one chunk) and those sent on release."""
    body = render_stream_body(events)
    first_end = body.index(b"\n\n", body.index(b"\n\n") + 2) + 2
    rest = _chunks(body[first_end:])
    rest.append(b"0\r\n\r\n")
    return [head + _chunks(body[:first_end])[0]], rest


def _whole(status: str, content_type: str, body: bytes) -> list[bytes]:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return [head + body]


class Answers:
    """Every answer the server can give, as the list of writes that send it."""

    def __init__(
        self,
        stream_sizes: Iterable[int],
        chunk_stream_sizes: Iterable[int] = (),
        hold_sizes: Iterable[int] = (),
    ) -> None:
        stream_head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        self.streams = {
            model_for(n).encode(): _chunked_writes(stream_head, render_stream_body(n))
            for n in set(stream_sizes)
        }
        self.streams.update(
            (chunk_model_for(n).encode(), _chunked_writes(stream_head, render_stream_body(n, True)))
            for n in set(chunk_stream_sizes)
        )
        self.holds = {
            hold_model_for(n).encode(): _held_writes(stream_head, n) for n in set(hold_sizes)
        }
        self.start = _whole("200 OK", "application/json", render_response_json())
        self.unauthorized = _whole(
            "401 Unauthorized", "application/json", b'{"message":"Unauthorized"}'
        )
        self.not_found = _whole("404 Not Found", "application/json", b'{"detail":"Not Found"}')
        self.no_model = _whole(
            "400 Bad Request", "application/json", b'{"message":"unknown bench model"}'
        )


_MODEL = re.compile(rb'"model"\s*:\s*"([^"]*)"')
_STREAM = re.compile(rb'"stream"\s*:\s*true')


class _HTTPProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests, queue their pre-rendered writes."""

    def __init__(self, answers: Answers, held: set[_HTTPProtocol]) -> None:
        self.answers = answers
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.writes: deque[bytes] = deque()
        self.paused = False
        # The connections whose stream waits for /_release (shared by all), and the
        # writes this one's stream then sends.
        self.held = held
        self.rest: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.writes.clear()
        self.held.discard(self)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            length = 0
            authorized = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"authorization":
                    authorized = value.strip().lower().startswith(b"bearer ")
            if len(buffer) < end + 4 + length:
                return
            body = bytes(buffer[end + 4 : end + 4 + length])
            del buffer[: end + 4 + length]
            self.writes.extend(self.answer(head, authorized, body))
            self.pump()

    def answer(self, head: bytes, authorized: bool, body: bytes) -> list[bytes]:
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0].partition(b"#")[0]
        if method == b"GET" and path == b"/_stats":
            return _whole("200 OK", "application/json", b"%.6f" % time.process_time())
        if method == b"POST" and path == b"/_release":
            released = list(self.held)
            self.held.clear()
            # Released once this answer is queued, so that it goes out first: the runner
            # starts its clock before asking, and must not wait while every stream's
            # events are written (46 MB for 1,000 streams of 200 deltas).
            asyncio.get_running_loop().call_soon(_release, released)
            return _whole("200 OK", "application/json", b"%d" % len(released))
        if method != b"POST" or path != b"/v1/conversations":
            return self.answers.not_found
        if not authorized:
            return self.answers.unauthorized
        if _STREAM.search(body) is None:
            return self.answers.start
        model = _MODEL.search(body)
        name = model.group(1) if model else b""
        held = self.answers.holds.get(name)
        if held is not None:
            self.rest = held[1]
            self.held.add(self)
            return held[0]
        writes = self.answers.streams.get(name)
        return writes if writes is not None else self.answers.no_model

    def release(self) -> None:
        self.writes.extend(self.rest)
        self.rest = []
        self.pump()

    def pump(self) -> None:
        # Write while the socket keeps up; past the transport's high-water mark asyncio
        # calls pause_writing(), and resume_writing() carries on from there.
        transport, writes = self.transport, self.writes
        while writes and not self.paused and transport is not None:
            transport.write(writes.popleft())

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()


def _release(connections: list[_HTTPProtocol]) -> None:
    for connection in connections:
        connection.release()


async def _serve(answers: Answers, ready: Connection) -> None:
    loop = asyncio.get_running_loop()
    held: set[_HTTPProtocol] = set()
    server = await loop.create_server(
        lambda: _HTTPProtocol(answers, held), "127.0.0.1", 0, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ready.send(port)
    async with server:
        await stop.wait()


def _main(
    stream_sizes: list[int], chunk_stream_sizes: list[int], hold_sizes: list[int], ready: Connection
) -> None:
    raise_open_files_limit()
    answers = Answers(stream_sizes, chunk_stream_sizes, hold_sizes)
    asyncio.run(_serve(answers, ready))


class BenchServer:
    """The server in its own process: ``with BenchServer([20000, 2000]) as server:``.

    ``chunk_stream_sizes``: the streams whose deltas carry text chunks, to render too;
    ``hold_sizes``: the streams to hold after their first delta until ``POST /_release``.
    """

    def __init__(
        self,
        stream_sizes: Iterable[int],
        chunk_stream_sizes: Iterable[int] = (),
        hold_sizes: Iterable[int] = (),
    ) -> None:
        self.stream_sizes = sorted(set(stream_sizes))
        self.chunk_stream_sizes = sorted(set(chunk_stream_sizes))
        self.hold_sizes = sorted(set(hold_sizes))
        self.port = 0
        self._process: multiprocessing.process.BaseProcess | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BenchServer:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_main,
            args=(self.stream_sizes, self.chunk_stream_sizes, self.hold_sizes, send),
            name="bench-server",
            daemon=True,
        )
        self._process.start()
        send.close()
        if not receive.poll(60):
            self.__exit__(None, None, None)
            raise RuntimeError("the benchmark server did not start within 60 s")
        self.port = receive.recv()
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
