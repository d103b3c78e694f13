"""PrairieLearn: the external grader of a question that takes a notebook upload.

PrairieLearn starts the course's grading image as root with /grade/student (the uploaded files),
/grade/tests (the question's tests/ folder: here nngrader.json, which assignment) and
/grade/results, and runs the question's entrypoint (platforms/prairielearn/run.sh), which calls
`run` here. It grades the one notebook with the engine and writes /grade/results/results.json:
gradable, score in [0, 1], message, output, and one test per check (name, points, max_points,
message, output, and the training curve as an image where the check has one). A file that is not
a notebook, or no single notebook, is `gradable: false` with `format_errors`.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import math
import traceback
from pathlib import Path

from . import autograder
from .errors import SetupError

SETTINGS = "nngrader.json"     # in the question's tests/ folder: {"assignment": "...", "data": null}


def loss_image(losses: list, label: str) -> dict | None:
    """A training curve as PrairieLearn shows images: a label and a PNG data URL."""
    values = [float(v) for v in losses if isinstance(v, (int, float)) and abs(v) < 1e300]
    if len(values) < 2:
        return None
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    ylabel = "loss"
    if min(values) > 0 and max(values) / min(values) > 1000:   # diverging: a log scale keeps its start visible
        values, ylabel = [math.log10(v) for v in values], "loss, log10"
    fig = Figure(figsize=(5, 2.4), dpi=80)
    ax = fig.add_subplot()
    ax.plot(values, color="#36c")
    ax.set_xlabel("recorded step")
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    return {"label": label, "url": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}


def results(graded: autograder.Graded | autograder.Upload) -> dict:
    """results.json as PrairieLearn's external grading expects it, from the student's view."""
    if isinstance(graded, autograder.Upload):
        return _not_gradable(graded.problem)
    r = graded.result
    problem = (r.get("notebook") or {}).get("problem")
    if problem:
        return _not_gradable(f"Your file is not a notebook that can be graded: {problem}")
    tests = []
    for check in autograder.visible_checks(graded):
        test = {"name": check["title"], "description": check["id"], "points": check["points"],
                "max_points": check["max_points"], "message": check["message"],
                "output": autograder.check_text(check)}
        losses = (check.get("details") or {}).get("losses")
        image = loss_image(losses, "training loss" + (" (reference net, your hyperparameters)"
                                                      if check["id"] == "hyperparams" else "")) if losses else None
        if image:
            test["images"] = [image]
        tests.append(test)
    hidden = len(r["checks"]) - len(tests)
    score = r["total"] / r["max_total"] if r.get("max_total") else 0.0
    message = f"{r['total']:g} of {r['max_total']:g} points"
    if hidden:
        message += f" ({hidden} of the {len(r['checks'])} checks count without being shown)"
    return {"gradable": True, "score": round(min(1.0, max(0.0, score)), 4), "message": message,
            "output": "\n".join(autograder.execution_lines(r)), "tests": tests}


def _not_gradable(problem: str) -> dict:
    return {"gradable": False, "score": 0.0, "message": problem, "output": "", "format_errors": [problem],
            "tests": []}


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).absolute()
    result_file = root / "results" / "results.json"
    try:
        settings = json.loads((root / "tests" / SETTINGS).read_text()) if (root / "tests" / SETTINGS).is_file() else {}
        assignment_id = args.assignment or settings.get("assignment")
        if not assignment_id:
            raise SetupError(f"no assignment: put {SETTINGS} with {{\"assignment\": ...}} in the "
                                        "question's tests/ folder, or pass --assignment")
        out = results(autograder.grade(root, "student", "results", assignment_id, settings.get("data"), args.sandbox))
    except Exception:  # noqa: BLE001 - PrairieLearn needs a results file whatever happened
        traceback.print_exc()   # the grading job's log, for the staff
        # not gradable: PrairieLearn does not count it as an attempt
        out = {"gradable": False, "score": 0.0, "tests": [], "output": "",
               "message": "Your notebook was not graded: the grader failed. The course staff can see why in "
                          "the grading job's log; ask them to grade it again."}
    autograder.write_results(result_file, out)
    print(f"score {out['score']}: {result_file}", flush=True)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("prairielearn", help="inside PrairieLearn's grading container: grade /grade/student")
    p.add_argument("--root", default="/grade")
    p.add_argument("--assignment", default=None, help="default: tests/nngrader.json's \"assignment\"")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto")
    p.set_defaults(run=run)

