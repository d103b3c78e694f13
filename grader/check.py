"""What a check says about a submission, and what a check may use to say it."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

PASS, WARN, FAIL, ERROR = "pass", "pass_with_warning", "fail", "error"
STATUSES = (PASS, WARN, FAIL, ERROR)


@dataclass
class Verdict:
    status: str                 # one of STATUSES; ERROR means the grader could not judge: a TA looks
    message: str                # for the student: what is wrong and where
    fraction: float | None = None  # share of the points earned before deductions (partial credit)
    details: dict = field(default_factory=dict)  # for the TA: per-case errors, tracebacks, figures


def first_line(text) -> str:
    return str(text).split("\n", 1)[0]


def probe_failed(what: str, outcome) -> Verdict:
    """The probe process itself failed (timeout, killed, import): the student's traceback kept."""
    return Verdict(FAIL, f"{what}: {outcome.error}", details={"traceback": outcome.traceback})


def raised(what: str, outs: dict[str, dict], key: str = "error") -> Verdict | None:
    """A FAIL naming the first exception the student's code raised in any case (a probe reports it
    under `key`), or None when none did."""
    errors = {k: o[key].item() for k, o in outs.items() if key in o}
    if not errors:
        return None
    first = next(iter(errors.values()))
    return Verdict(FAIL, f"{what} raised {first_line(first)}",
                   details={"traceback": first.split("\n", 1)[-1], "cases": list(errors)})


def by_case(flat: dict) -> dict[str, dict]:
    """Probe inputs and outputs travel flat as "<case>.<name>" arrays; grouped by case here."""
    grouped: dict[str, dict] = {}
    for key, value in flat.items():
        case, _, name = key.partition(".")
        grouped.setdefault(case, {})[name] = value
    return dict(sorted(grouped.items()))


@dataclass
class Hyperparams:
    values: dict[str, Any]      # name -> value in force after the marked cell
    source: str                 # "kernel" | "source" | "none"
    note: str                   # how they were found, for the report
    cell: int | None = None     # index of the marked cell


@dataclass
class Context:
    """Everything a check of an assignment may use. Student code is reached only via probes."""
    check_id: str
    rubric: dict                # this check's table of the rubric
    reference: ModuleType       # the reference solution, loaded in the grader
    dataset: Any                # grader.datasets.Dataset or None
    hyperparams: Hyperparams
    seed: int
    memo: Callable[[dict, Callable[[], dict]], dict]  # disk cache shared by all students
    kernel: dict | None = None  # what the assignment's kernel probe found after the marked cell
    expected_error: float = 0.0  # error of what `reference` gives, of its terms' magnitude: 0 for the
                                 # reference; a self-check's definition (centered differences) has some


@dataclass(frozen=True)
class Check:
    """One check as an assignment's checks.py implements it, in its `CHECKS` table: `judge(ctx,
    inputs, outcome)` gives the verdict, on the grader's side; a check with a probe
    (assignment.toml) also has `inputs(ctx)`, what the probe runs on in the sandbox (None:
    nothing to run). A check judging another's probe run gets that one's inputs and outcome.
    Points are the rubric's, never the code's."""
    judge: Callable[[Context, Any, Any], Verdict]
    inputs: Callable[[Context], dict | None] | None = None
