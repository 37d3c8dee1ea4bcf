"""Collects the code blocks of README.md and docs/ as tests (see tests/doc_examples.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from mistral_conversations.testing import LocalServer
from tests.doc_examples import close_page_loops, environment, run_python, run_shell


@pytest.fixture(scope="session")
def docs_server() -> Iterator[LocalServer]:
    """One local server for every page's blocks, as a reader's account would be."""
    server = LocalServer()
    with server.run_in_thread():
        yield server
        close_page_loops()


@pytest.fixture
def docs_environment(docs_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Aims ``AsyncClient()`` and ``Client()`` at the docs server, as the pages assume."""
    for name, value in environment(docs_server).items():
        monkeypatch.setenv(name, value)


pytest_collect_file = Sybil(
    parsers=[
        CodeBlockParser(language="python", evaluator=run_python),
        CodeBlockParser(language="bash", evaluator=run_shell),
        SkipParser(),
    ],
    patterns=["README.md", "docs/*.md"],
    fixtures=["docs_server", "docs_environment"],
).pytest()
