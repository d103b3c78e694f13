"""Grade one submission end to end, as a straight line of stages (a batch: batch.py).

discover -> execute -> extract -> probe -> compare -> score -> write. Each stage's output is
kept with a key of everything it depends on, so a run redoes only what changed:

* execution (`OUT/<student>/executed.ipynb`, `execution.json`): the notebook, the grader's
  execution code, the data set, the isolation, the assignment's spec and the rubric's limits;
* verdicts (`result.json`): besides those, the reference, the assignment's checks, the rest of
  the grader and the rubric's tolerances and thresholds (not its points);
* points: recomputed from the verdicts on every run (rubric points, late policy, overrides).

Each output is written atomically the moment it exists.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import nbformat

from . import __version__, assignment as assignments, datasets, execute, extract, imports, memo, notebook, probe
from . import probe_memo, provenance, report
from . import rubric as rubric_mod
from . import sandbox
from .check import ERROR, FAIL, Context, Hyperparams, Verdict
from .discover import Submission
from .results import Result, result_path, student_dir
from .write import read_json, write_atomic

GRADER = Path(__file__).resolve().parent
# code that does not judge: the class's similarity runs on the verdicts once a batch has them, and
# the students' self-check and its kit run elsewhere; a change there re-judges nobody
AFTER_VERDICTS = ("similarity.py", "fingerprint.py", "selfcheck.py", "packing.py")
EXECUTION_CODE = ("execute.py", "sandbox.py", "sandbox_launch.py", "notebook.py", "kernel_site/sitecustomize.py",
                  "kernel_site/nngrader_code.py")


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
    feedback: bool = False   # also write the student-facing report, feedback.html
    reuse_probes: bool = True   # False (--force): probes run again even for code that ran before (probe_memo.py)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=None)
def _code_digest(names: tuple[str, ...]) -> str:
    return _digest([(n, hashlib.sha256((GRADER / n).read_bytes()).hexdigest()) for n in names])


def stage_keys(submission_sha: str, job: Job, a, ds) -> dict[str, str]:
    """What each stage's output depends on. A result graded under a weaker isolation is redone."""
    execution = _digest([submission_sha, __version__, job.seed, job.box.mode, ds.fingerprint, ds.hook_digest(), a.spec,
                         a.limits(), a.kernel_probe, _code_digest(EXECUTION_CODE)])
    rest = tuple(sorted(str(p.relative_to(GRADER)) for p in [*GRADER.glob("*.py"), *GRADER.glob("kinds/*.py")]
                        if p.name not in EXECUTION_CODE + AFTER_VERDICTS))
    checks = _digest([execution, a.code_fingerprint(), rubric_mod.judging_part(a.rubric), _code_digest(rest)])
    return {"execution": execution, "checks": checks}


def sandbox_limits(limits: dict, memory_key: str, cpu_seconds: float) -> sandbox.Limits:
    """The rubric's [limits] for one kind of student process (the kernel or the probes)."""
    defaults = sandbox.Limits(0, 0)
    return sandbox.Limits(memory_mb=int(limits.get(memory_key, 4096)), cpu_seconds=int(cpu_seconds),
                          file_size_mb=int(limits.get("file_size_mb", defaults.file_size_mb)),
                          processes=int(limits.get("processes", defaults.processes)),
                          disk_mb=int(limits.get("disk_mb", defaults.disk_mb)))


_LOADED: dict[tuple, tuple[tuple[assignments.Assignment, datasets.Dataset], tuple]] = {}


def load(job: Job, keep: bool = False) -> tuple[assignments.Assignment, datasets.Dataset]:
    """The job's assignment (spec, rubric, reference, checks) and data set. `keep`: loaded once for
    the process and carried to every submission it grades (a local pool's worker, a Dask worker),
    loaded again when one of its files changed (Assignment.stamp), so that what judges is what the
    stage keys say. Anywhere else they are read again."""
    name = (job.assignment_id, job.rubric_path, job.data_spec)
    kept = _LOADED.get(name)
    if kept is not None:
        loaded, stamp = kept
        if loaded[0].stamp() == stamp:
            return loaded
        assignments.forget(job.assignment_id)
    a = assignments.load(job.assignment_id, job.rubric_path)
    loaded = a, datasets.for_assignment(a.dataset_kind, job.data_spec)
    if keep or kept is not None:
        _LOADED[name] = loaded, a.stamp()
    return loaded


def grade_one(sub: Submission, job: Job, overrides: list[dict] | None = None) -> dict:
    """Grade one submission (executing it only when its execution is not kept), then score and
    write its result and reports."""
    started = time.monotonic()
    a, ds = load(job)
    sha = sub.sha256()
    keys = stage_keys(sha, job, a, ds)
    folder = student_dir(job.out, sub.student)
    folder.mkdir(parents=True, exist_ok=True)
    timing = {"execute": 0.0, "checks": 0.0, "train": 0.0}
    loaded = notebook.load_file(sub.path, int(a.limits().get("notebook_mb", 100)))
    ran = _execution(sub, job, a, ds, loaded, keys["execution"], folder)
    timing["execute"] = ran["execution"].get("seconds", 0.0) if not ran.get("kept") else 0.0
    hp = Hyperparams({}, "none", "no notebook")
    extraction = extract.Extraction("")
    if loaded.notebook is not None:
        extraction = extract.extract(loaded.notebook, a.names, a.aliases)
        hp = _hyperparams(loaded.notebook, a, ran, notebook.marked_cell(loaded.notebook, a.marker))
    verdicts = run_checks(a, ds, job, loaded, extraction, hp, timing, ran.get("probed"))
    results = [rubric_mod.score(c.id, c.title, verdicts[c.id], a.check_rubric(c.id)) for c in a.checks]
    result = Result(
        student=sub.student,
        student_info=sub.info,
        submission=str(sub.path.name if sub.folder is None else sub.path.relative_to(sub.folder.parent)),
        submission_sha256=sha,
        assignment=a.id,
        dataset=ds.describe(),
        grader_version=__version__,
        isolation=job.box.mode,
        keys=keys,
        graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        checks=[{**r.to_json(), "requires": list(c.requires)} for r, c in zip(results, a.checks)],
        late_input={"marked": sub.late, "submitted_at": sub.submitted_at},
        notebook={"problem": loaded.problem, "note": "; ".join(x for x in (loaded.note, sub.note) if x)},
        execution={**ran["execution"], "kept": bool(ran.get("kept")),
                   "missing_modules": imports.missing_modules(ran["execution"].get("errors", []), a.kernel_packages)},
        extraction={"found": extraction.found, "sources": extraction.sources, "spelled": extraction.spelled,
                    "parse_problems": [p.__dict__ for p in extraction.problems]},
        hyperparams={"values": hp.values, "source": hp.source, "note": hp.note, "cell": hp.cell,
                     "flags": provenance.hyperparam_flags(hp.values, (ran.get("probed") or {}).get("observed"))},
        provenance=_provenance(extraction, ran, a),
        timing={**{k: round(v, 2) for k, v in timing.items()}, "total": round(time.monotonic() - started, 2),
                "worker_peak_rss_mb": _peak_rss_mb()})
    # plain JSON values from here on (numpy scalars in details become numbers)
    return finish(Result.from_json(json.loads(json.dumps(result.to_json(), default=_json_default))), a, job,
                  overrides or [])


def _execution(sub: Submission, job: Job, a, ds, loaded, key: str, folder: Path) -> dict:
    """The notebook's execution: kept from an earlier run when its key matches, else run now."""
    kept = read_json(folder / "execution.json")
    if kept is not None and kept.get("key") == key and (folder / "executed.ipynb").is_file():
        return {**kept, "kept": True}
    if loaded.notebook is None:
        return {"execution": {"status": "not_run", "message": loaded.problem, "seconds": 0.0, "errors": []}}
    nb = loaded.notebook
    limits = a.limits()
    notebook_s = float(limits.get("notebook_timeout_s", 1800))
    spec = execute.ExecSpec(
        cell_timeout_s=float(limits.get("cell_timeout_s", 600)), notebook_timeout_s=notebook_s,
        box=job.box, limits=sandbox_limits(limits, "kernel_memory_mb", notebook_s * job.threads + 60),
        threads=job.threads, env=ds.kernel_env(), data_dirs=ds.readable,
        capture_cell=notebook.marked_cell(nb, a.marker), capture_names=tuple(a.hyperparameter_names),
        kernel_probe=a.kernel_probe, kernel_probe_timeout_s=float(limits.get("kernel_probe_timeout_s", 120)),
        workdir_source=sub.folder, output_chars=int(limits.get("output_chars", 100_000)),
        notebook_output_chars=int(limits.get("notebook_output_chars", 10 * int(limits.get("output_chars", 100_000)))),
        fingerprint_names=tuple(dict.fromkeys([*a.names, *(s for v in a.aliases.values() for s in v)])))
    run = execute.execute(copy.deepcopy(nb), spec)
    write_atomic(folder / "executed.ipynb", nbformat.writes(run.notebook))
    ran = {"key": key,
           "execution": {"status": run.status, "message": run.message, "seconds": round(run.seconds, 2),
                         "errors": [e.__dict__ for e in run.errors], "note": a.kernel_note,
                         "kernel_start_s": run.kernel_start_s, "data_load_s": run.data_load_s,
                         "kernel_peak_rss_mb": run.peak_rss_mb},
           "captured": run.captured, "capture_note": run.capture_note, "probed": run.probed,
           "fingerprints": run.fingerprints, "ran_cells": run.ran_cells}
    write_atomic(folder / "execution.json", json.dumps(ran, indent=1, default=_json_default))
    return ran


def _provenance(extraction, ran: dict, a) -> dict:
    """Flags for the TA where the code graded is not the code that ran (grader/provenance.py)."""
    if ran["execution"].get("status") in ("not_run", "not_started") or "ran_cells" not in ran:
        return {"flags": [], "note": "the notebook did not run: nothing to compare"}
    flags, note = provenance.code_flags(extraction.found, extraction.spelled, extraction.module_source,
                                        ran.get("fingerprints"), a.names, ran.get("ran_cells"))
    return {"flags": flags, "note": note}


def finish(result: Result, a, job: Job, overrides: list[dict]) -> dict:
    """Score a result from its verdicts (points, late policy, overrides), then write it and its
    reports; its stored form is returned. The result is on disk before any report is rendered: a
    report problem costs nothing."""
    stored = rubric_mod.rescore(result, a, overrides).to_json()
    path = result_path(job.out, result.student)
    write_atomic(path, json.dumps(stored, indent=1))
    try:
        report.write_student(path.parent, stored, job.feedback)
    except Exception:  # noqa: BLE001
        stored["report_error"] = traceback.format_exc()
        write_atomic(path, json.dumps(stored, indent=1))
    return stored


def _peak_rss_mb() -> int:
    """Peak resident memory so far of this worker process (the kernel reports its own): VmHWM of
    its own address space where Linux has it, since ru_maxrss carries the peak of the process it
    was forked from across exec (a worker of a large grader would report the grader's)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) // 1024
    except (OSError, StopIteration, ValueError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _json_default(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _hyperparams(nb, a, ran: dict | None, marked: int | None) -> Hyperparams:
    names = a.hyperparameter_names
    if not names:
        return Hyperparams({}, "none", "this assignment has no hyperparameter cell")
    # Read from the source, these are never evaluated: extract folds constants within fixed bounds,
    # and says which values it could not read (too large, a cell that does not parse).
    if a.settings_call:
        found = extract.call_arguments(nb, a.settings_call, names)
        called = f"{a.settings_call[0]}(...)" + (" in any usual spelling" if len(a.settings_call) > 1 else "")
        if found.cell is None:
            return Hyperparams({}, "none", f"the notebook's code never calls {called}")
        return Hyperparams(found.values, "source", f"read from the last call to {called}, in code cell {found.cell} "
                                                   "(arguments it leaves out take its __init__ defaults)"
                           + "".join(f"; {n}" for n in found.notes), found.cell)
    captured, note = (ran or {}).get("captured"), (ran or {}).get("capture_note", "the notebook did not run")
    if captured is not None:
        return Hyperparams({k: v for k, v in captured.items() if k in names}, "kernel", note, marked)
    upto = marked if marked is not None else len(nb.cells) - 1
    where = "the marked cell" if marked is not None else "the notebook (no cell has the marker)"
    found = extract.literal_assignments(nb, names, upto)
    return Hyperparams(found.values, "source", f"read from the source of {where}: {note}"
                       + "".join(f"; {n}" for n in found.notes), marked)


def run_checks(a, ds, job: Job, loaded, extraction, hp, timing, kernel: dict | None = None,
               oracle: tuple[ModuleType, float] | None = None) -> dict[str, Verdict]:
    """Every check of `a` on one submission. `oracle` is what the checks compare with, and its own
    error: the reference (exact) when grading, the assignment's definition for a self-check."""
    implementations = a.implementations()
    reference, expected_error = oracle or (a.reference(), 0.0)
    limits = a.limits()
    verdicts: dict[str, Verdict] = {}
    contexts, inputs, calls = {}, {}, []
    for check in a.checks:
        ctx = Context(check.id, a.check_rubric(check.id), reference, ds, hp, job.seed,
                      lambda key, fn: memo.memo(job.cache / "memo", key, fn), kernel, expected_error)
        contexts[check.id] = ctx
        if loaded.notebook is None:
            verdicts[check.id] = Verdict(FAIL, f"not graded: {loaded.problem}")
            continue
        missing = extraction.missing(check.requires)
        if missing:
            looks = "".join(f": {extraction.lookalikes[n].describe()}" for n in missing if n in extraction.lookalikes)
            where = (f"; {len(extraction.problems)} cell(s) could not be parsed, e.g. cell "
                     f"{extraction.problems[0].cell}: {extraction.problems[0].message}") if extraction.problems else ""
            verdicts[check.id] = Verdict(FAIL, f"{' and '.join(missing)} not defined in any code cell{looks}{where}")
            continue
        if check.probe:
            try:
                inputs[check.id] = implementations[check.id].inputs(ctx)
            except Exception:  # noqa: BLE001 - a grader bug: flag it for the TA, go on
                verdicts[check.id] = Verdict(ERROR, "grader error while preparing the inputs",
                                             details={"traceback": traceback.format_exc()})
                continue
            if inputs[check.id] is not None:
                timeout = float(ctx.rubric.get("timeout_s", limits.get("probe_timeout_s", 60)))
                calls.append(probe.ProbeCall(check.id, check.probe, inputs[check.id], timeout,
                                             tuple(sorted(extraction.needs(check.requires)))))
    outcomes = {}
    if calls:
        cpu = sum(c.timeout_s for c in calls) * job.threads + 60
        run = probe_memo.run(job.cache / "probes", extraction.module_source,
                             [(st.line, st.source) for st in extraction.statements], a.probe_files, calls,
                             box=job.box, limits=sandbox_limits(limits, "probe_memory_mb", cpu), threads=job.threads,
                             max_output_mb=int(limits.get("probe_output_mb", 256)), reuse=job.reuse_probes)
        timing["checks"] += run.seconds
        if run.reused:   # identical code ran on identical inputs before (probe_memo.py)
            timing["probes_reused"] = 1.0
        outcomes = run.outcomes
        called = {c.check for c in calls}
        requires = {c.id: c.requires for c in a.checks}
        for check in a.checks:
            source = check.outcome_of or check.id
            if source not in called or check.id in verdicts:
                continue
            if run.import_error is not None:
                verdicts[check.id] = Verdict(FAIL, f"your code could not be loaded: {run.import_error.error}",
                                             details={"traceback": run.import_error.traceback})
            elif run.load_errors:
                failed = _load_failure(extraction, {*check.requires, *requires[source]}, run.load_errors)
                if failed is not None:
                    verdicts[check.id] = failed
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
            verdicts[check.id] = implementations[check.id].judge(
                contexts[check.id], inputs.get(source), outcomes.get(source))
        except Exception:  # noqa: BLE001
            verdicts[check.id] = Verdict(ERROR, "grader error while judging this check: a TA will look at it",
                                         details={"traceback": traceback.format_exc()})
        timing["train" if not check.probe else "checks"] += time.monotonic() - t0
    return verdicts


def _load_failure(extraction, names: set[str], load_errors: dict) -> Verdict | None:
    """A FAIL naming the first statement `names` need that failed to load, or None when they need
    none: a statement that fails costs only the checks whose code reads it."""
    failed = sorted(extraction.needs(names) & load_errors.keys())
    if not failed:
        return None
    said = [f"cell {extraction.statements[i].cell}, `{extraction.statements[i].snippet()}`: {load_errors[i].error}"
            for i in failed]   # the first is the cause; later ones often fail because of it
    chain = extraction.why(sorted(names), failed[0])
    return Verdict(FAIL, f"your code could not be loaded: {said[0]}" + (f"; {chain}" if chain else ""),
                   details={"traceback": load_errors[failed[0]].traceback, "failed_statements": said})


