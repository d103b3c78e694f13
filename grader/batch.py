"""A batch: which submissions need grading and which only re-scoring, then an executor grades
the first (executors.py) while their results are recorded as they arrive.
"""
from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from . import assignment as assignments, datasets, executors
from . import rubric as rubric_mod
from .discover import Submission, folder_name
from .pipeline import Job, finish, stage_keys
from .results import Result, result_path, student_dir
from .write import read_json


def grade_batch(subs: list[Submission], job: Job, jobs: int, force: bool | set[str],
                progress: Callable[[int, int, dict, bool], None],
                overrides: dict[str, list[dict]] | None = None, recheck: bool = False,
                scheduler: str | None = None) -> list[dict]:
    """Grade what is not graded yet, with an executor (worker processes here, or a Dask cluster
    with a `scheduler`); re-score the rest here (points, late policy, overrides), rewriting only
    what changed. `force` regrades everything, or the given students, from scratch; `recheck`
    judges everyone again, executing only what changed."""
    a = assignments.load(job.assignment_id, job.rubric_path)
    ds = datasets.for_assignment(a.dataset_kind, job.data_spec)
    overrides = overrides or {}
    results, todo, forced_todo = [], [], []

    def record(result: dict, cached: bool = False) -> None:
        results.append(result)
        progress(len(results), len(subs), result, cached)

    for sub in subs:
        named = {sub.student, folder_name(sub.student)}   # `regrade --student` takes the id or its folder's name
        forced = force is True or (isinstance(force, set) and not force.isdisjoint(named))
        prior = None if forced or recheck else read_json(result_path(job.out, sub.student))
        keys = stage_keys(sub.sha256(), job, a, ds)
        kept = None
        if prior is not None and prior.get("keys") == keys and not prior.get("grader_error"):
            kept = _rescored(prior, sub, a, job, overrides.get(sub.student, []))
        if kept is not None:
            record(kept, cached=True)
        elif forced:
            (student_dir(job.out, sub.student) / "execution.json").unlink(missing_ok=True)
            forced_todo.append(sub)
        else:
            todo.append(sub)
    _remove_leftovers(job.out)
    executor = executors.executor(jobs, scheduler)
    for group, group_job in ((todo, job), (forced_todo, replace(job, reuse_probes=False))):   # forced: nothing reused
        if group:
            executor.grade(group, group_job, record, overrides)
    return results


def _rescored(prior: dict, sub: Submission, a, job: Job, overrides: list[dict]) -> dict | None:
    """A kept result under the current points, late policy, overrides and student details;
    written again (with its reports) only when that changes it. None: the stored file is not a
    result this grader wrote (edited by hand?): it is graded again."""
    try:
        result = Result.from_json({**copy.deepcopy(prior), "student_info": sub.info,
                                   "late_input": {"marked": sub.late, "submitted_at": sub.submitted_at}})
    except (TypeError, ValueError):
        return None
    result = rubric_mod.rescore(result, a, overrides)
    return prior if result.to_json() == prior else finish(result, a, job, overrides)


def _remove_leftovers(out: Path, older_than_s: float = 60) -> None:
    """Temporary files of a grader that was killed while writing: never read, removed here."""
    cutoff = time.time() - older_than_s
    for path in [*out.glob(".*.tmp"), *out.glob("*/.*.tmp")]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass
