"""The command line: ``python -m mistral_conversations`` or ``mistral-conversations``.

``demo`` walks through the API against the embedded server; ``chat`` is an interactive
streaming chat; ``list``, ``history`` and ``delete`` look at real conversations;
``serve`` runs the embedded server for any client to use.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .._version import __version__
from ..errors import MistralError
from .browse import add_browse_commands
from .chat import add_chat_command
from .common import CommandError, describe
from .demo import add_demo_command
from .serve import add_serve_command

__all__ = ["main"]

_DESCRIPTION = """\
A client for Mistral's Conversations API, from the command line.

Commands that talk to the API read the key from MISTRAL_API_KEY, and the address from
--base-url, else MISTRAL_BASE_URL, else https://api.mistral.ai. 'demo', 'chat --local'
and 'serve' use the embedded server instead, and need neither key nor network.
"""

_EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mistral-conversations",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        title="commands",
        metavar="COMMAND",
        required=True,
        help="one of these; 'mistral-conversations COMMAND --help' describes it",
    )
    add_demo_command(commands)
    add_chat_command(commands)
    add_browse_commands(commands)
    add_serve_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    0 on success, 1 when the API or the runtime failed (one ``error: ...`` line on
    stderr), 2 for a usage error, 130 when interrupted with Ctrl-C.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        # --help, --version and usage errors: argparse has printed; keep its exit code.
        code = exit_.code
        return code if isinstance(code, int) else 0 if code is None else 2
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        # The terminal echoed "^C" with no newline: end that line before the shell's prompt.
        print(file=sys.stderr)
        return _EXIT_INTERRUPTED
    except (MistralError, CommandError) as error:
        print(f"error: {describe(error)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (e.g. '| head'): silence the flush at exit, which would
        # fail the same way, and report failure as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
