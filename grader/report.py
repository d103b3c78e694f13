"""Render HTML from results: a report per student for the TA, a student-facing variant without
anything of the reference or the hidden inputs, and the dashboard for the TAs. Every page is
one self-contained file (inline CSS, SVG and script): it opens from the file system.

Every page is inert: student text is escaped (jinja2's autoescape), links made from a student
id are relative URLs of safe folder names, and a Content-Security-Policy lets the page run
only its own stylesheet and script (by their SHA-256), should anything slip through."""
from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from .discover import folder_name
from .write import write_atomic

_env = Environment(loader=PackageLoader("grader", "templates"), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)

STATUS_LABEL = {"pass": "pass", "pass_with_warning": "warning", "fail": "fail", "error": "error"}
# details that show the reference's outputs or the grader's own code: TA reports only
LEAKY_DETAILS = ("expected_slice", "expected")


def line_chart(values: list[float], label: str, width: int = 360, height: int = 120) -> Markup:
    """A small SVG line chart with its range on the axes (no plotting library in the report path)."""
    points = [(i, v) for i, v in enumerate(values) if isinstance(v, (int, float)) and v == v and abs(v) < 1e300]
    if len(points) < 2:
        return Markup("")
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    if lo > 0 and hi / lo > 1000:   # a diverging run: a log scale keeps the start of the curve visible
        points, label = [(i, math.log10(v)) for i, v in points], f"{label}, log10"
        lo, hi = math.log10(lo), math.log10(hi)
    span, last = (hi - lo) or 1.0, max(i for i, _ in points) or 1
    left, bottom = 46, height - 18
    xy = " ".join(f"{left + i * (width - left - 6) / last:.1f},{6 + (hi - v) / span * (bottom - 6):.1f}"
                  for i, v in points)
    return Markup(
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{label}: from {points[0][1]:.3g} to {points[-1][1]:.3g}">'
        f'<line x1="{left}" y1="6" x2="{left}" y2="{bottom}" stroke="#999"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{width - 6}" y2="{bottom}" stroke="#999"/>'
        f'<text x="{left - 4}" y="12" text-anchor="end">{hi:.3g}</text>'
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">{lo:.3g}</text>'
        f'<text x="{left}" y="{height - 4}">{label}</text>'
        f'<polyline fill="none" stroke="#36c" stroke-width="1.5" points="{xy}"/></svg>')


def histogram(totals: list[float], max_total: float, width: int = 420, height: int = 140, bins: int = 10) -> Markup:
    """Counts of totals in `bins` equal ranges of 0..max_total, as SVG bars."""
    if not totals or not max_total:
        return Markup("")
    counts = [0] * bins
    for t in totals:
        counts[min(bins - 1, int(max(0.0, t) / max_total * bins))] += 1
    top, bar = max(counts), (width - 10) / bins
    bars = "".join(
        f'<rect x="{5 + k * bar:.1f}" y="{height - 20 - c / top * (height - 40):.1f}" width="{bar - 2:.1f}" '
        f'height="{c / top * (height - 40):.1f}" fill="#58c"><title>{c} student(s): '
        f'{k * max_total / bins:g}–{(k + 1) * max_total / bins:g}</title></rect>'
        f'<text x="{5 + k * bar + bar / 2:.1f}" y="{height - 24 - c / top * (height - 40):.1f}" '
        f'text-anchor="middle">{c or ""}</text>' for k, c in enumerate(counts))
    return Markup(f'<svg class="chart" id="histogram" width="{width}" height="{height}" role="img" '
                  f'aria-label="histogram of totals">{bars}<text x="5" y="{height - 4}">0</text>'
                  f'<text x="{width - 5}" y="{height - 4}" text-anchor="end">{max_total:g}</text></svg>')


def _shape(message: str) -> str:
    """A message with its numbers and quoted values blanked, so that alike failures count together."""
    return re.sub(r"'[^']*'|\d+(\.\d+)?(e-?\d+)?", "#", message)


def failure_counts(results: list[dict], top: int = 15) -> list[dict]:
    """What the class got wrong most: each check's failure messages (alike ones together), by count."""
    counts: Counter = Counter()
    students: dict = {}
    for r in results:
        for c in r.get("checks", []):
            if c["status"] not in ("pass",):
                key = (c["id"], _shape(c["message"]))
                counts[key] += 1
                students.setdefault(key, []).append((r["student"], c["message"]))
    return [{"check": k[0], "message": students[k][0][1], "count": n, "students": [s for s, _ in students[k]]}
            for k, n in counts.most_common(top)]


def code_lines(source: str, traceback: str | None) -> list[tuple[int, str, bool]]:
    """The lines of a definition, marking those its traceback ran through."""
    seen = set()
    for match in re.finditer(r'File "[^"]*student\.py", line \d+[^\n]*\n\s*(.+)', traceback or ""):
        seen.add(match.group(1).strip())
    return [(n, line, line.strip() in seen) for n, line in enumerate(source.splitlines(), 1)]


def student_view(result: dict) -> dict:
    """The result as a student may see it: no reference outputs, no grader internals."""
    view = copy.deepcopy(result)
    for check in view.get("checks", []):
        details = check.get("details") or {}
        for key in LEAKY_DETAILS:
            details.pop(key, None)
        if check["status"] == "error":   # a grader failure: its traceback is the grader's code
            details.pop("traceback", None)
    view.pop("grader_error", None)
    view.pop("keys", None)
    return view


def report_href(student: str) -> str:
    """The dashboard's link to a student's report: a relative path ('./' first, so that no
    scheme such as 'javascript:' can be read into it) of percent-encoded segments."""
    return f"./{quote(folder_name(student), safe='')}/report.html"


def _raw(name: str) -> str:
    """A file of templates/ as it is (the stylesheet, the dashboard's script): never rendered."""
    return _env.loader.get_source(_env, name)[0]


def _hash_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


STYLE = _raw("style.css.j2")
DASHBOARD_JS = _raw("dashboard.js.j2")


def content_security_policy(scripts: tuple[str, ...] = ()) -> str:
    """Nothing may load or run but the page's own stylesheet and `scripts` (inline SVG is markup,
    not a load). An injected <script>, on...= handler, javascript: link or <style> is refused."""
    script_src = " ".join(_hash_source(s) for s in scripts) or "'none'"
    return (f"default-src 'none'; style-src {_hash_source(STYLE)}; script-src {script_src}; "
            "base-uri 'none'; form-action 'none'")


def _render(template: str, scripts: tuple[str, ...] = (), **values) -> str:
    return _env.get_template(template).render(csp=content_security_policy(scripts), style=Markup(STYLE), **values)


_env.filters["chart"] = line_chart
_env.globals.update(STATUS_LABEL=STATUS_LABEL, code_lines=code_lines, report_href=report_href)


def write_student(folder: Path, result: dict, feedback: bool = False) -> None:
    write_atomic(folder / "report.html", _render("student.html.j2", r=result, for_student=False))
    if feedback:
        write_atomic(folder / "feedback.html", _render("student.html.j2", r=student_view(result), for_student=True))


def check_html(check: dict, result: dict) -> str:
    """One check's message and findings as the reports show them (for a student, pass
    `student_view(result)` and its check): the autograders' per-check feedback."""
    details = _env.get_template("check.html.j2").module.details(check, result)
    return str(Markup("<p>{}</p>{}").format(check.get("message", ""), details))


def write_index(out: Path, results: list[dict], meta: dict, similar=None) -> None:
    """The dashboard; `similar` is grader.similarity's Outcome for the "Similar submissions" section."""
    rows = sorted(results, key=lambda r: r.get("student", ""))
    check_ids: list[str] = []
    for r in rows:
        for c in r.get("checks", []):
            if c["id"] not in check_ids:
                check_ids.append(c["id"])
    graded = [r for r in rows if not r.get("grader_error")]
    max_total = max((r.get("max_total") or 0 for r in graded), default=0)
    write_atomic(out / "index.html", _render(
        "index.html.j2", (DASHBOARD_JS,), dashboard_js=Markup(DASHBOARD_JS), results=rows, check_ids=check_ids,
        meta=meta, failures=failure_counts(rows), max_total=max_total,
        histogram=histogram([r.get("total", 0) for r in graded], max_total), similar=similar))
