"""Pack the grader with one assignment into a zip for elsewhere: Gradescope's autograder
(gradescope.py) and the students' self-check kit (here).

The kit lets a student run `nngrader check` on their own machine: the grader, the assignment's
checks, probes and definition, and its rubric, but never the reference or a data set. It
installs with `pip install -e` (editable, so the grader finds the assignment beside itself)
and needs only what the self-check imports: no tensorflow, no Dask.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

from . import assignment as assignments

REPO = assignments.REPO
# of the assignment's folder, only what the self-check runs: not its calibration (results of
# hyperparameters, an answer key for a training check), nor its release or kernel probe
KIT_FILES = ("assignment.toml", "checks.py", "probes.py", "definition.py")
KIT_DEPENDENCIES = ["numpy>=1.26", "nbformat>=5.9", "nbclient>=0.10", "jupyter-client>=8", "ipython>=8",
                    "jinja2>=3.1", "filelock>=3.12", "threadpoolctl>=3.2", "tomli>=2.0; python_version < '3.11'"]


def tree(top: Path) -> dict[str, Path]:
    """Files under `top`, by their name in the zip (relative to the repository, or to the data
    folder's parent for a data set)."""
    base = REPO if REPO in top.parents or top == REPO else top.parent
    return {str(p.relative_to(base)): p for p in sorted(top.rglob("*"))
            if p.is_file() and not any(part == "__pycache__" for part in p.parts) and p.suffix != ".pyc"}


def build_kit(assignment_id: str, out: Path) -> list[str]:
    """Write the self-check kit of one assignment; return the names it holds. Refused when the
    rubric makes no check public, or when a public check has no definition to compare with."""
    a = assignments.load(assignment_id)
    if not a.public_checks():
        raise ValueError(f"no check of {a.id} is public: set `public = true` in {a.rubric_path.name} first")
    a.definition()   # raises without one
    folder = f"nngrader-check-{a.id}"
    entries = {**tree(REPO / "grader"), str(a.rubric_path.relative_to(REPO)): a.rubric_path,
               **{str(p.relative_to(REPO)): p for p in (a.folder / name for name in KIT_FILES) if p.is_file()}}
    leaked = [name for name, path in entries.items() if path.resolve() == a.reference_path.resolve()]
    assert not leaked, leaked
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{folder}/pyproject.toml", _pyproject(a.id))
        z.writestr(f"{folder}/README.md", _readme(a))
        for name, path in sorted(entries.items()):
            z.write(path, f"{folder}/{name}")
        names = z.namelist()
    os.replace(tmp, out)
    return names


def _pyproject(assignment_id: str) -> str:
    deps = "".join(f'    "{d}",\n' for d in KIT_DEPENDENCIES)
    return (f'[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "nngrader-check-{assignment_id.replace("_", "-")}"\nversion = "0.1.0"\n'
            f'description = "Self-check for the {assignment_id} assignment: nngrader check hw.ipynb"\n'
            f'requires-python = ">=3.10"\ndependencies = [\n{deps}]\n\n'
            f'[project.scripts]\nnngrader = "grader.cli:main"\n\n'
            f'[tool.setuptools.packages.find]\ninclude = ["grader*"]\n\n'
            f'[tool.setuptools.package-data]\ngrader = ["templates/*.j2", "kernel_site/*.py"]\n')


def _readme(a: assignments.Assignment) -> str:
    return (f"# Self-check: {a.title}\n\n"
            "Install once (Linux; Python 3.10 or later), from the folder this README is in:\n\n"
            "    pip install -e .\n\n"
            "Then, on your saved notebook:\n\n"
            "    nngrader check my_notebook.ipynb\n\n"
            "or run the last cell of the notebook you were given. It runs the public checks on your code, "
            "on your machine, and prints the feedback they give: what is wrong and where. It compares your "
            "code with the assignment's definition (its formulas, and centered differences for gradients), "
            "never with a solution. Checks that train on the data set are not run here; they are graded "
            "after you submit, and the grade may include more checks.\n")
