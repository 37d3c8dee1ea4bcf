"""Content chunks: the pieces a message's content is made of."""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from ._spec import BuiltInConnectors, ImageDetail, answer_default
from ._wire import Decoded

__all__ = [
    "DocumentURLChunk",
    "ImageURL",
    "ImageURLChunk",
    "InputChunk",
    "OutputChunk",
    "ReferenceChunk",
    "TextChunk",
    "ThinkChunk",
    "ThinkingChunk",
    "ToolFileChunk",
    "ToolReferenceChunk",
    "UnknownChunk",
]


@attrs.define(kw_only=True)
class TextChunk(Decoded):
    """A piece of plain text.

    ``type`` is always ``"text"``.
    """

    type: str = "text"
    text: str


@attrs.define(kw_only=True)
class ImageURL(Decoded):
    """An image address with an optional level of detail.

    ``url`` is an ``https://`` address or a ``data:`` URI. Known values of
    ``detail`` (``ImageDetail``): ``"low"``, ``"auto"``, ``"high"``; any other string
    the server sends is kept as is.
    """

    url: str
    detail: ImageDetail | str | None = None


@attrs.define(kw_only=True)
class ImageURLChunk(Decoded):
    """An image, given by address.

    ``image_url`` is an :class:`ImageURL` or a bare URL string, e.g.
    ``"data:image/png;base64,iVBORw0..."``.
    """

    type: str = "image_url"
    image_url: ImageURL | str


@attrs.define(kw_only=True)
class ToolFileChunk(Decoded):
    """A file a tool produced, such as an image from ``image_generation``.

    Known values of ``tool`` (``BuiltInConnectors``): ``"web_search"``,
    ``"web_search_premium"``, ``"code_interpreter"``, ``"image_generation"``,
    ``"document_library"``; a custom connector's name is any other string.
    """

    type: str = "tool_file"
    tool: BuiltInConnectors | str
    file_id: str
    file_name: str | None = None
    file_type: str | None = None


@attrs.define(kw_only=True)
class DocumentURLChunk(Decoded):
    """A document, given by address.

    ``document_name`` is the file name shown to the model, if any.
    """

    type: str = "document_url"
    document_url: str
    document_name: str | None = None


@attrs.define(kw_only=True)
class ToolReferenceChunk(Decoded):
    """A source a tool used, such as a web page found by ``web_search``.

    Known values of ``tool`` (``BuiltInConnectors``): ``"web_search"``,
    ``"web_search_premium"``, ``"code_interpreter"``, ``"image_generation"``,
    ``"document_library"``; a custom connector's name is any other string.
    """

    type: str = "tool_reference"
    tool: BuiltInConnectors | str
    title: str
    url: str | None = None
    favicon: str | None = None
    description: str | None = None


@attrs.define(kw_only=True)
class ReferenceChunk(Decoded):
    """References to sources, by id, inside a thinking block.

    Each id is an ``int`` or a ``str``, as the server sent it.
    """

    type: str = "reference"
    reference_ids: list[int | str]


@attrs.define(kw_only=True)
class ThinkChunk(Decoded):
    """A reasoning block of the model.

    ``thinking`` holds text, tool reference and reference chunks. ``signature`` lets
    some reasoning be replayed across turns; ``closed`` says whether the block is
    finished (only used for prefixing): ``True`` in an answer that leaves it out, as the
    spec's default says.
    """

    type: str = "thinking"
    thinking: list[ThinkingChunk]
    signature: str | None = None
    closed: bool | None = attrs.field(default=None, metadata=answer_default(True))


@attrs.frozen(kw_only=True)
class UnknownChunk:
    """A chunk whose ``type`` this library does not know yet.

    ``raw`` is the chunk exactly as it came; it is sent back exactly so.
    """

    type: str
    raw: dict[str, Any]


InputChunk: TypeAlias = (
    TextChunk | ImageURLChunk | ToolFileChunk | DocumentURLChunk | ThinkChunk | UnknownChunk
)
OutputChunk: TypeAlias = (
    TextChunk
    | ImageURLChunk
    | ToolFileChunk
    | DocumentURLChunk
    | ThinkChunk
    | ToolReferenceChunk
    | UnknownChunk
)
ThinkingChunk: TypeAlias = TextChunk | ToolReferenceChunk | ReferenceChunk | UnknownChunk


def content_text(content: str | list[InputChunk] | list[OutputChunk]) -> str:
    """Return the text of a message's content: a string as is, else its text chunks joined."""
    if isinstance(content, str):
        return content
    return "".join([chunk.text for chunk in content if isinstance(chunk, TextChunk)])
