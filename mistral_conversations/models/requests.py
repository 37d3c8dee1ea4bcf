"""Request bodies: start, append to and restart a conversation."""

from __future__ import annotations

from typing import Any

import attrs

from ._spec import HandoffExecution, ToolCallConfirmationValue
from .completion_args import CompletionArgs
from .entries import Entry
from .guardrails import GuardrailConfig
from .tools import Tool

__all__ = [
    "AppendConversationRequest",
    "ConversationRequest",
    "RestartConversationRequest",
    "ToolCallConfirmation",
]


@attrs.define(kw_only=True)
class ToolCallConfirmation:
    """The user's answer to a tool call that needs confirmation.

    Known values of ``confirmation``: ``"allow"``, ``"deny"``.
    """

    tool_call_id: str
    confirmation: ToolCallConfirmationValue | str


@attrs.define(kw_only=True)
class ConversationRequest:
    """The body that starts a conversation, with a model or with an agent.

    ``inputs`` is a string (one user message) or a list of entries. Give ``model``
    or ``agent_id``. ``stream=True`` asks for server-sent events. Known values of
    ``handoff_execution``: ``"client"``, ``"server"``. ``None`` fields are not sent.
    """

    inputs: str | list[Entry]
    stream: bool | None = None
    store: bool | None = None
    handoff_execution: HandoffExecution | str | None = None
    instructions: str | None = None
    tools: list[Tool] | None = None
    completion_args: CompletionArgs | None = None
    guardrails: list[GuardrailConfig] | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    agent_id: str | None = None
    agent_version: str | int | None = None
    model: str | None = None


@attrs.define(kw_only=True)
class AppendConversationRequest:
    """The body that adds entries to a conversation and runs the next turn.

    ``inputs`` is a string (one user message) or a list of entries.
    ``tool_confirmations`` answers tool calls waiting for confirmation. Known values
    of ``handoff_execution``: ``"client"``, ``"server"``. ``None`` fields are not sent.
    """

    inputs: str | list[Entry] | None = None
    stream: bool | None = None
    store: bool | None = None
    handoff_execution: HandoffExecution | str | None = None
    completion_args: CompletionArgs | None = None
    tool_confirmations: list[ToolCallConfirmation] | None = None


@attrs.define(kw_only=True)
class RestartConversationRequest:
    """The body that restarts a conversation from one of its entries, as a new one.

    ``from_entry_id`` is the entry to restart from; ``inputs`` replaces what follows
    it. Known values of ``handoff_execution``: ``"client"``, ``"server"``. ``None``
    fields are not sent.
    """

    inputs: str | list[Entry] | None = None
    stream: bool | None = None
    store: bool | None = None
    handoff_execution: HandoffExecution | str | None = None
    completion_args: CompletionArgs | None = None
    guardrails: list[GuardrailConfig] | None = None
    metadata: dict[str, Any] | None = None
    from_entry_id: str
    agent_version: str | int | None = None
