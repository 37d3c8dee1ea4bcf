"""Guardrails: moderation of a conversation's inputs and outputs."""

from __future__ import annotations

import attrs

from ._spec import ModerationLLMAction, answer_default
from ._wire import Decoded

__all__ = [
    "GuardrailConfig",
    "ModerationLLMV1CategoryThresholds",
    "ModerationLLMV1Config",
    "ModerationLLMV2CategoryThresholds",
    "ModerationLLMV2Config",
]


@attrs.define(kw_only=True)
class ModerationLLMV1CategoryThresholds(Decoded):
    """Per-category score thresholds of the v1 moderation model.

    A score above its threshold triggers the configured action.
    """

    sexual: float | None = None
    hate_and_discrimination: float | None = None
    violence_and_threats: float | None = None
    dangerous_and_criminal_content: float | None = None
    selfharm: float | None = None
    health: float | None = None
    financial: float | None = None
    law: float | None = None
    pii: float | None = None


@attrs.define(kw_only=True)
class ModerationLLMV1Config(Decoded):
    """Moderation by the v1 moderation model.

    Known values of ``action`` (``ModerationLLMAction``): ``"none"``, ``"block"``.
    ``model_name`` overrides the moderation model; leave it out in general. An answer
    that leaves fields out is read with the spec's defaults: ``"mistral-moderation-2411"``,
    ``ignore_other_categories=False``, ``action="none"``.
    """

    model_name: str | None = attrs.field(
        default=None, metadata=answer_default("mistral-moderation-2411")
    )
    custom_category_thresholds: ModerationLLMV1CategoryThresholds | None = None
    ignore_other_categories: bool | None = attrs.field(default=None, metadata=answer_default(False))
    action: ModerationLLMAction | str | None = attrs.field(
        default=None, metadata=answer_default("none")
    )


@attrs.define(kw_only=True)
class ModerationLLMV2CategoryThresholds(Decoded):
    """Per-category score thresholds of the v2 moderation model.

    A score above its threshold triggers the configured action.
    """

    sexual: float | None = None
    hate_and_discrimination: float | None = None
    violence_and_threats: float | None = None
    dangerous: float | None = None
    criminal: float | None = None
    selfharm: float | None = None
    health: float | None = None
    financial: float | None = None
    law: float | None = None
    pii: float | None = None
    jailbreaking: float | None = None


@attrs.define(kw_only=True)
class ModerationLLMV2Config(Decoded):
    """Moderation by the v2 moderation model.

    Known values of ``action`` (``ModerationLLMAction``): ``"none"``, ``"block"``.
    ``model_name`` overrides the moderation model; leave it out in general. An answer
    that leaves fields out is read with the spec's defaults: ``"mistral-moderation-2603"``,
    ``ignore_other_categories=False``, ``action="none"``.
    """

    model_name: str | None = attrs.field(
        default=None, metadata=answer_default("mistral-moderation-2603")
    )
    custom_category_thresholds: ModerationLLMV2CategoryThresholds | None = None
    ignore_other_categories: bool | None = attrs.field(default=None, metadata=answer_default(False))
    action: ModerationLLMAction | str | None = attrs.field(
        default=None, metadata=answer_default("none")
    )


@attrs.define(kw_only=True)
class GuardrailConfig(Decoded):
    """One guardrail: a moderation model and what to do on a server-side error.

    ``block_on_error`` makes the server answer 403 when moderation itself fails
    (``False`` in an answer that leaves it out).
    """

    block_on_error: bool | None = attrs.field(default=None, metadata=answer_default(False))
    moderation_llm_v1: ModerationLLMV1Config | None = None
    moderation_llm_v2: ModerationLLMV2Config | None = None
