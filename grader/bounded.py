"""Grader-side work whose cost a submission chooses (reference training with the student's
hyperparameters), run in a child process with a memory and a wall-clock limit: no setting
can cost the grader more than the rubric says, whatever the cost model missed.

The child is a fork of the worker: it has the reference and the memory-mapped data already,
and the same BLAS settings, so it computes the same bits as the worker would. What it sends
back is JSON over a pipe (numbers: nothing to unpickle). Also here: processes that die with
their parent, even when stuck in C code holding the interpreter lock.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Callable

PR_SET_PDEATHSIG = 1
MAX_REPLY_BYTES = 64 << 20


def die_with_parent(expected_parent: int) -> bool:
    """Have Linux send SIGKILL to this process when the thread that started it ends. A signal
    from the kernel needs no Python thread to run, so it also ends a process stuck in C code
    holding the interpreter lock (a huge integer power, a BLAS call). If the parent died before
    the request took effect, nobody would ever send it: leave now instead. False where prctl is
    not available (not Linux); the caller then watches its parent some other way."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != expected_parent:   # the parent was gone before prctl: no signal will come
        os._exit(1)
    return True


@dataclass
class Bounded:
    value: dict | None = None   # what the function returned
    over: str | None = None     # "memory" or "time": a limit was reached
    error: str | None = None    # the child failed otherwise (a grader bug): why
    seconds: float = 0.0
    peak_rss_mb: int = 0        # of the child (pages shared with the worker included)


def address_space_mb() -> int | None:
    """VmSize of this process (Linux), what RLIMIT_AS counts; None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def run(fn: Callable[[], dict], *, memory_mb: int, seconds: float) -> Bounded:
    """fn() in a forked child that may map `memory_mb` more than this process already has, for at
    most `seconds` of wall-clock time (and of CPU time per core). fn returns JSON-able data."""
    base = address_space_mb()
    parent = os.getpid()
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    with warnings.catch_warnings():   # "fork of a multi-threaded process": the child runs numpy code, then _exit
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:   # the child: never returns into the caller's code
        code = 1
        try:
            os.close(read_fd)
            _child(fn, write_fd, parent, None if base is None else base + memory_mb, seconds)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    reply, timed_out = _read_until(read_fd, started + seconds)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    result = Bounded(seconds=round(time.monotonic() - started, 3), peak_rss_mb=int(usage.ru_maxrss // 1024))
    if timed_out or (os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL)):
        result.over = "time"
        return result
    try:
        message = json.loads(reply)
    except ValueError:
        why = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}")
        result.error = f"the training process ended without a result ({why})"
        return result
    result.value, result.over, result.error = message.get("value"), message.get("over"), message.get("error")
    return result


def _child(fn: Callable[[], dict], fd: int, parent: int, limit_mb: int | None, seconds: float) -> None:
    die_with_parent(parent)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = int(seconds * max(1, os.cpu_count() or 1)) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if limit_mb is not None:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        limit = limit_mb << 20 if hard == resource.RLIM_INFINITY else min(limit_mb << 20, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        message = {"value": fn()}
    except MemoryError:
        message = {"over": "memory"}
    except Exception:  # noqa: BLE001 - reported to the caller, which decides
        message = {"error": traceback.format_exc(limit=-8)}
    data = json.dumps(message).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)


def _read_until(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything the child writes until it closes the pipe; (data, True) at the deadline."""
    chunks, size = [], 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(chunks), True
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), False
            size += len(chunk)
            if size <= MAX_REPLY_BYTES:
                chunks.append(chunk)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- settings a submission chooses

def shown(value) -> str:
    """A value in a few characters: a 5,000-digit integer has no repr within Python's limit, and a
    megabyte string has no place in a message."""
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    if type(value) in (int, float, bool) or value is None:
        return repr(value)
    if type(value) is str:
        return repr(value[:30] + "…") if len(value) > 30 else repr(value)
    return f"a {type(value).__name__}"


def plain_number(value) -> tuple[float | None, str]:
    """A setting as a finite float, or why it is not one. Only exact builtin ints and floats count
    (not bool, not str); ints beyond float's range are refused before anything converts them."""
    if type(value) is str and value.startswith("not a plain number"):   # what the kernel's capture said
        return None, value[:300]
    if type(value) not in (int, float):
        return None, f"{shown(value)} is not a number"
    if type(value) is int and value.bit_length() > 1000:
        return None, f"{shown(value)} is too large"
    number = float(value)
    if not (number == number and abs(number) != float("inf")):
        return None, f"{shown(value)} is not a finite number"
    return number, ""
