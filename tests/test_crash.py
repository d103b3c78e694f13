"""kill -9 of the grader in the middle of a batch, then the same command again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process on the machine."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def descendants(pid: int) -> set[int]:
    table, found, todo = processes(), set(), [pid]
    while todo:
        parent = todo.pop()
        children = {p for p, (ppid, _) in table.items() if ppid == parent}
        todo.extend(children - found)
        found |= children
    return found


def alive(pids: set[int]) -> set[int]:
    table = processes()
    return {p for p in pids if p in table and table[p][1] != "Z"}


def test_kill_9_mid_batch_then_the_same_command_finishes_the_rest(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    names = [f"s{i}" for i in range(6)]
    for i, name in enumerate(names):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"import time  # {i}\ntime.sleep(3)")])
        nbformat.write(nb, subs / f"{name}.ipynb")
    argv = [sys.executable, "-m", "grader", "grade", str(subs), "--assignment", "cifar10_fcnet", "--out", str(out), "-j", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    grader = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/result.json")):
        assert time.monotonic() < deadline and grader.poll() is None, "no result appeared"
        time.sleep(0.1)
    tree = descendants(grader.pid)       # its workers, their sandboxes and kernels
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    deadline = time.monotonic() + 20
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(tree), "processes of the killed grader are still running"

    kept = {p.parent.name: p.read_bytes() for p in out.glob("*/result.json")}
    assert 0 < len(kept) < len(names)
    for data in kept.values():
        assert json.loads(data)["keys"]      # complete, valid results only
    torn = next(n for n in names if n not in kept)  # as if a write had been cut short
    (out / torn).mkdir(exist_ok=True)
    (out / torn / "result.json").write_text('{"schema": 1, "student": "' + torn + '", "tot')
    leftover = out / kept.__iter__().__next__() / ".result.json.x1y2.tmp"
    leftover.write_text("{")
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))

    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    cached = {line.split()[1] for line in again.stdout.splitlines() if line.endswith("(cached)")}
    assert cached == set(kept)                   # not recomputed ...
    for name, data in kept.items():
        assert (out / name / "result.json").read_bytes() == data   # ... and not rewritten
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    assert set(results) == set(names) and all(r["keys"] for r in results.values())
    assert results[torn]["execution"]["status"] == "ok"
    assert not leftover.exists()
