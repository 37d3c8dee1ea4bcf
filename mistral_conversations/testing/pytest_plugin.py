"""pytest fixtures for testing code that uses this library against the local server.

Registered as a pytest plugin, or listed in ``pytest_plugins``, it gives:

``local_server``
    A started :class:`~mistral_conversations.testing.LocalServer`, fresh for each test.
    It runs on its own event loop in a background thread, so it serves synchronous
    tests and async tests (on any event loop) alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import LocalServer

__all__ = ["local_server"]


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A started local server, stopped after the test."""
    server = LocalServer()
    with server.run_in_thread():
        yield server
