"""Conversation entries: messages, function calls and results, tool runs, handoffs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import attrs

from ._spec import BuiltInConnectors, ConfirmationStatus, MessageInputRole, answer_default
from ._wire import Decoded
from .chunks import InputChunk, OutputChunk, content_text

__all__ = [
    "AgentHandoffEntry",
    "Entry",
    "FunctionCallEntry",
    "FunctionResultEntry",
    "MessageEntry",
    "MessageInputEntry",
    "MessageOutputEntry",
    "OutputEntry",
    "ToolExecutionEntry",
    "UnknownEntry",
]


@attrs.define(kw_only=True)
class MessageInputEntry(Decoded):
    """A message given to the model: what the user says, or an assistant turn to replay.

    Known values of ``role``: ``"user"``, ``"assistant"``. ``content`` is a string or
    a list of chunks. ``prefix`` asks the model to continue an assistant message
    rather than start a new one (``False`` in an answer that leaves it out).
    """

    object: str = "entry"
    type: str = "message.input"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    id: str | None = None
    role: MessageInputRole | str
    content: str | list[InputChunk]
    prefix: bool | None = attrs.field(default=None, metadata=answer_default(False))

    @property
    def text(self) -> str:
        """The message's text: a string content as is, else its text chunks joined."""
        return content_text(self.content)


@attrs.define(kw_only=True)
class MessageOutputEntry(Decoded):
    """A message the model (or an agent) wrote.

    ``content`` is a string or a list of chunks; :attr:`text` joins its text.
    ``role`` is always ``"assistant"``.
    """

    object: str = "entry"
    type: str = "message.output"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    agent_id: str | None = None
    model: str | None = None
    id: str | None = None
    role: str = "assistant"
    content: str | list[OutputChunk]

    @property
    def text(self) -> str:
        """The message's text: a string content as is, else its text chunks joined."""
        return content_text(self.content)


@attrs.define(kw_only=True)
class FunctionResultEntry(Decoded):
    """The result of a function call, which the client ran and reports back.

    ``tool_call_id`` is the one of the :class:`FunctionCallEntry` it answers.
    """

    object: str = "entry"
    type: str = "function.result"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    id: str | None = None
    tool_call_id: str
    result: str


@attrs.define(kw_only=True)
class FunctionCallEntry(Decoded):
    """A call the model asks the client to make to one of its function tools.

    ``arguments`` is a dict, or the JSON text of one, as the server sent it. Known
    values of ``confirmation_status``: ``"pending"``, ``"allowed"``, ``"denied"``.
    """

    object: str = "entry"
    type: str = "function.call"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    agent_id: str | None = None
    model: str | None = None
    id: str | None = None
    tool_call_id: str
    name: str
    arguments: dict[str, Any] | str
    confirmation_status: ConfirmationStatus | str | None = None


@attrs.define(kw_only=True)
class ToolExecutionEntry(Decoded):
    """A run of a built-in tool or connector on the server.

    Known values of ``name`` (``BuiltInConnectors``): ``"web_search"``,
    ``"web_search_premium"``, ``"code_interpreter"``, ``"image_generation"``,
    ``"document_library"``; a custom connector's name is any other string.
    ``arguments`` is JSON text; ``info`` is free-form.
    """

    object: str = "entry"
    type: str = "tool.execution"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    agent_id: str | None = None
    model: str | None = None
    id: str | None = None
    name: BuiltInConnectors | str
    arguments: str
    info: dict[str, Any] | None = None


@attrs.define(kw_only=True)
class AgentHandoffEntry(Decoded):
    """The hand-over of a conversation from one agent to another.

    Names and ids of both agents are given.
    """

    object: str = "entry"
    type: str = "agent.handoff"
    created_at: datetime | None = None
    completed_at: datetime | None = None
    id: str | None = None
    previous_agent_id: str
    previous_agent_name: str
    next_agent_id: str
    next_agent_name: str


@attrs.frozen(kw_only=True)
class UnknownEntry:
    """An entry whose ``type`` this library does not know yet.

    ``raw`` is the entry exactly as it came; it is sent back exactly so.
    """

    type: str
    raw: dict[str, Any]


Entry: TypeAlias = (
    MessageInputEntry
    | MessageOutputEntry
    | FunctionResultEntry
    | FunctionCallEntry
    | ToolExecutionEntry
    | AgentHandoffEntry
    | UnknownEntry
)
OutputEntry: TypeAlias = (
    MessageOutputEntry | ToolExecutionEntry | FunctionCallEntry | AgentHandoffEntry | UnknownEntry
)
MessageEntry: TypeAlias = MessageInputEntry | MessageOutputEntry | UnknownEntry
