"""The base of every typed spec, and the numeric types they share.

Every spec is a pydantic model that forbids unknown keys and non-finite numbers (NaN and
±infinity pass JSON-schema bounds, since every comparison with NaN is false; one model
setting refuses them for every float field at once).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Spec(BaseModel):
    """A block of the configuration: unknown keys and NaN/inf refused, defaults filled in."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True,
                              use_enum_values=True)


PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


def field(default, description: str, **bounds):
    """``Field(default, description=…)``: a spec field's one definition (value, range, words)."""
    return Field(default, description=description, **bounds)


#: Which weights a training's model.pt holds — the one training protocol of every learned model.
Keep = Literal["best", "last"]


def keep_field():
    """The ``keep`` field of every training block (meta ``outer``, ``train``, ``denoiser``)."""
    return field("best", "model.pt holds the weights of the best tuning-curve step, or of the last step")


__all__ = ["Keep", "keep_field", "Spec", "PositiveInt", "NonNegativeInt", "PositiveFloat", "Fraction", "field"]
