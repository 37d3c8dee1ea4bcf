"""The body of a 422 answer: what the server found wrong in a request."""

from __future__ import annotations

from typing import Any

import attrs

from ._wire import Decoded

__all__ = ["HTTPValidationError", "ValidationErrorDetail"]


@attrs.frozen(kw_only=True)
class ValidationErrorDetail(Decoded):
    """One problem the server found in a request (the spec's ``ValidationError``).

    ``loc`` is the path to the offending value, e.g. ``["body", "inputs", 0]``;
    ``msg`` says what is wrong and ``type`` names the kind of problem. ``input`` and
    ``ctx`` are passed through as the server sent them.
    """

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class HTTPValidationError(Decoded):
    """The body of a 422 answer.

    ``detail`` lists the problems found.
    """

    detail: list[ValidationErrorDetail] | None = None
