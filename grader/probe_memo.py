"""Probe runs kept for identical code: a class whose students paste the same classes from the
book (NNFS) trains them once per setting, as the reference's trainings are kept for everyone.

A run is reused only when everything it depended on is the same: the student's extracted code
statement by statement, the probes' and the runner's source, every call's inputs (hashed bytes,
dtypes, shapes), time limits and what it needs, the sandbox kind, its limits, its threads and this
machine's arithmetic (numpy, BLAS). Only runs that completed are kept: an outcome cut short by a
time or memory limit, a crash or a statement that would not load can depend on the machine's
load, so such a run is never stored; nor one that sent back more than KEEP_MB (a submission
must not grow the grader's cache by what it chooses to send). The stored arrays are read back as they were sent: plain
arrays, never pickles.
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import __version__, probe, sandbox, seeds
from .write import write_atomic

VERSION = "probe-run-1"   # change when what a stored run holds changes
KEEP_MB = 16              # a run that sent back more is not kept: the cache grows by what students send
# the grader's code a run's outcome depends on, besides the probes and the runner
CODE = [Path(probe.__file__), Path(sandbox.__file__), Path(sandbox.__file__).with_name("sandbox_launch.py")]


def run(root: Path, student_source: str, statements: list[tuple[int, str]], probe_files: list[Path],
        calls: list[probe.ProbeCall], *, box: sandbox.Sandbox, limits: sandbox.Limits, threads: int,
        max_output_mb: int, reuse: bool = True) -> probe.ProbeRun:
    """probe.run_probes, or the same run's outcomes when identical code has run on identical inputs
    (`reuse` False: --force, run again; the new run replaces the stored one)."""
    key = _key(student_source, statements, probe_files, calls, box, limits, threads, max_output_mb)
    path = root / key[:2] / f"{key}.npz"
    kept = _load(path) if reuse else None
    if kept is not None:
        return kept
    done = probe.run_probes(student_source, statements, probe_files, calls, box=box, limits=limits,
                            threads=threads, max_output_mb=max_output_mb)
    sent = sum(a.nbytes for o in done.outcomes.values() for a in (o.outputs or {}).values())
    if done.import_error is None and not done.load_errors and all(o.error is None for o in done.outcomes.values()) \
            and sent <= KEEP_MB << 20:
        try:
            _store(path, done)
        except OSError:   # a full or read-only cache: the run is graded all the same, just not kept
            pass
    return done


def _key(student_source, statements, probe_files, calls, box, limits, threads, max_output_mb) -> str:
    digest = hashlib.sha256()

    def add(value) -> None:
        data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, default=str).encode()
        digest.update(len(data).to_bytes(8, "little") + data)

    add([VERSION, __version__, sys.version, student_source, statements, box.mode, asdict(limits), threads,
         max_output_mb, seeds.numeric_environment()])
    for path in [*probe_files, probe.RUNNER, *CODE]:
        add(path.read_bytes())
    for call in calls:
        add([call.check, call.probe, call.timeout_s, list(call.needs), sorted(call.inputs)])
        for name in sorted(call.inputs):
            array = np.ascontiguousarray(call.inputs[name])
            add([array.dtype.str, array.shape])
            add(array.tobytes())
    return digest.hexdigest()


def _store(path: Path, done: probe.ProbeRun) -> None:
    arrays, meta = {}, {}
    for k, (check, outcome) in enumerate(done.outcomes.items()):
        meta[check] = {"seconds": outcome.seconds, "names": list(outcome.outputs)}
        arrays.update({f"{k}.{i}": value for i, value in enumerate(outcome.outputs.values())})
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps({"seconds": done.seconds, "checks": meta})), **arrays)
    write_atomic(path, buffer.getvalue())


def _load(path: Path) -> probe.ProbeRun | None:
    """The stored run, or None when there is none (or it cannot be read: it is run again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            outcomes = {}
            for k, (check, m) in enumerate(meta["checks"].items()):
                outputs = {name: z[f"{k}.{i}"] for i, name in enumerate(m["names"])}
                outcomes[check] = probe.ProbeOutcome(outputs=outputs, seconds=float(m["seconds"]))
    except Exception:  # noqa: BLE001 - damaged or not ours (EOFError, BadZipFile, ...): it is run again
        return None
    return probe.ProbeRun(outcomes=outcomes, seconds=0.0, reused=True)
