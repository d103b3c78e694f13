"""Read a submitted file as a notebook, or say clearly why it is not one."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat


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
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        nul = " and contains NUL bytes (damaged, or not a text file)" if "\x00" in text else ""
        return Loaded(None, f"not a notebook: the file is not valid JSON{nul} ({exc.msg} at line {exc.lineno}, "
                            f"column {exc.colno}); was it saved from Jupyter as .ipynb?")
    except (RecursionError, MemoryError) as exc:   # e.g. [[[[...]]]] 100,000 levels deep
        return Loaded(None, f"not a readable notebook: its JSON is nested too deeply or too large to read "
                            f"({type(exc).__name__}); was it saved from Jupyter as .ipynb?")
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        return Loaded(None, "not a notebook: the JSON has no cells")
    version = raw.get("nbformat")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        return Loaded(None, f"not a readable notebook: {type(exc).__name__}: {str(exc)[:200]}")
    for cell in nb.cells:  # repair what hand-edited or converted notebooks often lack
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        cell.setdefault("metadata", {})
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    note = f"converted from nbformat {version}" if version != 4 else ""
    if not any(c.get("cell_type") == "code" and c.get("source", "").strip() for c in nb.cells):
        return Loaded(nb, "", (note + "; " if note else "") + "the notebook has no code")
    return Loaded(nb, "", note)


def marked_cell(nb: nbformat.NotebookNode, marker: str | None) -> int | None:
    """Index of the last code cell that contains the marker text."""
    if not marker:
        return None
    hits = [i for i, c in enumerate(nb.cells)
            if c.get("cell_type") == "code" and marker.lower() in c.get("source", "").lower()]
    return hits[-1] if hits else None
