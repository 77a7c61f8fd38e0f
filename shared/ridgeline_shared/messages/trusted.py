"""Messages built from values a service has already typed and bounded, without re-validating.

Validating a message costs microseconds (patterns, bounds, the UTC validator) and pydantic's
``model_construct`` more still (it walks every field's aliases and defaults in Python); a
1,000-symbol tick builds tens of thousands of these objects. What is built here is the object
``model_construct`` makes (``__dict__`` in schema order, the given fields as the set ones) for
values that already have their fields' exact types and ranges. Consumers validate on decode
anyway; each service's tests check that its objects equal, and serialise exactly as, validated
ones, and :func:`can_construct` that a model has nothing this would skip.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__
# Per model: its field names in order, and the plain defaults (reading model_fields is slow).
_SHAPES: dict[type[BaseModel], tuple[tuple[str, ...], dict[str, Any]]] = {}


def can_construct(cls: type[BaseModel]) -> bool:
    """True if :func:`construct` makes what ``model_construct`` would for ``cls``: no post-init,
    private attributes, extras or root model."""
    return (
        cls.__pydantic_post_init__ is None
        and not cls.__private_attributes__
        and cls.model_config.get("extra") != "allow"
        and not cls.__pydantic_root_model__
    )


def construct(cls: type[M], values: dict[str, Any], fields_set: Set[str]) -> M:
    """``cls.model_construct(**values)`` for a model given every field in schema order."""
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(fields_set))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def trusted(model: type[M], **values: Any) -> M:
    """``model(**values)`` without validation; fields not given must have a plain default. The
    fields set is what a validated instance's would be."""
    shape = _SHAPES.get(model)
    if shape is None:
        spec = model.model_fields
        defaults = {
            n: f.default for n, f in spec.items() if not f.is_required() and f.default_factory is None
        }
        shape = _SHAPES[model] = (tuple(spec), defaults)
    names, defaults = shape
    fields = {name: values[name] if name in values else defaults[name] for name in names}
    return construct(model, fields, values.keys())


def utc(value: datetime) -> datetime:
    """What the messages' UTC validator makes of an event time."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return value.astimezone(UTC)
