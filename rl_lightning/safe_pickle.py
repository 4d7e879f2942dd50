"""Reading pickles that someone else may have written, without running code they chose.

Experiment folders travel (shared drives, tarballs, a downloaded "best agent"), and unpickling runs whatever
callables a pickle names. Every pickle rl_lightning reads from a file goes through one of these loaders:

- :func:`load_run_state`: the run state inside a Lightning checkpoint (``checkpoint["rl_lightning"]``) and the env
  pickled in it. Accepted: Python's containers and scalars, numpy arrays, scalars, dtypes and generators, torch
  tensors, gymnasium's own classes, and the classes of the modules the resuming run itself builds its env and agent
  from (``allowed_modules``). Anything else is refused before any of it is constructed, naming the class and the
  switch that trusts the file (``trust=True``: ``AgentModule(trust_checkpoint=True)``, ``--trust-checkpoint``).
- :func:`load_plain_data`: the seed's metrics pickles with ``safe=True``: only dicts, lists, tuples, sets, numbers,
  strings, bytes, ``None``, numpy scalars and arrays.

Only *classes* are accepted from gymnasium and the run's modules (never their functions); numpy and torch
contribute the few functions their own pickles name to rebuild arrays, scalars, generators and tensors.
"""

from __future__ import annotations

import array
import builtins
import codecs
import collections
import copyreg
import io
import pickle
from typing import Any, Iterable

import numpy as np

__all__ = ["UntrustedFileError", "load_run_state", "load_plain_data", "modules_of", "restricted_unpickler_module"]


class UntrustedFileError(pickle.UnpicklingError, ValueError):
    """A pickle names a class or function outside what the reader accepts; nothing of it was constructed."""


_PLAIN_BUILTINS = frozenset(("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes",
                             "bytearray", "bool", "slice", "range"))
# The functions numpy's own pickles name to rebuild arrays, scalars and generators.
_NUMPY_FUNCTIONS = frozenset((
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.random._pickle", "__bit_generator_ctor"), ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"), ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
))
_TORCH_FUNCTIONS = frozenset((("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
                              ("torch._utils", "_rebuild_parameter")))
_COLLECTIONS = frozenset(("OrderedDict", "deque", "defaultdict", "Counter"))


def _numpy_type(obj: Any) -> bool:
    """numpy's data types: arrays, scalar types, dtypes, and its random generators (no type that opens files)."""
    if not isinstance(obj, type):
        return False
    return (obj is np.ndarray or issubclass(obj, (np.generic, np.dtype, np.random.BitGenerator,
                                                   np.random.Generator, np.random.RandomState,
                                                   np.random.SeedSequence)))


def _resolve(module: str, name: str) -> Any:
    try:
        return pickle.Unpickler.find_class(_Probe(io.BytesIO(b"")), module, name)
    except (ImportError, AttributeError) as error:
        raise UntrustedFileError(f"the file names {module}.{name}, which does not exist here ({error}).") from None


class _Probe(pickle.Unpickler):
    pass


def _load_storage_from_bytes(data: bytes) -> Any:
    """What ``torch.storage._load_from_bytes`` does, with torch's own ``weights_only`` unpickler."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


class _Restricted(pickle.Unpickler):
    def __init__(self, file: Any, what: str, allowed_modules: frozenset, plain_only: bool, remedy: str):
        super().__init__(file)
        self.what = what
        self.allowed_modules = allowed_modules
        self.plain_only = plain_only
        self.remedy = remedy

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _PLAIN_BUILTINS:
            return getattr(builtins, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 writes bytes (numpy's arrays in torch.save files)
            return codecs.encode
        if (module, name) in _NUMPY_FUNCTIONS:
            return _resolve(module, name)
        if module.split(".", 1)[0] == "numpy":
            obj = _resolve(module, name)
            if _numpy_type(obj) and (not self.plain_only or obj is np.ndarray or issubclass(obj, (np.generic,
                                                                                                   np.dtype))):
                return obj
        elif not self.plain_only:
            if module == "collections" and name in _COLLECTIONS:
                return getattr(collections, name)
            if module == "copyreg" and name == "_reconstructor":
                return copyreg._reconstructor
            if module == "array" and name in ("array", "_array_reconstructor"):  # typed arrays of numbers
                return getattr(array, name)
            if module.split(".", 1)[0] == "torch":
                found = self._torch(module, name)
                if found is not None:
                    return found
            elif module.split(".", 1)[0] == "gymnasium" or module in self.allowed_modules:
                obj = _resolve(module, name)
                if isinstance(obj, type):
                    return obj
        raise UntrustedFileError(f"{self.what} names {module}.{name}, which this reader does not construct (it could "
                                 f"run code chosen by whoever wrote the file); nothing of it was loaded. "
                                 f"{self.remedy}")

    @staticmethod
    def _torch(module: str, name: str) -> Any:
        import torch

        if (module, name) in _TORCH_FUNCTIONS:
            return _resolve(module, name)
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _load_storage_from_bytes
        if module == "torch":
            obj = getattr(torch, name, None)
            if isinstance(obj, torch.dtype) or obj in (torch.Size, torch.device):
                return obj
        return None


def modules_of(*objects: Any) -> frozenset:
    """The modules defining ``objects``' classes, their wrapped envs' (``.env``, ``.envs``, ``.unwrapped``) and
    their bases', whose classes a run state written for these objects may contain."""
    modules: set = set()
    seen: set = set()
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        cls = obj if isinstance(obj, type) else type(obj)
        modules.update(base.__module__ for base in cls.__mro__ if base.__module__ not in ("builtins", "abc"))
        if not isinstance(obj, type):
            stack.extend(getattr(obj, "envs", None) or [])
            for attribute in ("env", "unwrapped"):
                inner = getattr(obj, attribute, None)
                if inner is not obj:
                    stack.append(inner)
    return frozenset(modules)


def load_run_state(data: bytes, what: str, allowed_modules: Iterable[str] = (), trust: bool = False) -> Any:
    """Unpickle the run state ``data`` (from ``what``, named in errors): restricted as the module docstring says,
    or, with ``trust=True``, with Python's plain unpickler.

    Raises:
        UntrustedFileError: the pickle names anything else; nothing was constructed.
    """
    if trust:
        return pickle.loads(data)
    remedy = ("If you trust the file's author, load it with trust_checkpoint=True (AgentModule, OnlineTrainer) or "
              "--trust-checkpoint (the command line).")
    return _Restricted(io.BytesIO(data), what, frozenset(allowed_modules), False, remedy).load()


def restricted_unpickler_module(what: str, allowed_modules: Iterable[str] = ()) -> Any:
    """A stand-in for the ``pickle`` module whose ``Unpickler`` follows :func:`load_run_state`'s rules, for
    ``torch.load(..., weights_only=False, pickle_module=...)`` on a file written by ``torch.save``."""
    allowed = frozenset(allowed_modules)
    remedy = "If you trust the file's author, load it with trust=True."

    class Unpickler(_Restricted):
        def __init__(self, file: Any, **kwargs: Any):
            super().__init__(file, what, allowed, False, remedy)

    return type("restricted_pickle", (), {"Unpickler": Unpickler, "load": pickle.load,
                                          "__name__": "restricted_pickle"})


def load_plain_data(file: Any, what: str) -> Any:
    """Unpickle one object from the binary ``file`` allowing only plain data: dicts, lists, tuples, sets, numbers,
    strings, bytes, ``None``, numpy scalars and arrays.

    Raises:
        UntrustedFileError: the pickle names anything else; nothing was constructed.
    """
    remedy = "If you trust the file's author, read it with safe=False."
    return _Restricted(file, what, frozenset(), True, remedy).load()
