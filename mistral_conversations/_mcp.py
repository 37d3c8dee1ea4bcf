"""The tools of an MCP server, offered to the model as function tools by the run loop.

A user passes a connected, initialised ``mcp.ClientSession`` (or a high-level
``mcp.Client``, entered) in ``tools``; :func:`mcp_functions` lists the server's tools
and gives one :class:`McpFunction` per tool: the :class:`FunctionTool` to offer, and
:meth:`McpFunction.call`, which runs the tool through the session and renders its
result as the text of the ``function.result`` entry.

Names. MCP allows tool names of up to 128 characters, dots included; the API takes
only ``^[a-zA-Z0-9_-]{1,64}$``. A name that does not fit is mapped, not refused,
since the user rarely controls the server: every other character becomes ``_``, and
the result is cut to 64 characters (``files.read`` is offered as ``files_read``). The
model sees the mapped name, the server is called with the original one. Two tools of
a server that map to the same name are a :class:`ConfigurationError` naming both.

Results. The text of a result is its content blocks, one after another, joined by
newlines:

- text: as is; an embedded text resource: its text;
- image and audio: ``[image/png, 1234 bytes]``;
- an embedded binary resource: ``[resource file:///a.bin, application/zip, 12 bytes]``;
- a resource link: ``[resource link file:///report.pdf, application/pdf]``.

``structuredContent`` is given, as compact JSON, only when no block carries text:
the MCP spec asks a server that sends structured content to send its serialised
JSON as text too, and the model reads that text once rather than twice (and reads
a plain string returned by a tool as the string, not as ``{"result": "..."}``).

Errors. A result flagged ``isError``, or an MCP ``invalid params`` error answer, is
the model's to read and correct: :class:`McpToolError`. Every other failure of the
session (connection closed, request timed out) propagates as mcp raised it.

Cancellation. Cancelling :meth:`McpFunction.call` (a timeout, a cancelled task, an
anyio cancel scope) cancels the request on the server too: before the cancellation
propagates, the session sends ``notifications/cancelled`` (on a 2026 streamable HTTP
connection it closes the request's stream instead), and the server interrupts the tool.

mcp is an optional extra: nothing here imports it before the user has, and
:func:`is_mcp_session` only looks at modules already loaded.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from . import _json
from .errors import ConfigurationError
from .models import Function, FunctionTool

if TYPE_CHECKING:
    from mcp import Client, ClientSession
    from mcp.types import CallToolResult, ListToolsResult, Tool

__all__ = ["McpFunction", "McpToolError", "is_mcp_session", "mcp_functions"]

_INVALID_NAME_CHARACTER = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_NAME_LENGTH = 64


class McpToolError(Exception):
    """The MCP tool reported an error; ``str()`` is its text, written for the model."""


def is_mcp_session(value: object) -> bool:
    """Whether ``value`` is an ``mcp.ClientSession`` or an ``mcp.Client``.

    Cheap, and never imports mcp: if the user's code never imported it, ``value``
    cannot be one of its objects.
    """
    session_module = sys.modules.get("mcp.client.session")
    if session_module is not None and isinstance(value, session_module.ClientSession):
        return True
    client_module = sys.modules.get("mcp.client.client")
    return client_module is not None and isinstance(value, client_module.Client)


@attrs.frozen
class McpFunction:
    """One tool of an MCP server, as a function tool the run loop offers and calls.

    ``name`` is the name the model calls, the same as ``tool.function.name``;
    ``mcp_name`` the tool's name on the server, which differs when the API
    would refuse it (see the module notes).
    """

    name: str
    tool: FunctionTool
    mcp_name: str
    _session: ClientSession | Client = attrs.field(repr=False)

    async def call(self, arguments: Mapping[str, Any]) -> str:
        """Call the tool through the session; the text for the ``function.result`` entry.

        Raises :class:`McpToolError` when the tool reports an error, or the server
        refuses the arguments, so that the model reads why and can correct its call.
        """
        from mcp import MCPError
        from mcp.types import INVALID_PARAMS

        try:
            result = await self._session.call_tool(self.mcp_name, dict(arguments))
        except MCPError as exc:
            # The spec's answer to an unknown tool or refused arguments: the model's
            # mistake to read, like an isError result, not a failure of the session.
            if exc.code != INVALID_PARAMS:
                raise
            raise McpToolError(exc.message) from exc
        text = _render(result)
        if result.is_error:
            raise McpToolError(text or f"the tool {self.mcp_name!r} failed without a message")
        return text


async def mcp_functions(session: ClientSession | Client) -> list[McpFunction]:
    """The session's tools, every page of ``tools/list``, each as an :class:`McpFunction`.

    ``session`` is an initialised ``mcp.ClientSession`` or an entered ``mcp.Client``.
    Raises :class:`ConfigurationError` if a tool has an empty name or two would be
    offered under the same name, :class:`RuntimeError` if the server's cursors go
    round in a loop, and whatever mcp raises if the listing fails.
    """
    functions: dict[str, McpFunction] = {}
    for tool in await _list_tools(session):
        name = _INVALID_NAME_CHARACTER.sub("_", tool.name)[:_MAX_NAME_LENGTH]
        if not name:
            raise ConfigurationError(
                "the MCP server lists a tool with an empty name, which the model cannot "
                "call; give the tool a name on the server"
            )
        clash = functions.get(name)
        if clash is not None:
            raise ConfigurationError(
                f"the MCP tools {clash.mcp_name!r} and {tool.name!r} would both be offered "
                f"to the model as {name!r} (the API takes at most 64 ASCII letters, digits, "
                "'_' or '-', so any other character becomes '_'); rename one of them on "
                "the server"
            )
        function = Function(name=name, description=tool.description, parameters=tool.input_schema)
        functions[name] = McpFunction(
            name, FunctionTool(function=function), mcp_name=tool.name, session=session
        )
    return list(functions.values())


async def _list_tools(session: ClientSession | Client) -> list[Tool]:
    # The two list_tools take the cursor differently; both answer ListToolsResult.
    from mcp import ClientSession
    from mcp.types import PaginatedRequestParams

    tools: list[Tool] = []
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page: ListToolsResult
        if isinstance(session, ClientSession):
            params = None if cursor is None else PaginatedRequestParams(cursor=cursor)
            page = await session.list_tools(params=params)
        else:
            page = await session.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
        # A server that hands back a cursor it already gave would page forever.
        if cursor in seen:
            raise RuntimeError(
                f"the MCP server's tools/list returned the cursor {cursor!r} twice; "
                "its pagination loops"
            )
        seen.add(cursor)


def _render(result: CallToolResult) -> str:
    from mcp import types

    parts: list[str] = []
    has_text = False
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
            has_text = True
        elif isinstance(block, types.ImageContent | types.AudioContent):
            parts.append(_summary(block.mime_type, f"{_decoded_size(block.data)} bytes"))
        elif isinstance(block, types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, types.TextResourceContents):
                parts.append(resource.text)
                has_text = True
            else:
                size = f"{_decoded_size(resource.blob)} bytes"
                parts.append(_summary(f"resource {resource.uri}", resource.mime_type, size))
        else:
            parts.append(_summary(f"resource link {block.uri}", block.mime_type))
    if not has_text and result.structured_content is not None:
        parts.insert(0, _json.dumps(result.structured_content).decode())
    return "\n".join(parts)


def _summary(head: str, *details: str | None) -> str:
    """``[head, detail, ...]``, leaving out the details that are unknown."""
    return "[" + ", ".join([head, *(detail for detail in details if detail)]) + "]"


def _decoded_size(data: str) -> int:
    # Arithmetic on the base64 text: decoding a large image only to measure it would
    # copy it for nothing.
    return len(data.rstrip("=")) * 3 // 4
