"""What the transport reports when a request does not end in a readable success.

Facts only: what happened on the wire, with no wording for users and no knowledge of
models. ``_failures`` turns them into the library's exceptions, each with its final
message. Plain Python, so that the layers above can import it without aiohttp.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ._retry import Decision, Failure

__all__ = [
    "BodyTooLarge",
    "GaveUp",
    "Link",
    "LinkFailure",
    "NotAnEventStream",
    "Outcome",
    "StatusFailure",
    "request_id_of",
]


_REQUEST_ID_HEADERS = ("mistral-correlation-id", "x-request-id", "x-kong-request-id")


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The server's id for a request, as support asks for it."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


class Link(enum.Enum):
    """How an attempt ended without a whole answer."""

    REFUSED = "refused"
    """The connection could not be made (refused, unreachable): nothing was sent."""
    UNRESOLVED = "unresolved"
    """The host name could not be resolved: nothing was sent."""
    CONNECT_TIMEOUT = "connect_timeout"
    """Connecting took longer than ``Timeout.connect``: nothing was sent."""
    POOL_TIMEOUT = "pool_timeout"
    """Every connection of the pool stayed in use past ``Timeout.connect``: nothing was sent."""
    TLS_CERTIFICATE = "tls_certificate"
    """The server's certificate failed verification: nothing was sent."""
    TLS_HANDSHAKE = "tls_handshake"
    """The TLS handshake failed (e.g. https:// to a plain-http server): nothing was sent."""
    READ_TIMEOUT = "read_timeout"
    """The server went silent longer than ``Timeout.read`` after the request was sent."""
    TOTAL_TIMEOUT = "total_timeout"
    """The whole request took longer than ``Timeout.total``."""
    DROPPED_BEFORE_ANSWER = "dropped_before_answer"
    """The connection broke after the request may have been sent, before an answer."""
    DROPPED_WHILE_READING = "dropped_while_reading"
    """The connection broke while the answer was being read."""

    @property
    def failure(self) -> Failure | None:
        """What a retry policy is told of it; None where retrying cannot help."""
        return _RETRY_KINDS.get(self)


_RETRY_KINDS = {
    Link.REFUSED: Failure.CONNECT,
    Link.UNRESOLVED: Failure.CONNECT,
    Link.CONNECT_TIMEOUT: Failure.CONNECT,
    Link.READ_TIMEOUT: Failure.TIMEOUT,
    Link.TOTAL_TIMEOUT: Failure.TIMEOUT,
    Link.DROPPED_BEFORE_ANSWER: Failure.DROPPED,
    Link.DROPPED_WHILE_READING: Failure.DROPPED,
}


class LinkFailure(Exception):
    """No whole answer came: ``link`` says how, ``detail`` what the network layer said.

    The network layer's own exception is the ``__cause__``.
    """

    def __init__(self, link: Link, origin: str, detail: str = "") -> None:
        super().__init__(link, origin, detail)
        self.link = link
        self.origin = origin
        self.detail = detail


class StatusFailure(Exception):
    """An answer with an error status; ``body`` is its start, as bytes."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body


class BodyTooLarge(Exception):
    """A success answer whose body passed ``max_body_size``; reading stopped there."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class NotAnEventStream(Exception):
    """A stream was asked for, and a success answer of another content type came."""

    def __init__(self, content_type: str, body: bytes) -> None:
        super().__init__(content_type)
        self.content_type = content_type
        self.body = body


Outcome = LinkFailure | StatusFailure | BodyTooLarge | NotAnEventStream


class GaveUp(Exception):
    """A request's last outcome, once no further attempt will be made.

    ``attempts`` counts the attempts made; ``decision`` is the retry policy's last word
    (None when the outcome is never retried, such as a body too large);
    ``max_attempts`` is what the policy allowed.
    """

    def __init__(
        self, outcome: Outcome, *, attempts: int, decision: Decision | None, max_attempts: int
    ) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.attempts = attempts
        self.decision = decision
        self.max_attempts = max_attempts
