"""Aims the official SDK (``mistralai``) at another server, for the docs' "before" blocks.

The migration guide shows each call twice: as the official SDK's users write it, and as
this library writes it. Both run in the tests against the embedded server. The SDK's
users write ``Mistral(api_key=os.environ["MISTRAL_API_KEY"])`` with no ``server_url``,
so the SDK would go to ``https://api.mistral.ai``: :func:`aimed_at` points the SDK's
table of named servers at a base URL for as long as it is entered, and puts the table
back afterwards. A client made inside keeps the base URL while the table is patched;
use it only there.

Importing this module raises ImportError when ``mistralai`` is not installed, so that
the docs runner skips the SDK's blocks with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mistralai.client import sdkconfiguration

__all__ = ["aimed_at"]


@contextmanager
def aimed_at(base_url: str) -> Iterator[None]:
    """Send the official SDK's requests to ``base_url`` while the block runs.

    Every named server (``global``, ``eu``, ``us``) points there, so ``Mistral()``
    built without ``server_url`` or ``server`` talks to ``base_url``. A client given its
    own ``server_url`` keeps it. The table is restored when the block ends, however it
    ends.
    """
    servers = sdkconfiguration.SERVERS
    saved = dict(servers)
    servers.update(dict.fromkeys(saved, base_url.rstrip("/")))
    try:
        yield
    finally:
        servers.clear()
        servers.update(saved)
