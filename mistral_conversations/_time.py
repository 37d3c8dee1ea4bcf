"""Timestamps on the wire: parsing and formatting of the API's date-time strings."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone

__all__ = ["format_datetime", "parse_datetime"]

_UTC = timezone.utc
_ZERO = timedelta(0)

if sys.version_info >= (3, 11):
    # Takes "Z" and any fraction: what the API sends, parsed in one C call.
    _fromisoformat_fast = datetime.fromisoformat

    def _fromisoformat(value: str) -> datetime:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            # RFC 3339 allows a lowercase "z", which fromisoformat refuses.
            if value[-1:] != "z":
                raise
            return datetime.fromisoformat(value[:-1] + "+00:00")

else:
    _FRACTION = re.compile(r"\.(\d+)")

    def _pad_fraction(match: re.Match[str]) -> str:
        return "." + (match.group(1) + "000000")[:6]

    def _fromisoformat(value: str) -> datetime:
        # Python 3.10 takes neither "Z" nor fractions other than 3 or 6 digits.
        if value[-1:] in ("Z", "z"):
            value = value[:-1] + "+00:00"
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return datetime.fromisoformat(_FRACTION.sub(_pad_fraction, value, count=1))

    _fromisoformat_fast = _fromisoformat


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 date-time into an aware datetime; one without offset is UTC."""
    # Every stream event carries one: the common case is a str that parses at once.
    if value.__class__ is str:
        try:
            parsed = _fromisoformat_fast(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)
    return _parse_unusual(value)


def _parse_unusual(value: object) -> datetime:
    if value.__class__ is not str:
        raise TypeError(f"expected a date-time string, got {type(value).__name__} {value!r}")
    try:
        parsed = _fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 date-time such as '2025-05-28T09:01:28Z', got {value!r}"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def format_datetime(value: datetime) -> str:
    """Format a datetime as the API does: UTC with a ``Z``; a naive one is taken as UTC."""
    offset = value.utcoffset()
    if offset is None:
        return value.isoformat() + "Z"
    if offset == _ZERO:
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()
