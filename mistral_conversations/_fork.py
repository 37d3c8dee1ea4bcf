"""Surviving ``os.fork()``: what a child inherits from its parent is never used nor closed.

After a fork, the child holds copies of the parent's event loops, sessions and sockets,
but the sockets and the loops' epoll instances are shared kernel objects: a child that
reads a pooled connection steals the parent's answer, and one that closes an inherited
loop unregisters the parent's sockets from the parent's own epoll, so that the parent's
loop stops waking up. So a child starts afresh, and keeps what it inherited alive and
inert until it exits.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import select
import selectors
import sys

__all__ = ["abandon", "generation"]

_generation = 0
# Referenced for the child's whole life: collecting these would close them.
_abandoned: list[object] = []
# At exit even module globals are cleared and their objects finalised: in CPython one
# extra reference, never given back, keeps an abandoned object from that too.
_keep_forever = ctypes.pythonapi.Py_IncRef if sys.implementation.name == "cpython" else None


def generation() -> int:
    """A number that changes in a child process each time it is forked."""
    return _generation


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1


if hasattr(os, "register_at_fork"):  # Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def abandon(*objects: object) -> None:
    """Keep what a child inherited from ever being closed (or finalised at exit).

    An event loop given here has its epoll descriptor pointed at a fresh, empty epoll
    of the child's own: whatever later closes that loop (its finaliser at exit, say)
    then acts on the child's epoll, never on the one the parent is still waiting on.
    """
    for item in objects:
        if isinstance(item, asyncio.AbstractEventLoop):
            _disarm(item)
        if _keep_forever is not None:
            _keep_forever(ctypes.py_object(item))
    _abandoned.extend(objects)


def _disarm(loop: asyncio.AbstractEventLoop) -> None:
    selector = getattr(loop, "_selector", None)
    # Only epoll is shared across fork: kqueue does not survive it, poll and select
    # keep their state in the process.
    epoll_selector = getattr(selectors, "EpollSelector", None)  # Linux only
    if epoll_selector is not None and isinstance(selector, epoll_selector):
        fresh = select.epoll()
        try:
            os.dup2(fresh.fileno(), selector.fileno())
        finally:
            fresh.close()
