"""Tools the model may use: functions, built-in connectors and custom connectors."""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from ._spec import answer_default
from ._wire import Decoded

__all__ = [
    "APIKeyAuth",
    "CodeInterpreterTool",
    "ConnectorAuth",
    "CustomConnector",
    "DocumentLibraryTool",
    "Function",
    "FunctionTool",
    "ImageGenerationTool",
    "OAuth2TokenAuth",
    "Tool",
    "ToolConfiguration",
    "UnknownAuth",
    "UnknownTool",
    "WebSearchPremiumTool",
    "WebSearchTool",
]


@attrs.define(kw_only=True)
class ToolConfiguration(Decoded):
    """Which of a tool's functions to offer, and which need the user's confirmation.

    Each list holds function names; ``None`` leaves the server's default.
    """

    exclude: list[str] | None = None
    include: list[str] | None = None
    requires_confirmation: list[str] | None = None


@attrs.define(kw_only=True)
class Function(Decoded):
    """A function the model may call, described by a JSON Schema of its parameters.

    ``parameters`` is the JSON Schema object, passed through as is. ``strict`` asks
    the model to follow the schema exactly. An answer that leaves out ``description``
    or ``strict`` is read with the spec's defaults, ``""`` and ``False``.
    """

    name: str
    description: str | None = attrs.field(default=None, metadata=answer_default(""))
    strict: bool | None = attrs.field(default=None, metadata=answer_default(False))
    parameters: dict[str, Any]


@attrs.define(kw_only=True)
class FunctionTool(Decoded):
    """A function tool: the model asks, the client runs it and sends the result.

    ``type`` is always ``"function"``.
    """

    type: str = "function"
    function: Function


@attrs.define(kw_only=True)
class WebSearchTool(Decoded):
    """The built-in web search.

    ``type`` is always ``"web_search"``.
    """

    tool_configuration: ToolConfiguration | None = None
    type: str = "web_search"


@attrs.define(kw_only=True)
class WebSearchPremiumTool(Decoded):
    """The built-in web search with news agencies as sources.

    ``type`` is always ``"web_search_premium"``.
    """

    tool_configuration: ToolConfiguration | None = None
    type: str = "web_search_premium"


@attrs.define(kw_only=True)
class CodeInterpreterTool(Decoded):
    """The built-in code interpreter.

    ``type`` is always ``"code_interpreter"``.
    """

    tool_configuration: ToolConfiguration | None = None
    type: str = "code_interpreter"


@attrs.define(kw_only=True)
class ImageGenerationTool(Decoded):
    """The built-in image generation.

    ``type`` is always ``"image_generation"``.
    """

    tool_configuration: ToolConfiguration | None = None
    type: str = "image_generation"


@attrs.define(kw_only=True)
class DocumentLibraryTool(Decoded):
    """Search in document libraries.

    ``library_ids`` names the libraries to search (at least one).
    """

    tool_configuration: ToolConfiguration | None = None
    type: str = "document_library"
    library_ids: list[str]


@attrs.define(kw_only=True)
class OAuth2TokenAuth(Decoded):
    """An OAuth2 token for a custom connector.

    ``type`` is always ``"oauth2-token"``.
    """

    type: str = "oauth2-token"
    value: str = attrs.field(repr=False)


@attrs.define(kw_only=True)
class APIKeyAuth(Decoded):
    """An API key for a custom connector.

    ``type`` is always ``"api-key"``.
    """

    type: str = "api-key"
    value: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class UnknownAuth:
    """A connector authorization whose ``type`` this library does not know yet.

    ``raw`` is the authorization exactly as it came; it is sent back exactly so.
    """

    type: str
    raw: dict[str, Any] = attrs.field(repr=False)


ConnectorAuth: TypeAlias = OAuth2TokenAuth | APIKeyAuth | UnknownAuth


@attrs.define(kw_only=True)
class CustomConnector(Decoded):
    """A connector registered on the platform, by id.

    ``authorization`` carries the credentials the connector needs, if any.
    """

    type: str = "connector"
    connector_id: str
    authorization: ConnectorAuth | None = None
    tool_configuration: ToolConfiguration | None = None


@attrs.frozen(kw_only=True)
class UnknownTool:
    """A tool whose ``type`` this library does not know yet.

    ``raw`` is the tool exactly as it came; it is sent back exactly so.
    """

    type: str
    raw: dict[str, Any]


Tool: TypeAlias = (
    FunctionTool
    | WebSearchTool
    | WebSearchPremiumTool
    | CodeInterpreterTool
    | ImageGenerationTool
    | DocumentLibraryTool
    | CustomConnector
    | UnknownTool
)
