"""Grade one submission end to end, and a batch of them in parallel.

discover -> execute -> extract -> probe -> compare -> score -> write: each step's result is a
plain value, and each student's result is written (atomically) the moment it exists.
"""
from __future__ import annotations

import copy
import json
import os
import threading
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
    box: sandbox.Sandbox
    seed: int = 0


def result_path(out: Path, student: str) -> Path:
    return out / student / "result.json"


def fingerprint(submission_sha: str, job: Job, assignment_fp: str, dataset_fp: str) -> str:
    """What a result depends on: a result graded under a weaker isolation is graded again."""
    return json.dumps([submission_sha, assignment_fp, dataset_fp, __version__, job.seed, job.box.mode])


def sandbox_limits(limits: dict, memory_key: str, cpu_seconds: float) -> sandbox.Limits:
    """The rubric's [limits] for one kind of student process (the kernel or the probes)."""
    defaults = sandbox.Limits(0, 0)
    return sandbox.Limits(memory_mb=int(limits.get(memory_key, 4096)), cpu_seconds=int(cpu_seconds),
                          file_size_mb=int(limits.get("file_size_mb", defaults.file_size_mb)),
                          processes=int(limits.get("processes", defaults.processes)),
                          disk_mb=int(limits.get("disk_mb", defaults.disk_mb)))


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
    ds = datasets.for_assignment(a.dataset_kind, job.data_spec)
    sha = sub.sha256()
    fp = fingerprint(sha, job, a.fingerprint(), ds.fingerprint)
    folder = job.out / sub.student
    folder.mkdir(parents=True, exist_ok=True)
    timing = {"execute": 0.0, "checks": 0.0, "train": 0.0}
    loaded = notebook.load_file(sub.path, int(a.limits().get("notebook_mb", 100)))
    execution_info: dict = {"status": "not_run", "message": loaded.problem, "seconds": 0.0, "errors": []}
    hp = Hyperparams({}, "none", "no notebook")
    extraction = extract.Extraction("")
    if loaded.notebook is not None:
        nb = loaded.notebook
        marked = notebook.marked_cell(nb, a.marker)
        limits = a.limits()
        notebook_s = float(limits.get("notebook_timeout_s", 1800))
        spec = execute.ExecSpec(
            cell_timeout_s=float(limits.get("cell_timeout_s", 600)), notebook_timeout_s=notebook_s,
            box=job.box, limits=sandbox_limits(limits, "kernel_memory_mb", notebook_s * job.threads + 60),
            threads=job.threads, env=ds.kernel_env(), data_dirs=ds.readable, capture_cell=marked,
            capture_names=tuple(a.hyperparameter_names), workdir_source=sub.folder,
            output_chars=int(limits.get("output_chars", 100_000)))
        run = execute.execute(copy.deepcopy(nb), spec)
        timing["execute"] = run.seconds
        write_atomic(folder / "executed.ipynb", nbformat.writes(run.notebook))
        execution_info = {"status": run.status, "message": run.message, "seconds": round(run.seconds, 2),
                          "errors": [e.__dict__ for e in run.errors], "note": a.kernel_note}
        extraction = extract.extract(nb, a.names, a.aliases)
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
        "isolation": job.box.mode,
        "fingerprint": fp,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total": round(sum(r.points for r in results), 2),
        "max_total": round(sum(r.max_points for r in results), 2),
        "checks": [r.to_json() for r in results],
        "notebook": {"problem": loaded.problem, "note": "; ".join(x for x in (loaded.note, sub.note) if x)},
        "execution": execution_info,
        "extraction": {"found": extraction.found, "sources": extraction.sources, "spelled": extraction.spelled,
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
    if a.settings_call:
        values, cell = extract.call_arguments(nb, a.settings_call, names)
        called = f"{a.settings_call[0]}(...)" + (" in any usual spelling" if len(a.settings_call) > 1 else "")
        if cell is None:
            return Hyperparams({}, "none", f"the notebook's code never calls {called}")
        return Hyperparams(values, "source", f"read from the last call to {called}, in code cell {cell} "
                                             "(arguments it leaves out take its __init__ defaults)", cell)
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
        cpu = sum(c.timeout_s for c in calls) * job.threads + 60
        run = probe.run_probes(extraction.module_source, a.probes_path, calls, box=job.box,
                               limits=sandbox_limits(limits, "probe_memory_mb", cpu),
                               data_dir=ds.public_dir, threads=job.threads,
                               max_output_mb=int(limits.get("probe_output_mb", 256)))
        timing["checks"] += run.seconds
        outcomes = run.outcomes
        if run.import_error is not None:
            called = {c.check for c in calls}
            for check in a.checks:
                if (check.outcome_of or check.id) in called and check.id not in verdicts:
                    verdicts[check.id] = Verdict(FAIL, f"your code could not be loaded: {run.import_error.error}",
                                                 details={"traceback": run.import_error.traceback})
    not_run = set(verdicts)   # judged before anything ran: not a notebook, names missing, import failed
    for check in a.checks:
        if check.id in verdicts:
            continue
        source = check.outcome_of or check.id   # a check may judge another check's probe run
        if source in not_run:
            verdicts[check.id] = Verdict(FAIL, f"not graded: {verdicts[source].message}")
            continue
        t0 = time.monotonic()
        try:
            verdicts[check.id] = getattr(adapter, f"compare_{check.id}")(
                contexts[check.id], inputs.get(source), outcomes.get(source))
        except Exception:  # noqa: BLE001
            verdicts[check.id] = Verdict(ERROR, "grader error while judging this check: a TA will look at it",
                                         details={"traceback": traceback.format_exc()})
        timing["train" if not check.probe else "checks"] += time.monotonic() - t0
    return verdicts


def _worker_init(threads: int) -> None:
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
    parent = os.getppid()

    def leave_with_parent() -> None:  # the grader was killed: stop, and the sandboxes go with us
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=leave_with_parent, daemon=True).start()


def _safe_grade(sub: Submission, job: Job) -> dict:
    """A grader failure on one submission becomes an error result, never the end of the batch."""
    try:
        return grade_one(sub, job)
    except Exception:  # noqa: BLE001
        return _error_result(sub, job, traceback.format_exc(), "the grader failed")


def _error_result(sub: Submission, job: Job, error: str, message: str) -> dict:
    result = {"schema": SCHEMA, "student": sub.student, "submission": sub.path.name, "total": 0,
              "max_total": None, "fingerprint": None, "grader_error": error, "checks": [],
              "execution": {"status": "grader_error", "message": message}}
    write_atomic(result_path(job.out, sub.student), json.dumps(result, indent=1))
    return result


def grade_batch(subs: list[Submission], job: Job, jobs: int, force: bool,
                progress: Callable[[int, int, dict, bool], None]) -> list[dict]:
    """Grade what is not graded yet, in worker processes; a worker that dies costs only the
    submission it was grading, which is tried once more alone before it is reported."""
    a = assignments.load(job.assignment_id, job.rubric_path)
    ds = datasets.for_assignment(a.dataset_kind, job.data_spec)
    a_fp = a.fingerprint()
    results, todo = [], []

    def record(result: dict, cached: bool = False) -> None:
        results.append(result)
        progress(len(results), len(subs), result, cached)

    for sub in subs:
        done = None if force else up_to_date(sub, job, fingerprint(sub.sha256(), job, a_fp, ds.fingerprint))
        if done is not None:
            record(done, cached=True)
        else:
            todo.append(sub)
    _remove_leftovers(job.out)
    for sub in _grade_in_pool(todo, job, jobs, record):
        if _grade_in_pool([sub], job, 1, record):
            record(_error_result(sub, job, "the grading worker died twice on this submission",
                                 "the grading worker died while grading this submission (out of memory, or its "
                                 "code killed the grader's process): grade it by hand"))
    return results


def _grade_in_pool(subs: list[Submission], job: Job, jobs: int, record: Callable[[dict], None]) -> list[Submission]:
    """Grade `subs` with `jobs` workers; return those whose worker died under them."""
    broken: list[Submission] = []
    if not subs:
        return broken
    with ProcessPoolExecutor(min(jobs, len(subs)), mp_context=get_context("spawn"), initializer=_worker_init,
                             initargs=(job.threads,)) as pool:
        futures = {pool.submit(_safe_grade, sub, job): sub for sub in subs}
        for future in as_completed(futures):
            try:
                record(future.result())
            except Exception:  # noqa: BLE001 - the pool broke (a worker died): these are tried again
                broken.append(futures[future])
    return broken


def _remove_leftovers(out: Path, older_than_s: float = 60) -> None:
    """Temporary files of a grader that was killed while writing: never read, removed here."""
    cutoff = time.time() - older_than_s
    for path in [*out.glob(".*.tmp"), *out.glob("*/.*.tmp")]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))
