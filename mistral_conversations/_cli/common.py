"""What the commands share: the API options, the client they make, their one error."""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING, TypeAlias

from .._retry import RetryPolicy
from .._sync import Client
from ..errors import ResponseDecodeError, UnprocessableEntityError

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    """What ``add_subparsers()`` returns, to which each command module adds its own."""

__all__ = [
    "CommandError",
    "add_api_options",
    "api_client",
    "describe",
    "identifier",
    "non_negative",
    "one_line",
    "positive",
    "retry",
]

_KEYS_PAGE = "https://console.mistral.ai/api-keys"


class CommandError(Exception):
    """A failure the command line reports as one ``error: ...`` line, then exits 1."""


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line, as the command line reports every failure.

    A server's own words, which the message may quote, can span lines.
    """
    return " ".join(str(error).split())


# The library's messages speak to Python code: keywords, attributes, classes. On the
# command line they become the flags and environment variables that do the same, or go
# where this command offers nothing of the kind. Applied in order.
_CLI_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern), replacement)
    for pattern, replacement in [
        (
            r"Check the API key: pass api_key=\S* or set MISTRAL_API_KEY\.",
            "Check the key in MISTRAL_API_KEY.",
        ),
        (r"pass api_key=\S*(?: to the client)? or ", ""),
        (r"\bbase_url\b", "--base-url (or MISTRAL_BASE_URL)"),
        (r"\(max_attempts=(\d+)\)", r"(--max-attempts \1)"),
        (r"\bmax_attempts=(\d+)", r"--max-attempts \1"),
        (r"longer than max_retry_after=([\d.]+)s", r"longer than the \1 s this command waits"),
        (r"past max_elapsed=([\d.]+)s", r"past the \1 s that retries may take"),
        (r";? ?\(?RetryPolicy\(retry_posts='all'\) sends it again anyway\)?", ""),
        (r",? or raise (?:Timeout|AsyncClient|Client)\([^)]*\)", ""),
        (r" ?Raise (?:Timeout|AsyncClient|Client)\([^)]*\)[^.]*\.", ""),
        (r"deadline, Timeout\(stream=([^)]*)\)", r"deadline of \1 s"),
        (r"\bmax_(?:body|event)_size\b", "the size limit"),
        (r"\ball max_connections connections\b", "all the connections"),
        (r"([Ww]hat arrived(?: before it)?) is in \.partial", r"\1 is shown above"),
        (r"e\.g\. reply\.conversation_id", "as 'mistral-conversations list' shows them"),
    ]
]


def describe(error: BaseException) -> str:
    """The message of ``error`` for the command line: one line, in its own terms.

    Where the library's message tells a Python user to pass a keyword or read an
    attribute, this says which flag or environment variable does it, or prints what the
    attribute holds.
    """
    text = one_line(error)
    for pattern, replacement in _CLI_WORDS:
        text = pattern.sub(replacement, text)
    # Last, so that the server's words put in are printed as they are.
    if isinstance(error, UnprocessableEntityError):
        found = [
            f"{'.'.join(str(part) for part in item.loc if part != 'body') or 'body'}: {item.msg}"
            for item in error.detail
        ]
        unsaid = [problem for problem in found if problem not in text]
        said = f": {'; '.join(unsaid)}." if unsaid else "."
        text = re.sub(r";? see \.detail\.?", lambda _: said, text)
    if isinstance(error, ResponseDecodeError):
        body = " ".join(error.body.split())
        shown = repr(body if len(body) <= 200 else body[:200] + "...")
        text = re.sub(r"The raw body is kept in \.body", lambda _: f"The body was {shown}", text)
    return text


def identifier(text: str) -> str:
    """An argparse type: a non-empty id, so that a blank one is a usage error."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an id cannot be empty")
    if not text.strip("."):
        # "." and ".." would move along the URL path instead of naming anything.
        raise argparse.ArgumentTypeError(f"{text!r} is not an id")
    return text


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def non_negative(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def positive(text: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _attempts(text: str) -> int:
    value = _whole(text)
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
