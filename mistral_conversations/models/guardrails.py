"""Guardrails: moderation of a conversation's inputs and outputs."""

from __future__ import annotations

import attrs

__all__ = [
    "GuardrailConfig",
    "ModerationLLMV1CategoryThresholds",
    "ModerationLLMV1Config",
    "ModerationLLMV2CategoryThresholds",
    "ModerationLLMV2Config",
]


@attrs.define(kw_only=True)
class ModerationLLMV1CategoryThresholds:
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
class ModerationLLMV1Config:
    """Moderation by the v1 moderation model.

    Known values of ``action`` (``ModerationLLMAction``): ``"none"``, ``"block"``.
    ``model_name`` overrides the moderation model; leave it out in general.
    """

    model_name: str | None = None
    custom_category_thresholds: ModerationLLMV1CategoryThresholds | None = None
    ignore_other_categories: bool | None = None
    action: str | None = None


@attrs.define(kw_only=True)
class ModerationLLMV2CategoryThresholds:
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
class ModerationLLMV2Config:
    """Moderation by the v2 moderation model.

    Known values of ``action`` (``ModerationLLMAction``): ``"none"``, ``"block"``.
    ``model_name`` overrides the moderation model; leave it out in general.
    """

    model_name: str | None = None
    custom_category_thresholds: ModerationLLMV2CategoryThresholds | None = None
    ignore_other_categories: bool | None = None
    action: str | None = None


@attrs.define(kw_only=True)
class GuardrailConfig:
    """One guardrail: a moderation model and what to do on a server-side error.

    ``block_on_error`` makes the server answer 403 when moderation itself fails.
    """

    block_on_error: bool | None = None
    moderation_llm_v1: ModerationLLMV1Config | None = None
    moderation_llm_v2: ModerationLLMV2Config | None = None
