"""The local server's conversations, in memory, and its deterministic "model".

Everything here is plain JSON-ready dicts and knows nothing of HTTP: the server module
validates requests, calls these methods, and serialises what they return. A method that
cannot do what it is asked raises :class:`ConversationNotFound` or :class:`InvalidField`,
which the server turns into its 404 and 422 answers.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "ConversationNotFound",
    "ConversationStore",
    "InvalidField",
    "Turn",
    "entry_text",
    "new_id",
    "stream_events",
]

JSON = dict[str, Any]

# Entry ids carry their kind, as the real service's do (msg_..., fc_...), which makes a
# history easier to read in a failing test.
_ID_PREFIXES = {
    "message.input": "msg",
    "message.output": "msg",
    "function.call": "fc",
    "function.result": "fr",
    "tool.execution": "tool_exec",
    "agent.handoff": "handoff",
}


def new_id(prefix: str) -> str:
    """A fresh id: ``prefix`` + ``_`` + 32 hex digits."""
    return f"{prefix}_{uuid.uuid4().hex}"


class ConversationNotFound(LookupError):
    """No stored conversation has this id (never created, deleted, or not stored)."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class InvalidField(ValueError):
    """A request field is well-formed but its value cannot be used.

    ``loc`` is the field's place in the body, as in a validation error's ``loc``
    without the leading ``"body"``; ``input`` is the offending value.
    """

    def __init__(self, loc: tuple[str | int, ...], msg: str, input: Any) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg
        self.input = input


class _Clock:
    """UTC timestamps that strictly increase, so that order by time is order of events."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=timezone.utc)

    def now(self) -> str:
        now = datetime.now(timezone.utc)
        if now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Conversation:
    record: JSON
    entries: list[JSON]
    # The entries the client sent (as opposed to the server's answers): usage counts
    # them as the prompt.
    input_ids: set[str]
    # Agent conversations have no ``tools`` in their record (the spec's
    # AgentConversation forbids it), yet the tools given at start still decide answers.
    tools: list[Any]
    seq: int


@dataclass
class Turn:
    """One answered turn: what the server answers and, if stored, what it keeps."""

    conversation_id: str
    outputs: list[JSON]
    usage: JSON
    stored: bool = True

    def response(self) -> JSON:
        """The ``ConversationResponse`` body."""
        return {
            "object": "conversation.response",
            "conversation_id": self.conversation_id,
            "outputs": self.outputs,
            "usage": self.usage,
        }


def entry_text(entry: Mapping[str, Any]) -> str:
    """The text an entry carries, for echoing and for counting words.

    A message's ``content`` string, or its text chunks joined; a function result's
    ``result``; a function call's ``arguments``; nothing for other kinds.
    """
    kind = entry.get("type")
    if kind == "function.result":
        return str(entry.get("result", ""))
    if kind == "function.call":
        arguments = entry.get("arguments", "")
        return arguments if isinstance(arguments, str) else json.dumps(arguments)
    content = entry.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            chunk["text"]
            for chunk in content
            if isinstance(chunk, dict)
            and chunk.get("type", "text") == "text"
            and isinstance(chunk.get("text"), str)
        )
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _entry_kind(entry: Mapping[str, Any]) -> str:
    kind = entry.get("type")
    if isinstance(kind, str):
        return kind
    # The spec gives every entry's ``type`` a default, so a client may leave it out;
    # the fields present tell which entry it is.
    if "result" in entry:
        return "function.result"
    if "arguments" in entry and "tool_call_id" in entry:
        return "function.call"
    return "message.input"


def _is_function_tool(tool: Any) -> bool:
    return (
        isinstance(tool, dict)
        and tool.get("type", "function") == "function"
        and isinstance(tool.get("function"), dict)
        and isinstance(tool["function"].get("name"), str)
    )


def _called_tool(tools: Iterable[Any], text: str) -> str | None:
    for tool in tools:
        if _is_function_tool(tool):
            name: str = tool["function"]["name"]
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
                return name
    return None


def _split_arguments(arguments: str, pieces: int = 3) -> list[str]:
    size = max(1, -(-len(arguments) // pieces))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


_TOKEN = re.compile(r"\s*\S+\s*|\s+")


def _tokens(text: str) -> list[str]:
    # Each word with the whitespace that follows it (leading whitespace rides with the
    # first word), so that the deltas join back to exactly the text.
    return _TOKEN.findall(text) or [""]


def stream_events(turn: Turn, now: Callable[[], str]) -> Iterator[JSON]:
    """The ``data`` of each server-sent event for ``turn``, in order.

    ``conversation.response.started``, then one ``message.output.delta`` per word of a
    message (with its trailing whitespace) or a few ``function.call.delta`` pieces of a
    call's arguments, then ``conversation.response.done`` with the usage.
    """
    yield {
        "type": "conversation.response.started",
        "created_at": now(),
        "conversation_id": turn.conversation_id,
    }
    for index, output in enumerate(turn.outputs):
        common = {
            "output_index": index,
            "id": output["id"],
            "model": output.get("model"),
            "agent_id": output.get("agent_id"),
        }
        if output["type"] == "function.call":
            for piece in _split_arguments(output["arguments"]):
                yield {
                    "type": "function.call.delta",
                    "created_at": now(),
                    **common,
                    "name": output["name"],
                    "tool_call_id": output["tool_call_id"],
                    "arguments": piece,
                }
        else:
            for token in _tokens(entry_text(output)):
                yield {
                    "type": "message.output.delta",
                    "created_at": now(),
                    **common,
                    "content_index": 0,
                    "role": "assistant",
                    "content": token,
                }
    yield {"type": "conversation.response.done", "created_at": now(), "usage": turn.usage}


class ConversationStore:
    """The conversations of one server, and the rules that answer each turn.

    The "model" is deterministic: it echoes the last user text (``"Echo: <text>"``);
    calls a function tool whose name appears as a word in that text (arguments
    ``{"text": <text>}``); and answers function results with ``"Result: <result>"``.
    """

    def __init__(self) -> None:
        self._conversations: dict[str, _Conversation] = {}
        self._seq = itertools.count()
        self.clock = _Clock()

    def clear(self) -> None:
        """Forget every conversation."""
        self._conversations.clear()

    # -- reading -------------------------------------------------------------------

    def _get(self, conversation_id: str) -> _Conversation:
        try:
            return self._conversations[conversation_id]
        except KeyError:
            raise ConversationNotFound(conversation_id) from None

    def get(self, conversation_id: str) -> JSON:
        """The ``ModelConversation`` or ``AgentConversation`` object."""
        return dict(self._get(conversation_id).record)

    def history(self, conversation_id: str) -> JSON:
        """The ``ConversationHistory`` object: every entry, in order."""
        return {
            "object": "conversation.history",
            "conversation_id": conversation_id,
            "entries": list(self._get(conversation_id).entries),
        }

    def messages(self, conversation_id: str) -> JSON:
        """The ``ConversationMessages`` object: the message entries only, in order."""
        entries = self._get(conversation_id).entries
        return {
            "object": "conversation.messages",
            "conversation_id": conversation_id,
            "messages": [e for e in entries if e["type"] in ("message.input", "message.output")],
        }

    def list_conversations(
        self, page: int, page_size: int, metadata: Mapping[str, Any] | None
    ) -> list[JSON]:
        """A page of conversations, newest first, whose metadata holds all of ``metadata``."""
        found = sorted(self._conversations.values(), key=lambda c: c.seq, reverse=True)
        if metadata:
            found = [c for c in found if _holds(c.record.get("metadata"), metadata)]
        start = page * page_size
        return [dict(c.record) for c in found[start : start + page_size]]

    def delete(self, conversation_id: str) -> None:
        """Forget one conversation."""
        self._get(conversation_id)
        del self._conversations[conversation_id]

    # -- turns ---------------------------------------------------------------------

    def start(self, body: Mapping[str, Any]) -> Turn:
        """Create a conversation from a validated ``ConversationRequest`` body and answer it."""
        model, agent_id = body.get("model"), body.get("agent_id")
        if (model is None) == (agent_id is None):
            raise InvalidField(
                (),
                "Give exactly one of 'model' (to talk to a base model) or 'agent_id' "
                "(to talk to an agent)"
                + (", not both." if model is not None else "; neither was given."),
                dict(body),
            )
        now = self.clock.now()
        record: JSON
        if model is not None:
            record = {
                "instructions": body.get("instructions"),
                "tools": list(body.get("tools") or []),
                "completion_args": dict(body.get("completion_args") or {}),
                "guardrails": body.get("guardrails"),
            }
        else:
            record = {}
        record.update(
            {
                "name": body.get("name"),
                "description": body.get("description"),
                "metadata": body.get("metadata"),
                "object": "conversation",
                "id": new_id("conv"),
                "created_at": now,
                "updated_at": now,
            }
        )
        if model is not None:
            record["model"] = model
        else:
            record["agent_id"] = agent_id
            record["agent_version"] = body.get("agent_version")
        conversation = _Conversation(
            record, [], set(), list(body.get("tools") or []), next(self._seq)
        )
        return self._run(conversation, body.get("inputs"), body, is_new=True)

    def append(self, conversation_id: str, body: Mapping[str, Any]) -> Turn:
        """Add a validated ``AppendConversationRequest`` body's inputs and answer them."""
        conversation = self._get(conversation_id)
        return self._run(conversation, body.get("inputs"), body, is_new=False)

    def restart(self, conversation_id: str, body: Mapping[str, Any]) -> Turn:
        """Branch a new conversation at ``from_entry_id`` and answer the new inputs.

        The new conversation keeps the entries up to and including that entry (same ids
        and times: they are the same events), copies the model or agent, instructions,
        tools, completion arguments and guardrails, and takes ``metadata``,
        ``guardrails`` and ``agent_version`` from the body where the body gives them.

        A ``from_entry_id`` that is not an entry of the conversation is an
        :class:`InvalidField` (a 422 on the wire), not a 404: the resource the path
        names, the conversation, exists; it is a body field that is wrong, the spec
        declares only 422 for this operation, and a 404 would make clients report the
        conversation itself as missing.
        """
        source = self._get(conversation_id)
        from_entry_id = body["from_entry_id"]
        ids = [entry["id"] for entry in source.entries]
        if from_entry_id not in ids:
            raise InvalidField(
                ("from_entry_id",),
                f"Entry {from_entry_id} is not an entry of conversation {conversation_id}; "
                "restart from one of the ids its history lists.",
                from_entry_id,
            )
        now = self.clock.now()
        record = copy.deepcopy(source.record)
        record.update({"id": new_id("conv"), "created_at": now, "updated_at": now})
        for key in ("metadata", "guardrails", "agent_version"):
            if key in body and key in record:
                record[key] = body[key]
        kept = [dict(e) for e in source.entries[: ids.index(from_entry_id) + 1]]
        conversation = _Conversation(
            record,
            kept,
            {e["id"] for e in kept if e["id"] in source.input_ids},
            list(source.tools),
            next(self._seq),
        )
        return self._run(conversation, body.get("inputs"), body, is_new=True)

    def _run(
        self, conversation: _Conversation, inputs: Any, body: Mapping[str, Any], *, is_new: bool
    ) -> Turn:
        new_entries = [self._stored_input(e) for e in _as_entries(inputs)]
        context = conversation.entries + new_entries
        record = conversation.record
        output = self._answer(context, new_entries, conversation.tools, record)
        prompt_ids = conversation.input_ids | {e["id"] for e in new_entries}
        prompt = sum(_words(entry_text(e)) for e in context if e["id"] in prompt_ids)
        completion = _words(entry_text(output))
        turn = Turn(
            conversation_id=record["id"],
            outputs=[output],
            usage={
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "connector_tokens": None,
                "connectors": None,
            },
            stored=body.get("store") is not False,
        )
        if turn.stored:
            conversation.entries = [*context, output]
            conversation.input_ids = prompt_ids
            if not is_new:
                record["updated_at"] = output["completed_at"]
            self._conversations[record["id"]] = conversation
        return turn

    def _stored_input(self, entry: Mapping[str, Any]) -> JSON:
        kind = _entry_kind(entry)
        stored: JSON = {
            "object": "entry",
            "type": kind,
            "created_at": "",
            "completed_at": None,
            "id": "",
        }
        if kind == "message.input":
            stored["prefix"] = False
        stored.update(entry)
        # The server owns ids and times: a client may replay entries it read elsewhere,
        # and two entries of one conversation must never share an id.
        stored["id"] = new_id(_ID_PREFIXES.get(kind, "entry"))
        stored["created_at"] = self.clock.now()
        return stored

    def _answer(
        self, context: list[JSON], new_entries: list[JSON], tools: list[Any], record: JSON
    ) -> JSON:
        created_at = self.clock.now()
        origin = {"agent_id": record.get("agent_id"), "model": record.get("model")}
        results = [e for e in new_entries if e["type"] == "function.result"]
        if results and new_entries[-1]["type"] == "function.result":
            return self._message(
                "Result: " + "; ".join(entry_text(e) for e in results), created_at, origin
            )
        user_text = next(
            (
                entry_text(e)
                for e in reversed(context)
                if e["type"] == "message.input" and e.get("role", "user") == "user"
            ),
            "",
        )
        name = _called_tool(tools, user_text)
        if name is None:
            return self._message("Echo: " + user_text, created_at, origin)
        return {
            "object": "entry",
            "type": "function.call",
            "created_at": created_at,
            "completed_at": self.clock.now(),
            **origin,
            "id": new_id("fc"),
            "tool_call_id": new_id("call"),
            "name": name,
            "arguments": json.dumps({"text": user_text}),
        }

    def _message(self, content: str, created_at: str, origin: JSON) -> JSON:
        return {
            "object": "entry",
            "type": "message.output",
            "created_at": created_at,
            "completed_at": self.clock.now(),
            **origin,
            "id": new_id("msg"),
            "role": "assistant",
            "content": content,
        }


def _as_entries(inputs: Any) -> list[Mapping[str, Any]]:
    if inputs is None:
        return []
    if isinstance(inputs, str):
        return [{"type": "message.input", "role": "user", "content": inputs}]
    return [e for e in inputs if isinstance(e, Mapping)]


def _holds(metadata: Any, wanted: Mapping[str, Any]) -> bool:
    if not isinstance(metadata, Mapping):
        return False
    return all(key in metadata and metadata[key] == value for key, value in wanted.items())
