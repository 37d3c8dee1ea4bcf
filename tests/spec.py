"""Validation of JSON values against the API's own OpenAPI schemas (a copy of the spec)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_PATH = Path(__file__).with_name("conversations.openapi.yaml")


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI document, parsed once."""
    with SPEC_PATH.open() as f:
        loaded: dict[str, Any] = yaml.safe_load(f)
    return loaded


@functools.cache
def _validator(schema_name: str) -> jsonschema.protocols.Validator:
    root = {"components": spec()["components"], "$ref": f"#/components/schemas/{schema_name}"}
    cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft202012Validator)
    validator: jsonschema.protocols.Validator = cls(root)
    return validator


def validate(instance: Any, schema_name: str) -> None:
    """Raise jsonschema.ValidationError unless ``instance`` is valid as ``schema_name``."""
    _validator(schema_name).validate(instance)


def validate_response(instance: Any, path: str, method: str, status: str = "200") -> None:
    """Validate an answer body against the spec's response schema of one operation."""
    content = spec()["paths"][path][method]["responses"][status]["content"]
    schema = next(iter(content.values()))["schema"]
    root = {"components": spec()["components"], **schema}
    jsonschema.Draft202012Validator(root).validate(instance)


def validate_request(instance: Any, path: str, method: str = "post") -> None:
    """Validate a request body against the spec's request schema of one operation."""
    schema = spec()["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    root = {"components": spec()["components"], **schema}
    jsonschema.Draft202012Validator(root).validate(instance)
