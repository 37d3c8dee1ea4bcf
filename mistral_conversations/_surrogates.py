"""Characters a server split in two: the UTF-16 halves of an emoji, in two deltas.

A server that escapes its JSON to ASCII writes a character beyond the first 65,536
(most emoji) as two escapes, ``"\\ud83d\\ude00"``; one that streams such a character
across two deltas sends ``"\\ud83d"`` in one and ``"\\ude00"`` in the next. Each is a
lone half, which orjson refuses to decode and no text encoding can write. The stream
decodes such an event with the standard library instead, and the text it hands on has
its halves joined back into characters.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["HalfJoiner", "loads_with_halves", "paired"]

_ESCAPED_HALF = re.compile(r"\\u[dD][89a-fA-F]")
_HALF = re.compile("[\ud800-\udfff]")


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def loads_with_halves(text: str) -> Any:
    """Decode JSON that escapes a lone UTF-16 half, which orjson refuses.

    Raises ValueError for text that is not JSON for any other reason, as orjson does.
    """
    if _ESCAPED_HALF.search(text) is None:
        raise ValueError("not JSON")
    return json.loads(text, parse_constant=_refuse)


def paired(text: str) -> str:
    """``text`` with each pair of halves joined into its character, and a half without
    its pair as U+FFFD; ``text`` itself if it holds no half."""
    if text.isascii() or _HALF.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class HalfJoiner:
    """Hands text pieces on with no half left in them: a piece that ends with a first
    half keeps it back for the next piece, which brings the second."""

    __slots__ = ("_half",)

    def __init__(self) -> None:
        self._half = ""

    def piece(self, text: str) -> str:
        """The next piece to hand on (maybe ``""``, if it was only a first half)."""
        if self._half:
            text, self._half = self._half + text, ""
        if text and "\ud800" <= text[-1] <= "\udbff":
            text, self._half = text[:-1], text[-1]
        return paired(text)

    def end(self) -> str:
        """What is left at the end: U+FFFD for a first half whose second never came."""
        half, self._half = self._half, ""
        return "\ufffd" if half else ""
