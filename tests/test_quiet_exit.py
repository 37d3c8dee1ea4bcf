"""A script that ends with its client never closed exits at once, and quietly.

Each script runs as a user runs it, ``python script.py``, in a subprocess against the
local server of this process. Left open are a client after calls, a stream half read,
a call in flight in a daemon thread, an AsyncClient after ``asyncio.run()``: nothing
of aiohttp's or asyncio's ("Unclosed client session", "Task was destroyed but it is
pending", "Event loop is closed") may reach stderr, and the exit code is 0. Under
``python -X dev`` the ResourceWarning saying what was left open is welcome.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mistral_conversations.testing import LocalServer

PRELUDE = """\
import asyncio, sys, threading
from mistral_conversations import AsyncClient, Client

api_key, base_url = sys.argv[1:]
LONG = " ".join(f"word{i}" for i in range(200))
"""

# As scripts are written: the client a module global, used by functions of the module
# (which keeps it alive into the interpreter's last collection, where it is finalised).
SCRIPTS = {
    "client-after-calls": """
        client = Client(api_key, base_url=base_url)

        def ask(text):
            return client.start(inputs=text, model="m")

        client.get(ask("hello").conversation_id)
        client.list()
    """,
    "stream-half-read": """
        client = Client(api_key, base_url=base_url)

        def first_event(text):
            s = client.start_stream(inputs=text, model="m")
            return s, next(iter(s))

        s, event = first_event(LONG)
    """,
    "text-deltas-half-read": """
        client = Client(api_key, base_url=base_url)

        def deltas(text):
            return client.start_stream(inputs=text, model="m").text_deltas()

        pieces = deltas(LONG)
        next(pieces)
    """,
    "call-in-flight-in-a-daemon-thread": """
        client = Client(api_key, base_url=base_url)
        started = threading.Event()

        def read():
            stream = client.start_stream(inputs=LONG, model="m")
            next(iter(stream))
            started.set()
            stream.response()

        threading.Thread(target=read, daemon=True).start()
        started.wait(30)
    """,
    "async-client-after-asyncio-run": """
        client = AsyncClient(api_key, base_url=base_url)

        async def main():
            cid = (await client.start(inputs="hello", model="m")).conversation_id
            await client.get(cid)
            async for event in client.start_stream(inputs=LONG, model="m"):
                break

        asyncio.run(main())
    """,
    # Python 3.13 collects the block's generator only once daemon threads are frozen.
    "local-server-block-never-left": """
        from mistral_conversations.testing import LocalServer

        own = LocalServer()
        block = own.run_in_thread()
        block.__enter__()
        client = Client(own.api_key, base_url=own.base_url)
        client.start(inputs="hello", model="m")
    """,
}

NOISE = (
    "Unclosed client session",
    "Unclosed connector",
    "Task was destroyed",
    "Event loop is closed",
    "Traceback",
    "Exception ignored",
    "never awaited",
)


@pytest.fixture
def slow_server() -> Iterator[LocalServer]:
    """A local server whose streams are still being sent when the scripts end."""
    server = LocalServer(stream_delay=0.05)
    with server.run_in_thread():
        yield server


def run_script(
    tmp_path: Path, name: str, server: LocalServer, *options: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(PRELUDE + textwrap.dedent(SCRIPTS[name]) + 'print("done")\n')
    return subprocess.run(
        [sys.executable, *options, str(script), server.api_key, server.base_url],
        capture_output=True,
        text=True,
        timeout=60,  # a guard against a hang, not a measure of speed
    )


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_a_plain_run_ends_quietly(tmp_path: Path, slow_server: LocalServer, name: str) -> None:
    result = run_script(tmp_path, name, slow_server)
    assert result.stderr == ""
    assert result.stdout == "done\n"
    assert result.returncode == 0


@pytest.mark.parametrize("name", ["client-after-calls", "stream-half-read"])
def test_dev_mode_names_the_client_left_open(
    tmp_path: Path, slow_server: LocalServer, name: str
) -> None:
    result = run_script(tmp_path, name, slow_server, "-X", "dev")
    assert "ResourceWarning: <Client base_url=" in result.stderr
    assert "was never closed" in result.stderr
    for noise in NOISE:
        assert noise not in result.stderr
    assert result.stdout == "done\n"
    assert result.returncode == 0
