"""A deterministic instance of a JSON Schema: the local "model"'s structured answers.

:func:`schema_instance` builds one value that validates against a schema, the same
value every time for the same schema and text, so that a test can predict it:

- ``const`` and ``enum``: the (first) value; ``anyOf`` / ``oneOf``: the first branch
  that is not ``null``; ``allOf``: its branches merged; ``$ref``: followed within the
  schema (``#/$defs/...``, ``#/definitions/...``, any local JSON pointer).
- object: every property, in order (and any ``required`` one not listed, as a string);
- string: the text, lengthened with ``x`` to ``minLength`` and cut to ``maxLength``;
  a fixed example for the common ``format`` values (``date-time``, ``date``, ``time``,
  ``email``, ``uri``, ``uuid``, ``ipv4``, ``ipv6``, ``hostname``);
- integer and number: the first number in the text, else 0, moved into
  ``minimum``/``maximum`` (exclusive ones too) and onto ``multipleOf``;
- boolean: ``true``; null: ``null``; array: one item, or ``minItems`` of them.
- A type list (``["string", "null"]``) or OpenAPI's ``nullable`` takes the non-null type.

Past a few levels of nesting only what is required is built (required properties,
``minItems`` items, a ``null`` branch where there is one), so recursive schemas end.
``pattern``, ``uniqueItems``, ``not`` and conditionals are not looked at.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["schema_instance"]

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
    "idn-hostname": "example.com",
}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# Deeper than this, only what the schema requires is built: recursive schemas end.
_MINIMAL_DEPTH = 8
# A schema whose required parts nest deeper than this has no finite instance.
_MAX_DEPTH = 64


def schema_instance(schema: Mapping[str, Any], text: str) -> Any:
    """A value valid against ``schema``, built from ``text`` as the module says.

    Raises :class:`ValueError` for a ``$ref`` that does not point into the schema, and
    for a schema whose every instance would be infinitely deep.
    """
    return _Builder(schema, text).build(schema, 0)


class _Builder:
    def __init__(self, root: Mapping[str, Any], text: str) -> None:
        self.root = root
        self.text = text
        found = _NUMBER.search(text)
        self.number: float | int = 0
        if found is not None:
            self.number = float(found.group()) if "." in found.group() else int(found.group())

    def build(self, schema: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError(
                "the schema has no finite instance: its required parts nest without end"
            )
        if not isinstance(schema, Mapping):
            # ``true`` (anything goes) or a malformed schema: a string is as good as any.
            return self.text
        schema = self.resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        minimal = depth > _MINIMAL_DEPTH
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                # The keywords beside the branches hold whichever branch is taken.
                rest = {k: v for k, v in schema.items() if k != key}
                chosen = self.merge([rest, self.branch(branches, minimal, depth)], depth)
                return self.build(chosen, depth + 1)
        kind = _type(schema)
        if kind == "object":
            return self.object(schema, minimal, depth)
        if kind == "array":
            return self.array(schema, minimal, depth)
        if kind == "string":
            return self.string(schema)
        if kind == "integer":
            return _integer(int(self.number), schema)
        if kind == "number":
            return _number(self.number, schema)
        if kind == "boolean":
            return True
        return None

    def resolve(self, schema: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
        """``schema`` with its ``$ref`` followed and its ``allOf`` merged in."""
        if depth > _MAX_DEPTH:
            raise ValueError("the schema's $ref and allOf nest without end")
        ref = schema.get("$ref")
        if isinstance(ref, str):
            # Keywords beside a $ref (allowed since draft 2019-09) narrow the target.
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = self.merge([self.pointer(ref), rest], depth)
        parts = schema.get("allOf")
        if isinstance(parts, list):
            schema = self.merge([*parts, {k: v for k, v in schema.items() if k != "allOf"}], depth)
        return schema

    def merge(self, parts: list[Any], depth: int) -> dict[str, Any]:
        """One schema for all of ``parts``: properties and required names joined, other
        keywords from the last part that has them."""
        merged: dict[str, Any] = {}
        for part in parts:
            if not isinstance(part, Mapping):
                continue
            part = self.resolve(part, depth + 1)
            properties = {**merged.get("properties", {}), **part.get("properties", {})}
            required = [*merged.get("required", []), *part.get("required", [])]
            merged.update(part)
            if properties:
                merged["properties"] = properties
            if required:
                merged["required"] = list(dict.fromkeys(required))
        return merged

    def pointer(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"$ref {ref!r} points outside the schema; only local refs work")
        target: Any = self.root
        for step in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
            step = step.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and step in target:
                target = target[step]
            elif isinstance(target, list) and step.isdigit() and int(step) < len(target):
                target = target[int(step)]
            else:
                raise ValueError(f"$ref {ref!r} points to nothing in the schema")
        if not isinstance(target, Mapping):
            raise ValueError(f"$ref {ref!r} does not point to a schema object")
        return target

    def branch(self, branches: list[Any], minimal: bool, depth: int) -> Any:
        def is_null(branch: Any) -> bool:
            return isinstance(branch, Mapping) and _type(self.resolve(branch, depth)) == "null"

        if minimal:
            # A null branch ends a recursion at once.
            for branch in branches:
                if is_null(branch):
                    return branch
        return next((b for b in branches if not is_null(b)), branches[0])

    def object(self, schema: Mapping[str, Any], minimal: bool, depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = schema.get("required")
        required = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        names = [n for n in properties if not minimal or n in required]
        built = {name: self.build(properties[name], depth + 1) for name in names}
        for name in required:
            if name not in built:
                built[name] = self.text
        return built

    def array(self, schema: Mapping[str, Any], minimal: bool, depth: int) -> list[Any]:
        least = schema.get("minItems", 0)
        least = least if isinstance(least, int) else 0
        count = least if minimal else max(1, least)
        most = schema.get("maxItems")
        if isinstance(most, int):
            count = min(count, most)
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        if isinstance(items, list):  # the tuple form of drafts 4 to 7
            prefix, items = items, schema.get("additionalItems", {})
        prefix = prefix if isinstance(prefix, list) else []
        return [
            self.build(prefix[i] if i < len(prefix) else items, depth + 1) for i in range(count)
        ]

    def string(self, schema: Mapping[str, Any]) -> str:
        value = _FORMATS.get(str(schema.get("format")), self.text)
        least = schema.get("minLength")
        if isinstance(least, int) and len(value) < least:
            value += "x" * (least - len(value))
        most = schema.get("maxLength")
        if isinstance(most, int):
            value = value[:most]
        return value


def _type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
        kind = others[0] if others else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(lowest, whether it is excluded, highest, whether it is excluded)."""
    low, low_out, high, high_out = None, False, None, False
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if _is_number(minimum):
        low, low_out = minimum, schema.get("exclusiveMinimum") is True  # draft 4's boolean
    if _is_number(maximum):
        high, high_out = maximum, schema.get("exclusiveMaximum") is True
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if _is_number(exclusive_low) and (low is None or exclusive_low >= low):
        low, low_out = exclusive_low, True
    if _is_number(exclusive_high) and (high is None or exclusive_high <= high):
        high, high_out = exclusive_high, True
    return low, low_out, high, high_out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: int, schema: Mapping[str, Any]) -> int:
    low, low_out, high, high_out = _bounds(schema)
    if low is not None:
        value = max(value, math.floor(low) + 1 if low_out else math.ceil(low))
    if high is not None:
        value = min(value, math.ceil(high) - 1 if high_out else math.floor(high))
    step = schema.get("multipleOf")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0 and value % step:
        up = value + step - value % step
        value = up if high is None or up < high or (up == high and not high_out) else up - step
    return value


def _number(value: float, schema: Mapping[str, Any]) -> float:
    low, low_out, high, high_out = _bounds(schema)
    if low is not None and (value < low or (low_out and value == low)):
        value = low + 1 if low_out else low
    if high is not None and (value > high or (high_out and value == high)):
        value = high - 1 if high_out else high
        if low is not None and value <= low:
            value = (low + high) / 2
    step = schema.get("multipleOf")
    if (
        isinstance(step, (int, float))
        and not isinstance(step, bool)
        and step > 0
        and value / step != int(value / step)
    ):
        value = math.ceil(value / step) * step
    return value
