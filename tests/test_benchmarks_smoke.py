"""The benchmark suite runs and counts right (``python -m benchmarks --quick``).

A smoke test, with no thresholds: the run must finish, exit 0, and report every scenario
for our client and the raw floor, with positive figures (any for the RSS per open stream)
and every event and request verified. It needs only the dev extra (the official SDK and
orjson are optional). Deselect it with ``-m "not slow"``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "stream_single",
    "stream_concurrent",
    "start_c1",
    "start_c64",
    "sync_start",
    "sync_stream",
    "long_answer",
    "long_answer_2x",
    "import",
    "peak_rss",
    *(f"open_streams_{n}.{figure}" for n in (100, 1000) for figure in ("kib", "opens", "events")),
}


@pytest.mark.slow
def test_quick_benchmark_run_counts_every_event(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    report = json.loads(out.read_text())
    assert report["failures"] == []
    assert set(report["scenarios"]) == SCENARIOS
    for name, scenario in report["scenarios"].items():
        for client in ("ours", "raw"):
            stats = scenario["clients"][client]
            assert stats["verified"], (name, client, stats)
            if name.endswith(".kib"):
                # The RSS grown by a handful of streams: a page more or less either way.
                assert stats["median"] is not None, (name, client)
            else:
                assert stats["median"] > 0, (name, client)
                assert stats["min"] > 0, (name, client)
            assert stats["expected"] == stats["received"], (name, client)
            assert all(count > 0 for count in stats["received"]), (name, client)
    # The table reached stdout.
    assert "stream_single" in run.stdout
    assert "ours/raw" in run.stdout
