"""A student's self-check: `nngrader check hw.ipynb` runs the rubric's public checks on the
student's own machine, before the deadline.

The public checks are the grader's own (same inputs, same probes, same judging code), so their
verdicts agree with the grade. What they compare with differs: instead of the reference, the
assignment's definition (`assignments/<id>/definition.py`): the formulas the assignment states,
and gradients by centered differences of them. A self-check thus needs neither the reference
nor its outputs, and says what is wrong and where as the feedback would. The notebook is not
executed: like the grader's probes, the checks load the code its cells define. Checks that
need the data set, training or hidden labels are not public: the output says "not checked
here" for each.
"""
from __future__ import annotations

import dataclasses
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import assignment as assignments, extract, notebook, packing, pipeline, rubric, sandbox
from .check import Hyperparams

MAX_NOTEBOOK_MB = 100   # a larger notebook is refused, as the grader's rubrics do by default
STATUS_WORDS = {"pass": "pass", "pass_with_warning": "pass, with a warning", "fail": "FAIL", "error": "ERROR"}


@dataclass
class SelfCheck:
    assignment: assignments.Assignment
    results: dict[str, rubric.CheckResult | None]   # check id -> its result, None when not public
    problem: str = ""                                # why nothing could be checked


def check(path: Path, assignment_id: str | None = None, rubric_path: Path | None = None) -> SelfCheck:
    """The public checks of `path`'s assignment (told from its code when not given) on its code."""
    loaded = notebook.load_file(path, MAX_NOTEBOOK_MB)
    if loaded.notebook is None:
        raise ValueError(f"{path.name}: {loaded.problem}")
    if assignment_id is None:
        sources = [extract.cell_python(c.source) for c in loaded.notebook.cells if c.cell_type == "code"]
        assignment_id, why = assignments.detect(["\n".join(sources)])
        if assignment_id is None:
            raise ValueError(f"cannot tell which assignment {path} is ({why}): give --assignment "
                             f"({', '.join(assignments.known())})")
    a = assignments.load(assignment_id, rubric_path)
    results: dict[str, rubric.CheckResult | None] = {c.id: None for c in a.checks}
    public = a.public_checks()
    if not public:
        return SelfCheck(a, results, "no check of this assignment is public: your course has not turned the "
                                     "self-check on for it")
    definition = a.definition()
    with tempfile.TemporaryDirectory(prefix="nngrader-check-") as tmp:
        job = pipeline.Job(a.id, rubric_path, None, Path(tmp), Path(tmp), threads=1,
                           box=sandbox.choose("auto")[0])
        verdicts = pipeline.run_checks(dataclasses.replace(a, checks=public), None, job, loaded,
                                       extract.extract(loaded.notebook, a.names, a.aliases),
                                       Hyperparams({}, "none", "not read by a self-check"),
                                       {"execute": 0.0, "checks": 0.0, "train": 0.0},
                                       oracle=(definition, definition.ERROR))
    for c in public:
        results[c.id] = rubric.score(c.id, c.title, verdicts[c.id], a.check_rubric(c.id))
    return SelfCheck(a, results)


def render(sc: SelfCheck, name: str) -> str:
    """What a student reads: each public check's verdict, points and message; the rest named."""
    lines = [f"Self-check of {name} ({sc.assignment.title}): the public checks, run on this machine.",
             "They compare your code with the assignment's definition (its formulas, and centered differences "
             "for gradients); the grade may include more checks.", ""]
    if sc.problem:
        return "\n".join(lines + [f"Nothing could be checked: {sc.problem}"])
    width = max(len(c.id) for c in sc.assignment.checks)
    for c in sc.assignment.checks:
        r = sc.results[c.id]
        if r is None:
            lines.append(f"  {c.id:<{width}}  not checked here (graded after you submit)")
            continue
        # the grader's messages speak of "the reference"; here it is the definition
        message = r.message.replace("the reference", "the assignment's definition")
        lines.append(f"  {c.id:<{width}}  {STATUS_WORDS.get(r.status, r.status)}, {r.points:g}/{r.max_points:g}: "
                     f"{message}")
    public = [r for r in sc.results.values() if r is not None]
    lines += ["", f"Public checks: {sum(r.points for r in public):g} of {sum(r.max_points for r in public):g} points."]
    return "\n".join(lines)


def run(args) -> int:
    try:
        sc = check(Path(args.notebook), args.assignment, Path(args.rubric) if args.rubric else None)
    except (OSError, ValueError) as e:
        print(f"nngrader check: {e}", file=sys.stderr)
        return 2
    print(render(sc, Path(args.notebook).name))
    public = [r for r in sc.results.values() if r is not None]
    if not public:
        return 2
    return 0 if all(r.status in ("pass", "pass_with_warning") for r in public) else 1


def build(args) -> int:
    out = Path(args.out or f"nngrader-check-{args.assignment}.zip")
    try:
        names = packing.build_kit(args.assignment, out)
    except ValueError as e:
        print(f"nngrader student-kit: {e}", file=sys.stderr)
        return 2
    print(f"{out}: {len(names)} files, {out.stat().st_size / 1e3:.0f} kB, without the reference or data; "
          "students unzip it and run `pip install -e` on its folder (its README.md says how)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="a student's self-check: run the public checks on one notebook")
    p.add_argument("notebook", help="your .ipynb file (save it first)")
    p.add_argument("--assignment", default=None, help="default: told from the notebook's code")
    p.add_argument("--rubric", default=None, help="a rubric file other than the assignment's own")
    p.set_defaults(run=run)
    k = sub.add_parser("student-kit", help="write the zip students install to run `nngrader check`")
    k.add_argument("--assignment", required=True)
    k.add_argument("--out", default=None, help="default: nngrader-check-ASSIGNMENT.zip")
    k.set_defaults(run=build)
