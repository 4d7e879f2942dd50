"""The one way to name an agent: a registry of agent classes by name.

- Built-in agents join where they are defined: ``@register_agent`` above the class.
- A third-party package joins through the Python entry-point group ``rl_lightning.agents``; in its
  ``pyproject.toml``::

      [project.entry-points."rl_lightning.agents"]
      MyAgent = "my_pkg.agents:MyAgent"

  The entry point is imported the first time its name is looked up (or all of them are listed).
- A class path keeps working without any registration: ``"my_pkg.agents.MyAgent"`` or ``"my_pkg.agents:MyAgent"``.

:func:`resolve_agent` turns any of these into the class; configs, the CLI, evaluation and checkpoint loading all
go through it, so adding an agent means no list to edit anywhere.

Bad input: an unknown name lists the nearest known names; two classes registering one name is an error naming
both; a class missing a method the library calls is refused with every missing name.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import pkgutil
from types import ModuleType
from typing import Any, Callable, Iterable, Optional, Sequence, Union, overload

__all__ = ["ENTRY_POINT_GROUP", "register_agent", "unregister_agent", "resolve_agent", "registered_agents",
           "missing_agent_methods", "class_path"]

#: The entry-point group third-party packages register their agents in.
ENTRY_POINT_GROUP = "rl_lightning.agents"

#: What the library calls on any agent class it builds, trains, saves and loads (the seed agent protocol, plus the
#: ``for_env`` factory that configs use and the ``load`` classmethod that evaluation and checkpoints use).
PROTOCOL_METHODS = ("for_env", "act", "update", "reset", "set_num_env", "save", "load")

_registry: dict[str, type] = {}
_builtins_imported = False


def class_path(cls: type) -> str:
    """``"package.module.Class"``: how a class is named in files and messages."""
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def _abstract_methods(cls: type) -> tuple[str, ...]:
    names = set()
    for klass in cls.__mro__:
        names.update(name for name, value in vars(klass).items() if getattr(value, "__isabstractmethod__", False))
    return tuple(sorted(name for name in names if getattr(getattr(cls, name, None), "__isabstractmethod__", False)))


def missing_agent_methods(cls: type) -> list[str]:
    """The methods an agent class must have and does not: the protocol's (:data:`PROTOCOL_METHODS`), then those its
    base class leaves for it to write (``act``, ``update``, ``reset_parameters`` of ``LightningAgent``...)."""
    missing = [name for name in PROTOCOL_METHODS if not callable(getattr(cls, name, None))]
    return missing + [name for name in _abstract_methods(cls) if name not in missing]


def _check_class(cls: Any, what: str) -> type:
    if not isinstance(cls, type):
        raise TypeError(f"{what}: an agent is a class, got {cls!r} ({type(cls).__name__}).")
    missing = missing_agent_methods(cls)
    if missing:
        raise TypeError(f"{what}: {class_path(cls)} is missing the method(s) {', '.join(missing)} that every agent "
                        "needs; implement them (rl_lightning.agents.LightningAgent provides all but act, update and "
                        "reset_parameters).")
    return cls


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in ".: \t\n"):
        raise ValueError(f"agent name {name!r} is not allowed; a registered name is a non-empty string without "
                         "'.', ':' or spaces (those make a class path).")
    return name


def _add(name: str, cls: type, origin: str) -> None:
    existing = _registry.get(name)
    if existing is not None and class_path(existing) != class_path(cls):
        raise ValueError(f"agent name {name!r} is registered twice: by {class_path(existing)} and by "
                         f"{class_path(cls)} ({origin}); register one of them under another name "
                         "(register_agent(name=...), or another entry-point name).")
    _registry[name] = cls  # the same class again (a module imported twice) replaces itself


@overload
def register_agent(cls: type, *, name: Optional[str] = None) -> type: ...


@overload
def register_agent(cls: None = None, *, name: Optional[str] = None) -> Callable[[type], type]: ...


def register_agent(cls: Optional[type] = None, *, name: Optional[str] = None) -> Any:
    """Register an agent class under ``name`` (default: the class's name), as a decorator or a call::

        @register_agent
        class MyAgent(LightningAgent): ...

        register_agent(MyAgent, name="my-agent")

    Raises:
        TypeError: ``cls`` is not a class, or lacks methods an agent needs (all of them are named).
        ValueError: another class holds ``name`` already (both are named), or ``name`` holds ``.``, ``:`` or spaces.
    """

    def register(agent_class: type) -> type:
        _check_class(agent_class, "register_agent")
        _add(_check_name(name if name is not None else agent_class.__name__), agent_class, "register_agent")
        return agent_class

    return register if cls is None else register(cls)


def unregister_agent(name: str) -> type:
    """Remove ``name`` from the registry and return its class (tests register agents of their own and clean up).

    Raises:
        KeyError: no agent is registered under ``name``.
    """
    if name not in _registry:
        raise KeyError(f"no agent is registered as {name!r}; registered: {', '.join(sorted(_registry)) or 'none'}.")
    return _registry.pop(name)


def _import_builtins() -> None:
    """Import every module of this package once, so that each built-in agent file registers, listed or not."""
    global _builtins_imported
    if _builtins_imported:
        return
    import rl_lightning.agents as package

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    _builtins_imported = True


def _entry_points(name: Optional[str] = None) -> list:
    points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return [point for point in points if name is None or point.name == name]


def _load_entry_points(points: Iterable) -> None:
    points = list(points)
    values: dict[str, str] = {}
    for point in points:
        if point.name in values and values[point.name] != point.value:
            raise ValueError(f"agent name {point.name!r} is registered twice through the entry-point group "
                             f"{ENTRY_POINT_GROUP!r}: by {values[point.name]} and by {point.value}; uninstall one of "
                             "the packages or rename its entry point.")
        values[point.name] = point.value
    for point in points:
        if point.name in _registry and class_path(_registry[point.name]) == point.value.replace(":", "."):
            continue
        _check_name(point.name)
        cls = _check_class(point.load(), f"entry point {point.name} = {point.value!r}")
        _add(point.name, cls, f"entry point {point.name} = {point.value!r} of group {ENTRY_POINT_GROUP!r}")


def registered_agents() -> dict[str, type]:
    """Every registered agent by name, sorted: the built-in ones and those of installed packages' entry points."""
    _import_builtins()
    _load_entry_points(_entry_points())
    return dict(sorted(_registry.items()))


def _nearest(name: str, names: Iterable[str]) -> list[str]:
    by_lower = {n.lower(): n for n in names}
    return [by_lower[n] for n in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)]


def _import_path(path: str) -> Any:
    """The object a class path names: ``module:Qual.Name``, or ``package.module.Qual.Name`` (the longest importable
    module prefix, then attributes)."""
    if ":" in path:
        module_name, _, qualname = path.partition(":")
        candidates = [(module_name, qualname)]
    else:
        parts = path.split(".")
        candidates = [(".".join(parts[:k]), ".".join(parts[k:])) for k in range(len(parts) - 1, 0, -1)]
    first_error = None
    for module_name, qualname in candidates:
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and (module_name == error.name or module_name.startswith(error.name + ".")):
                first_error = first_error or f"cannot import module {module_name!r} ({error})"
                continue  # this prefix is no module: try a shorter one
            raise ValueError(f"agent={path!r}: cannot import module {module_name!r} ({error}).") from None
        except ImportError as error:
            raise ValueError(f"agent={path!r}: cannot import module {module_name!r} ({error}).") from None
        for part in qualname.split("."):
            if not hasattr(obj, part):
                module = isinstance(obj, ModuleType)
                classes = sorted(n for n, v in vars(obj).items() if isinstance(v, type) and not n.startswith("_")
                                 and (not module or v.__module__ == obj.__name__))  # not what it imports
                where = f"module {obj.__name__!r}" if module else f"class {obj.__qualname__!r}"
                raise ValueError(f"agent={path!r}: {where} has no {part!r}; its classes are: "
                                 f"{', '.join(classes) or 'none'}.")
            obj = getattr(obj, part)
        return obj
    raise ValueError(f"agent={path!r}: {first_error or 'no module in this class path'}; give "
                     "'package.module.Class'.")


def resolve_agent(agent: Union[str, type], needs: Sequence[str] = ()) -> type:
    """The agent class that ``agent`` names: a registered name (``"PPO"``, or a third party's entry point), a class
    path (``"my_pkg.agents.MyAgent"``, ``"my_pkg.agents:MyAgent"``), or the class itself.

    Args:
        agent: the name, class path or class.
        needs: methods the caller is about to call on the class (``("for_env",)`` to build one, ``("load",)`` to
            load a saved one); a class without them is refused naming them. Registered agents have them all.

    Raises:
        ValueError: an unknown name (the nearest registered names are listed), or a class path whose module or
            class does not exist.
        TypeError: what the path names is no class, or lacks one of ``needs``.
    """
    if isinstance(agent, str):
        if "." in agent or ":" in agent:
            cls = _import_path(agent)
        else:
            cls = _registered(agent)
    else:
        cls = agent
    if not isinstance(cls, type):
        raise TypeError(f"agent={agent!r} names {cls!r}, which is not a class; give an agent class.")
    missing = [name for name in needs if not callable(getattr(cls, name, None))]
    if missing:
        raise TypeError(f"agent={agent if isinstance(agent, str) else class_path(cls)!r} has no "
                        f"{', '.join(missing)}, which this needs (see rl_lightning.agents.LightningAgent).")
    return cls


def _registered(name: str) -> type:
    if name in _registry:
        return _registry[name]
    _import_builtins()
    if name not in _registry:
        _load_entry_points(_entry_points(name))
    if name in _registry:
        return _registry[name]
    names = sorted(set(_registry) | {point.name for point in _entry_points()})
    near = _nearest(name, names)
    hint = f" (nearest: {', '.join(map(repr, near))})" if near else ""
    raise ValueError(f"agent={name!r} is not a registered agent{hint}; registered agents: {', '.join(names)}. Or give "
                     "a class path 'package.module.Class'.")
