"""The Conversations API in memory, on 127.0.0.1: for demos, for your tests, and for ours.

:class:`LocalServer` is a real HTTP server that answers every ``/v1/conversations``
operation as Mistral's spec shapes it, with a small deterministic "model" in place of a
language model, so that code using this library can be run and tested offline::

    from mistral_conversations import AsyncClient
    from mistral_conversations.testing import LocalServer

    async with LocalServer() as server:
        async with AsyncClient(api_key=server.api_key, base_url=server.base_url) as client:
            reply = await client.start(inputs="Hello", model="any-model")
            assert reply.output_text == "Echo: Hello"

The "model" echoes text, calls the function tools named in it (several per turn, with
arguments written in the text), holds calls for confirmation, answers function results,
and follows ``response_format`` with JSON built from the schema; every answer reports
rate limits in Mistral's ``x-ratelimit-*`` headers, and ``requests_per_minute`` /
``tokens_per_minute`` / ``rate_window`` enforce them. :class:`LocalServer` lists the
exact rules.

With pytest, the ``local_server`` fixture of
:mod:`mistral_conversations.testing.pytest_plugin` gives a started server per test.
"""

from __future__ import annotations

from ._faults import Faults
from ._server import LocalServer, RecordedRequest

__all__ = ["Faults", "LocalServer", "RecordedRequest"]
