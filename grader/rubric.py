"""Turn verdicts into points, as the rubric file says: each check's points, the late policy,
then the TA's overrides. Verdicts are kept in every result, so a change of points, of the
late policy or of an override re-scores a result without running anything again."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from .check import ERROR, FAIL, PASS, WARN, Verdict
from .results import Result


@dataclass
class CheckResult:
    id: str
    title: str
    status: str
    points: float
    max_points: float
    message: str
    details: dict = field(default_factory=dict)
    fraction: float | None = None    # the verdict's share, kept so that a new rubric can re-score

    def to_json(self) -> dict:
        return asdict(self)


def points_for(status: str, fraction: float | None, table: dict) -> float:
    """A check's points for a verdict, under the rubric's table for that check."""
    full = float(table.get("points", 0))
    if status == PASS:
        points = full
    elif status == WARN:
        points = full - float(table.get("warning_deduction", 0))
    elif status == FAIL and table.get("partial_credit") and fraction:
        points = full * fraction
    else:
        assert status in (FAIL, ERROR), status
        points = 0.0
    return round(max(0.0, min(full, points)), 2)


def score(check_id: str, title: str, verdict: Verdict, table: dict) -> CheckResult:
    return CheckResult(check_id, title, verdict.status, points_for(verdict.status, verdict.fraction, table),
                       float(table.get("points", 0)), verdict.message, verdict.details, verdict.fraction)


# keys of a check's table that change points or who sees it, not verdicts: a change of these only re-scores
# (`public`: whether students' self-check runs it, grader/selfcheck.py)
SCORING_KEYS = ("points", "partial_credit", "warning_deduction", "visibility", "public")


def judging_part(rubric: dict) -> dict:
    """The rubric without what only sets points: what the verdicts depend on."""
    checks = {cid: {k: v for k, v in table.items() if k not in SCORING_KEYS}
              for cid, table in rubric.get("checks", {}).items()}
    # late policy, exports and the similarity settings act after the verdicts, never on them
    return {**{k: v for k, v in rubric.items() if k not in ("checks", "late", "export", "similarity")},
            "checks": checks}


@dataclass(frozen=True)
class Late:
    """How late a submission was: the LMS's marker and/or when it was submitted."""
    marked: bool = False
    submitted_at: str | None = None  # ISO 8601


def late_deduction(policy: dict, late: Late, max_total: float) -> dict:
    """The rubric's [late] table applied to one submission: days late after the grace period
    (from the submission time and `due`, or one day for an LMS marker without a time), a
    deduction per day started, capped."""
    if not policy:
        return {"days": 0, "deduction": 0.0, "note": ""}
    grace = timedelta(hours=float(policy.get("grace_hours", 0)))
    due = _when(policy.get("due"))
    submitted = _when(late.submitted_at)
    if due is not None and submitted is not None:
        overdue = submitted - due - grace
        days = math.ceil(overdue.total_seconds() / 86400) if overdue.total_seconds() > 0 else 0
        how = f"submitted {submitted.isoformat(timespec='minutes')}, due {due.isoformat(timespec='minutes')}"
    elif late.marked:
        days, how = int(policy.get("marked_days", 1)), "marked late by the LMS (no submission time)"
    else:
        return {"days": 0, "deduction": 0.0, "note": ""}
    if days <= 0:
        return {"days": 0, "deduction": 0.0, "note": f"on time ({how})"}
    per_day = float(policy.get("per_day_percent", 0)) / 100 * max_total
    cap = float(policy.get("max_percent", 100)) / 100 * max_total
    deduction = round(min(cap, per_day * days), 2)
    return {"days": days, "deduction": deduction,
            "note": f"{days} day(s) late ({how}): −{deduction:g} points "
                    f"({policy.get('per_day_percent', 0)}% a day, at most {policy.get('max_percent', 100)}%)"}


def _when(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.astimezone()


def rescore(result: Result, a, overrides: list[dict]) -> Result:
    """Points, late deduction and overrides of a result, from its stored verdicts, as the current
    rubric says: the one place points are given. Returns the result with `points`/`auto_points`
    per check and the totals."""
    for check in result.checks:
        table = a.check_rubric(check["id"])
        check["max_points"] = float(table.get("points", 0))
        check["auto_points"] = points_for(check["status"], check.get("fraction"), table)
        mine = [o for o in overrides if o.get("check") == check["id"]]
        check["points"] = float(mine[-1]["points"]) if mine else check["auto_points"]
        if mine:
            check["override"] = {"points": float(mine[-1]["points"]), "comment": mine[-1].get("comment", "")}
        else:
            check.pop("override", None)
    result.max_total = round(sum(c["max_points"] for c in result.checks), 2)
    auto_total = round(sum(c["auto_points"] for c in result.checks), 2)
    result.late = late_deduction(a.rubric.get("late", {}), Late(**result.late_input), result.max_total)
    result.auto_total = round(max(0.0, auto_total - result.late["deduction"]), 2)
    total = round(max(0.0, sum(c["points"] for c in result.checks) - result.late["deduction"]), 2)
    whole = [o for o in overrides if o.get("check") in (None, "total")]
    result.total = float(whole[-1]["points"]) if whole else total
    result.override = {"points": float(whole[-1]["points"]), "comment": whole[-1].get("comment", "")} if whole else None
    return result
