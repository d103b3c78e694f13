"""Turn check verdicts into points, as the rubric file says."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .check import ERROR, FAIL, PASS, WARN, Verdict


@dataclass
class CheckResult:
    id: str
    title: str
    status: str
    points: float
    max_points: float
    message: str
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def score(check_id: str, title: str, verdict: Verdict, rubric: dict) -> CheckResult:
    full = float(rubric.get("points", 0))
    if verdict.status == PASS:
        points = full
    elif verdict.status == WARN:
        points = full - float(rubric.get("warning_deduction", 0))
    elif verdict.status == FAIL and rubric.get("partial_credit") and verdict.fraction:
        points = full * verdict.fraction
    else:
        assert verdict.status in (FAIL, ERROR), verdict.status
        points = 0.0
    return CheckResult(check_id, title, verdict.status, round(max(0.0, min(full, points)), 2), full,
                       verdict.message, verdict.details)
