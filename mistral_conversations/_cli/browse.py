"""``list``, ``history`` and ``delete``: quick looks at the conversations of an account."""

from __future__ import annotations

import argparse
import inspect
import json
from typing import TYPE_CHECKING

from .._client import AsyncClient
from .common import add_api_options, api_client, identifier, non_negative, positive
from .render import conversations_table, entries_table, to_json

if TYPE_CHECKING:
    from .common import Commands

__all__ = ["add_browse_commands"]

_NO_KEY_INSTEAD = "run 'mistral-conversations demo' to see the API at work without one."
# The library's own default, so that 'list' and client.list() show the same page.
_PAGE_SIZE: int = inspect.signature(AsyncClient.list).parameters["page_size"].default
_ID_HELP = "the conversation's id (conv_...), as 'list' shows it"


def _add(commands: Commands, name: str, help: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help, description=help)
    add_api_options(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the API's JSON instead of a table"
    )
    return parser


def add_browse_commands(commands: Commands) -> None:
    """Add the ``list``, ``history`` and ``delete`` commands to the subparsers."""
    listing = _add(commands, "list", "List conversations, newest first.")
    listing.add_argument(
        "--page", type=non_negative, default=0, help="page number, from 0 (default: 0)"
    )
    listing.add_argument(
        "--page-size",
        type=positive,
        default=_PAGE_SIZE,
        help=f"conversations per page (default: {_PAGE_SIZE}, as client.list())",
    )
    listing.set_defaults(run=_list)

    history = _add(commands, "history", "Show every entry of a conversation.")
    history.add_argument("conversation_id", type=identifier, metavar="ID", help=_ID_HELP)
    history.set_defaults(run=_history)

    delete = _add(commands, "delete", "Delete a conversation.")
    delete.add_argument("conversation_id", type=identifier, metavar="ID", help=_ID_HELP)
    delete.set_defaults(run=_delete)


def _list(args: argparse.Namespace) -> int:
    with api_client(args, instead=_NO_KEY_INSTEAD) as client:
        conversations = client.list(page=args.page, page_size=args.page_size)
    if args.json:
        print(to_json(conversations))
    elif not conversations:
        print("No conversations." if args.page == 0 else f"No conversations on page {args.page}.")
    else:
        print(conversations_table(conversations))
        if len(conversations) == args.page_size:
            print(f"(more may follow: --page {args.page + 1})")
    return 0


def _history(args: argparse.Namespace) -> int:
    with api_client(args, instead=_NO_KEY_INSTEAD) as client:
        history = client.get_history(args.conversation_id)
    if args.json:
        print(to_json(history))
    elif not history.entries:
        print(f"Conversation {history.conversation_id} has no entries.")
    else:
        print(entries_table(history.entries))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with api_client(args, instead=_NO_KEY_INSTEAD) as client:
        client.delete(args.conversation_id)
    if args.json:
        print(json.dumps({"id": args.conversation_id, "deleted": True}))
    else:
        print(f"Deleted conversation {args.conversation_id}.")
    return 0
