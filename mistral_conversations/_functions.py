"""Plain Python callables as function tools: the schema the model reads, the arguments it sends.

:func:`describe_function` reads a callable's signature, type hints and docstring once and
gives a :class:`FunctionSpec`: the :class:`~mistral_conversations.models.FunctionTool` to send,
and :meth:`FunctionSpec.bind`, which checks the model's arguments against the parameters'
types and converts them, with converters built once, at describe time.

Conversion is strict, so that what the function receives is what its annotations promise:

- a ``str`` must be a JSON string, a ``bool`` a JSON boolean, ``None`` a JSON null;
- an ``int`` takes a JSON integer, and also a number with no fractional part (``2.0``),
  since JSON Schema counts that as an integer; never a boolean;
- a ``float`` takes any JSON number, converted to ``float``; never a boolean;
- a Literal or an Enum takes one of its values (an Enum gives the member), of the same
  JSON type: ``1`` is not ``true``, and ``"1"`` is not ``1``;
- a set takes an array; repeated items, which the schema forbids, are merged, not refused;
- a union takes the first alternative, in the order written, that accepts the value; when
  only one alternative takes values of the JSON type given, its own problems are reported.
"""

from __future__ import annotations

import enum
import functools
import inspect
import math
import re
import sys
import types
import typing
from collections.abc import (
    Callable,
    Hashable,
    Mapping,
    MutableMapping,
    MutableSequence,
    MutableSet,
    Sequence,
)
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import attrs
import docstring_parser

from . import _json
from .errors import ToolDefinitionError
from .models import Function, FunctionTool

__all__ = [
    "FunctionSpec",
    "OutputSpec",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "describe_function",
    "describe_output",
    "parse_arguments",
]

_Path = tuple[str | int, ...]
# A converter takes a JSON value and its path, appends each problem it finds to the list,
# and returns the converted value (_INVALID if it appended any).
_Convert = Callable[[Any, _Path, list[str]], Any]

_INVALID: Any = object()
"""No value: a conversion that failed, or a default with no JSON form."""

_REQUIRED: Any = object()
"""The default of a parameter or field that has none."""

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ALL_KINDS = frozenset({"string", "integer", "number", "boolean", "null", "array", "object"})
_QUALIFIERS = ("Required", "NotRequired", "ReadOnly")
_SUPPORTED = (
    "use str, int, float, bool, None, a Literal, an Enum, a list, tuple, set or dict of these, "
    "a TypedDict or an attrs class (a date or time as an ISO 8601 str, say)"
)


class ToolArgumentsError(ValueError):
    """The arguments the model sent for a function tool do not fit its parameters.

    ``problems`` holds every problem found, each a sentence written for the model, to read
    and correct its call; ``str()`` gives them one a line.
    """

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(self.problems)


@attrs.frozen
class FunctionSpec:
    """A callable described as a function tool: what to send, and how to call it.

    ``name`` is the callable's ``__name__`` (a callable object's class name), ``tool`` the
    :class:`~mistral_conversations.models.FunctionTool` to send, ``function`` the callable
    itself, and ``is_async`` whether calling it gives a coroutine to await.
    """

    name: str
    tool: FunctionTool
    function: Callable[..., Any]
    is_async: bool
    _convert: _Convert = attrs.field(alias="convert", repr=False, eq=False)

    def bind(self, arguments: str | Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The model's arguments as ``(args, kwargs)`` that call :attr:`function`.

        *arguments* is the JSON text the API sends (blank means no arguments), or a mapping
        already parsed. Every value is checked and converted to its parameter's type;
        parameters left out take their defaults. Raises :class:`ToolArgumentsError` listing
        every problem found.
        """
        problems: list[str] = []
        kwargs = self._convert(parse_arguments(arguments), (), problems)
        if problems:
            raise ToolArgumentsError(*problems)
        return (), kwargs


def describe_function(function: Callable[..., Any]) -> FunctionSpec:
    """Describe a callable as a function tool.

    *function* may be sync or async: a function, a bound method, a ``functools.partial``
    or an object with ``__call__``. The parameters' annotations give the JSON Schema of the
    arguments; the docstring (Google, NumPy, Sphinx or Epydoc style) gives the function's
    description and its parameters'. Raises :class:`ToolDefinitionError` if it cannot be
    described.
    """
    if not callable(function):
        raise ToolDefinitionError(
            f"cannot use {function!r} as a tool: it is not callable; pass a function"
        )
    name = _name_of(function)
    description, parameter_docs = _parse_doc(_doc_of(function))
    namespace = _namespace_of(function)
    members = [
        _parameter_member(name, parameter, namespace, parameter_docs)
        for parameter in _signature_of(function, name).parameters.values()
    ]
    describer = _Describer(name)
    properties, fields = describer.parameters(members)
    parameters = _object_schema(properties, fields, None)
    if describer.defs:
        parameters["$defs"] = describer.defs
    # A round trip through JSON proves the schema serialisable now rather than at the first
    # request, and gives a tree that shares no dict with the cached shapes.
    parameters = _json.loads(_json.dumps(parameters))
    tool = FunctionTool(
        function=Function(name=name, description=description, parameters=parameters)
    )
    convert = _record_convert(fields, dict, "an object")
    return FunctionSpec(name, tool, function, _is_async(function), convert=convert)


@attrs.frozen
class OutputSpec:
    """An attrs class as a run's structured output: its JSON Schema, and how to read it.

    ``schema`` is the class's object schema at the root, with the classes it uses (and
    the class itself, if it contains itself) under ``$defs``.
    """

    schema: dict[str, Any]
    _convert: _Convert = attrs.field(alias="convert", repr=False, eq=False)

    def decode(self, data: Any) -> Any:
        """An instance from decoded JSON, checked as arguments are; else ToolArgumentsError."""
        problems: list[str] = []
        value = self._convert(data, (), problems)
        if problems:
            raise ToolArgumentsError(*problems)
        return value


def describe_output(cls: type[Any]) -> OutputSpec:
    """Describe an attrs class (or TypedDict) as a structured output.

    Raises :class:`ToolDefinitionError` naming the field whose type has no JSON form.
    """
    describer = _Describer(cls.__name__, use="as output_type")
    describer._parameter = describer._where = "output_type"
    reference = describer.shape(cls)
    name = reference.schema["$ref"].rpartition("/")[2]
    schema = dict(describer.defs[name])
    if "$ref" in _json.dumps(schema).decode():
        schema["$defs"] = describer.defs
    return OutputSpec(_json.loads(_json.dumps(schema)), convert=reference.convert)


def parse_arguments(arguments: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The model's arguments as a mapping: JSON text parsed (blank is none), else as given.

    Raises :class:`ToolArgumentsError` for text that is not JSON or not a JSON object.
    """
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            arguments = _json.loads(arguments)
        except _json.JSONDecodeError as exc:
            raise ToolArgumentsError(f"arguments are not valid JSON: {exc}") from None
    if not isinstance(arguments, Mapping):
        raise ToolArgumentsError(f"arguments must be a JSON object, got {_render_value(arguments)}")
    return arguments


# -- the callable: name, signature, docstring, namespace -----------------------------------


def _unpartial(function: Any) -> Any:
    while isinstance(function, functools.partial):
        function = function.func
    return function


def _name_of(function: Callable[..., Any]) -> str:
    target = _unpartial(function)
    name = getattr(target, "__name__", None)
    if not isinstance(name, str):
        name = type(target).__name__
    if name == "<lambda>":
        raise ToolDefinitionError(
            "cannot use a lambda as a tool: the model calls tools by name; define the "
            "function with def, under a name matching ^[a-zA-Z0-9_-]{1,64}$"
        )
    if not _NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"cannot use {name!r} as a tool: the API requires a name of 1 to 64 ASCII "
            "letters, digits, '_' or '-'; define the function with def under such a name"
        )
    return name


def _signature_of(function: Callable[..., Any], name: str) -> inspect.Signature:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(
            f"cannot use {name!r} as a tool: its signature cannot be read ({exc}); wrap it "
            "in a def with annotated parameters"
        ) from None


def _is_async(function: Callable[..., Any]) -> bool:
    target = _unpartial(function)
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(type(target).__call__)


def _doc_of(function: Callable[..., Any]) -> str | None:
    target = _unpartial(function)
    if inspect.isroutine(target) or inspect.isclass(target):
        return inspect.getdoc(target)
    # Not inspect.getdoc: for a __call__ without a docstring it finds the text of
    # type.__call__, "Call self as a function.", which would describe nothing.
    text = type(target).__call__.__doc__ or type(target).__doc__
    return inspect.cleandoc(text) if text else None


def _namespace_of(function: Callable[..., Any]) -> dict[str, Any]:
    """The globals in which the callable's string annotations are to be evaluated."""
    target = inspect.unwrap(_unpartial(function))
    namespace = getattr(target, "__globals__", None)
    if isinstance(namespace, dict):
        return namespace
    module = sys.modules.get(getattr(target, "__module__", None) or "")
    return vars(module) if module else {}


def _parse_doc(text: str | None) -> tuple[str | None, dict[str, str]]:
    """A docstring's description, and its parameters' (or attributes') descriptions."""
    if not text:
        return None, {}
    text = inspect.cleandoc(text)
    try:
        doc = docstring_parser.parse(text)
    except Exception:  # not only ParseError: odd text can make it fail with an IndexError
        return text, {}
    parts = [part for part in (doc.short_description, doc.long_description) if part]
    described = {param.arg_name: param.description for param in doc.params if param.description}
    return "\n\n".join(parts) or None, described


def _probe() -> None:
    """Holds one annotation at a time for :func:`_resolve`."""


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    # A stand-in function holding this one annotation lets get_type_hints resolve it (and the
    # forward references nested in it) exactly as it would the real function's, without also
    # resolving the return annotation, which a tool does not need and which may name a type
    # imported only for type checkers.
    probe = types.FunctionType(_probe.__code__, namespace)
    probe.__annotations__ = {"hint": annotation}
    return typing.get_type_hints(probe, include_extras=True)["hint"]


@attrs.frozen
class _Member:
    """A parameter, or a field of a class taken as an argument, before it is described."""

    name: str
    hint: Any
    default: Any  # _REQUIRED if none; _INVALID if one the schema cannot show
    description: str | None


def _parameter_member(
    function: str,
    parameter: inspect.Parameter,
    namespace: dict[str, Any],
    docs: Mapping[str, str],
) -> _Member:
    name = parameter.name
    if parameter.kind is parameter.VAR_POSITIONAL:
        raise _unusable(
            function,
            f"parameter '*{name}' takes any number of positional arguments, but the model "
            "passes arguments by name",
            f"replace it with a named list parameter ({name}: list[...])",
        )
    if parameter.kind is parameter.VAR_KEYWORD:
        raise _unusable(
            function,
            f"parameter '**{name}' takes arbitrary keyword arguments, which have no schema",
            "replace it with named parameters, or with one dict parameter",
        )
    if parameter.kind is parameter.POSITIONAL_ONLY:
        raise _unusable(
            function,
            f"parameter {name!r} is positional-only, but the model passes arguments by name",
            "remove the '/' from the signature",
        )
    if parameter.annotation is parameter.empty:
        raise _unusable(
            function,
            f"parameter {name!r} has no type annotation",
            f"annotate it ({name}: str, say) so that the model knows what to pass",
        )
    try:
        hint = _resolve(parameter.annotation, namespace)
    except Exception as exc:  # evaluating an annotation runs arbitrary code
        raise _unusable(
            function,
            f"the annotation of parameter {name!r} cannot be resolved ({exc})",
            "define or import the names it uses at module level, not only under TYPE_CHECKING",
        ) from None
    default = _REQUIRED if parameter.default is parameter.empty else parameter.default
    return _Member(name, hint, default, docs.get(name))


def _unusable(
    function: str, problem: str, remedy: str, use: str = "as a tool"
) -> ToolDefinitionError:
    return ToolDefinitionError(f"cannot use {function!r} {use}: {problem}; {remedy}")


# -- shapes: the schema of a type, and the converter of its JSON values ---------------------


@attrs.frozen
class _Shape:
    """How one type looks in JSON Schema, and how a JSON value becomes one of its values."""

    schema: dict[str, Any]
    expected: str  # what a value must be, in messages: "an integer"
    kinds: frozenset[str]  # the JSON types it takes, to choose among a union's alternatives
    convert: _Convert
    hashable: bool = True  # whether its values may be set members

    def described(self, description: str) -> _Shape:
        return attrs.evolve(self, schema={**self.schema, "description": description})


@attrs.frozen
class _Field:
    """A property of an object with known properties: a parameter, or a class's field."""

    shape: _Shape
    required: bool


def _leaf(
    schema: dict[str, Any],
    expected: str,
    kinds: frozenset[str],
    coerce: Callable[[Any], Any],
    *,
    hashable: bool = True,
) -> _Shape:
    """A shape whose values convert in one step; *coerce* returns _INVALID to refuse one."""

    def convert(value: Any, path: _Path, problems: list[str]) -> Any:
        result = coerce(value)
        if result is _INVALID:
            problems.append(_mismatch(path, expected, value))
        return result

    return _Shape(schema, expected, kinds, convert, hashable)


def _as_str(value: Any) -> Any:
    return value if isinstance(value, str) else _INVALID


def _as_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, float) and value.is_integer() else _INVALID


def _as_float(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return _INVALID


def _as_bool(value: Any) -> Any:
    return value if isinstance(value, bool) else _INVALID


def _as_none(value: Any) -> Any:
    return None if value is None else _INVALID


def _as_is(value: Any) -> Any:
    return value


_NULL = _leaf({"type": "null"}, "null", frozenset({"null"}), _as_none)
_LEAVES: dict[Any, _Shape] = {
    str: _leaf({"type": "string"}, "a string", frozenset({"string"}), _as_str),
    int: _leaf({"type": "integer"}, "an integer", frozenset({"integer", "number"}), _as_int),
    float: _leaf({"type": "number"}, "a number", frozenset({"integer", "number"}), _as_float),
    bool: _leaf({"type": "boolean"}, "a boolean", frozenset({"boolean"}), _as_bool),
    None: _NULL,
    type(None): _NULL,
}
_ANY = _leaf({}, "any JSON value", _ALL_KINDS, _as_is, hashable=False)

# The array types, each with what builds its value from the converted items.
_ARRAYS: dict[Any, Callable[[list[Any]], Any]] = {
    list: list,
    Sequence: list,
    MutableSequence: list,
    set: set,
    MutableSet: set,
    frozenset: frozenset,
    AbstractSet: frozenset,
}
_MAPPINGS = frozenset({dict, Mapping, MutableMapping})


class _Describer:
    """Describes the types of one function's parameters, collecting classes in ``defs``.

    A TypedDict or attrs class is described once, in ``defs``, and referred to by ``$ref``
    wherever it is used, so that a class that contains itself gives a finite schema.
    """

    def __init__(self, function: str, use: str = "as a tool") -> None:
        self.function = function
        self.use = use  # for messages: what the described thing was meant for
        self.defs: dict[str, dict[str, Any]] = {}
        self._references: dict[type[Any], _Shape] = {}
        # A class's converter is stored once its fields are described, and looked up at
        # conversion time, so that a class may contain itself.
        self._converters: dict[type[Any], _Convert] = {}
        self._parameter = ""  # for messages: the parameter being described
        self._where = ""  # for messages: the parameter or class field being described

    def error(self, problem: str, remedy: str) -> ToolDefinitionError:
        return _unusable(self.function, f"{self._where} {problem}", remedy, self.use)

    def parameters(self, members: Sequence[_Member]) -> tuple[dict[str, Any], dict[str, _Field]]:
        """The JSON Schema properties of the function's parameters, and their fields."""
        properties: dict[str, Any] = {}
        fields: dict[str, _Field] = {}
        for member in members:
            self._parameter = self._where = f"parameter {member.name!r}"
            properties[member.name], fields[member.name] = self._member(member)
        return properties, fields

    def _fields(
        self, cls: type[Any], members: Sequence[_Member]
    ) -> tuple[dict[str, Any], dict[str, _Field]]:
        properties: dict[str, Any] = {}
        fields: dict[str, _Field] = {}
        outer = self._where
        for member in members:
            self._where = f"field {cls.__qualname__}.{member.name} (in {self._parameter})"
            properties[member.name], fields[member.name] = self._member(member)
        self._where = outer
        return properties, fields

    def _member(self, member: _Member) -> tuple[dict[str, Any], _Field]:
        shape = self.shape(member.hint)
        schema = dict(shape.schema)
        if member.description and "description" not in schema:
            schema["description"] = member.description
        default = _to_json(member.default)
        if default is not _INVALID:
            schema["default"] = default
        return schema, _Field(shape, member.default is _REQUIRED)

    def shape(self, hint: Any) -> _Shape:
        hint, description = _unwrap(hint)
        shape = self._bare_shape(hint)
        return shape.described(description) if description else shape

    def _bare_shape(self, hint: Any) -> _Shape:
        if hint is Any:
            return _ANY
        if isinstance(hint, Hashable) and hint in _LEAVES:
            return _LEAVES[hint]
        origin, args = get_origin(hint), get_args(hint)
        if origin is Literal:
            return self._literal(hint, args)
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        # Only without an origin: on Python 3.10, list[int] passes for a type.
        if origin is None and isinstance(hint, type):
            if issubclass(hint, enum.Enum):
                return self._enum(hint)
            if _is_typeddict(hint) or attrs.has(hint):
                return self._reference(hint)
        container = origin or hint
        if container in _ARRAYS:
            return self._array(hint, container, args)
        if container is tuple:
            return self._tuple(hint, args)
        if container in _MAPPINGS:
            return self._mapping(hint, args)
        raise self.error(f"has type {_type_name(hint)}, which a tool cannot take", _SUPPORTED)

    def _literal(self, hint: Any, values: tuple[Any, ...]) -> _Shape:
        for value in values:
            if value is not None and type(value) not in (str, int, bool):
                raise self.error(
                    f"has type {_type_name(hint)}, whose value {value!r} is not a str, int, "
                    "bool or None",
                    "use values of those types, or an Enum",
                )
        return _choice([(value, value) for value in values])

    def _enum(self, cls: type[enum.Enum]) -> _Shape:
        for member in cls:
            if _kind(member.value) not in ("string", "integer"):
                raise self.error(
                    f"has type {_type_name(cls)}, whose member {member.name} has the value "
                    f"{member.value!r}",
                    "give the Enum's members str or int values",
                )
        return _choice([(member, member.value) for member in cls])

    def _union(self, args: tuple[Any, ...]) -> _Shape:
        alternatives = [self.shape(arg) for arg in args]
        expected = " or ".join(shape.expected for shape in alternatives)

        def convert(value: Any, path: _Path, problems: list[str]) -> Any:
            kind = _kind(value)
            candidates = [shape for shape in alternatives if kind in shape.kinds]
            if len(candidates) == 1:
                return candidates[0].convert(value, path, problems)
            for candidate in candidates:
                attempt: list[str] = []
                result = candidate.convert(value, path, attempt)
                if not attempt:
                    return result
            problems.append(_mismatch(path, expected, value))
            return _INVALID

        return _Shape(
            {"anyOf": [shape.schema for shape in alternatives]},
            expected,
            frozenset().union(*(shape.kinds for shape in alternatives)),
            convert,
            all(shape.hashable for shape in alternatives),
        )

    def _array(self, hint: Any, container: Any, args: tuple[Any, ...]) -> _Shape:
        build = _ARRAYS[container]
        item = self.shape(args[0]) if args else _ANY
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = item.schema
        if build is not list:
            if not item.hashable:
                raise self.error(
                    f"has type {_type_name(hint)}, whose items cannot be set members",
                    "use a list, or a set of str, int, float, bool, Literal or Enum values",
                )
            schema["uniqueItems"] = True
        return _array_shape(schema, "an array", build, build is frozenset, each=item)

    def _tuple(self, hint: Any, args: tuple[Any, ...]) -> _Shape:
        if hint is tuple or hint is typing.Tuple:  # noqa: UP006 - bare, it has no args either
            return _array_shape({"type": "array"}, "an array", tuple, False, each=_ANY)
        if len(args) == 2 and args[1] is Ellipsis:
            item = self.shape(args[0])
            variadic = {"type": "array", "items": item.schema}
            return _array_shape(variadic, "an array", tuple, item.hashable, each=item)
        if args == ((),):  # tuple[()] on Python 3.10
            args = ()
        items = [self.shape(arg) for arg in args]
        schema: dict[str, Any] = {"type": "array", "minItems": len(items), "maxItems": len(items)}
        if items:  # JSON Schema forbids an empty prefixItems
            schema["prefixItems"] = [item.schema for item in items]
        expected = f"an array of {len(items)} item{'' if len(items) == 1 else 's'}"
        hashable = all(item.hashable for item in items)
        return _array_shape(schema, expected, tuple, hashable, fixed=items)

    def _mapping(self, hint: Any, args: tuple[Any, ...]) -> _Shape:
        if not args:
            return _mapping_shape({"type": "object"}, _ANY)
        if _unwrap(args[0])[0] is not str:
            raise self.error(
                f"has type {_type_name(hint)}, but the keys of a JSON object are strings",
                "use dict[str, ...]",
            )
        value = self.shape(args[1])
        return _mapping_shape({"type": "object", "additionalProperties": value.schema}, value)

    def _reference(self, cls: type[Any]) -> _Shape:
        known = self._references.get(cls)
        if known is not None:
            return known
        name = cls.__name__
        while name in self.defs:  # another class of the same name, from another module
            name += "_"
        self.defs[name] = {}  # reserved at once: its fields may lead back to the class
        converters = self._converters

        def convert(value: Any, path: _Path, problems: list[str]) -> Any:
            return converters[cls](value, path, problems)

        expected = f"{'an' if name[0] in 'AEIOU' else 'a'} {name} object"
        hashable = attrs.has(cls) and cls.__hash__ is not None
        reference = _Shape(
            {"$ref": f"#/$defs/{name}"}, expected, frozenset({"object"}), convert, hashable
        )
        self._references[cls] = reference
        description, docs = _parse_doc(cls.__dict__.get("__doc__"))
        members, build = self._class_members(cls, docs)
        properties, fields = self._fields(cls, members)
        self.defs[name] = _object_schema(properties, fields, description)
        converters[cls] = _record_convert(fields, build, expected)
        return reference

    def _class_members(
        self, cls: type[Any], docs: Mapping[str, str]
    ) -> tuple[list[_Member], Callable[[dict[str, Any]], Any]]:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as exc:  # evaluating an annotation runs arbitrary code
            raise self.error(
                f"has type {_type_name(cls)}, whose field annotations cannot be resolved ({exc})",
                "define or import the names they use at module level, not only under TYPE_CHECKING",
            ) from None
        if _is_typeddict(cls):
            members = [
                _Member(
                    key,
                    hint,
                    _REQUIRED if _is_required(cls, key, hint) else _INVALID,
                    docs.get(key),
                )
                for key, hint in hints.items()
            ]
            return members, dict
        members = [
            self._attrs_member(cls, field, hints, docs) for field in attrs.fields(cls) if field.init
        ]
        return members, functools.partial(_construct, cls)

    def _attrs_member(
        self,
        cls: type[Any],
        field: attrs.Attribute[Any],
        hints: Mapping[str, Any],
        docs: Mapping[str, str],
    ) -> _Member:
        if field.name not in hints:
            raise self.error(
                f"has type {_type_name(cls)}, whose field {field.name!r} has no type annotation",
                "annotate the field",
            )
        default = field.default
        if default is attrs.NOTHING:
            default = _REQUIRED
        elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = _INVALID
        name = field.alias or field.name
        description = docs.get(field.name) or docs.get(name)
        return _Member(name, hints[field.name], default, description)


def _unwrap(hint: Any) -> tuple[Any, str | None]:
    """*hint* without Annotated and TypedDict qualifiers, and its Annotated description."""
    description: str | None = None
    while True:
        origin = get_origin(hint)
        if origin is Annotated:
            if description is None:
                description = next((m for m in hint.__metadata__ if isinstance(m, str)), None)
        elif not _qualifier(hint):
            return hint, description
        hint = get_args(hint)[0]


def _is_typeddict(cls: type[Any]) -> bool:
    # Duck-typed, so that typing_extensions' TypedDict counts as well as typing's.
    return issubclass(cls, dict) and hasattr(cls, "__required_keys__")


def _qualifier(hint: Any) -> str | None:
    """The TypedDict qualifier (Required, NotRequired, ReadOnly) that wraps *hint*, if any."""
    # Known by name, so that typing_extensions' qualifiers, which Python 3.10 needs, count
    # as well as typing's.
    name = getattr(get_origin(hint), "_name", None)
    return name if name in _QUALIFIERS else None


def _is_required(cls: type[Any], key: str, hint: Any) -> bool:
    # Some Pythons build __required_keys__ before string annotations are resolved, and so
    # miss Required and NotRequired under `from __future__ import annotations`; the
    # resolved hint still has them.
    while get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    qualifier = _qualifier(hint)
    if qualifier in ("Required", "NotRequired"):
        return qualifier == "Required"
    return key in cls.__required_keys__


def _construct(cls: type[Any], kwargs: dict[str, Any]) -> Any:
    return cls(**kwargs)


def _choice(members: Sequence[tuple[Any, Any]]) -> _Shape:
    """The shape of a Literal or an Enum, given each member with its JSON value."""
    # Keyed by type as well: True == 1, but Literal[1] must not take true.
    by_json = {(type(value), value): member for member, value in members}
    values = [value for _, value in members]
    kinds = frozenset(_kind(value) for value in values)
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1:
        schema = {"type": next(iter(kinds)), **schema}
    if "integer" in kinds:
        kinds |= {"number"}
    shown = ", ".join(_render_value(value) for value in values)
    expected = f"one of {shown}" if len(values) > 1 else shown

    def coerce(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # as for int, and as JSON Schema's enum compares numbers
        if not isinstance(value, Hashable):
            return _INVALID
        return by_json.get((type(value), value), _INVALID)

    return _leaf(schema, expected, kinds, coerce)


def _array_shape(
    schema: dict[str, Any],
    expected: str,
    build: Callable[[list[Any]], Any],
    hashable: bool,
    *,
    fixed: Sequence[_Shape] = (),
    each: _Shape | None = None,
) -> _Shape:
    """An array of the *fixed* items, or of any number of *each*."""

    def convert(value: Any, path: _Path, problems: list[str]) -> Any:
        if not isinstance(value, (list, tuple)) or (each is None and len(value) != len(fixed)):
            problems.append(_mismatch(path, expected, value))
            return _INVALID
        before = len(problems)
        converted = [
            (each or fixed[index]).convert(item, (*path, index), problems)
            for index, item in enumerate(value)
        ]
        return build(converted) if len(problems) == before else _INVALID

    return _Shape(schema, expected, frozenset({"array"}), convert, hashable)


def _mapping_shape(schema: dict[str, Any], value_shape: _Shape) -> _Shape:
    def convert(value: Any, path: _Path, problems: list[str]) -> Any:
        if not isinstance(value, Mapping):
            problems.append(_mismatch(path, "an object", value))
            return _INVALID
        before = len(problems)
        converted = {
            key: value_shape.convert(item, (*path, key), problems) for key, item in value.items()
        }
        return converted if len(problems) == before else _INVALID

    return _Shape(schema, "an object", frozenset({"object"}), convert, hashable=False)


def _record_convert(
    fields: Mapping[str, _Field], build: Callable[[dict[str, Any]], Any], expected: str
) -> _Convert:
    """The converter of an object with known properties: the arguments, or a class."""

    def convert(value: Any, path: _Path, problems: list[str]) -> Any:
        if not isinstance(value, Mapping):
            problems.append(_mismatch(path, expected, value))
            return _INVALID
        before = len(problems)
        converted: dict[str, Any] = {}
        for name, field in fields.items():
            if name in value:
                converted[name] = field.shape.convert(value[name], (*path, name), problems)
            elif field.required:
                problems.append(f"missing required argument '{_render_path((*path, name))}'")
        problems.extend(_unexpected(path, key, fields) for key in value if key not in fields)
        if len(problems) > before:
            return _INVALID
        try:
            return build(converted)
        except (TypeError, ValueError) as exc:  # an attrs validator's verdict
            problems.append(f"argument '{_render_path(path)}': {exc}")
            return _INVALID

    return convert


def _object_schema(
    properties: dict[str, Any], fields: Mapping[str, _Field], description: str | None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = properties
    required = [name for name, field in fields.items() if field.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _to_json(value: Any) -> Any:
    """The JSON form of a default value, or _INVALID if it has none."""
    if isinstance(value, enum.Enum):
        return _to_json(value.value)
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):  # the integers orjson can write
        return value if -(2**63) <= value < 2**64 else _INVALID
    if isinstance(value, float):
        return value if math.isfinite(value) else _INVALID
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_to_json(item) for item in value]
        if isinstance(value, (set, frozenset)):
            items.sort(key=repr)  # a set's order varies between runs; the schema's must not
        return _INVALID if any(item is _INVALID for item in items) else items
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        entries = {key: _to_json(item) for key, item in value.items()}
        return _INVALID if any(item is _INVALID for item in entries.values()) else entries
    return _INVALID


# -- messages ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """The JSON type of a value, as JSON Schema names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object" if isinstance(value, Mapping) else "unknown"


def _mismatch(path: _Path, expected: str, value: Any) -> str:
    return f"argument '{_render_path(path)}': expected {expected}, got {_render_value(value)}"


def _unexpected(path: _Path, key: str, fields: Mapping[str, _Field]) -> str:
    names = ", ".join(fields)
    if path:
        owner = f"'{_render_path(path)}'"
        known = f"the fields of {owner} are: {names}" if names else f"{owner} takes no fields"
    else:
        known = f"the parameters are: {names}" if names else "the function takes no arguments"
    return f"unexpected argument '{_render_path((*path, key))}'; {known}"


def _render_path(path: _Path) -> str:
    """A path as Python would index it: ``trip.legs[1].city``; odd keys as ``["a b"]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{_render_value(part)}]"
    return text


def _render_value(value: Any) -> str:
    """A value as the model wrote it, in JSON, cut short if long."""
    try:
        text = _json.dumps(value).decode()
    except TypeError:  # from a mapping given to bind, not from JSON
        text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _type_name(hint: Any) -> str:
    if isinstance(hint, type) and not get_args(hint):
        module = hint.__module__
        return hint.__qualname__ if module == "builtins" else f"{module}.{hint.__qualname__}"
    return repr(hint).replace("typing.", "")
