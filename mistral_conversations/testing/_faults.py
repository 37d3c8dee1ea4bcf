"""Fault injection for the local server: errors, dropped connections, cut streams, delays."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

from aiohttp import web

__all__ = ["Faults", "close_connection", "dropped"]

_Kind = Literal["fail", "drop_before", "drop_after", "cut", "delay"]


@dataclass
class _Rule:
    kind: _Kind
    remaining: int | None  # None: until cleared
    methods: frozenset[str] | None
    paths: tuple[str, ...] | None
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    events: int = 0
    probability: float = 1.0
    statuses: tuple[int, ...] = ()
    rng: random.Random | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.paths is None or any(fnmatch.fnmatchcase(path, p) for p in self.paths)


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    if isinstance(methods, str):
        methods = [methods]
    return None if methods is None else frozenset(m.upper() for m in methods)


def _paths(paths: Iterable[str] | None) -> tuple[str, ...] | None:
    if isinstance(paths, str):
        paths = [paths]
    return None if paths is None else tuple(paths)


def _count(n: int) -> int:
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return n


def _retry_after(value: str | float | None) -> dict[str, str]:
    """The ``Retry-After`` header for a number of seconds, or a string sent as it is."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"Retry-After": value}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"retry_after must be a number of seconds or a string, not {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"retry_after must be 0 seconds or more, got {value!r}")
    if value == int(value):
        return {"Retry-After": str(int(value))}
    # Decimal seconds, never an exponent: clients that read fractions read "0.00001".
    return {"Retry-After": f"{value:f}".rstrip("0")}


class Faults:
    """What the local server should do wrong, and to which requests.

    Each method adds a rule; every request is checked against the rules in the order
    they were added, and a rule with a count is used up by the requests it hits.
    ``methods`` (e.g. ``["POST"]``) and ``paths`` (shell-style patterns, e.g.
    ``"/v1/conversations/*"``) narrow a rule to some requests; ``None`` matches all.
    Faults act before authentication, as a proxy or load balancer in front of the
    real service would. A request that a fault stops before processing does not count
    in :attr:`LocalServer.processed`; one dropped after processing does.

    Safe to call from any thread while the server runs.
    """

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def pending(self) -> int:
        """How many rules are still armed."""
        with self._lock:
            return len(self._rules)

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take(self, kinds: tuple[_Kind, ...], request: web.Request) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or not rule.matches(request.method, request.path):
                    continue
                if rule.rng is not None and rule.rng.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                return rule
        return None

    # -- arming --------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        retry_after: str | float | None = None,
        headers: Mapping[str, str] | None = None,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status``, without processing them.

        ``retry_after`` becomes the ``Retry-After`` header: a number of seconds (``2``,
        ``0.5``), or a string sent as given (``"2"``, an HTTP date). ``headers`` adds
        any other, e.g. ``{"retry-after-ms": "150"}``.
        """
        extra = {**_retry_after(retry_after), **(headers or {})}
        self._add(
            _Rule("fail", _count(n), _methods(methods), _paths(paths), status=status, headers=extra)
        )

    def fail_fraction(
        self,
        p: float,
        statuses: Sequence[int] = (500, 502, 503),
        *,
        seed: int | None = None,
        retry_after: str | float | None = None,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
    ) -> None:
        """Fail each matching request with probability ``p``, until :meth:`clear`.

        The status is drawn from ``statuses``; ``seed`` makes the draws repeatable.
        ``retry_after`` is as for :meth:`fail_next`.
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be between 0 and 1, got {p}")
        if not statuses:
            raise ValueError("statuses must name at least one status")
        extra = _retry_after(retry_after)
        self._add(
            _Rule(
                "fail",
                None,
                _methods(methods),
                _paths(paths),
                headers=extra,
                probability=p,
                statuses=tuple(statuses),
                rng=random.Random(seed),
            )
        )

    def drop_next(
        self,
        n: int = 1,
        when: Literal["before_answer", "before_processing", "after_processing"] = ("before_answer"),
        *,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
    ) -> None:
        """Close the connection of the next ``n`` matching requests without an answer.

        ``when="before_answer"`` (or its alias ``"before_processing"``) drops the
        request on arrival: nothing changes on the server. ``"after_processing"`` applies
        the request first (a conversation is created, a turn stored) and then drops the
        connection before any byte of the answer, the case where a client cannot know
        whether its request took effect.
        """
        if when not in ("before_answer", "before_processing", "after_processing"):
            raise ValueError(f"when must be 'before_answer' or 'after_processing', got {when!r}")
        kind: _Kind = "drop_after" if when == "after_processing" else "drop_before"
        self._add(_Rule(kind, _count(n), _methods(methods), _paths(paths)))

    def cut_stream_after(
        self,
        n_events: int,
        *,
        times: int = 1,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
    ) -> None:
        """Close the connection of the next ``times`` streams after ``n_events`` events.

        The turn is stored, the headers and the first ``n_events`` events are sent, then
        the connection closes without the end of the body. ``n_events=0`` cuts right
        after the headers; a stream shorter than ``n_events`` ends normally.
        """
        if n_events < 0:
            raise ValueError(f"n_events must be 0 or more, got {n_events}")
        self._add(_Rule("cut", _count(times), _methods(methods), _paths(paths), events=n_events))

    def delay_next(
        self,
        n: int,
        seconds: float,
        *,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
    ) -> None:
        """Hold the next ``n`` matching requests ``seconds`` before handling them.

        The request is processed after the delay even if the client has given up by
        then, as a slow real server would.
        """
        self._add(_Rule("delay", _count(n), _methods(methods), _paths(paths), seconds=seconds))

    # -- applying (the server's side) ----------------------------------------------

    async def before(self, request: web.Request) -> web.StreamResponse | None:
        """Apply the faults due on arrival; the answer to give instead, if any."""
        delay = self._take(("delay",), request)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        rule = self._take(("fail", "drop_before"), request)
        if rule is None:
            return None
        if rule.kind == "drop_before":
            return dropped(request)
        status = rule.rng.choice(rule.statuses) if rule.rng is not None else rule.status
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        body = {
            "object": "error",
            "message": f"{reason} (a fault injected by the local server).",
            "type": "injected_fault",
            "code": status,
        }
        return web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            headers=rule.headers,
        )

    def drop_after(self, request: web.Request) -> bool:
        """Whether to drop this request's connection now that it has been processed."""
        return self._take(("drop_after",), request) is not None

    def stream_cut(self, request: web.Request) -> int | None:
        """After how many events to cut this stream, if it is to be cut."""
        rule = self._take(("cut",), request)
        return None if rule is None else rule.events


def close_connection(request: web.Request) -> None:
    """Close the request's connection at once: what the client has is all it will get.

    The handler then returns as usual; aiohttp fails to write the rest and takes that
    as the client's disconnection, quietly.
    """
    if request.transport is not None:
        request.transport.close()


def dropped(request: web.Request) -> web.StreamResponse:
    """Close the request's connection at once; the response returned is never sent."""
    close_connection(request)
    return web.Response()
