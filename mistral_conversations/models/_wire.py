"""The slot where a decoded model keeps the fields this library has no attribute for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

__all__ = ["Decoded", "DecodedOnRead"]


class Decoded:
    """The base of every model the server sends.

    Its one slot, set only by the converter when it decodes an answer, holds a dict
    that includes every field of the wire object that the model has no attribute for
    (a field the API added after this release). It is not an attrs field: equality,
    ``repr``, hashing and encoding ignore it, and a model built by hand leaves it unset.
    Read it with :func:`mistral_conversations.extra_fields`.
    """

    __slots__ = ("_wire",)


class DecodedOnRead(Decoded):
    """The base of the stream events, which arrive by the thousand a second.

    When the converter decodes one, the fields whose decoding cannot fail (a string
    taken as it is, an index or a name as it came) are left in the kept wire dict and
    decoded when first read; the rest (the type, the timestamp, the content, the usage)
    are decoded at once, so that an event that cannot be decoded still fails where it
    arrives. A reader sees no difference: the attribute holds the same value either
    way, and equality, ``repr``, hashing and encoding read it like any other. A model
    built by hand has every field set, as any attrs class.
    """

    __slots__ = ()

    # Field name -> how to decode it from the wire dict: set on each class by the
    # converter, which is what decides how a field decodes.
    _on_read: ClassVar[Mapping[str, Callable[[dict[str, Any]], Any]]] = {}

    if not TYPE_CHECKING:  # to a type checker, a misspelt attribute stays an error

        def __getattr__(self, name):
            # Reached only when a slot is unset: a field left for its first read.
            decode = type(self)._on_read.get(name)
            if decode is None:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}",
                    name=name,
                    obj=self,
                )
            value = decode(self._wire)
            object.__setattr__(self, name, value)  # frozen to its users, not to itself
            return value
