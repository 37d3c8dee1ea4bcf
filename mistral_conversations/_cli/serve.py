"""``serve``: the embedded server in the foreground, for any client to be pointed at."""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import os
import shlex
import socket
import time
from typing import TYPE_CHECKING

from .common import CommandError

if TYPE_CHECKING:
    from .common import Commands

__all__ = ["add_serve_command"]

_DESCRIPTION = """\
Run the embedded server (the Conversations API in memory, with an "Echo: ..." model) in
the foreground until Ctrl-C. Any client can be pointed at it: this one, the official SDK,
curl. Conversations are lost when it stops.
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is between 0 and 65535 (0: any free port)")
    return value


def _delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("a delay cannot be negative")
    return value


def add_serve_command(commands: Commands) -> None:
    """Add the ``serve`` command to the subparsers."""
    parser = commands.add_parser(
        "serve", help="Run the embedded server until Ctrl-C.", description=_DESCRIPTION
    )
    parser.add_argument(
        "--host",
        type=_host,
        default="127.0.0.1",
        help=(
            "address to listen on (default: 127.0.0.1; 0.0.0.0 or :: for every IPv4 or IPv6 "
            "interface)"
        ),
    )
    parser.add_argument(
        "--port", type=_port, default=8080, help="port to listen on (default: 8080; 0: any free)"
    )
    parser.add_argument(
        "--api-key",
        default="test-key",
        metavar="KEY",
        help="the key clients must send (default: test-key)",
    )
    parser.add_argument(
        "--stream-delay",
        type=_delay,
        default=0.0,
        metavar="SECONDS",
        help="pause between streamed events, to watch tokens arrive (default: 0)",
    )
    parser.set_defaults(run=_serve)


def _host(text: str) -> str:
    """An argparse type: the address to listen on; an IPv6 one may be in brackets."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text.strip():
        # aiohttp would listen on IPv4 and IPv6 at once, each on a port of its own.
        raise argparse.ArgumentTypeError(
            "an address cannot be empty (0.0.0.0 or :: listens on every IPv4 or IPv6 interface)"
        )
    return text


def _banner(host: str, base_url: str, port: int, api_key: str) -> str:
    from ..testing._server import loopback_for, url_host

    loopback = loopback_for(host)
    env = f"MISTRAL_BASE_URL={shlex.quote(base_url)} MISTRAL_API_KEY={shlex.quote(api_key)}"
    lines = [f"Serving the Conversations API from memory at {base_url}"]
    if loopback is not None:
        # Said after the URL, so that the first URL printed is one a client can use here.
        lines.append(
            f"Listening on every IPv{ipaddress.ip_address(host).version} interface ({host}): "
            f"from other machines, use this one's name or address, e.g. "
            f"http://{url_host(socket.gethostname())}:{port} (plain http: the key travels "
            "in clear)"
        )
    return "\n".join(
        [
            *lines,
            f"API key: {api_key}",
            "Point a client at it:",
            f"  {env} mistral-conversations chat",
            f"  Client(api_key={api_key!r}, base_url={base_url!r})",
            f"  Mistral(api_key={api_key!r}, server_url={base_url!r})   # the official SDK",
            f"  curl -H {shlex.quote('Authorization: Bearer ' + api_key)} "
            f"{base_url}/v1/conversations",
            "Press Ctrl-C to stop.",
        ]
    )


def _cannot_listen(host: str, port: int, error: OSError) -> CommandError:
    """Why the server could not listen, and which option to change."""
    resolving = isinstance(error, socket.gaierror)
    number = error.errno
    if number is None and not resolving:
        # Python 3.13's create_server, when no address it tried is available here.
        number = errno.EADDRNOTAVAIL
    if resolving or not number or number < 0:
        reason = error.strerror or str(error)
    else:
        # asyncio's strerror repeats the address, in Python's notation: the reason alone.
        reason = os.strerror(number)
    if resolving or number == errno.EADDRNOTAVAIL:
        advice = "check --host: it must name an address of this machine"
    else:
        advice = "choose another --port (0 picks a free one)"
    from ..testing._server import url_host

    return CommandError(f"cannot listen on {url_host(host)}:{port}: {reason}; {advice}")


def _serve(args: argparse.Namespace) -> int:
    # Here, not at the top: the other commands do without the server (and aiohttp.web).
    from ..testing import LocalServer

    host: str = args.host
    server = LocalServer(
        api_key=args.api_key, host=host, port=args.port, stream_delay=args.stream_delay
    )
    with contextlib.ExitStack() as running:
        try:
            running.enter_context(server.run_in_thread())
        except OSError as error:
            raise _cannot_listen(host, args.port, error) from None
        # Ctrl-C is how this command is meant to end, so it is a success, not an error,
        # even while the banner is still being written.
        with contextlib.suppress(KeyboardInterrupt):
            # Flushed at once: whoever started us through a pipe waits for the address.
            print(_banner(host, server.base_url, server.port, server.api_key), flush=True)
            while True:
                time.sleep(3600)
    print("Stopped.", flush=True)
    return 0
