"""Grade one submission end to end, and a batch of them in parallel.

discover -> execute -> extract -> probe -> compare -> score -> write: each step's result is a
plain value, and each student's result is written (atomically) the moment it exists.
"""
from __future__ import annotations

import copy
import json
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import nbformat

from . import __version__, assignment as assignments, datasets, execute, extract, memo, notebook, probe, report
from . import rubric as rubric_mod
from . import sandbox
from .check import ERROR, FAIL, Context, Hyperparams, Verdict
from .discover import Submission
from .write import write_atomic

SCHEMA = 1


@dataclass(frozen=True)
class Job:
    """What every worker needs to grade any submission of the batch."""
    assignment_id: str
    rubric_path: Path | None
    data_spec: str | None
    out: Path
    cache: Path
    threads: int
    seed: int = 0


def result_path(out: Path, student: str) -> Path:
    return out / student / "result.json"


def fingerprint(submission_sha: str, job: Job, assignment_fp: str, dataset_fp: str) -> str:
    return json.dumps([submission_sha, assignment_fp, dataset_fp, __version__, job.seed])


def up_to_date(sub: Submission, job: Job, fp: str) -> dict | None:
    path = result_path(job.out, sub.student)
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("fingerprint") == fp else None


def grade_one(sub: Submission, job: Job) -> dict:
    """Grade one submission and write its result, executed notebook and report."""
    started = time.monotonic()
    a = assignments.load(job.assignment_id, job.rubric_path)
    ds = datasets.resolve(job.data_spec)
    sha = sub.sha256()
    fp = fingerprint(sha, job, a.fingerprint(), ds.fingerprint)
    folder = job.out / sub.student
    folder.mkdir(parents=True, exist_ok=True)
    timing = {"execute": 0.0, "checks": 0.0, "train": 0.0}
    loaded = notebook.load(sub.path.read_bytes())
    execution_info: dict = {"status": "not_run", "message": loaded.problem, "seconds": 0.0, "errors": []}
    hp = Hyperparams({}, "none", "no notebook")
    extraction = extract.Extraction("")
    if loaded.notebook is not None:
        nb = loaded.notebook
        marked = notebook.marked_cell(nb, a.marker)
        limits = a.limits()
        threads = job.threads
        spec = execute.ExecSpec(
            cell_timeout_s=float(limits.get("cell_timeout_s", 600)),
            notebook_timeout_s=float(limits.get("notebook_timeout_s", 1800)),
            limits=sandbox.Limits(int(limits.get("kernel_memory_mb", 8192)),
                                  int(limits.get("notebook_timeout_s", 1800) * threads + 60)),
            threads=threads, env=ds.kernel_env(), capture_cell=marked,
            capture_names=tuple(a.hyperparameter_names), workdir_source=sub.folder)
        run = execute.execute(copy.deepcopy(nb), spec)
        timing["execute"] = run.seconds
        write_atomic(folder / "executed.ipynb", nbformat.writes(run.notebook))
        execution_info = {"status": run.status, "message": run.message, "seconds": round(run.seconds, 2),
                          "errors": [e.__dict__ for e in run.errors]}
        extraction = extract.extract(nb, a.names)
        hp = _hyperparams(nb, a, run, marked)
    verdicts = run_checks(a, ds, job, loaded, extraction, hp, timing)
    results = [rubric_mod.score(c.id, c.title, verdicts[c.id], a.check_rubric(c.id)) for c in a.checks]
    result = {
        "schema": SCHEMA,
        "student": sub.student,
        "submission": str(sub.path.name if sub.folder is None else sub.path.relative_to(sub.folder.parent)),
        "submission_sha256": sha,
        "assignment": a.id,
        "dataset": ds.describe(),
        "grader_version": __version__,
        "isolation": sandbox.ISOLATION,
        "fingerprint": fp,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total": round(sum(r.points for r in results), 2),
        "max_total": round(sum(r.max_points for r in results), 2),
        "checks": [r.to_json() for r in results],
        "notebook": {"problem": loaded.problem, "note": "; ".join(x for x in (loaded.note, sub.note) if x)},
        "execution": execution_info,
        "extraction": {"found": extraction.found, "sources": extraction.sources,
                       "parse_problems": [p.__dict__ for p in extraction.problems]},
        "hyperparams": {"values": hp.values, "source": hp.source, "note": hp.note, "cell": hp.cell},
        "timing": {**{k: round(v, 2) for k, v in timing.items()}, "total": round(time.monotonic() - started, 2)},
    }
    write_atomic(result_path(job.out, sub.student), json.dumps(result, indent=1, default=_json_default))
    try:  # the result is safe on disk; a report problem must not cost it
        report.write_student(folder, json.loads(json.dumps(result, default=_json_default)))
    except Exception:  # noqa: BLE001
        result["report_error"] = traceback.format_exc()
        write_atomic(result_path(job.out, sub.student), json.dumps(result, indent=1, default=_json_default))
    return result


def _json_default(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _hyperparams(nb, a, run: execute.Execution, marked: int | None) -> Hyperparams:
    names = a.hyperparameter_names
    if not names:
        return Hyperparams({}, "none", "this assignment has no hyperparameter cell")
    if run.captured is not None:
        return Hyperparams({k: v for k, v in run.captured.items() if k in names}, "kernel", run.capture_note, marked)
    upto = marked if marked is not None else len(nb.cells) - 1
    where = "the marked cell" if marked is not None else "the notebook (no cell has the marker)"
    values = extract.literal_assignments(nb, names, upto)
    return Hyperparams(values, "source", f"read from the source of {where}: {run.capture_note}", marked)


def run_checks(a, ds, job: Job, loaded, extraction, hp, timing) -> dict[str, Verdict]:
    adapter, reference = a.adapter(), a.reference()
    limits = a.limits()
    verdicts: dict[str, Verdict] = {}
    contexts, inputs, calls = {}, {}, []
    for check in a.checks:
        ctx = Context(check.id, a.check_rubric(check.id), reference, ds, hp, job.seed,
                      lambda key, fn: memo.memo(job.cache / "memo", key, fn), ds.public_dir)
        contexts[check.id] = ctx
        if loaded.notebook is None:
            verdicts[check.id] = Verdict(FAIL, f"not graded: {loaded.problem}")
            continue
        missing = extraction.missing(check.requires)
        if missing:
            where = (f"; {len(extraction.problems)} cell(s) could not be parsed, e.g. cell "
                     f"{extraction.problems[0].cell}: {extraction.problems[0].message}") if extraction.problems else ""
            verdicts[check.id] = Verdict(FAIL, f"{' and '.join(missing)} not defined in any code cell{where}")
            continue
        if check.probe:
            try:
                inputs[check.id] = getattr(adapter, f"inputs_{check.id}")(ctx)
            except Exception:  # noqa: BLE001 - a grader bug: flag it for the TA, go on
                verdicts[check.id] = Verdict(ERROR, "grader error while preparing the inputs",
                                             details={"traceback": traceback.format_exc()})
                continue
            if inputs[check.id] is not None:
                timeout = float(ctx.rubric.get("timeout_s", limits.get("probe_timeout_s", 60)))
                calls.append(probe.ProbeCall(check.id, check.probe, inputs[check.id], timeout, check.needs_data))
    outcomes = {}
    if calls:
        cpu = int(sum(c.timeout_s for c in calls) * job.threads + 60)
        run = probe.run_probes(extraction.module_source, a.probes_path, calls,
                               limits=sandbox.Limits(int(limits.get("probe_memory_mb", 6144)), cpu),
                               data_dir=ds.public_dir, threads=job.threads)
        timing["checks"] += run.seconds
        outcomes = run.outcomes
        if run.import_error is not None:
            for c in calls:
                verdicts[c.check] = Verdict(FAIL, f"your code could not be loaded: {run.import_error.error}",
                                            details={"traceback": run.import_error.traceback})
    for check in a.checks:
        if check.id in verdicts:
            continue
        t0 = time.monotonic()
        try:
            verdicts[check.id] = getattr(adapter, f"compare_{check.id}")(
                contexts[check.id], inputs.get(check.id), outcomes.get(check.id))
        except Exception:  # noqa: BLE001
            verdicts[check.id] = Verdict(ERROR, "grader error while judging this check: a TA will look at it",
                                         details={"traceback": traceback.format_exc()})
        timing["train" if not check.probe else "checks"] += time.monotonic() - t0
    return verdicts


def _worker_init(threads: int) -> None:
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)


def _safe_grade(sub: Submission, job: Job) -> dict:
    """A grader failure on one submission becomes an error result, never the end of the batch."""
    try:
        return grade_one(sub, job)
    except Exception:  # noqa: BLE001
        result = {"schema": SCHEMA, "student": sub.student, "submission": sub.path.name, "total": 0,
                  "max_total": None, "fingerprint": None, "grader_error": traceback.format_exc(),
                  "checks": [], "execution": {"status": "grader_error", "message": "the grader failed"}}
        write_atomic(result_path(job.out, sub.student), json.dumps(result, indent=1))
        return result


def grade_batch(subs: list[Submission], job: Job, jobs: int, force: bool,
                progress: Callable[[int, int, dict, bool], None]) -> list[dict]:
    a = assignments.load(job.assignment_id, job.rubric_path)
    ds = datasets.resolve(job.data_spec)
    a_fp = a.fingerprint()
    results, todo = [], []
    for sub in subs:
        done = None if force else up_to_date(sub, job, fingerprint(sub.sha256(), job, a_fp, ds.fingerprint))
        if done is not None:
            results.append(done)
            progress(len(results), len(subs), done, True)
        else:
            todo.append(sub)
    if jobs <= 1:
        _worker_init(job.threads)
        for sub in todo:
            results.append(_safe_grade(sub, job))
            progress(len(results), len(subs), results[-1], False)
        return results
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_worker_init,
                             initargs=(job.threads,)) as pool:
        futures = {pool.submit(_safe_grade, sub, job): sub for sub in todo}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception:  # noqa: BLE001 - a worker died: record it, keep going
                sub = futures[future]
                result = {"student": sub.student, "total": 0, "checks": [], "grader_error": traceback.format_exc(),
                          "execution": {"status": "grader_error", "message": "a grading worker died"}}
            results.append(result)
            progress(len(results), len(subs), result, False)
    return results


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))
