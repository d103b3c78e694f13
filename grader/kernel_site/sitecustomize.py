"""Start-up hook of every Python process that runs student code (put on PYTHONPATH).

When NNGRADER_CIFAR10_DIR is set, keras' `cifar10.load_data()` (keras 3, tf_keras and the
older tf.keras layouts) returns the grader's data set instead of downloading: the public
training images split into a training part and a labelled held-out part that stands in for
the test set. The real test labels are never in this process.

It also defers tensorflow: `import tensorflow as tf` costs 3 to 7 s and 500 MB, and a
notebook that only calls `tf.keras.datasets.cifar10.load_data()` needs none of it. The module
is created but its code runs only when the notebook touches anything else of it (or imports
one of its submodules); from then on it is the real tensorflow, in the same module object.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

_DIR = os.environ.get("NNGRADER_CIFAR10_DIR")
_TARGETS = {
    "keras.src.datasets.cifar10",
    "keras.datasets.cifar10",
    "tf_keras.src.datasets.cifar10",
    "tensorflow.python.keras.datasets.cifar10",
}


LOAD_SECONDS = 0.0   # time spent serving load_data(), read by the grader for its timings


def _load_data():
    global LOAD_SECONDS
    import time
    import numpy as np

    started = time.perf_counter()
    x = np.load(os.path.join(_DIR, "x_train.npy"), mmap_mode="c")
    y = np.load(os.path.join(_DIR, "y_train.npy")).reshape(-1, 1)
    held_out = int(os.environ.get("NNGRADER_CIFAR10_HELD_OUT", len(x) // 6))
    LOAD_SECONDS += time.perf_counter() - started
    return (x[:-held_out], y[:-held_out]), (x[-held_out:], y[-held_out:])


class _PatchLoadData(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _TARGETS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                original = spec.loader.exec_module

                def exec_module(module, _original=original):
                    _original(module)
                    if hasattr(module, "load_data"):
                        module.load_data = _load_data

                spec.loader.exec_module = exec_module
                return spec
        return None


_LOAD_DATA_PATH = ("keras", "datasets", "cifar10", "load_data")


class _Deferred(types.ModuleType):
    """tensorflow before its code has run. Attribute lookups reach __getattr__ only for names
    the module does not have yet, which before it runs is all of them."""

    def __getattr__(self, name):
        if "__spec__" not in self.__dict__ or self.__spec__.loader is _DEFERRER:
            raise AttributeError(name)       # the import system setting the module up
        if name == "keras":
            return _Path(self, ("keras",))
        if name == "is_tensor":            # matplotlib asks this of every array it plots
            return lambda x: _is_tensor(self, x)
        return getattr(_run(self), name)   # __path__ too: a submodule import runs it first


class _Path:
    """tf.keras, tf.keras.datasets, tf.keras.datasets.cifar10 of a deferred tensorflow."""

    def __init__(self, module, names):
        self._module, self._names = module, names

    def __getattr__(self, name):
        names = self._names + (name,)
        if names == _LOAD_DATA_PATH[:len(names)] and type(self._module) is _Deferred:
            return _load_data if len(names) == len(_LOAD_DATA_PATH) else _Path(self._module, names)
        target = _run(self._module)
        for part in names:
            target = getattr(target, part)
        return target


def _is_tensor(module, x) -> bool:
    """tf.is_tensor: nothing is a tensor while tensorflow has not run."""
    return type(module) is not _Deferred and module.is_tensor(x)


def _run(module):
    """Run tensorflow's own code in the deferred module, once."""
    if type(module) is _Deferred:
        spec = module.__spec__
        module.__class__ = types.ModuleType
        module.__path__ = spec.submodule_search_locations
        spec.loader.exec_module(module)
    return module


class _DeferTensorflow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name)
        if spec is None or spec.loader is None:
            return None
        self._real = spec
        return importlib.util.spec_from_loader(name, self, origin=spec.origin, is_package=True)

    def create_module(self, spec):
        return _Deferred(spec.name)

    def exec_module(self, module):
        real = self._real
        module.__spec__, module.__loader__ = real, real.loader
        module.__file__ = real.origin
        del module.__path__          # until it runs: a submodule import must run it first
        sys.meta_path.remove(self)   # deferred once; a reload is a real import


_DEFERRER = _DeferTensorflow()

if _DIR:
    sys.meta_path.insert(0, _PatchLoadData())
    if os.environ.get("NNGRADER_DEFER_TENSORFLOW", "1") == "1":
        sys.meta_path.insert(0, _DEFERRER)


def _grader_tools():
    """The grader's cells in the kernel call these (`sitecustomize.nngrader_capture(...)`). They
    are made here, at start-up, before any student code, and keep their own references to what
    they use: a notebook that rebinds `print`, `float`, `type`, `json.dumps` or `globals`, in its
    namespace or in builtins, does not change what they read or how they write it. The kernel is
    the student's all the same (SECURITY.md says what this can and cannot prove)."""
    import json
    import math
    import traceback
    import types as _types

    from nngrader_code import code_fingerprint

    _type, _int, _float, _str, _bool, _print = type, int, float, str, bool, print
    _getframe, _isfinite, _issubclass, _index = sys._getframe, math.isfinite, issubclass, int.__index__
    _int_repr, _float_repr, _float_new = int.__repr__, float.__repr__, float.__new__
    _function, _mro = _types.FunctionType, type.__dict__["__mro__"].__get__
    _class_dict, _flags = type.__dict__["__dict__"].__get__, type.__dict__["__flags__"].__get__
    _staticmethod, _classmethod, _property = staticmethod, classmethod, property
    heap_type = 1 << 9   # Py_TPFLAGS_HEAPTYPE: a class made by Python code, not a built-in C type

    def text(value) -> str:   # a JSON string of a name the notebook chose: letters, digits, _ . only
        return '"' + "".join(c for c in _str.__str__(value)[:80] if c.isalnum() or c in "_.,:;()- ") + '"'

    def number(value) -> str:
        """A plain number as JSON text, or a JSON string that says why it is not one. Exactly
        int or float, or a numpy scalar: every class of its type is a built-in C type, so no
        code of the notebook runs while it is read."""
        kind = _type(value)
        if any(_flags(k) & heap_type for k in _mro(kind)):
            bases = [k.__name__ for k in _mro(kind)[1:] if not _flags(k) & heap_type][:1]
            return text(f"not a plain number: a {kind.__name__}" + (f", a subclass of {bases[0]}" if bases else ""))
        if kind is _bool or kind.__name__ in ("bool_", "bool", "complex64", "complex128", "clongdouble"):
            return text(f"not a plain number: a {kind.__name__}")
        if kind is _int or kind.__name__.startswith(("int", "uint")):
            value = _index(value) if kind is _int else _index(value.__index__())
            if -10 ** 18 < value < 10 ** 18:
                return _int_repr(value)
            return text(f"an integer of about {value.bit_length() * 0.30103:.0f} digits: too large")
        if kind is _float or kind.__name__.startswith("float") or kind.__name__ == "longdouble":
            value = _float_new(_float, value)
            return _float_repr(value) if _isfinite(value) else text(f"{_float_repr(value)}: not a finite number")
        return text(f"not a plain number: a {kind.__name__}")

    def capture(tag: str, names) -> None:
        """The values of `names` in the namespace of the cell that calls it."""
        namespace = _getframe(1).f_globals
        found = [text(n) + ":" + number(namespace[n]) for n in names if n in namespace]
        _print(tag + "{" + ",".join(found) + "}", flush=True)

    def function_of(member):
        if _type(member) in (_staticmethod, _classmethod):
            member = member.__func__
        return member if _type(member) is _function else None

    def fingerprints(tag: str, names) -> None:
        """For each of `names` in the namespace of the cell that calls it: a function's code
        fingerprint, or a class's methods' (its own, as its __dict__ holds them)."""
        namespace, found = _getframe(1).f_globals, []
        for name in names:
            if name not in namespace:
                continue
            value = namespace[name]
            if _type(value) is _function:
                found.append(text(name) + ':{"kind":"function","code":"' + code_fingerprint(value.__code__) + '"}')
            elif _issubclass(_type(value), _type):
                methods = []
                for key, member in list(_class_dict(value).items())[:500]:
                    if _type(member) is _property:
                        parts = [(key + "." + p, function_of(getattr(member, p))) for p in ("fget", "fset")]
                    else:
                        parts = [(key, function_of(member))]
                    methods += [text(k) + ':"' + code_fingerprint(f.__code__) + '"' for k, f in parts if f is not None]
                found.append(text(name) + ':{"kind":"class","methods":{' + ",".join(methods) + "}}")
            else:
                found.append(text(name) + ':{"kind":' + text(_type(value).__name__) + "}")
        _print(tag + "{" + ",".join(found) + "}", flush=True)

    _encode, _exec, _dict, _format_exc = json.JSONEncoder(default=_str).encode, exec, dict, traceback.format_exc

    def probe(tag: str, source: str) -> None:
        """An assignment's kernel probe: `probe(namespace)` of `source`, on the namespace of the
        cell that calls it; what it returns, as JSON."""
        namespace, own = _getframe(1).f_globals, _dict()
        try:
            _exec(source, own)
            found = own["probe"](namespace)
        except BaseException:  # noqa: BLE001 - the notebook's objects may raise anything
            found = {"error": _format_exc()[-2000:]}
        _print(tag + _encode(found), flush=True)

    return capture, fingerprints, probe


nngrader_capture, nngrader_fingerprints, nngrader_probe = _grader_tools()
