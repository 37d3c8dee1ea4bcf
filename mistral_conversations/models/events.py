"""Stream events: what a streamed turn sends, one server-sent event at a time.

Every event's ``created_at`` is timezone-aware. ``output_index`` counts the outputs
of the turn and says which one an event belongs to; an event that leaves it out (or
``content_index``) belongs to the first, 0, as the spec's default says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import attrs

from ._spec import BuiltInConnectors, ConfirmationStatus
from ._wire import DecodedOnRead
from .chunks import OutputChunk, TextChunk
from .conversations import ConversationUsageInfo

__all__ = [
    "AgentHandoffDoneEvent",
    "AgentHandoffStartedEvent",
    "ConversationEvent",
    "FunctionCallEvent",
    "MessageOutputEvent",
    "ResponseDoneEvent",
    "ResponseErrorEvent",
    "ResponseStartedEvent",
    "ToolExecutionDeltaEvent",
    "ToolExecutionDoneEvent",
    "ToolExecutionStartedEvent",
    "UnknownEvent",
]


@attrs.frozen(kw_only=True)
class ResponseStartedEvent(DecodedOnRead):
    """The turn started (``conversation.response.started``).

    ``conversation_id`` is the conversation the turn belongs to.
    """

    type: str = "conversation.response.started"
    created_at: datetime | None = None
    conversation_id: str


@attrs.frozen(kw_only=True)
class ResponseDoneEvent(DecodedOnRead):
    """The turn finished (``conversation.response.done``).

    ``usage`` counts the tokens of the whole turn.
    """

    type: str = "conversation.response.done"
    created_at: datetime | None = None
    usage: ConversationUsageInfo


@attrs.frozen(kw_only=True)
class ResponseErrorEvent(DecodedOnRead):
    """The turn failed on the server (``conversation.response.error``).

    ``code`` and ``message`` say what went wrong.
    """

    type: str = "conversation.response.error"
    created_at: datetime | None = None
    message: str
    code: int


@attrs.frozen(kw_only=True)
class ToolExecutionStartedEvent(DecodedOnRead):
    """A built-in tool or connector started to run (``tool.execution.started``).

    Known values of ``name`` (``BuiltInConnectors``): ``"web_search"``,
    ``"web_search_premium"``, ``"code_interpreter"``, ``"image_generation"``,
    ``"document_library"``; a custom connector's name is any other string.
    """

    type: str = "tool.execution.started"
    created_at: datetime | None = None
    output_index: int = 0
    id: str
    model: str | None = None
    agent_id: str | None = None
    name: BuiltInConnectors | str
    arguments: str


@attrs.frozen(kw_only=True)
class ToolExecutionDeltaEvent(DecodedOnRead):
    """A piece of the arguments of a running tool (``tool.execution.delta``).

    ``arguments`` is the next piece of the JSON text. Known values of ``name`` are
    those of :class:`ToolExecutionStartedEvent`.
    """

    type: str = "tool.execution.delta"
    created_at: datetime | None = None
    output_index: int = 0
    id: str
    name: BuiltInConnectors | str
    arguments: str


@attrs.frozen(kw_only=True)
class ToolExecutionDoneEvent(DecodedOnRead):
    """A built-in tool or connector finished (``tool.execution.done``).

    ``info`` is free-form. Known values of ``name`` are those of
    :class:`ToolExecutionStartedEvent`.
    """

    type: str = "tool.execution.done"
    created_at: datetime | None = None
    output_index: int = 0
    id: str
    name: BuiltInConnectors | str
    info: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class MessageOutputEvent(DecodedOnRead):
    """A piece of a message the model is writing (``message.output.delta``).

    ``content`` is a piece of text or one chunk; the pieces of one message share
    ``id`` and ``output_index``, and ``content_index`` says which chunk of the
    message a piece extends. ``role`` is always ``"assistant"``.
    """

    type: str = "message.output.delta"
    created_at: datetime | None = None
    output_index: int = 0
    id: str
    content_index: int = 0
    model: str | None = None
    agent_id: str | None = None
    role: str = "assistant"
    content: str | OutputChunk

    @property
    def text(self) -> str:
        """The piece of text this event adds: a string content, or a text chunk's text.

        Other chunks (thinking, references, files) add no text: ``""``.
        """
        content = self.content
        if isinstance(content, str):
            return content
        return content.text if isinstance(content, TextChunk) else ""


@attrs.frozen(kw_only=True)
class FunctionCallEvent(DecodedOnRead):
    """A piece of a function call the model is making (``function.call.delta``).

    ``arguments`` is the next piece of the JSON text. Known values of
    ``confirmation_status``: ``"pending"``, ``"allowed"``, ``"denied"``.
    """

    type: str = "function.call.delta"
    created_at: datetime | None = None
    output_index: int = 0
    id: str
    model: str | None = None
    agent_id: str | None = None
    name: str
    tool_call_id: str
    arguments: str
    confirmation_status: ConfirmationStatus | str | None = None


@attrs.frozen(kw_only=True)
class AgentHandoffStartedEvent(DecodedOnRead):
    """The conversation is being handed to another agent (``agent.handoff.started``).

    Names the agent handing over.
    """

    type: str = "agent.handoff.started"
    created_at: datetime | None = None
    output_index: int = 0
    id: str
    previous_agent_id: str
    previous_agent_name: str


@attrs.frozen(kw_only=True)
class AgentHandoffDoneEvent(DecodedOnRead):
    """The conversation was handed to another agent (``agent.handoff.done``).

    Names the agent taking over.
    """

    type: str = "agent.handoff.done"
    created_at: datetime | None = None
    output_index: int = 0
    id: str
    next_agent_id: str
    next_agent_name: str


@attrs.frozen(kw_only=True)
class UnknownEvent:
    """An event whose ``type`` this library does not know yet.

    ``raw`` is the event's data exactly as it came.
    """

    type: str
    raw: dict[str, Any]


ConversationEvent: TypeAlias = (
    ResponseStartedEvent
    | ResponseDoneEvent
    | ResponseErrorEvent
    | ToolExecutionStartedEvent
    | ToolExecutionDeltaEvent
    | ToolExecutionDoneEvent
    | MessageOutputEvent
    | FunctionCallEvent
    | AgentHandoffStartedEvent
    | AgentHandoffDoneEvent
    | UnknownEvent
)
