"""on_request / on_response: a look at every attempt, for logging, metrics and tests.

A hook is a plain or async callable taking one argument. It is called once per attempt;
an exception in it is logged and never breaks the call. The API key is redacted from
the headers a hook sees.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

__all__ = [
    "RequestHook",
    "AttemptRequest",
    "ResponseHook",
    "AttemptResponse",
    "call_hook",
    "redacted",
]

logger = logging.getLogger("mistral_conversations")


@attrs.frozen(kw_only=True)
class AttemptRequest:
    """An attempt about to be sent.

    ``method``, ``url``, ``headers`` (credentials redacted) and ``attempt`` (1 for the
    first).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    attempt: int


@attrs.frozen(kw_only=True)
class AttemptResponse:
    """An answer's arrival (its status line and headers; the body may follow).

    ``elapsed`` is the seconds since the attempt's request began; ``request_id`` the
    server's id for it, if it sent one.
    """

    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    elapsed: float
    attempt: int
    request_id: str | None


RequestHook = Callable[[AttemptRequest], "Awaitable[None] | None"]
ResponseHook = Callable[[AttemptResponse], "Awaitable[None] | None"]

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})


def redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers, with credentials replaced by a marker."""
    return {
        name: ("[redacted]" if name.lower() in _SECRET_HEADERS else value)
        for name, value in headers.items()
    }


async def call_hook(hook: Callable[[Any], Any], info: object) -> None:
    """Call a hook, awaiting it if it is async; log, never raise, what it raises."""
    try:
        result = hook(info)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("the %s hook raised; the call goes on", type(info).__name__)
