"""Adds stream events up into the ConversationResponse they describe."""

from __future__ import annotations

import itertools
from typing import Any, cast

import attrs

from ._surrogates import paired
from .models import (
    AgentHandoffDoneEvent,
    AgentHandoffEntry,
    AgentHandoffStartedEvent,
    ConversationEvent,
    ConversationResponse,
    ConversationUsageInfo,
    FunctionCallEntry,
    FunctionCallEvent,
    MessageOutputEntry,
    MessageOutputEvent,
    OutputChunk,
    OutputEntry,
    ResponseDoneEvent,
    ResponseStartedEvent,
    TextChunk,
    ThinkChunk,
    ToolExecutionDeltaEvent,
    ToolExecutionDoneEvent,
    ToolExecutionEntry,
    ToolExecutionStartedEvent,
)

__all__ = ["Accumulator", "BadEvent"]


class BadEvent(ValueError):
    """An event whose fields have JSON types the spec does not allow; nothing was added.

    The converter trusts the server's JSON types for speed; what the accumulator uses as
    a key or joins as text is checked here, before anything changes.
    """


def _index(value: object, name: str) -> int:
    if value is None:
        return 0  # absent: the spec's default
    if value.__class__ is not int:
        raise BadEvent(f"{name} must be an integer, got {value!r}")
    return value


def _string(value: object, name: str) -> str:
    if value.__class__ is not str:
        raise BadEvent(f"{name} must be a string, got {value!r}")
    return value


class _Message:
    __slots__ = ("chunked", "first", "parts")

    def __init__(self, first: MessageOutputEvent) -> None:
        self.first = first
        # content_index -> pieces in arrival order; a piece is str text or a chunk.
        self.parts: dict[int, list[str | OutputChunk]] = {}
        # Whether any piece came as a chunk: the content is then a list of chunks.
        self.chunked = False

    def add(self, event: MessageOutputEvent) -> None:
        index = _index(event.content_index, "content_index")
        content: str | OutputChunk = event.content
        if content.__class__ is not str:
            if not attrs.has(content.__class__):
                raise BadEvent(f"content must be a string or a chunk, got {content!r}")
            self.chunked = True
            if content.__class__ is TextChunk and getattr(content, "_wire", None) is None:
                # Kept as its text: a str is no work for the cyclic GC, and a long answer
                # held as chunks made each collection longer as the answer grew.
                content = content.text
        pieces = self.parts.get(index)
        if pieces is None:
            pieces = self.parts[index] = []
        pieces.append(content)

    def build(self) -> MessageOutputEntry:
        first = self.first
        return MessageOutputEntry(
            id=first.id,
            created_at=first.created_at,
            model=first.model,
            agent_id=first.agent_id,
            content=self._content(),
        )

    def _content(self) -> str | list[OutputChunk]:
        if not self.chunked:
            return paired(
                "".join(
                    piece
                    for index in sorted(self.parts)
                    for piece in cast("list[str]", self.parts[index])
                )
            )
        chunks: list[OutputChunk] = []
        for index in sorted(self.parts):
            chunks.extend(_merge_chunks(self.parts[index]))
        return chunks


def _merge_chunks(pieces: list[str | OutputChunk]) -> list[OutputChunk]:
    """Join neighbouring text pieces into one TextChunk, and thinking into one ThinkChunk.

    Each run of neighbours is joined once, at its end: joining piece by piece would copy
    the text so far at every delta, quadratic in a long answer.
    """
    merged: list[OutputChunk] = []
    for kind, group in itertools.groupby(pieces, _kind):
        run = list(group)
        if kind == "text":
            if len(run) == 1:
                piece = run[0]
                merged.append(TextChunk(text=paired(piece)) if isinstance(piece, str) else piece)
            else:
                text = "".join([piece if isinstance(piece, str) else _text(piece) for piece in run])
                merged.append(TextChunk(text=paired(text)))
        elif kind == "thinking" and len(run) > 1:
            merged.append(_join_thinking(cast("list[ThinkChunk]", run)))
        else:
            # A lone thinking chunk is kept as it came; other chunks are never joined.
            merged.extend(cast("list[OutputChunk]", run))
    return merged


def _kind(piece: str | OutputChunk) -> str:
    if isinstance(piece, (str, TextChunk)):
        return "text"
    return "thinking" if isinstance(piece, ThinkChunk) else "other"


def _text(piece: OutputChunk) -> str:
    return piece.text if isinstance(piece, TextChunk) else ""


def _join_thinking(chunks: list[ThinkChunk]) -> ThinkChunk:
    # A chunk's signature, if it gives one, replaces the one before; closed is the last's.
    signature = chunks[0].signature
    for chunk in chunks[1:]:
        signature = chunk.signature or signature
    return ThinkChunk(
        thinking=_merge_thinking([part for chunk in chunks for part in chunk.thinking]),
        signature=signature,
        closed=chunks[-1].closed,
    )


def _merge_thinking(pieces: list[Any]) -> list[Any]:
    """Join each run of neighbouring TextChunks into one (once, at its end)."""
    merged: list[Any] = []
    for is_text, group in itertools.groupby(pieces, lambda piece: isinstance(piece, TextChunk)):
        run = list(group)
        if is_text and len(run) > 1:
            merged.append(TextChunk(text=paired("".join([chunk.text for chunk in run]))))
        else:
            merged.extend(run)
    return merged


class _FunctionCall:
    __slots__ = ("arguments", "first")

    def __init__(self, first: FunctionCallEvent) -> None:
        self.first = first
        self.arguments: list[str] = []

    def add(self, event: FunctionCallEvent) -> None:
        self.arguments.append(_string(event.arguments, "arguments"))

    def build(self) -> FunctionCallEntry:
        first = self.first
        return FunctionCallEntry(
            id=first.id,
            created_at=first.created_at,
            model=first.model,
            agent_id=first.agent_id,
            tool_call_id=first.tool_call_id,
            name=first.name,
            arguments="".join(self.arguments),
            confirmation_status=first.confirmation_status,
        )


class _ToolExecution:
    __slots__ = ("arguments", "done", "first")

    def __init__(self, first: ToolExecutionStartedEvent | ToolExecutionDeltaEvent) -> None:
        self.first = first
        self.arguments: list[str] = []
        self.done: ToolExecutionDoneEvent | None = None

    def add(self, event: ConversationEvent) -> None:
        if isinstance(event, (ToolExecutionStartedEvent, ToolExecutionDeltaEvent)):
            self.arguments.append(_string(event.arguments, "arguments"))
        elif isinstance(event, ToolExecutionDoneEvent):
            self.done = event

    def build(self) -> ToolExecutionEntry:
        first = self.first
        started = first if isinstance(first, ToolExecutionStartedEvent) else None
        return ToolExecutionEntry(
            id=first.id,
            created_at=first.created_at,
            completed_at=self.done.created_at if self.done else None,
            model=started.model if started else None,
            agent_id=started.agent_id if started else None,
            name=first.name,
            arguments="".join(self.arguments),
            info=self.done.info if self.done else None,
        )


class _Handoff:
    __slots__ = ("done", "first")

    def __init__(self, first: AgentHandoffStartedEvent) -> None:
        self.first = first
        self.done: AgentHandoffDoneEvent | None = None

    def add(self, event: ConversationEvent) -> None:
        if isinstance(event, AgentHandoffDoneEvent):
            self.done = event

    def build(self) -> AgentHandoffEntry:
        first, done = self.first, self.done
        return AgentHandoffEntry(
            id=first.id,
            created_at=first.created_at,
            completed_at=done.created_at if done else None,
            previous_agent_id=first.previous_agent_id,
            previous_agent_name=first.previous_agent_name,
            next_agent_id=done.next_agent_id if done else "",
            next_agent_name=done.next_agent_name if done else "",
        )


_Builder = _Message | _FunctionCall | _ToolExecution | _Handoff


class Accumulator:
    """Collects events; ``result()`` is the response they add up to so far."""

    __slots__ = ("conversation_id", "done", "outputs", "usage")

    def __init__(self) -> None:
        self.conversation_id = ""
        self.usage: ConversationUsageInfo | None = None
        self.done = False
        # output_index -> builder; each index is one output entry.
        self.outputs: dict[int, _Builder] = {}

    def add(self, event: ConversationEvent, wire: dict[str, Any] | None = None) -> None:
        """Take one event into account; :class:`BadEvent` (and no change) if it is unfit.

        ``wire`` is the dict the converter decoded ``event`` from, if it did.
        """
        if wire is not None and event.__class__ is MessageOutputEvent:
            # Nearly every event: a text delta of a message already begun. Its indexes are
            # read from the wire, as they came, which is what reading them from the event
            # would decode (it decodes them when first read). The checks of the general
            # path hold here by the classes tested.
            index, content = wire.get("output_index", 0), event.content
            if index.__class__ is int and content.__class__ is str:
                builder = self.outputs.get(index)
                part = wire.get("content_index", 0)
                if builder.__class__ is _Message and part.__class__ is int:
                    pieces = builder.parts.get(part)
                    if pieces is not None:
                        pieces.append(content)
                        return
        self._add(event)

    def _add(self, event: ConversationEvent) -> None:
        index = _index(getattr(event, "output_index", None), "output_index")
        if isinstance(event, MessageOutputEvent):  # nearly every event: tested first
            builder = self.outputs.get(index)
            if builder.__class__ is not _Message:
                builder = self.outputs[index] = _Message(event)
            builder.add(event)
        elif isinstance(event, FunctionCallEvent):
            call = self.outputs.get(index)
            if not isinstance(call, _FunctionCall):
                call = self.outputs[index] = _FunctionCall(event)
            call.add(event)
        elif isinstance(event, ResponseStartedEvent):
            self.conversation_id = event.conversation_id
        elif isinstance(event, ResponseDoneEvent):
            self.usage = event.usage
            self.done = True
        elif isinstance(
            event, (ToolExecutionStartedEvent, ToolExecutionDeltaEvent, ToolExecutionDoneEvent)
        ):
            execution = self.outputs.get(index)
            if not isinstance(execution, _ToolExecution) and not isinstance(
                event, ToolExecutionDoneEvent
            ):
                execution = self.outputs[index] = _ToolExecution(event)
            if isinstance(execution, _ToolExecution):
                execution.add(event)
        elif isinstance(event, AgentHandoffStartedEvent):
            self.outputs[index] = _Handoff(event)
        elif isinstance(event, AgentHandoffDoneEvent):
            handoff = self.outputs.get(index)
            if isinstance(handoff, _Handoff):
                handoff.add(event)

    def result(self) -> ConversationResponse:
        """The response as far as the events received tell it."""
        outputs: list[OutputEntry] = [self.outputs[i].build() for i in sorted(self.outputs)]
        return ConversationResponse(
            conversation_id=self.conversation_id,
            outputs=outputs,
            usage=self.usage if self.usage is not None else ConversationUsageInfo(),
        )
