"""An incremental decoder of the ``text/event-stream`` format (Server-Sent Events).

It follows the WHATWG "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
bytes go in, in chunks split anywhere, and complete events come out. It knows nothing of
HTTP, JSON or models.

The work is linear in the bytes fed: each chunk is decoded once and scanned once by a
regular expression that takes the common block ``event: E\ndata: D\n\n`` in one match
and any other line alone. Only the unterminated last line of a chunk is carried over, as
a list of pieces joined once, with the next chunk that ends it. Carriage returns cost an
extra pass, only over the chunks that hold one.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import sys
from typing import NamedTuple

__all__ = ["SSEDecoder", "ServerSentEvent"]


class ServerSentEvent(NamedTuple):
    """One dispatched event of a Server-Sent Events stream.

    ``event`` is the event type, ``"message"`` when the block named none. ``data`` is the
    block's ``data`` lines joined with ``"\\n"``. ``id`` is the stream's last event id at
    dispatch time: it persists across events until an ``id`` field changes it, and is
    ``None`` while it is empty (never set, or reset by an empty ``id`` field). ``retry``
    is the reconnection time in milliseconds if this event's block set one, else ``None``.
    """

    event: str
    data: str
    id: str | None
    retry: int | None


_BOM = "\ufeff"

# The scanner tiles text made of whole "\n"-ended lines; each match gives a 5-tuple:
# either a common block "[event: E\n]data: D\n\n" as (E, "\n" if the event line is there,
# D, "\n", "") or any single line L as ("", "", "", "", L). The optional space after the
# colon is part of the syntax. "." matches anything but "\n" ("\r" is gone by then).
_COMMON_BLOCK = r"(?:event: ?(.*)(\n))?data: ?(.*)(\n)"
_ANY_LINE = r"(.*)\n"
if sys.version_info >= (3, 11):
    # Atomic, so that a data line not followed by a blank line fails at once instead of
    # backtracking through it. Every match of the group at a given place ends at the same
    # place, so this changes nothing else.
    _scan = re.compile(rf"(?>{_COMMON_BLOCK})\n|{_ANY_LINE}").findall
else:  # pragma: no cover
    _scan = re.compile(rf"{_COMMON_BLOCK}\n|{_ANY_LINE}").findall
_utf8_decode = codecs.utf_8_decode
_tuple_new = tuple.__new__


class SSEDecoder:
    """Incremental WHATWG event-stream decoder: bytes in, events out.

    Call :meth:`feed` with each chunk as it arrives and :meth:`close` at the end of the
    stream. A block that the stream did not terminate with a blank line is discarded, as
    the standard requires; :attr:`pending` then tells what was left, so that the caller
    can report a truncated stream.
    """

    __slots__ = (
        "_block",
        "_bom_checked",
        "_closed",
        "_data",
        "_event_type",
        "_last_id",
        "_retry",
        "_skip_lf",
        "_tail",
        "_undecoded",
    )

    def __init__(self) -> None:
        # The bytes of a UTF-8 sequence that the last chunk left incomplete (at most 3).
        self._undecoded = b""
        self._bom_checked = False
        self._closed = False
        # A chunk ended with "\r": a "\n" at the start of the next text is part of that CRLF.
        self._skip_lf = False
        # The current line, not yet ended, in the pieces it arrived in.
        self._tail: list[str] = []
        # The complete lines of the current block (since the last blank line).
        self._block: list[str] = []
        # The block's fields so far ("" event type means "message").
        self._data: list[str] = []
        self._event_type = ""
        self._retry: int | None = None
        # The last event id buffer persists across blocks; "" is stored as None.
        self._last_id: str | None = None

    @property
    def pending(self) -> str:
        """Text received but not yet part of a dispatched event.

        That is the lines since the last blank line (line ends shown as ``"\\n"``, comment
        lines left out since they never belong to an event), then the unterminated last
        line if any. Empty when the stream stopped right after a complete block.
        """
        lines = [line + "\n" for line in self._block if not line.startswith(":")]
        lines.extend(self._tail)
        return "".join(lines)

    @property
    def last_event_id(self) -> str | None:
        """The last event id buffer (what a reconnection would send), ``None`` if empty."""
        return self._last_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next chunk of the stream and return the events it completed."""
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() called after close()")
        if self._undecoded:
            chunk = self._undecoded + chunk
        # The codec's incremental mode: an incomplete sequence at the end waits for more.
        text, used = _utf8_decode(chunk, "replace", False)
        self._undecoded = chunk[used:]
        if not text:
            return []
        if not self._bom_checked:
            self._bom_checked = True
            if text[0] == _BOM:
                text = text[1:]
                if not text:
                    return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            # A "\r" ending the text ends a line; a "\n" starting the next text belongs to it.
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")

        end = text.rfind("\n") + 1
        if not end:
            self._tail.append(text)
            return []
        if self._tail:
            # The line begun in earlier chunks ends in this one: join its pieces, once.
            self._tail.append(text)
            text = "".join(self._tail)
            end = text.rfind("\n") + 1
        self._tail = [text[end:]] if end < len(text) else []

        events: list[ServerSentEvent] = []
        emit = events.append
        new = _tuple_new  # NamedTuple's own __new__ does this, one Python call slower
        sse = ServerSentEvent
        data = self._data
        event_type = self._event_type
        retry = self._retry
        last_id = self._last_id
        block = self._block
        for event_field, has_event, data_field, is_block, line in _scan(text, 0, end):
            if is_block:
                # "[event: E\n]data: D\n\n": the same as those lines one by one.
                if has_event:
                    event_type = event_field
                if data:
                    data.append(data_field)
                    data_field = "\n".join(data)
                    data = []
                emit(new(sse, (event_type or "message", data_field, last_id, retry)))
                event_type = ""
                retry = None
                if block:
                    block = []
            elif not line:
                if data:
                    emit(new(sse, (event_type or "message", "\n".join(data), last_id, retry)))
                    data = []
                event_type = ""
                retry = None
                if block:
                    block = []
            else:
                block.append(line)
                name, colon, value = line.partition(":")
                if colon and value[:1] == " ":
                    value = value[1:]
                if name == "data":
                    data.append(value)
                elif name == "event":
                    event_type = value
                elif name == "id":
                    if "\0" not in value:
                        last_id = value or None
                elif name == "retry" and value.isdigit() and value.isascii():
                    # Past 4300 digits int() refuses; such a delay is ignored.
                    with contextlib.suppress(ValueError):
                        retry = int(value)
                # Any other field, and comments (an empty field name), are ignored.

        self._data = data
        self._event_type = event_type
        self._retry = retry
        self._last_id = last_id
        self._block = block
        return events

    def close(self) -> list[ServerSentEvent]:
        """End the stream.

        Returns the events it completed, which is always none: an unterminated block is
        discarded (see :attr:`pending`). Calling it again does nothing.
        """
        if not self._closed:
            self._closed = True
            # What an incomplete UTF-8 sequence at the very end becomes: U+FFFD, never a
            # line end nor a BOM, so it only extends the unterminated line.
            if self._undecoded:
                self._tail.append(_utf8_decode(self._undecoded, "replace", True)[0])
                self._undecoded = b""
        return []
