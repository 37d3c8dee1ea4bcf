"""Clients across os.fork(): the child works on connections of its own, the parent on its.

Every child reports its verdict by exit code and is waited for with a deadline, so that
a child that hangs fails the test instead of holding it up. The server runs in this
process and notes, for each request, who sent it (an ``x-who`` header) and from which
client port: the parent's requests must keep coming over the parent's own connection,
which a child that read, wrote or closed it would have broken or replaced.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from aiohttp import web

from mistral_conversations import AsyncClient, Client
from mistral_conversations.models import MessageOutputEvent
from mistral_conversations.testing import LocalServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

MODEL = "mistral-small-latest"
PARENT = {"x-who": "parent"}
CHILD = {"x-who": "child"}
# Only guards against a hang: a healthy child is done in well under a second.
CHILD_DEADLINE = 60.0
PARENT_DEADLINE = 30.0

_T = TypeVar("_T")


class PeerServer(LocalServer):
    """The local server, noting who sent each request and from which client port."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[tuple[str, int]] = []

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.on_response_prepare.append(self._note_peer)
        return app

    async def _note_peer(self, request: web.Request, response: web.StreamResponse) -> None:
        assert request.transport is not None
        port = request.transport.get_extra_info("peername")[1]
        self.peers.append((request.headers.get("x-who", "?"), port))

    def ports_of(self, who: str) -> set[int]:
        """The client ports the requests of ``who`` came from."""
        return {port for sender, port in self.peers if sender == who}


@pytest.fixture
def server() -> Iterator[PeerServer]:
    server = PeerServer()
    with server.run_in_thread():
        yield server


@pytest.fixture
def client(server: PeerServer) -> Iterator[Client]:
    client = Client(server.api_key, base_url=server.base_url)
    yield client
    promptly(client.close)  # a parent that a child broke would wait forever here


def fork(child: Callable[[], bool]) -> int:
    """Run ``child`` in a forked process, which exits 0 if it returned True."""
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads may deadlock the
        # child; making that safe for this library's threads is what is tested here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        code = 1
        try:
            code = 0 if child() else 1
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def exit_code(pid: int) -> int:
    """Wait for a child and return its exit code; kill it and fail if it hangs."""
    deadline = time.monotonic() + CHILD_DEADLINE
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child was still running after {CHILD_DEADLINE} s: it hangs")


def promptly(call: Callable[[], _T]) -> _T:
    """What the parent's ``call()`` returns; a parent that a child broke fails, not hangs."""
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PARENT_DEADLINE)
    if thread.is_alive():
        pytest.fail(f"the parent's call was still blocked after {PARENT_DEADLINE} s: it hangs")
    if failure:
        raise failure[0]
    return outcome[0]


def test_a_client_used_before_fork_works_in_the_child_and_the_parent(
    server: PeerServer, client: Client
) -> None:
    cid = client.start(inputs="before", model=MODEL, headers=PARENT).conversation_id

    def child() -> bool:
        reply = client.append(cid, inputs="in the child", headers=CHILD)
        streamed = client.start_stream(inputs="streamed", model=MODEL, headers=CHILD)
        return (
            reply.output_text == "Echo: in the child"
            and streamed.response().output_text == "Echo: streamed"
        )

    assert exit_code(fork(child)) == 0
    reply = promptly(lambda: client.append(cid, inputs="after", headers=PARENT))
    assert reply.output_text == "Echo: after"
    texts = [e.content for e in client.get_messages(cid, headers=PARENT).messages]
    assert texts == [
        "before",
        "Echo: before",
        "in the child",
        "Echo: in the child",
        "after",
        "Echo: after",
    ]
    assert len(server.ports_of("parent")) == 1
    assert server.ports_of("child")
    assert not server.ports_of("child") & server.ports_of("parent")


def test_a_stream_open_at_fork_stays_the_parents(server: PeerServer, client: Client) -> None:
    server.stream_delay = 0.02
    words = " ".join(f"w{i}" for i in range(20))
    stream = client.start_stream(inputs=words, model=MODEL, headers=PARENT)
    first = next(stream)

    def child() -> bool:
        try:
            next(stream)
        except RuntimeError as exc:
            refused = "opened before os.fork()" in str(exc)
        else:
            refused = False
        stream.close()  # leaves the parent's response alone
        own = client.start(inputs="mine", model=MODEL, store=False, headers=CHILD)
        return refused and own.output_text == "Echo: mine"

    assert exit_code(fork(child)) == 0
    events = [first, *promptly(lambda: list(stream))]
    text = "".join(e.content for e in events if isinstance(e, MessageOutputEvent))  # type: ignore[misc]
    assert text == f"Echo: {words}"
    stream.close()
    assert len(server.ports_of("parent")) == 1
    assert not server.ports_of("child") & server.ports_of("parent")


_pool_client: Client | None = None


def _pool_work(n: int) -> tuple[int, str]:
    assert _pool_client is not None
    reply = _pool_client.start(inputs=f"worker {n}", model=MODEL, store=False, headers=CHILD)
    return os.getpid(), reply.output_text


def test_multiprocessing_with_the_fork_start_method(server: PeerServer, client: Client) -> None:
    global _pool_client
    client.start(inputs="before", model=MODEL, store=False, headers=PARENT)
    _pool_client = client
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = multiprocessing.get_context("fork").Pool(3)
        with pool:
            results = pool.map_async(_pool_work, range(6)).get(timeout=CHILD_DEADLINE)
    finally:
        _pool_client = None
    assert [text for _, text in results] == [f"Echo: worker {n}" for n in range(6)]
    assert os.getpid() not in {pid for pid, _ in results}
    reply = promptly(lambda: client.start(inputs="after", model=MODEL, store=False, headers=PARENT))
    assert reply.output_text == "Echo: after"
    assert len(server.ports_of("parent")) == 1
    assert len(server.ports_of("child")) >= 1
    assert not server.ports_of("child") & server.ports_of("parent")


# A preloaded app as gunicorn runs it: made, and its client used, in the master at load
# time; then workers forked from the master, each making calls and ending as gunicorn's
# workers end, with sys.exit() through the interpreter's whole shutdown.
PRELOAD_APP_SCRIPT = textwrap.dedent(
    """
    import os, sys, time, traceback, warnings
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork")

    from mistral_conversations import Client

    api_key, base_url = sys.argv[1:]
    MASTER = {"x-who": "parent"}
    client = Client(api_key, base_url=base_url)
    cid = client.start(inputs="loaded", model="m", headers=MASTER).conversation_id

    def serve(n):
        who = {"x-who": "child"}
        for i in range(3):
            reply = client.append(cid, inputs=f"worker {n}, request {i}", headers=who)
            assert reply.output_text == f"Echo: worker {n}, request {i}", reply
        stream = client.start_stream(inputs=f"stream {n}", model="m", store=False, headers=who)
        text = "".join(stream.text_deltas())
        assert text == f"Echo: stream {n}", text

    workers = []
    for n in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                serve(n)
            except BaseException:
                traceback.print_exc()
                sys.exit(1)
            sys.exit(0)
        workers.append(pid)

    codes = []
    deadline = time.monotonic() + 60
    for pid in workers:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes.append(os.waitstatus_to_exitcode(status))
                break
            if time.monotonic() > deadline:
                for worker in workers[len(codes):]:  # those not reaped yet
                    os.kill(worker, 9)
                sys.exit(f"worker {pid} hangs")
            time.sleep(0.01)

    assert client.get(cid, headers=MASTER).id == cid
    print(f"workers exited with {codes}; the master still works")
    """
)


def test_gunicorn_preload_pattern(server: PeerServer, tmp_path: Path) -> None:
    script = tmp_path / "preload_app.py"
    script.write_text(PRELOAD_APP_SCRIPT)
    with subprocess.Popen(
        [sys.executable, str(script), server.api_key, server.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its workers too can be killed, should it hang
    ) as app:
        try:
            stdout, stderr = app.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.communicate()
            pytest.fail("the preloaded app was still running after 120 s: it hangs")
    assert stderr == ""
    assert app.returncode == 0
    assert stdout == "workers exited with [0, 0, 0]; the master still works\n"
    assert len(server.ports_of("parent")) == 1
    assert len(server.ports_of("child")) >= 3
    assert not server.ports_of("child") & server.ports_of("parent")


def test_an_async_client_across_fork(server: PeerServer) -> None:
    client = AsyncClient(server.api_key, base_url=server.base_url)

    async def converse(who: dict[str, str], text: str) -> str:
        reply = await client.start(inputs=text, model=MODEL, store=False, headers=who)
        stream = client.start_stream(inputs=text, model=MODEL, store=False, headers=who)
        streamed = await stream.response()
        return reply.output_text + " | " + streamed.output_text

    assert asyncio.run(converse(PARENT, "before")) == "Echo: before | Echo: before"

    def child() -> bool:
        return asyncio.run(converse(CHILD, "child")) == "Echo: child | Echo: child"

    assert exit_code(fork(child)) == 0
    after = promptly(lambda: asyncio.run(converse(PARENT, "after")))
    assert after == "Echo: after | Echo: after"
    asyncio.run(client.aclose())
    assert not server.ports_of("child") & server.ports_of("parent")


def test_an_async_client_whose_parent_loop_outlives_the_fork(server: PeerServer) -> None:
    # The parent's loop, with its pooled connection, stays open across the fork; the
    # child uses the client on a loop of its own and closes it there.
    client = AsyncClient(server.api_key, base_url=server.base_url)
    loop = asyncio.new_event_loop()
    try:
        reply = loop.run_until_complete(
            client.start(inputs="before", model=MODEL, store=False, headers=PARENT)
        )
        assert reply.output_text == "Echo: before"

        async def in_child() -> str:
            reply = await client.start(inputs="child", model=MODEL, store=False, headers=CHILD)
            await client.aclose()
            return reply.output_text

        assert exit_code(fork(lambda: asyncio.run(in_child()) == "Echo: child")) == 0
        reply = promptly(
            lambda: loop.run_until_complete(
                client.start(inputs="after", model=MODEL, store=False, headers=PARENT)
            )
        )
        assert reply.output_text == "Echo: after"
        loop.run_until_complete(client.aclose())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())  # as asyncio.run() ends a loop
        loop.close()
    assert len(server.ports_of("parent")) == 1
    assert server.ports_of("child")
    assert not server.ports_of("child") & server.ports_of("parent")
