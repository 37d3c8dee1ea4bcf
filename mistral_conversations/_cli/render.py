"""Plain-text tables of conversations and entries, and their JSON form."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .._convert import converter
from ..models import (
    AgentConversation,
    AgentHandoffEntry,
    Conversation,
    Entry,
    FunctionCallEntry,
    FunctionResultEntry,
    MessageInputEntry,
    MessageOutputEntry,
    ToolExecutionEntry,
)

__all__ = ["conversations_table", "entries_table", "preview", "to_json"]

_GAP = "  "
# Below this the last column is not worth shrinking further: let the line wrap instead.
_MIN_LAST_COLUMN = 24
# Where the width is unknown (output to a pipe or a file), a preview still ends somewhere.
_UNKNOWN_WIDTH_LAST_COLUMN = 72


def to_json(value: Any) -> str:
    """The JSON text of a model (or list of models), exactly as the wire carries it."""
    return json.dumps(converter.unstructure(value), indent=2, ensure_ascii=False)


def preview(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with ``...`` when longer."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    return flat[: max(width - 3, 0)].rstrip() + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Align ``rows`` under ``headers``; the last column is cut to the terminal's width."""
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell))
    fixed = sum(widths[:-1]) + len(_GAP) * (len(headers) - 1)
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns
    last = max(columns - fixed - 1, _MIN_LAST_COLUMN) if columns else _UNKNOWN_WIDTH_LAST_COLUMN

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths[:-1], strict=True)]
        return _GAP.join([*padded, preview(cells[-1], last)]).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def conversations_table(conversations: Sequence[Conversation]) -> str:
    """The conversations as a table: id, creation time, model or agent, name."""
    rows = []
    for conversation in conversations:
        if isinstance(conversation, AgentConversation):
            who = f"agent {conversation.agent_id}"
        else:
            who = conversation.model
        rows.append([conversation.id, _when(conversation.created_at), who, conversation.name or ""])
    return table(["ID", "CREATED (UTC)", "MODEL / AGENT", "NAME"], rows)


def _entry_cells(entry: Entry) -> tuple[str, str, str]:
    """The role and text preview of an entry, whatever its kind, and its id."""
    if isinstance(entry, MessageInputEntry | MessageOutputEntry):
        return entry.id or "", entry.role, entry.text
    if isinstance(entry, FunctionCallEntry):
        arguments = (
            entry.arguments if isinstance(entry.arguments, str) else json.dumps(entry.arguments)
        )
        return entry.id or "", "", f"{entry.name}({arguments})"
    if isinstance(entry, FunctionResultEntry):
        return entry.id or "", "", f"{entry.tool_call_id} -> {entry.result}"
    if isinstance(entry, ToolExecutionEntry):
        return entry.id or "", "", f"{entry.name} {entry.arguments}"
    if isinstance(entry, AgentHandoffEntry):
        return entry.id or "", "", f"{entry.previous_agent_name} -> {entry.next_agent_name}"
    raw = entry.raw
    return str(raw.get("id", "")), str(raw.get("role", "")), json.dumps(raw)


def entries_table(entries: Sequence[Entry]) -> str:
    """The entries as a table: entry id, type, role, text preview."""
    rows = []
    for entry in entries:
        entry_id, role, text = _entry_cells(entry)
        rows.append([entry_id, entry.type, role, text])
    return table(["ENTRY ID", "TYPE", "ROLE", "TEXT"], rows)
