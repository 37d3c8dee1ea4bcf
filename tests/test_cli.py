"""The command line, as a user runs it: what it prints, and how it exits."""

from __future__ import annotations

import argparse
import asyncio
import errno
import inspect
import io
import json
import logging
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from mistral_conversations import AsyncClient, Client
from mistral_conversations.__main__ import main
from mistral_conversations._cli import _parser
from mistral_conversations._cli.chat import _Chat
from mistral_conversations._cli.render import entries_table
from mistral_conversations.models import (
    AgentHandoffDoneEvent,
    AgentHandoffEntry,
    ConversationEvent,
    Entry,
    FunctionCallEntry,
    FunctionCallEvent,
    FunctionResultEntry,
    MessageOutputEvent,
    ResponseStartedEvent,
    TextChunk,
    ToolExecutionEntry,
    ToolExecutionStartedEvent,
    UnknownEntry,
)
from mistral_conversations.testing import LocalServer

from .scripted import ScriptedServer

MODEL = "mistral-small-latest"
posix_signals = pytest.mark.skipif(
    sys.platform == "win32", reason="SIGINT cannot be sent to one process on Windows"
)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: ours, without any MISTRAL_* or terminal width."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MISTRAL_") and name != "COLUMNS"
    }
    env.update(extra)
    return env


def run_cli(*args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mistral_conversations", *args],
        input=input,
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=60,
    )


class Session:
    """A command running in a subprocess, whose output is read as it comes."""

    def __init__(self, *args: str, stderr: Path, **env: str) -> None:
        self._stderr_path = stderr
        self._stderr = stderr.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mistral_conversations", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=cli_env(**env),
        )
        self.output = ""
        self.times: list[tuple[float, int]] = []  # (arrival, length of output then)
        self._seen = 0
        self._chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while chunk := os.read(fd, 4096):
            self._chunks.put((time.monotonic(), chunk))
        self._chunks.put((time.monotonic(), b""))

    def _take(self, timeout: float) -> bool:
        try:
            arrival, chunk = self._chunks.get(timeout=timeout)
        except queue.Empty:
            return True
        if not chunk:
            return False
        self.output += chunk.decode()
        self.times.append((arrival, len(self.output)))
        return True

    def expect(self, text: str, timeout: float = 15) -> str:
        """Wait until ``text`` is printed; return what was printed up to it, since last time."""
        deadline = time.monotonic() + timeout
        while (index := self.output.find(text, self._seen)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._take(remaining):
                raise AssertionError(f"never printed {text!r}; printed:\n{self.output}")
        end = index + len(text)
        since, self._seen = self.output[self._seen : end], end
        return since

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        self.process.stdin.flush()

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 15) -> tuple[int, str, str]:
        """Wait for the exit; return the exit code, all of stdout, and stderr."""
        code = self.process.wait(timeout=timeout)
        while self._take(timeout):
            pass
        self._stderr.close()
        return code, self.output, self._stderr_path.read_text()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Any]:
    """A factory of Sessions, all killed after the test if still running."""
    started: list[Session] = []

    def start(*args: str, **env: str) -> Session:
        started.append(Session(*args, stderr=tmp_path / f"stderr{len(started)}", **env))
        return started[-1]

    yield start
    for running in started:
        running.close()


def error_line(stderr: str) -> str:
    """The one line a failure prints: no traceback, nothing else."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def seed(server: LocalServer, *texts: str, **start: Any) -> str:
    """Start a conversation on ``server`` with ``texts`` as its turns; return its id."""
    with Client(server.api_key, base_url=server.base_url) as client:
        first, *rest = texts
        conversation_id = client.start(inputs=first, model=MODEL, **start).conversation_id
        for text in rest:
            client.append(conversation_id, inputs=text)
    return conversation_id


@pytest.fixture
def api(local_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    """The local server, with the environment pointing the command line at it."""
    monkeypatch.setenv("MISTRAL_API_KEY", local_server.api_key)
    monkeypatch.setenv("MISTRAL_BASE_URL", local_server.base_url)
    return local_server


# -- demo ---------------------------------------------------------------------------


def test_demo_streams_and_walks_through_every_operation(session: Any) -> None:
    began = time.monotonic()
    demo = session("demo")
    code, out, err = demo.finish(timeout=30)
    elapsed = time.monotonic() - began

    assert (code, err) == (0, "")
    assert elapsed < 5
    streamed = "Echo: Which of them is the oldest, and where is it made?"
    # Each step's code comes before its result.
    assert out.index(">>> reply = client.start(") < out.index("Echo: Name three French cheeses.")
    assert out.index(">>> with client.append_stream(") < out.index(streamed)
    assert re.search(r"msg_\w+ +message\.input +user +Name three French cheeses\.", out)
    assert re.search(r"msg_\w+ +message\.output +assistant +Echo: Thanks!", out)
    assert ">>> branch = client.restart(conversation_id, from_entry_id=first_answer.id" in out
    assert "Echo: Which is the mildest?" in out
    assert re.search(r"conv_\w+ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +mistral-small-latest", out)
    deleted = re.search(r"404 Not Found: Conversation (conv_\w+) not found\.", out)
    assert deleted is not None
    # The deleted conversation is the branch, which the list above it still showed.
    assert out.count(deleted.group(1)) == 2
    # A function tool, approved, then a deferred call resumed with a decision.
    assert 'approve get_weather({"city": "Lyon"})? yes' in out
    assert "Result: Sunny in Lyon, 21 degrees. | 2 rounds" in out
    assert re.search(r"\[PendingCall\(tool_call_id='call_\w+', name='get_weather'", out)
    assert out.index(">>> resumed = client.run(") < out.index("Result: Sunny in Nice, 21 degrees.")

    # Token by token: the streamed answer took a while to arrive, in many writes.
    start = out.index(streamed)
    first = next(t for t, size in demo.times if size > start + len("Echo: W"))
    last = next(t for t, size in demo.times if size >= start + len(streamed))
    assert last - first > 0.2
    assert sum(1 for _, size in demo.times if start < size < start + len(streamed)) >= 5


def test_demo_ignores_a_key_and_base_url_in_the_environment(
    local_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "a-real-key-that-must-not-be-used")
    monkeypatch.setenv("MISTRAL_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    assert main(["demo"]) == 0
    out = capsys.readouterr().out

    # What the demo shows is exactly what it ran: copied, it runs as it is.
    statements: list[str] = []
    for line in out.splitlines():
        if line.startswith(">>> "):
            statements.append(line[4:])
        elif line.startswith("... "):
            statements[-1] += "\n" + line[4:]
    namespace: dict[str, Any] = {"server": local_server}
    for statement in statements:
        exec(compile(statement, "<copied>", "single"), namespace)
    assert namespace["branch"].output_text == "Echo: Which is the mildest?"
    assert namespace["resumed"].output_text == "Result: Sunny in Nice, 21 degrees."
    assert [entry.text for entry in namespace["branch_history"].entries] == [
        "Name three French cheeses.",
        "Echo: Name three French cheeses.",
        "Which is the mildest?",
        "Echo: Which is the mildest?",
    ]
    capsys.readouterr()


# -- chat ---------------------------------------------------------------------------


def test_chat_local_through_stdin() -> None:
    result = run_cli("chat", "--local", input="hello\n/history\n/quit\n")
    assert (result.returncode, result.stderr) == (0, "")
    out = result.stdout
    assert "assistant> Echo: hello\n" in out
    assert re.search(r"Conversation conv_\w+:", out)
    assert re.search(r"msg_\w+ +message\.input +user +hello\n", out)
    assert re.search(r"msg_\w+ +message\.output +assistant +Echo: hello\n", out)
    assert out.index("Echo: hello") < out.index("ENTRY ID")


def test_chat_local_ignores_the_key_and_ends_at_eof() -> None:
    result = run_cli("chat", "--local", input="hi", MISTRAL_API_KEY="not-for-the-local-server")
    assert (result.returncode, result.stderr) == (0, "")
    assert "assistant> Echo: hi\n" in result.stdout


def chat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lines: str, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    code = main(["chat", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_chat_new_restart_and_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = chat(
        monkeypatch,
        capsys,
        "/history\n/restart x\none\ntwo\n/restart\n/new\n/history\nthree\n/nope\n/help\n/exit\n",
        "--local",
    )
    assert (code, err) == (0, "")
    assert "(no conversation yet: say something first)" in out
    assert "(no conversation yet: there is nothing to restart from)" in out
    assert "assistant> Echo: one\n" in out
    assert "assistant> Echo: two\n" in out
    assert "(usage: /restart ENTRY_ID; /history shows the entry ids)" in out
    assert "(new conversation: your next message starts it)" in out
    assert "(unknown command /nope)" in out
    assert out.count("/restart ENTRY_ID    send the next message") == 2


def history_rows(printed: str) -> list[tuple[str, str]]:
    """(entry id, text) of each row of the last history table in ``printed``."""
    table = printed[printed.rindex("ENTRY ID") :]
    rows = re.findall(r"^(\w+) +message\.\w+ +\w+ +(.*)$", table, flags=re.MULTILINE)
    return [(entry_id, text) for entry_id, text in rows]


@posix_signals
def test_chat_restart_from_an_entry(session: Any) -> None:
    chatting = session("chat", "--local")
    chatting.expect("you> ")
    for line in ("one", "two", "/history"):
        chatting.send(line)
        printed = chatting.expect("you> ")
    first_answer, text = history_rows(printed)[1]
    assert text == "Echo: one"

    chatting.send(f"/restart {first_answer}")
    assert "continues from entry" in chatting.expect("you> ")
    chatting.send("branch")
    assert "assistant> Echo: branch" in chatting.expect("you> ")
    # Later messages go on in the branch, rather than restarting again.
    chatting.send("more")
    chatting.expect("you> ")
    chatting.send("/history")
    printed = chatting.expect("you> ")
    assert [text for _, text in history_rows(printed)] == [
        "one",
        "Echo: one",
        "branch",
        "Echo: branch",
        "more",
        "Echo: more",
    ]
    chatting.send("/quit")
    code, _, err = chatting.finish()
    assert (code, err) == (0, "")


def test_chat_goes_on_after_a_refused_restart(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = chat(
        monkeypatch, capsys, "hello\n/restart entry_nope\nagain\nafter\n/history\n", "--local"
    )
    assert code == 0
    assert error_line(err).startswith("error: 422 Unprocessable Content: from_entry_id:")
    assert "Echo: again" not in out
    # After the refusal the chat goes on in the same conversation.
    assert "assistant> Echo: after\n" in out
    assert [text for _, text in history_rows(out)] == [
        "hello",
        "Echo: hello",
        "after",
        "Echo: after",
    ]


def test_chat_stops_at_a_wrong_key(
    local_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "wrong-key")
    code, out, err = chat(
        monkeypatch, capsys, "hello\nagain\n", "--base-url", local_server.base_url
    )
    assert code == 1
    assert error_line(err).startswith("error: 401 Unauthorized")
    assert "again" not in out


def test_chat_without_a_key_points_to_local(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat"]) == 1
    line = error_line(capsys.readouterr().err)
    assert "MISTRAL_API_KEY" in line
    assert "chat --local" in line


def test_chat_agent_and_model_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--agent", "ag_1", "--model", "m"]) == 2
    assert main(["chat", "--local", "--base-url", "http://127.0.0.1:1"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_chat_with_an_agent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = chat(monkeypatch, capsys, "hello\n", "--local", "--agent", "ag_123")
    assert code == 0
    assert "Chatting with agent ag_123 at http://127.0.0.1:" in out
    assert "assistant> Echo: hello\n" in out


@posix_signals
def test_chat_ctrl_c_stops_the_reply_not_the_chat(session: Any) -> None:
    chatting = session("chat", "--local")
    chatting.expect("you> ")
    chatting.send(" ".join(f"w{i}" for i in range(300)))  # 300 tokens: 6 s to stream
    chatting.expect("assistant> Echo: w0 w1")
    chatting.interrupt()
    reply = chatting.expect("(stopped)\nyou> ")
    assert "w299" not in reply
    chatting.send("/history")
    history = chatting.expect("you> ")
    assert re.search(r"msg_\w+ +message\.input +user +w0 w1 w2", history)
    chatting.send("/quit")
    code, _, err = chatting.finish()
    assert (code, err) == (0, "")


@posix_signals
def test_chat_ctrl_c_at_the_prompt_leaves_cleanly(session: Any) -> None:
    chatting = session("chat", "--local")
    chatting.expect("you> ")
    # input() prints the prompt a moment before it blocks reading; a signal that lands
    # in between is only seen after the next line comes, which no person could time.
    time.sleep(0.3)
    chatting.interrupt()
    code, _, err = chatting.finish()
    assert (code, err) == (0, "")


# -- list, history, delete ------------------------------------------------------------


def test_list_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    line = error_line(err)
    assert line.startswith("error: no API key: set the MISTRAL_API_KEY environment variable")
    assert "mistral-conversations demo" in line


def test_list_without_a_key_as_a_process() -> None:
    result = run_cli("list")
    assert result.returncode == 1
    assert result.stdout == ""
    assert error_line(result.stderr).startswith("error: no API key")


def test_unreachable_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "some-key")
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["list", "--base-url", url, "--max-attempts", "1"]) == 1
    line = error_line(capsys.readouterr().err)
    assert line == (
        f"error: Could not connect to {url}: Connection refused. The request was not sent; "
        "check the base URL and your network."
    )


def test_wrong_key(local_server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli("list", "--base-url", local_server.base_url, MISTRAL_API_KEY="wrong-key")
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert line.startswith("error: 401 Unauthorized")
    assert "MISTRAL_API_KEY" in line
    assert "wrong-key" not in line


@pytest.mark.parametrize("command", ["history", "delete"])
def test_unknown_conversation(
    api: LocalServer, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command, "conv_nope"]) == 1
    line = error_line(capsys.readouterr().err)
    assert line.startswith("error: 404 Not Found: Conversation conv_nope not found.")
    assert "Check the id" in line


def test_list_table_and_json(api: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    assert capsys.readouterr().out == "No conversations.\n"

    older = seed(api, "one")
    newer = seed(api, "two", name="second")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "(UTC)", "MODEL", "/", "AGENT", "NAME"]
    assert lines[1].split()[0] == newer
    assert lines[1].split()[-2:] == [MODEL, "second"]
    assert lines[2].split()[0] == older
    assert len(lines) == 3

    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == [newer, older]
    assert listed[0]["name"] == "second"
    assert listed[0]["model"] == MODEL

    assert main(["list", "--page-size", "1"]) == 0
    assert "(more may follow: --page 1)" in capsys.readouterr().out
    assert main(["list", "--page", "5"]) == 0
    assert capsys.readouterr().out == "No conversations on page 5.\n"


def test_list_asks_for_the_library_s_page_size(
    api: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    library_default = inspect.signature(AsyncClient.list).parameters["page_size"].default
    assert library_default == 100
    assert main(["list"]) == 0
    assert main(["list", "--page-size", "7"]) == 0
    assert [request.query["page_size"] for request in api.requests] == ["100", "7"]
    assert main(["list", "--help"]) == 0
    assert "conversations per page (default: 100, as client.list())" in " ".join(
        capsys.readouterr().out.split()
    )


def test_list_shows_agent_conversations(
    api: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with Client(api.api_key, base_url=api.base_url) as client:
        client.start(inputs="hello", agent_id="ag_123")
    assert main(["list"]) == 0
    assert "agent ag_123" in capsys.readouterr().out


def test_history_table_and_json(
    api: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = {"type": "function", "function": {"name": "weather", "parameters": {}}}
    with Client(api.api_key, base_url=api.base_url) as client:
        reply = client.start(inputs="weather in Paris", model=MODEL, tools=[tool])
        [call] = reply.outputs
        assert isinstance(call, FunctionCallEntry)
        result = FunctionResultEntry(tool_call_id=call.tool_call_id, result="sun")
        client.append(reply.conversation_id, inputs=[result])
        client.append(reply.conversation_id, inputs="long " * 100)
    monkeypatch.setenv("COLUMNS", "150")

    assert main(["history", reply.conversation_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"ENTRY ID +TYPE +ROLE +TEXT", lines[0])
    assert re.fullmatch(r"msg_\w+ +message\.input +user +weather in Paris", lines[1])
    assert re.fullmatch(
        r"\w+ +function\.call +weather\(\{\"text\": \"weather in Paris\"\}\)", lines[2]
    )
    assert re.fullmatch(rf"\w+ +function\.result +{call.tool_call_id} -> sun", lines[3])
    assert re.fullmatch(r"msg_\w+ +message\.output +assistant +Result: sun", lines[4])
    # A long text is cut to the terminal's width.
    assert re.fullmatch(r"msg_\w+ +message\.input +user +(long )+long\.\.\.", lines[5])
    assert max(len(line) for line in lines) < 150
    assert len(lines) == 7

    assert main(["history", "--json", reply.conversation_id]) == 0
    history = json.loads(capsys.readouterr().out)
    assert history["conversation_id"] == reply.conversation_id
    assert [e["type"] for e in history["entries"]][:3] == [
        "message.input",
        "function.call",
        "function.result",
    ]


def test_delete(api: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = seed(api, "one"), seed(api, "two")
    assert main(["delete", first]) == 0
    assert capsys.readouterr().out == f"Deleted conversation {first}.\n"
    assert main(["delete", "--json", second]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": second, "deleted": True}
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["history"]) == 2
    assert main(["history", " "]) == 2
    assert main(["list", "--max-attempts", "0"]) == 2
    assert main(["list", "--max-attempts", "many"]) == 2
    assert main(["serve", "--port", "70000"]) == 2
    assert main(["serve", "--port", "http"]) == 2
    assert main(["serve", "--stream-delay", "-1"]) == 2
    assert main(["serve", "--stream-delay", "slow"]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required" in err
    assert "an id cannot be empty" in err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("mistral-conversations ")


def test_numbers_and_ids_out_of_range_are_usage_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "some-key")
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["list", "--page", "-1", "--base-url", url]) == 2
    assert main(["list", "--page-size", "0", "--base-url", url]) == 2
    assert main(["history", "..", "--base-url", url]) == 2
    assert main(["delete", ".", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "argument --page: must be 0 or more" in err
    assert "argument --page-size: must be at least 1" in err
    assert "'..' is not an id" in err
    assert "Traceback" not in err


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def test_every_argument_and_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _parser()
    commands = _commands(parser)
    assert sorted(commands) == ["chat", "delete", "demo", "history", "list", "serve"]
    for name, command in [("", parser), *commands.items()]:
        for action in command._actions:
            label = f"{name or 'mistral-conversations'} {action.dest}"
            assert action.help, f"{label} has no help"
            assert action.help != argparse.SUPPRESS, label
            # A default worth knowing is said (0 too): not a flag's False, nor no value.
            unsaid = action.default is None or action.default is False
            if not unsaid and action.default != argparse.SUPPRESS:
                assert "default: " in action.help, f"{label} does not say its default"
    # What the user sees: each positional argument is described in its command's --help.
    for name in ("history", "delete"):
        assert main([name, "--help"]) == 0
        described = re.search(
            r"^positional arguments:\n  ID +(\S.*)$", capsys.readouterr().out, re.M
        )
        assert described is not None
        assert described.group(1) == "the conversation's id (conv_...), as 'list' shows it"


# -- errors in the command line's own terms -------------------------------------------

# What a Python user is told, and a command-line user cannot act on: keywords to pass,
# attributes to read, classes to build.
PYTHON_SPEAK = re.compile(
    r"\w=|\s\.[a-z_]+\b|\b(?:Timeout|RetryPolicy|AsyncClient|Client)\(|\bbase_url\b|\bmax_\w+"
)


def cli_error(err: str) -> str:
    """The one error line, which must speak flags and environment variables."""
    line = error_line(err)
    assert not PYTHON_SPEAK.search(line), line
    return line


def test_a_refused_key_names_the_variable(
    local_server: LocalServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "wrong-key")
    assert main(["list", "--base-url", local_server.base_url]) == 1
    line = cli_error(capsys.readouterr().err)
    assert line.startswith("error: 401 Unauthorized.")
    assert "MISTRAL_API_KEY" in line


def test_a_bad_base_url_names_the_flag_and_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "some-key")
    assert main(["list", "--base-url", "api.mistral.ai"]) == 1
    line = cli_error(capsys.readouterr().err)
    assert line.startswith(
        "error: --base-url (or MISTRAL_BASE_URL) must be an http:// or https:// URL"
    )


def test_a_refused_request_prints_what_the_server_found(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = chat(monkeypatch, capsys, "hello\n/restart entry_nope\nagain\n", "--local")
    assert code == 0
    line = cli_error(err)
    assert line.startswith("error: 422 Unprocessable Content: from_entry_id: ")
    assert "The server rejected the request's fields. (request id: " in line


async def test_details_the_message_does_not_give_are_printed(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    detail = [
        {"loc": ["query", "page_size"], "msg": "Input should be at most 100", "type": "le"},
        {"loc": ["query", "page"], "msg": "Input is odd", "type": "odd"},
    ]
    scripted.reply(422, json.dumps({"message": "Invalid query", "detail": detail}))
    monkeypatch.setenv("MISTRAL_API_KEY", "some-key")
    code = await asyncio.to_thread(main, ["list", "--base-url", scripted.base_url])
    assert code == 1
    line = cli_error(capsys.readouterr().err)
    assert line.startswith("error: 422 Unprocessable Content: Invalid query.")
    assert "query.page_size: Input should be at most 100; query.page: Input is odd" in line


async def test_an_unreadable_answer_prints_its_body(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.reply(200, b'[{"id": 5}]')
    monkeypatch.setenv("MISTRAL_API_KEY", "some-key")
    code = await asyncio.to_thread(main, ["list", "--base-url", scripted.base_url])
    assert code == 1
    line = cli_error(capsys.readouterr().err)
    assert "The body was '[{\"id\": 5}]'; please report this with it." in line


async def test_a_redirect_names_the_flag(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.reply(307, b"", {"Location": "https://elsewhere.example/v1/conversations"})
    monkeypatch.setenv("MISTRAL_API_KEY", "some-key")
    code = await asyncio.to_thread(main, ["list", "--base-url", scripted.base_url])
    assert code == 1
    line = cli_error(capsys.readouterr().err)
    assert "Set --base-url (or MISTRAL_BASE_URL) to the final address." in line


def test_giving_up_names_max_attempts(api: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    api.fail_next(2, 503, retry_after=0)
    assert main(["list", "--max-attempts", "2"]) == 1
    line = cli_error(capsys.readouterr().err)
    assert line.startswith("error: 503 Service Unavailable")
    assert "(--max-attempts 2)" in line


def test_a_turn_not_sent_twice_says_so_without_python(
    api: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api.drop_next(when="after_processing", methods=["POST"])
    code, _, err = chat(monkeypatch, capsys, "hello\n")
    assert code == 1
    line = cli_error(err)
    assert "the server may have acted on it" in line
    assert line.endswith("[not sent again, since that could act twice]")


@pytest.mark.parametrize(
    "args",
    [["list"], ["history", "conv_1"], ["delete", "conv_1"], ["list", "--help"], ["chat"]],
    ids=" ".join,
)
def test_only_the_commands_that_serve_load_the_server(args: list[str]) -> None:
    # In a process of its own: this one has the server loaded already.
    code = (
        "import sys\n"
        "from mistral_conversations.__main__ import main\n"
        f"main({args!r})\n"
        "loaded = sorted(m for m in sys.modules if m.startswith("
        "('aiohttp.web', 'mistral_conversations.testing')))\n"
        "print(loaded)\n"
    )
    url = f"http://127.0.0.1:{closed_port()}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=cli_env(MISTRAL_API_KEY="some-key", MISTRAL_BASE_URL=url),
        input="",
        timeout=60,
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


# -- serve ----------------------------------------------------------------------------


async def plain_request(base_url: str, api_key: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{base_url}/v1/conversations", headers={"Authorization": f"Bearer {api_key}"}
        ) as response,
    ):
        return response.status, await response.json()


@posix_signals
def test_serve_answers_any_client_until_ctrl_c(session: Any) -> None:
    serving = session("serve", "--port", "0", "--api-key", "secret-k")
    banner = serving.expect("Press Ctrl-C to stop.")
    found = re.search(r"at (http://127\.0\.0\.1:\d+)\n", banner)
    assert found is not None
    base_url = found.group(1)
    assert f"MISTRAL_BASE_URL={base_url} MISTRAL_API_KEY=secret-k" in banner

    with Client("secret-k", base_url=base_url) as client:
        reply = client.start(inputs="hi", model=MODEL)
    assert reply.output_text == "Echo: hi"
    status, listed = asyncio.run(plain_request(base_url, "secret-k"))
    assert status == 200
    assert [c["id"] for c in listed] == [reply.conversation_id]
    assert asyncio.run(plain_request(base_url, "test-key"))[0] == 401

    serving.interrupt()
    code, out, err = serving.finish()
    assert code in (0, 130)
    assert out.endswith("Stopped.\n")
    assert "Traceback" not in err


def test_serve_on_a_busy_port(
    local_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", str(local_server.port)]) == 1
    line = error_line(capsys.readouterr().err)
    assert line == (
        f"error: cannot listen on 127.0.0.1:{local_server.port}: "
        f"{os.strerror(errno.EADDRINUSE)}; choose another --port (0 picks a free one)"
    )


@pytest.mark.parametrize("host", ["192.0.2.1", "no-such-host.invalid"])
def test_serve_on_an_address_not_of_this_machine(
    capsys: pytest.CaptureFixture[str], host: str
) -> None:
    assert main(["serve", "--host", host, "--port", "0"]) == 1
    line = error_line(capsys.readouterr().err)
    assert line.startswith(f"error: cannot listen on {host}:0: ")
    assert line.endswith("; check --host: it must name an address of this machine")
    if host == "192.0.2.1":
        assert f": {os.strerror(errno.EADDRNOTAVAIL)};" in line


def test_python_3_13_s_unbindable_address_reads_as_the_others_do() -> None:
    from mistral_conversations._cli.serve import _cannot_listen

    # What Python 3.13's create_server raises: no errno, the addresses in the message.
    error = OSError("could not bind on any address out of [('192.0.2.1', 0)]")
    assert str(_cannot_listen("192.0.2.1", 0, error)) == (
        f"cannot listen on 192.0.2.1:0: {os.strerror(errno.EADDRNOTAVAIL)}; check --host: "
        "it must name an address of this machine"
    )


def test_serve_in_process_until_interrupted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    banner, answers = serve_banner(
        monkeypatch, capsys, "--api-key", "k", "--stream-delay", "0.01", api_key="k"
    )
    assert re.search(r"at (http://127\.0\.0\.1:\d+)\n", banner) is not None
    assert answers == ["Echo: ping"]


def test_serve_stopped_while_writing_its_banner_is_a_clean_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    printed: list[object] = []

    def interrupted_once(*args: object, **kwargs: object) -> None:
        if not printed:
            printed.append(args)
            raise KeyboardInterrupt  # Ctrl-C while the banner is being written
        print(*args)

    monkeypatch.setattr("mistral_conversations._cli.serve.print", interrupted_once, raising=False)
    assert main(["serve", "--port", "0"]) == 0
    assert capsys.readouterr().out == "Stopped.\n"


def serve_banner(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    api_key: str = "test-key",
) -> tuple[str, list[str]]:
    """Run serve in this process with ``args``; its banner, and what a client (with
    ``api_key``) got from the first URL in it (the one a reader copies)."""
    seen: list[str] = []
    answers: list[str] = []

    def use_then_interrupt(seconds: float) -> None:
        # Stands for the wait that Ctrl-C ends: use the server meanwhile, then press it.
        banner = capsys.readouterr().out
        seen.append(banner)
        found = re.search(r"http://\S+", banner)
        assert found is not None
        with Client(api_key, base_url=found.group(0)) as client:
            answers.append(client.start(inputs="ping", model=MODEL).output_text)
        raise KeyboardInterrupt

    monkeypatch.setattr("mistral_conversations._cli.serve.time.sleep", use_then_interrupt)
    assert main(["serve", "--port", "0", *args]) == 0
    assert capsys.readouterr().out == "Stopped.\n"
    [banner] = seen
    return banner, answers


@pytest.mark.parametrize(
    ("host", "url_host", "version"),
    [
        ("0.0.0.0", "127.0.0.1", 4),
        pytest.param("::", "[::1]", 6, marks=needs_ipv6),
    ],
)
def test_serve_on_every_interface_prints_a_url_to_connect_to(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    host: str,
    url_host: str,
    version: int,
) -> None:
    with caplog.at_level(logging.WARNING):
        banner, answers = serve_banner(monkeypatch, capsys, "--host", host)
    # The client got its answer from the URL printed first, and said nothing about it.
    assert answers == ["Echo: ping"]
    assert [record.getMessage() for record in caplog.records] == []
    lines = banner.splitlines()
    found = re.fullmatch(
        rf"Serving the Conversations API from memory at http://{re.escape(url_host)}:(\d+)",
        lines[0],
    )
    assert found is not None, lines[0]
    port = found.group(1)
    # Other machines are told the host's name, and that the key would cross in clear.
    assert lines[1] == (
        f"Listening on every IPv{version} interface ({host}): from other machines, use this "
        f"one's name or address, e.g. http://{socket.gethostname()}:{port} (plain http: "
        "the key travels in clear)"
    )
    # The wildcard is never offered as an address to connect to.
    assert f"://{host}:" not in banner
    assert f"://[{host}]:" not in banner
    url = shlex.quote(f"http://{url_host}:{port}")  # [::1] is quoted for the shell
    assert f"MISTRAL_BASE_URL={url} MISTRAL_API_KEY=test-key" in banner


@needs_ipv6
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_serve_writes_an_ipv6_address_as_a_url_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    banner, answers = serve_banner(monkeypatch, capsys, "--host", host)
    assert answers == ["Echo: ping"]
    assert re.match(r"Serving the Conversations API from memory at http://\[::1\]:\d+\n", banner)
    assert "Listening on every" not in banner


def test_serve_refuses_an_empty_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", ""]) == 2
    assert "argument --host: an address cannot be empty" in capsys.readouterr().err


# -- the whole program ------------------------------------------------------------------


def test_ctrl_c_anywhere_else_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("mistral_conversations._cli.demo._walk_through", interrupted)
    assert main(["demo"]) == 130
    assert "Traceback" not in capsys.readouterr().err


@posix_signals
def test_a_reader_that_goes_away_is_no_traceback() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "mistral_conversations", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert demo.stdout is not None
    assert demo.stderr is not None
    demo.stdout.close()  # as "| head" does
    code = demo.wait(timeout=30)
    assert code == 1
    assert demo.stderr.read() == b""
    demo.stderr.close()


def test_chat_shows_what_else_a_reply_does(capsys: pytest.CaptureFixture[str]) -> None:
    chat = _Chat(cast(Any, None), model=None, agent_id="ag_1")
    events: list[ConversationEvent] = [
        ResponseStartedEvent(conversation_id="conv_1"),
        MessageOutputEvent(id="m1", content="Let me look"),
        ToolExecutionStartedEvent(id="t1", name="web_search", arguments="{}"),
        AgentHandoffDoneEvent(id="h1", next_agent_id="ag_2", next_agent_name="Finder"),
        FunctionCallEvent(id="f1", name="lookup", tool_call_id="call_1", arguments='{"q"'),
        FunctionCallEvent(id="f1", name="lookup", tool_call_id="call_1", arguments=": 1}"),
        MessageOutputEvent(id="m2", content=TextChunk(text="Found it.")),
    ]
    for event in events:
        chat.show(event)
    chat.end_reply()
    assert chat.conversation_id == "conv_1"
    assert capsys.readouterr().out.splitlines() == [
        "assistant> Let me look",
        "(running tool web_search)",
        "(handed over to agent Finder)",
        "(asks to call function lookup, which this chat cannot run)",
        "assistant> Found it.",
    ]


def test_chat_prints_an_emoji_split_across_two_deltas_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    chat = _Chat(cast(Any, None), model="m", agent_id=None)
    for piece in ("Hi ", "\ud83d", "\ude00", "!"):  # its UTF-16 halves, one per delta
        chat.show(MessageOutputEvent(id="m1", content=piece))
    chat.end_reply()
    out = capsys.readouterr().out
    out.encode("utf-8")  # what a terminal's strict encoder takes: no half is left
    assert out == "assistant> Hi \U0001f600!\n"


def test_tables_show_every_kind_of_entry() -> None:
    entries: list[Entry] = [
        ToolExecutionEntry(id="te_1", name="web_search", arguments='{"query": "brie"}'),
        AgentHandoffEntry(
            id="ah_1",
            previous_agent_id="ag_1",
            previous_agent_name="Triage",
            next_agent_id="ag_2",
            next_agent_name="Cheese expert",
        ),
        UnknownEntry(type="memory.write", raw={"type": "memory.write", "id": "mw_1"}),
    ]
    assert entries_table(entries).splitlines() == [
        "ENTRY ID  TYPE            ROLE  TEXT",
        'te_1      tool.execution        web_search {"query": "brie"}',
        "ah_1      agent.handoff         Triage -> Cheese expert",
        'mw_1      memory.write          {"type": "memory.write", "id": "mw_1"}',
    ]
