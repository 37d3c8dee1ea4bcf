"""Python callables as function tools: their schema, and the binding of the model's arguments."""

from __future__ import annotations

import enum
import functools
import inspect
import pickle
import sys
from collections.abc import Callable, Mapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import attrs
import docstring_parser
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mistral_conversations._functions import (
    FunctionSpec,
    ToolArgumentsError,
    ToolDefinitionError,
    describe_function,
)
from mistral_conversations.errors import ConfigurationError
from mistral_conversations.models import Function, FunctionTool

if sys.version_info >= (3, 11):
    from typing import NotRequired, Required
else:
    from typing_extensions import NotRequired, Required

# -- what the tools take ---------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mixed(enum.Enum):
    ONE = "one"
    TWO = 2


class Shape(enum.Enum):
    POINT = (1, 2)


@attrs.define
class Leg:
    """A leg of a trip.

    Attributes:
        city: Where to.
        nights: How many nights.
    """

    city: str
    nights: int = 1


@attrs.define
class Trip:
    legs: list[Leg]
    name: str | None = None


@attrs.frozen
class Tree:
    value: int
    children: tuple[Tree, ...] = ()


@attrs.define
class Stay:
    days: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.define
class Secret:
    _code: str
    tags: list[str] = attrs.Factory(list)


class Point(TypedDict):
    """A point on the map."""

    x: float
    y: float


class Forecast(TypedDict):
    city: str
    unit: NotRequired[Literal["C", "F"]]
    days: Annotated[NotRequired[int], "Days ahead."]


class Options(TypedDict, total=False):
    color: Color
    size: Required[Annotated[int, "In centimetres."]]


@attrs.define
class Stamped:
    when: datetime


@attrs.define
class Unresolved:
    thing: Nowhere  # type: ignore[name-defined]  # noqa: F821


@attrs.define
class Untyped:
    x = attrs.field()


def takes(*hints: Any, **defaults: Any) -> Callable[..., dict[str, Any]]:
    """A tool with keyword parameters p0, p1, ... of the *hints*, that returns its kwargs."""

    def tool(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    parameters = [
        inspect.Parameter(
            f"p{index}",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=hint,
            default=defaults.get(f"p{index}", inspect.Parameter.empty),
        )
        for index, hint in enumerate(hints)
    ]
    tool.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return tool


def parameters_of(function: Callable[..., Any]) -> dict[str, Any]:
    parameters = describe_function(function).tool.function.parameters
    Draft202012Validator.check_schema(parameters)
    orjson.dumps(parameters)
    return parameters


def schema_of(hint: Any, **defaults: Any) -> dict[str, Any]:
    """The schema of the one parameter of a tool taking *hint*."""
    return parameters_of(takes(hint, **defaults))["properties"]["p0"]


# -- the schema --------------------------------------------------------------------------------

ARRAY_OF_ANY = {"type": "array"}


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (type(None), {"type": "null"}),
        (Any, {}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),  # noqa: UP007
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
        (Literal[True], {"type": "boolean", "enum": [True]}),
        (Literal["a", 1, None], {"enum": ["a", 1, None]}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (Mixed, {"enum": ["one", 2]}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (MutableSequence[str], {"type": "array", "items": {"type": "string"}}),
        (list, ARRAY_OF_ANY),
        (set[int], {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
        (frozenset[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        (
            AbstractSet[Color],
            {
                "type": "array",
                "items": {"type": "string", "enum": ["red", "blue"]},
                "uniqueItems": True,
            },
        ),
        (
            tuple[int, str],
            {
                "type": "array",
                "minItems": 2,
                "maxItems": 2,
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
            },
        ),
        (tuple[float, ...], {"type": "array", "items": {"type": "number"}}),
        (tuple[()], {"type": "array", "minItems": 0, "maxItems": 0}),
        (tuple, ARRAY_OF_ANY),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (Mapping[str, Any], {"type": "object", "additionalProperties": {}}),
        (dict, {"type": "object"}),
        (Annotated[int, "How many."], {"type": "integer", "description": "How many."}),
        (
            Annotated[Required[Annotated[int, "Inner."]], "Outer."],
            {"type": "integer", "description": "Outer."},
        ),
        (
            list[Annotated[str, 42, "A name."]],
            {"type": "array", "items": {"type": "string", "description": "A name."}},
        ),
    ],
)
def test_schema_of_each_supported_type(hint: Any, schema: dict[str, Any]) -> None:
    assert schema_of(hint) == schema


def test_parameters_object() -> None:
    def plan(city: str, days: int = 2, unit: Color = Color.RED, note: str | None = None) -> str:
        return city

    assert parameters_of(plan) == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "default": 2},
            "unit": {"type": "string", "enum": ["red", "blue"], "default": "red"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_no_parameters_has_no_required() -> None:
    def now() -> str:
        return "noon"

    assert parameters_of(now) == {"type": "object", "properties": {}, "additionalProperties": False}


@pytest.mark.parametrize(
    ("default", "shown"),
    [
        ((1, 2), [1, 2]),
        (frozenset({"b", "a"}), ["a", "b"]),
        ({"a": [Level.LOW]}, {"a": [1]}),
        (1.5, 1.5),
        (2**70, None),
        (float("nan"), None),
        (object(), None),
        ([datetime(2025, 1, 1)], None),
        ({1: "a"}, None),
    ],
)
def test_defaults_shown_only_when_json(default: Any, shown: Any) -> None:
    schema = schema_of(Any, p0=default)
    assert schema == ({} if shown is None else {"default": shown})


def test_typeddict() -> None:
    def locate(point: Point, forecast: Forecast, options: Options) -> None:
        return None

    parameters = parameters_of(locate)
    assert parameters["properties"] == {
        "point": {"$ref": "#/$defs/Point"},
        "forecast": {"$ref": "#/$defs/Forecast"},
        "options": {"$ref": "#/$defs/Options"},
    }
    assert parameters["$defs"] == {
        "Point": {
            "type": "object",
            "description": "A point on the map.",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x", "y"],
            "additionalProperties": False,
        },
        "Forecast": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["C", "F"]},
                "days": {"type": "integer", "description": "Days ahead."},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
        "Options": {
            "type": "object",
            "properties": {
                "color": {"type": "string", "enum": ["red", "blue"]},
                "size": {"type": "integer", "description": "In centimetres."},
            },
            "required": ["size"],
            "additionalProperties": False,
        },
    }


def test_attrs_classes_nested_once_in_defs() -> None:
    def book(trip: Trip, first: Leg | None = None) -> None:
        """Book a trip.

        Args:
            trip: The whole trip.
        """

    parameters = parameters_of(book)
    assert parameters["properties"] == {
        "trip": {"$ref": "#/$defs/Trip", "description": "The whole trip."},
        "first": {"anyOf": [{"$ref": "#/$defs/Leg"}, {"type": "null"}], "default": None},
    }
    assert parameters["$defs"] == {
        "Trip": {
            "type": "object",
            "properties": {
                "legs": {"type": "array", "items": {"$ref": "#/$defs/Leg"}},
                "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            },
            "required": ["legs"],
            "additionalProperties": False,
        },
        "Leg": {
            "type": "object",
            "description": "A leg of a trip.",
            "properties": {
                "city": {"type": "string", "description": "Where to."},
                "nights": {"type": "integer", "description": "How many nights.", "default": 1},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }


def test_recursive_attrs_class_refers_to_itself() -> None:
    def grow(tree: Tree) -> int:
        return tree.value

    parameters = parameters_of(grow)
    assert parameters["$defs"] == {
        "Tree": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}, "default": []},
            },
            "required": ["value"],
            "additionalProperties": False,
        }
    }
    spec = describe_function(grow)
    args, kwargs = spec.bind('{"tree": {"value": 1, "children": [{"value": 2}]}}')
    assert grow(*args, **kwargs) == 1
    assert kwargs == {"tree": Tree(1, (Tree(2),))}


def test_classes_of_the_same_name_both_in_defs() -> None:
    class Other(TypedDict):
        stops: int

    Other.__name__ = "Leg"
    parameters = parameters_of(takes(Leg, Other))
    assert parameters["properties"] == {
        "p0": {"$ref": "#/$defs/Leg"},
        "p1": {"$ref": "#/$defs/Leg_"},
    }
    assert parameters["$defs"]["Leg_"]["properties"] == {"stops": {"type": "integer"}}


def test_attrs_private_field_by_its_alias_factory_default_not_shown() -> None:
    def unlock(secret: Secret) -> str:
        return secret._code

    assert parameters_of(unlock)["$defs"]["Secret"]["properties"] == {
        "code": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    }
    _, kwargs = describe_function(unlock).bind({"secret": {"code": "1234"}})
    assert kwargs == {"secret": Secret("1234")}


def test_annotated_description_wins_over_docstring() -> None:
    def count(n: Annotated[int, "From Annotated."]) -> int:
        """Count.

        Args:
            n: From the docstring.
        """
        return n

    assert parameters_of(count)["properties"]["n"] == {
        "type": "integer",
        "description": "From Annotated.",
    }


# -- docstrings ------------------------------------------------------------------------------


def google(city: str, days: int = 1) -> str:
    """Get the forecast.

    Looks it up at the weather service.

    Args:
        city: The city's name.
        days (int): How many days
            ahead.
        ghost: Not a parameter.

    Returns:
        The forecast.
    """
    return city


def numpy(city: str, days: int = 1) -> str:
    """Get the forecast.

    Looks it up at the weather service.

    Parameters
    ----------
    city : str
        The city's name.
    days : int, optional
        How many days
        ahead.
    ghost : str
        Not a parameter.
    """
    return city


def sphinx(city: str, days: int = 1) -> str:
    """Get the forecast.

    Looks it up at the weather service.

    :param city: The city's name.
    :param int days: How many days
        ahead.
    :param ghost: Not a parameter.
    :returns: The forecast.
    """
    return city


def epydoc(city: str, days: int = 1) -> str:
    """Get the forecast.

    Looks it up at the weather service.

    @param city: The city's name.
    @param days: How many days
        ahead.
    @param ghost: Not a parameter.
    """
    return city


@pytest.mark.parametrize("function", [google, numpy, sphinx, epydoc])
def test_docstring_styles(function: Callable[..., Any]) -> None:
    spec = describe_function(function)
    assert spec.tool.function.description == (
        "Get the forecast.\n\nLooks it up at the weather service."
    )
    assert spec.tool.function.parameters["properties"] == {
        "city": {"type": "string", "description": "The city's name."},
        "days": {"type": "integer", "description": "How many days\nahead.", "default": 1},
    }


def test_docstring_the_parser_fails_on_is_the_description(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(text: str) -> None:
        raise docstring_parser.ParseError(text)

    monkeypatch.setattr(docstring_parser, "parse", fail)
    function = describe_function(google).tool.function
    assert function.description == inspect.getdoc(google)
    assert function.parameters["properties"]["city"] == {"type": "string"}


def test_short_docstring_and_none() -> None:
    def hello(name: str) -> str:
        """Say hello."""
        return name

    def bare(name: str) -> str:
        return name

    assert describe_function(hello).tool.function.description == "Say hello."
    assert describe_function(bare).tool.function.description is None


# -- callables -------------------------------------------------------------------------------


class Forecaster:
    """Forecasts the weather."""

    def __init__(self, unit: str) -> None:
        self.unit = unit

    def forecast(self, city: str) -> str:
        """Forecast for a city.

        Args:
            city: The city.
        """
        return f"{city} in {self.unit}"

    async def __call__(self, city: str, days: int = 1) -> str:
        """Forecast, without waiting."""
        return f"{city} for {days}"


class Plain:
    """Tells the time."""

    def __call__(self, zone: str) -> str:
        return zone


async def later(city: str, days: int) -> str:
    return f"{city} {days}"


def test_function_spec_fields() -> None:
    spec = describe_function(google)
    assert isinstance(spec, FunctionSpec)
    assert spec.name == "google"
    assert spec.function is google
    assert spec.is_async is False
    assert spec.tool == FunctionTool(
        function=Function(
            name="google",
            description="Get the forecast.\n\nLooks it up at the weather service.",
            parameters=spec.tool.function.parameters,
        )
    )


def test_bound_method_has_no_self() -> None:
    forecaster = Forecaster("C")
    spec = describe_function(forecaster.forecast)
    assert spec.name == "forecast"
    assert spec.is_async is False
    assert spec.tool.function.description == "Forecast for a city."
    assert spec.tool.function.parameters["properties"] == {
        "city": {"type": "string", "description": "The city."}
    }
    args, kwargs = spec.bind('{"city": "Oslo"}')
    assert spec.function(*args, **kwargs) == "Oslo in C"


async def test_async_callable_object() -> None:
    spec = describe_function(Forecaster("C"))
    assert spec.name == "Forecaster"
    assert spec.is_async is True
    assert spec.tool.function.description == "Forecast, without waiting."
    assert spec.tool.function.parameters["required"] == ["city"]
    args, kwargs = spec.bind('{"city": "Oslo"}')
    assert await spec.function(*args, **kwargs) == "Oslo for 1"


def test_sync_callable_object_described_by_its_class() -> None:
    spec = describe_function(Plain())
    assert (spec.name, spec.is_async) == ("Plain", False)
    assert spec.tool.function.description == "Tells the time."


async def test_async_function_and_partials() -> None:
    assert describe_function(later).is_async is True
    partial = functools.partial(later, "Oslo")
    spec = describe_function(partial)
    assert (spec.name, spec.is_async) == ("later", True)
    assert list(spec.tool.function.parameters["properties"]) == ["days"]
    args, kwargs = spec.bind('{"days": 3}')
    assert await spec.function(*args, **kwargs) == "Oslo 3"
    assert describe_function(functools.partial(Forecaster("C"), days=2)).is_async is True


# -- what cannot be a tool -------------------------------------------------------------------

SUPPORTED = (
    "use str, int, float, bool, None, a Literal, an Enum, a list, tuple, set or dict of these, "
    "a TypedDict or an attrs class (a date or time as an ISO 8601 str, say)"
)


def definition_error(function: Any) -> str:
    with pytest.raises(ToolDefinitionError) as caught:
        describe_function(function)
    assert isinstance(caught.value, ConfigurationError)
    return str(caught.value)


def named(name: str) -> Callable[..., Any]:
    def tool() -> None:
        return None

    tool.__name__ = name
    return tool


def test_lambda_refused() -> None:
    assert definition_error(lambda city: city) == (
        "cannot use a lambda as a tool: the model calls tools by name; define the function "
        "with def, under a name matching ^[a-zA-Z0-9_-]{1,64}$"
    )


@pytest.mark.parametrize("name", ["get weather", "météo", "x" * 65, ""])
def test_names_the_api_refuses(name: str) -> None:
    assert definition_error(named(name)) == (
        f"cannot use {name!r} as a tool: the API requires a name of 1 to 64 ASCII letters, "
        "digits, '_' or '-'; define the function with def under such a name"
    )


def test_longest_name_and_dashes_accepted() -> None:
    assert describe_function(named("a-" * 32)).name == "a-" * 32


def test_not_callable() -> None:
    assert definition_error(42) == "cannot use 42 as a tool: it is not callable; pass a function"


def test_unreadable_signature() -> None:
    assert definition_error(max) == (
        "cannot use 'max' as a tool: its signature cannot be read (no signature found for "
        "builtin <built-in function max>); wrap it in a def with annotated parameters"
    )


def star_args(*cities: str) -> None: ...


def star_kwargs(city: str, **options: int) -> None: ...


def positional_only(city: str, /) -> None: ...


def unannotated(city) -> None:  # type: ignore[no-untyped-def]
    ...


def unresolved(trip: Voyage) -> None:  # type: ignore[name-defined]  # noqa: F821
    ...


def bad_return(city: str) -> Voyage:  # type: ignore[name-defined]  # noqa: F821
    ...


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (
            star_args,
            "parameter '*cities' takes any number of positional arguments, but the model "
            "passes arguments by name; replace it with a named list parameter "
            "(cities: list[...])",
        ),
        (
            star_kwargs,
            "parameter '**options' takes arbitrary keyword arguments, which have no schema; "
            "replace it with named parameters, or with one dict parameter",
        ),
        (
            positional_only,
            "parameter 'city' is positional-only, but the model passes arguments by name; "
            "remove the '/' from the signature",
        ),
        (
            unannotated,
            "parameter 'city' has no type annotation; annotate it (city: str, say) so that "
            "the model knows what to pass",
        ),
        (
            unresolved,
            "the annotation of parameter 'trip' cannot be resolved (name 'Voyage' is not "
            "defined); define or import the names it uses at module level, not only under "
            "TYPE_CHECKING",
        ),
    ],
)
def test_signatures_refused(function: Callable[..., Any], message: str) -> None:
    assert definition_error(function) == f"cannot use {function.__name__!r} as a tool: {message}"


def test_unresolvable_return_annotation_does_not_matter() -> None:
    assert describe_function(bad_return).tool.function.parameters["required"] == ["city"]


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (
            datetime,
            f"parameter 'p0' has type datetime.datetime, which a tool cannot take; {SUPPORTED}",
        ),
        (bytes, f"parameter 'p0' has type bytes, which a tool cannot take; {SUPPORTED}"),
        (
            Callable[[int], str],
            "parameter 'p0' has type collections.abc.Callable[[int], str], which a tool cannot "
            f"take; {SUPPORTED}",
        ),
        (
            list[datetime],
            f"parameter 'p0' has type datetime.datetime, which a tool cannot take; {SUPPORTED}",
        ),
        (
            Stamped,
            "field Stamped.when (in parameter 'p0') has type datetime.datetime, which a tool "
            f"cannot take; {SUPPORTED}",
        ),
        (
            dict[int, str],
            "parameter 'p0' has type dict[int, str], but the keys of a JSON object are "
            "strings; use dict[str, ...]",
        ),
        (
            set[list[int]],
            "parameter 'p0' has type set[list[int]], whose items cannot be set members; use a "
            "list, or a set of str, int, float, bool, Literal or Enum values",
        ),
        (
            frozenset[Leg],
            "parameter 'p0' has type frozenset[tests.test_functions.Leg], whose items cannot be "
            "set members; use a list, or a set of str, int, float, bool, Literal or Enum values",
        ),
        (
            set,
            "parameter 'p0' has type set, whose items cannot be set members; use a "
            "list, or a set of str, int, float, bool, Literal or Enum values",
        ),
        (
            Literal[1.5],
            "parameter 'p0' has type Literal[1.5], whose value 1.5 is not a str, int, bool or "
            "None; use values of those types, or an Enum",
        ),
        (
            Shape,
            "parameter 'p0' has type tests.test_functions.Shape, whose member POINT has the "
            "value (1, 2); give the Enum's members str or int values",
        ),
        (
            Untyped,
            "parameter 'p0' has type tests.test_functions.Untyped, whose field 'x' has no type "
            "annotation; annotate the field",
        ),
        (
            Unresolved,
            "parameter 'p0' has type tests.test_functions.Unresolved, whose field annotations "
            "cannot be resolved (name 'Nowhere' is not defined); define or import the names "
            "they use at module level, not only under TYPE_CHECKING",
        ),
    ],
)
def test_types_refused(hint: Any, message: str) -> None:
    assert definition_error(takes(hint)) == f"cannot use 'tool' as a tool: {message}"


def test_frozen_attrs_class_may_be_a_set_member() -> None:
    assert schema_of(frozenset[Tree]) == {
        "type": "array",
        "items": {"$ref": "#/$defs/Tree"},
        "uniqueItems": True,
    }


# -- binding ---------------------------------------------------------------------------------


def plan(city: str, days: int = 1, unit: Literal["C", "F"] = "C") -> str:
    """Plan."""
    return f"{city} {days} {unit}"


def problems(function: Callable[..., Any], arguments: str | Mapping[str, Any]) -> list[str]:
    with pytest.raises(ToolArgumentsError) as caught:
        describe_function(function).bind(arguments)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def bound(function: Callable[..., Any], arguments: str | Mapping[str, Any]) -> dict[str, Any]:
    args, kwargs = describe_function(function).bind(arguments)
    assert args == ()
    return kwargs


def test_bind_json_text_and_mapping() -> None:
    spec = describe_function(plan)
    assert spec.bind('{"city": "Oslo", "days": 3}') == ((), {"city": "Oslo", "days": 3})
    assert spec.bind({"city": "Oslo", "unit": "F"}) == ((), {"city": "Oslo", "unit": "F"})
    args, kwargs = spec.bind('{"city": "Oslo"}')
    assert plan(*args, **kwargs) == "Oslo 1 C"  # the defaults fill what is missing


@pytest.mark.parametrize("blank", ["", "  \n", "{}"])
def test_blank_arguments_mean_none(blank: str) -> None:
    def now(zone: str = "UTC") -> str:
        return zone

    assert bound(now, blank) == {}


def test_problems_reported_together() -> None:
    assert problems(plan, '{"days": "two", "unit": "K", "town": "Oslo", "country": 1}') == [
        "missing required argument 'city'",
        "argument 'days': expected an integer, got \"two\"",
        'argument \'unit\': expected one of "C", "F", got "K"',
        "unexpected argument 'town'; the parameters are: city, days, unit",
        "unexpected argument 'country'; the parameters are: city, days, unit",
    ]


def test_unexpected_argument_for_no_parameters() -> None:
    def now() -> str:
        return "noon"

    assert problems(now, {"zone": "UTC"}) == [
        "unexpected argument 'zone'; the function takes no arguments"
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("[1, 2]", "arguments must be a JSON object, got [1,2]"),
        ('"Oslo"', 'arguments must be a JSON object, got "Oslo"'),
        ("null", "arguments must be a JSON object, got null"),
    ],
)
def test_arguments_not_an_object(arguments: str, message: str) -> None:
    assert problems(plan, arguments) == [message]


def test_invalid_json_message_is_orjsons() -> None:
    with pytest.raises(orjson.JSONDecodeError) as caught:
        orjson.loads('{"city": ')
    assert problems(plan, '{"city": ') == [f"arguments are not valid JSON: {caught.value}"]


@pytest.mark.parametrize(
    ("hint", "value", "converted"),
    [
        (str, "a", "a"),
        (int, 3, 3),
        (int, 2.0, 2),
        (int, -0.0, 0),
        (float, 2, 2.0),
        (float, 2.5, 2.5),
        (bool, False, False),
        (None, None, None),
        (Any, {"a": [1]}, {"a": [1]}),
        (int | None, None, None),
        (int | str, "3", "3"),
        (float | int, 2, 2.0),  # the first alternative that takes the value
        (int | float, 2.5, 2.5),
        (Literal["a", 1], 1, 1),
        (Color, "blue", Color.BLUE),
        (Level, 2, Level.HIGH),
        (Level, 2.0, Level.HIGH),
        (Literal[1, "a"], 1.0, 1),
        (Literal[2] | str, 2.0, 2),
        (list[int], [1, 2.0], [1, 2]),
        (Sequence[str], ["a"], ["a"]),
        (set[int], [1, 2, 1], {1, 2}),
        (frozenset[Color], ["red"], frozenset({Color.RED})),
        (tuple[int, str], [1, "a"], (1, "a")),
        (tuple[float, ...], [1, 2], (1.0, 2.0)),
        (tuple[()], [], ()),
        (tuple, [1, "a"], (1, "a")),
        (dict[str, Level], {"a": 1}, {"a": Level.LOW}),
        (dict, {"a": [None]}, {"a": [None]}),
        (list, [1, "a"], [1, "a"]),
        (Point, {"x": 1, "y": 2.5}, {"x": 1.0, "y": 2.5}),
        (Forecast, {"city": "Oslo"}, {"city": "Oslo"}),
        (Options, {"size": 1}, {"size": 1}),
        (Leg, {"city": "Oslo"}, Leg("Oslo")),
        (Trip, {"legs": [{"city": "Oslo", "nights": 2}]}, Trip([Leg("Oslo", 2)])),
        (Annotated[list[Annotated[int, "n"]], "ns"], [1], [1]),
    ],
)
def test_conversions(hint: Any, value: Any, converted: Any) -> None:
    result = bound(takes(hint), {"p0": value})["p0"]
    assert result == converted
    assert type(result) is type(converted)


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (str, 3, "argument 'p0': expected a string, got 3"),
        (str, None, "argument 'p0': expected a string, got null"),
        (str, b"x", "argument 'p0': expected a string, got b'x'"),  # a mapping's, not JSON
        (int, "two", "argument 'p0': expected an integer, got \"two\""),
        (int, 2.5, "argument 'p0': expected an integer, got 2.5"),
        (int, True, "argument 'p0': expected an integer, got true"),
        (float, "1.5", "argument 'p0': expected a number, got \"1.5\""),
        (float, False, "argument 'p0': expected a number, got false"),
        (bool, 1, "argument 'p0': expected a boolean, got 1"),
        (None, 0, "argument 'p0': expected null, got 0"),
        (int | str, True, "argument 'p0': expected an integer or a string, got true"),
        (
            Leg | Point,
            {"z": 1},
            "argument 'p0': expected a Leg object or a Point object, got {\"z\":1}",
        ),
        (Literal["a", "b"], "c", 'argument \'p0\': expected one of "a", "b", got "c"'),
        (Literal["a"], "c", 'argument \'p0\': expected "a", got "c"'),
        (Literal[1], True, "argument 'p0': expected 1, got true"),
        (Literal[1], [1], "argument 'p0': expected 1, got [1]"),
        (Color, "RED", 'argument \'p0\': expected one of "red", "blue", got "RED"'),
        (Level, 1.5, "argument 'p0': expected one of 1, 2, got 1.5"),
        (Level, "1", "argument 'p0': expected one of 1, 2, got \"1\""),
        (list[int], "1", "argument 'p0': expected an array, got \"1\""),
        (list[int], {"a": 1}, "argument 'p0': expected an array, got {\"a\":1}"),
        (tuple[int, str], [1], "argument 'p0': expected an array of 2 items, got [1]"),
        (tuple[int], [1, 2], "argument 'p0': expected an array of 1 item, got [1,2]"),
        (dict[str, int], [], "argument 'p0': expected an object, got []"),
        (Leg, "Oslo", "argument 'p0': expected a Leg object, got \"Oslo\""),
        (Options, 1, "argument 'p0': expected an Options object, got 1"),
        (str, ["x" * 100], f"argument 'p0': expected a string, got [\"{'x' * 55}..."),
    ],
)
def test_mismatches(hint: Any, value: Any, message: str) -> None:
    assert problems(takes(hint), {"p0": value}) == [message]


def test_nested_problems_name_their_path() -> None:
    def book(trip: Trip, stops: dict[str, list[int]] | None = None) -> None: ...

    arguments = {
        "trip": {"legs": [{"city": "Oslo"}, {"city": 3, "nights": "2", "town": "x"}, {}]},
        "stops": {"a": [1, "b"], "b c": [None]},
    }
    assert problems(book, arguments) == [
        "argument 'trip.legs[1].city': expected a string, got 3",
        "argument 'trip.legs[1].nights': expected an integer, got \"2\"",
        "unexpected argument 'trip.legs[1].town'; the fields of 'trip.legs[1]' are: city, nights",
        "missing required argument 'trip.legs[2].city'",
        "argument 'stops.a[1]': expected an integer, got \"b\"",
        "argument 'stops[\"b c\"][0]': expected an integer, got null",
    ]


def test_typeddict_problems() -> None:
    assert problems(takes(Forecast), {"p0": {"unit": "K", "x": 1}}) == [
        "missing required argument 'p0.city'",
        'argument \'p0.unit\': expected one of "C", "F", got "K"',
        "unexpected argument 'p0.x'; the fields of 'p0' are: city, unit, days",
    ]


def test_recursive_problem_deep_down() -> None:
    value = {"value": 1, "children": [{"value": 2, "children": [{"value": "3"}]}]}
    assert problems(takes(Tree), {"p0": value}) == [
        "argument 'p0.children[0].children[0].value': expected an integer, got \"3\""
    ]


def test_optional_class_reports_its_own_problems() -> None:
    assert problems(takes(Leg | None), {"p0": {"nights": 1}}) == [
        "missing required argument 'p0.city'"
    ]


def test_validator_verdict_reported() -> None:
    assert problems(takes(Stay), {"p0": {"days": 0}}) == ["argument 'p0': 'days' must be > 0: 0"]


def test_arguments_error_pickles() -> None:
    error = ToolArgumentsError("first", "second")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problems, str(copy)) == (("first", "second"), "first\nsecond")
    assert isinstance(copy, ValueError)


# -- round trip ------------------------------------------------------------------------------

Typed = tuple[Any, st.SearchStrategy[Any]]
"""A type, with a strategy for its values."""

LEAVES: list[Typed] = [
    (str, st.text(max_size=8)),
    (int, st.integers(-(2**63), 2**63 - 1)),
    (float, st.floats(allow_nan=False, allow_infinity=False)),
    (bool, st.booleans()),
    (Color, st.sampled_from(Color)),
    (Level, st.sampled_from(Level)),
    (Literal["a", "b"], st.sampled_from(["a", "b"])),
    (
        Any,
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=4),
            lambda inner: (
                st.lists(inner, max_size=2)
                | st.dictionaries(st.text(max_size=4), inner, max_size=2)
            ),
            max_leaves=4,
        ),
    ),
]


def _containers(inner: st.SearchStrategy[Typed]) -> st.SearchStrategy[Typed]:
    pairs = st.tuples(inner, inner)
    return st.one_of(
        inner.map(lambda t: (list[t[0]], st.lists(t[1], max_size=3))),
        inner.map(lambda t: (t[0] | None, st.none() | t[1])),
        inner.map(
            lambda t: (dict[str, t[0]], st.dictionaries(st.text(max_size=4), t[1], max_size=3))
        ),
        inner.map(lambda t: (tuple[t[0], ...], st.lists(t[1], max_size=3).map(tuple))),
        pairs.map(lambda p: (tuple[p[0][0], p[1][0]], st.tuples(p[0][1], p[1][1]))),
    )


SIMPLE = st.sampled_from([leaf for leaf in LEAVES if leaf[0] is not Any])
TYPED: st.SearchStrategy[Typed] = st.one_of(
    st.sampled_from(LEAVES),
    st.recursive(st.sampled_from(LEAVES), _containers, max_leaves=4),
    SIMPLE.map(lambda t: (frozenset[t[0]], st.frozensets(t[1], max_size=3))),
)


@st.composite
def tools_and_arguments(draw: st.DrawFn) -> tuple[Callable[..., Any], dict[str, Any]]:
    typed = draw(st.lists(TYPED, max_size=4))
    values = {f"p{index}": draw(strategy) for index, (_, strategy) in enumerate(typed)}
    return takes(*(hint for hint, _ in typed)), values


@settings(max_examples=300, deadline=None)
@given(tools_and_arguments())
def test_round_trip(case: tuple[Callable[..., Any], dict[str, Any]]) -> None:
    tool, values = case
    spec = describe_function(tool)
    text = orjson.dumps(values, default=json_default).decode()
    Draft202012Validator(spec.tool.function.parameters).validate(orjson.loads(text))
    args, kwargs = spec.bind(text)
    assert same(kwargs, values)
    assert tool(*args, **kwargs) == values


def same(left: Any, right: Any) -> bool:
    """Equal, and of the same types all the way down: 1 == 1.0, but an int is no float."""
    if type(left) is not type(right):
        return False
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


def json_default(value: Any) -> list[Any]:
    """Sets as JSON arrays, which orjson does not write by itself."""
    if isinstance(value, frozenset):
        return list(value)
    raise TypeError
