"""Runs the code blocks of README.md and docs/ as tests, against the embedded server.

Every fenced ``python`` block runs; blocks of one page share a namespace, in page order,
as a reader would type them. A block may ``await`` at top level, as in ``python -m asyncio``
or a notebook: the blocks of a page share one event loop, so a client opened in one block
serves the next. ``MISTRAL_API_KEY`` and ``MISTRAL_BASE_URL`` point at a
local server, so ``AsyncClient()`` and ``Client()`` work as written. A block that defines
``test_*`` functions has them called, with a fresh ``local_server`` when they ask for one,
the way pytest would. A block that imports ``mistralai`` runs with the official SDK aimed
at the same server, and is skipped where that SDK is not installed (the ``bench`` extra).

Every fenced ``bash`` block runs in ``bash -euo pipefail`` with the same environment. A
block whose command is ``serve`` runs until it prints its base URL, then gets Ctrl-C, as a
reader would stop it. A block that must not run says so before it, with its reason:
``<!-- skip: next "why" -->``.
"""

from __future__ import annotations

import ast
import asyncio
import faulthandler
import inspect
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import SkipTest

from sybil import Example

from mistral_conversations.testing import LocalServer

ROOT = Path(__file__).resolve().parent.parent

# A block that hangs must fail the run, not stall it: the traceback says where it stood.
BLOCK_DEADLINE = 120.0

_OFFICIAL_SDK = re.compile(r"^\s*(from|import)\s+mistralai\b", re.MULTILINE)
_SERVE = re.compile(r"(mistral-conversations|-m mistral_conversations)\s+serve\b")
_BASE_URL = re.compile(r"https?://\S+")


def environment(server: LocalServer) -> dict[str, str]:
    """The environment a reader's shell would have, aimed at ``server``."""
    env = dict(os.environ)
    env["MISTRAL_API_KEY"] = server.api_key
    env["MISTRAL_BASE_URL"] = server.base_url
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _Deadline:
    def __enter__(self) -> None:
        faulthandler.dump_traceback_later(BLOCK_DEADLINE, exit=True)

    def __exit__(self, *exc: object) -> None:
        faulthandler.cancel_dump_traceback_later()


def run_python(example: Example) -> None:
    """Runs one Python block in its page's namespace, then the tests it defines."""
    source = str(example.parsed)
    namespace = example.namespace
    defined_before = {name: value for name, value in namespace.items() if name.startswith("test_")}
    with ExitStack() as stack:
        stack.enter_context(_Deadline())
        if _OFFICIAL_SDK.search(source):
            stack.enter_context(_official_sdk(namespace["docs_server"]))
        code = compile(
            "\n" * (example.line + example.parsed.line_offset) + source,
            example.path,
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
        if code.co_flags & inspect.CO_COROUTINE:
            page_loop(namespace).run_until_complete(eval(code, namespace))
        else:
            exec(code, namespace)
        namespace.pop("__builtins__", None)
        for name, function in list(namespace.items()):
            if (
                name.startswith("test_")
                and callable(function)
                and defined_before.get(name) is not function
            ):
                _call_test(function)


_page_loops: list[asyncio.AbstractEventLoop] = []


def page_loop(namespace: dict[str, Any]) -> asyncio.AbstractEventLoop:
    """The event loop of one page's top-level awaits, made on its first one."""
    loop = namespace.get("__page_loop__")
    if loop is None:
        loop = namespace["__page_loop__"] = asyncio.new_event_loop()
        _page_loops.append(loop)
    assert isinstance(loop, asyncio.AbstractEventLoop)
    return loop


def close_page_loops() -> None:
    """Closes the pages' loops, with what they left open (called at the session's end)."""
    while _page_loops:
        loop = _page_loops.pop()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _call_test(function: Callable[..., Any]) -> None:
    with ExitStack() as stack:
        arguments: dict[str, Any] = {}
        for parameter in inspect.signature(function).parameters:
            if parameter != "local_server":
                raise AssertionError(f"a docs test may ask for local_server only, not {parameter}")
            arguments[parameter] = stack.enter_context(LocalServer().run_in_thread())
        result = function(**arguments)
        if inspect.iscoroutine(result):
            asyncio.run(result)


def _official_sdk(server: LocalServer) -> Any:
    try:
        from tests.official_sdk import aimed_at
    except ImportError as error:  # mistralai itself is missing
        raise SkipTest(
            f"the official SDK is not installed ({error}): pip install -e '.[bench]'"
        ) from error
    return aimed_at(server.base_url)


def run_shell(example: Example) -> None:
    """Runs one bash block as a reader would, and fails with its output if it fails."""
    source = str(example.parsed)
    env = environment(example.namespace["docs_server"])
    if _SERVE.search(source):
        _run_until_served(source, env)
        return
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", source],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_DEADLINE,
        )
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"still running after {BLOCK_DEADLINE:.0f} s:\n{source}") from expired
    if done.returncode != 0:
        raise AssertionError(
            f"exit status {done.returncode}:\n{source}\n-- stdout\n{done.stdout}"
            f"\n-- stderr\n{done.stderr}"
        )


def _run_until_served(source: str, env: dict[str, str]) -> None:
    process = subprocess.Popen(
        ["bash", "-c", f"exec {source.strip()}"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    with _Deadline():
        for line in _lines(process.stdout):
            seen.append(line)
            if _BASE_URL.search(line):
                break
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=BLOCK_DEADLINE)
    output = "".join(seen) + rest
    if not any(_BASE_URL.search(line) for line in seen) or process.returncode != 0:
        raise AssertionError(
            f"serve printed no base URL or did not stop cleanly on Ctrl-C "
            f"(exit status {process.returncode}):\n{output}"
        )


def _lines(stream: Any) -> Iterator[str]:
    yield from iter(stream.readline, "")
