"""API keys: where one comes from, and the check every key passes before it is sent.

No message here ever holds the key: each says what is wrong and where.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable

from .errors import ConfigurationError

__all__ = ["KeyProvider", "check_key", "provided_key", "resolve"]

KeyProvider = Callable[[], "str | Awaitable[str]"]
_PROVIDED = "the key the api_key provider returned"
"""A callable, sync or async, that returns the API key to use for the next request."""


def resolve(api_key: str | KeyProvider | None) -> str | KeyProvider:
    """The client's ``api_key=``: a checked key, or a provider; else MISTRAL_API_KEY."""
    if callable(api_key):
        return api_key
    if api_key is None:
        return check_key(os.environ.get("MISTRAL_API_KEY"), "MISTRAL_API_KEY")
    return check_key(api_key, "api_key")


async def provided_key(provider: KeyProvider) -> str:
    """Call a key provider (awaiting it if it is async) and check what it returned."""
    try:
        key = provider()
        if inspect.isawaitable(key):
            key = await key
    except Exception as exc:
        raise ConfigurationError(
            f"The api_key provider raised {type(exc).__name__}; no request was sent. "
            "Fix the provider, or pass the key as a str."
        ) from exc
    return check_key(key, _PROVIDED)


def check_key(key: object, where: str) -> str:
    """Return ``key`` if it can be an API key; raise ConfigurationError saying why not."""
    if not key and where == _PROVIDED:
        raise ConfigurationError("The api_key provider returned no key; no request was sent.")
    if not key:
        raise ConfigurationError(
            "No API key: pass api_key=... to the client or set the MISTRAL_API_KEY "
            "environment variable."
        )
    if not isinstance(key, str):
        raise ConfigurationError(f"{where} must be a str, not {type(key).__name__}")
    bad = next((c for c in key if not c.isprintable() or c.isspace()), None)
    if bad is not None:
        position = key.index(bad)
        where_in = "at its end" if position == len(key) - 1 else f"at position {position}"
        raise ConfigurationError(
            f"{where} holds a whitespace or control character ({bad!r}, {where_in}), which "
            "an API key never has: it was probably copied with a newline or a space. "
            "Strip it and try again."
        )
    if not key.isascii():
        raise ConfigurationError(
            f"{where} holds a character that is not ASCII, which an API key never has; "
            "check that it was copied whole and alone."
        )
    return key
