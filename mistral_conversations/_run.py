"""The function tools loop (``client.run``), and every conversation across pages.

A run starts a conversation (or appends to one), runs each ``function.call`` of the
answer on this side, sends the results, and goes on until the model stops calling
functions. What may run is decided before anything is sent: a callable that cannot be
described as a tool is an error at once. Each round's calls run side by side in an anyio
task group; sync functions run in worker threads, so a slow one never blocks the event
loop, and cancelling the run cancels them (a thread that cannot be stopped is left to
finish, its result dropped).

A call that needs a decision (``confirm`` deferred it, or the server holds it for
confirmation) stops the run before any call of that round runs: the result lists them
in ``pending``, and a later run with ``conversation_id=`` and ``decisions=`` resumes,
in this process or another.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import anyio
import attrs

from . import _json
from ._convert import converter, parse_input
from ._functions import (
    FunctionSpec,
    OutputSpec,
    ToolArgumentsError,
    describe_function,
    describe_output,
    parse_arguments,
)
from ._mcp import McpFunction, McpToolError, is_mcp_session, mcp_functions
from .errors import ConfigurationError, MaxRoundsError, OutputDecodeError, ToolDefinitionError
from .models import (
    CompletionArgs,
    Conversation,
    ConversationEvent,
    ConversationResponse,
    ConversationUsageInfo,
    Entry,
    FunctionCallEntry,
    FunctionResultEntry,
    FunctionTool,
    MessageInputEntry,
    ToolCallConfirmation,
)

if TYPE_CHECKING:
    from ._client import AsyncClient, Headers, Inputs
    from ._retry import RetryPolicy
    from ._timeout import Timeout

__all__ = [
    "AsyncRunStream",
    "Decision",
    "FunctionResultEvent",
    "PendingCall",
    "RunResult",
    "iter_conversations",
    "start_run",
]

Decision: TypeAlias = Literal["allow", "deny", "defer"]
"""What ``confirm`` says of a call: run it, refuse it, or stop and ask later."""

# Sync functions of one run at once in worker threads: enough for I/O-bound tools
# side by side, bounded so that a model asking for a hundred calls cannot start a
# hundred threads.
_THREADS_PER_RUN = 8


@attrs.frozen(kw_only=True)
class PendingCall:
    """A function call waiting for a decision: the run stopped before running it.

    ``held_by`` is ``"client"`` when ``confirm`` deferred it, ``"server"`` when the API
    holds it for confirmation (a tool configured with ``requires_confirmation``).
    ``arguments`` is the JSON text the model sent. Store it anywhere:
    ``converter.unstructure(call)`` and ``converter.structure(data, PendingCall)``
    round-trip it.
    """

    tool_call_id: str
    name: str
    arguments: str
    held_by: Literal["client", "server"] | str


@attrs.frozen(kw_only=True)
class FunctionResultEvent:
    """The result of a function the run called, as :meth:`AsyncClient.run_stream` yields it.

    ``result`` is the text sent to the model; ``is_error`` says it reports a failure (the
    function raised, was unknown, got arguments that do not fit, or was denied).
    """

    type: str = "function.result"
    tool_call_id: str
    name: str
    result: str
    is_error: bool = False


@attrs.frozen(kw_only=True)
class RunResult:
    """What a run did.

    ``entries`` are the entries it added, in order: the model's outputs of every round and
    the function results sent back. ``output_text`` is the last answer's text, and
    ``output`` that text decoded as ``output_type`` (None without one, or when the run
    stopped on ``pending`` calls). ``usage`` adds up the tokens of every round;
    ``rounds`` counts the model's answers.
    """

    conversation_id: str
    entries: list[Entry]
    output_text: str
    output: Any = None
    pending: list[PendingCall] = attrs.Factory(list)
    usage: ConversationUsageInfo = attrs.Factory(ConversationUsageInfo)
    rounds: int = 0


Confirm: TypeAlias = Callable[[PendingCall], "Decision | Awaitable[Decision]"]
Decisions: TypeAlias = (
    "Mapping[str, Literal['allow', 'deny']] | Sequence[ToolCallConfirmation | Mapping[str, Any]]"
)
_Function: TypeAlias = "FunctionSpec | McpFunction"


def _refuse_a_bare_function_tool(tool: Any) -> None:
    # A function tool given as a schema would be offered to the model with nothing here
    # to run when the model calls it.
    if isinstance(tool, FunctionTool):
        name: Any = tool.function.name
    elif isinstance(tool, Mapping) and tool.get("type") == "function":
        name = (tool.get("function") or {}).get("name")
    else:
        return
    raise ToolDefinitionError(
        f"the function tool {name!r} is a schema with no Python function behind it, and "
        "run() can only call the functions it is given: pass the function itself (its "
        "signature and docstring make the schema), or call start()/append() and answer "
        "its calls yourself"
    )


class _Toolbox:
    """The tools of a run: callables described as function tools, and tool models."""

    def __init__(self, tools: Sequence[Any]) -> None:
        self.functions: dict[str, _Function] = {}
        self.models: list[Any] = []
        self._sessions: list[Any] = []
        for tool in tools:
            if is_mcp_session(tool):
                self._sessions.append(tool)
            elif isinstance(tool, (FunctionSpec, McpFunction)):
                self._add(tool)
            elif callable(tool) and not attrs.has(type(tool)):
                self._add(describe_function(tool))
            else:
                _refuse_a_bare_function_tool(tool)
                self.models.append(tool)

    def _add(self, function: _Function) -> None:
        if function.name in self.functions:
            raise ConfigurationError(
                f"two tools are named {function.name!r}; the model calls functions by "
                "name, so each needs its own"
            )
        self.functions[function.name] = function

    async def open(self) -> None:
        """List the tools of the MCP sessions given."""
        for session in self._sessions:
            for function in await mcp_functions(session):
                self._add(function)
        self._sessions = []

    @property
    def for_request(self) -> list[Any]:
        return [*(f.tool for f in self.functions.values()), *self.models]

    async def call(
        self, call: FunctionCallEntry, limiter: anyio.CapacityLimiter
    ) -> tuple[str, bool]:
        """Run one call; the result text for the model, and whether it is an error."""
        function = self.functions.get(call.name)
        if function is None:
            known = ", ".join(sorted(self.functions)) or "none"
            return _error(f"unknown function {call.name!r}; the functions are: {known}"), True
        try:
            if isinstance(function, McpFunction):
                return await function.call(parse_arguments(call.arguments)), False
            args, kwargs = function.bind(call.arguments)
            if function.is_async:
                value = await function.function(*args, **kwargs)
            else:
                value = await anyio.to_thread.run_sync(
                    functools.partial(function.function, *args, **kwargs),
                    limiter=limiter,
                    abandon_on_cancel=True,
                )
        except ToolArgumentsError as exc:
            return _error(f"the arguments do not fit {call.name}: {exc}"), True
        except McpToolError as exc:
            return _error(str(exc)), True
        except Exception as exc:
            # The model reads what went wrong, never a traceback (which may show code and
            # data it has no business seeing).
            return _error(f"{type(exc).__name__}: {exc}"), True
        return _result_text(value), False


def _error(message: str) -> str:
    return _json.dumps({"error": message}).decode()


def _result_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return _json.dumps(converter.unstructure(value)).decode()
    except TypeError:  # not JSON: its text is the best the model can get
        return str(value)


def _arguments_text(arguments: Mapping[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else _json.dumps(arguments).decode()


def _decisions(given: Decisions | None) -> dict[str, Literal["allow", "deny"]]:
    if given is None:
        return {}
    if isinstance(given, Mapping):
        items: list[tuple[str, str]] = list(given.items())
    else:
        confirmations = [parse_input(item, ToolCallConfirmation) for item in given]
        items = [(c.tool_call_id, c.confirmation) for c in confirmations]
    found: dict[str, Literal["allow", "deny"]] = {}
    for tool_call_id, decision in items:
        if decision == "allow":
            found[tool_call_id] = "allow"
        elif decision == "deny":
            found[tool_call_id] = "deny"
        else:
            raise ConfigurationError(
                f"the decision for {tool_call_id!r} is {decision!r}; decide 'allow' or 'deny'"
            )
    return found


def _output_spec(output_type: type[Any] | None) -> OutputSpec | None:
    if output_type is None:
        return None
    if not (isinstance(output_type, type) and attrs.has(output_type)):
        raise ConfigurationError(
            f"output_type must be an attrs class, got {output_type!r}; decorate it with "
            "@attrs.define (or @attrs.frozen)"
        )
    return describe_output(output_type)


def _with_output_type(
    completion_args: CompletionArgs | Mapping[str, Any] | None,
    output_type: type[Any] | None,
    output: OutputSpec | None,
) -> dict[str, Any] | None:
    if completion_args is None and output is None:
        return None
    args: dict[str, Any] = {}
    if completion_args is not None:
        args = converter.unstructure(parse_input(completion_args, CompletionArgs))
    if output is None or output_type is None:
        return args
    if args.get("response_format") is not None:
        raise ConfigurationError(
            "give output_type or completion_args.response_format, not both: output_type "
            "sets the response format to its JSON schema"
        )
    args["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": output_type.__name__, "schema": output.schema, "strict": True},
    }
    return args


def _sum_usage(total: ConversationUsageInfo, more: ConversationUsageInfo) -> ConversationUsageInfo:
    connector = (total.connector_tokens or 0) + (more.connector_tokens or 0)
    return ConversationUsageInfo(
        prompt_tokens=total.prompt_tokens + more.prompt_tokens,
        completion_tokens=total.completion_tokens + more.completion_tokens,
        total_tokens=total.total_tokens + more.total_tokens,
        connector_tokens=connector if connector else None,
    )


async def _decided(confirm: Confirm, call: PendingCall) -> Decision:
    if inspect.iscoroutinefunction(confirm):
        decision = await confirm(call)
    else:
        # In a worker thread: a sync confirm may well ask a human (input()), which must
        # not stop the event loop meanwhile.
        decision = await anyio.to_thread.run_sync(confirm, call)
        if inspect.isawaitable(decision):
            decision = await decision
    if decision not in ("allow", "deny", "defer"):
        raise ConfigurationError(
            f"confirm returned {decision!r} for {call.name}; return 'allow', 'deny' or 'defer'"
        )
    return decision  # type: ignore[no-any-return]


class _Run:
    """One run's state and its loop, written once for the plain and the stream form."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        inputs: Inputs | None,
        tools: Sequence[Any],
        model: str | None,
        agent_id: str | None,
        conversation_id: str | None,
        instructions: str | None,
        completion_args: CompletionArgs | Mapping[str, Any] | None,
        output_type: type[Any] | None,
        max_rounds: int,
        confirm: Confirm | None,
        decisions: Decisions | None,
        name: str | None,
        description: str | None,
        metadata: Mapping[str, Any] | None,
        timeout: Timeout | float | None,
        retry: RetryPolicy | None,
        headers: Headers | None,
        stream: bool,
    ) -> None:
        if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
            raise ConfigurationError(f"max_rounds must be an int of at least 1, got {max_rounds!r}")
        if conversation_id is None:
            if decisions is not None:
                raise ConfigurationError(
                    "decisions= answers the pending calls of a conversation: give its "
                    "conversation_id= too (RunResult.conversation_id)"
                )
            if inputs is None:
                raise ConfigurationError("a run that starts a conversation needs inputs")
        elif decisions is not None and inputs is not None:
            raise ConfigurationError(
                "decisions= resumes the pending calls, whose results are what the model "
                "reads next; send new inputs in a run after this one"
            )
        elif any(
            setting is not None
            for setting in (model, agent_id, instructions, name, description, metadata)
        ):
            raise ConfigurationError(
                "model=, agent_id=, instructions=, name=, description= and metadata= are the "
                "settings a conversation starts with; a run that goes on with "
                "conversation_id= keeps the conversation's"
            )
        self.client = client
        self.toolbox = _Toolbox(tools)
        if conversation_id is not None and self.toolbox.models:
            raise ConfigurationError(
                "tool models (built-in tools, connectors) are set when a conversation "
                "starts; a run with conversation_id= can only add Python functions"
            )
        self.inputs = inputs
        self.model = model
        self.agent_id = agent_id
        self.conversation_id = conversation_id
        self.instructions = instructions
        self.labels = {"name": name, "description": description, "metadata": metadata}
        # Each request of the run is a call like any other, with the caller's settings.
        self.per_call: dict[str, Any] = {"timeout": timeout, "retry": retry, "headers": headers}
        self.output_type = output_type
        self.output = _output_spec(output_type)
        self.completion_args = _with_output_type(completion_args, output_type, self.output)
        self.max_rounds = max_rounds
        self.confirm = confirm
        self.decisions = _decisions(decisions)
        self.stream = stream
        self.entries: list[Entry] = []
        self.usage = ConversationUsageInfo()
        self.rounds = 0
        self.reply: ConversationResponse | None = None
        self.outcome: RunResult | None = None

    # -- the loop ---------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ConversationEvent | FunctionResultEvent]:
        """The run, as the events of its rounds; ``outcome`` is set at the end."""
        await self.toolbox.open()
        limiter = anyio.CapacityLimiter(_THREADS_PER_RUN)
        if self.decisions:
            first = self._answer(await self._resumed(), limiter)
        else:
            first = self._turn(self.inputs, None)
        async for event in first:
            yield event
        while self.outcome is None:
            reply = self._record()
            calls = [o for o in reply.outputs if isinstance(o, FunctionCallEntry)]
            if not calls:
                self._finish(reply)
                return
            if self.rounds >= self.max_rounds:
                raise MaxRoundsError(self.max_rounds, self._result(reply.output_text))
            async for event in self._answer(calls, limiter):
                yield event

    async def _answer(
        self, calls: list[FunctionCallEntry], limiter: anyio.CapacityLimiter
    ) -> AsyncIterator[ConversationEvent | FunctionResultEvent]:
        """Decide one round's calls, run them and send the next turn; or stop on pending ones."""
        to_run, confirmations, pending = await self._settle(calls)
        if pending:
            self._stop(pending)
            return
        results: list[FunctionResultEntry] = []
        async for result_event in self._run_calls(to_run, limiter, results):
            yield result_event
        async for event in self._turn(results, confirmations):
            yield event

    async def _turn(
        self, inputs: Any, confirmations: list[ToolCallConfirmation] | None
    ) -> AsyncIterator[ConversationEvent]:
        """One round: the request, as a plain call or a stream; sets ``reply``."""
        client = self.client
        if self.conversation_id is None:
            arguments: dict[str, Any] = {
                "inputs": inputs,
                "model": self.model,
                "agent_id": self.agent_id,
                "instructions": self.instructions,
                "tools": self.toolbox.for_request or None,
                "completion_args": self.completion_args,
                **self.labels,
                **self.per_call,
            }
            if not self.stream:
                self.reply = await client.start(**arguments)
                return
            async with client.start_stream(**arguments) as stream:
                async for event in stream:
                    yield event
                self.reply = await stream.response()
            return
        arguments = {
            "inputs": inputs or None,
            "completion_args": self.completion_args,
            "tool_confirmations": confirmations or None,
            **self.per_call,
        }
        if not self.stream:
            self.reply = await client.append(self.conversation_id, **arguments)
            return
        async with client.append_stream(self.conversation_id, **arguments) as stream:
            async for event in stream:
                yield event
            self.reply = await stream.response()

    def _record(self) -> ConversationResponse:
        reply = self.reply
        assert reply is not None
        self.conversation_id = reply.conversation_id
        self.entries.extend(reply.outputs)
        self.usage = _sum_usage(self.usage, reply.usage)
        self.rounds += 1
        return reply

    async def _settle(
        self, calls: list[FunctionCallEntry]
    ) -> tuple[list[tuple[FunctionCallEntry, bool]], list[ToolCallConfirmation], list[PendingCall]]:
        """Decide each call: (call, allowed) to run or refuse here, the answers to the
        calls the server holds, and the calls still pending."""
        to_run: list[tuple[FunctionCallEntry, bool]] = []
        confirmations: list[ToolCallConfirmation] = []
        pending: list[PendingCall] = []
        for call in calls:
            held = PendingCall(
                tool_call_id=call.tool_call_id,
                name=call.name,
                arguments=_arguments_text(call.arguments),
                held_by="server" if call.confirmation_status == "pending" else "client",
            )
            decision = self.decisions.pop(call.tool_call_id, None) or (
                await _decided(self.confirm, held) if self.confirm is not None else None
            )
            if decision is None:
                decision = "defer" if held.held_by == "server" else "allow"
            if decision == "defer":
                pending.append(held)
            elif held.held_by == "server":
                confirmation = ToolCallConfirmation(
                    tool_call_id=call.tool_call_id, confirmation=decision
                )
                confirmations.append(confirmation)
            else:
                to_run.append((call, decision == "allow"))
        return to_run, confirmations, pending

    async def _run_calls(
        self,
        calls: list[tuple[FunctionCallEntry, bool]],
        limiter: anyio.CapacityLimiter,
        results: list[FunctionResultEntry],
    ) -> AsyncIterator[FunctionResultEvent]:
        """Run the allowed calls side by side, refuse the others; add each result to
        ``results`` and yield it."""
        outcomes: list[tuple[str, bool]] = [("", False)] * len(calls)

        async def run_one(index: int, call: FunctionCallEntry) -> None:
            outcomes[index] = await self.toolbox.call(call, limiter)

        async with anyio.create_task_group() as group:
            for index, (call, allowed) in enumerate(calls):
                if allowed:
                    group.start_soon(run_one, index, call)
                else:
                    outcomes[index] = (_error("the user denied this call"), True)
        for (call, _), (text, is_error) in zip(calls, outcomes, strict=True):
            entry = FunctionResultEntry(tool_call_id=call.tool_call_id, result=text)
            results.append(entry)
            self.entries.append(entry)
            yield FunctionResultEvent(
                tool_call_id=call.tool_call_id, name=call.name, result=text, is_error=is_error
            )

    async def _resumed(self) -> list[FunctionCallEntry]:
        """The calls of the conversation still unanswered, for the decisions given."""
        assert self.conversation_id is not None
        history = await self.client.get_history(self.conversation_id, **self.per_call)
        # The last turn's calls: those after the last entry the client sent.
        last_turn: list[Any] = []
        for entry in reversed(history.entries):
            if isinstance(entry, (MessageInputEntry, FunctionResultEntry)):
                break
            last_turn.append(entry)
        open_calls = [
            e
            for e in reversed(last_turn)
            if isinstance(e, FunctionCallEntry) and e.confirmation_status in (None, "pending")
        ]
        known = {call.tool_call_id for call in open_calls}
        unknown = sorted(set(self.decisions) - known)
        if unknown:
            raise ConfigurationError(
                f"no call waits for a decision under the id(s) {', '.join(unknown)} in "
                f"conversation {self.conversation_id}; the pending ones are: "
                f"{', '.join(sorted(known)) or 'none'}"
            )
        return open_calls

    def _stop(self, pending: list[PendingCall]) -> None:
        reply = self.reply
        self.outcome = self._result(reply.output_text if reply is not None else "", pending)

    def _finish(self, reply: ConversationResponse) -> None:
        text = reply.output_text
        output = None
        if self.output is not None:
            output = self._decode(text)
        self.outcome = self._result(text, [], output)

    def _decode(self, text: str) -> Any:
        assert self.output is not None
        assert self.output_type is not None
        name = self.output_type.__name__
        try:
            return self.output.decode(_json.loads(text))
        except _json.JSONDecodeError as exc:
            why = f"the answer is not JSON ({exc}), so it cannot be read as {name}"
        except ToolArgumentsError as exc:
            why = f"the answer does not fit {name}: " + "; ".join(exc.problems)
        raise OutputDecodeError(why, text=text, result=self._result(text))

    def _result(
        self, text: str, pending: list[PendingCall] | None = None, output: Any = None
    ) -> RunResult:
        return RunResult(
            conversation_id=self.conversation_id or "",
            entries=list(self.entries),
            output_text=text,
            output=output,
            pending=pending or [],
            usage=self.usage,
            rounds=self.rounds,
        )


class AsyncRunStream:
    """The events of a run, round after round, as they arrive.

    The events of each round's stream (the models of :mod:`mistral_conversations.models`),
    and a :class:`FunctionResultEvent` for each function result the run sends back.
    ``async with client.run_stream(...) as run: async for event in run: ...``; then
    ``await run.result()`` is the :class:`RunResult` (it reads whatever is left first).
    Leaving the block closes the stream of the round in progress and cancels its
    functions.
    """

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._events = run.events()

    def __aiter__(self) -> AsyncRunStream:
        return self

    async def __anext__(self) -> ConversationEvent | FunctionResultEvent:
        return await self._events.__anext__()

    async def __aenter__(self) -> AsyncRunStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the run where it is: close the round's stream, cancel its functions."""
        await self._events.aclose()  # type: ignore[attr-defined]

    async def result(self) -> RunResult:
        """Read the run to its end and return what it did."""
        async for _ in self:
            pass
        outcome = self._run.outcome
        if outcome is None:
            raise ConfigurationError(
                "this run was closed before its end, so it has no result; read it to "
                "its end (or call result() first)"
            )
        return outcome


def start_run(client: AsyncClient, *, stream: bool, **arguments: Any) -> _Run:
    """A run of ``client`` with ``run()``'s arguments, checked before anything is sent."""
    return _Run(client, stream=stream, **arguments)


async def iter_conversations(
    client: AsyncClient, page_size: int, metadata: Mapping[str, Any] | None
) -> AsyncIterator[Conversation]:
    """Every conversation, newest first, fetching each page when the last is used up."""
    page = 0
    while True:
        found = await client.list(page=page, page_size=page_size, metadata=metadata)
        for conversation in found:
            yield conversation
        if len(found) < page_size or not found:
            return
        page += 1
