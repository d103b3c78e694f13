"""Execute a student's notebook headlessly in a fresh, sandboxed kernel.

Later cells still run after a failing one; a cell over its time limit is interrupted; the
whole notebook has its own limit; a kernel that dies or stops answering ends the run with a
reason. Right after the assignment's marked cell, the values of the names it asks for are
read from the kernel (so values chosen by a search loop count). The executed notebook is
kept for the TA, with each cell's output capped while it runs.

The kernel runs in the sandbox and talks to nbclient over ZeroMQ ipc sockets in a folder
both sides see (the sandbox has no network); the grader caps the size of every message it
accepts and of that folder. Interrupts go as messages on the control channel: a signal
would reach bwrap, not the cell.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import zmq
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, DeadKernelError
from nbclient.util import ensure_async

from . import sandbox

KERNEL_SITE = Path(__file__).with_name("kernel_site")
CAPTURE_TAG = "NNGRADER-CAPTURE:"
MAX_MESSAGE_BYTES = 32 << 20    # one message from the kernel, all its frames (a figure fits; a flood does not)
MAX_MESSAGE_FRAMES = 64         # frames of one message (a comm message's binary buffers are frames)
OUTPUT_OVERHEAD = 100           # what one kept output costs beyond its text, counted against the caps
DROPPED = "nngrader_dropped"    # the grader's stand-in for a message it read but did not keep
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
    fingerprints: dict | None = None   # what the kernel held after the last cell (provenance.py)
    ran_cells: list[int] = field(default_factory=list)   # code cells the kernel ran to their end (a reply came)
    probed: dict | None = None     # what the assignment's kernel probe returned
    kernel_start_s: float = 0.0    # until the kernel answered
    data_load_s: float | None = None   # inside load_data(), as the kernel's start-up hook counted it
    peak_rss_mb: int | None = None     # the kernel's own peak resident memory


@dataclass(frozen=True)
class ExecSpec:
    cell_timeout_s: float
    notebook_timeout_s: float
    box: sandbox.Sandbox
    limits: sandbox.Limits
    threads: int = 1
    env: dict | None = None        # data-set variables for the kernel
    data_dirs: tuple[Path, ...] = ()   # what the kernel may read besides its own files
    capture_cell: int | None = None
    capture_names: tuple[str, ...] = ()
    kernel_probe: str | None = None    # an assignment's `probe(namespace) -> dict`, run after the marked cell
    kernel_probe_timeout_s: float = 120
    workdir_source: Path | None = None  # a per-student folder: its files are copied next to the notebook
    output_chars: int = 100_000    # printed output kept per cell
    notebook_output_chars: int = 1_000_000   # output kept over the whole notebook
    shared_mb: int = 16            # what the kernel may write into the socket folder
    fingerprint_names: tuple[str, ...] = ()   # names whose code the kernel reports after the last cell


class _SandboxedKernelManager(AsyncKernelManager):
    """The kernel command, started through the sandbox; its client caps message sizes."""
    box: sandbox.Sandbox
    limits: sandbox.Limits
    view: sandbox.View
    scratch: Path

    def format_kernel_cmd(self, extra_arguments=None):
        self.kernel_spec.interrupt_mode = "message"
        return self.box.command(super().format_kernel_cmd(extra_arguments), self.limits, self.view, self.scratch)

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        kc.context.setsockopt(zmq.RCVHWM, 8)   # whole messages queued unread for the grader; the kernel drops more
        kc.iopub_channel_class = kc.shell_channel_class = _BoundedChannel
        return kc


class _BoundedChannel(AsyncZMQSocketChannel):
    """Reads a message frame by frame and keeps it only while it stays under MAX_MESSAGE_BYTES
    and MAX_MESSAGE_FRAMES (ZeroMQ bounds each frame, not how many frames a message has).
    Comm messages (widgets) are never decoded: the grader keeps no widget state. What is not
    kept, or cannot be decoded, becomes a small DROPPED stand-in that says why and how big."""

    async def _recv(self, **kwargs):
        frames, size, more = [], 0, True
        while more:
            frame = await self.socket.recv(copy=False)
            more = frame.more
            size += len(frame.buffer)
            if frames is not None:
                frames.append(frame.bytes)
                if size > MAX_MESSAGE_BYTES or len(frames) > MAX_MESSAGE_FRAMES:
                    frames = None
        if frames is None:
            return _stand_in({}, size, f"a message of {size:,} bytes from the kernel was not read (over the limit)")
        try:
            _, parts = self.session.feed_identities(frames)
            header, parent = (self.session.unpack(p) if len(p) < 65536 else None for p in parts[1:3])
            if isinstance(header, dict) and str(header.get("msg_type")) in _COMM:
                return _stand_in(parent, size, "")
            msg = self.session.deserialize(parts)
        except Exception as exc:  # noqa: BLE001 - whatever the kernel sends, the grader reads on
            return _stand_in({}, size, f"a malformed message from the kernel was ignored ({type(exc).__name__})")
        if not isinstance(msg.get("parent_header"), dict) or not isinstance(msg.get("content"), dict):
            return _stand_in({}, size, f"a malformed {str(msg.get('msg_type'))[:40]!r} message from the kernel "
                                       "was ignored")
        msg["nngrader_bytes"] = size
        return msg


_COMM = {"comm_open", "comm_msg", "comm_close"}


def _stand_in(parent, size: int, why: str) -> dict:
    return {"msg_type": DROPPED, "header": {"msg_type": DROPPED},
            "parent_header": parent if isinstance(parent, dict) else {}, "metadata": {},
            "content": {"why": why, "size": size}, "buffers": [], "nngrader_bytes": size}


class _CappedClient(NotebookClient):
    """Keeps the first `output_chars` of each cell's output as it arrives, and `notebook_chars`
    over the notebook, and counts the rest, so a cell that prints or displays without end costs
    the grader no memory. Every kind of message counts: streams, displays and their updates,
    results, errors (the first one of a cell is always kept, cut short). Comm messages (widgets)
    are read and dropped: the grader keeps no widget state. A message it cannot read (a comm
    message without its fields, a broken header) is noted on the cell and ignored."""
    output_chars = 100_000
    notebook_chars = 1_000_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.store_widget_state = False
        self.kept: dict[int, int] = {}
        self.dropped: dict[int, int] = {}
        self.problems: dict[int, list[str]] = {}
        self.comm: dict[int, list[int]] = {}     # comm messages read and dropped, per cell: count, bytes
        self.total = 0                            # kept over the notebook's own cells
        self.own: int | None = None               # the index of the grader's cell while one runs

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            parent = msg["parent_header"].get("msg_id")
            if msg["msg_type"] == DROPPED:   # counted against the running cell when whose it was is unknown
                if parent in (None, parent_msg_id):
                    self._dropped_message(cell_index, msg["content"]["size"], msg["content"]["why"])
                continue
            if parent != parent_msg_id:
                continue
            try:
                self.process_message(msg, cell, cell_index)
            except CellExecutionComplete:
                return
            except Exception as exc:  # noqa: BLE001 - a message missing its fields: the student's, not ours
                self._drop(cell_index, 0, f"a malformed {str(msg['msg_type'])[:40]!r} message from the kernel "
                                          f"was ignored ({type(exc).__name__}: {str(exc)[:80]})")

    def process_message(self, msg, cell, cell_index):
        kind = msg["msg_type"]
        if kind == "clear_output" and not msg["content"].get("wait"):
            self._release(cell_index)
        elif kind not in ("status", "execute_input", "clear_output", "stream", "error"):
            # displays, their updates, results, and any other kind: the whole message counts before
            # nbclient sees it (an update replaces what a kept output shows: it costs its size again)
            if not self._take(cell_index, _size(msg)):
                return None
        return super().process_message(msg, cell, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        content, kind = msg["content"], msg["msg_type"]
        if self.clear_before_next_output:   # a clear_output(wait=True) before: done here, not in nbclient
            outs[:] = []
            self.clear_display_id_mapping(cell_index)
            self.clear_before_next_output = False
            self._release(cell_index)
        if kind == "error":
            content["ename"] = str(content.get("ename", ""))[:200]
            content["evalue"] = str(content.get("evalue", ""))[:1000]
            content["traceback"] = [str(line)[:2000] for line in list(content.get("traceback") or [])[-40:]]
            first = not any(o.get("output_type") == "error" for o in outs)
            if not self._take(cell_index, _size(msg), force=first):
                return None
        elif kind == "stream":
            text = content.get("text")
            if not isinstance(text, str):
                self._drop(cell_index, 0, "a malformed 'stream' message from the kernel was ignored (no text)")
                return None
            room = self._room(cell_index)
            if len(text) > room:
                self._drop(cell_index, len(text) - max(0, room), "")
                text = text[:max(0, room)]
            if not text:
                return None
            content["text"] = text
            last = outs[-1] if outs else None
            if last is not None and last.get("output_type") == "stream" and last.get("name") == content.get("name"):
                self._count(cell_index, len(text))   # one growing output: a flood of tiny prints stays small
                last["text"] += text
                return last
            self._count(cell_index, len(text) + OUTPUT_OVERHEAD)
        return super().output(outs, msg, display_id, cell_index)

    def _room(self, cell_index: int) -> int:
        cell_room = self.output_chars - self.kept.get(cell_index, 0)
        return cell_room if cell_index == self.own else min(cell_room, self.notebook_chars - self.total)

    def _take(self, cell_index: int, size: int, force: bool = False) -> bool:
        """Count a whole message of `size` against the caps, or drop it when it does not fit."""
        size += OUTPUT_OVERHEAD
        if size > self._room(cell_index) and not force:
            self._drop(cell_index, size, "")
            return False
        self._count(cell_index, size)
        return True

    def _count(self, cell_index: int, size: int) -> None:
        self.kept[cell_index] = self.kept.get(cell_index, 0) + size
        self.total += size if cell_index != self.own else 0

    def _drop(self, cell_index: int, size: int, why: str) -> None:
        self.dropped[cell_index] = self.dropped.get(cell_index, 0) + size
        if why and len(self.problems.setdefault(cell_index, [])) < 5 and why not in self.problems[cell_index]:
            self.problems[cell_index].append(why)

    def _dropped_message(self, cell_index: int, size: int, why: str) -> None:
        if why:
            self._drop(cell_index, 0, why)
        else:   # a comm message: counted apart, it is not output
            count = self.comm.setdefault(cell_index, [0, 0])
            count[0], count[1] = count[0] + 1, count[1] + size

    def _release(self, cell_index: int) -> None:
        """Outputs cleared by clear_output no longer cost memory: their room comes back."""
        self.total -= self.kept.pop(cell_index, 0) if cell_index != self.own else 0

    def notes(self, cell_index: int) -> list[str]:
        """What the grader did not keep of a cell's messages, beyond the output it cut."""
        notes = list(self.problems.get(cell_index, []))
        if cell_index in self.comm:
            count, size = self.comm[cell_index]
            notes.append(f"{count:,} widget (comm) message(s) of {size / 1e6:,.1f} MB were not kept: the grader "
                         "shows no widgets")
        return notes


def _size(msg: dict) -> int:
    """What a message costs to keep: its bytes as read (content, buffers and headers)."""
    return int(msg.get("nngrader_bytes") or len(json.dumps(msg["content"], default=str)))


def _tool_call(tool: str, names) -> str:
    """A grader's cell that calls one of the start-up hook's tools (kernel_site/sitecustomize.py)."""
    return f"__import__('sitecustomize').{tool}({CAPTURE_TAG!r}, {list(names)!r})"


def execute(nb: nbformat.NotebookNode, spec: ExecSpec) -> Execution:
    started = time.monotonic()
    deadline = started + spec.notebook_timeout_s
    errors: list[CellError] = []
    notes: list[str] = []
    unkept: list[str] = []     # messages of the kernel the grader did not keep, per cell
    status = "ok"
    captured, capture_note, probed, fingerprints = None, "the marked cell did not run", None, None
    ran_cells: list[int] = []
    running: int | str = "?"
    with tempfile.TemporaryDirectory(prefix="nngrader-kernel-") as tmp:
        scratch, run = Path(tmp) / "scratch", Path(tmp) / "run"
        scratch.mkdir()
        run.mkdir()
        km = _SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(run / "kernel"))
        km.connection_file = str(run / "kernel.json")
        km.box, km.limits, km.scratch = spec.box, spec.limits, scratch
        km.view = sandbox.View(read_only=(KERNEL_SITE, *spec.data_dirs), shared=(run,),
                               copy_in=spec.workdir_source, copy_ignore=("*.ipynb",))
        env = spec.box.env(scratch, spec.threads, {"PYTHONPATH": str(KERNEL_SITE), **(spec.env or {})})
        client = _CappedClient(
            nb, km=km, kernel_name="python3", timeout=spec.cell_timeout_s, allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=60, iopub_timeout=5,
            record_timing=False, shutdown_kernel="immediate",
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "", "traceback": []},
        )
        client.output_chars, client.notebook_chars = spec.output_chars, spec.notebook_output_chars
        stderr = sandbox.Head()
        watch = sandbox.FolderWatch(run, spec.shared_mb << 20, lambda: getattr(km.provisioner, "pgid", None))
        kernel_start_s, stats = 0.0, {}
        try:
            # cleanup_kc: nbclient leaves alone a kernel whose manager it was given
            with watch, client.setup_kernel(env=env, cwd=str(scratch), stdout=subprocess.DEVNULL,
                                            stderr=stderr.write_end, cleanup_kc=True):
                stderr.close_writer()
                kernel_start_s = time.monotonic() - started
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
                    running, t0 = index, time.monotonic()
                    try:
                        client.execute_cell(cell, index)
                        ran_cells.append(index)
                    except (KeyError, TypeError, AttributeError, ValueError) as exc:   # a forged reply
                        cell.outputs.append(nbformat.v4.new_output("error", ename="MalformedReply", evalue=(
                            f"the kernel's reply to this cell could not be read ({type(exc).__name__})"), traceback=[]))
                    elapsed = time.monotonic() - t0
                    _note_dropped(cell, client.dropped.get(index, 0), client.notes(index))
                    unkept.extend(f"code cell {index}: {why}" for why in client.notes(index))
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
                        if spec.kernel_probe:
                            probed = _kernel_probe(client, spec.kernel_probe, spec.kernel_probe_timeout_s)
                else:
                    if spec.fingerprint_names:
                        fingerprints = _fingerprints(client, spec.fingerprint_names)
                    try:
                        stats = _kernel_stats(client)
                    except Exception:  # noqa: BLE001 - figures only: never the notebook's verdict
                        stats = {}
        except DeadKernelError:
            status = "kernel_died"
            why = watch.tripped or _exit_reason(spec.box, km)
            notes.append(f"the kernel died{f' ({why})' if why else ''} while running code cell "
                         f"{running}; later cells did not run")
        except RuntimeError as exc:
            if "Kernel didn't respond" in str(exc) or "Kernel died" in str(exc):
                status = "not_started" if not errors else "kernel_died"
                said = stderr.last_line()
                notes.append(f"the kernel did not start or answer: {exc}" + (f" ({said})" if said else ""))
            else:
                raise
        finally:
            stderr.close_writer()
            _kill(km)
    if status == "errors" and not notes:
        notes.append(f"{len(errors)} cell(s) raised an error")
    message = "; ".join([("; ".join(notes) if notes else "all cells ran"), *unkept])
    return Execution(status, message, time.monotonic() - started, nb, errors, captured, capture_note, fingerprints,
                     ran_cells, probed, round(kernel_start_s, 2), stats.get("data_load_s"), stats.get("peak_rss_mb"))


def _kill(km: AsyncKernelManager) -> None:
    """Make sure the sandbox is gone, whatever happened to the shutdown: it holds the uid's
    process slots and its memory until then."""
    process = getattr(km.provisioner, "process", None)
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _exit_reason(box: sandbox.Sandbox, km: AsyncKernelManager) -> str:
    process = getattr(km.provisioner, "process", None)
    reason = box.exit_reason(process.poll() if process is not None else None)
    if reason.startswith("exited"):
        return f"the process {reason}: os._exit, sys.exit in a thread, or a crash"
    return reason


def _looks_interrupted(cell, error: CellError | None) -> bool:
    return error is None or error.ename in ("KeyboardInterrupt", "CellTimeoutError")


def _run_own_cell(client: NotebookClient, source: str, timeout: int):
    """Run a cell of the grader's in the kernel, outside the student's notebook: nbclient
    stores an executed cell at its index, so it gets a slot past the end for the time it runs."""
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    client.timeout = timeout
    client.own = len(client.nb.cells) - 1   # its own output room, whatever the notebook printed
    client.kept.pop(client.own, None)
    # silent: IPython runs no pre_run_cell/post_run_cell hooks of the notebook's around it
    client.kc.execute = functools.partial(type(client.kc).execute, client.kc, silent=True)
    try:
        return client.execute_cell(cell, client.own, store_history=False)
    finally:
        del client.kc.execute
        client.nb.cells.pop()
        client.own = None


def _responsive(client: NotebookClient) -> bool:
    t0 = time.monotonic()
    _run_own_cell(client, "pass", 10)
    return time.monotonic() - t0 < 9.5


def _kernel_probe(client: NotebookClient, source: str, timeout: float) -> dict:
    """Run the assignment's kernel probe on the notebook's namespace; what it found, as plain JSON
    (the notebook's own objects never leave the kernel: the grader judges what they computed)."""
    code = f"__import__('sitecustomize').nngrader_probe({CAPTURE_TAG!r}, {source!r})"
    found = _tagged(_run_own_cell(client, code, int(timeout)))
    if found is None:
        return {"error": "the kernel did not answer the grader's probe with a dict (time limit, or its output was cut)"}
    return found


def _tagged(cell) -> dict | None:
    """The JSON object a grader's cell printed after CAPTURE_TAG, or None."""
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    for line in text.splitlines():
        if line.startswith(CAPTURE_TAG):
            try:
                found = json.loads(line[len(CAPTURE_TAG):])
            except (ValueError, RecursionError):   # a forged line: not JSON, or a 5,000-digit integer
                return None
            return found if isinstance(found, dict) else None
    return None


def _capture(client: NotebookClient, names) -> tuple[dict | None, str]:
    found = _tagged(_run_own_cell(client, _tool_call("nngrader_capture", names), 20))
    if found is None:
        return None, "the kernel did not report the values after the marked cell"
    return ({n: plain_number(found[n]) for n in names if n in found},
            "read from the kernel right after the marked cell ran")


def plain_number(value) -> int | float | str:
    """What the grader takes of a captured value: an int under 10**18 or a finite float; anything
    else (the kernel's own reason, or what a forged line holds) becomes a short text that says so."""
    if type(value) is int:
        too_large = f"an integer of about {len(str(abs(value)))} digits: too large"
        return value if -10 ** 18 < value < 10 ** 18 else too_large
    if type(value) is float:
        return value if math.isfinite(value) else f"{value!r}: not a finite number"
    if type(value) is str:
        return value[:120]
    return f"not a plain number: a {type(value).__name__}"


def _fingerprints(client: NotebookClient, names) -> dict | None:
    """After the last cell: the code the kernel holds under each of `names` (provenance.py)."""
    return _tagged(_run_own_cell(client, _tool_call("nngrader_fingerprints", names), 20))


def _kernel_stats(client: NotebookClient) -> dict:
    """Once every cell has run: the time the data set's kernel hooks counted serving data, and the
    kernel's peak memory (its own figures; a student could change them, but they score nothing)."""
    code = ("(lambda r, s: print(" + repr(CAPTURE_TAG) + " + __import__('json').dumps({'data_load_s': sum("
            "getattr(m, 'LOAD_SECONDS', 0.0) for k, m in list(s.modules.items()) if k.startswith('nngrader_hook_')), "
            "'peak_rss_mb': r.getrusage(r.RUSAGE_SELF).ru_maxrss // 1024})))(__import__('resource'), __import__('sys'))")
    cell = _run_own_cell(client, code, 10)
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    try:
        stats = json.loads(text.split(CAPTURE_TAG, 1)[1].splitlines()[0])
        return {"data_load_s": round(float(stats["data_load_s"]), 3) if stats.get("data_load_s") is not None else None,
                "peak_rss_mb": int(stats["peak_rss_mb"])}
    except (IndexError, ValueError, KeyError, TypeError):
        return {}


def _cell_error(index: int, cell) -> CellError | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
            return CellError(index, out.get("ename", ""), str(out.get("evalue", ""))[:1000], tb[-5000:])
    return None


def _note_dropped(cell, dropped: int, notes: list[str]) -> None:
    text = "".join(f"\n[grader] {why}" for why in notes)
    if dropped:
        text += f"\n[grader] output truncated: {dropped:,} more characters not kept"
    if text:
        cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=text + "\n"))
