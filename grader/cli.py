"""Command line:

    python -m grader grade SUBMISSIONS [options]     a folder, or an LMS's zip, of notebooks
    python -m grader regrade OUT [--student ID ...] [--rescore]
    python -m grader gradescope build --assignment ID [--data ...] | gradescope run [--root /autograder]
    python -m grader prairielearn [--root /grade]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import __version__, assignment, datasets, export, gradescope, notebook, overrides, prairielearn, report, roster, sandbox
from . import selfcheck
from . import similarity
from .discover import discover, folder_name
from .errors import SetupError
from .batch import grade_batch
from .executors import cores, default_jobs
from .pipeline import Job
from .write import write_atomic

SHORT = {"pass": "ok", "pass_with_warning": "warn", "fail": "FAIL", "error": "ERROR"}
RUN_FILE = "run.json"   # in OUT: how it was graded, for `regrade`


def _shown(text: str) -> str:
    """Student text (ids, file names) as the terminal may print it: control characters (escape
    sequences that would move the cursor or retitle the window) spelled out."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _progress(done: int, total: int, result: dict, cached: bool) -> None:
    checks = " ".join(f"{c['id']}:{SHORT.get(c['status'], c['status'])}" for c in result.get("checks", []))
    took = "cached" if cached else f"{result.get('timing', {}).get('total', 0):.1f} s"
    width = len(str(total))
    print(f"[{done:>{width}}/{total}] {_shown(result['student']):<24} {result.get('total', 0):>6}/"
          f"{result.get('max_total') or '?':<5} {checks}  ({took})"
          + ("  GRADER ERROR" if result.get("grader_error") else ""), flush=True)


def _detect(subs) -> str:
    """The assignment of a batch, from its notebooks' code, when --assignment is not given. A file
    that cannot be read (whatever goes wrong: RecursionError, MemoryError, ...) matches nothing;
    grading it says why."""
    sources = []
    for sub in subs:
        try:
            loaded = notebook.load_file(sub.path, max_mb=100)
            if loaded.notebook is not None:
                sources.append("\n".join(str(c.get("source", "")) for c in loaded.notebook.cells
                                         if c.get("cell_type") == "code"))
        except Exception:  # noqa: BLE001 - one file never stops the batch
            continue
    found, why = assignment.detect(sources)
    if found is None:
        raise SetupError(f"cannot tell which assignment these notebooks are ({why}): pass --assignment "
                         f"({', '.join(assignment.known())})")
    print(f"assignment {found}: {why}", flush=True)
    return found


def grade(args: argparse.Namespace, force: bool | set[str] = False, recheck: bool = False) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _clear_the_way(out, (RUN_FILE, "index.html", *export.FILES))
    source = Path(args.submissions)
    intake = discover(source, Path(args.roster) if args.roster else None, out / ".unpacked" / source.stem)
    subs = intake.submissions
    box, warning = sandbox.choose(args.sandbox)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    assignment_id = args.assignment or _detect(subs)
    rubric_path = Path(args.rubric) if args.rubric else None
    a = assignment.load(assignment_id, rubric_path)
    ds = datasets.for_assignment(a.dataset_kind, args.data)  # materialised once, before the workers start
    jobs, why = (args.jobs, "as asked") if args.jobs else default_jobs(a.limits())
    jobs = max(1, jobs)
    threads = max(1, cores() // min(jobs, max(1, len(subs))))
    job = Job(assignment_id, rubric_path.resolve() if rubric_path else None, args.data, out.resolve(),
              datasets.cache_root(), threads, box, feedback=bool(args.feedback))
    write_atomic(out / RUN_FILE, json.dumps({
        "submissions": str(source.resolve()), "assignment": assignment_id,
        "rubric": str(rubric_path.resolve()) if rubric_path else None, "data": args.data, "sandbox": args.sandbox,
        "roster": str(Path(args.roster).resolve()) if args.roster else None, "jobs": args.jobs,
        "feedback": bool(args.feedback), "scheduler": getattr(args, "scheduler", None),
        "canvas_column": getattr(args, "canvas_column", None)}, indent=1))
    on = f" on {ds.name} ({ds.n_train} training / {ds.n_test} test images)" if ds.public_dir else ""
    where = f"on the cluster at {args.scheduler}" if getattr(args, "scheduler", None) else f"with {jobs} worker(s)"
    print(f"grading {len(subs)} submission(s) of {assignment_id}{on} {where}, sandbox {box.mode} -> {out}", flush=True)
    if not getattr(args, "scheduler", None):
        print(f"  {jobs} worker(s): {why}", flush=True)
    for path, why in intake.skipped:
        print(f"  skipped: {_shown(path.name)}: {_shown(why)}", flush=True)
    for student in intake.unmatched:
        print(f"  not on the roster: {_shown(student)}", flush=True)
    for person in intake.missing:
        print(f"  no submission: {_shown(person.get('name', ''))} "
              f"({_shown(person.get('lms_id') or person.get('email', ''))})", flush=True)
    settings = _export_settings(a, args, intake)
    if isinstance(force, set):
        for name in sorted(force - {s.student for s in subs} - {folder_name(s.student) for s in subs}):
            print(f"  --student {_shown(name)}: no such student in {source}", file=sys.stderr, flush=True)
    corrections, problems = overrides.load(out / "overrides.toml", {s.student for s in subs}, {c.id for c in a.checks})
    for problem in problems:
        print(f"  {problem}", file=sys.stderr, flush=True)
    started = time.monotonic()
    results = grade_batch(subs, job, jobs, force, _progress, corrections, recheck, getattr(args, "scheduler", None))
    meta = {"assignment": assignment_id, "title": a.title, "dataset": f"{ds.name} ({ds.source})",
            "version": __version__, "isolation": box.mode,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "skipped": [{"file": str(p), "why": why} for p, why in intake.skipped],
            "unmatched": intake.unmatched, "missing": intake.missing, "override_problems": problems}
    similar = similarity.run(out, results, a)   # for the TAs' eyes only: never changes points
    print(f"similar submissions: {similar.problem or f'{len(similar.flagged)} pair(s) over the threshold'}", flush=True)
    report.write_index(out, results, meta, similar)
    exports = export.write_all(out, results, intake.missing, a.title, settings)
    errors = sum(1 for r in results if r.get("grader_error"))
    print(f"done in {time.monotonic() - started:.1f} s: {out / 'index.html'}, "
          + ", ".join(p.name for p in exports) + (f"; {errors} grader error(s): see the reports" if errors else ""),
          flush=True)
    return 1 if errors else 0


def _export_settings(a, args: argparse.Namespace, intake) -> dict:
    """The rubric's [export], with the Canvas assignment id taken from a Canvas gradebook export
    given as the roster when the rubric does not set it; said, or warned about, once."""
    settings = dict(a.rubric.get("export", {}))
    wanted = getattr(args, "canvas_column", None)
    if settings.get("canvas_assignment_id") and not wanted:
        return settings
    columns = roster.gradebook_columns(Path(args.roster)) if args.roster else []
    if not (wanted or columns or "canvas" in intake.kinds):
        return settings   # nothing says this course is on Canvas: no warning about its column
    found, said = export.canvas_column(columns, settings.get("title", a.title), wanted)
    print(f"  {_shown(said)}", file=sys.stderr if found is None else sys.stdout, flush=True)
    return {**settings, "canvas_assignment_id": found} if found else settings


def _clear_the_way(out: Path, names: tuple[str, ...]) -> None:
    """A folder where the grader writes a file (a student named `index.html`, graded by a grader
    before students got folders of their own) is moved aside, not deleted: the run goes on."""
    for name in names:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            aside = out / f".{name}.moved-aside-{time.strftime('%Y%m%dT%H%M%S')}"
            path.rename(aside)
            print(f"  {path} was a folder, in the way of the grader's {name}: moved to {aside.name}",
                  file=sys.stderr, flush=True)


def regrade(args: argparse.Namespace) -> int:
    """Grade a batch again as it was graded (OUT/run.json): some students from scratch, or every
    verdict again without executing notebooks whose code did not change."""
    out = Path(args.out)
    saved = json.loads((out / RUN_FILE).read_text()) if (out / RUN_FILE).is_file() else None
    if saved is None:
        raise SetupError(f"{out}: no {RUN_FILE}; grade it with `grade` first")
    again = argparse.Namespace(**saved, out=str(out), force=False)
    return grade(again, force=set(args.student) if args.student else False, recheck=args.rescore)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="grader", description="Grade neural-network assignment notebooks.")
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade every notebook in a folder or an LMS's zip")
    g.add_argument("submissions", help="folder of .ipynb files (or of one folder per student), or a Canvas or "
                                       "Moodle bulk download (zip or unpacked)")
    g.add_argument("--assignment", default=None,
                   help="a folder under assignments/ (default: told from the notebooks' code)")
    g.add_argument("--data", default=None,
                   help="a cifar-10-batches-py folder, an .npz, or 'keras' (default: the embedded real subset)")
    g.add_argument("--out", default="grades")
    g.add_argument("--rubric", default=None, help="a rubric file other than the assignment's own")
    g.add_argument("--roster", default=None, help="a CSV of the class (Canvas or Moodle export, or id,name,email,...)")
    g.add_argument("--canvas-column", default=None, metavar="TITLE_OR_ID",
                   help="the gradebook column canvas.csv fills (default: the one of a Canvas gradebook export given "
                        "as --roster titled as the rubric's title, else the rubric's canvas_assignment_id)")
    g.add_argument("-j", "--jobs", type=int, default=None,
                   help="submissions graded at once (default: one per core, as far as memory allows)")
    g.add_argument("--force", action="store_true", help="regrade everything, executing every notebook again")
    g.add_argument("--feedback", action="store_true",
                   help="also write feedback.html per student: the report without the reference's outputs "
                        "or the grader's internals, to hand back")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on a Dask distributed cluster (e.g. tcp://10.0.0.5:8786); see README")
    g.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="isolation of student code: bwrap (required), none (rlimits only), "
                        "auto (bwrap where it works, else rlimits with a warning)")
    r = sub.add_parser("regrade", help="grade a graded batch again, as it was graded")
    r.add_argument("out", help="the output folder of an earlier `grade`")
    r.add_argument("--student", action="append", help="regrade this student from scratch (repeatable)")
    r.add_argument("--rescore", action="store_true",
                   help="judge every submission again (after a rubric or checks change) without executing "
                        "notebooks whose code did not change")
    gradescope.add_parser(sub)
    prairielearn.add_parser(sub)
    selfcheck.add_parser(sub)
    args = ap.parse_args(argv)
    try:
        if hasattr(args, "run"):   # a platform's command
            return args.run(args)
        if args.command == "regrade":
            return regrade(args)
        return grade(args, force=args.force)
    except SetupError as problem:   # the run cannot start as asked: say why, no traceback
        print(f"grader: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
