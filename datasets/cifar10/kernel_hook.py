"""CIFAR-10's kernel hook: run by grader/kernel_site/sitecustomize.py at the start of every
Python process that runs student code, when an assignment grades on CIFAR-10.

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
