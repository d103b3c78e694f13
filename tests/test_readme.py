"""The README's first commands, run as written on a clone of the repository: a newcomer who
clones the project anywhere grades the examples with nothing from outside the clone."""
from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def readme_grade_commands() -> list[str]:
    """The `make grade` lines of the README's first shell block, comments dropped."""
    block = re.search(r"## First commands\s+```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README.md has no '## First commands' shell block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.startswith("make grade")]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clone of the committed repository, sharing this test run's environment: its `.venv` is a
    link to ours, older than its pyproject.toml so that make does not install again."""
    where = tmp_path_factory.mktemp("newcomer") / "nngrader"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(where)], check=True)
    (where / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    installed = Path(sys.prefix) / ".installed"
    if installed.exists():
        old = installed.stat().st_mtime - 1
        os.utime(where / "pyproject.toml", (old, old))
    return where


def totals(out: Path) -> dict[str, float]:
    return {p.parent.name: json.loads(p.read_text())["total"] for p in out.glob("*/result.json")}


def test_the_readme_commands_grade_the_examples(clone):
    commands = readme_grade_commands()
    assert len(commands) == 4 and all("examples/" in c for c in commands)
    # all at once, as four TAs of a course might: each writes its own OUT, the cache is shared
    running = {command: subprocess.Popen(shlex.split(command), cwd=clone, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True) for command in commands}
    outs = {}
    for command, proc in running.items():
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{command}\n{stdout[-3000:]}\n{stderr[-3000:]}"
        out = re.search(r"OUT=(\S+)", command)
        outs[command.split()[2].split("=")[1]] = clone / (out.group(1) if out else "grades")
    assert totals(outs["examples/cifar10_fcnet"]) == {"student_004": 48}
    assert totals(outs["examples/nnfs_sgd_momentum"]) == {"student_000": 100}
    assert totals(outs["examples/canvas/submissions.zip"]) == {"101": 90, "102": 48}
    assert totals(outs["examples/moodle"]) == {"301": 90, "302": 48}
    with open(outs["examples/canvas/submissions.zip"] / "canvas.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][-1].endswith("(5566)")      # the column of the gradebook export given as the roster
    assert {row[0]: row[-1] for row in rows[2:]} == {"Lee, Ann": "90.0", "Park, Kim": "48.0", "Ng, Amy": ""}
