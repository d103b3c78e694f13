"""Grade one uploaded notebook as a course platform's autograder (Gradescope, PrairieLearn).

Both platforms start their grader as root in a container made for one submission, where
bubblewrap may not get its namespaces. Student code must still run as an unprivileged uid that
cannot read the grader's source (the reference, the rubric, the checks), the hidden test labels
or what the platform keeps beside the upload, and cannot write the results. This module does
what is common to both: find the one notebook, set the container's permissions so, grade it with
the engine (`pipeline.grade_one`, as a batch grades) and hand back what the student may see
(`report.student_view`). gradescope.py and prairielearn.py turn that into each platform's JSON.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import assignment as assignments, datasets, execute, executors, pipeline, report, sandbox
from .discover import Submission
from .errors import SetupError
from .write import write_atomic

SKIPPED_PARTS = ("__MACOSX", ".ipynb_checkpoints")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")   # Gradescope's


@dataclass(frozen=True)
class Upload:
    notebook: Path | None   # the one notebook to grade
    problem: str = ""       # why there is none: said to the student


@dataclass
class Graded:
    result: dict            # report.student_view of the engine's result
    assignment: assignments.Assignment


def find_notebook(folder: Path) -> Upload:
    """The one .ipynb file of an upload, whatever its name and however deep; none or several is
    a problem in words, naming what was there."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                   and not any(part.startswith(".") or part in SKIPPED_PARTS
                               for part in p.relative_to(folder).parts))
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    if len(notebooks) == 1:
        return Upload(notebooks[0])
    names = ", ".join(str(p.relative_to(folder)) for p in (notebooks or files)[:20])
    if not notebooks:
        found = f"it holds {names}" if files else "it is empty"
        return Upload(None, f"No notebook (.ipynb file) was found in your submission: {found}. "
                            "Submit your notebook, as one .ipynb file.")
    return Upload(None, f"Your submission holds {len(notebooks)} notebooks ({names}): submit exactly one "
                        ".ipynb file, the one to grade.")


def lock_down(root: Path, upload: str, results: str, source: Path, cache: Path, readable: tuple[Path, ...]) -> None:
    """As root, before any student code runs: nothing of the platform's folder `root` but the
    upload stays open to other users (the results folder only to read: the platform may read it
    as another user; results are written once student code is gone), nor anything of the
    grader's `source` tree or data `cache`, except the way to what student processes must read:
    the kernel's start-up hook and the data set's `readable` folders (its public part, its
    provider's kernel hook). Folders on the way are made enterable, not listable (0711)."""
    for entry in root.iterdir():
        if entry.name == results and entry.is_dir() and not entry.is_symlink():
            entry.chmod(0o755)
        elif entry.name != upload and not entry.is_symlink():
            entry.chmod(stat.S_IMODE(entry.stat().st_mode) & 0o700)
    for tree in (source, cache):
        _close_tree(tree)
    for folder in (execute.KERNEL_SITE, *readable):
        _open_path(folder, source if source in folder.parents else cache)


def _close_tree(top: Path) -> None:
    for folder, dirs, files in os.walk(top):
        for name in [".", *dirs, *files]:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & 0o700)


def _open_path(target: Path, top: Path) -> None:
    """`target` (a folder under `top`) readable by others, and the folders from `top` down to it
    enterable by them."""
    for folder in [top, *[p for p in target.parents if top in p.parents]]:
        folder.chmod(0o711)
    for folder, dirs, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def grade(root: Path, upload: str, results: str, assignment_id: str, data: str | None,
          sandbox_mode: str) -> Graded | Upload:
    """Grade the one notebook under the platform's folder `root`/`upload`, as its root user; an
    Upload (with its problem) when there is no single notebook to grade. The caller writes the
    results into `root`/`results` (with `write_results`) once this returns."""
    upload_dir = root / upload
    found = find_notebook(upload_dir)
    if found.notebook is None:   # nothing of the student's will run
        return found
    if os.getuid() == 0:
        os.umask(0o077)   # what the grader writes from here on (results, memo, temporary files) is its own
    box, warning = sandbox.choose(sandbox_mode)
    if warning:
        print(warning, flush=True)   # the platform's log, for the staff
    a = assignments.load(assignment_id)
    ds = datasets.for_assignment(a.dataset_kind, data)
    # under bwrap none of this is in the sandbox's view; without it, file permissions are all there is
    if os.getuid() == 0 and box.mode == sandbox.RLIMITS:
        lock_down(root, upload, results, assignments.REPO, datasets.cache_root(), ds.readable)
        blockers = sandbox.rlimits_uid_blockers([execute.KERNEL_SITE, *ds.readable])
        if blockers:
            raise SetupError("student code would run as root, because its unprivileged uid cannot read "
                             f"{', '.join(map(str, blockers))}: install Python and its packages where every "
                             "user can read them (setup.sh does), or run where bubblewrap works")
    print(f"grading {found.notebook} as {a.id}, sandbox {box.mode}", flush=True)
    out = Path(tempfile.mkdtemp(prefix="nngrader-out-"))   # 0700: the uid never sees the result
    try:
        job = pipeline.Job(a.id, None, data, out, datasets.cache_root(), executors.cores(), box)
        result = pipeline.grade_one(Submission("submission", found.notebook, upload_dir), job)
    finally:
        sandbox.end_leftovers()
        shutil.rmtree(out, ignore_errors=True)
    return Graded(report.student_view(result), a)


def write_results(path: Path, results: dict) -> None:
    """The platform's results file, readable by the platform whichever user it reads it as: by
    now no student process is left to read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(results, indent=1))
    path.chmod(0o644)


def visible_checks(graded: Graded) -> list[dict]:
    """The checks a platform without per-test visibility may show: the rubric's `visibility`
    left at "visible"."""
    return [c for c in graded.result["checks"] if visibility(graded.assignment, c["id"]) == "visible"]



def visibility(a: assignments.Assignment, check_id: str) -> str:
    value = a.check_rubric(check_id).get("visibility", "visible")
    if value not in VISIBILITIES:
        raise SetupError(f"{a.rubric_path}: checks.{check_id}.visibility = {value!r}: "
                         f"expected one of {', '.join(VISIBILITIES)}")
    return value


def execution_lines(result: dict) -> list[str]:
    """How the notebook ran, in plain lines for the student: status, its own errors, what it
    imported that the kernel lacks, the hyperparameters graded."""
    lines = []
    nb = result.get("notebook") or {}
    if nb.get("problem"):
        lines.append(f"This file could not be graded: {nb['problem']}")
    if nb.get("note"):
        lines.append(f"Note: {nb['note']}")
    ran = result.get("execution") or {}
    lines.append(f"Running the notebook: {ran.get('status', '?')}: {ran.get('message', '')}".rstrip(": "))
    if ran.get("note"):
        lines.append(ran["note"])
    lines += [m["note"] for m in ran.get("missing_modules") or []]
    for e in ran.get("errors") or []:
        lines.append(f"code cell {e['cell']}: {e['ename']}: {e['evalue']}")
    hp = result.get("hyperparams") or {}
    if hp.get("values"):
        lines.append("Hyperparameters graded: " + ", ".join(f"{k} = {v}" for k, v in hp["values"].items()))
    return lines


def check_text(check: dict) -> str:
    """A check's findings beyond its message, as plain text (student view: no reference values)."""
    d = check.get("details") or {}
    lines = []
    for name, p in (d.get("per_parameter") or {}).items():
        errors = ", ".join(f"{label} {p[key]:.2g}" for key, label in (("rel_error_vs_reference", "rel. error vs reference"),
                                                                    ("rel_error_vs_numerical", "vs numerical"))
                           if isinstance(p.get(key), (int, float)))
        lines.append(f"{name}: {report.STATUS_LABEL.get(p.get('status'), p.get('status'))}" + (f" ({errors})" if errors else ""))
    if isinstance(d.get("max_rel_error"), (int, float)) and check["status"] != "pass":
        lines.append(f"max relative error {d['max_rel_error']:.3g}" + (f" at {d['where']}" if "where" in d else "")
                     + (f" (case {d['case']})" if "case" in d else ""))
    if d.get("got_slice") is not None:
        lines += ["your output (first rows):", *map(str, d["got_slice"])]
    if d.get("accuracies"):
        lines.append("accuracies: " + ", ".join(f"{a:.3f}" for a in d["accuracies"] if isinstance(a, (int, float))))
    if d.get("traceback"):
        lines += ["traceback:", str(d["traceback"])]
    return "\n".join(lines)

