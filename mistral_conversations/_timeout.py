"""Timeout: the time limits of a request, as a user gives them."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Timeout"]


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"Timeout.{attribute.name} must be a positive number of seconds or None")


@attrs.frozen(kw_only=True)
class Timeout:
    """Time limits of a request, in seconds; ``None`` means no limit.

    ``connect`` bounds getting a connection: waiting for a free one when all
    ``max_connections`` are in use, then making it. ``read`` bounds the longest silence
    between two pieces of the answer (what matters for a stream). ``total`` bounds a
    whole non-streaming request from the first byte sent to the last byte read, and
    does not apply to streams, which may rightly last long. ``stream`` bounds a whole
    stream, from its first send to its last event, however steadily the server keeps
    sending (a trickle of bytes or keep-alive comments never trips ``read``); ``None``,
    the default, lets a stream last as long as the server keeps it alive.

    A plain number ``t`` where a timeout is accepted means ``Timeout(connect=t,
    read=t, total=t)``.
    """

    connect: float | None = attrs.field(default=10.0, validator=_optional_positive)
    read: float | None = attrs.field(default=120.0, validator=_optional_positive)
    total: float | None = attrs.field(default=600.0, validator=_optional_positive)
    stream: float | None = attrs.field(default=None, validator=_optional_positive)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """Turn what a user may pass as ``timeout=`` into a :class:`Timeout`."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(
                f"timeout must be a Timeout, a number of seconds or None, not {value!r}"
            )
        if not value > 0:  # written so that NaN fails too
            raise ValueError(
                f"timeout={value!r}: a timeout is a positive number of seconds (or a "
                "Timeout, or None for the defaults)"
            )
        return cls(connect=value, read=value, total=value)
