"""Read a submitted file as a notebook, or say clearly why it is not one.

The notebook is executed afresh, so the outputs it was saved with are never needed: they are
dropped while the JSON is parsed (each becomes one shared placeholder), and reading a notebook
costs about its file size whatever it holds. A cell whose source is not text is emptied and
named in the note; the other cells are graded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

MAX_CELLS = 5000     # more cells than any assignment has: a generated notebook, not graded
_SAVED_OUTPUT: dict = {}   # what every saved output becomes while parsing


@dataclass
class Loaded:
    notebook: nbformat.NotebookNode | None
    problem: str = ""   # why it cannot be graded (set when notebook is None)
    note: str = ""      # what was done to read it (e.g. converted from nbformat 3)


def load_file(path: Path, max_mb: int) -> Loaded:
    """A file over `max_mb` is not read at all (its outputs are what usually make it big)."""
    size = path.stat().st_size
    if size > max_mb << 20:
        return Loaded(None, f"the file is {size / (1 << 20):.0f} MB, over the limit of {max_mb} MB: clear the "
                            "outputs (Kernel > Restart & Clear Output), save and submit again")
    return load(path.read_bytes())


def load(data: bytes) -> Loaded:
    if not data.strip():
        return Loaded(None, "the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Loaded(None, f"not a notebook: the file is not UTF-8 text (byte {exc.start})")
    try:
        raw = json.loads(text, object_pairs_hook=_without_saved_outputs)
    except json.JSONDecodeError as exc:
        nul = " and contains NUL bytes (damaged, or not a text file)" if "\x00" in text else ""
        return Loaded(None, f"not a notebook: the file is not valid JSON{nul} ({exc.msg} at line {exc.lineno}, "
                            f"column {exc.colno}); was it saved from Jupyter as .ipynb?")
    except (RecursionError, MemoryError) as exc:   # e.g. [[[[...]]]] 100,000 levels deep
        return Loaded(None, f"not a readable notebook: its JSON is nested too deeply or too large to read "
                            f"({type(exc).__name__}); was it saved from Jupyter as .ipynb?")
    except ValueError as exc:   # e.g. an integer of 5,000 digits
        return Loaded(None, f"not a readable notebook: {type(exc).__name__}: {str(exc)[:200]}")
    del text, data
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        return Loaded(None, "not a notebook: the JSON has no cells")
    cells = _cells(raw)
    if cells is None:
        return Loaded(None, "not a notebook: its cells are not a list of cells")
    if len(cells) > MAX_CELLS:
        return Loaded(None, f"the notebook has {len(cells):,} cells, over the limit of {MAX_CELLS:,}")
    problems = _repair(cells)
    version = raw.get("nbformat")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        return Loaded(None, f"not a readable notebook: {type(exc).__name__}: {str(exc)[:200]}")
    for cell in nb.cells:  # repair what hand-edited or converted notebooks often lack
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        cell.setdefault("metadata", {})
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None   # from here on, a count means it ran in the grader's kernel
    note = "; ".join(([f"converted from nbformat {version}"] if version != 4 else []) + problems)
    if not any(c.get("cell_type") == "code" and c.get("source", "").strip() for c in nb.cells):
        return Loaded(nb, "", (note + "; " if note else "") + "the notebook has no code")
    return Loaded(nb, "", note)


def _without_saved_outputs(pairs: list[tuple]) -> dict:
    """json.loads' hook: a saved output becomes one shared placeholder (a cell of 1.5 million
    outputs is then a list of 1.5 million references to it), anything else a dict."""
    for key, _ in pairs:
        if key == "output_type":
            return _SAVED_OUTPUT
    return dict(pairs)


def _cells(raw: dict) -> list | None:
    """The notebook's cells (nbformat 4), or those of its worksheets (nbformat 3)."""
    if "cells" in raw:
        return raw["cells"] if isinstance(raw["cells"], list) else None
    sheets = raw.get("worksheets")
    if not isinstance(sheets, list) or not all(isinstance(w, dict) and isinstance(w.get("cells", []), list)
                                                for w in sheets):
        return None
    return [c for w in sheets for c in w.get("cells", [])]


def _repair(cells: list) -> list[str]:
    """Drop saved outputs, and empty a cell whose source is not text (a number, a list of
    numbers): the rest of the notebook is graded. Returns what was done, for the note."""
    problems = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue   # nbformat says the notebook is not readable
        if "outputs" in cell:
            cell["outputs"] = []
        for key in ("source", "input"):   # "input": a code cell of nbformat 3
            value = cell.get(key)
            if value is None or isinstance(value, str):
                continue
            if isinstance(value, list) and all(isinstance(line, str) for line in value):
                cell[key] = "".join(value)
                continue
            what = type(value).__name__ if not isinstance(value, list) else "list of non-text items"
            problems.append(f"cell {index}'s source is not text (a {what}): it was left out")
            cell[key] = ""
    return problems[:20]


def marked_cell(nb: nbformat.NotebookNode, marker: str | None) -> int | None:
    """Index of the last code cell that contains the marker text."""
    if not marker:
        return None
    hits = [i for i, c in enumerate(nb.cells)
            if c.get("cell_type") == "code" and marker.lower() in c.get("source", "").lower()]
    return hits[-1] if hits else None
