"""A small MCP server for tests/test_mcp.py, written with the mcp package's own MCPServer.

``python calc.py`` serves MCP over stdio. ``python calc.py --http`` serves streamable
HTTP at ``/mcp`` on a free port of 127.0.0.1, and prints the port as its first line
of output. The tests run it as a subprocess either way: building an MCPServer
configures the root logger, which must not happen inside the pytest process.
"""

from __future__ import annotations

import base64
import socket
import sys

import anyio
import mcp.types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("calc", log_level="WARNING")

PNG = bytes(range(256)) * 4 + b"tail"
"""The bytes the ``mixed`` tool returns as an image: 1028 of them."""

# What became of the last ``slow`` call, read back through ``slow_outcome``: a cancelled
# request ends server-side in another process, where the test cannot look directly.
_slow_outcome = "idle"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case the text and end it with an exclamation mark."""
    return text.upper() + "!"


@server.tool()
def fail(message: str) -> str:
    """Always fail, with the message given."""
    raise ToolError(message)


@server.tool()
def stats(values: list[float]) -> types.CallToolResult:
    """Count, sum and mean of the values, as structured content only."""
    total = sum(values)
    summary = {"count": len(values), "sum": total, "mean": total / len(values)}
    return types.CallToolResult(content=[], structured_content=summary)


@server.tool(name="text.count")
def count(text: str) -> int:
    """Count the characters of the text (a name with a dot, which the Mistral API refuses)."""
    return len(text)


@server.tool()
def mixed() -> list[types.ContentBlock]:
    """One content block of each kind."""
    return [
        types.TextContent(text="first"),
        types.ImageContent(data=base64.b64encode(PNG).decode(), mime_type="image/png"),
        types.AudioContent(data=base64.b64encode(b"RIFF").decode(), mime_type="audio/wav"),
        types.EmbeddedResource(
            resource=types.TextResourceContents(uri="file:///notes.txt", text="embedded text")
        ),
        types.EmbeddedResource(
            resource=types.BlobResourceContents(
                uri="file:///data.bin",
                mime_type="application/octet-stream",
                blob=base64.b64encode(b"12345").decode(),
            )
        ),
        types.ResourceLink(uri="file:///report.pdf", name="report", mime_type="application/pdf"),
    ]


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep for the given seconds; ``slow_outcome`` tells whether it finished or was cancelled."""
    global _slow_outcome
    _slow_outcome = "running"
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        _slow_outcome = "cancelled"
        raise
    _slow_outcome = "finished"
    return "done"


@server.tool()
def slow_outcome() -> str:
    """What became of the last ``slow`` call: idle, running, finished or cancelled."""
    return _slow_outcome


def serve_http() -> None:
    """Serve streamable HTTP on a port the system picks, printed first on stdout."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    # Listening before the port is printed: a client that connects at once waits in the
    # backlog instead of meeting a refusal while uvicorn is still starting.
    listener.listen(128)
    config = uvicorn.Config(
        server.streamable_http_app(),
        log_level="warning",
        # A client left connected must not keep the server from exiting on SIGTERM.
        timeout_graceful_shutdown=5,
    )
    print(listener.getsockname()[1], flush=True)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    if sys.argv[1:] == ["--http"]:
        serve_http()
    else:
        server.run("stdio")
