"""Modules a notebook imported that the grader's kernel does not have.

A missing module fails its import cell and then, for the same one reason, every later cell that
uses it: the student should read that reason once, with what the kernel does offer, instead of a
list of NameErrors."""
from __future__ import annotations

import re

_NO_MODULE = re.compile(r"No module named '([A-Za-z0-9_.]{1,100})'")


def missing_modules(errors: list[dict], offered: list[str]) -> list[dict]:
    """One entry per module the notebook could not import: the module, the code cell of the
    first failed import, the later cells that failed too, and a note for the report."""
    found: list[dict] = []
    for error in errors:
        match = _NO_MODULE.search(str(error.get("evalue", "")))
        if error.get("ename") not in ("ModuleNotFoundError", "ImportError") or not match:
            continue
        module = match.group(1).split(".")[0]
        if any(f["module"] == module for f in found):
            continue
        cell = error.get("cell")
        later = [e.get("cell") for e in errors if isinstance(e.get("cell"), int) and isinstance(cell, int)
                 and e["cell"] > cell]
        note = f"your notebook imports {module} (code cell {cell}), which the grader's kernel does not provide"
        if later:
            note += f"; code cell{'s' if len(later) > 1 else ''} {_cells(later)} failed after it"
        if offered:
            note += f". The kernel offers {', '.join(offered)}: use one of these, or ask your course staff"
        found.append({"module": module, "cell": cell, "later_failed": later, "note": note})
    return found


def _cells(cells: list[int]) -> str:
    return f"{cells[0]}" if len(cells) == 1 else f"{cells[0]}-{cells[-1]}" if cells == list(
        range(cells[0], cells[-1] + 1)) else ", ".join(map(str, cells))
