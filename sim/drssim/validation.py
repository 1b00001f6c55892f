"""Generic request validation against botocore's ``drs`` service model.

Botocore validates only required members, types and minimums on the client side; real DRS
also enforces maximums, enums and patterns server-side. Walking the model's input shape
here (instead of hand-writing checks per operation) keeps drssim faithful when botocore's
model changes and turns every bad input into a parseable 400 ValidationException.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape


@cache
def service_model() -> ServiceModel:
    """The botocore ``drs`` model (loaded once per process; read-only)."""
    return botocore.session.get_session().get_service_model("drs")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field, reported in ValidationException.fieldList."""

    name: str
    message: str


def operation(name: str) -> OperationModel | None:
    """The operation model, or None for an unknown operation."""
    model = service_model()
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def validate(shape: Shape | None, value: Any, path: str = "") -> list[FieldError]:
    """All violations of ``shape`` by ``value`` (empty list when valid)."""
    errors: list[FieldError] = []
    if shape is not None:
        _walk(shape, value, path, errors)
    return errors


def _limits(shape: Shape) -> tuple[Any, Any]:
    meta = shape.metadata
    return meta.get("min"), meta.get("max")


def _walk(shape: Shape, value: Any, path: str, errors: list[FieldError]) -> None:
    kind = shape.type_name
    lo, hi = _limits(shape)
    name = path or shape.name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            errors.append(FieldError(name, "must be an object"))
            return
        for req in shape.required_members:
            if value.get(req) is None:
                errors.append(FieldError(_join(path, req), "is required"))
        for key, sub in value.items():
            member = shape.members.get(key)
            if member is not None and sub is not None:
                _walk(member, sub, _join(path, key), errors)
    elif kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            errors.append(FieldError(name, "must be a list"))
            return
        _check_len(len(value), lo, hi, name, "items", errors)
        for i, item in enumerate(value):
            _walk(shape.member, item, f"{name}[{i}]", errors)
    elif kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            errors.append(FieldError(name, "must be a map"))
            return
        _check_len(len(value), lo, hi, name, "entries", errors)
        for k, v in value.items():
            _walk(shape.key, k, f"{name}.<key>", errors)
            _walk(shape.value, v, f"{name}.{k}", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(FieldError(name, "must be a string"))
            return
        _check_len(len(value), lo, hi, name, "characters", errors)
        enum = shape.enum
        if enum and value not in enum:
            errors.append(FieldError(name, f"must be one of {', '.join(enum)}"))
        pattern = shape.metadata.get("pattern")
        if pattern and not _regex(pattern).search(value):
            errors.append(FieldError(name, f"must match pattern {pattern}"))
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(FieldError(name, "must be an integer"))
            return
        if lo is not None and value < lo:
            errors.append(FieldError(name, f"must be >= {lo}"))
        if hi is not None and value > hi:
            errors.append(FieldError(name, f"must be <= {hi}"))
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(FieldError(name, "must be a boolean"))
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(FieldError(name, "must be a number"))
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            errors.append(FieldError(name, "must be a timestamp"))


def _check_len(n: int, lo: Any, hi: Any, name: str, unit: str, errors: list[FieldError]) -> None:
    if lo is not None and n < lo:
        errors.append(FieldError(name, f"must have at least {lo} {unit}"))
    if hi is not None and n > hi:
        errors.append(FieldError(name, f"must have at most {hi} {unit}"))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
