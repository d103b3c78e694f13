"""Runs inside the sandbox: import the student's code, call each planned probe, send back raw outputs.

Standalone on purpose (numpy only): the grader binds this file, the student's extracted code,
the assignment's probes module and the inputs read-only into the sandbox; nothing of the
grader or the reference comes with it. Outputs are converted to plain arrays here and sent
as .npz without pickle, so nothing a student object does (subclassed arrays, lying __eq__)
reaches the grader, which re-reads them with allow_pickle=False and does every comparison.

    python probe_runner.py JOBDIR FD SKIP CHECK [CHECK ...]

JOBDIR holds plan.json, student.py, probes.py and inputs/<check>.npz. plan.json gives the
student's top-level statements (their first line in student.py and their text) and, per check,
its probe and the statements it needs. Each statement is run on its own, in order, into the
module `student`, so one that fails costs only the checks that need it; SKIP lists statements
not to run (comma-separated indices, or "-"): those that stopped an earlier process.

Every message goes to file descriptor FD as one JSON line: "loading" before each statement,
"statement_error" when one raises, "loaded" when all have run; then per check "started",
and "done" (its line says how many bytes of .npz follow) or "error". The grader times each
statement and probe from these messages.
"""
import __future__
import ast
import importlib.util
import io
import json
import os
import sys
import traceback
import types

import numpy as np

MAX_TRACEBACK = 4000
_RUNNER_PID = os.getpid()
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


def _send(fd, header, payload=b""):
    if os.getpid() != _RUNNER_PID:  # a copy made by os.fork in student code: it does not report
        os._exit(0)
    data = json.dumps(header).encode() + b"\n" + payload
    while data:
        data = data[os.write(fd, data):]


def _plain(value):
    """A probe's output as a plain numeric array (or a capped string), else raise."""
    if isinstance(value, str):
        return np.array(value[:MAX_TRACEBACK])
    arr = np.array(value, copy=True, subok=False, order="C")   # a scalar stays 0-d
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"expected numbers, got {type(value).__name__} (dtype {arr.dtype})")
    return arr


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _error(exc, tb=None):
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    return {"error": f"{type(exc).__name__}: {exc}"[:500], "traceback": text[-MAX_TRACEBACK:]}


def _load_student(path, statements, skip, fd):
    """The module `student`, one statement at a time, as the notebook ran them: line numbers and
    tracebacks point into student.py, and a `from __future__` import holds for what follows."""
    module = types.ModuleType("student")
    module.__file__ = path
    sys.modules["student"] = module
    flags, failed = 0, set(skip)
    for index, (line, source) in enumerate(statements):
        if index in failed:
            continue
        _send(fd, {"event": "loading", "statement": index})
        try:
            tree = ast.parse(source, path)
            ast.increment_lineno(tree, line - 1)
            code = compile(tree, path, "exec", flags=flags, dont_inherit=True)
            flags |= code.co_flags & _FUTURE_FLAGS
            exec(code, module.__dict__)
        except BaseException as exc:  # noqa: BLE001 - any failure of student code is a result
            failed.add(index)
            tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # not this frame
            _send(fd, {"event": "statement_error", "statement": index, **_error(exc, tb)})
    return module, failed


def main(jobdir, fd, skip, checks):
    with open(os.path.join(jobdir, "plan.json")) as f:
        plan = json.load(f)
    try:
        probes = _load("probes", os.path.join(jobdir, "probes.py"))
    except BaseException as exc:  # noqa: BLE001
        _send(fd, {"event": "import_error", **_error(exc)})
        return
    student, failed = _load_student(os.path.join(jobdir, "student.py"), plan["statements"], skip, fd)
    _send(fd, {"event": "loaded"})
    for check in checks:
        item = plan["checks"][check]
        _send(fd, {"event": "started", "check": check})
        if failed.intersection(item["needs"]):
            _send(fd, {"event": "error", "check": check, "error": "not run: a statement it needs could not be loaded"})
            continue
        with np.load(os.path.join(jobdir, "inputs", f"{check}.npz"), allow_pickle=False) as z:
            inputs = {k: z[k] for k in z.files}
        try:
            outputs = getattr(probes, item["probe"])(student, inputs)
            buffer = io.BytesIO()
            np.savez(buffer, **{k: _plain(v) for k, v in outputs.items()})
        except BaseException as exc:  # noqa: BLE001
            _send(fd, {"event": "error", "check": check, **_error(exc)})
            continue
        _send(fd, {"event": "done", "check": check, "bytes": buffer.getbuffer().nbytes}, buffer.getvalue())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), [int(i) for i in sys.argv[3].split(",") if i.isdigit()], sys.argv[4:])
