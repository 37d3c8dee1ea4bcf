"""The runner: every scenario for every client, interleaved round by round; a table and JSON.

Each round runs each scenario once for each client, the clients in a rotating order, so
that drift of the machine (heat, other load) hits all of them alike; the report gives the
median, min and max over the rounds and the ratios of the medians ours/official and
ours/raw. Every measurement is checked: each client must have received every event and
the exact text, or the run fails (exit status 1).

    python -m benchmarks                 # the full run (~15 minutes on 2 cores)
    python -m benchmarks --quick         # tiny sizes, one round: a smoke test
    python -m benchmarks --rounds 3 --only stream_single,start_c1 --clients ours,raw

The import time, the peak RSS and the open streams are measured in fresh interpreters,
outside the rounds (the open streams as many times as there are rounds, the clients in a
rotating order). The long-answer pair (``long_answer``, ``long_answer_2x``) runs for ours
and raw only (the official SDK adds no response up from a stream).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import http.client
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .server import (
    START_TOKENS,
    BenchServer,
    chunk_model_for,
    expected_text,
    hold_model_for,
    model_for,
    raise_open_files_limit,
)

DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"
CLIENT_NAMES = ("ours", "official", "raw")
WARMUP_EVENTS = 10  # the tiny stream that warms a client up before a timed stream


class HeldStream(Protocol):
    """A stream read up to its first delta; ``finish`` reads it to its end."""

    async def finish(self) -> tuple[int, str]: ...


class AsyncBenchClient(Protocol):
    name: str

    async def __aenter__(self) -> Any: ...
    async def __aexit__(self, *exc_info: Any) -> None: ...
    async def start(self, model: str) -> str: ...
    async def stream(self, model: str) -> tuple[int, str]: ...
    async def open_stream(self, model: str) -> HeldStream: ...
    async def long_answer(self, model: str) -> str: ...  # ours and raw only


class BlockingBenchClient(Protocol):
    name: str

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc_info: Any) -> None: ...
    def start(self, model: str) -> str: ...
    def stream(self, model: str) -> tuple[int, str]: ...


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    rounds: int = 5
    single_events: int = 20_000
    streams: int = 32
    events_each: int = 2_000
    starts_c1: int = 1_000
    starts_c64: int = 2_000
    concurrency: int = 64
    sync_starts: int = 300
    sync_events: int = 20_000
    import_repeats: int = 7
    rss_streams: int = 32
    rss_events_each: int = 2_000
    long_events: int = 40_000  # long_answer; long_answer_2x has twice as many
    open_few: int = 100  # streams held open at once: open_streams_100
    open_many: int = 1_000  # open_streams_1000
    open_events: int = 200


FULL = Sizes()
QUICK = Sizes(
    rounds=1,
    single_events=2_000,
    streams=4,
    events_each=200,
    starts_c1=30,
    starts_c64=128,
    sync_starts=30,
    sync_events=2_000,
    import_repeats=3,
    rss_streams=4,
    rss_events_each=200,
    long_events=2_000,
    open_few=10,
    open_many=20,
    open_events=20,
)


@dataclass
class Sample:
    """One timed measurement of one client in one scenario."""

    value: float  # a rate, seconds or MiB, as the scenario's unit says
    expected: int  # events or requests that should have arrived
    received: int  # those that did, with the right text
    server_cpu: float | None = None  # the server's CPU share during the timed part


@dataclass(frozen=True)
class Figure:
    """What a scenario reports: one row of the table, and one entry of the JSON, each."""

    name: str
    unit: str
    higher_is_better: bool
    description: str


@dataclass
class Scenario:
    name: str
    kind: str  # "async", "blocking" or "process"
    # A Sample; or, for a scenario of several figures, a Sample per figure name.
    run: Callable[..., Any]
    figures: tuple[Figure, ...]
    clients: tuple[str, ...] = CLIENT_NAMES  # those it measures, of those chosen
    repeats: int = 1  # measurements of each client, for a "process" scenario


def single(
    name: str,
    unit: str,
    higher_is_better: bool,
    description: str,
    kind: str,
    run: Callable[..., Any],
    **options: Any,
) -> Scenario:
    """A scenario of one figure, named as the scenario."""
    return Scenario(
        name, kind, run, (Figure(name, unit, higher_is_better, description),), **options
    )


@dataclass
class Result:
    """Every sample of one client in one scenario, and what went wrong."""

    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return (
            bool(self.samples)
            and not self.errors
            and all(s.received == s.expected for s in self.samples)
        )


# --- Measuring ---------------------------------------------------------------------------


def _ask_server(base_url: str, method: str, path: str) -> bytes:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path)
        return connection.getresponse().read()
    finally:
        connection.close()


def server_cpu_seconds(base_url: str) -> float:
    """The server process's CPU time so far (its /_stats answer)."""
    return float(_ask_server(base_url, "GET", "/_stats"))


def release_held_streams(base_url: str) -> int:
    """Let every stream the server holds send the rest of its events; returns how many."""
    return int(_ask_server(base_url, "POST", "/_release"))


@contextlib.contextmanager
def timed(base_url: str) -> Iterator[list[float]]:
    """Time the block; yields a list that then holds [seconds, server CPU share]."""
    out: list[float] = []
    gc.collect()
    server_before = server_cpu_seconds(base_url)
    started = time.perf_counter()
    yield out
    elapsed = time.perf_counter() - started
    server_used = server_cpu_seconds(base_url) - server_before
    out.extend([elapsed, server_used / elapsed])


def count_received(results: list[tuple[int, str]], events: int) -> int:
    """The events of these streams that count as received: a stream counts all or none,
    and only if it got the right number of events and the right text."""
    expected = expected_text(events)
    return sum(count if count == events + 2 and text == expected else 0 for count, text in results)


async def run_streams(client: AsyncBenchClient, streams: int, events: int) -> list[tuple[int, str]]:
    """Run concurrent streams; return what each received."""
    return await asyncio.gather(*(client.stream(model_for(events)) for _ in range(streams)))


async def run_starts(client: AsyncBenchClient, total: int, concurrency: int) -> int:
    """Run ``total`` starts, ``concurrency`` at a time; return those with the right text."""
    expected = expected_text(START_TOKENS)
    remaining = total
    good = 0

    async def worker() -> None:
        nonlocal remaining, good
        while remaining > 0:
            remaining -= 1
            if await client.start("bench-start") == expected:
                good += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return good


async def stream_scenario(client: AsyncBenchClient, url: str, streams: int, events: int) -> Sample:
    await run_streams(client, streams, WARMUP_EVENTS)  # opens the connections
    with timed(url) as t:
        results = await run_streams(client, streams, events)
    expected = streams * (events + 2)
    return Sample(expected / t[0], expected, count_received(results, events), t[1])


async def start_scenario(
    client: AsyncBenchClient, url: str, total: int, concurrency: int
) -> Sample:
    await run_starts(client, concurrency, concurrency)  # opens the connections
    with timed(url) as t:
        received = await run_starts(client, total, concurrency)
    return Sample(total / t[0], total, received, t[1])


async def long_answer_scenario(client: AsyncBenchClient, url: str, events: int) -> Sample:
    """Seconds to read one answer of text-chunk deltas to its end and add it up."""
    await client.long_answer(chunk_model_for(WARMUP_EVENTS))  # opens the connection
    with timed(url) as t:
        text = await client.long_answer(chunk_model_for(events))
    return Sample(t[0], events, events if text == expected_text(events) else 0, t[1])


def sync_start_scenario(client: BlockingBenchClient, url: str, total: int) -> Sample:
    expected = expected_text(START_TOKENS)
    client.start("bench-start")
    with timed(url) as t:
        received = sum(client.start("bench-start") == expected for _ in range(total))
    return Sample(total / t[0], total, received, t[1])


def sync_stream_scenario(client: BlockingBenchClient, url: str, events: int) -> Sample:
    client.stream(model_for(WARMUP_EVENTS))
    with timed(url) as t:
        result = client.stream(model_for(events))
    return Sample((events + 2) / t[0], events + 2, count_received([result], events), t[1])


# --- The clients -----------------------------------------------------------------------


def client_classes(wanted: list[str]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The async and blocking client classes available, and notes on what is missing."""
    notes = []
    asyncs: dict[str, Any] = {}
    blockings: dict[str, Any] = {}
    if "ours" in wanted:
        from .client_ours import OursBlockingClient, OursClient

        asyncs["ours"], blockings["ours"] = OursClient, OursBlockingClient
    if "official" in wanted:
        try:
            from .client_official import OfficialBlockingClient, OfficialClient
        except ImportError as exc:
            notes.append(
                f"official SDK not measured: mistralai is not installed ({exc}); "
                "pip install -e '.[bench]' to add it"
            )
        else:
            asyncs["official"], blockings["official"] = OfficialClient, OfficialBlockingClient
    if "raw" in wanted:
        from . import client_raw

        asyncs["raw"], blockings["raw"] = client_raw.RawClient, client_raw.RawBlockingClient
        if client_raw.JSON_LIB != "orjson":
            notes.append("orjson is not installed: the raw client decodes with json instead")
    return asyncs, blockings, notes


def raw_json_lib() -> str:
    """The JSON library of the raw client: orjson, or json when orjson is missing."""
    from . import client_raw

    return client_raw.JSON_LIB


def import_statement(name: str) -> str:
    return {
        "ours": "import mistral_conversations",
        "official": "import mistralai.client",
        "raw": f"import aiohttp; import {raw_json_lib()}",
    }[name]


def measure_import(name: str) -> float:
    """Seconds to import the client's package in a fresh interpreter."""
    code = (
        "import time; _t = time.perf_counter(); "
        f"{import_statement(name)}; print(time.perf_counter() - _t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return float(out.stdout.strip())


def measure_rss(name: str, url: str, streams: int, events: int) -> Sample:
    """Peak RSS (MiB) of a fresh process that runs the concurrent-stream scenario."""
    command = [sys.executable, "-m", "benchmarks", "--rss-child", name, "--url", url]
    command += ["--rss-size", f"{streams}x{events}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"the RSS child failed: {out.stderr.strip()[-500:]}")
    report = json.loads(out.stdout)
    return Sample(report["maxrss_mib"], report["expected"], report["received"])


def _status_kib(field: str) -> int | None:
    """A figure in KiB of this process's /proc/self/status (Linux); None elsewhere."""
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def peak_rss_kib() -> int:
    """This process's peak resident set size, in KiB.

    Linux's VmHWM, which starts afresh at exec; ru_maxrss would carry over the peak of the
    (forked) parent process, which here is the runner, larger than the child.
    """
    peak = _status_kib("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def current_rss_kib() -> int:
    """This process's resident set size now, in KiB."""
    rss = _status_kib("VmRSS")
    if rss is None:
        raise RuntimeError("open_streams reads the RSS in /proc/self/status: Linux only")
    return rss


def rss_child(name: str, url: str, size: str) -> int:
    """The body of the process whose peak RSS measure_rss reads."""
    streams, events = (int(part) for part in size.split("x"))
    asyncs, _, _ = client_classes([name])

    async def go() -> list[tuple[int, str]]:
        async with asyncs[name](url) as client:
            return await run_streams(client, streams, events)

    received = count_received(asyncio.run(go()), events)
    report = {"maxrss_mib": peak_rss_kib() / 1024, "expected": streams * (events + 2)}
    print(json.dumps({**report, "received": received}))
    return 0


def open_streams_figures(name: str, streams: int, events: int) -> tuple[Figure, ...]:
    """The three figures of a run of open_streams: see open_streams_child."""
    what = (
        f"{streams:,} streams of {events} deltas held open at once after their first delta, "
        "then released together"
    )
    return (
        Figure(f"{name}.kib", "KiB/stream", False, f"{what}: RSS grown per open stream"),
        Figure(f"{name}.opens", "opens/s", True, f"{what}: streams / time to open them all"),
        Figure(f"{name}.events", "events/s", True, f"{what}: events / time from the release"),
    )


def measure_open_streams(name: str, url: str, streams: int, events: int) -> dict[str, Sample]:
    """The figures of open_streams (by their last part) from a fresh process."""
    command = [sys.executable, "-m", "benchmarks", "--open-child", name, "--url", url]
    command += ["--open-size", f"{streams}x{events}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"the open-streams child failed: {out.stderr.strip()[-500:]}")
    return {key: Sample(**sample) for key, sample in json.loads(out.stdout).items()}


def open_streams_child(name: str, url: str, size: str) -> int:
    """The body of the process that measure_open_streams runs.

    After a warm-up stream (one held, released and read), the RSS is read; then ``streams``
    streams are opened at once, each read up to its first delta (the server holds the
    rest): ``opens`` is their number over the time from the first send to the last first
    delta, and ``kib`` the RSS grown by then, per stream. Then the server releases them
    and all are read to their end: ``events`` is the events received after the release
    over the time from asking for it to the last stream's end. ``received`` is the number
    of streams the server held at the release (fewer than all: the client did not hold
    them at once) and, for ``events``, the events of the streams that had every event and
    the exact text.
    """
    streams, events = (int(part) for part in size.split("x"))
    raise_open_files_limit()
    asyncs, _, _ = client_classes([name])
    # The official SDK's own pool holds 100 connections: it gets one that holds every
    # stream (see client_official.py). Ours pools 1,000 by default; raw has no bound.
    options = {"max_connections": streams} if name == "official" else {}
    model = hold_model_for(events)

    async def go() -> dict[str, Sample]:
        async with asyncs[name](url, **options) as client:
            warm = await client.open_stream(model)
            release_held_streams(url)
            await warm.finish()
            gc.collect()
            rss_before = current_rss_kib()
            with timed(url) as opening:
                held = await asyncio.gather(*(client.open_stream(model) for _ in range(streams)))
            gc.collect()
            rss_open = current_rss_kib()
            with timed(url) as reading:
                released = release_held_streams(url)
                results = await asyncio.gather(*(stream.finish() for stream in held))
        # Two events of each came before the release: the started event and a delta.
        after_release = streams * events
        return {
            "kib": Sample((rss_open - rss_before) / streams, streams, released),
            "opens": Sample(streams / opening[0], streams, released, opening[1]),
            "events": Sample(
                after_release / reading[0],
                streams * (events + 2),
                count_received(results, events) if released == streams else 0,
                reading[1],
            ),
        }

    print(json.dumps({key: asdict(sample) for key, sample in asyncio.run(go()).items()}))
    return 0


# --- Scenarios --------------------------------------------------------------------------


def scenarios(sizes: Sizes) -> list[Scenario]:
    s = sizes

    def open_streams(streams: int, label: str) -> Scenario:
        name = f"open_streams_{label}"

        def run(client: str, url: str) -> dict[str, Sample]:
            samples = measure_open_streams(client, url, streams, s.open_events)
            return {f"{name}.{key}": sample for key, sample in samples.items()}

        figures = open_streams_figures(name, streams, s.open_events)
        # At most 3: the official SDK reads ~3,000 events/s, so each run of
        # open_streams_1000 (200,000 events) costs it ~70 s.
        return Scenario(name, "process", run, figures, repeats=min(s.rounds, 3))

    return [
        single(
            "stream_single",
            "events/s",
            True,
            f"one stream of {s.single_events:,} message.output.delta events",
            "async",
            lambda c, url: stream_scenario(c, url, 1, s.single_events),
        ),
        single(
            "stream_concurrent",
            "events/s",
            True,
            f"{s.streams} concurrent streams of {s.events_each:,} events",
            "async",
            lambda c, url: stream_scenario(c, url, s.streams, s.events_each),
        ),
        single(
            "start_c1",
            "req/s",
            True,
            f"{s.starts_c1:,} non-streaming starts, one at a time",
            "async",
            lambda c, url: start_scenario(c, url, s.starts_c1, 1),
        ),
        single(
            f"start_c{s.concurrency}",
            "req/s",
            True,
            f"{s.starts_c64:,} non-streaming starts, {s.concurrency} at a time",
            "async",
            lambda c, url: start_scenario(c, url, s.starts_c64, s.concurrency),
        ),
        single(
            "sync_start",
            "req/s",
            True,
            f"blocking API: {s.sync_starts} sequential starts (raw: http.client)",
            "blocking",
            lambda c, url: sync_start_scenario(c, url, s.sync_starts),
        ),
        single(
            "sync_stream",
            "events/s",
            True,
            f"blocking API: one stream of {s.sync_events:,} events (raw: http.client)",
            "blocking",
            lambda c, url: sync_stream_scenario(c, url, s.sync_events),
        ),
        single(
            "long_answer",
            "s",
            False,
            f"response() of one answer of {s.long_events:,} text-chunk deltas",
            "async",
            lambda c, url: long_answer_scenario(c, url, s.long_events),
            clients=("ours", "raw"),
        ),
        single(
            "long_answer_2x",
            "s",
            False,
            f"the same, {2 * s.long_events:,} deltas: linear if at most ~2x long_answer",
            "async",
            lambda c, url: long_answer_scenario(c, url, 2 * s.long_events),
            clients=("ours", "raw"),
        ),
        single(
            "import",
            "s",
            False,
            f"import time in a fresh interpreter, median of {s.import_repeats}",
            "process",
            lambda name, url: measure_import(name),
            repeats=s.import_repeats,
        ),
        single(
            "peak_rss",
            "MiB",
            False,
            f"peak RSS of a process running {s.rss_streams} streams of {s.rss_events_each:,}",
            "process",
            lambda name, url: measure_rss(name, url, s.rss_streams, s.rss_events_each),
        ),
        # Named for the full sizes; --quick holds fewer (the description says how many).
        open_streams(s.open_few, "100"),
        open_streams(s.open_many, "1000"),
    ]


def run_once(scenario: Scenario, name: str, classes: dict[str, Any], url: str) -> Sample:
    """One measurement of one client in one (async or blocking) scenario."""
    if scenario.kind == "async":

        async def go() -> Sample:
            async with classes[name](url) as client:
                sample: Awaitable[Sample] = scenario.run(client, url)
                return await sample

        return asyncio.run(go())
    with classes[name](url) as client:
        result: Sample = scenario.run(client, url)
        return result


def run_in_process(scenario: Scenario, name: str, url: str) -> Sample | dict[str, Sample]:
    """One measurement of one client in a scenario that runs in a fresh interpreter."""
    value = scenario.run(name, url)
    return value if isinstance(value, (Sample, dict)) else Sample(value, 1, 1)


def run_all(
    chosen: list[Scenario],
    sizes: Sizes,
    asyncs: dict[str, Any],
    blockings: dict[str, Any],
    url: str,
    log: Callable[[str], None],
) -> dict[str, dict[str, Result]]:
    results = {
        figure.name: {name: Result() for name in asyncs if name in s.clients}
        for s in chosen
        for figure in s.figures
    }
    names = list(asyncs)

    def record(
        scenario: Scenario, name: str, measure: Callable[[], Sample | dict[str, Sample]]
    ) -> None:
        try:
            measured = measure()
        except Exception as exc:
            for figure in scenario.figures:
                results[figure.name][name].errors.append(f"{type(exc).__name__}: {exc}")
            log(f"  {scenario.name:<24} {name:<9} FAILED: {type(exc).__name__}: {exc}")
            return
        if isinstance(measured, Sample):
            measured = {scenario.figures[0].name: measured}
        for figure in scenario.figures:
            sample = measured[figure.name]
            results[figure.name][name].samples.append(sample)
            mark = "" if sample.received == sample.expected else "  MISCOUNT"
            value = _number(sample.value, figure.unit)
            log(f"  {figure.name:<24} {name:<9} {value:>13} {_unit(figure.unit)}{mark}")

    def rotated(index: int) -> list[str]:
        # Rotate the order of the clients each round, so none is always first or last.
        return names[index % len(names) :] + names[: index % len(names)]

    in_rounds = [s for s in chosen if s.kind != "process"]
    for round_index in range(sizes.rounds if in_rounds else 0):
        log(f"round {round_index + 1}/{sizes.rounds}")
        order = rotated(round_index)
        for scenario in in_rounds:
            classes = asyncs if scenario.kind == "async" else blockings
            for name in order:
                if name in scenario.clients:
                    record(
                        scenario, name, functools.partial(run_once, scenario, name, classes, url)
                    )

    for scenario in (s for s in chosen if s.kind == "process"):
        log(scenario.name)
        if scenario.name == "import":
            for name in names:  # warm the bytecode caches first
                measure_import(name)
        for repeat in range(scenario.repeats):
            for name in rotated(repeat):
                if name in scenario.clients:
                    record(scenario, name, functools.partial(run_in_process, scenario, name, url))
    return results


def profile(chosen: list[Scenario], asyncs: dict[str, Any], url: str, top: int = 30) -> int:
    """Run each chosen async scenario once for ours under cProfile; print the hot spots."""
    import cProfile
    import pstats

    for scenario in chosen:
        if scenario.kind != "async":
            print(f"{scenario.name}: not profiled (only the async scenarios are)")
            continue
        profiler = cProfile.Profile()
        profiler.enable()
        sample = run_once(scenario, "ours", asyncs, url)
        profiler.disable()
        unit = scenario.figures[0].unit
        rate = f"{_number(sample.value, unit)} {_unit(unit)}"
        print(f"== {scenario.name}, ours: {rate} under the profiler (warm-up included)")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        print("own time by package or module:")
        for where, share in own_time_by_place(stats)[:12]:
            print(f"  {share:6.1%}  {where}")
        stats.sort_stats("tottime").print_stats(top)
    return 0


def own_time_by_place(stats: Any) -> list[tuple[str, float]]:
    """Sum the profiled functions' own time by package (our modules one by one)."""
    totals: dict[str, float] = {}
    for (filename, _, function), (_, _, own, _, _) in stats.stats.items():
        path = filename.replace("\\", "/")
        if "mistral_conversations/" in path:
            where = "mistral_conversations/" + path.rsplit("mistral_conversations/", 1)[1]
        elif "<cattrs generated" in path or "<attrs generated" in path:
            where = path.split()[0].strip("<") + " generated code"
        elif "site-packages/" in path:
            where = path.rsplit("site-packages/", 1)[1].split("/")[0]
        elif "benchmarks/" in path:
            where = "benchmarks (the harness)"
        elif filename == "~":
            where = f"builtin {function}"
        else:
            where = "stdlib " + path.rsplit("/", 1)[-1]
        totals[where] = totals.get(where, 0.0) + own
    grand = sum(totals.values()) or 1.0
    return sorted(((w, t / grand) for w, t in totals.items()), key=lambda item: -item[1])


# --- The report -------------------------------------------------------------------------


def summarise(
    chosen: list[Scenario], results: dict[str, dict[str, Result]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for figure in (figure for scenario in chosen for figure in scenario.figures):
        clients: dict[str, Any] = {}
        for name, result in results[figure.name].items():
            values = [s.value for s in result.samples]
            shares = [s.server_cpu for s in result.samples if s.server_cpu is not None]
            clients[name] = {
                "median": statistics.median(values) if values else None,
                "min": min(values, default=None),
                "max": max(values, default=None),
                "samples": values,
                "verified": result.verified,
                "expected": [s.expected for s in result.samples],
                "received": [s.received for s in result.samples],
                "server_cpu_max": max(shares, default=None),
                "errors": result.errors,
            }
        ratios = {}
        ours = clients.get("ours", {}).get("median")
        for other in ("official", "raw"):
            theirs = clients.get(other, {}).get("median")
            ratios[f"ours/{other}"] = ours / theirs if ours and theirs else None
        out[figure.name] = {
            "unit": figure.unit,
            "higher_is_better": figure.higher_is_better,
            "description": figure.description,
            "clients": clients,
            "ratios": ratios,
        }
    if "long_answer" in out and "long_answer_2x" in out:
        # Twice the deltas: a linear client takes about twice the time.
        growth = {}
        for name, stats in out["long_answer_2x"]["clients"].items():
            base = out["long_answer"]["clients"].get(name, {}).get("median")
            growth[name] = stats["median"] / base if base and stats["median"] else None
        out["long_answer_2x"]["growth"] = growth
    return out


def _unit(unit: str) -> str:
    return "ms" if unit == "s" else unit


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:,.1f}"
    if unit in ("MiB", "KiB/stream"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def table(summary: dict[str, dict[str, Any]]) -> str:
    width = max(18, *(len(name) for name in summary))
    header = (
        f"{'scenario':<{width}} {'client':<9} {'median':>13} {'min':>13} {'max':>13} "
        f"{'unit':<10} {'ours/off':>8} {'ours/raw':>8} {'srv cpu':>7}  ok"
    )
    lines = [header, "-" * len(header)]
    for name, scenario in summary.items():
        unit = scenario["unit"]
        for index, (client, stats) in enumerate(scenario["clients"].items()):
            ratios = ["", ""]
            if client == "ours":
                ratios = [
                    "-" if r is None else f"{r:.2f}x"
                    for r in (scenario["ratios"]["ours/official"], scenario["ratios"]["ours/raw"])
                ]
            cpu = stats["server_cpu_max"]
            lines.append(
                f"{name if index == 0 else '':<{width}} {client:<9} "
                f"{_number(stats['median'], unit):>13} {_number(stats['min'], unit):>13} "
                f"{_number(stats['max'], unit):>13} {_unit(unit):<10} "
                f"{ratios[0]:>8} {ratios[1]:>8} "
                f"{'' if cpu is None else f'{cpu:.0%}':>7}  {'yes' if stats['verified'] else 'NO'}"
            )
    lines.append("")
    lines.append(
        "Ratios are of the medians: for rates, above 1x means ours is faster; for ms, MiB and\n"
        "KiB/stream, below 1x means ours is smaller. srv cpu: the server's highest CPU share in\n"
        "a timed run (well under 100%: the server was never the bottleneck)."
    )
    growth = summary.get("long_answer_2x", {}).get("growth")
    if growth:
        shown = ", ".join(
            f"{name} {'-' if ratio is None else f'{ratio:.2f}x'}" for name, ratio in growth.items()
        )
        lines.append(f"long_answer_2x / long_answer (twice the deltas): {shown}.")
    return "\n".join(lines)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("mistral-conversations", "mistralai", "aiohttp", "orjson", "httpx2"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


# --- The command line -------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark mistral_conversations against the official SDK and raw aiohttp.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round (smoke)")
    parser.add_argument("--rounds", type=int, help="rounds to run (default 5; quick 1)")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where to write (default {DEFAULT_JSON})"
    )
    parser.add_argument("--only", help="comma-separated scenario names to run")
    parser.add_argument("--clients", default=",".join(CLIENT_NAMES), help="default: all three")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of benchmarking, run each chosen async scenario once for ours under "
        "cProfile and print the functions that take the most time of their own",
    )
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--rss-size", help=argparse.SUPPRESS)
    parser.add_argument("--open-child", help=argparse.SUPPRESS)
    parser.add_argument("--open-size", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rss_child:
        return rss_child(args.rss_child, args.url, args.rss_size)
    if args.open_child:
        return open_streams_child(args.open_child, args.url, args.open_size)

    sizes = QUICK if args.quick else FULL
    if args.rounds is not None:
        sizes = Sizes(**{**asdict(sizes), "rounds": max(1, args.rounds)})
    every = scenarios(sizes)
    chosen = every
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        unknown = wanted - {s.name for s in every}
        if unknown:
            print(
                f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from "
                f"{', '.join(s.name for s in every)}",
                file=sys.stderr,
            )
            return 2
        chosen = [s for s in every if s.name in wanted]
    wanted_clients = [name.strip() for name in args.clients.split(",") if name.strip()]
    asyncs, blockings, notes = client_classes(wanted_clients)
    for note in notes:
        print(note)
    if not asyncs:
        print(f"no client to measure; --clients takes {', '.join(CLIENT_NAMES)}", file=sys.stderr)
        return 2

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    stream_sizes = {
        WARMUP_EVENTS,
        sizes.single_events,
        sizes.events_each,
        sizes.sync_events,
        sizes.rss_events_each,
    }
    # The long streams are rendered only for a run that reads them (~2 s, ~31 MiB).
    chunk_sizes = (
        {WARMUP_EVENTS, sizes.long_events, 2 * sizes.long_events}
        if any(s.name.startswith("long_answer") for s in chosen)
        else set()
    )
    hold_sizes = {sizes.open_events} if any(s.name.startswith("open_") for s in chosen) else set()
    started = time.perf_counter()
    with BenchServer(stream_sizes, chunk_sizes, hold_sizes) as server:
        log(f"server on {server.base_url} (pid of its own); clients: {', '.join(asyncs)}")
        if args.profile:
            return profile(chosen, asyncs, server.base_url)
        results = run_all(chosen, sizes, asyncs, blockings, server.base_url, log)
    summary = summarise(chosen, results)
    failures = [
        f"{scenario}/{client}: {'; '.join(stats['errors']) or 'miscount'}"
        for scenario, data in summary.items()
        for client, stats in data["clients"].items()
        if not stats["verified"]
    ]
    report: dict[str, Any] = {
        "meta": {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "versions": versions(),
            "quick": args.quick,
            "sizes": asdict(sizes),
            "clients": list(asyncs),
            "raw_json_lib": raw_json_lib(),
            "notes": notes,
            "seconds": round(time.perf_counter() - started, 1),
        },
        "scenarios": summary,
        "failures": failures,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(table(summary))
    print(
        f"\n{len(chosen)} scenarios, {sizes.rounds} round(s), "
        f"{report['meta']['seconds']} s; JSON written to {args.json}"
    )
    if failures:
        print("FAILED (a client missed events or text):\n  " + "\n  ".join(failures))
        return 1
    return 0
