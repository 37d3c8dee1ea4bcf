"""Every error the library raises for what a server did, built here with its final message.

The transport reports facts (:mod:`._outcomes`); the client and the stream call the
functions here to turn them into the exceptions of :mod:`.errors`. Each message says
what happened and what to do, and is complete when the exception is made: nothing
rewrites it later. Mistral's error bodies are read here, which is why the transport
needs no models.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from . import _json
from ._convert import converter
from ._outcomes import (
    BodyTooLarge,
    GaveUp,
    Link,
    LinkFailure,
    NotAnEventStream,
    StatusFailure,
    request_id_of,
)
from ._ratelimit import RateLimit
from ._retry import RETRYABLE_STATUSES, Failure, GiveUp, parse_retry_after
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    MistralError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerEventError,
    StreamDecodeError,
    StreamInterruptedError,
    UnprocessableEntityError,
    excerpt,
)
from .models import ConversationResponse, ResponseErrorEvent, ValidationErrorDetail

__all__ = [
    "connect_interrupted",
    "error_for",
    "event_too_large",
    "server_event_error",
    "stream_closed",
    "stream_cut",
    "stream_did_not_start",
    "stream_ended_early",
    "undecodable",
    "unreadable_event",
]

# How much of a server's own words a message quotes; .body keeps more (errors.excerpt).
_QUOTED = 500


def error_for(gave_up: GaveUp, *, path: str, base_url: str) -> MistralError:
    """The exception for a request that ended without a readable success."""
    outcome = gave_up.outcome
    note = _retry_note(gave_up)
    if isinstance(outcome, StatusFailure):
        return _status_error(outcome, gave_up.attempts, note, path=path, base_url=base_url)
    if isinstance(outcome, LinkFailure):
        message = _link_message(outcome)
        if note:
            message = f"{message} {note}"
        cls = APITimeoutError if outcome.link in _TIMEOUTS else APIConnectionError
        failure = outcome.link.failure or Failure.CONNECT
        return cls(message, failure=failure, attempts=gave_up.attempts)
    if isinstance(outcome, BodyTooLarge):
        return ResponseDecodeError(
            f"The answer's body is larger than max_body_size ({outcome.limit:,} bytes, "
            "counted after decompression); reading stopped there and the connection was "
            "closed. Raise AsyncClient(max_body_size=...) if such answers are expected.",
            body="",
        )
    return _not_an_event_stream(outcome)


_TIMEOUTS = frozenset(
    {Link.CONNECT_TIMEOUT, Link.POOL_TIMEOUT, Link.READ_TIMEOUT, Link.TOTAL_TIMEOUT}
)


def _link_message(failure: LinkFailure) -> str:
    origin, detail, link = failure.origin, failure.detail, failure.link
    if link is Link.REFUSED:
        return (
            f"Could not connect to {origin}: {detail}. The request was not sent; check the "
            "base URL and your network."
        )
    if link is Link.UNRESOLVED:
        return (
            f"Could not resolve the host name of {origin} ({detail}). The request was not "
            "sent; check the spelling of base_url, and your DNS and network."
        )
    if link is Link.CONNECT_TIMEOUT:
        return (
            f"Timed out connecting to {origin}; the request was not sent. Check the base URL "
            "and your network, or raise Timeout(connect=...)."
        )
    if link is Link.POOL_TIMEOUT:
        return (
            f"Timed out waiting for a free connection to {origin}: all max_connections "
            "connections of this client are in use (each open stream holds one until it "
            "ends); the request was not sent. Close streams you no longer read, or raise "
            "AsyncClient(max_connections=...)."
        )
    if link is Link.TLS_CERTIFICATE:
        return (
            f"The TLS certificate of {origin} failed verification ({detail}); the request "
            "was not sent, and trying again cannot help. If the server uses a private "
            "certificate authority, pass AsyncClient(ssl=ssl.create_default_context("
            "cafile=...)) with its CA bundle (a PEM file), or set SSL_CERT_FILE to that file "
            "before the process starts."
        )
    if link is Link.TLS_HANDSHAKE:
        return (
            f"The TLS handshake with {origin} failed ({detail}); the request was not sent, "
            "and trying again cannot help. If that server speaks plain HTTP, use an "
            "http:// base_url."
        )
    if link is Link.READ_TIMEOUT:
        return (
            f"Timed out waiting for {origin} to answer (read timeout); the server may have "
            "acted on the request. Raise Timeout(read=...) if answers are slow."
        )
    if link is Link.TOTAL_TIMEOUT:
        return (
            f"The request to {origin} took longer than its total time limit; the server may "
            "have acted on it. Raise Timeout(total=...) for long requests."
        )
    if link is Link.DROPPED_WHILE_READING:
        what = "The connection broke while the answer was being read"
    else:
        what = "The connection broke before an answer came"
    return (
        f"{what} ({detail}); the request may have reached {origin}, and the server may "
        "have acted on it."
    )


def _retry_note(gave_up: GaveUp) -> str | None:
    """What the final error adds about retrying: how many attempts, and why no more."""
    decision, attempts = gave_up.decision, gave_up.attempts
    if decision is None or not decision.give_up:
        return None
    outcome = gave_up.outcome
    failure: Failure | int | None = (
        outcome.status
        if isinstance(outcome, StatusFailure)
        else outcome.link.failure
        if isinstance(outcome, LinkFailure)
        else None
    )
    if decision.give_up is GiveUp.NOT_RETRYABLE:
        if isinstance(failure, Failure):  # the message already says the server may have acted
            return (
                "[not sent again, since that could act twice; "
                "RetryPolicy(retry_posts='all') sends it again anyway]"
            )
        # A status never retried (404) needs no note; a POST's 500 says why not.
        return f"[{decision.reason}]" if failure in RETRYABLE_STATUSES else None
    if gave_up.max_attempts == 1:  # the caller disabled retries: nothing to explain
        return None
    if decision.give_up in (GiveUp.ATTEMPTS, GiveUp.ELAPSED):  # the reason counts them
        return f"[{decision.reason}]"
    return f"[{attempts} attempt{'s' if attempts > 1 else ''} made; {decision.reason}]"


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_ADVICE: dict[int, str] = {
    400: "Check the arguments of the call.",
    401: "Check the API key: pass api_key= or set MISTRAL_API_KEY.",
    403: "This API key may not do this; check its workspace and permissions.",
    404: "Check the id: it may be mistyped, deleted, or belong to another workspace.",
    409: "The resource changed meanwhile; read it again and retry.",
    422: "The server rejected the request's fields; see .detail.",
    429: "Rate limited: wait and retry, or lower the request rate.",
}


def _status_error(
    failure: StatusFailure, attempts: int, note: str | None, *, path: str, base_url: str
) -> APIStatusError:
    status, headers, body = failure.status, failure.headers, failure.body
    message, data = _server_message(body)
    request_id = request_id_of(headers)
    if 300 <= status < 400:
        location = headers.get("Location", "?")
        summary = (
            f"The server redirected ({status}) to {location}; this client does not follow "
            "redirects, so that the API key never travels elsewhere. Set base_url to the "
            "final address."
        )
    else:
        reason = _reason(status)
        summary = f"{status} {reason}"
        if message and message.rstrip(".") != reason:
            summary += f": {message}"
        if not summary.endswith((".", "!", "?")):
            summary += "."
        advice = _advice(status, path=path, base_url=base_url)
        if advice:
            summary += f" {advice}"
    if note:
        summary += f" {note}"
    if request_id:
        summary += f" (request id: {request_id})"
    kwargs: dict[str, Any] = {
        "status_code": status,
        "body": excerpt(body.decode("utf-8", "replace")),
        "headers": headers,
        "request_id": request_id,
        "detail_message": message,
        "attempts": attempts,
    }
    cls = _STATUS_ERRORS.get(status)
    if cls is RateLimitError:
        return RateLimitError(
            summary,
            retry_after=parse_retry_after(headers),
            rate_limit=RateLimit.from_headers(headers),
            **kwargs,
        )
    if cls is UnprocessableEntityError:
        return UnprocessableEntityError(summary, detail=_validation_detail(data), **kwargs)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    return cls(summary, **kwargs)


def _advice(status: int, *, path: str, base_url: str) -> str:
    if status == 404 and (path == "/v1/conversations" or urlsplit(base_url).path.strip("/")):
        # No id is involved, or the base URL carries a path: the address is the suspect.
        return (
            f"The base URL is probably wrong: {base_url}{path} does not exist. base_url "
            "is the server alone, like 'https://api.mistral.ai', without '/v1'."
        )
    return _ADVICE.get(status) or (
        "The server failed; the request may succeed if tried again later." if status >= 500 else ""
    )


def _server_message(body: bytes) -> tuple[str | None, Any]:
    try:
        data = _json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return (excerpt(text, _QUOTED) or None), None
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, str) and message:
            return excerpt(message, _QUOTED), data
        detail = data.get("detail")
        if isinstance(detail, str) and detail:
            return excerpt(detail, _QUOTED), data
        if isinstance(detail, list):
            return excerpt(_describe_validation(detail), _QUOTED), data
    return None, data


def _describe_validation(detail: list[Any]) -> str:
    parts = []
    for item in detail:
        if not isinstance(item, dict):
            continue
        loc = item.get("loc")
        steps = loc if isinstance(loc, list) else [] if loc is None else [loc]
        where = ".".join(str(p) for p in steps if p != "body") or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "validation failed"


def _validation_detail(data: Any) -> list[ValidationErrorDetail]:
    items = data.get("detail") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    details = []
    for item in items:
        try:
            details.append(converter.structure(item, ValidationErrorDetail))
        except Exception:
            continue
    return details


# RFC 9110's names, which Python 3.13 took up: the same message on every Python.
_RENAMED_PHRASES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def _reason(status: int) -> str:
    if status in _RENAMED_PHRASES:
        return _RENAMED_PHRASES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _looks_like_html(content_type: str, body: bytes) -> bool:
    return content_type == "text/html" or body.lstrip()[:1] == b"<"


_HTML_HINT = (
    "The server answered with an HTML page, not the API's JSON: check base_url, and any "
    "proxy between you and the API (a login page or a proxy's error page looks like this)."
)


def _not_an_event_stream(outcome: NotAnEventStream) -> ResponseDecodeError:
    text = outcome.body.decode("utf-8", "replace")
    if _looks_like_html(outcome.content_type, outcome.body):
        message = f"A stream was asked for. {_HTML_HINT} It began: {text[:200]!r}."
    else:
        message = (
            f"A stream was asked for, but the server answered with "
            f"{outcome.content_type or 'no content type'} instead of an event stream: "
            f"{text[:200]!r}. Check base_url."
        )
    return ResponseDecodeError(message, body=excerpt(text))


def undecodable(body: bytes, content_type: str, cls: Any, why: str) -> ResponseDecodeError:
    """The error for a success answer whose body cannot be read as ``cls``."""
    text = body.decode("utf-8", "replace")
    if _looks_like_html(content_type, body):
        message = f"{_HTML_HINT} It began: {text[:200]!r}."
    else:
        name = getattr(cls, "__name__", None) or str(cls)
        message = (
            f"The server answered with success, but its body could not be read as {name}: "
            f"{why}. The raw body is kept in .body; please report this with it."
        )
    return ResponseDecodeError(message, body=excerpt(text))


# -- streams ------------------------------------------------------------------------


def connect_interrupted() -> StreamInterruptedError:
    """A stream whose connecting was cancelled: it is never sent again."""
    return StreamInterruptedError(
        "Connecting this stream was interrupted (cancelled) after its request may have "
        "been sent; it is not sent again, since the server may have acted on it. Start a "
        "new stream to try again."
    )


def stream_did_not_start(limit: float) -> APITimeoutError:
    """A stream whose whole-stream deadline ran out before its answer began."""
    return APITimeoutError(
        f"The stream did not start within its deadline, Timeout(stream={limit:g}); the "
        "request may have reached the server. Raise Timeout(stream=...), or leave it None "
        "for no deadline.",
        failure=Failure.TIMEOUT,
    )


def stream_cut(failure: LinkFailure, partial: ConversationResponse) -> StreamInterruptedError:
    """A stream whose connection failed after it began."""
    if failure.link is Link.READ_TIMEOUT:
        why = "a read timeout: the server sent nothing for longer than Timeout.read"
        advice = " Raise Timeout(read=...) if the server may pause longer."
    else:
        why = f"a broken connection ({failure.detail})"
        advice = ""
    return StreamInterruptedError(
        f"The stream from {failure.origin} was cut midway by {why}; what arrived is in "
        f".partial.{advice}",
        partial=partial,
    )


def stream_closed(why: str, partial: ConversationResponse) -> StreamInterruptedError:
    """A stream closed on this side before its end."""
    return StreamInterruptedError(
        f"The stream was closed before the response was complete ({why}); what arrived "
        "is in .partial.",
        partial=partial,
    )


def stream_ended_early(pending: str, partial: ConversationResponse) -> StreamInterruptedError:
    """A stream whose connection ended before ``conversation.response.done``."""
    tail = f" The last, incomplete data was: {pending[:200]!r}." if pending else ""
    return StreamInterruptedError(
        "The connection ended before the server said the response was done "
        f"(no conversation.response.done event); what arrived is in .partial.{tail}",
        partial=partial,
    )


def unreadable_event(
    what: str, raw: str, partial: ConversationResponse, event: str | None = None
) -> StreamDecodeError:
    """An event whose data this library cannot read; ``what`` says why."""
    named = f"The stream's {event!r} event" if event else "The stream"
    return StreamDecodeError(f"{named} {what}: {raw[:200]!r}", raw=excerpt(raw), partial=partial)


def event_too_large(limit: int, excerpt_: str, partial: ConversationResponse) -> StreamDecodeError:
    """An event larger than ``max_event_size``."""
    return StreamDecodeError(
        f"The stream sent an event larger than max_event_size ({limit:,} characters); "
        "reading stopped and the connection was closed. What arrived before it is in "
        ".partial. Raise AsyncClient(max_event_size=...) if such events are expected.",
        raw=excerpt_,
        partial=partial,
    )


def stream_too_large(limit: int, partial: ConversationResponse) -> StreamDecodeError:
    """A stream longer than ``max_body_size``."""
    return StreamDecodeError(
        f"The stream grew past max_body_size ({limit:,} bytes) before its turn ended; "
        "reading stopped and the connection was closed. What arrived is in .partial. "
        "Raise AsyncClient(max_body_size=...), or pass None, if answers this long are "
        "expected.",
        raw="",
        partial=partial,
    )


def server_event_error(
    event: ResponseErrorEvent, partial: ConversationResponse
) -> ServerEventError:
    """The server's own ``conversation.response.error`` event."""
    return ServerEventError(
        f"The server reported an error in the stream (code {event.code}): {event.message}",
        code=event.code,
        server_message=event.message,
        event=event,
        partial=partial,
    )
