"""Completion arguments: sampling, limits, output format and tool choice."""

from __future__ import annotations

from typing import Any

import attrs

from ._spec import ReasoningEffort, ResponseFormats, ToolChoiceEnum, answer_default
from ._wire import Decoded

__all__ = ["CompletionArgs", "JsonSchema", "Prediction", "ResponseFormat"]


@attrs.define(kw_only=True)
class Prediction(Decoded):
    """The expected completion, to speed up answers that are mostly known beforehand.

    ``type`` is always ``"content"``; ``content`` is ``""`` in an answer that leaves it
    out.
    """

    type: str = "content"
    content: str | None = attrs.field(default=None, metadata=answer_default(""))


@attrs.define(kw_only=True)
class JsonSchema(Decoded):
    """A named JSON Schema that the model's output must follow.

    ``schema`` is the JSON Schema object, passed through as is. ``strict`` is
    ``False`` in an answer that leaves it out.
    """

    name: str
    description: str | None = None
    schema: dict[str, Any]
    strict: bool | None = attrs.field(default=None, metadata=answer_default(False))


@attrs.define(kw_only=True)
class ResponseFormat(Decoded):
    """The format of the model's output.

    Known values of ``type`` (``ResponseFormats``): ``"text"``, ``"json_object"``,
    ``"json_schema"`` (which needs ``json_schema``); ``"text"`` in an answer that leaves
    it out.
    """

    type: ResponseFormats | str | None = attrs.field(default=None, metadata=answer_default("text"))
    json_schema: JsonSchema | None = None


@attrs.define(kw_only=True)
class CompletionArgs(Decoded):
    """Arguments of the completion that produces the assistant's answers.

    ``stop`` is a string or a list of strings. Known values of ``tool_choice``
    (``ToolChoiceEnum``): ``"auto"``, ``"none"``, ``"any"``, ``"required"``. Known
    values of ``reasoning_effort`` (``ReasoningEffort``): ``"none"``, ``"minimal"``,
    ``"low"``, ``"medium"``, ``"high"``, ``"xhigh"``. ``None`` leaves the server's
    default; an answer that leaves ``tool_choice`` out is read as ``"auto"``.
    """

    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    random_seed: int | None = None
    prediction: Prediction | None = None
    response_format: ResponseFormat | None = None
    tool_choice: ToolChoiceEnum | str | None = attrs.field(
        default=None, metadata=answer_default("auto")
    )
    reasoning_effort: ReasoningEffort | str | None = None
