"""The grader's own work is bounded (grader/bounded.py): a child process under memory and time
limits for reference training, plain numbers only as settings, and workers that die with the
grader even when stuck in C code holding the interpreter lock."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grader import bounded

REPO = Path(__file__).resolve().parent.parent


def test_a_bounded_run_returns_its_value_and_stops_at_each_limit():
    done = bounded.run(lambda: {"sum": float(np.arange(10).sum())}, memory_mb=256, seconds=30)
    assert (done.value, done.over, done.error) == ({"sum": 45.0}, None, None)
    started = time.monotonic()
    done = bounded.run(lambda: {"n": np.ones((1 << 30,)).size}, memory_mb=256, seconds=30)   # 8 GB
    assert (done.value, done.over) == (None, "memory") and done.peak_rss_mb < 2048
    done = bounded.run(lambda: {"n": sum(range(10**12))}, memory_mb=256, seconds=2)
    assert (done.value, done.over) == (None, "time") and time.monotonic() - started < 20
    done = bounded.run(lambda: {"n": 1 / 0}, memory_mb=256, seconds=30)
    assert done.over is None and "ZeroDivisionError" in done.error


def test_plain_numbers_only():
    assert bounded.plain_number(3) == (3.0, "") and bounded.plain_number(0.5) == (0.5, "")
    for value, says in ((10**400, "an integer of about 401 digits is too large"), (True, "True is not a number"),
                        ("1e3", "'1e3' is not a number"), (float("-inf"), "-inf is not a finite number"),
                        (None, "None is not a number"), ("x" * 10**6, "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' is not")):
        number, problem = bounded.plain_number(value)
        assert number is None and problem.startswith(says)


def test_die_with_parent_leaves_at_once_when_the_parent_is_already_gone():
    code = "from grader.bounded import die_with_parent; die_with_parent(1); print('still here')"
    gone = subprocess.run([sys.executable, "-c", code.replace("(1)", "(999999999)")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert (gone.returncode, gone.stdout) == (1, "")
    code = "import os; from grader.bounded import die_with_parent; die_with_parent(os.getppid()); print('still here')"
    kept = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (kept.returncode, kept.stdout.strip()) == (0, "still here")


GRADER = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from grader import executors
pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=executors.worker_init, initargs=(1,))
print(pool.submit(os.getpid).result(), flush=True)
pool.submit(pow, 9, 10**9)          # C code that holds the interpreter lock for hours
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_a_worker_stuck_in_c_code_dies_with_the_grader():
    grader = subprocess.Popen([sys.executable, "-c", GRADER], cwd=REPO, stdout=subprocess.PIPE, text=True)
    worker = int(grader.stdout.readline())
    time.sleep(1.5)                      # the worker is now inside pow(), holding the GIL
    assert _alive(worker)
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    survived = _alive(worker)
    if survived:
        os.kill(worker, signal.SIGKILL)
    assert not survived, "the worker outlived the grader"
