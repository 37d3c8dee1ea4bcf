"""What a hostile server can make the client hold: peak memory, measured in a fresh process.

Each case runs in its own interpreter, with a loopback server that generates its answer
piece by piece (so the server holds almost nothing), and reports how much the process's
peak resident size grew while the client read. Without the bounds, these cases grow by
hundreds of megabytes to gigabytes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, resource, sys, zlib
    from mistral_conversations import AsyncClient, MistralError

    CASE = sys.argv[1]
    PIECE = 64 * 1024
    TOTAL = 200 * 2**20

    def chunk(data):
        return b"%x\\r\\n%s\\r\\n" % (len(data), data)

    async def serve(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n")
        head = "HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n"
        try:
            if CASE == "long event line":
                writer.write((head + "Content-Type: text/event-stream\\r\\n\\r\\n").encode())
                writer.write(chunk(b"data: "))
                filler = b"x" * PIECE
            elif CASE == "endless deltas":
                writer.write((head + "Content-Type: text/event-stream\\r\\n\\r\\n").encode())
                delta = '{"type": "message.output.delta", "id": "m", "content": "%s"}'
                filler = ("data: " + delta % ("x" * PIECE) + "\\n\\n").encode()
            elif CASE == "endless comments":
                writer.write((head + "Content-Type: text/event-stream\\r\\n\\r\\n").encode())
                filler = b": ping\\n" * (PIECE // 7)
            elif CASE == "huge body":
                writer.write((head + "Content-Type: application/json\\r\\n\\r\\n").encode())
                writer.write(chunk(b"["))
                filler = b"1," * (PIECE // 2)
            else:  # gzip bomb: about 1 MB on the wire, gigabytes once inflated
                writer.write(
                    (head + "Content-Type: application/json\\r\\n"
                     "Content-Encoding: gzip\\r\\n\\r\\n").encode()
                )
                squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
                writer.write(chunk(squeeze.compress(b"[")))
                zeros = squeeze.compress(b" " * (16 * 2**20)) + squeeze.flush(zlib.Z_SYNC_FLUSH)
                filler = zeros
            sent = 0
            while sent < TOTAL:
                writer.write(chunk(filler))
                sent += len(filler) if CASE != "gzip bomb" else 16 * 2**20
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = "http://127.0.0.1:%d" % server.sockets[0].getsockname()[1]
        async with AsyncClient("k", base_url=url, timeout=60) as client:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            try:
                if CASE in ("huge body", "gzip bomb"):
                    await client.list()
                else:
                    await client.start_stream(inputs="x", model="m").response()
            except MistralError as exc:
                outcome = type(exc).__name__
            else:
                outcome = "no error"
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        server.close()
        print(outcome, (after - before) // 1024)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    ("case", "outcome", "budget_mib"),
    [
        # The default max_event_size (32 MiB) stops the line; the decoder's copy of it
        # and the joined text account for the rest.
        ("long event line", "StreamDecodeError", 120),
        # A stream's events add up to its answer, held to the end: the default
        # max_body_size (64 MiB) stops the stream, whose pieces and their join into
        # .partial are what is held (200 MiB of deltas took 409 MiB before).
        ("endless deltas", "StreamDecodeError", 200),
        # Comments are discarded as they come: nothing grows, and the stream's bytes
        # stop at max_body_size (a budget below 64 MiB: none of them is held).
        ("endless comments", "StreamDecodeError", 40),
        # The default max_body_size (64 MiB) stops the body: its pieces, and their join
        # when it fits, are what is held (a whole 200 MiB body read took twice that).
        ("huge body", "ResponseDecodeError", 200),
        ("gzip bomb", "ResponseDecodeError", 200),
    ],
)
def test_peak_memory_stays_bounded(case: str, outcome: str, budget_mib: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, case],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got, grown = done.stdout.split()
    assert got == outcome
    assert int(grown) < budget_mib, f"{case}: peak RSS grew by {grown} MiB"
