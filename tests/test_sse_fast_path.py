"""The fast path of SSEDecoder (runs of common blocks read at once) changes nothing.

ReferenceDecoder below is the decoder as it was before that path existed, copied
verbatim, line-by-line reading only. For any bytes, split anywhere, with or without a
max_event_size, SSEDecoder must return the same events from every feed() call, have the
same pending text and last event id after it, raise the same EventTooLarge at the same
call, and return the same from close(). The thresholds that decide when the fast path is
tried are drawn too, down to "always", so that short generated streams go through it.
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mistral_conversations import _sse
from mistral_conversations._sse import EventTooLarge, ServerSentEvent, SSEDecoder

# -- the reference: the decoder before the fast path, verbatim ---------------------------

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

_EXCERPT_CHARS = 200
# Of a long block, pending keeps the lines that start within its first this many
# characters: enough to show, without a second copy of a large event.
_PENDING_CHARS = 1024


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


class ReferenceDecoder:
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


# -- comparing the two ----------------------------------------------------------------


def _typed(events: Iterable[ServerSentEvent]) -> list[tuple[Any, ...]]:
    """The events with their exact class: equal tuples of another class would not do."""
    return [(type(event), *event) for event in events]


def _outcomes(decoder: SSEDecoder | ReferenceDecoder, chunks: Iterable[bytes]) -> list[Any]:
    """All a caller can see: max_event_size; what each feed() returned or raised, and
    pending and the last event id after it; what close() returned, twice, and after."""
    seen: list[Any] = [decoder.max_event_size]
    for chunk in chunks:
        try:
            events = decoder.feed(chunk)
        except EventTooLarge as exc:
            seen.append(
                ("too large", exc.limit, exc.size, exc.excerpt, _typed(exc.events), str(exc))
            )
            seen.append(decoder.pending)
            with pytest.raises(RuntimeError, match="after close"):
                decoder.feed(b"data: x\n\n")
            break
        seen.append((_typed(events), decoder.pending, decoder.last_event_id))
    seen.append((decoder.close(), decoder.pending, decoder.last_event_id, decoder.close()))
    return seen


def assert_same(chunks: Sequence[bytes], max_event_size: int | None = None) -> None:
    expected = _outcomes(ReferenceDecoder(max_event_size), chunks)
    assert _outcomes(SSEDecoder(max_event_size), chunks) == expected


@contextlib.contextmanager
def thresholds(min_chunk: int, search: int, backoff: int) -> Iterator[None]:
    """When the fast path is tried: from chunks of min_chunk bytes, with its bounds looked
    for that far from the chunk's ends, and backoff chunks skipped after a miss."""
    with mock.patch.multiple(
        _sse, _BLOCKS_MIN_CHUNK=min_chunk, _BLOCKS_SEARCH=search, _BLOCKS_BACKOFF=backoff
    ):
        yield


@contextlib.contextmanager
def fast_runs() -> Iterator[list[int]]:
    """Counts the runs of blocks that the fast path took (in a one-item list)."""
    taken = [0]
    read = SSEDecoder._read_blocks

    def counting(
        self: SSEDecoder, chunk: bytes, start: int, end: int
    ) -> tuple[Iterable[str], list[str]] | None:
        blocks = read(self, chunk, start, end)
        taken[0] += blocks is not None
        return blocks

    with mock.patch.object(SSEDecoder, "_read_blocks", counting):
        yield taken


# -- generated streams ------------------------------------------------------------------

# Text without line ends: JSON-ish characters mostly, and the ones that matter to SSE or
# UTF-8 (multi-byte, NUL, BOM, separators that are not line ends).
_TEXT = st.text(
    st.one_of(
        st.sampled_from(list('abc {}":,0')),
        st.sampled_from(["é", "€", "😀", "\u2028", "\x85", "\x00", "\ufeff", ":", " "]),
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
    ),
    max_size=10,
).map(str.encode)
# What the line-by-line reading replaces with U+FFFD, or a BOM where it is not dropped.
_ODD_BYTES = st.sampled_from([b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xef\xbb\xbf"])
_ODD_TEXT = st.builds(lambda a, odd, b: a + odd + b, _TEXT, _ODD_BYTES, _TEXT)
# Long lines, for max_event_size: characters of one to four bytes.
_LONG_TEXT = st.builds(
    bytes.__mul__,
    st.sampled_from([b"x", "\xe9".encode(), "\U0001f600".encode()]),
    st.integers(1, 400),
)
_TYPE = st.one_of(
    st.sampled_from([b"message.output.delta", b"conversation.response.done", b"", b" x"]),
    _TEXT,
)


def _common(event_type: bytes | None, data: bytes) -> bytes:
    if event_type is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event_type + b"\ndata: " + data + b"\n\n"


# Lines and blocks that are not a common block, each of which the fast path must leave
# to the line-by-line reading.
_OTHER = st.one_of(
    st.sampled_from(
        [
            b": keep-alive\n",
            b":\n",
            b"\n",
            b"id: 7\n",
            b"id\n",
            b"id: a\x00b\n",
            b"retry: 1500\n",
            b"retry: x\n",
            b"data\n\n",
            b"event\n",
            b"Data: x\n\n",
            b"x-unknown: y\n",
            b"data: a\ndata: b\n\n",
            b"data: a\rb\n\n",
            "\ufeffdata: x\n\n".encode(),
        ]
    ),
    # A common block but for its blank line, or for its start: after a ":", or after
    # bytes that decode together with the previous ones (a UTF-8 sequence's start).
    st.builds(
        lambda t, v, line: _common(t, v)[:-1] + line,
        st.none() | _TYPE,
        _TEXT,
        st.sampled_from([b"id: 1\n", b"retry: 5\n", b": c\n", b"data: z\n", b"x\n"]),
    ),
    st.builds(lambda t, v: b":" + _common(t, v), st.none() | _TYPE, _TEXT),
    st.builds(
        lambda odd, t, v: odd + _common(t, v),
        st.sampled_from([b"\xc3", b"\xe2\x82", b"\xf0\x9f"]),
        st.none() | _TYPE,
        _TEXT,
    ),
    # A line end within a common block's data or event type.
    st.builds(
        lambda t, v, end, w: _common(t, v + end + w),
        st.none() | _TYPE,
        _TEXT,
        st.sampled_from([b"\r", b"\r\n"]),
        _TEXT,
    ),
    st.builds(lambda t, w: _common(b"x\r" + t, w), _TEXT, _TEXT),
    st.builds(lambda v: b"data:" + v + b"\n\n", _TEXT),
    st.builds(lambda v: b"data:  " + v + b"\n\n", _TEXT),
    st.builds(lambda t, v: b"event:" + t + b"\ndata: " + v + b"\n\n", _TYPE, _TEXT),
    st.builds(lambda v: b"id: " + v + b"\n", _TEXT | _ODD_TEXT),
    st.builds(_common, st.none() | _TYPE, _ODD_TEXT),
    st.builds(_common, _ODD_TEXT, _TEXT),
    st.builds(
        lambda t, v, end: _common(t, v).replace(b"\n", end),
        st.none() | _TYPE,
        _TEXT,
        st.sampled_from([b"\r", b"\r\n"]),
    ),
)


@st.composite
def sse_streams(draw: st.DrawFn, ends: bool = True) -> bytes:
    """Common blocks, all with an event line (of one type mostly) or all without, or
    mixed; a few other lines and blocks among them, often none; with ``ends``, perhaps a
    BOM first and an unfinished block last."""
    main_type = draw(_TYPE)
    event_types = draw(
        st.sampled_from(
            [
                st.just(main_type),  # one type
                st.just(main_type),
                st.just(main_type) | _TYPE,  # several
                st.none(),  # no event lines
                st.none(),
                st.just(main_type) | st.none(),  # some blocks with, some without
            ]
        )
    )
    common = st.builds(_common, event_types, _TEXT | _TEXT | _LONG_TEXT)
    blocks = draw(st.lists(common, min_size=3, max_size=40))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 3]))):
        blocks.insert(draw(st.integers(0, len(blocks))), draw(_OTHER))
    raw = b"".join(blocks)
    if ends and draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    if ends and draw(st.booleans()):
        last = draw(common)
        raw += last[: draw(st.integers(0, len(last)))]
    return raw


def _split(data: st.DataObject, raw: bytes) -> list[bytes]:
    """Whole, byte by byte, or cut in a few places (chunks of several blocks) or many."""
    how = data.draw(st.sampled_from(["whole", "few cuts", "few cuts", "many cuts", "bytes"]))
    if how == "whole":
        return [raw]
    if how == "bytes":
        return [raw[i : i + 1] for i in range(len(raw))]
    cuts = st.lists(st.integers(0, len(raw)), max_size=3 if how == "few cuts" else 30)
    ends = sorted(data.draw(cuts))
    return [raw[a:b] for a, b in zip([0, *ends], [*ends, len(raw)], strict=True)]


# Mostly "always tried, bounds looked for anywhere"; the defaults too.
_THRESHOLDS = st.tuples(
    st.sampled_from([1, 1, 1, 1, 40, _sse._BLOCKS_MIN_CHUNK]),
    st.sampled_from([sys.maxsize, sys.maxsize, sys.maxsize, 3, 64, _sse._BLOCKS_SEARCH]),
    st.sampled_from([0, 0, 0, 1, _sse._BLOCKS_BACKOFF]),
)
# None mostly; else around the size of a generated block, or of many.
_LIMITS = st.one_of(st.none(), st.none(), st.none(), st.integers(1, 120), st.integers(100, 3000))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), sse_streams(), _LIMITS, _THRESHOLDS)
def test_sse_shaped_streams_decode_as_the_reference_does(
    data: st.DataObject, raw: bytes, limit: int | None, when: tuple[int, int, int]
) -> None:
    with thresholds(*when), fast_runs() as taken:
        assert_same(_split(data, raw), limit)
    event(f"runs taken: {min(taken[0], 3)}")


_PIECES = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"data",
    b"event",
    b"id",
    b"retry",
    b":",
    b" ",
    b"x",
    b"12",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xe2\x82",
    b"\xac",
    b"\xff",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"data: ",
    b"event: ",
    b"event: e\ndata: d\n\n",
    b"event: e\ndata: d\n\n",
    b"event: f\ndata: \xc3\xa9\n\n",
    b"data: d\n\n",
    b"data: d\n\n",
    b"data: \n\n",
    b"event: \ndata: d\n\n",
]


@settings(max_examples=500, deadline=None)
@given(st.data(), st.lists(st.sampled_from(_PIECES), max_size=60).map(b"".join), _LIMITS)
def test_arbitrary_bytes_decode_as_the_reference_does(
    data: st.DataObject, raw: bytes, limit: int | None
) -> None:
    with thresholds(1, sys.maxsize, data.draw(st.sampled_from([0, 1]))), fast_runs() as taken:
        assert_same(_split(data, raw), limit)
    event(f"runs taken: {min(taken[0], 3)}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), sse_streams(ends=False), _LIMITS, st.sampled_from([0, _sse._BLOCKS_BACKOFF]))
def test_generated_streams_in_large_chunks_decode_as_the_reference_does(
    data: st.DataObject, raw: bytes, limit: int | None, backoff: int
) -> None:
    """At the default thresholds (but the backoff): the stream, repeated to some 40 KB,
    cut in a few places."""
    raw *= 40_000 // (len(raw) + 1) + 1
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    with thresholds(_sse._BLOCKS_MIN_CHUNK, _sse._BLOCKS_SEARCH, backoff), fast_runs() as taken:
        assert_same(chunks, limit)
    event(f"runs taken: {min(taken[0], 3)}")


# -- large chunks, default thresholds ---------------------------------------------------

_TOKENS = ["Le", " fromage", " est", " délicieux", " 🧀", ' "Comté"', "\\n", " €", ""]


def _delta(i: int) -> bytes:
    body = {
        "type": "message.output.delta",
        "created_at": f"2025-06-01T12:00:00.{i:06d}Z",
        "output_index": 0,
        "content": _TOKENS[i % len(_TOKENS)],
    }
    data = json.dumps(body, ensure_ascii=False).encode()
    return b"event: message.output.delta\ndata: " + data + b"\n\n"


def _stream(count: int) -> bytes:
    started = b'event: conversation.response.started\ndata: {"type": "started"}\n\n'
    done = b'event: conversation.response.done\ndata: {"type": "done"}\n\n'
    return started + b"".join(_delta(i) for i in range(count)) + done


def _chunks(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


@pytest.mark.parametrize("size", [8192, 10_000, 65_536, 1 << 20])
def test_a_long_stream_in_large_chunks_takes_the_fast_path(size: int) -> None:
    raw = _stream(3000)
    with fast_runs() as taken:
        assert_same(_chunks(raw, size))
        events = SSEDecoder().feed(raw)
    assert taken[0] > 0
    assert len(events) == 3002
    data = _delta(1).partition(b"data: ")[2][:-2].decode()
    assert events[2] == ServerSentEvent("message.output.delta", data, None, None)


def _run(count: int, middle: bytes = b"") -> bytes:
    """count common blocks, with middle among them."""
    half = count // 2
    return b"".join(map(_delta, range(half))) + middle + b"".join(map(_delta, range(half, count)))


@pytest.mark.parametrize(
    "middle",
    [
        b": keep-alive\n",
        b"\n",
        b"id: 42\n",
        b"retry: 10\n",
        b"event: x\nid: 1\ndata: y\n\n",
        b"data: a\ndata: b\n\n",
        b"data:no space\n\n",
        b"event:no space\ndata: x\n\n",
        b"data: x\n\n",  # no event line, among blocks that have one
        b"event: x\ndata: bad \xff utf-8\n\n",
        b"event: bad \xe2\x82\ndata: x\n\n",
        b"event: x\ndata: surrogate \xed\xa0\x80\n\n",
        b"event: x\r\ndata: y\r\n\r\n",
        b"data: carriage\rreturn\n\n",
        b"event: x\ndata: carriage\rreturn\n\n",
        b"event: x\rid: 1\ndata: y\n\n",
        b"\xef\xbb\xbfdata: x\n\n",
    ],
)
def test_a_chunk_with_any_other_line_is_read_line_by_line(middle: bytes) -> None:
    raw = _run(300, middle)
    with fast_runs() as taken:
        assert_same([raw])
    assert taken[0] == 0
    with fast_runs() as taken:
        assert_same(_chunks(raw, 8192))
    assert taken[0] > 0  # the chunks before it


def test_types_may_vary_within_a_run() -> None:
    raw = b"".join(_common(t, b"%d" % i) for i, t in enumerate([b"a", b"b", b"", b"a"] * 800))
    with fast_runs() as taken:
        assert_same([raw])
        events = SSEDecoder().feed(raw)
    assert taken[0] == 2
    assert events[:4] == [
        ServerSentEvent("a", "0", None, None),
        ServerSentEvent("b", "1", None, None),
        ServerSentEvent("message", "2", None, None),
        ServerSentEvent("a", "3", None, None),
    ]


def test_blocks_without_an_event_line() -> None:
    raw = b"".join(_common(None, b"%d" % i) for i in range(3000))
    with fast_runs() as taken:
        assert_same(_chunks(raw, 9000))
        events = SSEDecoder().feed(raw)
    assert taken[0] > 1
    assert events[7] == ServerSentEvent("message", "7", None, None)


def test_the_last_event_id_and_the_block_under_way_carry_into_the_run() -> None:
    """The run's events take the id that the block before it (in the same chunk) set."""
    chunks = [b"id: 5\nevent: first\nda", b"ta: 1\n\n" + _run(200) + b"id: 6\ndata: la", b"st\n\n"]
    with fast_runs() as taken:
        assert_same(chunks)
        decoder = SSEDecoder()
        events = [event for chunk in chunks for event in decoder.feed(chunk)]
    assert taken[0] == 2
    assert events[0] == ServerSentEvent("first", "1", "5", None)
    assert {event.id for event in events[:-1]} == {"5"}
    assert events[-1] == ServerSentEvent("message", "last", "6", None)


@pytest.mark.parametrize("cut", range(1, 4))
def test_a_character_split_at_either_end_of_a_run(cut: int) -> None:
    before = b'event: e\ndata: "\xf0\x9f\xa7\x80'
    after = b'"\n\n'
    run = _run(100)
    chunks = [before[:-cut], before[-cut:] + after + run + before[:-cut], before[-cut:] + after]
    with fast_runs() as taken:
        assert_same(chunks)
    assert taken[0] == 1


def test_event_too_large_before_a_run_stops_there() -> None:
    chunks = [b"data: " + b"x" * 50, b"x" * 400 + b"\n\n" + _run(100)]
    assert_same(chunks, max_event_size=300)
    decoder = SSEDecoder(max_event_size=300)
    decoder.feed(chunks[0])
    with pytest.raises(EventTooLarge) as caught:
        decoder.feed(chunks[1])
    assert (caught.value.size, caught.value.events) == (len("data: ") + 450 + 1, [])


def test_event_too_large_after_a_run_carries_its_events() -> None:
    """The events of the run and of the block before it are on the error raised after."""
    raw = b"data: first\n\n" + _run(100) + b"data: " + b"x" * 400
    for chunks in ([raw], [raw[:7], raw[7:]]):
        with fast_runs() as taken:
            assert_same(chunks, max_event_size=300)
        assert taken[0] == 1
    decoder = SSEDecoder(max_event_size=300)
    decoder.feed(raw[:7])
    with pytest.raises(EventTooLarge) as caught:
        decoder.feed(raw[7:])
    assert len(caught.value.events) == 101
    assert caught.value.events[0] == ServerSentEvent("message", "first", None, None)


@pytest.mark.parametrize("slack", [-1, 0, 1])
def test_a_block_that_may_be_past_the_limit_leaves_the_run_to_the_lines(slack: int) -> None:
    """The fast path measures blocks in bytes, and takes none more than the limit."""
    big = _common(b"big", "\xe9".encode() * 300)
    raw = _run(60, big)
    in_bytes = len(big) - 1  # its lines, not the blank one
    in_characters = len(big.decode()) - 1
    with fast_runs() as taken:
        assert_same([raw], max_event_size=in_characters + slack)
    assert taken[0] == 0
    with fast_runs() as taken:
        assert_same([raw], max_event_size=in_bytes + slack)
    assert taken[0] == (slack >= 0)


def test_after_a_chunk_of_another_shape_the_next_few_are_read_line_by_line() -> None:
    decoder = SSEDecoder()
    with fast_runs() as taken:
        decoder.feed(_run(60, b": ping\n"))
        for _ in range(_sse._BLOCKS_BACKOFF):
            decoder.feed(_run(60))
        assert taken[0] == 0
        decoder.feed(_run(60))
        assert taken[0] == 1


@pytest.mark.parametrize(
    "first",
    [
        b"data: 1\n\n:",  # a comment that the next chunk ends
        b"data: 1\n\n\xe2\x82",  # a UTF-8 sequence that the next chunk ends (or not)
        b"data: 1\n\r",  # a blank line ended by "\r": a "\n" next goes with it
        b"data: 1\n",  # a block under way
        b"data: 1\n\n",  # nothing under way
    ],
)
@pytest.mark.parametrize("start", [b"", b"\n", b"\xa2\xac\n", b"\xac\n\n"])
def test_what_the_previous_chunk_left_under_way(first: bytes, start: bytes) -> None:
    """Unless nothing is under way, the start of a chunk up to its first blank line is
    read line by line, and the common blocks after it at once."""
    with fast_runs() as taken:
        assert_same([first, start + _run(100)])
    nothing_under_way = first.endswith(b"\n\n")
    assert taken[0] == (not nothing_under_way or not start)


@pytest.mark.parametrize("buffer", [bytearray, memoryview])
def test_other_buffers_than_bytes_still_decode(buffer: type[bytearray | memoryview]) -> None:
    raw = _run(100)
    for chunks in ([raw], [raw[:9000], raw[9000:]]):
        buffers: list[Any] = [buffer(chunk) for chunk in chunks]
        assert_same(buffers)
