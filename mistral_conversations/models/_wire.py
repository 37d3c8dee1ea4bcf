"""The slot where a decoded model keeps the fields this library has no attribute for."""

from __future__ import annotations

__all__ = ["Decoded"]


class Decoded:
    """The base of every model the server sends.

    Its one slot, set only by the converter when it decodes an answer, holds a dict
    that includes every field of the wire object that the model has no attribute for
    (a field the API added after this release). It is not an attrs field: equality,
    ``repr``, hashing and encoding ignore it, and a model built by hand leaves it unset.
    Read it with :func:`mistral_conversations.extra_fields`.
    """

    __slots__ = ("_wire",)
