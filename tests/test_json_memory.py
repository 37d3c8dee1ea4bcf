"""A request body holds memory of its own size, for as long as its call lasts.

orjson hands back its bytes in the whole buffer it wrote them in (4 KiB at least, ~13x
a long text): a call in flight, which keeps its body to send again on a retry, would
hold all of it.
"""

from __future__ import annotations

import tracemalloc

import pytest

from mistral_conversations import _json


# ASCII: orjson caches a non-ASCII str's UTF-8 in the str itself, which is the input's.
@pytest.mark.parametrize("text", ["Tell me about cheese.", "x" * 20_000])
def test_an_encoded_body_holds_no_more_than_its_size(text: str) -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        body = _json.dumps({"inputs": text, "model": "mistral-medium-latest"})
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert _json.loads(body) == {"inputs": text, "model": "mistral-medium-latest"}
    assert held < len(body) + 256
