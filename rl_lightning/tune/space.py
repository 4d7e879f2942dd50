"""Search spaces: the YAML/dict schema of the hyperparameters a sweep samples, checked before any trial.

A search space maps each hyperparameter's name (the key of the ``tuning_hp`` dict the agent receives) to
one entry::

    learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}   # log-uniform
    clip_range:    {type: float, low: 0.1, high: 0.3, step: 0.1}           # 0.1, 0.2, 0.3
    gamma:         {type: log-float, low: 0.9, high: 0.999}                # same as type: float, log: true
    n_steps:       {type: int, low: 16, high: 64, step: 16}                # 16, 32, 48, 64
    batch_size:    {type: int, low: 16, high: 256, log: true, grid: [16, 64, 256]}
    activation:    {type: categorical, choices: [tanh, relu]}

Keys by type (``type`` is always required):

- ``float``: ``low``, ``high`` (required, ``low <= high``); ``log`` (bool, needs ``low > 0``) or ``step``
  (> 0), not both; ``grid``.
- ``log-float``: ``low``, ``high`` (``0 < low <= high``); ``grid``. A ``float`` with ``log: true``.
- ``int``: integer ``low``, ``high``; ``log`` (needs ``low >= 1``) or ``step`` (integer >= 1); ``grid``.
- ``categorical``: ``choices``, a non-empty list of distinct str, int, float, bool or null values (the
  values Optuna can store).

``grid`` lists the values grid search visits (each within ``[low, high]``). Without it, grid search uses
every value of an ``int`` (``low``, ``low + step``, ... up to ``high``), of a ``float`` with ``step``, and
the ``choices`` of a ``categorical``; a ``float`` without ``step`` and a log-scaled ``int`` need ``grid``.

PyYAML reads ``1e-4`` (no dot) as text: numbers given as text are accepted for float bounds and grids.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import yaml

__all__ = ["PARAM_TYPES", "Param", "SearchSpace"]

#: The ``type`` values of a search-space entry.
PARAM_TYPES = ("float", "log-float", "int", "categorical")

_KEYS = {
    "float": ("type", "low", "high", "log", "step", "grid"),
    "log-float": ("type", "low", "high", "grid"),
    "int": ("type", "low", "high", "log", "step", "grid"),
    "categorical": ("type", "choices"),
}
_REQUIRED = {"float": ("low", "high"), "log-float": ("low", "high"), "int": ("low", "high"),
             "categorical": ("choices",)}
# Optuna's persistent storages hold categorical values of these types only.
_CHOICE_TYPES = (str, int, float, bool, type(None))
# Grid points past this many make an int parameter's implicit grid an error: list the points with `grid`.
_MAX_IMPLICIT_GRID = 1000


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a search space (see the module docstring for the schema).

    Attributes:
        name: the key in ``tuning_hp``.
        type: ``"float"``, ``"int"`` or ``"categorical"`` (``log-float`` is stored as a ``float`` with ``log``).
        low, high: inclusive bounds (numeric types).
        log: sample on a log scale.
        step: spacing of the allowed values, or ``None`` for any value in ``[low, high]``.
        choices: a categorical's values.
        grid: the values grid search visits, when given explicitly.
    """

    name: str
    type: str
    low: Optional[Union[int, float]] = None
    high: Optional[Union[int, float]] = None
    log: bool = False
    step: Optional[Union[int, float]] = None
    choices: Optional[tuple] = None
    grid: Optional[tuple] = None

    @classmethod
    def from_dict(cls, name: Any, entry: Any) -> "Param":
        """Check one entry of the schema and build it.

        Raises:
            TypeError: ``name`` is not a string or ``entry`` not a mapping, or a value has the wrong type.
            ValueError: a missing, unknown or out-of-range key.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"search-space names must be non-empty strings, got {name!r}.")
        if not isinstance(entry, Mapping):
            raise TypeError(f"search-space entry {name!r} must be a mapping such as {{type: float, low: 0.0001, "
                            f"high: 0.01, log: true}}; got {entry!r}.")
        kind = entry.get("type")
        if kind not in PARAM_TYPES:
            given = "no type" if "type" not in entry else f"type={kind!r}"
            raise ValueError(f"search-space entry {name!r} has {given}; valid types are "
                             f"{', '.join(PARAM_TYPES)}.")
        unknown = sorted(str(k) for k in entry if k not in _KEYS[kind])
        if unknown:
            raise ValueError(f"search-space entry {name!r} (type {kind}) has unknown key(s) {', '.join(unknown)}; "
                             f"valid keys: {', '.join(_KEYS[kind])}.")
        missing = [k for k in _REQUIRED[kind] if k not in entry]
        if missing:
            raise ValueError(f"search-space entry {name!r} (type {kind}) is missing {', '.join(missing)}; "
                             f"required keys: type, {', '.join(_REQUIRED[kind])}.")
        if kind == "categorical":
            return cls(name, "categorical", choices=_choices(name, entry["choices"]))
        return _numeric(cls, name, kind, entry)

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter's value for ``trial`` (an ``optuna.Trial``)."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def grid_values(self) -> list:
        """The values grid search visits.

        Raises:
            ValueError: a float without ``step`` or ``grid``, or a log-scaled int without ``grid``.
        """
        if self.type == "categorical":
            return list(self.choices)
        if self.grid is not None:
            return list(self.grid)
        if self.type == "int" and not self.log:
            step = self.step or 1
            count = (self.high - self.low) // step + 1
            if count <= _MAX_IMPLICIT_GRID:
                return list(range(self.low, self.high + 1, step))
            raise ValueError(f"search-space entry {self.name!r} spans {count} integers; list the values grid search "
                             "should visit with grid: [...] or raise step.")
        if self.type == "float" and self.step is not None:
            count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
            return [round(self.low + i * self.step, 12) for i in range(count)]
        scale = "log-scaled int" if self.type == "int" else "float"
        raise ValueError(f"search-space entry {self.name!r} is a {scale} without a finite set of values; grid search "
                         f"needs grid: [...] (the values to visit){' or step' if self.type == 'float' else ''}.")

    def to_dict(self) -> dict:
        """The schema entry, as it would be written in YAML."""
        if self.type == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        out: dict = {"type": self.type, "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        if self.grid is not None:
            out["grid"] = list(self.grid)
        return out


class SearchSpace:
    """The hyperparameters a sweep samples: an ordered mapping ``name -> Param``.

    Build one with :meth:`from_dict` or :meth:`load` (a dict, a YAML file, or a ``SearchSpace``); every
    entry is checked when it is built, so a bad space fails before a study or trial folder exists.
    """

    def __init__(self, params: Mapping[str, Param]):
        if not params:
            raise ValueError("the search space is empty; give at least one hyperparameter, e.g. "
                             "{learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}}.")
        self.params = dict(params)

    @classmethod
    def from_dict(cls, spec: Any) -> "SearchSpace":
        """Check and build a search space from its schema (see the module docstring).

        Raises:
            TypeError, ValueError: naming the entry, the key and what is allowed.
        """
        if not isinstance(spec, Mapping):
            raise TypeError(f"a search space must be a mapping from hyperparameter names to entries, got "
                            f"{type(spec).__name__}.")
        return cls({name: Param.from_dict(name, entry) for name, entry in spec.items()})

    @classmethod
    def load(cls, source: Union["SearchSpace", Mapping, str, os.PathLike]) -> "SearchSpace":
        """A search space from a ``SearchSpace``, a dict in the schema, or the path of a YAML file holding one.

        Raises:
            FileNotFoundError: the YAML file does not exist.
        """
        if isinstance(source, SearchSpace):
            return source
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"search space file {path!r} does not exist.")
            with open(path) as f:
                spec = yaml.safe_load(f)
            try:
                return cls.from_dict(spec)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{path}: {err}") from None
        return cls.from_dict(source)

    def suggest(self, trial: Any) -> dict:
        """Draw every parameter for ``trial``: the ``tuning_hp`` dict of the trial."""
        return {name: param.suggest(trial) for name, param in self.params.items()}

    def grid(self) -> dict[str, list]:
        """``{name: values}`` for Optuna's ``GridSampler``; raises ``ValueError`` for a parameter with no finite set."""
        return {name: param.grid_values() for name, param in self.params.items()}

    def grid_size(self) -> int:
        """Number of grid points (the product of each parameter's number of values)."""
        return math.prod(len(values) for values in self.grid().values())

    def to_dict(self) -> dict:
        """The schema, as written in YAML."""
        return {name: param.to_dict() for name, param in self.params.items()}

    def __repr__(self) -> str:
        return f"SearchSpace({self.to_dict()!r})"


def _choices(name: str, choices: Any) -> tuple:
    if not isinstance(choices, (list, tuple)) or not choices:
        raise ValueError(f"search-space entry {name!r}: choices must be a non-empty list, got {choices!r}.")
    for value in choices:
        if not isinstance(value, _CHOICE_TYPES):
            raise TypeError(f"search-space entry {name!r}: choice {value!r} is a {type(value).__name__}; choices must "
                            "be str, int, float, bool or null (what Optuna stores). Encode others as strings, e.g. "
                            "'64,64', and decode them in your agent.")
    if len(set(map(repr, choices))) != len(choices):
        raise ValueError(f"search-space entry {name!r}: choices {list(choices)!r} repeat a value.")
    return tuple(choices)


def _number(name: str, key: str, value: Any, integer: bool) -> Union[int, float]:
    if integer:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"search-space entry {name!r}: {key} must be an integer for type int, got {value!r}.")
        return int(value)
    if isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise TypeError(f"search-space entry {name!r}: {key} must be a number, got {value!r}.") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"search-space entry {name!r}: {key} must be a finite number, got {value!r}.")
    return float(value)


def _numeric(cls: type, name: str, kind: str, entry: Mapping) -> Param:
    integer = kind == "int"
    low, high = (_number(name, k, entry[k], integer) for k in ("low", "high"))
    if low > high:
        raise ValueError(f"search-space entry {name!r}: low={low!r} is greater than high={high!r}; need low <= high.")
    log = entry.get("log", False) if kind != "log-float" else True
    if not isinstance(log, bool):
        raise TypeError(f"search-space entry {name!r}: log must be true or false, got {log!r}.")
    if log and low <= 0:
        raise ValueError(f"search-space entry {name!r}: a log scale needs low > 0, got low={low!r}.")
    step = entry.get("step")
    if step is not None:
        if log:
            raise ValueError(f"search-space entry {name!r}: log and step cannot be combined; drop one.")
        step = _number(name, "step", step, integer)
        if step <= 0:
            raise ValueError(f"search-space entry {name!r}: step must be > 0, got {step!r}.")
    grid = entry.get("grid")
    if grid is not None:
        if not isinstance(grid, (list, tuple)) or not grid:
            raise ValueError(f"search-space entry {name!r}: grid must be a non-empty list of values, got {grid!r}.")
        grid = tuple(_number(name, "grid value", v, integer) for v in grid)
        outside = [v for v in grid if not low <= v <= high]
        if outside:
            raise ValueError(f"search-space entry {name!r}: grid values {outside!r} lie outside [low, high] = "
                             f"[{low!r}, {high!r}].")
        if step is not None:
            off = [v for v in grid if not math.isclose((v - low) / step, round((v - low) / step), abs_tol=1e-9)]
            if off:
                raise ValueError(f"search-space entry {name!r}: grid values {off!r} are not low + n * step "
                                 f"(low={low!r}, step={step!r}).")
        if len(set(grid)) != len(grid):
            raise ValueError(f"search-space entry {name!r}: grid {list(grid)!r} repeats a value.")
    return cls(name, "int" if integer else "float", low=low, high=high, log=log, step=step, grid=grid)
