"""The exceptions this library raises, grouped by what went wrong.

Every exception derives from :class:`MistralError`. Catch :class:`APIStatusError`
for answers the server gave with an error status, :class:`APIConnectionError` for
answers that never came, and :class:`StreamError` for streams that broke midway.
No message, ``repr`` or attribute ever holds the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._retry import Failure

if TYPE_CHECKING:
    from ._ratelimit import RateLimit
    from ._run import RunResult
    from .models import ConversationEvent, ConversationResponse, ValidationErrorDetail

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "Failure",
    "InputShapeError",
    "InternalServerError",
    "MaxRoundsError",
    "MistralError",
    "NotFoundError",
    "OutputDecodeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerEventError",
    "StreamDecodeError",
    "StreamError",
    "StreamInterruptedError",
    "ToolDefinitionError",
    "UnprocessableEntityError",
]


class MistralError(Exception):
    """Base class of every error this library raises.

    ``attempts`` is how many attempts at the request were made before it was raised.
    """

    def __init__(self, *args: object, attempts: int = 1) -> None:
        super().__init__(*args)
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from args and attributes rather than by calling __init__, whose
        # keyword-only arguments pickle's default cannot give: errors cross process
        # boundaries in Celery and multiprocessing.
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[MistralError], args: tuple[Any, ...], state: dict[str, Any]) -> MistralError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


EXCERPT_LIMIT = 65_536
"""The most characters of a server's text that an error keeps (``body``, ``raw``)."""


def excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """The start of *text*, cut with a visible marker if it is longer than *limit*."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


class ConfigurationError(MistralError):
    """The client was set up wrongly: no API key, a bad base URL, clashing arguments."""


Loc = tuple[str | int, ...]


def format_loc(loc: Loc) -> str:
    """Render a path as Python would index it: ``inputs[0].role``."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
    return "".join(parts)


class InputShapeError(MistralError, TypeError):
    """An argument does not have the shape the API expects; nothing was sent.

    ``loc`` is the path to the offending value, e.g. ``("inputs", 0, "role")``, and
    ``reason`` says what is wrong with it. ``problems`` lists every problem found as
    ``(loc, reason)`` pairs, the one reported first. A ``TypeError`` too, so code that
    catches bad arguments the usual way catches it.
    """

    def __init__(self, loc: Loc, reason: str, problems: tuple[tuple[Loc, str], ...] = ()) -> None:
        self.loc = loc
        self.reason = reason
        self.problems = problems or ((loc, reason),)
        super().__init__(loc, reason)

    def __str__(self) -> str:
        first = (self.loc, self.reason)
        ordered = [first, *(problem for problem in self.problems if problem != first)]
        shown = [f"{format_loc(loc)}: {reason}" if loc else reason for loc, reason in ordered[:3]]
        message = "; also ".join(shown)
        more = len(ordered) - len(shown)
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        return message


class ToolDefinitionError(ConfigurationError):
    """A callable cannot be offered to the model as a function tool.

    Raised before anything is sent, when the callable has no usable name, takes ``*args``,
    ``**kwargs`` or positional-only parameters, or has a parameter without an annotation or
    of a type with no JSON form. The message names the function and the parameter, and says
    what to change.
    """


class APIConnectionError(MistralError):
    """No answer came: the connection failed, or dropped before the answer was read.

    ``failure`` is how it failed, as a retry policy sees it: not connected
    (:attr:`Failure.CONNECT`: nothing was sent), timed out, or dropped.
    """

    def __init__(
        self, message: str, *, failure: Failure = Failure.DROPPED, attempts: int = 1
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.failure = failure


class APITimeoutError(APIConnectionError):
    """A connect, read or total time limit ran out before the answer came."""


class ResponseDecodeError(MistralError):
    """The server answered with success, but with a body this library cannot read.

    ``body`` keeps the text as it came, so nothing the server said is lost.
    """

    def __init__(self, message: str, *, body: str) -> None:
        super().__init__(message)
        self.body = body


class APIStatusError(MistralError):
    """The server answered with an error status.

    ``status_code``, ``message`` (the server's own words where it gave any), ``body``
    (the raw text), ``headers`` and ``request_id`` (for support requests) are kept.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str,
        headers: Mapping[str, str],
        request_id: str | None,
        detail_message: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.status_code = status_code
        self.message = detail_message if detail_message is not None else message
        self.body = body
        self.headers = dict(headers)
        self.request_id = request_id


class BadRequestError(APIStatusError):
    """400: the server rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this."""


class NotFoundError(APIStatusError):
    """404: no such conversation (or entry, or agent)."""


class ConflictError(APIStatusError):
    """409: the request clashes with the current state of the resource."""


class UnprocessableEntityError(APIStatusError):
    """422: the server's validation rejected the request; ``detail`` says where."""

    def __init__(
        self,
        message: str,
        *,
        detail: list[ValidationErrorDetail],
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.detail = detail


class RateLimitError(APIStatusError):
    """429: too many requests.

    ``retry_after`` is the wait the server asked for, in seconds; ``rate_limit`` what
    its ``x-ratelimit-*`` headers said of the budget (None if it sent none).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        rate_limit: RateLimit | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.rate_limit = rate_limit


class InternalServerError(APIStatusError):
    """5xx: the server failed; the request may succeed if tried again later."""


class StreamError(MistralError):
    """A stream broke after it started.

    ``partial`` is the :class:`~mistral_conversations.models.ConversationResponse`
    that the events received so far add up to, so nothing already received is lost.
    """

    def __init__(self, message: str, *, partial: ConversationResponse | None = None) -> None:
        super().__init__(message)
        self.partial = partial


class StreamInterruptedError(StreamError):
    """The connection ended before the server said the response was done."""


class StreamDecodeError(StreamError):
    """The stream carried bytes that are not Server-Sent Events, or data that is not JSON.

    ``raw`` keeps the offending text.
    """

    def __init__(
        self, message: str, *, raw: str, partial: ConversationResponse | None = None
    ) -> None:
        super().__init__(message, partial=partial)
        self.raw = raw


class ServerEventError(StreamError):
    """The server sent ``conversation.response.error`` in the stream.

    ``code`` and ``message`` are the server's; ``event`` is the event itself.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int,
        server_message: str,
        event: ConversationEvent,
        partial: ConversationResponse | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.code = code
        self.message = server_message
        self.event = event


class MaxRoundsError(MistralError):
    """A run reached ``max_rounds`` with the model still calling functions.

    ``result`` is the :class:`~mistral_conversations.RunResult` so far: the conversation
    id, every entry, the usage. The last round's calls were not run.
    """

    def __init__(self, max_rounds: int, result: RunResult) -> None:
        super().__init__(
            f"The model was still calling functions after {max_rounds} rounds "
            f"(max_rounds={max_rounds}), so the run stopped without running the last "
            f"round's calls. What it did is in .result (conversation "
            f"{result.conversation_id}); give run() a higher max_rounds= if the task needs "
            "more rounds."
        )
        self.max_rounds = max_rounds
        self.result = result


class OutputDecodeError(MistralError):
    """A run's final answer could not be read as its ``output_type``.

    ``text`` is the answer's text; ``result`` the :class:`~mistral_conversations.RunResult`
    without ``output``.
    """

    def __init__(self, message: str, *, text: str, result: RunResult) -> None:
        super().__init__(f"{message}. The text is in .text: {excerpt(text, 200)!r}")
        self.text = text
        self.result = result
