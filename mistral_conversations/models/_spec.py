"""What the spec says of fields beyond their JSON type: known values, and defaults.

Enum-like fields are typed ``Literal[<the spec's values>] | str``: an editor offers the
known values, and a value the library does not know yet is still a ``str``, kept as
it came (the server adds values before any client release).
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

__all__ = [
    "ANSWER_DEFAULT",
    "BuiltInConnectors",
    "ConfirmationStatus",
    "HandoffExecution",
    "ImageDetail",
    "MessageInputRole",
    "ModerationLLMAction",
    "ReasoningEffort",
    "ResponseFormats",
    "ToolCallConfirmationValue",
    "ToolChoiceEnum",
    "answer_default",
]

BuiltInConnectors: TypeAlias = Literal[
    "web_search", "web_search_premium", "code_interpreter", "image_generation", "document_library"
]
ImageDetail: TypeAlias = Literal["low", "auto", "high"]
ResponseFormats: TypeAlias = Literal["text", "json_object", "json_schema"]
ToolChoiceEnum: TypeAlias = Literal["auto", "none", "any", "required"]
ReasoningEffort: TypeAlias = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
ModerationLLMAction: TypeAlias = Literal["none", "block"]
# The spec's inline enums, which it leaves unnamed.
MessageInputRole: TypeAlias = Literal["assistant", "user"]
ConfirmationStatus: TypeAlias = Literal["pending", "allowed", "denied"]
ToolCallConfirmationValue: TypeAlias = Literal["allow", "deny"]
HandoffExecution: TypeAlias = Literal["client", "server"]

ANSWER_DEFAULT = "mistral_conversations.answer_default"
"""The attrs metadata key of :func:`answer_default`, read by the converter."""


def answer_default(value: object) -> dict[str, Any]:
    """The metadata of a field that users leave unset, and answers mean as ``value``.

    For models that users build and the server sends alike (chunks, entries, tools,
    completion arguments, guardrails): built by hand, the field defaults to ``None``
    and is not sent, so that a request says only what its author said; decoded from an
    answer that leaves it out, it is the spec's default ``value``. Use it as
    ``attrs.field(default=None, metadata=answer_default(True))``.
    """
    return {ANSWER_DEFAULT: value}
