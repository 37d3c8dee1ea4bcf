"""Conversations and what the server answers about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import attrs

from ._wire import Decoded
from .completion_args import CompletionArgs
from .entries import Entry, MessageEntry, MessageOutputEntry, OutputEntry
from .guardrails import GuardrailConfig
from .tools import Tool

__all__ = [
    "AgentConversation",
    "Conversation",
    "ConversationHistory",
    "ConversationMessages",
    "ConversationResponse",
    "ConversationUsageInfo",
    "ModelConversation",
]


@attrs.frozen(kw_only=True)
class ConversationUsageInfo(Decoded):
    """Tokens a turn used.

    A count the server leaves out is 0, the spec's default. ``connectors`` maps a
    connector's name to the tokens it used.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    connector_tokens: int | None = None
    connectors: dict[str, int] | None = None


@attrs.frozen(kw_only=True)
class ModelConversation(Decoded):
    """A conversation with a model, with the settings it was started with.

    ``created_at`` and ``updated_at`` are timezone-aware.
    """

    instructions: str | None = None
    tools: list[Tool] | None = None
    completion_args: CompletionArgs | None = None
    guardrails: list[GuardrailConfig] | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    object: str = "conversation"
    id: str
    created_at: datetime
    updated_at: datetime
    model: str


@attrs.frozen(kw_only=True)
class AgentConversation(Decoded):
    """A conversation with an agent.

    ``agent_version`` is a version number or a version alias, as the server sent it.
    """

    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    object: str = "conversation"
    id: str
    created_at: datetime
    updated_at: datetime
    agent_id: str
    agent_version: str | int | None = None


Conversation: TypeAlias = ModelConversation | AgentConversation


@attrs.frozen(kw_only=True)
class ConversationResponse(Decoded):
    """The answer to starting, appending to or restarting a conversation.

    ``outputs`` are the entries this turn added; :attr:`output_text` joins the text
    of its messages. ``guardrails`` holds the server's guardrail results, as sent.
    """

    object: str = "conversation.response"
    conversation_id: str
    outputs: list[OutputEntry]
    usage: ConversationUsageInfo
    guardrails: list[dict[str, Any]] | None = None

    @property
    def output_text(self) -> str:
        """The text of every message in ``outputs``, in order, joined with no separator."""
        return "".join(
            [entry.text for entry in self.outputs if isinstance(entry, MessageOutputEntry)]
        )


@attrs.frozen(kw_only=True)
class ConversationHistory(Decoded):
    """Every entry of a conversation, in the order they were added.

    ``entries`` holds messages, function calls and results, tool runs and handoffs.
    """

    object: str = "conversation.history"
    conversation_id: str
    entries: list[Entry]


@attrs.frozen(kw_only=True)
class ConversationMessages(Decoded):
    """The messages of a conversation, in order, without the other entries.

    ``messages`` holds input and output messages.
    """

    object: str = "conversation.messages"
    conversation_id: str
    messages: list[MessageEntry]
