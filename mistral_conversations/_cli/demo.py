"""``demo``: the API at work against the embedded server, code shown before each result."""

from __future__ import annotations

import argparse
import textwrap
import time
from typing import TYPE_CHECKING, Any

from .render import conversations_table, entries_table

if TYPE_CHECKING:
    from .common import Commands

__all__ = ["add_demo_command"]

# Slow enough to watch the tokens arrive, fast enough that the demo takes about a second.
_STREAM_DELAY = 0.04


def add_demo_command(commands: Commands) -> None:
    """Add the ``demo`` command to the subparsers."""
    help = "Walk through the API against the embedded server (no key, no network)."
    parser = commands.add_parser("demo", help=help, description=help)
    parser.set_defaults(run=_demo)


class _Prompt:
    """Run code as the Python prompt does, printing it first.

    What is shown is exactly what ran, so that a reader can copy it as it is.
    """

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def __call__(self, source: str) -> None:
        source = textwrap.dedent(source).strip("\n")
        first, *rest = source.splitlines()
        print(f">>> {first}")
        for line in rest:
            print(f"... {line}")
        # "single" is the prompt's own mode: an expression's value is printed as its repr.
        exec(compile(source, "<demo>", "single"), self.namespace)

    def value(self, name: str) -> Any:
        """A variable that the code shown so far has set."""
        return self.namespace[name]


def _say(*lines: str) -> None:
    print()
    for line in lines:
        print(f"# {line}")


def _demo(args: argparse.Namespace) -> int:
    # Here, not at the top: the other commands do without the server (and aiohttp.web).
    from ..testing import LocalServer

    began = time.perf_counter()
    server = LocalServer(stream_delay=_STREAM_DELAY)
    with server.run_in_thread():
        namespace: dict[str, Any] = {"server": server}
        try:
            _walk_through(_Prompt(namespace), server.base_url)
        finally:
            client = namespace.get("client")
            if client is not None:
                client.close()
    print()
    print(f"Done in {time.perf_counter() - began:.1f} s. Next, try:")
    print("  mistral-conversations chat --local               chat with the echo model here")
    print("  MISTRAL_API_KEY=... mistral-conversations chat   chat with Mistral's models")
    return 0


def _walk_through(run: _Prompt, base_url: str) -> None:
    print("# The Conversations API, step by step, against the embedded server")
    print(f"# (mistral_conversations.testing.LocalServer, here at {base_url}),")
    print("# whose model answers 'Echo: <what you said>'. Against Mistral's API,")
    print("# 'Client()' reads MISTRAL_API_KEY: the rest of the code is the same.")
    print()
    run("from mistral_conversations import Client, NotFoundError")
    run("client = Client(server.api_key, base_url=server.base_url)")

    _say("1. Start a conversation.")
    run('reply = client.start(inputs="Name three French cheeses.", model="mistral-small-latest")')
    run("conversation_id = reply.conversation_id")
    run("print(reply.output_text)")

    _say("2. Stream the next reply, token by token, as it is written.")
    run('question = "Which of them is the oldest, and where is it made?"')
    run(
        """
        with client.append_stream(conversation_id, inputs=question) as stream:
            for piece in stream.text_deltas():
                print(piece, end="", flush=True)
        """
    )
    print()

    _say("3. Append a turn without streaming.")
    run('reply = client.append(conversation_id, inputs="Thanks!")')
    run("print(reply.output_text)")

    _say(
        "4. The history: every entry, in order. The table is what",
        "   'mistral-conversations history ID' prints.",
    )
    run("history = client.get_history(conversation_id)")
    print(entries_table(run.value("history").entries))

    _say(
        "5. Restart from an entry: a new conversation that keeps the entries up to that",
        "   one (here the first answer), then takes a new turn.",
    )
    run("first_answer = history.entries[1]")
    run(
        "branch = client.restart(conversation_id, from_entry_id=first_answer.id,"
        ' inputs="Which is the mildest?")'
    )
    run("print(branch.output_text)")
    run("branch_history = client.get_history(branch.conversation_id)")
    print(entries_table(run.value("branch_history").entries))

    _say("6. List the conversations; the table is what 'mistral-conversations list' prints.")
    run("conversations = client.list()")
    print(conversations_table(run.value("conversations")))

    _say("7. Delete one; reading it again raises NotFoundError, whose message says why.")
    run("client.delete(branch.conversation_id)")
    run(
        """
        try:
            client.get(branch.conversation_id)
        except NotFoundError as error:
            print(error)
        """
    )

    _say(
        "8. Function tools that run here: the model calls them, client.run() runs them",
        "   and sends the results back, round after round; confirm= approves each call.",
    )
    run(
        """
        def get_weather(city: str) -> str:
            \"\"\"The weather in a city.

            Args:
                city: The city's name.
            \"\"\"
            return f"Sunny in {city}, 21 degrees."
        """
    )
    run(
        """
        def approve(call):
            print(f"approve {call.name}({call.arguments})? yes")
            return "allow"
        """
    )
    run(
        """
        result = client.run('What is get_weather({"city": "Lyon"}) today?',
                            tools=[get_weather], model="mistral-small-latest", confirm=approve)
        """
    )
    run("print(result.output_text, '|', result.rounds, 'rounds')")

    _say(
        "9. Or defer the decision: the run stops with the call pending (a plain model,",
        "   to store anywhere), and a later run, in any process, resumes with a decision.",
    )
    run(
        """
        result = client.run('get_weather({"city": "Nice"}) please', tools=[get_weather],
                            model="mistral-small-latest", confirm=lambda call: "defer")
        """
    )
    run("result.pending")
    run(
        """
        resumed = client.run(tools=[get_weather], conversation_id=result.conversation_id,
                             decisions={result.pending[0].tool_call_id: "allow"})
        """
    )
    run("print(resumed.output_text)")
    run("client.close()")
