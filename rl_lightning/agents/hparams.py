"""Hyperparameter dataclasses: typed fields, range checks that name the parameter, building from a dict.

Each built-in agent declares its hyperparameters as a frozen dataclass deriving from :class:`Params`. The
dataclass checks itself when built: a value of the wrong type raises ``TypeError``, one out of range raises
``ValueError`` naming the parameter, the value given and the valid range, and :meth:`Params.from_dict`
refuses unknown keys with the list of valid ones. YAML gives lists where a field is a tuple; they are
accepted and stored as tuples so that a dataclass stays hashable and compares equal across a save/load.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from typing import Any, Literal, Mapping, Optional, Union

__all__ = ["Params", "check_range"]


def _interval(low: Optional[float], high: Optional[float], low_inclusive: bool, high_inclusive: bool) -> str:
    left = "[" if low is not None and low_inclusive else "("
    right = "]" if high is not None and high_inclusive else ")"
    return f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"


def check_range(name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None, *,
                low_inclusive: bool = True, high_inclusive: bool = True) -> None:
    """Raise ``ValueError`` naming ``name``, ``value`` and the valid interval unless ``low <= value <= high``.

    ``None`` for a bound means unbounded on that side; the ``*_inclusive`` flags make a bound open.
    NaN is always out of range.
    """
    below = low is not None and (value < low if low_inclusive else value <= low)
    above = high is not None and (value > high if high_inclusive else value >= high)
    if below or above or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"{name}={value!r} is out of range; valid range: "
                         f"{_interval(low, high, low_inclusive, high_inclusive)}.")


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin is Union:
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    return "None" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _coerce(hint: Any, value: Any) -> tuple[bool, Any]:
    """``(ok, value)``: whether ``value`` fits the type ``hint``, and the value to store (lists become tuples)."""
    origin = typing.get_origin(hint)
    if origin is Union:
        for option in typing.get_args(hint):
            ok, coerced = _coerce(option, value)
            if ok:
                return True, coerced
        return False, value
    if origin is Literal:
        return value in typing.get_args(hint), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        item = typing.get_args(hint)[0]
        items = [_coerce(item, v) for v in value]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool), value
    if hint is float:
        # Integers are fine where a float is expected (``gamma: 1``); bools are not.
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    return isinstance(value, hint), value


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of the agents' hyperparameter dataclasses; subclasses add fields and override :meth:`check`."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            ok, coerced = _coerce(hints[field.name], value)
            if not ok:
                raise TypeError(f"{type(self).__name__}.{field.name} must be {_type_name(hints[field.name])}, "
                                f"got {value!r} ({type(value).__name__}).")
            object.__setattr__(self, field.name, coerced)
        self.check()

    def check(self) -> None:
        """Range and cross-field checks; raise ``ValueError`` naming the parameter, value and valid range."""

    def _hidden_widths(self, name: str = "net_arch") -> None:
        """Field ``name`` must hold at least one hidden width, each at least 1."""
        widths = getattr(self, name)
        if not widths or min(widths) < 1:
            raise ValueError(f"{type(self).__name__}.{name}={widths!r} is out of range; valid range: at least one "
                             "hidden width, each in [1, inf).")

    def _range(self, name: str, low: Optional[float] = None, high: Optional[float] = None, **kwargs: bool) -> None:
        """:func:`check_range` on field ``name``, skipped when the field is ``None`` (an optional feature off)."""
        value = getattr(self, name)
        if value is not None:
            check_range(f"{type(self).__name__}.{name}", value, low, high, **kwargs)

    @classmethod
    def field_names(cls) -> list[str]:
        """The valid keys, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Optional[Mapping[str, Any]] = None, **overrides: Any) -> "Params":
        """Build from ``values`` (and keyword ``overrides``); unknown keys raise ``ValueError`` listing valid ones."""
        merged = {**(values or {}), **overrides}
        unknown = sorted(set(merged) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {', '.join(map(repr, unknown))}; valid keys are: "
                             f"{', '.join(cls.field_names())}.")
        return cls(**merged)

    def replace(self, **changes: Any) -> "Params":
        """A copy with ``changes`` applied and checked (unknown keys raise ``ValueError``)."""
        return self.from_dict(self.to_dict(), **changes)

    def to_dict(self) -> dict:
        """Field values by name (tuples stay tuples)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
