"""Shared fixtures: the embedded server, and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mistral_conversations import AsyncClient, RetryPolicy
from mistral_conversations.testing import LocalServer

from .scripted import ScriptedServer

pytest_plugins = ["mistral_conversations.testing.pytest_plugin"]

# Retries in tests run at once: no sleeping, no Retry-After honoured.
FAST_RETRY = RetryPolicy(initial_delay=0, respect_retry_after=False)


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a real key or base URL from the environment."""
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_BASE_URL", raising=False)


@pytest.fixture
async def client(local_server: LocalServer) -> AsyncIterator[AsyncClient]:
    """An AsyncClient talking to the embedded server."""
    async with AsyncClient(
        local_server.api_key, base_url=local_server.base_url, retry=FAST_RETRY
    ) as c:
        yield c


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    """A scripted loopback server, for exact bytes the embedded server would not send."""
    server = ScriptedServer()
    await server.start()
    yield server
    await server.stop()
