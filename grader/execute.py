"""Execute a student's notebook headlessly in a fresh, sandboxed kernel.

Later cells still run after a failing one; a cell over its time limit is interrupted; the
whole notebook has its own limit; a kernel that dies or stops answering ends the run with a
reason. Right after the assignment's marked cell, the values of the names it asks for are
read from the kernel (so values chosen by a search loop count). The executed notebook is
kept for the TA.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from . import sandbox

KERNEL_SITE = Path(__file__).with_name("kernel_site")
CAPTURE_TAG = "NNGRADER-CAPTURE:"
MAX_STREAM_CHARS = 100_000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class CellError:
    cell: int
    ename: str
    evalue: str
    traceback: str


@dataclass
class Execution:
    status: str                    # ok | errors | timeout | kernel_died | not_started
    message: str
    seconds: float
    notebook: nbformat.NotebookNode
    errors: list[CellError] = field(default_factory=list)
    captured: dict | None = None   # names -> values right after the marked cell
    capture_note: str = ""


@dataclass(frozen=True)
class ExecSpec:
    cell_timeout_s: float
    notebook_timeout_s: float
    limits: sandbox.Limits
    threads: int = 1
    env: dict | None = None        # data-set variables for the kernel
    capture_cell: int | None = None
    capture_names: tuple[str, ...] = ()
    workdir_source: Path | None = None  # a per-student folder: its files are copied next to the notebook


class _SandboxedKernelManager(AsyncKernelManager):
    """The kernel command, started through the sandbox."""
    sandbox_limits: sandbox.Limits | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        return sandbox.wrap(super().format_kernel_cmd(extra_arguments), self.sandbox_limits)


def _capture_code(names) -> str:
    return (
        "(lambda g, j: print(" + repr(CAPTURE_TAG) + " + j.dumps({n: (g[n] if type(g[n]) in (int, float, bool) "
        "else float(g[n]) if hasattr(g[n], '__float__') else repr(g[n])[:80]) for n in " + repr(list(names)) +
        " if n in g})))(globals(), __import__('json'))"
    )


def execute(nb: nbformat.NotebookNode, spec: ExecSpec) -> Execution:
    started = time.monotonic()
    deadline = started + spec.notebook_timeout_s
    errors: list[CellError] = []
    notes: list[str] = []
    status = "ok"
    captured, capture_note = None, "the marked cell did not run"
    with tempfile.TemporaryDirectory(prefix="nngrader-kernel-") as tmp:
        cwd = Path(tmp) / "work"
        if spec.workdir_source is not None:
            shutil.copytree(spec.workdir_source, cwd, ignore=shutil.ignore_patterns("*.ipynb"))
        else:
            cwd.mkdir()
        env = sandbox.clean_env(Path(tmp) / "home", spec.threads,
                                {"PYTHONPATH": str(KERNEL_SITE), **(spec.env or {})})
        km = _SandboxedKernelManager(kernel_name="python3")
        km.sandbox_limits = spec.limits
        client = NotebookClient(
            nb, km=km, kernel_name="python3", timeout=spec.cell_timeout_s, allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=60, iopub_timeout=5,
            record_timing=False, shutdown_kernel="immediate",
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "", "traceback": []},
            resources={"metadata": {"path": str(cwd)}},
        )
        try:
            with client.setup_kernel(env=env, cwd=str(cwd), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL):
                for index, cell in enumerate(nb.cells):
                    if cell.get("cell_type") != "code" or not cell.get("source", "").strip():
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 1:
                        status = "timeout"
                        notes.append(f"notebook time limit ({spec.notebook_timeout_s:.0f} s) reached "
                                     f"before code cell {index}; it and later cells did not run")
                        break
                    client.timeout = int(max(1, min(spec.cell_timeout_s, remaining)))
                    t0 = time.monotonic()
                    client.execute_cell(cell, index)
                    elapsed = time.monotonic() - t0
                    _cap_outputs(cell)
                    error = _cell_error(index, cell)
                    timed_out = elapsed >= client.timeout - 0.5 and _looks_interrupted(cell, error)
                    if timed_out:
                        status = "timeout"
                        error = CellError(index, "CellTimeoutError",
                                          f"cell stopped after {client.timeout} s (time limit)", "")
                        notes.append(f"code cell {index} was stopped at its time limit ({client.timeout} s)")
                        cell.outputs.append(nbformat.v4.new_output(
                            "stream", name="stderr", text=f"[grader] {error.evalue}\n"))
                        if not _responsive(client):
                            notes.append(f"code cell {index} ran past its time limit and the kernel "
                                         "did not stop when interrupted; later cells did not run")
                            break
                    if error:
                        errors.append(error)
                        status = status if status != "ok" else "errors"
                    if index == spec.capture_cell:
                        captured, capture_note = _capture(client, spec.capture_names)
        except DeadKernelError:
            status = "kernel_died"
            notes.append(f"the kernel died{_exit_reason(km)} while running code cell "
                         f"{_running_cell(nb)}; later cells did not run")
        except RuntimeError as exc:
            if "Kernel didn't respond" in str(exc) or "Kernel died" in str(exc):
                status = "not_started" if not errors else "kernel_died"
                notes.append(f"the kernel did not start or answer: {exc}")
            else:
                raise
    if status == "errors" and not notes:
        notes.append(f"{len(errors)} cell(s) raised an error")
    message = "; ".join(notes) if notes else "all cells ran"
    return Execution(status, message, time.monotonic() - started, nb, errors, captured, capture_note)


def _running_cell(nb) -> int | str:
    """The last code cell that has an execution count is the one the kernel died in."""
    ran = [i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and c.get("execution_count")]
    return ran[-1] if ran else "?"


def _exit_reason(km: AsyncKernelManager) -> str:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return ""
    if code < 0:
        sig = signal.Signals(-code)
        why = {signal.SIGKILL: "out of memory or over a limit",
               signal.SIGXCPU: "CPU time limit exceeded"}.get(sig, sig.name)
        return f" ({why})"
    return f" (the process exited with code {code}: os._exit, sys.exit in a thread, or a crash)"


def _looks_interrupted(cell, error: CellError | None) -> bool:
    return error is None or error.ename in ("KeyboardInterrupt", "CellTimeoutError")


def _responsive(client: NotebookClient) -> bool:
    probe = nbformat.v4.new_code_cell("pass")
    client.timeout = 10
    t0 = time.monotonic()
    client.execute_cell(probe, -1, store_history=False)
    return time.monotonic() - t0 < 9.5


def _capture(client: NotebookClient, names) -> tuple[dict | None, str]:
    cell = nbformat.v4.new_code_cell(_capture_code(names))
    client.timeout = 20
    client.execute_cell(cell, -1, store_history=False)
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    for line in text.splitlines():
        if line.startswith(CAPTURE_TAG):
            try:
                return json.loads(line[len(CAPTURE_TAG):]), "read from the kernel right after the marked cell ran"
            except json.JSONDecodeError:
                break
    return None, "the kernel did not report the values after the marked cell"


def _cell_error(index: int, cell) -> CellError | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
            return CellError(index, out.get("ename", ""), str(out.get("evalue", ""))[:1000], tb[-5000:])
    return None


def _cap_outputs(cell) -> None:
    """Keep the executed notebook readable: cap each cell's printed text."""
    kept = 0
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            room = max(0, MAX_STREAM_CHARS - kept)
            if len(text) > room:
                out["text"] = text[:room] + f"\n[grader] output truncated ({len(text):,} characters)\n"
            kept += len(out["text"])
