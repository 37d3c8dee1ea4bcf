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

A large chunk made of such common blocks (a client catching up on a fast stream) goes
faster still: its lines are found with ``memchr``, checked and turned into events by a
few C-level passes over lists, with no Python code run per event. Whatever does not fit
that shape exactly is read line by line as above, so that both give the same events.

Memory is bounded by what events need: comment lines are never kept (one that has not
ended yet is remembered as a flag, not as text), and with ``max_event_size`` an event
that grows past it raises :class:`EventTooLarge` as soon as it does, before more of it
is joined or kept.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import itertools
import operator
import re
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["EventTooLarge", "SSEDecoder", "ServerSentEvent"]


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
# The same 5-tuples, every line alone: used for text in which an event may outgrow
# max_event_size, since a common block taken whole would go by unmeasured.
_scan_lines = re.compile(r"()()()()(.*)\n").findall
# Finds the "\n" before the first line that is not a comment (a blank line is not one).
_line_not_comment = re.compile(r"\n[^:]").search
_utf8_decode = codecs.utf_8_decode
_tuple_new = tuple.__new__

# Chunks of common blocks this long or longer are read by SSEDecoder._feed_blocks: below,
# its fixed cost (the line-by-line reading of the block under way and of the chunk's end,
# apart) outweighs what it saves.
_BLOCKS_MIN_CHUNK = 8192
# How far from each end of such a chunk its complete blocks' bounds are looked for. Less
# than half the above, so that those blocks are most of the chunk.
_BLOCKS_SEARCH = 2048
# After a chunk that is not made of common blocks, this many chunks are read line by line
# without looking: a stream of another shape does not pay for the check but once in a while.
_BLOCKS_BACKOFF = 8
# Strict: text that is not valid UTF-8 is left to the line-by-line reading's "replace".
_decode_strict = bytes.decode
_data_value = operator.itemgetter(slice(6, -1))  # of a "data: D\n" line


def _event_type(line: bytes) -> str:
    """The event type that an ``event: E\n`` line sets."""
    return line[7:-1].decode() or "message"


_EXCERPT_CHARS = 200
# Of a long block, pending keeps the lines that start within its first this many
# characters: enough to show, without a second copy of a large event.
_PENDING_CHARS = 1024


class EventTooLarge(ValueError):
    """An event of the stream grew past the decoder's ``max_event_size``.

    ``limit`` is that maximum, in characters; ``size`` is the size the event had reached
    when this was noticed (more than ``limit``: its non-comment lines so far, line ends
    included, and the start of the line not ended yet); ``excerpt`` is its first 200
    characters at most. ``events`` holds the events that the same :meth:`SSEDecoder.feed`
    call completed before it, which it could not return. The decoder is closed.
    """

    def __init__(
        self, limit: int, size: int, excerpt: str, events: list[ServerSentEvent] | None = None
    ) -> None:
        super().__init__(f"an event exceeded {limit:,} characters (max_event_size) before it ended")
        self.limit = limit
        self.size = size
        self.excerpt = excerpt
        self.events: list[ServerSentEvent] = events if events is not None else []

    def __reduce__(self) -> tuple[Any, ...]:
        # The default would call __init__ with the message alone.
        return type(self), (self.limit, self.size, self.excerpt, self.events)


def _first_chars(pieces: Iterable[str], count: int) -> str:
    """The first ``count`` characters of the pieces joined, without joining them all."""
    out: list[str] = []
    for piece in pieces:
        out.append(piece[:count])
        count -= len(piece)
        if count <= 0:
            break
    return "".join(out)


def _with_line_ends(lines: list[str]) -> Iterable[str]:
    return itertools.chain.from_iterable(zip(lines, itertools.repeat("\n")))


class SSEDecoder:
    """Incremental WHATWG event-stream decoder: bytes in, events out.

    Call :meth:`feed` with each chunk as it arrives and :meth:`close` at the end of the
    stream. A block that the stream did not terminate with a blank line is discarded, as
    the standard requires; :attr:`pending` then tells what was left, so that the caller
    can report a truncated stream.

    ``max_event_size`` (characters, ``None`` for no limit) bounds the event being read:
    its non-comment lines, line ends included, and the line not ended yet. Past it,
    :meth:`feed` raises :class:`EventTooLarge` and the decoder is closed. Comments never
    count, nor are they kept: a stream of keep-alive comments costs no memory.
    """

    __slots__ = (
        "_block",
        "_blocks_backoff",
        "_bom_checked",
        "_closed",
        "_data",
        "_event_type",
        "_in_comment",
        "_last_id",
        "_limit",
        "_max_event_size",
        "_retry",
        "_size",
        "_skip_lf",
        "_tail",
        "_tail_size",
        "_undecoded",
    )

    def __init__(self, max_event_size: int | None = None) -> None:
        if max_event_size is not None and max_event_size < 1:
            raise ValueError(f"max_event_size must be at least 1 or None, not {max_event_size}")
        self._max_event_size = max_event_size
        # An int either way, so that the checks compare ints only.
        self._limit = sys.maxsize if max_event_size is None else max_event_size
        # The bytes of a UTF-8 sequence that the last chunk left incomplete (at most 3).
        self._undecoded = b""
        self._bom_checked = False
        self._closed = False
        # A chunk ended with "\r": a "\n" at the start of the next text is part of that CRLF.
        self._skip_lf = False
        # The current line, not yet ended, in the pieces it arrived in, and their length;
        # empty if that line is a comment, which only _in_comment remembers.
        self._tail: list[str] = []
        self._tail_size = 0
        self._in_comment = False
        # The first complete non-comment lines of the current block (see _PENDING_CHARS),
        # and the size of all of them, line ends included.
        self._block: list[str] = []
        self._size = 0
        # The block's fields so far ("" event type means "message").
        self._data: list[str] = []
        self._event_type = ""
        self._retry: int | None = None
        # The last event id buffer persists across blocks; "" is stored as None.
        self._last_id: str | None = None
        # Chunks still to read line by line before _feed_blocks is tried again.
        self._blocks_backoff = 0

    @property
    def max_event_size(self) -> int | None:
        """The most characters an event may have, ``None`` if unlimited."""
        return self._max_event_size

    @property
    def pending(self) -> str:
        """Text received but not yet part of a dispatched event.

        That is the lines since the last blank line (line ends shown as ``"\\n"``, comment
        lines left out since they never belong to an event), then the unterminated last
        line if any. Empty when the stream stopped right after a complete block. Of a
        block longer than 1,024 characters only the first lines are kept: then this is
        the start of that text, at least 1,024 characters of it. After
        :class:`EventTooLarge` it is the excerpt of the event that was too large.
        """
        text = "".join([line + "\n" for line in self._block])
        if len(text) < self._size:
            return text
        return text + "".join(self._tail)

    @property
    def last_event_id(self) -> str | None:
        """The last event id buffer (what a reconnection would send), ``None`` if empty."""
        return self._last_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next chunk of the stream and return the events it completed.

        Raises :class:`EventTooLarge` if an event grows past ``max_event_size``.
        """
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() called after close() or EventTooLarge")
        # The fast path: a bytes chunk of _BLOCKS_MIN_CHUNK or more, without "\r", whose
        # complete blocks are all "event: E\ndata: D\n\n" or all "data: D\n\n" (valid
        # UTF-8, none past max_event_size). Anything else goes line by line, as do other
        # buffers than bytes (a memoryview has no rfind).
        if len(chunk) >= _BLOCKS_MIN_CHUNK and isinstance(chunk, bytes):
            fast = self._feed_blocks(chunk)
            if fast is not None:
                return fast
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

        limit = self._limit
        size = self._size
        end = text.rfind("\n") + 1
        if not end:
            # The text only extends the unterminated line.
            if self._in_comment:
                return []
            tail = self._tail
            if not tail and text[0] == ":":
                self._in_comment = True
                return []
            tail.append(text)
            self._tail_size += len(text)
            if size + self._tail_size > limit:
                raise self._too_large(size + self._tail_size, [], self._block, tail)
            return []
        start = 0
        if self._in_comment:
            # The comment ends in this text: skip it, nothing of it was kept.
            self._in_comment = False
            start = text.find("\n") + 1
        elif self._tail:
            tail = self._tail
            if size + self._tail_size + end > limit:
                # Measured before the join, which could be the last straw.
                first = text.find("\n") + 1
                if size + self._tail_size + first > limit:
                    pieces = [*tail, text[: min(first, _EXCERPT_CHARS)]]
                    raise self._too_large(size + self._tail_size + first, [], self._block, pieces)
            # The line begun in earlier chunks ends in this one: join its pieces, once.
            tail.append(text)
            text = "".join(tail)
            end += self._tail_size

        if start < end and text[start] == ":":
            # The text starts with comments, perhaps nothing else (keep-alives): skip them
            # at C speed, since the loop below spends ~0.5 us on each line. Every "\n" but
            # the last one is followed by a line; all are comments if all follow a ":".
            if text.count("\n", start, end) == text.count("\n:", start, end) + 1:
                start = end
            else:
                found = _line_not_comment(text, start, end)
                start = found.start() + 1 if found else end

        events: list[ServerSentEvent] = []
        emit = events.append
        new = _tuple_new  # NamedTuple's own __new__ does this, one Python call slower
        sse = ServerSentEvent
        data = self._data
        event_type = self._event_type
        retry = self._retry
        last_id = self._last_id
        block = self._block
        # Unless an event could outgrow the limit in this text, no line needs measuring:
        # every common block is taken whole, and only the other lines are counted.
        scan = _scan if size + end - start <= limit else _scan_lines
        for event_field, has_event, data_field, is_block, line in scan(text, start, end):
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
                if size:
                    block = []
                    size = 0
            elif not line:
                if data:
                    emit(new(sse, (event_type or "message", "\n".join(data), last_id, retry)))
                    data = []
                event_type = ""
                retry = None
                if size:
                    block = []
                    size = 0
            else:
                name, colon, value = line.partition(":")
                if not name:
                    continue  # a comment: neither kept nor counted
                if size < _PENDING_CHARS:
                    block.append(line)
                size += len(line) + 1
                if size > limit:
                    raise self._too_large(size, events, block, ())
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
                # Any other field is ignored.

        self._data = data
        self._event_type = event_type
        self._retry = retry
        self._last_id = last_id
        self._block = block
        self._size = size
        if end == len(text):
            self._tail = []
            self._tail_size = 0
        elif text[end] == ":":
            self._tail = []
            self._tail_size = 0
            self._in_comment = True
        else:
            rest = text[end:]
            self._tail = [rest]
            self._tail_size = len(rest)
            if size + len(rest) > limit:
                raise self._too_large(size + len(rest), events, block, (rest,))
        return events

    def _feed_blocks(self, chunk: bytes) -> list[ServerSentEvent] | None:
        """The events of ``chunk`` if it holds a run of common blocks, else None.

        The run goes through _read_blocks; the block under way before it and the text
        after it, shorter than _BLOCKS_MIN_CHUNK, through feed() again, line by line.
        None means that nothing was done: the whole chunk is for the line-by-line
        reading, and so are the next _BLOCKS_BACKOFF chunks.
        """
        if self._blocks_backoff:
            self._blocks_backoff -= 1
            return None
        start, end = self._blocks_span(chunk) if b"\r" not in chunk else (0, 0)
        blocks = self._read_blocks(chunk, start, end) if start < end else None
        if blocks is None:
            self._blocks_backoff = _BLOCKS_BACKOFF
            return None
        events = self.feed(chunk[:start]) if start else []
        event_types, data = blocks
        # Read after the block under way, whose "id" field may have changed it.
        fields = zip(event_types, data, itertools.repeat(self._last_id), itertools.repeat(None))
        events += map(_tuple_new, itertools.repeat(ServerSentEvent), fields)
        if end < len(chunk):
            try:
                events += self.feed(chunk[end:])
            except EventTooLarge as exc:
                exc.events[:0] = events
                raise
        return events

    def _blocks_span(self, chunk: bytes) -> tuple[int, int]:
        """Where the complete blocks of ``chunk`` start and end: after the block under
        way if any, up to the last blank line. ``(0, 0)`` if there are none.

        Any "\n\n" ends a blank line (the chunk holds no "\r"), after which no block,
        line or comment is under way. Only the last few KiB of the chunk are searched for
        the last one, and the first few for the first: blocks any longer are not the
        short ones that _feed_blocks is for, and the search costs little either way.
        """
        end = chunk.rfind(b"\n\n", max(0, len(chunk) - _BLOCKS_SEARCH)) + 2
        if end < 2:
            return 0, 0
        if not (
            self._size
            or self._tail
            or self._in_comment
            or self._undecoded
            or self._skip_lf
            or not self._bom_checked
        ):
            return 0, end
        start = chunk.find(b"\n\n", 0, _BLOCKS_SEARCH) + 2
        return (start, end) if start >= 2 else (0, 0)

    def _read_blocks(
        self, chunk: bytes, start: int, end: int
    ) -> tuple[Iterable[str], list[str]] | None:
        """The event types and data of ``chunk[start:end]`` if it is a run of common
        blocks, else None.

        That text starts where the state is clean, holds no "\r", ends with a blank
        line. It qualifies if every one of its blocks is ``event: E\ndata: D\n\n``, or
        every one is ``data: D\n\n``: those literal prefixes (one space each), valid UTF-8,
        and no block that could outgrow max_event_size. The line-by-line reading would
        give events of exactly these types and data (no id field changes last_id, no
        retry field is set) and leave the state clean again. Any other text (comments,
        id, retry, several data lines, "data:D", ...) is left to it.
        """
        # The lines of the text, each with its "\n": BytesIO finds them with memchr,
        # several times faster than bytes.split does, and shares the chunk's memory.
        reader = io.BytesIO(chunk)
        reader.seek(start)
        lines = reader.readlines(end - start)
        if chunk.startswith(b"event: ", start):
            per_block = 3
            event_lines = lines[0::3]
        elif chunk.startswith(b"data: ", start):
            per_block = 2
            event_lines = []
        else:
            return None
        # Every per_block-th line blank. If the count is not a multiple, the last line (a
        # blank one) is among the event or data lines, and fails their check below.
        blanks = lines[per_block - 1 :: per_block]
        if blanks.count(b"\n") != len(blanks):
            return None
        data_lines = lines[per_block - 2 :: per_block]
        # All lines start with "data: " if they all sort between "data: " and "data:!".
        if min(data_lines) < b"data: " or max(data_lines) >= b"data:!":
            return None
        if end - start > self._limit:
            # An event's size counts characters, each at least a byte: a block of no more
            # bytes than the limit is within it. Blocks past it are left to be measured.
            sizes = map(len, data_lines)
            if event_lines:
                sizes = map(operator.add, sizes, map(len, event_lines))
            if max(sizes) > self._limit:
                return None
        try:
            data = list(map(_decode_strict, map(_data_value, data_lines)))
            if not event_lines:
                event_types: Iterable[str] = itertools.repeat("message")
            elif event_lines.count(event_lines[0]) == len(event_lines):
                # One type throughout, the common case: one str shared by all its events.
                event_types = itertools.repeat(_event_type(event_lines[0]))
            else:
                kinds = set(event_lines)
                if min(kinds) < b"event: " or max(kinds) >= b"event:!":
                    return None
                by_line = {line: _event_type(line) for line in kinds}
                event_types = map(by_line.__getitem__, event_lines)
        except UnicodeDecodeError:
            return None
        return event_types, data

    def _too_large(
        self, size: int, events: list[ServerSentEvent], block: list[str], rest: Iterable[str]
    ) -> EventTooLarge:
        """Close the decoder, letting go of the event's text; the error to raise."""
        excerpt = _first_chars(itertools.chain(_with_line_ends(block), rest), _EXCERPT_CHARS)
        self._closed = True
        self._undecoded = b""
        self._data = []
        self._block = []
        self._size = 0
        self._tail = [excerpt]
        self._tail_size = len(excerpt)
        self._in_comment = False
        return EventTooLarge(self._limit, size, excerpt, events)

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
                if not self._in_comment:
                    self._tail.append(_utf8_decode(self._undecoded, "replace", True)[0])
                self._undecoded = b""
        return []
