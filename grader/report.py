"""Render HTML from results: one report per student, one summary page for the TAs."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from .write import write_atomic

_env = Environment(loader=PackageLoader("grader", "templates"), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)

STATUS_LABEL = {"pass": "pass", "pass_with_warning": "warning", "fail": "fail", "error": "error"}


def _sparkline(values: list[float], width: int = 320, height: int = 60) -> str:
    """An inline SVG polyline of a loss curve (no plotting library in the report path)."""
    finite = [v for v in values if v == v and abs(v) < 1e300]
    if len(finite) < 2:
        return ""
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    pts = " ".join(f"{i * width / (len(finite) - 1):.1f},{height - (v - lo) / span * height:.1f}"
                   for i, v in enumerate(finite))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="loss curve from {finite[0]:.3g} to {finite[-1]:.3g}">'
            f'<polyline fill="none" stroke="#36c" stroke-width="1.5" points="{pts}"/></svg>')


_env.filters["sparkline"] = _sparkline
_env.globals["STATUS_LABEL"] = STATUS_LABEL


def write_student(folder: Path, result: dict) -> None:
    write_atomic(folder / "report.html", _env.get_template("student.html.j2").render(r=result))


def write_index(out: Path, results: list[dict], meta: dict) -> None:
    rows = sorted(results, key=lambda r: r.get("student", ""))
    check_ids = []
    for r in rows:
        for c in r.get("checks", []):
            if c["id"] not in check_ids:
                check_ids.append(c["id"])
    write_atomic(out / "index.html", _env.get_template("index.html.j2").render(
        results=rows, check_ids=check_ids, meta=meta))
