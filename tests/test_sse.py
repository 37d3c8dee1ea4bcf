"""The Server-Sent Events decoder, rule by rule of the WHATWG event-stream format.

Literal byte inputs with exact expected events, then properties: any split of a stream
into chunks decodes like the whole, a generated stream decodes to the events it was
generated from, and arbitrary bytes decode as a line-by-line reading of the standard does,
with or without a ``max_event_size``. Last, the memory a flood of comments or an endless
line costs, measured in a child process. Every test runs with runs of common blocks read
at once (the fast path) wherever they are, and only in long chunks as by default; that
path is compared with the decoder that predates it in test_sse_fast_path.py.
"""

from __future__ import annotations

import codecs
import json
import pickle
import re
import subprocess
import sys
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mistral_conversations import _sse
from mistral_conversations._sse import EventTooLarge, ServerSentEvent, SSEDecoder

# What sys.version_info < (3, 11) uses: no atomic group. Same results, more backtracking.
_PLAIN_SCAN = re.compile(rf"{_sse._COMMON_BLOCK}\n|{_sse._ANY_LINE}").findall


@pytest.fixture(autouse=True, params=["atomic", "plain"])
def scanner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the scanner of Python 3.11+ and with that of Python 3.10."""
    if request.param == "plain":
        monkeypatch.setattr(_sse, "_scan", _PLAIN_SCAN)
    return str(request.param)


@pytest.fixture(autouse=True, params=["lines", "blocks"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs as well with runs of common blocks read at once in any chunk, not
    only in the long ones: however short, whatever came before."""
    if request.param == "blocks":
        monkeypatch.setattr(_sse, "_BLOCKS_MIN_CHUNK", 1)
        monkeypatch.setattr(_sse, "_BLOCKS_SEARCH", sys.maxsize)
        monkeypatch.setattr(_sse, "_BLOCKS_BACKOFF", 0)
    return str(request.param)


def ev(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


def feed_chunks(
    chunks: Iterable[bytes], max_event_size: int | None = None
) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder(max_event_size=max_event_size)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.close()
    return events, decoder


def feed_until_too_large(
    chunks: Iterable[bytes], max_event_size: int
) -> tuple[list[ServerSentEvent], EventTooLarge | None, SSEDecoder]:
    """Feed the chunks; return every event decoded (those the error carries too) and the
    EventTooLarge that stopped the decoder, if one did."""
    decoder = SSEDecoder(max_event_size=max_event_size)
    events: list[ServerSentEvent] = []
    try:
        for chunk in chunks:
            events += decoder.feed(chunk)
        events += decoder.close()
    except EventTooLarge as exc:
        return events + exc.events, exc, decoder
    return events, None, decoder


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def decode(raw: bytes) -> list[ServerSentEvent]:
    """Decode the stream whole, then byte by byte, and check both agree."""
    whole, _ = feed_chunks([raw])
    bytewise, _ = feed_chunks(raw[i : i + 1] for i in range(len(raw)))
    assert bytewise == whole
    return whole


# -- fields and dispatch ----------------------------------------------------------------


def test_event_and_data() -> None:
    assert decode(b"event: delta\ndata: {}\n\n") == [ev("{}", "delta")]


def test_event_type_defaults_to_message() -> None:
    assert decode(b"data: x\n\n") == [ev("x")]
    assert decode(b"event:\ndata: x\n\n") == [ev("x")]
    assert decode(b"event\ndata: x\n\n") == [ev("x")]


def test_several_events_in_one_chunk() -> None:
    raw = b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\ndata: 3\n\n"
    assert decode(raw) == [ev("1", "a"), ev("2", "b"), ev("3")]


def test_data_lines_are_joined_with_line_feeds() -> None:
    assert decode(b"data: a\ndata: b\ndata: c\n\n") == [ev("a\nb\nc")]
    assert decode(b"data:\ndata:\n\n") == [ev("\n")]
    assert decode(b"data: a\ndata:\n\n") == [ev("a\n")]


def test_empty_data_value_still_dispatches() -> None:
    assert decode(b"data:\n\n") == [ev("")]
    assert decode(b"data\n\n") == [ev("")]


def test_only_one_leading_space_is_removed() -> None:
    assert decode(b"data:x\n\n") == [ev("x")]
    assert decode(b"data: x\n\n") == [ev("x")]
    assert decode(b"data:  x \n\n") == [ev(" x ")]
    assert decode(b"event:  e\ndata:\tx\n\n") == [ev("\tx", " e")]


def test_value_keeps_later_colons() -> None:
    assert decode(b'event: a:b\ndata: {"k": "v"}\n\n') == [ev('{"k": "v"}', "a:b")]


def test_comments_are_ignored() -> None:
    raw = b": hello\ndata: a\n:\n: data: b\ndata: c\n\n: bye\n"
    assert decode(raw) == [ev("a\nc")]


def test_unknown_and_differently_cased_fields_are_ignored() -> None:
    assert decode(b"foo: bar\nData: x\nEVENT: y\ndata: z\n\n") == [ev("z")]
    assert decode(b"Data: x\n\n") == []


def test_blank_line_without_data_dispatches_nothing_but_resets_event_type() -> None:
    assert decode(b"\n\n\n") == []
    assert decode(b"event: a\n\ndata: x\n\n") == [ev("x")]
    assert decode(b"event: a\nretry: 5\n\ndata: x\n\n") == [ev("x")]


def test_later_event_field_wins() -> None:
    assert decode(b"event: a\nevent: b\ndata: x\n\n") == [ev("x", "b")]


def test_common_block_after_other_lines_of_the_same_block() -> None:
    """The one-match path for "event/data/blank" must respect what came before it."""
    assert decode(b"data: 1\nevent: a\ndata: 2\n\n") == [ev("1\n2", "a")]
    assert decode(b"event: q\ndata: 2\n\n") == [ev("2", "q")]
    assert decode(b"event: q\nevent:\ndata: 2\n\n") == [ev("2")]
    assert decode(b"event: q\nid: 4\ndata: 2\n\n") == [ev("2", "q", "4")]
    assert decode(b"retry: 9\nevent: q\ndata: 2\n\n") == [ev("2", "q", retry=9)]
    assert decode(b"event: q\n: c\ndata: 2\n\n") == [ev("2", "q")]


# -- id ---------------------------------------------------------------------------------


def test_id_persists_across_events() -> None:
    raw = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"
    assert decode(raw) == [ev("a", id="1"), ev("b", id="1"), ev("c", id="2")]


def test_id_set_in_a_block_without_data_persists() -> None:
    assert decode(b"id: 7\n\ndata: x\n\n") == [ev("x", id="7")]


def test_empty_id_resets_it() -> None:
    assert decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n") == [ev("a", id="1"), ev("b")]
    assert decode(b"id: 1\ndata: a\n\nid:\ndata: b\n\n") == [ev("a", id="1"), ev("b")]


def test_id_with_nul_is_ignored() -> None:
    assert decode(b"id: 1\n\nid: a\x00b\ndata: x\n\n") == [ev("x", id="1")]


def test_last_event_id_property() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id is None
    decoder.feed(b"id: 42\n")
    assert decoder.last_event_id == "42"
    decoder.feed(b"id\n")
    assert decoder.last_event_id is None


# -- retry ------------------------------------------------------------------------------


def test_retry_belongs_to_the_block_that_set_it() -> None:
    raw = b"retry: 1500\ndata: x\n\ndata: y\n\n"
    assert decode(raw) == [ev("x", retry=1500), ev("y")]
    assert decode(b"retry: 0\nretry: 007\ndata: x\n\n") == [ev("x", retry=7)]


@pytest.mark.parametrize(
    "value",
    [b"", b" ", b"15x", b"-1", b"+1", b"1.5", b" 1", b"1 ", b"\xd9\xa3", b"\xc2\xb2", b"0x10"],
)
def test_retry_other_than_ascii_digits_is_ignored(value: bytes) -> None:
    assert decode(b"retry: " + value + b"\ndata: x\n\n") == [ev("x")]
    assert decode(b"retry: 3\nretry: " + value + b"\ndata: x\n\n") == [ev("x", retry=3)]


def test_retry_too_long_for_int_is_ignored() -> None:
    raw = b"retry: " + b"9" * 5000 + b"\ndata: x\n\n"
    assert feed_chunks([raw])[0] == [ev("x")]


# -- line ends --------------------------------------------------------------------------


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_every_line_end(end: bytes) -> None:
    raw = b"event: e" + end + b"data: a" + end + b"data: b" + end + end + b"data: c" + end + end
    assert decode(raw) == [ev("a\nb", "e"), ev("c")]


def test_mixed_line_ends() -> None:
    raw = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\rdata: e\n\r"
    assert decode(raw) == [ev("a\nb\nc"), ev("d"), ev("e")]


def test_lf_cr_is_two_line_ends() -> None:
    assert decode(b"data: a\n\rdata: b\n\n") == [ev("a"), ev("b")]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    events, _ = feed_chunks([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [ev("a\nb")]


def test_cr_at_chunk_end_then_empty_chunks_then_lf() -> None:
    events, _ = feed_chunks([b"data: a\r", b"", b"", b"\ndata: b\r\n", b"\r\n"])
    assert events == [ev("a\nb")]


def test_cr_at_chunk_end_then_cr() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [ev("a")]
    assert decoder.feed(b"\ndata: b\n\n") == [ev("b")]


def test_cr_and_lf_around_a_split_multibyte_character() -> None:
    events, _ = feed_chunks([b"data: a\r", b"\xc3", b"\xa9: x\n\n"])
    assert events == [ev("a")]  # "\xc3" decodes to nothing yet; "\xe9: x" is its own line
    events, _ = feed_chunks([b"data: \xc3", b"\xa9\r", b"\ndata: b\r\n\r\n"])
    assert events == [ev("\xe9\nb")]


def test_other_unicode_line_separators_are_data() -> None:
    value = "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i"
    assert decode(b"data: " + value.encode() + b"\n\n") == [ev(value)]
    assert decode(b"event: " + value.encode() + b"\ndata: x\n\n") == [ev("x", value)]


# -- UTF-8 and BOM ----------------------------------------------------------------------


def test_multibyte_characters_split_anywhere() -> None:
    text = "é€😀 \u2028 ünïcödé"
    raw = b"event: " + text.encode() + b"\ndata: " + text.encode() + b"\n\n"
    assert decode(raw) == [ev(text, text)]


@pytest.mark.parametrize(
    ("raw", "data"),
    [
        (b"data: a\xffb\n\n", "a\ufffdb"),
        (b"data: \xe2\x82\n\n", "\ufffd"),
        (b"data: \xe2\x82x\n\n", "\ufffdx"),
        (b"data: \xc0\xafx\n\n", "\ufffd\ufffdx"),
        (b"data: \xed\xa0\x80\n\n", "\ufffd\ufffd\ufffd"),
    ],
)
def test_invalid_utf8_is_replaced(raw: bytes, data: str) -> None:
    assert decode(raw) == [ev(data)]


def test_leading_bom_is_dropped() -> None:
    assert decode(b"\xef\xbb\xbfdata: x\n\n") == [ev("x")]
    events, _ = feed_chunks([b"\xef", b"\xbb", b"\xbf", b"data: x\n\n"])
    assert events == [ev("x")]


def test_only_the_first_bom_is_dropped() -> None:
    # The second makes the field name "\ufeffdata", an unknown field.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []
    assert decode(b"data: x\n\n\xef\xbb\xbfdata: y\n\n") == [ev("x")]
    assert decode(b"data: \xef\xbb\xbfx\n\n") == [ev("\ufeffx")]


def test_bom_as_only_content_then_line_end() -> None:
    events, decoder = feed_chunks([b"\xef\xbb\xbf", b"\r", b"\ndata: x\n\n"])
    assert events == [ev("x")]
    assert decoder.pending == ""


# -- end of stream ----------------------------------------------------------------------


def test_clean_end_leaves_nothing_pending() -> None:
    events, decoder = feed_chunks([b"event: a\ndata: x\n\n"])
    assert events == [ev("x", "a")]
    assert decoder.pending == ""


def test_truncated_line_is_discarded_and_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'event: a\ndata: 1\n\nevent: b\ndata: {"x"') == [ev("1", "a")]
    assert decoder.close() == []
    assert decoder.pending == 'event: b\ndata: {"x"'


def test_block_without_blank_line_is_discarded_and_pending() -> None:
    events, decoder = feed_chunks([b"data: 1\n\ndata: 2\r\n"])
    assert events == [ev("1")]
    assert decoder.pending == "data: 2\n"


def test_pending_during_the_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.pending == ""
    decoder.feed(b"data: a\n\ndata: b\nev")
    assert decoder.pending == "data: b\nev"
    decoder.feed(b"ent: x\n")
    assert decoder.pending == "data: b\nevent: x\n"
    decoder.feed(b"\n")
    assert decoder.pending == ""


def test_pending_leaves_out_comments() -> None:
    events, decoder = feed_chunks([b"data: x\n\n: keep-alive\n"])
    assert events == [ev("x")]
    assert decoder.pending == ""
    _, decoder = feed_chunks([b": c\ndata: y\n: d\n"])
    assert decoder.pending == "data: y\n"


def test_incomplete_utf8_at_the_end_is_pending_as_replacement() -> None:
    events, decoder = feed_chunks([b"data: x\n\ndata: \xe2\x82"])
    assert events == [ev("x")]
    assert decoder.pending == "data: \ufffd"


def test_close_is_idempotent_and_feed_after_close_raises() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x")
    assert decoder.close() == []
    assert decoder.close() == []
    assert decoder.pending == "data: x"
    with pytest.raises(RuntimeError, match="after close"):
        decoder.feed(b"\n\n")


def test_empty_chunks_and_empty_stream() -> None:
    events, decoder = feed_chunks([b"", b""])
    assert events == []
    assert decoder.pending == ""


def test_long_line_in_small_chunks() -> None:
    value = "x" * 100_000 + "é" * 1000
    raw = b"data: " + value.encode() + b"\n\n"
    events, decoder = feed_chunks(raw[i : i + 97] for i in range(0, len(raw), 97))
    assert events == [ev(value)]
    assert decoder.pending == ""


# -- comments -------------------------------------------------------------------------


def test_comment_split_across_many_chunks_is_still_a_comment() -> None:
    pieces = [b": ke", b"ep", b"-alive da", b"ta: no\n", b":", b"x" * 10, b"\ndata: y\n\n"]
    for chunks in (pieces, bytewise(b"".join(pieces))):
        events, decoder = feed_chunks(chunks)
        assert events == [ev("y")]
        assert decoder.pending == ""


def test_unterminated_comment_is_not_pending() -> None:
    _, decoder = feed_chunks([b"data: a\n\n: keep-al", b"ive"])
    assert decoder.pending == ""
    _, decoder = feed_chunks([b"data: a\n: keep-al", b"ive"])
    assert decoder.pending == "data: a\n"


def test_comment_floods_between_and_inside_blocks() -> None:
    pings = b": ping\n" * 3000
    raw = pings + b"event: e\n" + pings + b"data: 1\n" + pings + b"\n" + pings + b"data: 2\n\n"
    for size in (len(raw), 4096, 7, 1):
        events, decoder = feed_chunks(raw[i : i + size] for i in range(0, len(raw), size))
        assert events == [ev("1", "e"), ev("2")]
        assert decoder.pending == ""


# -- max_event_size ---------------------------------------------------------------------


def too_large(chunks: Iterable[bytes], max_event_size: int) -> EventTooLarge:
    """The EventTooLarge that feeding these chunks raises."""
    _, error, _ = feed_until_too_large(chunks, max_event_size)
    assert error is not None, "no EventTooLarge"
    return error


@pytest.mark.parametrize("value", ["x" * 50, "é" * 50, "😀" * 50])
def test_limit_trips_one_character_past_it_not_at_it(value: str) -> None:
    """Characters count, not bytes; the event's text is its lines with their line ends."""
    raw = f"event: e\ndata: {value}\n\n".encode()
    size = len(f"event: e\ndata: {value}\n")
    for chunks in ([raw], bytewise(raw)):
        events, error, _ = feed_until_too_large(chunks, size)
        assert (events, error) == ([ev(value, "e")], None)
        error = too_large(chunks, size - 1)
        assert (error.limit, error.size) == (size - 1, size)


def test_unterminated_line_trips_the_limit_one_character_past_it() -> None:
    raw = b"data: " + b"x" * 50
    for chunks in ([raw], bytewise(raw)):
        events, error, decoder = feed_until_too_large(chunks, len(raw))
        assert (events, error, decoder.pending) == ([], None, raw.decode())
        assert too_large(chunks, len(raw) - 1).size == len(raw)


def test_endless_line_trips_the_limit_as_soon_as_it_passes_it() -> None:
    limit = 50_000
    fed = [b"data: "]

    def endless_line() -> Iterable[bytes]:
        yield fed[0]
        for _ in range(10_000):  # 970,000 characters, had it not stopped
            fed.append(b"x" * 97)
            yield fed[-1]

    error = too_large(endless_line(), limit)
    size = len(b"".join(fed))
    assert error.size == size > limit >= size - 97  # the first chunk past the limit
    assert (error.limit, error.events) == (limit, [])
    assert error.excerpt == "data: " + "x" * 194
    assert str(error) == "an event exceeded 50,000 characters (max_event_size) before it ended"


def test_many_short_data_lines_trip_the_limit() -> None:
    raw = b"data: 12345\n" * 1000 + b"\n"
    error = too_large([raw], 5000)
    assert error.size == 12 * 417  # the first line past 5,000 characters
    assert error.excerpt == ("data: 12345\n" * 17)[:200]
    for size in (7, 4096):
        error = too_large((raw[i : i + size] for i in range(0, len(raw), size)), 5000)
        assert 5000 < error.size <= 12 * 417
        assert error.excerpt == ("data: 12345\n" * 17)[:200]


def test_block_spread_across_chunks_trips_the_limit() -> None:
    decoder = SSEDecoder(max_event_size=100)
    assert decoder.feed(b"data: first\n\nevent: big\n") == [ev("first")]
    assert decoder.feed(b": a comment, not counted\nid: 7\ndata: " + b"y" * 40 + b"\n") == []
    with pytest.raises(EventTooLarge) as caught:
        decoder.feed(b"data: " + b"z" * 40 + b"\n\ndata: after\n\n")
    text = "event: big\nid: 7\ndata: " + "y" * 40 + "\ndata: " + "z" * 40 + "\n"
    assert (caught.value.size, caught.value.excerpt) == (len(text), text)


def test_events_before_the_large_one_in_the_same_chunk_are_on_the_error() -> None:
    decoder = SSEDecoder(max_event_size=100)
    assert decoder.feed(b"data: 1\n\n") == [ev("1")]
    with pytest.raises(EventTooLarge) as caught:
        decoder.feed(b"data: 2\n\nevent: e\ndata: 3\n\ndata: " + b"z" * 300)
    error = caught.value
    assert error.events == [ev("2"), ev("3", "e")]
    assert error.excerpt == "data: " + "z" * 194
    assert error.size == 306
    # The same when the large event's lines have ended.
    raw = b"data: 2\n\nevent: e\ndata: 3\n\ndata: " + b"z" * 300 + b"\n\ndata: 4\n\n"
    error = too_large([raw], 100)
    assert (error.events, error.size) == ([ev("2"), ev("3", "e")], 307)  # the whole line


def test_decoder_is_closed_after_event_too_large() -> None:
    decoder = SSEDecoder(max_event_size=10)
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: 0123456789")
    assert decoder.pending == "data: 0123456789"  # the excerpt
    with pytest.raises(RuntimeError, match="after close"):
        decoder.feed(b"\n\n")
    assert decoder.close() == []


def test_events_under_the_limit_pass_unchanged() -> None:
    blocks = [
        'event: conversation.response.started\ndata: {"type": "x"}\n',
        "retry: 3000\nid: 1\ndata: é😀\n",
        ": keep-alive\n",
        "event: message.output.delta\ndata: " + "t" * 300 + "\n",
        "data: a\ndata: b\ndata:\n",
    ]
    raw = "".join(block + "\n" for block in blocks * 50).encode()
    largest = max(len(block) for block in blocks)
    expected, _ = feed_chunks([raw])
    assert len(expected) == 200
    for size in (1, 97, len(raw)):
        chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
        events, error, decoder = feed_until_too_large(chunks, largest)
        assert (events, error, decoder.pending) == (expected, None, "")


def test_comments_never_count_toward_the_limit() -> None:
    comment = b": " + b"c" * 10_000 + b"\n"
    raw = comment + b"data: x\n" + comment * 3 + b"\n" + comment + b": unterminated" * 1000
    for chunks in ([raw], [raw[i : i + 1000] for i in range(0, len(raw), 1000)]):
        events, error, decoder = feed_until_too_large(chunks, len("data: x\n"))
        assert (events, error, decoder.pending) == ([ev("x")], None, "")


def test_a_flood_of_comments_passes_a_small_limit() -> None:
    decoder = SSEDecoder(max_event_size=8)
    for _ in range(1000):  # 7 MB of keep-alives, no blank line
        assert decoder.feed(b": ping\n" * 1000) == []
    assert decoder.feed(b":") == []
    for _ in range(1000):  # one comment of 4 MB, not ended yet
        assert decoder.feed(b"p" * 4096) == []
    assert decoder.pending == ""
    assert decoder.feed(b"\ndata: x\n\n") == [ev("x")]


@pytest.mark.parametrize("value", [0, -1])
def test_max_event_size_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(max_event_size=value)


def test_event_too_large_pickles() -> None:
    error = too_large([b"data: 1\n\ndata: 22222"], 8)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, EventTooLarge)
    assert isinstance(copy, ValueError)
    assert (copy.limit, copy.size, copy.excerpt, copy.events) == (8, 11, "data: 22222", [ev("1")])
    assert str(copy) == str(error)


def test_pending_of_a_long_block_is_its_start() -> None:
    """What pending keeps of an unfinished block is bounded; its start is what is shown."""
    text = "data: 123456789\n" * 10_000 + "data: the last, incomplete line"
    _, decoder = feed_chunks([text.encode()])
    pending = decoder.pending
    assert text.startswith(pending)
    assert 1024 <= len(pending) < 2048


# A child process feeds 200 MB and prints how much its peak RSS grew meanwhile (KiB).
_RSS_CHILD = """
import resource, sys
from mistral_conversations._sse import EventTooLarge, SSEDecoder

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

CHUNK, TOTAL = 64 * 1024, 200 * 2**20
if sys.argv[1] == "comments":
    stream = b": ping\\n" * CHUNK  # 7 chunks' worth; the stream repeats it
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    decoder = SSEDecoder()
elif sys.argv[1] == "one_comment":
    chunks = [b"c" * CHUNK]
    decoder = SSEDecoder()
    decoder.feed(b": ")
else:
    chunks = [b"x" * CHUNK]
    decoder = SSEDecoder(max_event_size=16 * 2**20)
    decoder.feed(b"data: ")
before = peak_kib()
fed = 0
try:
    while fed < TOTAL:
        decoder.feed(chunks[fed // CHUNK % len(chunks)])
        fed += CHUNK
    events = decoder.feed(b"\\n\\ndata: still decoding\\n\\n")
except EventTooLarge as error:
    events = [error.size]
print(peak_kib() - before, fed, events)
"""


@pytest.mark.parametrize("what", ["comments", "one_comment", "endless_line"])
def test_memory_stays_flat_under_200_mb(what: str, scanner: str, blocks: str) -> None:
    """200 MB of keep-alive comments (lines, or one line not ended), or of one endless
    data line under a 16 MiB limit, grow the peak RSS by far less than that."""
    if scanner == "plain" or blocks == "blocks":
        pytest.skip("the child process uses the scanner and thresholds of its own Python")
    run = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, what],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    growth_kib, fed, events = run.stdout.split(maxsplit=2)
    if what != "endless_line":
        assert (int(fed), events.strip()) == (200 * 2**20, repr([ev("still decoding")]))
    else:
        limit = 16 * 2**20
        assert limit < json.loads(events)[0] <= limit + 64 * 1024 + 6
    assert int(growth_kib) < 80 * 1024


# -- properties -------------------------------------------------------------------------

_LINE_ENDS = st.sampled_from(["\n", "\r", "\r\n"])
# Any text without CR or LF: multi-byte characters, and line separators that SSE does
# not treat as line ends.
_TEXT = st.text(
    st.one_of(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
        st.sampled_from(["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "é", "€", "😀"]),
    ),
    max_size=12,
)


@st.composite
def _stream(draw: st.DrawFn) -> tuple[bytes, list[ServerSentEvent]]:
    """A stream as bytes, and the events it holds."""
    text: list[str] = []
    if draw(st.booleans()):
        text.append("\ufeff")
    expected: list[ServerSentEvent] = []
    last_id: str | None = None
    previous_end = ""
    for _ in range(draw(st.integers(0, 6))):
        event = draw(st.none() | _TEXT)
        data = draw(st.lists(_TEXT, max_size=4))
        id_ = draw(st.none() | _TEXT.filter(lambda s: "\0" not in s))
        retry = draw(st.none() | st.integers(0, 10**9))
        fields: list[tuple[str, str]] = []
        if event is not None:
            fields.append(("event", event))
        if id_ is not None:
            fields.append(("id", id_))
        if retry is not None:
            fields.append(("retry", str(retry)))
        if draw(st.booleans()):
            fields.append(("x-unknown", draw(_TEXT)))
        # The non-data fields at random places among the data lines, which keep their order.
        lines = [
            f"data:{' ' if value[:1] == ' ' or draw(st.booleans()) else ''}{value}"
            for value in data
        ]
        for name, value in fields:
            lines.insert(draw(st.integers(0, len(lines))), f"{name}: {value}")
        for _ in range(draw(st.integers(0, 2))):
            lines.insert(draw(st.integers(0, len(lines))), ":" + draw(_TEXT))
        uniform_end = draw(st.none() | _LINE_ENDS)
        for line in [*lines, ""]:
            end = uniform_end or draw(_LINE_ENDS)
            if not line and previous_end == "\r" and end[0] == "\n":
                end = "\r"  # "\r" then "\n" would be one line end, not two
            text.append(line + end)
            previous_end = end
        if id_ is not None:
            last_id = id_ or None
        if data:
            expected.append(ev("\n".join(data), event or "message", last_id, retry))
    return "".join(text).encode(), expected


def _split(data: st.DataObject, raw: bytes) -> list[bytes]:
    draw = data.draw
    if draw(st.booleans()):
        return [raw[i : i + 1] for i in range(len(raw))]
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=20)))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


_PROPERTY = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_PROPERTY
@given(st.data(), _stream())
def test_any_split_of_a_generated_stream_gives_its_events(
    data: st.DataObject, stream: tuple[bytes, list[ServerSentEvent]]
) -> None:
    raw, expected = stream
    whole, decoder = feed_chunks([raw])
    assert whole == expected
    assert decoder.pending == ""
    chunks = _split(data, raw)
    split, decoder = feed_chunks(chunks)
    assert split == expected
    assert decoder.pending == ""
    # A limit no event reaches changes nothing.
    limited, decoder = feed_chunks(chunks, max_event_size=len(raw) + 1)
    assert limited == expected
    assert decoder.pending == ""


def _reference(
    raw: bytes, limit: int | None = None
) -> tuple[list[ServerSentEvent], str, str | None]:
    """The standard's algorithm, line by line, on the whole stream.

    Returns the events and what is pending at the end; with a limit, the events before
    the first block whose text (its non-comment lines with their line ends, and at the
    end of the stream the unterminated line) outgrows it, and that block's text.
    """
    text = raw.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    # An incomplete UTF-8 sequence at the very end is decoded by close(), which never
    # raises: it is not part of the size.
    unfinished = len(text) - len(
        codecs.utf_8_decode(raw, "replace", False)[0].removeprefix("\ufeff")
    )
    *lines, tail = re.split(r"\r\n|\r|\n", text)
    if tail.startswith(":"):
        tail = ""  # an unterminated comment is no more pending than an ended one
    events: list[ServerSentEvent] = []
    data: list[str] = []
    event = ""
    last_id = ""
    retry: int | None = None
    block: list[str] = []
    for line in lines:
        if not line:
            if limit is not None and len("".join(block)) > limit:
                return events, "", "".join(block)
            if data:
                events.append(ev("\n".join(data), event or "message", last_id or None, retry))
            data, event, retry, block = [], "", None, []
            continue
        if line.startswith(":"):
            continue
        block.append(line + "\n")
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and re.fullmatch("[0-9]+", value):
            retry = int(value)
    pending = "".join(block) + tail
    if limit is not None and len(pending) - unfinished > limit:
        return events, "", pending
    return events, pending, None


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
    b"\xe2\x80\xa8",
    b"\xc2\x85",
    b"\x0b",
    b"data: ",
    b"event: e\ndata: d\n\n",
    b"0123456789abcdef",
]


@_PROPERTY
@given(st.data(), st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join))
def test_arbitrary_bytes_decode_as_the_standard_reads_them(data: st.DataObject, raw: bytes) -> None:
    expected_events, expected_pending, _ = _reference(raw)
    whole, decoder = feed_chunks([raw])
    assert whole == expected_events
    assert decoder.pending == expected_pending
    split, decoder = feed_chunks(_split(data, raw))
    assert split == expected_events
    assert decoder.pending == expected_pending


@_PROPERTY
@given(
    st.data(),
    st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join),
    st.integers(1, 80),
)
def test_max_event_size_stops_at_the_first_event_past_it_however_split(
    data: st.DataObject, raw: bytes, limit: int
) -> None:
    """Whatever the split, the same events come out, and the error (if any) names the
    first block that outgrew the limit: its start, and a size past the limit."""
    expected_events, expected_pending, too_large = _reference(raw, limit)
    for chunks in ([raw], _split(data, raw)):
        events, error, decoder = feed_until_too_large(chunks, limit)
        assert events == expected_events
        if too_large is None:
            assert error is None
            assert decoder.pending == expected_pending
        else:
            assert error is not None
            assert error.limit == limit < error.size <= len(too_large)
            assert error.excerpt == too_large[: min(200, error.size)]
            assert decoder.pending == error.excerpt
            with pytest.raises(RuntimeError):
                decoder.feed(b"\n")
