"""Every public name carries a docstring: the API reference is generated from them."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import mistral_conversations
import mistral_conversations.errors
import mistral_conversations.models
import mistral_conversations.testing

PUBLIC_MODULES = [
    mistral_conversations,
    mistral_conversations.errors,
    mistral_conversations.models,
    mistral_conversations.testing,
]


def _public_names() -> Iterator[tuple[str, Any]]:
    for module in PUBLIC_MODULES:
        names = getattr(module, "__all__", None) or [
            name for name in vars(module) if not name.startswith("_")
        ]
        for name in names:
            value = getattr(module, name)
            if isinstance(value, ModuleType) or name == "__version__":
                continue
            yield f"{module.__name__}.{name}", value
            if inspect.isclass(value):
                yield from _public_members(f"{module.__name__}.{name}", value)


def _public_members(path: str, cls: type) -> Iterator[tuple[str, Any]]:
    for name, member in vars(cls).items():
        if name.startswith("_") and name not in ("__init__",):
            continue
        if name == "__init__":
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            yield f"{path}.{name}", member


def _own_doc(value: Any) -> str | None:
    doc = value.__doc__ if not inspect.isclass(value) else vars(value).get("__doc__")
    if doc is None and not inspect.isclass(value) and not callable(value):
        return "a value"  # a constant documents itself in the module's docstring
    return doc if doc and doc.strip() else None


def test_every_module_is_documented() -> None:
    assert not [m.__name__ for m in PUBLIC_MODULES if not (m.__doc__ or "").strip()]


def test_every_public_name_has_a_docstring() -> None:
    undocumented = sorted({path for path, value in _public_names() if _own_doc(value) is None})
    assert undocumented == []


@pytest.mark.parametrize("name", sorted(mistral_conversations.__all__))
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(mistral_conversations, name) is not None


def test_the_check_finds_what_is_missing() -> None:
    class Bare:
        def method(self) -> None:
            pass

    assert _own_doc(Bare) is None
    assert [path for path, value in _public_members("Bare", Bare) if _own_doc(value) is None] == [
        "Bare.method"
    ]
