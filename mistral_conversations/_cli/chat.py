"""``chat``: an interactive streaming chat, with Mistral's API or the embedded server."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from .._surrogates import HalfJoiner
from .._sync import Client
from ..errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    MistralError,
    PermissionDeniedError,
)
from ..models import (
    AgentHandoffDoneEvent,
    ConversationEvent,
    FunctionCallEvent,
    MessageOutputEvent,
    ResponseStartedEvent,
    ToolExecutionStartedEvent,
)
from .common import add_api_options, api_client, describe, retry
from .render import entries_table

if TYPE_CHECKING:
    from .._sync import EventStream
    from .common import Commands

__all__ = ["add_chat_command"]

DEFAULT_MODEL = "mistral-small-latest"
# As in the demo: slow enough to see the tokens of the echo model arrive.
_LOCAL_STREAM_DELAY = 0.02
_PROMPT = "you> "
_REPLY = "assistant> "
_HELP = """\
Commands:
  /new                 start a new conversation with the next message
  /history             show the entries of this conversation (their ids are for /restart)
  /restart ENTRY_ID    send the next message from that entry on, as a new conversation
  /quit                leave (Ctrl-D does too)
Ctrl-C stops a reply that is being written; at the prompt, it leaves."""
_NO_KEY_INSTEAD = "use 'mistral-conversations chat --local' to chat with the embedded server."
# Failures every later turn would meet as well (a key refused, a server out of reach
# after the client's retries): going on would only repeat them.
_FATAL = (AuthenticationError, PermissionDeniedError, APIConnectionError)


def add_chat_command(commands: Commands) -> None:
    """Add the ``chat`` command to the subparsers."""
    help = "Chat interactively, with the replies streamed as they are written."
    parser = commands.add_parser(
        "chat",
        help=help,
        description=f"{help}\n\n{_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--model", help=f"the model to chat with (default: {DEFAULT_MODEL})")
    who.add_argument("--agent", metavar="AGENT_ID", help="chat with this agent instead")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        action="store_true",
        help="chat with the embedded server's echo model (no key, no network)",
    )
    add_api_options(parser, base_url_group=where)
    parser.set_defaults(run=_chat)


def _chat(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        if args.local:
            # Here, not at the top: only --local needs the server (and aiohttp.web).
            from ..testing import LocalServer

            server = stack.enter_context(
                LocalServer(stream_delay=_LOCAL_STREAM_DELAY).run_in_thread()
            )
            client = Client(server.api_key, base_url=server.base_url, retry=retry(args))
        else:
            client = api_client(args, instead=_NO_KEY_INSTEAD)
        stack.enter_context(client)
        if sys.stdin.isatty():
            # Line editing and history for input(), where the platform has it.
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401
        return _Chat(client, model=args.model, agent_id=args.agent).run()


class _Chat:
    """The state of one chat session: which conversation, and what the next message does."""

    def __init__(self, client: Client, *, model: str | None, agent_id: str | None) -> None:
        self.client = client
        self.agent_id = agent_id
        self.model = model if model is not None or agent_id is not None else DEFAULT_MODEL
        self.conversation_id: str | None = None
        self.restart_from: str | None = None
        self.in_reply = False
        # An emoji split across two deltas is printed whole, once its second half came.
        self.joiner = HalfJoiner()
        self.calls_noted: set[str] = set()

    def run(self) -> int:
        who = f"agent {self.agent_id}" if self.agent_id else self.model
        print(f"Chatting with {who} at {self.client.base_url}. /help for commands.")
        # Lines read from a pipe or a file are not echoed by a terminal: echo them, so
        # that the transcript reads as the chat it was.
        echo = not sys.stdin.isatty()
        while True:
            try:
                line = input(_PROMPT)
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if echo:
                print(line)
            line = line.strip()
            if line in ("/quit", "/exit"):
                return 0
            try:
                if line.startswith("/"):
                    self.command(line)
                elif line:
                    self.send(line)
            except KeyboardInterrupt:
                self.end_reply()
                print("(stopped)")
            except _FATAL:
                self.end_reply()
                raise
            except MistralError as error:
                self.end_reply()
                print(f"error: {describe(error)}", file=sys.stderr)

    def command(self, line: str) -> None:
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name == "/new":
            self.conversation_id = self.restart_from = None
            print("(new conversation: your next message starts it)")
        elif name == "/history":
            self.history()
        elif name == "/restart":
            if self.conversation_id is None:
                print("(no conversation yet: there is nothing to restart from)")
            elif not argument:
                print("(usage: /restart ENTRY_ID; /history shows the entry ids)")
            else:
                self.restart_from = argument
                print(f"(your next message continues from entry {argument}, in a new conversation)")
        elif name == "/help":
            print(_HELP)
        else:
            print(f"(unknown command {name})\n{_HELP}")

    def history(self) -> None:
        if self.conversation_id is None:
            print("(no conversation yet: say something first)")
            return
        history = self.client.get_history(self.conversation_id)
        print(f"Conversation {history.conversation_id}:")
        print(entries_table(history.entries))

    def send(self, text: str) -> None:
        stream: EventStream
        if self.conversation_id is None:
            stream = self.client.start_stream(inputs=text, model=self.model, agent_id=self.agent_id)
        elif self.restart_from is not None:
            stream = self.client.restart_stream(
                self.conversation_id, from_entry_id=self.restart_from, inputs=text
            )
        else:
            stream = self.client.append_stream(self.conversation_id, inputs=text)
        try:
            with stream:
                for event in stream:
                    self.show(event)
        except APIStatusError:
            # The server refused the restart (a wrong entry id, most likely): do not
            # make every later message fail the same way.
            self.restart_from = None
            raise
        finally:
            self.end_reply()

    def show(self, event: ConversationEvent) -> None:
        if isinstance(event, ResponseStartedEvent):
            # A restart answers with the id of the new conversation it made.
            self.conversation_id = event.conversation_id
            self.restart_from = None
        elif isinstance(event, MessageOutputEvent):
            text = self.joiner.piece(event.text)
            if text:
                if not self.in_reply:
                    print(_REPLY, end="")
                    self.in_reply = True
                print(text, end="", flush=True)
        elif isinstance(event, ToolExecutionStartedEvent):
            self.note(f"(running tool {event.name})")
        elif isinstance(event, AgentHandoffDoneEvent):
            self.note(f"(handed over to agent {event.next_agent_name})")
        elif isinstance(event, FunctionCallEvent) and event.tool_call_id not in self.calls_noted:
            # Its arguments come in several events: say it once.
            self.calls_noted.add(event.tool_call_id)
            self.note(f"(asks to call function {event.name}, which this chat cannot run)")

    def note(self, text: str) -> None:
        self.end_reply()
        print(text)

    def end_reply(self) -> None:
        """End the line a reply was being written on, if any."""
        rest = self.joiner.end()  # a half whose pair never came, as U+FFFD
        if self.in_reply:
            print(rest)
            self.in_reply = False
