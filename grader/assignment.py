"""An assignment is data plus a small adapter: `assignments/<id>/assignment.toml` (what to
extract, which checks), `probes.py` (runs in the sandbox), `checks.py` (grader side), a
reference solution and a rubric. Nothing in grader/ knows a particular assignment."""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from . import kinds
from .check import Check
from .errors import SetupError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = REPO / "assignments"


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    requires: tuple[str, ...]
    probe: str | None
    outcome_of: str | None = None    # judges the inputs and outcome of another check's probe
    kind: str | None = None          # a check kind of grader/kinds/, configured by `table`
    table: dict | None = None        # the check's [[checks]] table in assignment.toml


@dataclass
class Assignment:
    id: str
    title: str
    folder: Path
    spec: dict
    rubric: dict
    rubric_path: Path
    reference_path: Path
    checks: list[CheckSpec]

    def stamp(self) -> tuple:
        """Size and modification time of every file it was loaded from: a process that keeps it
        (a batch's or a cluster's worker) loads it again when one changes."""
        paths = sorted([*self.folder.iterdir(), self.reference_path, self.rubric_path])
        return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths if p.is_file())

    @property
    def probe_files(self) -> list[Path]:
        """What the probe process runs, in one module: the assignment's own probes.py when it has
        one (first, so that its `from __future__` imports stay at the top), then the check kinds'
        probes when a check has a kind (their names start with kind_ or _kind_)."""
        own = self.folder / "probes.py"
        return ([own] if own.is_file() else []) + ([kinds.PROBES] if any(c.kind for c in self.checks) else [])

    @property
    def names(self) -> list[str]:
        return list(self.spec["names"]) + list(self.spec.get("optional_names", []))

    @property
    def aliases(self) -> dict[str, list[str]]:
        """Other spellings of the names, as courses write them (`Optimiser_SGD`)."""
        return {k: list(v) for k, v in self.spec.get("aliases", {}).items()}

    @property
    def settings_call(self) -> list[str]:
        """Hyperparameters read from the arguments of the last call to one of these (a constructor)."""
        return list(self.spec.get("hyperparameters", {}).get("from_call", []))

    @property
    def kernel_probe(self) -> str | None:
        """Source of the assignment's `probe(namespace)`, run in the kernel right after the marked
        cell: what the notebook computed there (e.g. its trained model's test predictions)."""
        name = self.spec.get("hyperparameters", {}).get("kernel_probe")
        return (self.folder / name).read_text() if name else None

    @property
    def signature(self) -> list[str]:
        """Text that a notebook of this assignment contains."""
        return list(self.spec.get("signature", []))

    @property
    def hyperparameter_names(self) -> list[str]:
        return list(self.spec.get("hyperparameters", {}).get("names", []))

    @property
    def marker(self) -> str | None:
        return self.spec.get("hyperparameters", {}).get("marker")

    @property
    def dataset_kind(self) -> str | None:
        """The data set it is graded on (a provider under datasets/, e.g. "cifar10"), or None: its
        checks make their own."""
        return self.spec.get("dataset")

    @property
    def kernel_packages(self) -> list[str]:
        """What the kernel lets a notebook import (import names), beyond the standard library:
        named in the report when a notebook imports something else."""
        return list(self.spec.get("kernel_packages", []))

    @property
    def kernel_note(self) -> str:
        """What reports tell students about how their notebook ran (e.g. where its data came from)."""
        return self.spec.get("kernel_note", "")

    def limits(self) -> dict:
        return self.rubric.get("limits", {})

    def check_rubric(self, check_id: str) -> dict:
        return self.rubric.get("checks", {}).get(check_id, {})

    def adapter(self) -> ModuleType:
        return _load_module(f"nngrader_checks_{self.id}", self.folder / "checks.py")

    def implementations(self) -> dict[str, Check]:
        """Every check of assignment.toml as a Check: a kind's (with the known mistakes checks.py
        gives in MISTAKES[check id], the variants it accepts in EQUIVALENTS[check id], its own
        inputs in CASES[check id], allowances in ALLOWANCES[check id] and the magnitude of its terms
        in SCALES[check id], a training check's
        hooks in TRAINING[check id]), or
        checks.py's own in its CHECKS table; one with a probe says what the probe runs on."""
        adapter = self.adapter() if (self.folder / "checks.py").is_file() else None
        own, mistakes = getattr(adapter, "CHECKS", {}), getattr(adapter, "MISTAKES", {})
        equivalents = getattr(adapter, "EQUIVALENTS", {})
        cases, allowances = getattr(adapter, "CASES", {}), getattr(adapter, "ALLOWANCES", {})
        scales, training = getattr(adapter, "SCALES", {}), getattr(adapter, "TRAINING", {})
        if not all(isinstance(t, dict) for t in (own, mistakes, equivalents, cases, allowances, scales, training)):
            raise ValueError(f"{self.id}: checks.py's CHECKS, MISTAKES, EQUIVALENTS, CASES, ALLOWANCES, SCALES and "
                             "TRAINING must be tables keyed by check id")
        table = {**own, **{c.id: kinds.check(c.table, mistakes.get(c.id, {}), equivalents.get(c.id, {}),
                                             kinds.Hooks(cases.get(c.id), allowances.get(c.id), scales.get(c.id)),
                                             training.get(c.id))
                           for c in self.checks if c.kind}}
        for spec in self.checks:
            check = table.get(spec.id)
            if not isinstance(check, Check):
                raise ValueError(f"{self.id}: checks.py's CHECKS has no Check for {spec.id!r}")
            if spec.probe and check.inputs is None:
                raise ValueError(f"{self.id}: check {spec.id!r} runs the probe {spec.probe!r} but has no inputs")
        return table

    def reference(self) -> ModuleType:
        module = _load_module(f"nngrader_reference_{self.id}", self.reference_path)
        module.__fingerprint__ = _sha256(self.reference_path)
        return module

    def public_checks(self) -> list[CheckSpec]:
        """The checks the rubric marks `public = true`: students' self-check runs them (selfcheck.py)."""
        return [c for c in self.checks if self.check_rubric(c.id).get("public", False)]

    def definition(self) -> ModuleType:
        """What the assignment's text defines (definition.py: formulas, gradients by centered
        differences): what a student's self-check compares with instead of the reference."""
        path = self.folder / "definition.py"
        if not path.is_file():
            raise ValueError(f"{self.id} has no definition.py, so no check of it can be public")
        return _load_module(f"nngrader_definition_{self.id}", path)

    def code_fingerprint(self) -> str:
        """The code that judges: the reference and the assignment's Python files (not definition.py,
        which only students' self-check uses)."""
        h = hashlib.sha256()
        for path in sorted([self.reference_path, *(p for p in self.folder.glob("*.py") if p.name != "definition.py")]):
            h.update(path.name.encode() + _sha256(path).encode())
        return h.hexdigest()


def load(assignment_id: str, rubric_path: Path | None = None) -> Assignment:
    folder = ASSIGNMENTS / assignment_id
    if not (folder / "assignment.toml").is_file():
        raise SetupError(f"unknown assignment {assignment_id!r} (known: {', '.join(known())})")
    spec = tomllib.loads((folder / "assignment.toml").read_text())
    rubric_path = rubric_path or REPO / spec["rubric"]
    rubric = tomllib.loads(rubric_path.read_text())
    checks = [_check_spec(assignment_id, c) for c in spec["checks"]]
    unknown = set(rubric.get("checks", {})) - {c.id for c in checks}
    if unknown:
        raise SetupError(f"{rubric_path}: rubric names checks the assignment does not have: {sorted(unknown)}")
    return Assignment(spec["id"], spec.get("title", spec["id"]), folder, spec, rubric, rubric_path,
                      REPO / spec["reference"], checks)


def _check_spec(assignment_id: str, c: dict) -> CheckSpec:
    kind = c.get("kind")
    if kind is not None and kind not in kinds.KINDS:
        raise SetupError(f"{assignment_id}: check {c['id']!r} has the unknown kind {kind!r} "
                         f"(known: {', '.join(kinds.KINDS)})")
    probe = kinds.probe(c) if kind else c.get("probe")
    return CheckSpec(c["id"], c.get("title", c["id"]), tuple(c.get("requires", ())), probe, c.get("outcome_of"),
                     kind, c if kind else None)


def known() -> list[str]:
    return sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / "assignment.toml").is_file())


def detect(sources: list[str]) -> tuple[str | None, str]:
    """The assignment whose signature the notebooks' code matches best, and how sure that is.
    `sources` holds each notebook's code; None when no assignment, or more than one, fits best."""
    scores = {}
    for assignment_id in known():
        signature = [s.lower() for s in load(assignment_id).signature]
        scores[assignment_id] = sum(sum(s in text.lower() for s in signature) / max(1, len(signature))
                                    for text in sources)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] == 0 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None, ", ".join(f"{k}: {v:.1f}" for k, v in ranked)
    return ranked[0][0], f"its signature matches {ranked[0][1]:.1f} of {len(sources)} notebook(s)"


def forget(assignment_id: str) -> None:
    """Drop this assignment's modules (checks.py, the reference, definition.py) that this process
    imported, so that the next load reads their files again."""
    for kind in ("checks", "reference", "definition"):
        sys.modules.pop(f"nngrader_{kind}_{assignment_id}", None)


def _load_module(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
