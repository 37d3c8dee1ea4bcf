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

from ._schema_instance import schema_instance

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
    # Agent conversations have no ``tools`` nor ``completion_args`` in their record (the
    # spec's AgentConversation forbids them), yet those given at start still shape answers.
    tools: list[Any]
    completion_args: JSON
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


def _held_names(tools: Iterable[Any]) -> list[str]:
    """The names listed in any tool's ``tool_configuration.requires_confirmation``."""
    names: list[str] = []
    for tool in tools:
        configuration = tool.get("tool_configuration") if isinstance(tool, dict) else None
        if not isinstance(configuration, dict):
            continue
        listed = configuration.get("requires_confirmation")
        if isinstance(listed, list):
            names.extend(name for name in listed if isinstance(name, str))
    return names


@dataclass(frozen=True)
class _Call:
    name: str
    arguments: str
    held: bool  # waits on the server for the user's confirmation


def _mention(name: str) -> re.Pattern[str]:
    # The name as a word of its own: "get_weathering" and "pre-get_weather" do not call it.
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def _calls(tools: Iterable[Any], text: str) -> list[_Call]:
    """The calls ``text`` asks for, in the order the tools are first named in it."""
    tools = list(tools)
    schemas: dict[str, Any] = {}
    for tool in tools:
        if _is_function_tool(tool):
            schemas.setdefault(tool["function"]["name"], tool["function"].get("parameters"))
    held = set(_held_names(tools))
    named: list[tuple[int, str]] = []
    for name in dict.fromkeys([*schemas, *held]):
        found = _mention(name).search(text)
        if found is not None:
            named.append((found.start(), name))
    calls: list[_Call] = []
    for _, name in sorted(named):
        written = [
            arguments
            for found in _mention(name).finditer(text)
            if text.startswith("(", found.end())
            and (arguments := _written_arguments(text, found.end() + 1)) is not None
        ]
        if not written:
            written = [json.dumps(_default_arguments(schemas.get(name), text))]
        calls.extend(_Call(name, arguments, name in held) for arguments in written)
    return calls


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: read as text, not as numbers json.dumps would
    # write back as invalid JSON.
    raise ValueError(name)


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_KEY = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*")
_INVALID_OBJECT_END = re.compile(r"\}\s*\)")


def _skip_spaces(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def _written_arguments(text: str, start: int) -> str | None:
    """The JSON arguments of a call written ``name(...)``, the ``(`` ending before ``start``.

    ``{...}``: that object's text as it is, even when it is not JSON (a test may want
    arguments that do not decode); ``key=value, ...``: an object of those, each value
    JSON if it reads as JSON, else a string; None if the parentheses hold neither.
    """
    index = _skip_spaces(text, start)
    if text.startswith("{", index):
        try:
            value, end = _DECODER.raw_decode(text, index)
        except ValueError:
            value, end = None, index
        if isinstance(value, dict) and text.startswith(")", _skip_spaces(text, end)):
            return text[index:end]
        close = _INVALID_OBJECT_END.search(text, index)
        return None if close is None else text[index : close.start() + 1]
    arguments: dict[str, Any] = {}
    if text.startswith(")", index):
        return "{}"
    while True:
        key = _KEY.match(text, index)
        if key is None:
            return None
        value, index = _keyword_value(text, key.end())
        arguments[key.group(1)] = value
        index = _skip_spaces(text, index)
        if text.startswith(")", index):
            return json.dumps(arguments)
        if not text.startswith(",", index):
            return None
        index += 1


def _keyword_value(text: str, index: int) -> tuple[Any, int]:
    try:
        value, end = _DECODER.raw_decode(text, index)
    except ValueError:
        pass
    else:
        if text.startswith((",", ")"), _skip_spaces(text, end)):
            return value, end
    end = index
    while end < len(text) and text[end] not in ",)":
        end += 1
    return text[index:end].strip(), end


def _default_arguments(parameters: Any, text: str) -> dict[str, Any]:
    """``{"text": text}``, or ``{name: text}`` where the schema asks for just that string."""
    if isinstance(parameters, dict):
        properties = parameters.get("properties")
        required = parameters.get("required")
        if (
            isinstance(properties, dict)
            and "text" not in properties
            and isinstance(required, list)
            and len(required) == 1
            and isinstance(required[0], str)
            and isinstance(properties.get(required[0]), dict)
            and _is_string_schema(properties[required[0]])
        ):
            return {required[0]: text}
    return {"text": text}


def _is_string_schema(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


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

    ``conversation.response.started``; then for each output, by its ``output_index``:
    one ``message.output.delta`` per word of a message (with its trailing whitespace),
    a few ``function.call.delta`` pieces of a call's arguments (each with the call's
    ``confirmation_status``, if it has one), or ``tool.execution.started`` and
    ``tool.execution.done`` for a tool run on the server; then
    ``conversation.response.done`` with the usage.
    """
    yield {
        "type": "conversation.response.started",
        "created_at": now(),
        "conversation_id": turn.conversation_id,
    }
    for index, output in enumerate(turn.outputs):
        origin = {"model": output.get("model"), "agent_id": output.get("agent_id")}
        if output["type"] == "function.call":
            status = output.get("confirmation_status")
            held = {} if status is None else {"confirmation_status": status}
            for piece in _split_arguments(output["arguments"]):
                yield {
                    "type": "function.call.delta",
                    "created_at": now(),
                    "output_index": index,
                    "id": output["id"],
                    **origin,
                    "name": output["name"],
                    "tool_call_id": output["tool_call_id"],
                    "arguments": piece,
                    **held,
                }
        elif output["type"] == "tool.execution":
            common = {"output_index": index, "id": output["id"], "name": output["name"]}
            yield {
                "type": "tool.execution.started",
                "created_at": now(),
                **common,
                **origin,
                "arguments": output["arguments"],
            }
            done = {"type": "tool.execution.done", "created_at": now(), **common}
            yield {**done, "info": output["info"]}
        else:
            for token in _tokens(entry_text(output)):
                yield {
                    "type": "message.output.delta",
                    "created_at": now(),
                    "output_index": index,
                    "id": output["id"],
                    **origin,
                    "content_index": 0,
                    "role": "assistant",
                    "content": token,
                }
    yield {"type": "conversation.response.done", "created_at": now(), "usage": turn.usage}


class ConversationStore:
    """The conversations of one server, and the rules that answer each turn.

    The "model" is deterministic; :class:`~mistral_conversations.testing.LocalServer`'s
    docstring gives its rules.
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
            record,
            [],
            set(),
            list(body.get("tools") or []),
            dict(body.get("completion_args") or {}),
            next(self._seq),
        )
        return self._run(conversation, body.get("inputs"), body, is_new=True)

    def append(self, conversation_id: str, body: Mapping[str, Any]) -> Turn:
        """Add a validated ``AppendConversationRequest`` body's inputs and answer them.

        Tool calls waiting for confirmation must all be answered by the body's
        ``tool_confirmations``, each once: anything else is an :class:`InvalidField`,
        and the conversation is left as it was.
        """
        conversation = self._get(conversation_id)
        settled = _settle(conversation, body.get("tool_confirmations"))
        return self._run(conversation, body.get("inputs"), body, is_new=False, settled=settled)

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
            dict(source.completion_args),
            next(self._seq),
        )
        return self._run(conversation, body.get("inputs"), body, is_new=True)

    def _run(
        self,
        conversation: _Conversation,
        inputs: Any,
        body: Mapping[str, Any],
        *,
        is_new: bool,
        settled: Iterable[tuple[int, JSON]] = (),
    ) -> Turn:
        completion_args = _completion_args(body, conversation)
        new_entries = [self._stored_input(e) for e in _as_entries(inputs)]
        # The settled calls are copies: a turn that is not stored changes nothing.
        entries = list(conversation.entries)
        confirmed = []
        for index, call in settled:
            entries[index] = call
            confirmed.append(call)
        context = entries + new_entries
        record = conversation.record
        outputs = self._answer(
            context, new_entries, confirmed, conversation.tools, completion_args, record
        )
        prompt_ids = conversation.input_ids | {e["id"] for e in new_entries}
        prompt = sum(_words(entry_text(e)) for e in context if e["id"] in prompt_ids)
        completion = sum(_words(entry_text(output)) for output in outputs)
        turn = Turn(
            conversation_id=record["id"],
            outputs=outputs,
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
            conversation.entries = [*context, *outputs]
            conversation.input_ids = prompt_ids
            if not is_new:
                record["updated_at"] = outputs[-1]["completed_at"]
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
        self,
        context: list[JSON],
        new_entries: list[JSON],
        confirmed: list[JSON],
        tools: list[Any],
        completion_args: JSON,
        record: JSON,
    ) -> list[JSON]:
        origin = {"agent_id": record.get("agent_id"), "model": record.get("model")}
        user_text = next(
            (
                entry_text(e)
                for e in reversed(context)
                if e["type"] == "message.input" and e.get("role", "user") == "user"
            ),
            "",
        )
        outputs: list[JSON] = []
        said: list[str] = []
        for call in confirmed:
            if call["confirmation_status"] == "allowed":
                outputs.append(self._execution(call, origin))
                said.append(f"Done: {call['name']}({call['arguments']})")
            else:
                said.append(f"Not run: {call['name']} was denied")
        # What a structured answer's strings say: the results alone when only results
        # are answered, else the plain answer's text.
        subject = "; ".join(said)
        results = [e for e in new_entries if e["type"] == "function.result"]
        if results and new_entries[-1]["type"] == "function.result":
            joined = "; ".join(entry_text(e) for e in results)
            said.append("Result: " + joined)
            subject = "; ".join(said) if confirmed else joined
        if said:
            text = _formatted(completion_args, subject, user_text) or "; ".join(said)
            return [*outputs, self._message(text, origin)]
        calls = _calls(tools, user_text)
        if calls:
            return [self._function_call(call, origin) for call in calls]
        text = _formatted(completion_args, user_text, user_text) or "Echo: " + user_text
        return [self._message(text, origin)]

    def _entry(self, kind: str, origin: JSON) -> JSON:
        return {
            "object": "entry",
            "type": kind,
            "created_at": self.clock.now(),
            "completed_at": self.clock.now(),
            **origin,
            "id": new_id(_ID_PREFIXES[kind]),
        }

    def _message(self, content: str, origin: JSON) -> JSON:
        return {**self._entry("message.output", origin), "role": "assistant", "content": content}

    def _function_call(self, call: _Call, origin: JSON) -> JSON:
        entry = {
            **self._entry("function.call", origin),
            "tool_call_id": new_id("call"),
            "name": call.name,
            "arguments": call.arguments,
        }
        if call.held:
            entry["confirmation_status"] = "pending"
        return entry

    def _execution(self, call: JSON, origin: JSON) -> JSON:
        return {
            **self._entry("tool.execution", origin),
            "name": call["name"],
            "arguments": call["arguments"],
            "info": {"tool_call_id": call["tool_call_id"], "result": "done"},
        }


def _settle(conversation: _Conversation, confirmations: Any) -> list[tuple[int, JSON]]:
    """The calls ``confirmations`` settle: (index in the entries, settled copy), in order.

    :class:`InvalidField` unless they answer every call waiting, each once.
    """
    conversation_id = conversation.record["id"]
    entries = conversation.entries
    held = {
        e["tool_call_id"]: index
        for index, e in enumerate(entries)
        if e["type"] == "function.call" and e.get("confirmation_status") is not None
    }
    settled: dict[int, JSON] = {}
    for position, confirmation in enumerate(confirmations or []):
        call_id = confirmation["tool_call_id"]
        index = held.get(call_id)
        if index is None:
            raise InvalidField(
                ("tool_confirmations", position, "tool_call_id"),
                f"No tool call {call_id} waits for confirmation in conversation "
                f"{conversation_id}; confirm the tool_call_id of a function.call entry "
                "whose confirmation_status is 'pending'.",
                call_id,
            )
        call = entries[index]
        if index in settled or call["confirmation_status"] != "pending":
            already = "in this request" if index in settled else call["confirmation_status"]
            raise InvalidField(
                ("tool_confirmations", position, "tool_call_id"),
                f"Tool call {call_id} ({call['name']}) was already confirmed ({already}); "
                "confirm each pending call once.",
                call_id,
            )
        answer = confirmation["confirmation"]
        if answer not in ("allow", "deny"):
            raise InvalidField(
                ("tool_confirmations", position, "confirmation"),
                "Input should be 'allow' or 'deny'",
                answer,
            )
        status = "allowed" if answer == "allow" else "denied"
        settled[index] = {**call, "confirmation_status": status}
    waiting = [
        f"{entries[i]['name']} ({call_id})"
        for call_id, i in held.items()
        if i not in settled and entries[i]["confirmation_status"] == "pending"
    ]
    if waiting:
        raise InvalidField(
            ("tool_confirmations",),
            f"Conversation {conversation_id} has tool calls waiting for confirmation: "
            f"{', '.join(waiting)}. Answer each in tool_confirmations, with 'allow' or "
            "'deny', before going on.",
            confirmations,
        )
    return list(settled.items())


def _completion_args(body: Mapping[str, Any], conversation: _Conversation) -> JSON:
    """This turn's completion arguments: the body's, else the conversation's."""
    given = body.get("completion_args")
    arguments: JSON = dict(given) if given is not None else conversation.completion_args
    response_format = arguments.get("response_format")
    if (
        isinstance(response_format, dict)
        and response_format.get("type") == "json_schema"
        and not isinstance(response_format.get("json_schema"), dict)
    ):
        raise InvalidField(
            ("completion_args", "response_format", "json_schema"),
            "A response_format of type 'json_schema' needs its json_schema: "
            "{'name': ..., 'schema': {...}}.",
            response_format,
        )
    return arguments


def _formatted(completion_args: JSON, subject: str, user_text: str) -> str | None:
    """The answer's text as ``response_format`` asks for it; None for plain text."""
    response_format = completion_args.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return None
    if _mention("malformed").search(user_text):
        return '{"oops": true'
    if kind == "json_object":
        return json.dumps({"text": subject}, ensure_ascii=False)
    schema = response_format["json_schema"].get("schema")
    try:
        document = schema_instance(schema if isinstance(schema, dict) else {}, subject)
    except ValueError as exc:
        raise InvalidField(
            ("completion_args", "response_format", "json_schema", "schema"),
            f"Cannot answer with this schema: {exc}.",
            schema,
        ) from None
    return json.dumps(document, ensure_ascii=False)


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
