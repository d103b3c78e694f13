"""Runs inside the sandbox: import the student's code, call each planned probe, save raw outputs.

Standalone on purpose (numpy only): it is copied next to the student's code and the
assignment's probes module, and nothing of the grader or the reference comes with it.
Outputs are converted to plain arrays here and saved without pickle, so nothing a student
object does (subclassed arrays, lying __eq__) reaches the grader; the grader re-reads them
with allow_pickle=False and does every comparison itself.

    python probe_runner.py WORKDIR      # WORKDIR/plan.json, student.py, probes.py, inputs/, out/
"""
import importlib.util
import json
import os
import sys
import traceback

import numpy as np

MAX_TRACEBACK = 4000


def _write(path, write):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def _plain(value):
    """A probe's output as a plain numeric array (or a capped string), else raise."""
    if isinstance(value, str):
        return np.array(value[:MAX_TRACEBACK])
    arr = np.array(value, copy=True, subok=False)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"expected numbers, got {type(value).__name__} (dtype {arr.dtype})")
    return np.ascontiguousarray(arr)


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _error(exc):
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"error": f"{type(exc).__name__}: {exc}"[:500], "traceback": text[-MAX_TRACEBACK:]}


def main(workdir):
    os.chdir(workdir)
    plan = json.load(open("plan.json"))
    probes = _load("probes", os.path.join(workdir, "probes.py"))
    try:
        student = _load("student", os.path.join(workdir, "student.py"))
    except BaseException as exc:  # noqa: BLE001 - any failure of student code is a result
        text = json.dumps(_error(exc)).encode()
        _write("out/_import.json", lambda f: f.write(text))
        return
    for item in plan:
        check = item["check"]
        if os.path.exists(f"out/{check}.npz") or os.path.exists(f"out/{check}.json"):
            continue  # done by an earlier run of this plan
        open(f"out/{check}.started", "w").close()
        with np.load(f"inputs/{check}.npz", allow_pickle=False) as z:
            inputs = {k: z[k] for k in z.files}
        try:
            outputs = getattr(probes, item["probe"])(student, inputs, item.get("data_dir"))
            arrays = {k: _plain(v) for k, v in outputs.items()}
            _write(f"out/{check}.npz", lambda f: np.savez(f, **arrays))
        except BaseException as exc:  # noqa: BLE001
            text = json.dumps(_error(exc)).encode()
            _write(f"out/{check}.json", lambda f: f.write(text))


if __name__ == "__main__":
    main(sys.argv[1])
