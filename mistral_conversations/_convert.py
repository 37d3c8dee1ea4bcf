"""The one cattrs converter between the models and the JSON the wire carries.

:data:`converter` is lenient, for what the server sends: unknown fields are ignored,
unknown union variants are kept as ``Unknown*`` models, values are trusted to be of
the spec's JSON types, a field left out reads as the spec's default. :func:`parse_input`
is strict, for what a user gives: unknown fields, missing fields and wrong JSON types
raise :class:`InputShapeError` naming the field, in a dict and in a model built by hand
alike. Both are built by :func:`_build`, so every hook lives in one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import MemberDescriptorType, NoneType, UnionType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, cast, get_args, get_origin, overload

import attrs
from cattrs import Converter
from cattrs.cols import list_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import models as m
from ._time import format_datetime, parse_datetime
from .errors import InputShapeError, Loc
from .models._spec import ANSWER_DEFAULT
from .models._wire import Decoded, DecodedOnRead

__all__ = ["InputShapeError", "converter", "extra_fields", "parse_input"]

T = TypeVar("T")
_Hook = Callable[[Any, Any], Any]
_keep_wire = Decoded.__dict__["_wire"].__set__

_UNKNOWN_MODELS: tuple[type[Any], ...] = (
    m.UnknownAuth,
    m.UnknownChunk,
    m.UnknownEntry,
    m.UnknownEvent,
    m.UnknownTool,
)


class _ShapeError(ValueError):
    """A problem a hook found at ``loc``, relative to the value it was given."""

    def __init__(self, loc: Loc, reason: str) -> None:
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


def _describe(value: object) -> str:
    if value is None:
        return "None"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


_SCALAR_NAMES: dict[type[Any], str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
}


def _expected(tp: Any) -> str:
    if tp in _SCALAR_NAMES:
        return _SCALAR_NAMES[tp]
    origin = get_origin(tp)
    if origin is list:
        return "a list"
    if origin is dict:
        return "an object (dict)"
    article = "an" if tp.__name__[0] in "AEIOU" else "a"
    return f"{article} {tp.__name__} or a dict"


def _required(cls: type[Any]) -> frozenset[str]:
    return frozenset(a.name for a in attrs.fields(cls) if a.default is attrs.NOTHING)


@attrs.frozen
class _TaggedUnion:
    """A union decoded by its ``type`` field."""

    variants: dict[str, type[Any]]
    unknown: type[Any]
    # (cls, fields): in user input, an item without "type" but with one of these
    # fields is a cls.
    untyped: tuple[type[Any], frozenset[str]] | None = None
    # In an answer, an item without "type" is the first of these whose required fields
    # it has, else the last (whose error then names the field it lacks). The variants
    # needing more fields come first: a function call also has a tool run's fields.
    untyped_answer: tuple[tuple[type[Any], frozenset[str]], ...] = ()

    def answer_class(self, value: Mapping[str, Any]) -> type[Any] | None:
        """The variant an answer's item without ``type`` is, if the union has a rule."""
        if not self.untyped_answer:
            return None
        if "role" in value or "content" in value:
            # A message: the spec's two message entries differ by role, and only the
            # input one has prefix.
            role = value.get("role")
            output = role in (None, "assistant") and "prefix" not in value
            wanted = m.MessageOutputEntry if output else m.MessageInputEntry
            if wanted in self.variants.values():
                return wanted
        for cls, required in self.untyped_answer:
            if required.issubset(value):
                return cls
        return self.untyped_answer[-1][0]


def _tagged(
    alias: Any,
    untyped: tuple[type[Any], frozenset[str]] | None = None,
    *,
    untyped_answer: bool = False,
) -> _TaggedUnion:
    members = get_args(alias)
    (unknown,) = (cls for cls in members if cls in _UNKNOWN_MODELS)
    variants: dict[str, type[Any]] = {}
    for cls in members:
        if cls is not unknown:
            tag = str(attrs.fields_dict(cls)["type"].default)
            variants[tag] = cls
    answer: tuple[tuple[type[Any], frozenset[str]], ...] = ()
    if untyped_answer:
        # A message output last, as the fallback: its role has a default, so it needs
        # nothing but content. The entries' schemas allow no other fields, so that an
        # item the spec takes is one variant only, found so.
        ordered = sorted(
            (cls for cls in variants.values() if cls is not m.MessageOutputEntry),
            key=lambda cls: -len(_required(cls)),
        )
        answer = tuple((cls, _required(cls)) for cls in [*ordered, m.MessageOutputEntry])
    return _TaggedUnion(variants, unknown, untyped, answer)


def _tagged_of(classes: tuple[type[Any], ...]) -> _TaggedUnion:
    """A union of models of one's own making (entries and results, say), by ``type``."""
    unknowns = [cls for cls in classes if cls in _UNKNOWN_MODELS]
    tagged = [cls for cls in classes if cls not in _UNKNOWN_MODELS]
    if len(unknowns) != 1 or not all(
        isinstance(getattr(attrs.fields_dict(cls).get("type"), "default", None), str)
        for cls in tagged
    ):
        names = " | ".join(cls.__name__ for cls in classes)
        raise TypeError(
            f"cannot decode the union {names}: a union of models is told apart by their "
            "'type' field, and needs exactly one Unknown* model for the types it does not "
            "know (use the unions of mistral_conversations.models)"
        )
    return _tagged(Union[tuple(classes)])  # noqa: UP007 (a runtime union of a tuple)


# Chat-completions style messages, {"role": ..., "content": ...}, are message.input
# entries: the spec gives "type" a default, and the official SDK accepts them too.
_UNTYPED_MESSAGE = (m.MessageInputEntry, frozenset({"role", "content"}))
# Entries in answers may leave "type" out too, the spec giving it a default (the API
# reference's own example of a response does): the fields say which entry it is.
# Stream events always carry their type.
_TAGGED_UNIONS: dict[frozenset[Any], _TaggedUnion] = {
    frozenset(get_args(alias)): tagged
    for alias, tagged in [
        (m.Entry, _tagged(m.Entry, _UNTYPED_MESSAGE, untyped_answer=True)),
        (m.OutputEntry, _tagged(m.OutputEntry, untyped_answer=True)),
        (m.MessageEntry, _tagged(m.MessageEntry, _UNTYPED_MESSAGE, untyped_answer=True)),
        (m.InputChunk, _tagged(m.InputChunk)),
        (m.OutputChunk, _tagged(m.OutputChunk)),
        (m.ThinkingChunk, _tagged(m.ThinkingChunk)),
        (m.Tool, _tagged(m.Tool)),
        (m.ConnectorAuth, _tagged(m.ConnectorAuth)),
        (m.ConversationEvent, _tagged(m.ConversationEvent)),
    ]
}
_CONVERSATION = frozenset(get_args(m.Conversation))


def _identity(value: Any, _: Any) -> Any:
    return value


def _is_free_dict(tp: Any) -> bool:
    return get_origin(tp) is dict and get_args(tp)[1] is Any


def _is_union(tp: Any) -> bool:
    origin: Any = get_origin(tp)
    return origin is Union or origin is UnionType


def _is_list(tp: Any) -> bool:
    origin: Any = get_origin(tp)
    return origin is list


def _union_members(union: Any) -> tuple[Any, ...]:
    """The members of a union, without None, and without a Literal of strs beside str.

    ``Literal["low", "high"] | str`` names the known values for editors and type
    checkers; on the wire it is a string, any string.
    """
    members = tuple(tp for tp in get_args(union) if tp is not NoneType)
    if str in members:
        members = tuple(
            tp
            for tp in members
            if not (get_origin(tp) is Literal and all(isinstance(v, str) for v in get_args(tp)))
        )
    return members


_AS_IS: dict[Any, str] = {
    str: "v.__class__ is str",
    int: "v.__class__ is int",
    bool: "v.__class__ is bool",
    float: "(v.__class__ is float or v.__class__ is int)",
    datetime: "isinstance(v, datetime)",
}


def _as_is_test(tp: Any) -> str | None:
    """A quick test (Python, of ``v``) that a value is one ``tp``'s strict hook takes as it is.

    True promises that the hook would accept the value unchanged; False promises
    nothing (the hook then decides, and names the problem). None: ``tp`` (a list, a
    model) has no such quick test.
    """
    test = _AS_IS.get(tp)
    if test is not None:
        return test
    if _is_free_dict(tp):
        return "v.__class__ is dict"
    if not _is_union(tp):
        return None
    tests = [test for tp in _union_members(tp) if (test := _as_is_test(tp)) is not None]
    if NoneType in get_args(tp):
        tests.insert(0, "v is None")
    return f"({' or '.join(tests)})" if tests else None


def _as_is_fn(cls: type[Any]) -> Callable[[Any], bool] | None:
    """A quick test that a model built by hand is valid as it is; None where none can tell.

    A model whose fields all hold strings, numbers, timestamps or free dicts of the right
    types, and whose constants are right, needs no closer look. Any field that holds
    lists or models takes one (it is a model of its own, or a union of them).
    """
    lines = ["def as_is(i):"]
    for field in attrs.fields(attrs.resolve_types(cls)):
        test = _as_is_test(field.type)
        if test is None:
            return None
        if isinstance(field.default, str):  # a constant
            test = f"v == {field.default!r}"
        lines += [f"  v = i.{field.name}", f"  if not ({test}):", "    return False"]
    lines.append("  return True")
    names: dict[str, Any] = {"datetime": datetime}
    exec(compile("\n".join(lines), f"<quick test of {cls.__name__}>", "exec"), names)
    as_is: Callable[[Any], bool] = names["as_is"]
    return as_is


# Stream events arrive by the thousand a second, each decoded on its own: their models get
# the lean hook of _lean_structure_fn. The other models keep cattrs' generated ones.
_LEAN_MODELS = frozenset(set(get_args(m.ConversationEvent)) - set(_UNKNOWN_MODELS))


def _lean_structure_fn(cls: type[Any], conv: Converter, general: _Hook) -> _Hook:
    """A structure hook for a slotted model that gives what ``general`` gives, faster.

    ``general`` is cattrs' generated hook. Like it, this one reads each field the dict
    has, ignores the keys it does not know and leaves the defaults of the others; unlike
    it, it sets the slots of a new instance directly (a frozen class's ``__init__`` sets
    each through ``object.__setattr__``, and took half of an event's decoding), and it
    does the common cases of the field hooks inline: a str kept as it is, a timestamp
    parsed in one call. On any exception it hands the value to ``general``, so that a
    value of the wrong shape raises exactly what it always raised.

    For a :class:`DecodedOnRead` model, a field whose decoding cannot fail (the str
    hook, or a value taken as it comes) other than the ``type`` is not set at all: it
    is decoded from the kept dict when first read, which most never are. A required one
    is still checked to be there. The hook then takes a third argument, ``owned``: true
    when the dict is the caller's to give away (a stream's own), else it is copied.

    A model this cannot decode that way (no slots, a validator, a converter, a factory
    default, an ``__attrs_post_init__``) keeps ``general`` itself.
    """
    fields = attrs.fields(attrs.resolve_types(cls))
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        return general
    lines = ["def structure(o, _, owned=False):", "  try:", "    get = o.get", "    i = new(cls)"]
    str_hook = conv.get_structure_hook(str)
    names: dict[str, Any] = {
        "new": object.__new__,
        "cls": cls,
        "general": general,
        "parse_datetime": parse_datetime,
    }
    on_read: dict[str, Callable[[dict[str, Any]], Any]] = {}
    for field in fields:
        name, tp, default = field.name, field.type, field.default
        slot = cls.__dict__.get(name)
        if (
            not isinstance(slot, MemberDescriptorType)
            or not field.init
            or field.alias != name
            or field.converter is not None
            or field.validator is not None
            or isinstance(default, attrs.Factory)  # type: ignore[arg-type]
            or ANSWER_DEFAULT in field.metadata
        ):
            return general
        hook = conv.get_structure_hook(tp)
        required = default is attrs.NOTHING
        as_str = tp is str and hook == str_hook  # cattrs calls str(value)
        if issubclass(cls, DecodedOnRead) and name != "type" and (as_str or hook is _identity):
            on_read[name] = _reader(name, default, as_str=as_str)
            if required:
                lines.append(f"    o[{name!r}]")  # a missing field fails here, not when read
            continue
        names.update({f"set_{name}": slot.__set__, f"h_{name}": hook, f"t_{name}": tp})
        names[f"d_{name}"] = default
        value = f"o[{name!r}]"
        if required:
            read = value
        else:
            read = f"get({name!r})" if default is None else f"get({name!r}, d_{name})"
        if as_str:
            lines += [f"    v = {read}", "    if v.__class__ is not str:", "      v = str(v)"]
        elif hook is _identity:  # an int, or a union of JSON scalars, taken as it comes
            lines.append(f"    v = {read}")
        elif tp == datetime | None and default is None:  # the datetime hook: parse_datetime
            lines += [f"    v = {read}", "    if v is not None:", "      v = parse_datetime(v)"]
        elif _is_union(tp) and str in get_args(tp):
            # The union's hook returns a str as it is; only other values need it.
            lines += [f"    v = {read}", "    if v.__class__ is not str:"]
            lines.append(f"      v = h_{name}(v, t_{name})")
        elif required:
            lines.append(f"    v = h_{name}({value}, t_{name})")
        else:
            lines.append(f"    v = h_{name}({value}, t_{name}) if {name!r} in o else d_{name}")
        lines.append(f"    set_{name}(i, v)")
    if issubclass(cls, Decoded):
        # The dict itself, not its unknown fields: finding those would cost every event
        # a set difference, and an event rarely outlives its dict by long.
        names["keep_wire"] = _keep_wire
        lines.append("    keep_wire(i, o)")
    if on_read:
        # The fields left for their first read are read from the dict then: a dict the
        # caller still holds is copied, so that changing it later changes no event. A
        # stream's parsed dicts are its own: it passes owned=True.
        lines.insert(2, "    o = o if owned else dict(o)")
    # Outside the except clause, so that general's error does not chain the lean one.
    lines += ["    return i", "  except Exception:", "    pass", "  return general(o, cls)"]
    exec(compile("\n".join(lines), f"<lean structure of {cls.__name__}>", "exec"), names)
    structure: _Hook = names["structure"]
    structure.__qualname__ = structure.__name__ = f"structure_{cls.__name__}"
    if on_read:
        cls._on_read = on_read
    return structure


def _reader(name: str, default: Any, *, as_str: bool) -> Callable[[dict[str, Any]], Any]:
    """How a field left for its first read is decoded from the wire dict: as the lean
    hook would have decoded it at once."""
    if default is attrs.NOTHING:

        def read_required(wire: dict[str, Any]) -> Any:
            value = wire[name]
            return str(value) if as_str and value.__class__ is not str else value

        return read_required

    def read(wire: dict[str, Any]) -> Any:
        value = wire.get(name, default)
        return str(value) if as_str and value.__class__ is not str else value

    return read


def _answer_structure_fn(cls: type[Any], fields: tuple[Any, ...], general: _Hook) -> _Hook:
    """cattrs' hook, plus the spec's defaults for what an answer leaves out, plus a
    note of the fields the model has no attribute for (see :class:`Decoded`)."""
    defaults = {a.name: a.metadata[ANSWER_DEFAULT] for a in fields if ANSWER_DEFAULT in a.metadata}
    known = frozenset(a.name for a in fields)
    note = issubclass(cls, Decoded)
    if not (defaults or note):
        return general

    def structure_answer(value: Any, _: Any) -> Any:
        if value.__class__ is not dict:
            return general(value, cls)
        given = value
        if defaults and not defaults.keys() <= value.keys():
            value = {**defaults, **value}
        instance = general(value, cls)
        # A subset test iterates the keys without building a set: most answers have
        # no field this release does not know, and pay only that.
        if note and not given.keys() <= known:
            _keep_wire(instance, {name: given[name] for name in given.keys() - known})
        return instance

    return structure_answer


class _Converter(Converter):
    if TYPE_CHECKING:
        # cattrs types `cl` as type[T], which a union alias such as ConversationEvent
        # is not; let those through, typed Any.
        @overload
        def structure(self, obj: Any, cl: type[T]) -> T: ...
        @overload
        def structure(self, obj: Any, cl: Any) -> Any: ...
        def structure(self, obj: Any, cl: Any) -> Any: ...


def _build(*, strict: bool) -> _Converter:
    conv = _Converter(forbid_extra_keys=strict, detailed_validation=strict)

    def structure_attrs(cls: type[Any]) -> _Hook:
        fields = attrs.fields(attrs.resolve_types(cls))
        fn = make_dict_structure_fn(cls, conv)
        if not strict:
            if cls in _LEAN_MODELS:
                return _lean_structure_fn(cls, conv, fn)
            return _answer_structure_fn(cls, fields, fn)
        # The constants (type, object, role) are the str defaults; an int default is a
        # count an answer may leave out, not a constant.
        consts = [(a.name, a.default) for a in fields if isinstance(a.default, str)]
        names = tuple(a.name for a in fields)
        optional = frozenset(a.name for a in fields if a.default is None)
        as_is = _as_is_fn(cls)

        def structure_strict(value: Any, _: Any) -> Any:
            # Most models built by hand hold strings and numbers of the right types:
            # those are used as they are, after a quick look.
            if value.__class__ is cls and as_is is not None and as_is(value):
                return value
            if isinstance(value, cls):
                # A model built by hand is checked as the dict of its fields would be,
                # through the same hooks: the same problems, at the same paths, in the
                # same words. None in an optional field is "not set", as in a dict.
                value = {
                    name: field_value
                    for name in names
                    if (field_value := getattr(value, name)) is not None or name not in optional
                }
            elif not isinstance(value, Mapping):
                raise _ShapeError((), f"expected {_expected(cls)}, got {_describe(value)}")
            for name, const in consts:
                if name in value and value[name] != const:
                    raise _ShapeError((name,), f"must be {const!r}, got {_describe(value[name])}")
            return fn(value, cls)

        return structure_strict

    def unstructure_attrs(cls: type[Any]) -> Callable[[Any], Any]:
        # A field defaulting to None is optional on the wire: None means absent.
        # Other defaults are constants (type, object, role) and always sent.
        omit: dict[str, Any] = {
            a.name: override(omit_if_default=True) for a in attrs.fields(cls) if a.default is None
        }
        return make_dict_unstructure_fn(cls, conv, **omit)

    def structure_tagged(union: _TaggedUnion) -> _Hook:
        table = {tag: (conv.get_structure_hook(cls), cls) for tag, cls in union.variants.items()}
        members = (*union.variants.values(), union.unknown)
        unknown = union.unknown
        known_tags = ", ".join(repr(tag) for tag in union.variants)

        # Strict: a model built by hand is checked like a dict (see structure_attrs).
        by_model = {cls: hook for hook, cls in table.values()} if strict else {}

        def structure_instance(value: Any) -> Any:
            if isinstance(value, unknown) or not strict:
                return value
            cls = next(cls for cls in union.variants.values() if isinstance(value, cls))
            return conv.get_structure_hook(cls)(value, cls)

        def structure_item(value: Any, _: Any) -> Any:
            if value.__class__ is dict:
                tag = value.get("type")
                if tag.__class__ is str:
                    found = table.get(tag)
                    if found is not None:
                        return found[0](value, found[1])
                    return unknown(type=tag, raw=value)
            elif by_model:
                hook = by_model.get(value.__class__)
                if hook is not None:
                    return hook(value, value.__class__)
            return structure_unusual(value)

        def structure_unusual(value: Any) -> Any:
            if isinstance(value, members):
                return structure_instance(value)
            if not isinstance(value, Mapping):
                raise _ShapeError(
                    (), f"expected an object with a 'type' field, got {_describe(value)}"
                )
            if "type" not in value:
                untyped: type[Any] | None = None
                if strict:
                    if union.untyped is not None and union.untyped[1].intersection(value):
                        untyped = union.untyped[0]
                else:
                    untyped = union.answer_class(value)
                if untyped is not None:
                    return conv.get_structure_hook(untyped)(value, untyped)
                raise _ShapeError(("type",), f"required field is missing (one of {known_tags})")
            tag = value["type"]
            if not isinstance(tag, str):
                raise _ShapeError(("type",), f"expected a string, got {_describe(tag)}")
            found = table.get(tag)
            if found is not None:
                return found[0](value, found[1])
            return unknown(type=tag, raw=dict(value))

        return structure_item

    def structure_conversation() -> _Hook:
        model_hook = conv.get_structure_hook(m.ModelConversation)
        agent_hook = conv.get_structure_hook(m.AgentConversation)

        def structure_item(value: Any, _: Any) -> Any:
            if isinstance(value, Mapping) and value.get("agent_id") is not None:
                return agent_hook(value, m.AgentConversation)
            if isinstance(value, (m.ModelConversation, m.AgentConversation)):
                return value
            return model_hook(value, m.ModelConversation)

        return structure_item

    def structure_members(members: tuple[Any, ...]) -> tuple[_Hook, Any]:
        """The hook of a union without None, and the type to pass it."""
        if len(members) == 1:
            return conv.get_structure_hook(members[0]), members[0]
        classes = tuple(tp for tp in members if attrs.has(tp))
        if len(classes) == len(members):
            key = frozenset(classes)
            if key == _CONVERSATION:
                return structure_conversation(), None
            tagged = _TAGGED_UNIONS.get(key) or _tagged_of(classes)
            return structure_tagged(tagged), None

        # Any other union is of different JSON types: dispatch on the value's.
        by_class: dict[type[Any], tuple[_Hook, Any] | None] = {}
        object_handler = structure_members(classes) if classes else None
        if object_handler is not None:
            by_class[dict] = object_handler
            if strict:  # a model built by hand is checked like a dict (see structure_attrs)
                by_class.update(dict.fromkeys(classes, object_handler))
        for tp in members:
            if tp in _SCALAR_NAMES:
                by_class[tp] = None
            elif get_origin(tp) in (list, dict):
                by_class[get_origin(tp)] = (conv.get_structure_hook(tp), tp)
        if float in by_class and int not in by_class:
            by_class[int] = None
        expected = " or ".join(_expected(tp) for tp in members if not attrs.has(tp))
        if len(classes) == 1:
            expected += " or " + _expected(classes[0])
        elif classes:
            expected += " or an object with a 'type' field"
        missing = (_identity, None)

        def structure_by_json_type(value: Any, _: Any) -> Any:
            found = by_class.get(value.__class__, missing)
            if found is None:
                return value
            if found is not missing:
                return found[0](value, found[1])
            if classes and isinstance(value, classes):
                if strict and object_handler is not None:  # a subclass of a model
                    return object_handler[0](value, object_handler[1])
                return value
            for kind, handler in by_class.items():
                if kind is not bool and isinstance(value, kind) and handler is not None:
                    return handler[0](value, handler[1])
            raise _ShapeError((), f"expected {expected}, got {_describe(value)}")

        return structure_by_json_type, None

    def structure_union(union: Any) -> _Hook:
        members = _union_members(union)
        if not strict and all(tp in _SCALAR_NAMES for tp in members):
            return _identity
        hook, tp = structure_members(members)
        if NoneType not in get_args(union):
            return hook

        def structure_nullable(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, tp)

        return structure_nullable

    def structure_free_dict(value: Any, _: Any) -> Any:
        if strict and not isinstance(value, Mapping):
            raise _ShapeError((), f"expected an object (dict), got {_describe(value)}")
        return value

    def structure_unknown(value: Any, cls: type[Any]) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
            raise _ShapeError(
                (), f"expected an object with a 'type' string, got {_describe(value)}"
            )
        return cls(type=value["type"], raw=dict(value))

    def structure_datetime(value: Any, _: Any) -> datetime:
        # A datetime in user input is one a model holds: one decoded from an answer,
        # sent back; the wire's strings are parsed.
        if strict and isinstance(value, datetime):
            return value
        return parse_datetime(value)

    conv.register_structure_hook(datetime, structure_datetime)
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_structure_hook_factory(attrs.has, structure_attrs)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_attrs)
    for unknown in _UNKNOWN_MODELS:
        conv.register_structure_hook(unknown, structure_unknown)
        conv.register_unstructure_hook(unknown, lambda obj: obj.raw)
    conv.register_structure_hook_factory(_is_union, structure_union)
    conv.register_structure_hook_factory(_is_free_dict, lambda _: structure_free_dict)
    conv.register_unstructure_hook_factory(_is_free_dict, lambda _: lambda value: value)
    if strict:
        _register_strict_scalars(conv)
    else:
        # The numbers of answers are taken as they come, as the optional ones always were:
        # the server's JSON types are trusted, not coerced (int("3") would hide a bug).
        conv.register_structure_hook(int, _identity)
    return conv


def _register_strict_scalars(conv: Converter) -> None:
    """Refuse what cattrs would coerce: 5 as a str, "5" as an int, "abc" as a list."""

    def scalar(kinds: tuple[type[Any], ...], expected: str) -> _Hook:
        def structure_scalar(value: Any, _: Any) -> Any:
            if isinstance(value, kinds) and (bool in kinds or value.__class__ is not bool):
                return value
            raise _ShapeError((), f"expected {expected}, got {_describe(value)}")

        return structure_scalar

    for tp, kinds in [(str, (str,)), (int, (int,)), (float, (int, float)), (bool, (bool,))]:
        conv.register_structure_hook(tp, scalar(kinds, _SCALAR_NAMES[tp]))

    def structure_list(tp: Any) -> _Hook:
        inner = list_structure_factory(tp, conv)

        def structure_checked(value: Any, _: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise _ShapeError((), f"expected a list, got {_describe(value)}")
            return inner(value, tp)

        return structure_checked

    conv.register_structure_hook_factory(_is_list, structure_list)


converter = _build(strict=False)
"""The converter between models and JSON-ready data: ``unstructure`` and ``structure``."""

_strict_converter = _build(strict=True)


def _note_loc(exc: BaseException) -> Loc:
    parts: list[str | int] = []
    for note in reversed(getattr(exc, "__notes__", ())):
        if isinstance(note, AttributeValidationNote):
            parts.append(note.name)
        elif isinstance(note, IterableValidationNote):
            parts.append(note.index)
    return tuple(parts)


def _unknown_fields_reason(exc: ForbiddenExtraKeysError) -> str:
    known = [a.name for a in attrs.fields(exc.cl)]
    extra = sorted(exc.extra_fields)
    if len(extra) == 1:
        reason = f"unknown field {extra[0]!r} ("
        close = difflib.get_close_matches(extra[0], known, n=1)
        if close:
            reason += f"did you mean {close[0]!r}? "
    else:
        reason = "unknown fields " + ", ".join(repr(name) for name in extra) + " ("
    return reason + "known fields: " + ", ".join(known) + ")"


def _problems(exc: BaseException, loc: Loc) -> Iterator[tuple[bool, Loc, str]]:
    """Walk cattrs' error groups: (is an unknown field, path, reason) for each problem."""
    if isinstance(exc, BaseValidationError):
        for inner in exc.exceptions:
            yield from _problems(inner, loc + _note_loc(inner))
    elif isinstance(exc, ForbiddenExtraKeysError):
        yield True, loc, _unknown_fields_reason(exc)
    elif isinstance(exc, _ShapeError):
        yield False, loc + exc.loc, exc.reason
    elif isinstance(exc, KeyError) and loc and exc.args == (loc[-1],):
        yield False, loc, "required field is missing"
    else:
        yield False, loc, str(exc) or type(exc).__name__


@overload
def parse_input(data: object, cls: type[T]) -> T: ...
@overload
def parse_input(data: object, cls: Any) -> Any: ...
def parse_input(data: object, cls: Any) -> Any:
    """Check user input against a model and return the model.

    ``data`` is a dict or list as the spec shapes it, a model instance, or a mix of
    both (dicts holding model instances). ``cls`` is a model class or a union alias
    such as :data:`~mistral_conversations.models.Entry`. Unknown fields, missing
    required fields and values of the wrong JSON type raise :class:`InputShapeError`;
    a ``type`` this library does not know is kept and sent as it is.
    """
    try:
        return _strict_converter.structure(data, cls)
    except Exception as exc:
        found = list(_problems(exc, _note_loc(exc)))
        first = next((p for p in found if p[0]), found[0])
        problems = tuple((p_loc, reason) for _, p_loc, reason in found)
        raise InputShapeError(first[1], first[2], problems) from None


def extra_fields(model: object) -> dict[str, Any]:
    """The fields of the answer ``model`` was decoded from that it has no attribute for.

    A field the API added after this release is read by no attribute, and kept here
    rather than lost: ``extra_fields(reply)["new_field"]``. Each model holds its own,
    so a new field of an entry is found on that entry. Empty for a model built by hand,
    and for ``Unknown*`` models, whose ``raw`` already holds everything.

    >>> from mistral_conversations import converter, models
    >>> usage = converter.structure({"prompt_tokens": 1, "cached_tokens": 3},
    ...                             models.ConversationUsageInfo)
    >>> extra_fields(usage)
    {'cached_tokens': 3}
    """
    wire = getattr(model, "_wire", None)
    if not wire:
        return {}
    known = {field.name for field in attrs.fields(cast(Any, type(model)))}
    return {name: value for name, value in wire.items() if name not in known}
