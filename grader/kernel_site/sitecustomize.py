"""Start-up hook of every Python process that runs student code (put on PYTHONPATH).

It runs the data set's kernel hooks (NNGRADER_KERNEL_HOOKS: files of its provider under
datasets/, which serve the data to the notebook's loader), each as a module of its own name
(`nngrader_hook_<n>`), and makes the grader's tools that the grader's cells in the kernel call,
before any student code.
"""
import importlib.util
import os
import sys


def _run_hooks() -> None:
    for n, path in enumerate(p for p in os.environ.get("NNGRADER_KERNEL_HOOKS", "").split(os.pathsep) if p):
        spec = importlib.util.spec_from_file_location(f"nngrader_hook_{n}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)


_run_hooks()


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
