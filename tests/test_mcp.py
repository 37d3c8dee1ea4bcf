"""MCP server tools as function tools: listing, calling, errors, cancellation, names.

The calc server (tests/mcp_servers/calc.py, written with mcp's MCPServer) runs as a
subprocess and is reached three ways: an ``mcp.ClientSession`` over stdio, one over
streamable HTTP (both with the initialize handshake), and an ``mcp.Client`` over
streamable HTTP (which negotiates the 2026 protocol). Paging and naming edge cases use
low-level ``mcp.server.Server`` instances in-process, through ``mcp.Client``.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp import types as mcp_types
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext

from mistral_conversations._mcp import McpFunction, McpToolError, is_mcp_session, mcp_functions
from mistral_conversations.errors import ConfigurationError
from mistral_conversations.models import Function, FunctionTool

CALC = Path(__file__).parent / "mcp_servers" / "calc.py"
# Generous, for a loaded two-core machine: starting Python and importing mcp can take
# seconds there. Each bounds one wait; none is ever reached by a passing run.
STARTUP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0

Session = ClientSession | Client


@asynccontextmanager
async def _calc_over_http() -> AsyncIterator[str]:
    """Runs the calc server over streamable HTTP and gives its URL; stops it at exit."""
    process = await anyio.open_process(
        [sys.executable, str(CALC), "--http"], stdin=subprocess.DEVNULL, stderr=None
    )
    async with process:
        try:
            assert process.stdout is not None
            with anyio.fail_after(STARTUP_TIMEOUT):
                port = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 16)
            yield f"http://127.0.0.1:{int(port)}/mcp"
        finally:
            process.terminate()
            with anyio.move_on_after(STARTUP_TIMEOUT) as wait:
                await process.wait()
            if wait.cancelled_caught:
                process.kill()


@asynccontextmanager
async def _stdio_session() -> AsyncIterator[Session]:
    params = StdioServerParameters(command=sys.executable, args=[str(CALC)])
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, read_timeout_seconds=REQUEST_TIMEOUT) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def _http_session() -> AsyncIterator[Session]:
    async with (
        _calc_over_http() as url,
        streamable_http_client(url) as (read, write),
        ClientSession(read, write, read_timeout_seconds=REQUEST_TIMEOUT) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def _http_client() -> AsyncIterator[Session]:
    async with (
        _calc_over_http() as url,
        Client(url, read_timeout_seconds=REQUEST_TIMEOUT) as client,
    ):
        yield client


Connect = Callable[[], AbstractAsyncContextManager[Session]]


# Sessions are opened inside each test, not in fixtures: anyio task groups must be
# left by the task that entered them, and async fixtures set up and tear down in two.
@pytest.fixture(
    params=[_stdio_session, _http_session, _http_client], ids=["stdio", "http", "client"]
)
def connect(request: pytest.FixtureRequest) -> Connect:
    """Opens a connection to the calc server: a ClientSession (stdio, HTTP) or a Client."""
    opener: Connect = request.param
    return opener


async def _functions(session: Session) -> dict[str, McpFunction]:
    return {function.name: function for function in await mcp_functions(session)}


async def test_tools_are_listed_as_function_tools(connect: Connect) -> None:
    async with connect() as session:
        assert is_mcp_session(session)
        listed = await session.list_tools()
        functions = await _functions(session)

    assert list(functions) == [
        "add", "shout", "fail", "stats", "text_count", "mixed", "slow", "slow_outcome",
    ]  # fmt: skip
    add = functions["add"]
    assert add.mcp_name == "add"
    assert add.tool == FunctionTool(
        function=Function(
            name="add",
            description="Add two integers.",
            parameters={
                "type": "object",
                "title": "addArguments",
                "properties": {
                    "a": {"title": "A", "type": "integer"},
                    "b": {"title": "B", "type": "integer"},
                },
                "required": ["a", "b"],
            },
        )
    )
    for tool in listed.tools:
        function = next(f for f in functions.values() if f.mcp_name == tool.name)
        assert function.tool.function.name == function.name
        assert function.tool.function.description == tool.description
        assert function.tool.function.parameters == tool.input_schema


async def test_calls_give_the_text_of_the_result(connect: Connect) -> None:
    async with connect() as session:
        functions = await _functions(session)
        # Text wins over the structured copy of the same value ({"result": 5}).
        assert await functions["add"].call({"a": 2, "b": 3}) == "5"
        assert await functions["shout"].call({"text": "hello"}) == "HELLO!"
        # Called by its own name, "text.count", on the server.
        assert await functions["text_count"].call({"text": "héllo"}) == "5"
        # Structured content alone, as compact JSON.
        assert await functions["stats"].call({"values": [1, 2, 3]}) == (
            '{"count":3,"sum":6.0,"mean":2.0}'
        )
        assert await functions["mixed"].call({}) == "\n".join(
            [
                "first",
                "[image/png, 1028 bytes]",
                "[audio/wav, 4 bytes]",
                "embedded text",
                "[resource file:///data.bin, application/octet-stream, 5 bytes]",
                "[resource link file:///report.pdf, application/pdf]",
            ]
        )


async def test_a_tool_error_raises_with_its_text(connect: Connect) -> None:
    async with connect() as session:
        functions = await _functions(session)
        with pytest.raises(McpToolError) as raised:
            await functions["fail"].call({"message": "the disk is full"})
        assert str(raised.value) == "Error executing tool fail: the disk is full"

        # Arguments the server refuses are the model's to correct, too.
        with pytest.raises(McpToolError, match=r"(?s)add.*valid integer"):
            await functions["add"].call({"a": "two", "b": 3})

        # The session is still good for the next call.
        assert await functions["add"].call({"a": 1, "b": 1}) == "2"


async def _slow_outcome(slow_outcome: McpFunction, *, until_not: str) -> str:
    """Polls the server, in another process, until the last ``slow`` call leaves a state."""
    with anyio.fail_after(REQUEST_TIMEOUT):
        while True:
            outcome = await slow_outcome.call({})
            if outcome != until_not:
                return outcome
            await anyio.sleep(0.02)


@pytest.mark.parametrize("cancel", ["task", "scope"])
async def test_cancelling_a_call_cancels_the_request(connect: Connect, cancel: str) -> None:
    async with connect() as session:
        functions = await _functions(session)
        slow, slow_outcome = functions["slow"], functions["slow_outcome"]
        if cancel == "task":
            # asyncio's own cancellation, as asyncio.wait_for and asyncio.timeout give.
            task = asyncio.create_task(slow.call({"seconds": 600}))
            assert await _slow_outcome(slow_outcome, until_not="idle") == "running"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            async with anyio.create_task_group() as group:
                group.start_soon(slow.call, {"seconds": 600})
                assert await _slow_outcome(slow_outcome, until_not="idle") == "running"
                group.cancel_scope.cancel()

        assert await _slow_outcome(slow_outcome, until_not="running") == "cancelled"
        assert await functions["add"].call({"a": 1, "b": 2}) == "3"


def test_is_mcp_session_is_false_for_other_objects() -> None:
    assert not is_mcp_session(object())
    assert not is_mcp_session(None)
    assert not is_mcp_session({"call_tool": None, "list_tools": None})
    assert not is_mcp_session(ClientSession)
    assert not is_mcp_session(Client)
    assert not is_mcp_session(FunctionTool(function=Function(name="f", parameters={})))


def test_importing_the_package_does_not_import_mcp() -> None:
    code = textwrap.dedent(
        """
        import sys
        import mistral_conversations
        from mistral_conversations._mcp import is_mcp_session

        assert not is_mcp_session(object())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("mcp", "mcp_types"))
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=STARTUP_TIMEOUT)


# -- in-process servers: paging, names, protocol errors -------------------------------------


def _tool(name: str, description: str | None = None) -> mcp_types.Tool:
    return mcp_types.Tool(name=name, description=description, input_schema={"type": "object"})


_Pages = Mapping[str | None, tuple[list[mcp_types.Tool], str | None]]


def _one_page(*tools: mcp_types.Tool) -> _Pages:
    return {None: (list(tools), None)}


def _server(
    pages: _Pages,
    call: Callable[[str], mcp_types.CallToolResult] | None = None,
) -> Server[Any]:
    """A server listing ``pages[cursor]`` (tools, next cursor) and answering ``call(name)``."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        tools, next_cursor = pages[params.cursor if params else None]
        return mcp_types.ListToolsResult(tools=tools, next_cursor=next_cursor)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        assert call is not None
        return call(params.name)

    return Server("test", on_list_tools=list_tools, on_call_tool=call_tool)


@pytest.fixture(params=["client", "session"])
def pick(request: pytest.FixtureRequest) -> Callable[[Client], Session]:
    """The mcp.Client itself, or the ClientSession inside it."""
    if request.param == "client":
        return lambda client: client
    return lambda client: client.session


async def test_every_page_of_tools_is_listed(pick: Callable[[Client], Session]) -> None:
    pages = {
        None: ([_tool("a", "first"), _tool("b")], "page-2"),
        "page-2": ([_tool("c")], "page-3"),
        "page-3": ([_tool("d")], None),
    }
    async with Client(_server(pages)) as client:
        session = pick(client)
        assert is_mcp_session(session)
        functions = await _functions(session)
    assert list(functions) == ["a", "b", "c", "d"]
    assert functions["a"].tool.function.description == "first"
    assert functions["b"].tool.function.description is None


async def test_a_looping_cursor_is_an_error(pick: Callable[[Client], Session]) -> None:
    pages = {None: ([_tool("a")], "again"), "again": ([_tool("b")], "again")}
    async with Client(_server(pages)) as client:
        with pytest.raises(RuntimeError, match="'again' twice"):
            await mcp_functions(pick(client))


async def test_names_the_api_refuses_are_mapped() -> None:
    long = "x" * 100
    pages = _one_page(_tool("files.read"), _tool("café/menu"), _tool(long))
    calls: list[str] = []

    def call(name: str) -> mcp_types.CallToolResult:
        calls.append(name)
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(text="ok")])

    async with Client(_server(pages, call)) as client:
        functions = await _functions(client)
        assert list(functions) == ["files_read", "caf__menu", "x" * 64]
        assert functions["files_read"].tool.function.name == "files_read"
        for function in functions.values():
            assert await function.call({}) == "ok"
    assert calls == ["files.read", "café/menu", long]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["a.b", "a_b"], r"'a\.b' and 'a_b' would both be offered to the model as 'a_b'"),
        (["x" * 64 + "1", "x" * 64 + "2"], r"would both be offered"),
        ([""], "empty name"),
    ],
)
async def test_names_that_cannot_be_offered_are_a_configuration_error(
    names: list[str], message: str
) -> None:
    async with Client(_server(_one_page(*map(_tool, names)))) as client:
        with pytest.raises(ConfigurationError, match=message):
            await mcp_functions(client)


async def test_protocol_errors() -> None:
    def call(name: str) -> mcp_types.CallToolResult:
        if name == "gone":
            raise MCPError(mcp_types.INVALID_PARAMS, "Unknown tool: gone")
        raise MCPError(mcp_types.INTERNAL_ERROR, "the database is down")

    pages = _one_page(_tool("gone"), _tool("broken"))
    async with Client(_server(pages, call)) as client:
        functions = await _functions(client)
        # What the spec answers for an unknown tool: for the model to read.
        with pytest.raises(McpToolError, match=r"^Unknown tool: gone$"):
            await functions["gone"].call({})
        # Any other protocol error is the session's, not the model's.
        with pytest.raises(MCPError, match="the database is down"):
            await functions["broken"].call({})


async def test_an_error_result_without_text() -> None:
    def call(name: str) -> mcp_types.CallToolResult:
        return mcp_types.CallToolResult(content=[], is_error=True)

    async with Client(_server(_one_page(_tool("quiet")), call)) as client:
        (function,) = await mcp_functions(client)
        with pytest.raises(McpToolError, match=r"^the tool 'quiet' failed without a message$"):
            await function.call({})


@pytest.mark.parametrize(
    ("size", "encoded"), [(n, base64.b64encode(bytes(n)).decode()) for n in range(7)]
)
async def test_sizes_of_binary_content(size: int, encoded: str) -> None:
    def call(name: str) -> mcp_types.CallToolResult:
        image = mcp_types.ImageContent(data=encoded, mime_type="image/gif")
        blob = mcp_types.BlobResourceContents(uri="mem://b", blob=encoded)
        return mcp_types.CallToolResult(content=[image, mcp_types.EmbeddedResource(resource=blob)])

    async with Client(_server(_one_page(_tool("bin")), call)) as client:
        (function,) = await mcp_functions(client)
        assert await function.call({}) == (
            f"[image/gif, {size} bytes]\n[resource mem://b, {size} bytes]"
        )
