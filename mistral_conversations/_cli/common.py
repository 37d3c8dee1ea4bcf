"""What the commands share: the API options, the client they make, their one error."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, TypeAlias

from .._retry import RetryPolicy
from .._sync import Client

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    """What ``add_subparsers()`` returns, to which each command module adds its own."""

__all__ = ["CommandError", "add_api_options", "api_client", "identifier", "one_line", "retry"]

_KEYS_PAGE = "https://console.mistral.ai/api-keys"


class CommandError(Exception):
    """A failure the command line reports as one ``error: ...`` line, then exits 1."""


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line, as the command line reports every failure.

    A server's own words, which the message may quote, can span lines.
    """
    return " ".join(str(error).split())


def identifier(text: str) -> str:
    """An argparse type: a non-empty id, so that a blank one is a usage error."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an id cannot be empty")
    return text


def _attempts(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 (1: never retry)")
    return value


def add_api_options(
    parser: argparse.ArgumentParser,
    *,
    base_url_group: argparse._MutuallyExclusiveGroup | None = None,
) -> None:
    """Add ``--base-url`` and ``--max-attempts``, for commands that talk to the API.

    ``--base-url`` goes into ``base_url_group`` when given, for options it excludes.
    """
    (base_url_group or parser).add_argument(
        "--base-url",
        metavar="URL",
        help="the API's address (default: MISTRAL_BASE_URL, else https://api.mistral.ai)",
    )
    parser.add_argument(
        "--max-attempts",
        type=_attempts,
        metavar="N",
        help="attempts per request, the first included (default: 4; 1: never retry)",
    )


def api_client(args: argparse.Namespace, *, instead: str) -> Client:
    """A blocking client for the real API, or a CommandError saying how to get a key.

    The key is checked here rather than left to the client, whose message speaks of
    ``api_key=``, a Python argument a command-line user cannot pass. ``instead`` names
    what works without a key.
    """
    if not os.environ.get("MISTRAL_API_KEY"):
        raise CommandError(
            f"no API key: set the MISTRAL_API_KEY environment variable (create a key at "
            f"{_KEYS_PAGE}), or {instead}"
        )
    return Client(base_url=args.base_url, retry=retry(args))


def retry(args: argparse.Namespace) -> RetryPolicy | None:
    """The retry policy ``--max-attempts`` asks for; None for the library's default."""
    return RetryPolicy(max_attempts=args.max_attempts) if args.max_attempts else None
