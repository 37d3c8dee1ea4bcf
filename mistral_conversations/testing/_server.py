"""The aiohttp application of the local server, and its lifecycle."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import ipaddress
import json
import math
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Concatenate, NoReturn, ParamSpec

from aiohttp import web

from .._convert import parse_input
from ..errors import InputShapeError
from ..models import (
    AppendConversationRequest,
    ConversationRequest,
    RestartConversationRequest,
)
from ._engine import ConversationNotFound, ConversationStore, InvalidField, Turn, stream_events
from ._faults import Faults, close_connection, dropped
from ._limits import RateLimited, RateLimiter, Ticket

__all__ = ["LocalServer", "RecordedRequest"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_P = ParamSpec("_P")
_CORRELATION_HEADER = "mistral-correlation-id"
# Where a request's place in the rate-limit budgets waits for its answer's headers.
# Newer aiohttp warns about plain string keys; older ones have no RequestKey.
_TICKET: Any = (
    web.RequestKey("rate_limit_ticket", Ticket)
    if hasattr(web, "RequestKey")
    else "mistral_conversations.rate_limit_ticket"
)
# Long enough for an answer in flight to finish, short enough that stopping a server
# whose client left a slow stream open does not stall a test suite.
_SHUTDOWN_TIMEOUT = 0.5
# What the official SDK (mistralai 3.x) sends as the metadata of list() when none is
# given: its marker of an unset argument, to be read as no filter.
_SDK_UNSET = "~?~unset~?~sentinel~?~"


def _forward(
    method: Callable[Concatenate[Faults, _P], None],
) -> Callable[Concatenate[Any, _P], None]:
    """A server method that calls ``method`` on the server's :attr:`faults`."""

    @functools.wraps(method)
    def forward(server: Any, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        method(server.faults, *args, **kwargs)

    return forward


class _Dropped(Exception):
    """The request was processed and its connection is to close without an answer."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the local server received, as it came over the wire.

    ``headers`` has lower-cased names (repeated headers joined with ``", "``);
    ``query`` keeps the last value of a repeated parameter; ``json`` is the parsed body,
    or ``None`` when the body is empty or not JSON; ``received_at`` is
    :func:`time.monotonic` on arrival, for measuring the delays between retries.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float


def _json_error(status: type[web.HTTPException], body: Any) -> web.HTTPException:
    return status(text=json.dumps(body), content_type="application/json")


def _invalid(loc: list[str | int], msg: str, input: Any, kind: str = "value_error") -> NoReturn:
    """Answer 422 with one FastAPI-style validation error."""
    detail = {"type": kind, "loc": loc, "msg": msg, "input": input}
    raise _json_error(web.HTTPUnprocessableEntity, {"detail": [detail]})


def _not_found(conversation_id: str) -> NoReturn:
    raise _json_error(
        web.HTTPNotFound,
        {
            "object": "error",
            "message": f"Conversation {conversation_id} not found.",
            "type": "not_found",
            "code": 3000,
        },
    )


def _at(data: Any, loc: tuple[str | int, ...]) -> tuple[Any, bool]:
    """The value at ``loc`` in ``data``, and whether it is there.

    Where the path stops, the last value reached: that is what a "field required"
    error reports as its input.
    """
    for step in loc:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return data, False
    return data, True


def _query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        _invalid(
            ["query", name],
            "Input should be a valid integer, unable to parse string as an integer",
            raw,
            "int_parsing",
        )
    if value < 0:
        _invalid(
            ["query", name],
            "Input should be greater than or equal to 0",
            raw,
            "greater_than_equal",
        )
    return value


class LocalServer:
    """The Conversations API in memory, on 127.0.0.1.

    A real HTTP server (aiohttp) that answers every ``/v1/conversations`` operation as
    the spec shapes it, with a deterministic "model" in place of a language model. Each
    turn reads the last user text of the conversation and answers by the first rule
    that applies:

    1. **Confirmations.** An ``append`` whose ``tool_confirmations`` settle calls held
       for confirmation (rule 3) answers, for each call in the order confirmed: if
       allowed, a ``tool.execution`` entry (the call's ``name`` and ``arguments``,
       ``info`` ``{"tool_call_id": ..., "result": "done"}``) and the words
       ``"Done: <name>(<arguments>)"``; if denied, ``"Not run: <name> was denied"``.
       These words, joined by ``"; "``, are one ``message.output`` after the executions.
       While calls are held, every ``append`` must settle them all, each once, with
       ``"allow"`` or ``"deny"``; anything else is a 422 naming the calls (the
       conversation is left as it was). ``inputs`` may be left out of such an append.
    2. **Function results.** New inputs that end with ``function.result`` entries are
       answered ``"Result: <result>"``, the results joined by ``"; "`` in the order
       given (after rule 1's words, when both apply). An unanswered function call never
       blocks a later plain append.
    3. **Calls.** Each function tool whose name is a word of the text (``get_weather``
       in ``"use get_weather now"``, not in ``"get_weathering"``), and each name listed
       in any tool's ``tool_configuration.requires_confirmation`` (e.g. a
       ``{"type": "connector", "connector_id": "mail", "tool_configuration":
       {"requires_confirmation": ["send_email"]}}``), is called: one ``function.call``
       entry each, all in one turn, in the order the names first appear. The arguments
       (a JSON string) come from the text:

       - ``get_weather({"city": "Paris", "days": 2})``: that object's text, verbatim,
         whether or not it fits the tool's schema (a ``{...}`` that is not JSON at all
         is sent as it is too, for testing arguments that do not decode);
       - ``get_weather(city=Paris, days=2)``: ``{"city": "Paris", "days": 2}``, each
         value read as JSON where it is JSON, else as a string;
       - the bare name: ``{"text": <text>}``, or ``{<name>: <text>}`` when the tool's
         parameters have no ``text`` property and exactly one required property, a
         string.

       Each ``name(...)`` written makes one call, so a tool may be called more than once
       in a turn. A call to a name that requires confirmation has
       ``"confirmation_status": "pending"`` and is held until an ``append`` settles it.
    4. **Echo.** Otherwise the answer is ``"Echo: <text>"``.

    A message the model answers (rules 1, 2 and 4, never a call) follows
    ``completion_args.response_format`` (the turn's, else the conversation's):
    ``json_object`` answers ``{"text": <subject>}``, and ``json_schema`` a JSON document
    valid against its ``schema``, built deterministically from the subject (every
    property; strings are the subject, numbers the first number in it or 0, booleans
    ``true``, arrays one item; enums, consts, ``$ref``, ``anyOf`` and common formats
    handled; see :mod:`mistral_conversations.testing._schema_instance`). The subject is
    the user text for an echo, the results joined by ``"; "`` for function results,
    else the plain answer's words. A user text with the word ``malformed`` makes either
    format answer ``{"oops": true``, which is not JSON, for testing decode failures.

    Usage counts words: the prompt is every input of the conversation, the completion
    every output of the turn. Streams send the same turn as server-sent events, one
    network write per event, ``stream_delay`` seconds apart, each output at its own
    ``output_index``.

    Every answer to an authenticated request carries ``mistral-correlation-id`` and
    Mistral's ``x-ratelimit-*`` headers (limit, remaining and reset of the per-window
    request and token budgets; ``x-ratelimit-tokens-query-cost``; monthly limit and
    remaining). Each request to a served path counts one request against the window's
    budget, and a turn (start, append, restart) its usage's ``total_tokens``.
    ``requests_per_minute`` and ``tokens_per_minute`` set the budgets of one window of
    ``rate_window`` seconds (a window opens at the first request counted after the last
    one ended); ``None`` refuses nothing and advertises 1,000,000 requests and
    100,000,000 tokens. Once either budget of the window is spent, requests are answered
    429 (``Retry-After`` in whole seconds, ``retry-after-ms`` exact, both rounded up)
    without being applied, until the window ends. All three may be changed while it
    runs; :meth:`reset` refills the budgets.

    Use it as an async context manager in the running loop, or with
    :meth:`run_in_thread` from synchronous code::

        async with LocalServer() as server:
            client = AsyncClient(api_key=server.api_key, base_url=server.base_url)

    For tests it records every request (:attr:`requests`), counts the operations whose
    effects it applied (:attr:`processed`, keyed by ``(method, path)``) and the streams
    a client left before their end (:attr:`disconnects`); :attr:`faults` makes it
    fail, drop, cut or delay chosen requests (before authentication, so their answers
    carry no rate-limit headers and count in no budget).
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        stream_delay: float = 0.0,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        rate_window: float = 60.0,
    ) -> None:
        self._limits = RateLimiter(requests_per_minute, tokens_per_minute, rate_window)
        self.api_key = api_key
        self.host = host
        self.stream_delay = stream_delay
        self.requests: list[RecordedRequest] = []
        self.processed: Counter[tuple[str, str]] = Counter()
        self.disconnects = 0
        self.faults = Faults()
        self._port = port
        self._store = ConversationStore()
        self._runner: web.AppRunner | None = None
        self._stopping = False

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "not started"
        return f"<LocalServer {where}>"

    # -- lifecycle -----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on once started; before, the one asked for (0: any free)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>``, to give a client as its base URL.

        A server listening on every interface (``0.0.0.0`` or ``::``) gives the loopback
        address of that IP version, since a wildcard is no address to connect to; an
        IPv6 address is in brackets. Raises :class:`RuntimeError` before :meth:`start`:
        the port is chosen then.
        """
        if self._runner is None:
            raise RuntimeError(
                "LocalServer is not running, so it has no address yet: use "
                "'async with LocalServer() as server', 'await server.start()' or "
                "'with server.run_in_thread()' first."
            )
        return f"http://{url_host(loopback_for(self.host) or self.host)}:{self._port}"

    async def start(self) -> None:
        """Start serving in the running event loop, on a free port unless one was given."""
        if self._runner is not None:
            raise RuntimeError(f"LocalServer is already running at {self.base_url}.")
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        self._stopping = False
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving and close every connection; a no-op when not running."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._stopping = True
            await runner.cleanup()

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[LocalServer]:
        """Run the server on its own event loop in a daemon thread, for the ``with`` block.

        For synchronous code, and for fixtures that must not depend on a test's event
        loop. Leaving the block stops the server, closes the loop and joins the thread.
        """
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                try:
                    loop.run_until_complete(self.start())
                except BaseException as exc:
                    failure.append(exc)
                    return
                finally:
                    ready.set()
                loop.run_forever()
                loop.run_until_complete(self.stop())
                _cancel_remaining(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

        thread = threading.Thread(target=serve, name="LocalServer", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        running = (loop, thread)
        _in_threads.add(running)
        try:
            yield self
        finally:
            _in_threads.discard(running)
            _stop_in_thread(loop, thread)

    @property
    def requests_per_minute(self) -> int | None:
        """Requests allowed per rate window (``None``: none refused); may be changed any time.

        A change applies to the current window at once.
        """
        return self._limits.requests_per_minute

    @requests_per_minute.setter
    def requests_per_minute(self, value: int | None) -> None:
        self._limits.requests_per_minute = value

    @property
    def tokens_per_minute(self) -> int | None:
        """Tokens allowed per rate window (``None``: none refused); may be changed any time."""
        return self._limits.tokens_per_minute

    @tokens_per_minute.setter
    def tokens_per_minute(self, value: int | None) -> None:
        self._limits.tokens_per_minute = value

    @property
    def rate_window(self) -> float:
        """The rate window's length in seconds; may be changed any time."""
        return self._limits.window

    @rate_window.setter
    def rate_window(self, value: float) -> None:
        self._limits.window = value

    def reset(self) -> None:
        """Forget every conversation, recorded request, count and pending fault.

        The rate budgets refill too; the limits themselves stay as they are.
        """
        self._limits.reset()
        self._store.clear()
        self.requests.clear()
        self.processed.clear()
        self.disconnects = 0
        self.faults.clear()

    # The common faults read as one call on the server, with Faults' signatures.
    fail_next = _forward(Faults.fail_next)
    fail_fraction = _forward(Faults.fail_fraction)
    drop_next = _forward(Faults.drop_next)
    cut_stream_after = _forward(Faults.cut_stream_after)
    delay_next = _forward(Faults.delay_next)

    # -- the application -----------------------------------------------------------

    def make_app(self) -> web.Application:
        """A new aiohttp application serving this server's conversations.

        For hosting it elsewhere, e.g. with aiohttp's own test utilities; :meth:`start`
        uses it too.
        """
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(self._add_headers)
        conversation = "/v1/conversations/{conversation_id}"
        app.add_routes(
            [
                web.post("/v1/conversations", self._start),
                web.get("/v1/conversations", self._list, allow_head=False),
                web.get(conversation, self._get, allow_head=False),
                web.delete(conversation, self._delete),
                web.post(conversation, self._append),
                web.get(conversation + "/history", self._history, allow_head=False),
                web.get(conversation + "/messages", self._messages, allow_head=False),
                web.post(conversation + "/restart", self._restart),
            ]
        )
        return app

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        # Each answer its own id, as the real service's gateway gives; the 401 answer
        # sets it earlier, to name the same id in its body.
        response.headers.setdefault(_CORRELATION_HEADER, str(uuid.uuid4()))
        ticket = request.get(_TICKET)
        if ticket is not None:
            response.headers.update(self._limits.headers(ticket))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=_headers(request),
                body=body,
                json=parsed,
                received_at=time.monotonic(),
            )
        )
        fault = await self.faults.before(request)
        if fault is not None:
            return fault
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            request_id = str(uuid.uuid4())
            return web.json_response(
                {"message": "Unauthorized", "request_id": request_id},
                status=401,
                headers={_CORRELATION_HEADER: request_id},
            )
        # Authenticated: the answer reports the budgets, even for a path not served,
        # which counts in none of them.
        ticket = request[_TICKET] = Ticket()
        route_error = request.match_info.http_exception
        if route_error is not None:
            # FastAPI's shape for a path or method it does not serve.
            return web.json_response({"detail": route_error.reason}, status=route_error.status)
        try:
            self._limits.admit(ticket)
        except RateLimited as refused:
            return _rate_limited(refused)
        try:
            return await handler(request)
        except _Dropped:
            return dropped(request)

    def _processed(self, request: web.Request) -> None:
        """Count the request as applied; then drop it if a fault says so."""
        self.processed[request.method, request.path] += 1
        if self.faults.drop_after(request):
            raise _Dropped

    async def _body(self, request: web.Request, model: type[Any]) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            _invalid(["body"], "Field required", None, "missing")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            _invalid(
                ["body"],
                f"JSON decode error: {exc}",
                raw.decode("utf-8", "replace"),
                "json_invalid",
            )
        if not isinstance(data, dict):
            _invalid(
                ["body"],
                "Input should be a valid dictionary or object to extract fields from",
                data,
                "model_attributes_type",
            )
        try:
            parse_input(data, model)
        except InputShapeError as exc:
            detail = []
            for loc, reason in exc.problems:
                value, present = _at(data, loc)
                detail.append(
                    {
                        "type": "value_error" if present else "missing",
                        "loc": ["body", *loc],
                        "msg": reason,
                        "input": value,
                    }
                )
            raise _json_error(web.HTTPUnprocessableEntity, {"detail": detail}) from None
        return data

    # -- handlers ------------------------------------------------------------------

    async def _start(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request, ConversationRequest)
        try:
            turn = self._store.start(body)
        except InvalidField as exc:
            _invalid(["body", *exc.loc], exc.msg, exc.input)
        return await self._answer(request, turn, body)

    async def _append(self, request: web.Request) -> web.StreamResponse:
        conversation_id = request.match_info["conversation_id"]
        body = await self._body(request, AppendConversationRequest)
        try:
            turn = self._store.append(conversation_id, body)
        except ConversationNotFound:
            _not_found(conversation_id)
        except InvalidField as exc:
            _invalid(["body", *exc.loc], exc.msg, exc.input)
        return await self._answer(request, turn, body)

    async def _restart(self, request: web.Request) -> web.StreamResponse:
        conversation_id = request.match_info["conversation_id"]
        body = await self._body(request, RestartConversationRequest)
        try:
            turn = self._store.restart(conversation_id, body)
        except ConversationNotFound:
            _not_found(conversation_id)
        except InvalidField as exc:
            _invalid(["body", *exc.loc], exc.msg, exc.input)
        return await self._answer(request, turn, body)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        page = _query_int(request, "page", 0)
        page_size = _query_int(request, "page_size", 100)
        metadata = None
        raw = request.query.get("metadata")
        if raw is not None and raw != _SDK_UNSET:
            try:
                metadata = json.loads(raw)
            except ValueError as exc:
                _invalid(["query", "metadata"], f"JSON decode error: {exc}", raw, "json_invalid")
            if metadata is not None and not isinstance(metadata, dict):
                _invalid(
                    ["query", "metadata"], "Input should be a valid dictionary", raw, "dict_type"
                )
        found = self._store.list_conversations(page, page_size, metadata)
        self._processed(request)
        return web.json_response(found)

    async def _read(self, request: web.Request, read: Callable[[str], Any]) -> web.StreamResponse:
        conversation_id = request.match_info["conversation_id"]
        try:
            found = read(conversation_id)
        except ConversationNotFound:
            _not_found(conversation_id)
        self._processed(request)
        return web.json_response(found)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        return await self._read(request, self._store.get)

    async def _history(self, request: web.Request) -> web.StreamResponse:
        return await self._read(request, self._store.history)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._read(request, self._store.messages)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        conversation_id = request.match_info["conversation_id"]
        try:
            self._store.delete(conversation_id)
        except ConversationNotFound:
            _not_found(conversation_id)
        self._processed(request)
        return web.Response(status=204)

    async def _answer(
        self, request: web.Request, turn: Turn, body: Mapping[str, Any]
    ) -> web.StreamResponse:
        self._limits.charge(request[_TICKET], turn.usage["total_tokens"])
        self._processed(request)
        if body.get("stream"):
            return await self._stream(request, turn)
        return web.json_response(turn.response())

    async def _stream(self, request: web.Request, turn: Turn) -> web.StreamResponse:
        """Send ``turn`` as server-sent events, one write per event.

        The turn is stored before the first event, as a server that keeps generating
        after its client left would; a client that leaves early counts in
        :attr:`disconnects`.
        """
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        cut_after = self.faults.stream_cut(request)
        try:
            await response.prepare(request)
            for index, event in enumerate(stream_events(turn, self._store.clock.now)):
                if index == cut_after:
                    close_connection(request)
                    return response
                if index:
                    # Even with no delay, yield to the loop so that a client on this
                    # same loop reads each event as it comes.
                    await asyncio.sleep(self.stream_delay)
                block = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                await response.write(block.encode())
            await response.write_eof()
        except ConnectionResetError:
            self.disconnects += 1
        except asyncio.CancelledError:
            if not self._stopping:
                self.disconnects += 1
            raise
        return response


def _rate_limited(refused: RateLimited) -> web.Response:
    """Mistral's 429: ``Retry-After`` in whole seconds, and ``retry-after-ms`` exactly.

    Both are rounded up, so that a client that waits that long finds the window refilled;
    the milliseconds let a client honour a window shorter than a second.
    """
    millis = max(1, math.ceil(refused.wait * 1000))
    return web.json_response(
        {
            "object": "error",
            "message": refused.message,
            "type": "rate_limited",
            "param": None,
            "code": "1300",
        },
        status=429,
        headers={"Retry-After": str(math.ceil(millis / 1000)), "retry-after-ms": str(millis)},
    )


def _headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


# Servers in threads whose block was never left: stopped at exit, while threads still run.
_in_threads: set[tuple[asyncio.AbstractEventLoop, threading.Thread]] = set()


def _stop_in_thread(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    with contextlib.suppress(RuntimeError):  # its loop has ended already
        loop.call_soon_threadsafe(loop.stop)
    # Once the interpreter is finalizing, a daemon thread never runs again: joining it
    # would wait forever (Python 3.13 collects an unleft block's generator only then).
    if not sys.is_finalizing():
        thread.join()


@atexit.register
def _stop_servers_left_running() -> None:
    while _in_threads:
        _stop_in_thread(*_in_threads.pop())


def url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]" if address.version == 6 else host


def loopback_for(host: str) -> str | None:
    """The loopback address of the IP version ``host`` is the wildcard of, if it is one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_unspecified:
        return None
    return "127.0.0.1" if address.version == 4 else "::1"


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
