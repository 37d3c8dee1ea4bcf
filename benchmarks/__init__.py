"""Benchmarks of mistral_conversations against the official SDK and a hand-written floor.

Run ``python -m benchmarks`` (``--quick`` for a smoke run); see ``runner.py``.
"""

from __future__ import annotations

API_KEY = "bench-key"
INPUTS = "Tell me about cheese."
