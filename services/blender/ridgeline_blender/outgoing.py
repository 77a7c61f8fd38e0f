"""Signal messages built from the blender's own figures without re-validating them.

A Signal is 25 models (the signal, six horizons, eighteen family weights): validating one costs
some 20 us, pydantic's ``model_construct`` more; :func:`ridgeline_shared.messages.trusted.construct`
makes the object ``model_construct`` would (``__dict__`` in schema order, the given fields as the
set ones) in a fraction of that. That is only right for values already of their fields' exact
types and within their bounds, which :func:`signal` checks cheaply before taking that way:

* strings come from validated inputs (symbol, interval, trace id, families) or from validated
  configuration (horizon names, checked against the message's pattern once: :func:`can_trust`);
* every float is a Python float (``tolist`` of the blend's arrays, arithmetic on floats) and the
  caller passes the sum of them, whose finiteness rules out NaN and infinities anywhere;
* the weights and confidences are clipped to [0, 1]; sigma, spread and costs are >= 0 by
  construction (non-negative configuration and statistics), checked per signal anyway.

Anything else (a NaN, a negative spread, more than 32 families) goes through validation, which
refuses it exactly as before. Consumers validate on decode anyway; the unit tests check that what
is built here equals, and serialises exactly as, the validated message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ridgeline_shared.messages import FamilyWeight, HorizonSignal, Signal
from ridgeline_shared.messages.prediction import Horizon
from ridgeline_shared.messages.trusted import can_construct, construct

SCHEMA_VERSION: int = Signal.model_fields["schema_version"].default
WEIGHT_SET = frozenset(FamilyWeight.model_fields)
HORIZON_SET = frozenset(HorizonSignal.model_fields)
# What validating the core's values marks as set: all but the defaults it never passes.
SIGNAL_SET = frozenset(Signal.model_fields) - {"schema_version", "type"}
MAX_HORIZONS = 16
MAX_FAMILIES = 32


def can_trust(horizons: Sequence[str]) -> bool:
    """Whether Signals of these configured horizons can be built directly at all."""
    adapter: TypeAdapter[str] = TypeAdapter(Horizon)
    try:
        for name in horizons:
            adapter.validate_python(name)
    except ValidationError:
        return False
    return len(horizons) <= MAX_HORIZONS and all(
        can_construct(m) for m in (Signal, HorizonSignal, FamilyWeight)
    )


def finite(values: list[float]) -> bool:
    """No NaN or infinity among ``values`` (a large finite sum overflowing says no: safe side)."""
    return math.isfinite(sum(values))


def signal(values: dict[str, Any], checked: float, trusted: bool) -> Signal:
    """The Signal of ``values``: the fields in schema order from ``event_time`` on (``type``
    included), ``horizons`` as dicts in schema order with ``weights`` as dicts too.

    ``checked`` is the sum of every float figured for this signal (see the module docstring);
    ``trusted`` that the rest holds: the horizon names (:func:`can_trust`), the tick's weights
    and confidences finite (:func:`finite`), at most 32 families, and this signal's one-bar sigma,
    spread and costs >= 0."""
    if trusted and math.isfinite(checked):
        horizons = values["horizons"]
        for h in horizons:
            h["weights"] = [construct(FamilyWeight, w, WEIGHT_SET) for w in h["weights"]]
        values["horizons"] = [construct(HorizonSignal, h, HORIZON_SET) for h in horizons]
        return construct(Signal, {"schema_version": SCHEMA_VERSION, **values}, SIGNAL_SET)
    # What Signal(...) was given before: validation accepts or refuses it as it always did.
    return Signal.model_validate({k: v for k, v in values.items() if k != "type"})
