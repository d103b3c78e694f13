"""Runs inside the sandbox: import the student's code, call each planned probe, send back raw outputs.

Standalone on purpose (numpy only): the grader binds this file, the student's extracted code,
the assignment's probes module and the inputs read-only into the sandbox; nothing of the
grader or the reference comes with it. Outputs are converted to plain arrays here and sent
as .npz without pickle, so nothing a student object does (subclassed arrays, lying __eq__)
reaches the grader, which re-reads them with allow_pickle=False and does every comparison.

    python probe_runner.py JOBDIR FD CHECK [CHECK ...]

JOBDIR holds plan.json, student.py, probes.py and inputs/<check>.npz. Every message goes
to file descriptor FD as one JSON line; a finished probe's line says how many bytes of .npz
follow it. The grader times each probe from its "started" message.
"""
import importlib.util
import io
import json
import os
import sys
import traceback

import numpy as np

MAX_TRACEBACK = 4000
_RUNNER_PID = os.getpid()


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


def _error(exc):
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"error": f"{type(exc).__name__}: {exc}"[:500], "traceback": text[-MAX_TRACEBACK:]}


def main(jobdir, fd, checks):
    with open(os.path.join(jobdir, "plan.json")) as f:
        plan = json.load(f)
    probes = _load("probes", os.path.join(jobdir, "probes.py"))
    try:
        student = _load("student", os.path.join(jobdir, "student.py"))
    except BaseException as exc:  # noqa: BLE001 - any failure of student code is a result
        _send(fd, {"event": "import_error", **_error(exc)})
        return
    for check in checks:
        item = plan[check]
        _send(fd, {"event": "started", "check": check})
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
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
