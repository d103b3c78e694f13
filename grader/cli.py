"""Command line: `python -m grader grade SUBMISSIONS [options]`."""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import __version__, assignment, datasets, export, notebook, report, sandbox
from .discover import discover
from .pipeline import Job, default_jobs, grade_batch

SHORT = {"pass": "ok", "pass_with_warning": "warn", "fail": "FAIL", "error": "ERROR"}


def _progress(done: int, total: int, result: dict, cached: bool) -> None:
    checks = " ".join(f"{c['id']}:{SHORT.get(c['status'], c['status'])}" for c in result.get("checks", []))
    took = "cached" if cached else f"{result.get('timing', {}).get('total', 0):.1f} s"
    width = len(str(total))
    print(f"[{done:>{width}}/{total}] {result['student']:<24} {result.get('total', 0):>6}/{result.get('max_total') or '?':<5}"
          f" {checks}  ({took})" + ("  GRADER ERROR" if result.get("grader_error") else ""), flush=True)


def _detect(subs) -> str:
    """The assignment of a batch, from its notebooks' code, when --assignment is not given."""
    sources = []
    for sub in subs:
        loaded = notebook.load_file(sub.path, max_mb=100)
        if loaded.notebook is not None:
            sources.append("\n".join(c.get("source", "") for c in loaded.notebook.cells if c.get("cell_type") == "code"))
    found, why = assignment.detect(sources)
    if found is None:
        raise SystemExit(f"cannot tell which assignment these notebooks are ({why}): pass --assignment "
                         f"({', '.join(assignment.known())})")
    print(f"assignment {found}: {why}", flush=True)
    return found


def grade(args: argparse.Namespace) -> int:
    subs, skipped = discover(Path(args.submissions))
    box, warning = sandbox.choose(args.sandbox)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    assignment_id = args.assignment or _detect(subs)
    a = assignment.load(assignment_id, Path(args.rubric) if args.rubric else None)
    ds = datasets.for_assignment(a.dataset_kind, args.data)  # materialised once, before the workers start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, args.jobs)
    threads = max(1, default_jobs() // min(jobs, max(1, len(subs))))
    job = Job(assignment_id, Path(args.rubric) if args.rubric else None, args.data, out.resolve(),
              datasets.cache_root(), threads, box)
    on = f" on {ds.name} ({ds.n_train} training / {ds.n_test} test images)" if ds.public_dir else ""
    print(f"grading {len(subs)} submission(s) of {assignment_id}{on} with {jobs} worker(s), "
          f"sandbox {box.mode} -> {out}", flush=True)
    for path in skipped:
        print(f"  skipped (not a notebook): {path}", flush=True)
    started = time.monotonic()
    results = grade_batch(subs, job, jobs, args.force, _progress)
    meta = {"assignment": assignment_id, "dataset": f"{ds.name} ({ds.source})", "version": __version__,
            "isolation": box.mode,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "skipped": [str(p) for p in skipped]}
    report.write_index(out, results, meta)
    csv_path = export.write_csv(out, results)
    errors = sum(1 for r in results if r.get("grader_error"))
    print(f"done in {time.monotonic() - started:.1f} s: {out / 'index.html'}, {csv_path}"
          + (f"; {errors} grader error(s): see the reports" if errors else ""), flush=True)
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="grader", description="Grade neural-network assignment notebooks.")
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade every notebook in a folder")
    g.add_argument("submissions", help="folder of .ipynb files (or of one folder per student)")
    g.add_argument("--assignment", default=None,
                   help="a folder under assignments/ (default: told from the notebooks' code)")
    g.add_argument("--data", default=None,
                   help="a cifar-10-batches-py folder, an .npz, or 'keras' (default: the embedded real subset)")
    g.add_argument("--out", default="grades")
    g.add_argument("--rubric", default=None, help="a rubric file other than the assignment's own")
    g.add_argument("-j", "--jobs", type=int, default=default_jobs(), help="submissions graded at once")
    g.add_argument("--force", action="store_true", help="regrade even when nothing changed")
    g.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="isolation of student code: bwrap (required), none (rlimits only), "
                        "auto (bwrap where it works, else rlimits with a warning)")
    args = ap.parse_args(argv)
    return grade(args)


if __name__ == "__main__":
    sys.exit(main())
