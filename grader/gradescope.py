"""Gradescope: build the autograder zip, and, inside Gradescope's container, grade the submission.

The zip follows Gradescope's autograder specification: `setup.sh` and `run_autograder` at its
root (from platforms/gradescope/), beside the grader, the assignment, its reference and rubric,
the data set and `autograder.json` (which assignment, which data). Gradescope unpacks it into
/autograder/source, runs setup.sh once when it builds the image, then run_autograder as root
for each submission, which calls `run` here: it grades the one notebook of
/autograder/submission and writes /autograder/results/results.json (score, execution_time,
output, and one test per check with the rubric's visibility), from the student's view of the
result: no reference values.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import traceback
import zipfile
from pathlib import Path

from markupsafe import Markup

from . import assignment as assignments, autograder, datasets, packing, report
from .errors import SetupError

REPO = assignments.REPO
TEMPLATES = REPO / "platforms" / "gradescope"
CONFIG = "autograder.json"          # at the zip's root: which assignment, which data
PACKED = ("grader",)                # the grader's code, whole


def build_zip(assignment_id: str, data: str | None, out: Path) -> list[str]:
    """Write the autograder zip for one assignment; return the names it holds."""
    a = assignments.load(assignment_id)
    for check in a.checks:
        autograder.visibility(a, check.id)   # a wrong value stops the build, not a student's run
    entries: dict[str, Path] = {}
    for top in PACKED:
        entries.update(packing.tree(REPO / top))
    entries.update(packing.tree(a.folder))
    for path in (a.rubric_path, a.reference_path, REPO / "pyproject.toml"):
        entries[str(path.relative_to(REPO))] = path
    data_entry = None
    if a.dataset_kind is not None:   # the default data set, and any other given: grading stays offline
        provider = datasets.provider(a.dataset_kind)
        entries.update(packing.tree(REPO / "datasets" / a.dataset_kind))   # the provider, and its default data
        entries.update({str(path.relative_to(REPO)): path for path in provider.EMBEDDED})
        if data in provider.DOWNLOADS:
            raise SetupError(f"--data {data} downloads at grading time: pass a folder or a file to embed instead")
        if data is not None:
            source = Path(data)
            data_entry = f"data/{source.name}"
            entries.update({f"data/{k}": v for k, v in packing.tree(source).items()} if source.is_dir()
                           else {data_entry: source})
    config = {"assignment": a.id, "data": data_entry}
    pip = "\n".join(requirements(a.id)) + "\n"
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16   # executable once unpacked
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, (TEMPLATES / name).read_bytes())
        z.writestr(CONFIG, json.dumps(config, indent=1) + "\n")
        z.writestr("requirements.txt", pip)
        for name, path in sorted(entries.items()):
            z.write(path, name)
        names = z.namelist()
    os.replace(tmp, out)
    return names


def requirements(assignment_id: str) -> list[str]:
    """What setup.sh installs with pip: the project's dependencies and the assignment's extra,
    what its notebooks import (the grader itself runs from the unpacked zip, so that its paths
    are the zip's)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project.get("optional-dependencies", {}).get(assignment_id, [])]


def results(graded: autograder.Graded | autograder.Upload) -> dict:
    """results.json as Gradescope's specification has it (but `execution_time`), from the student's
    view of the result."""
    if isinstance(graded, autograder.Upload):
        return {"score": 0.0, "output": str(Markup("<p>{}</p>").format(graded.problem)),
                "output_format": "html", "tests": []}
    r, a = graded.result, graded.assignment
    tests = []
    for check in r["checks"]:
        tests.append({
            "name": check["title"], "score": check["points"], "max_score": check["max_points"],
            "status": "passed" if check["status"] in ("pass", "pass_with_warning") else "failed",
            "output": report.check_html(check, r), "output_format": "html",
            "visibility": autograder.visibility(a, check["id"])})
    shown_later = sum(t["visibility"] != "visible" for t in tests)
    lines = autograder.execution_lines(r)
    if r.get("dataset", {}).get("n_train"):
        lines.append(f"Data set: {r['dataset']['name']} ({r['dataset']['n_train']} training, "
                     f"{r['dataset']['n_test']} test images).")
    if shown_later:
        lines.append(f"{shown_later} of the {len(tests)} checks are shown later (after the due date, when grades "
                     "are published, or never); the score counts them.")
    output = Markup("").join(Markup("<p>{}</p>").format(line) for line in lines)
    errors = [e for e in (r.get("execution") or {}).get("errors") or [] if e.get("traceback")]
    output += Markup("").join(Markup("<details><summary>code cell {}: {}</summary><pre>{}</pre></details>")
                              .format(e["cell"], e["ename"], e["traceback"]) for e in errors)
    return {"score": r["total"], "output": str(output), "output_format": "html", "tests": tests}


def _failure(error: BaseException) -> dict:
    """When the grader itself fails: the student is told plainly; the traceback goes to the
    staff's log (Gradescope's stdout), not to the student."""
    staff = "the course staff must fix the autograder" if isinstance(error, SetupError) else \
        "the course staff can see why in the autograder's log"
    return {"score": 0.0, "output_format": "html",
            "output": str(Markup("<p>Your notebook was not graded: the autograder failed ({}). "
                                 "Your submission is kept: the staff can grade it again.</p>").format(staff)),
            "tests": []}


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    root = Path(args.root).absolute()
    result_file = root / "results" / "results.json"
    os.environ["NNGRADER_CACHE"] = str(root / "nngrader-cache")   # the container's own, closed to student code
    try:
        config = json.loads((REPO / CONFIG).read_text())
        data = str(REPO / config["data"]) if config.get("data") else None
        out = results(autograder.grade(root, "submission", "results", config["assignment"], data, args.sandbox))
    except Exception as error:  # noqa: BLE001 - Gradescope needs a results file whatever happened
        traceback.print_exc()
        out = _failure(error)
    out["execution_time"] = round(time.monotonic() - started)
    autograder.write_results(result_file, out)
    print(f"score {out['score']}: {result_file}", flush=True)
    return 0


def build(args: argparse.Namespace) -> int:
    out = Path(args.out)
    names = build_zip(args.assignment, args.data, out)   # a SetupError: cli says it
    print(f"{out}: {len(names)} files, {out.stat().st_size / 1e6:.1f} MB; upload it as the assignment's "
          "autograder (Gradescope: Configure Autograder > Zip file upload)")
    return 0


def add_parser(sub) -> None:
    g = sub.add_parser("gradescope", help="build a Gradescope autograder zip, or run as one")
    what = g.add_subparsers(dest="gradescope_command", required=True)
    b = what.add_parser("build", help="write autograder.zip for one assignment")
    b.add_argument("--assignment", required=True)
    b.add_argument("--data", default=None, help="a cifar-10-batches-py folder or an .npz to embed "
                                                "(default: the embedded real subset)")
    b.add_argument("--out", default="autograder.zip")
    b.set_defaults(run=build)
    r = what.add_parser("run", help="inside Gradescope: grade /autograder/submission (run_autograder calls this)")
    r.add_argument("--root", default="/autograder")
    r.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto")
    r.set_defaults(run=run)

