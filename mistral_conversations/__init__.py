"""An asyncio-first client for Mistral's Conversations API, with a blocking facade.

>>> from mistral_conversations import AsyncClient
>>> async with AsyncClient() as client:                      # doctest: +SKIP
...     reply = await client.start(inputs="Hello!", model="mistral-small-latest")
...     print(reply.output_text)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors, models
from ._client import AsyncClient
from ._convert import converter, extra_fields
from ._hooks import AttemptRequest, AttemptResponse
from ._ratelimit import RateLimit, RateWindow
from ._retry import RetryPolicy
from ._streaming import AsyncEventStream
from ._timeout import Timeout
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    Failure,
    InputShapeError,
    InternalServerError,
    MaxRoundsError,
    MistralError,
    NotFoundError,
    OutputDecodeError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerEventError,
    StreamDecodeError,
    StreamError,
    StreamInterruptedError,
    ToolDefinitionError,
    UnprocessableEntityError,
)

if TYPE_CHECKING:
    from ._raw import RawResponse
    from ._run import AsyncRunStream, FunctionResultEvent, PendingCall, RunResult
    from ._sync import Client, EventStream, RunStream

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AttemptRequest",
    "AttemptResponse",
    "AsyncEventStream",
    "AsyncRunStream",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "EventStream",
    "Failure",
    "FunctionResultEvent",
    "InputShapeError",
    "InternalServerError",
    "MaxRoundsError",
    "MistralError",
    "NotFoundError",
    "OutputDecodeError",
    "PendingCall",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateWindow",
    "RawResponse",
    "ResponseDecodeError",
    "RetryPolicy",
    "RunResult",
    "RunStream",
    "ServerEventError",
    "StreamDecodeError",
    "StreamError",
    "StreamInterruptedError",
    "Timeout",
    "ToolDefinitionError",
    "UnprocessableEntityError",
    "__version__",
    "converter",
    "errors",
    "extra_fields",
    "models",
]


def __getattr__(name: str) -> Any:
    # The blocking facade is loaded on first use: async users never pay for importing it.
    if name in ("Client", "EventStream", "RunStream"):
        from . import _sync

        return getattr(_sync, name)
    if name in ("AsyncRunStream", "FunctionResultEvent", "PendingCall", "RunResult"):
        from . import _run  # with anyio, loaded when first asked for

        return getattr(_run, name)
    if name == "RawResponse":  # with the transport's figures, loaded with a client
        from ._raw import RawResponse

        return RawResponse
    raise AttributeError(f"module 'mistral_conversations' has no attribute {name!r}")
