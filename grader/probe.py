"""Run an assignment's probes on a student's extracted code, in a separate sandboxed process.

All probes of one student share one process (one numpy import, one import of the student's
code). Each probe has its own time limit: when one hangs or kills its process, that probe is
recorded as such and a fresh process carries on with the rest.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import sandbox

RUNNER = Path(__file__).with_name("probe_runner.py")


@dataclass
class ProbeCall:
    check: str
    probe: str                       # function name in the assignment's probes.py
    inputs: dict[str, np.ndarray]
    timeout_s: float
    needs_data: bool = False


@dataclass
class ProbeOutcome:
    outputs: dict[str, np.ndarray] | None = None
    error: str | None = None         # one line: what went wrong
    traceback: str | None = None     # the student's traceback, when there is one
    seconds: float = 0.0


@dataclass
class ProbeRun:
    outcomes: dict[str, ProbeOutcome] = field(default_factory=dict)
    import_error: ProbeOutcome | None = None
    seconds: float = 0.0


def run_probes(student_source: str, probes_module: Path, calls: list[ProbeCall], *,
               limits: sandbox.Limits, data_dir: Path | None, threads: int = 1) -> ProbeRun:
    started = time.monotonic()
    run = ProbeRun()
    with tempfile.TemporaryDirectory(prefix="nngrader-probe-") as tmp:
        work = Path(tmp) / "work"
        (work / "inputs").mkdir(parents=True)
        (work / "out").mkdir()
        (work / "student.py").write_text(student_source)
        shutil.copy(probes_module, work / "probes.py")
        shutil.copy(RUNNER, work / "probe_runner.py")
        plan = []
        for call in calls:
            np.savez(work / "inputs" / f"{call.check}.npz", **call.inputs)
            plan.append({"check": call.check, "probe": call.probe,
                         "data_dir": str(data_dir) if call.needs_data and data_dir else None})
        (work / "plan.json").write_text(json.dumps(plan))
        env = sandbox.clean_env(Path(tmp) / "home", threads)
        timeouts = {c.check: c.timeout_s for c in calls}
        while True:
            pending = [c.check for c in calls if _outcome_file(work, c.check) is None]
            if not pending:
                break
            killed = _run_once(work, env, limits, timeouts)
            if (work / "out" / "_import.json").exists():
                run.import_error = _read_error(work / "out" / "_import.json")
                break
            pending = [c for c in pending if _outcome_file(work, c) is None]
            if not pending:
                break
            stuck = [c for c in pending if (work / "out" / f"{c}.started").exists()]
            if not stuck:  # died before starting anything: importing the student's code
                run.import_error = ProbeOutcome(error=killed or "the process running your code exited")
                break
            for check in stuck:
                _mark(work, check, killed or "your code ended the process (os._exit, sys.exit or a crash)")
        for call in calls:
            run.outcomes[call.check] = _collect(work, call.check)
    run.seconds = time.monotonic() - started
    return run


def _run_once(work: Path, env: dict, limits: sandbox.Limits, timeouts: dict) -> str | None:
    """Run the runner until it finishes or one probe overstays; say why it was stopped."""
    argv = sandbox.wrap([sys.executable, "-I", str(work / "probe_runner.py"), str(work)], limits)
    log = open(work / "runner.log", "wb")
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    current, since = None, time.monotonic()
    import_deadline = since + 60
    try:
        while proc.poll() is None:
            time.sleep(0.02)
            newest = _newest_started(work)
            if newest != current:
                current, since = newest, time.monotonic()
            limit = timeouts.get(current) if current else None
            if (limit is not None and time.monotonic() - since > limit) or \
               (current is None and time.monotonic() > import_deadline):
                _kill(proc)
                return (f"stopped after {limit:.0f} s: too slow or never ends" if limit
                        else "importing your code took longer than 60 s")
    finally:
        log.close()
    if proc.returncode and proc.returncode < 0:
        return _signal_reason(-proc.returncode)
    return None


def _signal_reason(sig: int) -> str:
    if sig == signal.SIGXCPU:
        return "CPU time limit exceeded"
    if sig == signal.SIGKILL:
        return "killed (out of memory or over a limit)"
    return f"your code's process was killed by signal {signal.Signals(sig).name}"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _newest_started(work: Path) -> str | None:
    """The probe running now: started and without an outcome yet."""
    started = sorted((work / "out").glob("*.started"), key=lambda p: p.stat().st_mtime_ns)
    running = [p.stem for p in started if _outcome_file(work, p.stem) is None]
    return running[-1] if running else None


def _outcome_file(work: Path, check: str) -> Path | None:
    for suffix in (".npz", ".json"):
        p = work / "out" / f"{check}{suffix}"
        if p.exists():
            return p
    return None


def _mark(work: Path, check: str, reason: str) -> None:
    (work / "out" / f"{check}.json").write_text(json.dumps({"error": reason, "traceback": None}))


def _read_error(path: Path) -> ProbeOutcome:
    data = json.loads(path.read_text())
    return ProbeOutcome(error=str(data.get("error"))[:500], traceback=data.get("traceback"))


def _collect(work: Path, check: str) -> ProbeOutcome:
    path = _outcome_file(work, check)
    if path is None:
        return ProbeOutcome(error="not run: your code could not be imported")
    if path.suffix == ".json":
        return _read_error(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return ProbeOutcome(outputs={k: z[k] for k in z.files})
    except Exception as exc:  # noqa: BLE001 - a malformed file is the student's process's doing
        return ProbeOutcome(error=f"unreadable output ({exc})")

