"""How the outputs and gradients kinds call the code they judge, on the grader's side (the
reference, or a self-check's definition): a function of the module, or a method of an object made
per case from a class, with attributes set from the case. probes.py calls the student's code the
same way (`_kind_object`, `_kind_read`).

    function = "affine_forward"                 # a function, called with the case's arrays ...
    class = "Layer_Dense"                       # ... or an object of this class, made per case
    init = ["n_inputs", "n_neurons"]            # with these case entries (keywords, else in order)
    attributes = ["weights", "biases"]          # then set: layer.weights = the case's weights
    attributes = ["params[W1]", "params[b1]"]   # or into a dict: net.params['W1'] = the case's W1
    args = ["inputs"]                           # the case entries a method is called with
"""
from __future__ import annotations

from types import ModuleType

import numpy as np


def entry(path: str) -> str:
    """The case entry an attribute path holds: "weights" -> weights, "params[W1]" -> W1."""
    return path.partition("[")[2].rstrip("]") or path


def label(path: str) -> str:
    """An attribute path as a student writes it: "params[W1]" -> params['W1']."""
    name, _, key = path.partition("[")
    return f"{name}['{key.rstrip(']')}']" if key else path


def read(obj, path: str):
    """The value at an attribute path of obj (AttributeError or KeyError when it is not there)."""
    name, _, key = path.partition("[")
    value = getattr(obj, name)
    return value[key.rstrip("]")] if key else value


def make(module: ModuleType, spec: dict, case: dict):
    """An object of the spec's class with the case's constructor arguments and attributes (copies),
    or None for a function."""
    if "class" not in spec:
        return None
    obj = getattr(module, spec["class"])(**{n: case[n].item() for n in spec.get("init", [])})
    for path in spec.get("attributes", []):
        name, _, key = path.partition("[")
        if key:
            getattr(obj, name)[key.rstrip("]")] = case[entry(path)].copy()
        else:
            setattr(obj, name, case[entry(path)].copy())
    return obj


def args(spec: dict, case: dict) -> list[str]:
    """The case entries the function or method is called with, in order."""
    return list(spec["args"]) if "args" in spec else [n for n in case if n != spec.get("dout", "dout")]


def inputs(spec: dict, case: dict) -> list[np.ndarray]:
    """What a known mistake is computed from: the call's arguments, then the attributes set."""
    return [case[n] for n in args(spec, case)] + [case[entry(p)] for p in spec.get("attributes", [])]


def call(module: ModuleType, spec: dict, obj, method: str, values: list):
    """The function named `method` (function style) or obj's method of that name."""
    return getattr(obj if obj is not None else module, method)(*values)
