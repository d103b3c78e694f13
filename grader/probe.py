"""Run an assignment's probes on a student's extracted code, in a separate sandboxed process.

All probes of one student share one process (one numpy import, one import of the student's
code). Each probe has its own time limit: when one hangs or kills its process, that probe is
recorded as such and a fresh process carries on with the rest.

The student's code is loaded one top-level statement at a time. A statement that raises is
recorded, and only the probes that need it are not run; one that hangs or ends the process is
recorded too, and a fresh process loads the rest without it.

The process sees its inputs read-only and has no folder of the grader's to write in: its
outputs come back over a pipe, at most `max_output_mb`, and are read as plain arrays.
"""
from __future__ import annotations

import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import sandbox

RUNNER = Path(__file__).with_name("probe_runner.py")
IMPORT_TIMEOUT_S = 60    # loading the student's statements, per process
LOAD_RESTARTS = 2        # fresh processes after statements that hang or end the process while loading
ARRAY_KINDS = "biufU"   # numbers, and text (error messages): nothing else is read back


@dataclass
class ProbeCall:
    check: str
    probe: str                       # function name in the assignment's probes.py
    inputs: dict[str, np.ndarray]
    timeout_s: float
    needs: tuple[int, ...] = ()      # the student's statements it runs on: not run when one failed to load


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
    load_errors: dict[int, ProbeOutcome] = field(default_factory=dict)  # statement -> why it failed to load
    seconds: float = 0.0
    reused: bool = False             # the outcomes of an identical earlier run (probe_memo.py)


@dataclass
class _Attempt:
    """What one process run reported, and why it was stopped if it was."""
    outcomes: dict[str, ProbeOutcome] = field(default_factory=dict)
    import_error: ProbeOutcome | None = None
    load_errors: dict[int, ProbeOutcome] = field(default_factory=dict)
    loading: int | None = None       # the statement it was loading when it ended
    loaded: bool = False
    running: str | None = None       # the probe it was in when it ended
    stopped: str | None = None


def run_probes(student_source: str, statements: list[tuple[int, str]], probe_files: list[Path], calls: list[ProbeCall],
               *, box: sandbox.Sandbox, limits: sandbox.Limits, threads: int = 1,
               max_output_mb: int = 256) -> ProbeRun:
    """Run `calls` on the module `student_source`, made of `statements` (each its first line in it
    and its text), which the runner loads one at a time. The probes are `probe_files`, one after
    the other in one module."""
    started = time.monotonic()
    run = ProbeRun()
    with tempfile.TemporaryDirectory(prefix="nngrader-probe-") as tmp:
        job = Path(tmp) / "job"
        (job / "inputs").mkdir(parents=True)
        (job / "student.py").write_text(student_source)
        (job / "probes.py").write_text("\n\n".join(p.read_text() for p in probe_files))
        shutil.copy(RUNNER, job / "probe_runner.py")
        plan = {"statements": [[line, text] for line, text in statements], "checks": {}}
        for call in calls:
            np.savez(job / "inputs" / f"{call.check}.npz", **call.inputs)
            plan["checks"][call.check] = {"probe": call.probe, "needs": list(call.needs)}
        (job / "plan.json").write_text(json.dumps(plan))
        _readable(job)
        view = sandbox.View(read_only=(job,))
        timeouts = {c.check: c.timeout_s for c in calls}
        pending = [c.check for c in calls]
        restarts = 0
        while pending:
            scratch = Path(tempfile.mkdtemp(dir=tmp, prefix="scratch-"))
            attempt = _run_once(job, pending, sorted(run.load_errors), box, limits, view, scratch, threads,
                                timeouts, max_output_mb << 20)
            run.outcomes.update(attempt.outcomes)
            run.load_errors.update(attempt.load_errors)
            if attempt.import_error is not None:
                run.import_error = attempt.import_error
                break
            if not attempt.loaded and attempt.loading is not None and restarts < LOAD_RESTARTS:
                # a statement hung or ended the process: record it, and load the rest without it
                run.load_errors[attempt.loading] = ProbeOutcome(
                    error=attempt.stopped or "your code ended the process (os._exit, sys.exit or a crash)")
                restarts += 1
                continue
            pending = [c for c in pending if c not in run.outcomes]
            if not pending:
                break
            if attempt.running is None:  # died before starting anything: loading the student's code
                run.import_error = ProbeOutcome(error=attempt.stopped or "the process running your code exited")
                break
            run.outcomes[attempt.running] = ProbeOutcome(
                error=attempt.stopped or "your code ended the process (os._exit, sys.exit or a crash)")
            pending.remove(attempt.running)
    for call in calls:
        run.outcomes.setdefault(call.check, ProbeOutcome(error="not run: your code could not be imported"))
    run.seconds = time.monotonic() - started
    return run


def _readable(folder: Path) -> None:
    """The sandbox's unprivileged uid reads the job folder (temporary folders are 0700)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _run_once(job: Path, checks: list[str], skip: list[int], box: sandbox.Sandbox, limits: sandbox.Limits,
              view: sandbox.View, scratch: Path, threads: int, timeouts: dict[str, float], max_bytes: int) -> _Attempt:
    """Run the runner on `checks`, without the statements `skip`, until it finishes, overstays a
    limit or ends; collect what it sent."""
    attempt = _Attempt()
    read_end, write_end = os.pipe()
    argv = box.command([sys.executable, "-I", str(job / "probe_runner.py"), str(job), str(write_end),
                        ",".join(map(str, skip)) or "-", *checks], limits, view, scratch)
    stderr = sandbox.Head()
    try:
        proc = subprocess.Popen(argv, cwd=scratch, env=box.env(scratch, threads), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr.write_end,
                                pass_fds=(write_end,), start_new_session=True)
    finally:
        os.close(write_end)
        stderr.close_writer()
    stream = _Stream(read_end, max_bytes)
    since, exit_code = time.monotonic(), None
    try:
        while True:
            exited = proc.poll() is not None
            for header, payload in stream.read(0.05):
                event, check, index = header.get("event"), header.get("check"), header.get("statement")
                if event == "import_error":
                    attempt.import_error = _error_outcome(header)
                elif event == "loaded":
                    attempt.loaded, attempt.loading, since = True, None, time.monotonic()
                elif event in ("loading", "statement_error"):
                    if attempt.loaded or type(index) is not int:
                        continue  # not from loading (student code writing to the pipe): ignore it
                    attempt.loading = index
                    if event == "statement_error":
                        attempt.load_errors[index] = _error_outcome(header)
                elif check not in timeouts:
                    continue  # not a probe of this run: ignore it
                elif event == "started":
                    attempt.running, since = check, time.monotonic()
                elif event in ("done", "error") and check == attempt.running:
                    outcome = _npz_outcome(payload) if event == "done" else _error_outcome(header)
                    outcome.seconds = time.monotonic() - since
                    attempt.outcomes[check], attempt.running, since = outcome, None, time.monotonic()
            if stream.problem:
                attempt.stopped = stream.problem
                break
            if attempt.import_error or attempt.outcomes.keys() >= set(checks):
                break
            if exited and not stream.fresh:  # gone, and everything it wrote has been read
                exit_code = proc.returncode
                break
            limit = timeouts[attempt.running] if attempt.running else IMPORT_TIMEOUT_S
            if time.monotonic() - since > limit:
                attempt.stopped = (f"stopped after {limit:.0f} s: too slow or never ends" if attempt.running
                                   else f"loading your code took longer than {IMPORT_TIMEOUT_S} s")
                break
    finally:
        _kill(proc)
        os.close(read_end)
    if attempt.stopped is None and exit_code:
        reason, said = box.exit_reason(exit_code), stderr.last_line()
        attempt.stopped = (f"your code's process was {reason}" if not reason.startswith("exited")
                           else f"your code ended the process ({reason}: os._exit, sys.exit or a crash)")
        attempt.stopped += f"; it last wrote: {said}" if said else ""
    return attempt


class _Stream:
    """Messages from the runner: JSON lines, some followed by a payload of the size they give.
    More than `max_bytes` in all, or a line that is not JSON, ends the run with `problem`."""

    def __init__(self, fd: int, max_bytes: int):
        self.fd, self.max_bytes = fd, max_bytes
        self.buffer, self.total, self.closed, self.fresh, self.problem = bytearray(), 0, False, False, ""
        self._header: dict | None = None

    def read(self, wait_s: float) -> list[tuple[dict, bytes]]:
        """Whatever complete messages arrive within `wait_s`; `fresh` says if any bytes did."""
        self.fresh = False
        if not self.closed and select.select([self.fd], [], [], wait_s)[0]:
            chunk = os.read(self.fd, 1 << 20)
            self.closed, self.fresh = not chunk, bool(chunk)
            self.total += len(chunk)
            self.buffer += chunk
            if self.total > self.max_bytes:
                self.problem = f"your code sent back more than {self.max_bytes >> 20} MB of output"
                return []
        elif self.closed:
            time.sleep(wait_s)
        return self._messages()

    def _messages(self) -> list[tuple[dict, bytes]]:
        messages = []
        while True:
            if self._header is None:
                end = self.buffer.find(b"\n")
                if end < 0:
                    return messages
                try:
                    header = json.loads(self.buffer[:end])
                    if not isinstance(header, dict):
                        raise ValueError("not an object")
                    size = int(header.get("bytes", 0))
                except ValueError:
                    self.problem = "the process running your code wrote something that is not a probe result"
                    return messages
                del self.buffer[:end + 1]
                self._header = {**header, "bytes": max(0, size)}
            size = self._header["bytes"]
            if len(self.buffer) < size:
                return messages
            messages.append((self._header, bytes(self.buffer[:size])))
            del self.buffer[:size]
            self._header = None


def _kill(proc: subprocess.Popen) -> None:
    """Stop the whole process group (the sandbox with everything in it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _error_outcome(header: dict) -> ProbeOutcome:
    traceback = header.get("traceback")
    return ProbeOutcome(error=str(header.get("error"))[:500], traceback=str(traceback)[-4000:] if traceback else None)


def _npz_outcome(payload: bytes) -> ProbeOutcome:
    """Plain arrays from an .npz sent by the student's process, or why they cannot be read."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            declared = sum(info.file_size for info in archive.infolist())
        if declared > 4 * len(payload) + (1 << 20):
            return ProbeOutcome(error="unreadable output (a compressed archive that expands too much)")
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            outputs = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - a malformed file is the student's process's doing
        return ProbeOutcome(error=f"unreadable output ({type(exc).__name__}: {str(exc)[:200]})")
    odd = [k for k, v in outputs.items() if v.dtype.kind not in ARRAY_KINDS]
    if odd:
        return ProbeOutcome(error=f"unreadable output: {odd[0]} is not numbers (dtype {outputs[odd[0]].dtype})")
    return ProbeOutcome(outputs=outputs)
