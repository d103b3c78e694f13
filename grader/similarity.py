"""Suspiciously similar submissions across a class, for the TAs: after a batch, every pair of
students is compared on

* the code that was graded (the extracted definitions), with the code everyone was given or
  could copy from one place subtracted (the release notebook, the reference solution) and the
  fragments that much of the class wrote alike left out: what remains is what a student wrote
  their own way, and a pair is flagged when most of it is shared (grader/fingerprint.py);
* identical unusual results: the same failure with the same figures, the same exception, the
  same hyperparameter set, each weighted by how rare it is in the class (log2(N / count) bits).
  A pair is flagged when the bits it shares make chance unlikely across all the pairs of the
  class (log2 of the number of pairs, plus a margin).

The outcome goes to the dashboard and to OUT/similarity.csv only: never into student reports,
feedback or LMS exports, and it never changes points. Own code is kept in
OUT/.similarity/fingerprints.json with a key of the code it came from and of what was given,
so a re-run fingerprints only new or changed submissions.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import nbformat

from . import export, extract, fingerprint
from .write import write_atomic

CACHE = Path(".similarity") / "fingerprints.json"
CSV_NAME = "similarity.csv"
PASSING = ("pass",)


@dataclass(frozen=True)
class Settings:
    """The rubric's [similarity] table (README: "Similar submissions")."""
    enabled: bool = True
    code_threshold: float = 0.8      # weight of the shared own fragments / the larger one's own (0..1)
    min_shared: int = 12             # ... and at least this many shared fragments (k-grams)
    common_fraction: float = 0.15    # a fragment more than this share of the class wrote is common
    results_margin_bits: float = 6.0  # bits over log2(number of pairs) to flag on results alone
    max_pairs_shown: int = 50        # pairs with their code side by side on the dashboard
    csv_min_score: float = 0.3       # pairs in similarity.csv: score at least this

    @classmethod
    def from_rubric(cls, rubric: dict) -> "Settings":
        table = rubric.get("similarity", {})
        unknown = set(table) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"[similarity] in the rubric has unknown keys: {sorted(unknown)}")
        return cls(**table)


@dataclass
class Evidence:
    """One identical result of two students, and how rare it is in the class."""
    label: str
    bits: float


@dataclass
class Fragment:
    """One definition of both students, its lines marked where the pair shares a fragment."""
    name: str
    left: list[tuple[int, str, bool]]
    right: list[tuple[int, str, bool]]


@dataclass
class Pair:
    a: str
    b: str
    code: float = 0.0          # weight of the shared fragments / the larger one's own
    shared: int = 0            # own fragments in common
    bits: float = 0.0          # rarity of the identical results in common
    results: list[Evidence] = field(default_factory=list)
    score: float = 0.0         # max(code / code_threshold, bits / bits_needed): 1 or more is flagged
    flagged: bool = False
    fragments: list[Fragment] = field(default_factory=list)


@dataclass
class Outcome:
    """What the dashboard shows and similarity.csv holds."""
    settings: Settings
    students: int = 0
    pairs_compared: int = 0
    bits_needed: float = 0.0
    pairs: list[Pair] = field(default_factory=list)      # flagged first, then by score
    clusters: list[list[str]] = field(default_factory=list)
    fingerprinted: int = 0     # submissions fingerprinted in this run (the others came from the cache)
    seconds: float = 0.0
    problem: str = ""          # why there is no outcome, if there is none

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.flagged]


# ---------------------------------------------------------------- what everyone was given


@dataclass
class Given:
    """Code every student had or could copy from one place, and the release's hyperparameters."""
    hashes: set[int]
    canonical: set[int]        # the same, once numpy's equivalent spellings are made one
    known: set[str]            # identifiers that are not the student's own
    hyperparams: dict
    digest: str


def given_code(a) -> Given:
    """The release notebook's code and the reference solution, fingerprinted like a submission."""
    sources, hyperparams = [], {}
    release = a.folder / a.spec.get("release", "release.ipynb")
    if release.is_file():
        nb = nbformat.read(release, as_version=4)
        statements, _ = extract.parse_cells(nb)
        sources += [st.source for st in statements]
        if a.settings_call:
            hyperparams = extract.call_arguments(nb, a.settings_call, a.hyperparameter_names).values
        elif a.hyperparameter_names:
            hyperparams = extract.literal_assignments(nb, a.hyperparameter_names, len(nb.cells)).values
    for path in (a.reference_path, a.reference_path.with_suffix(".ipynb")):
        if path.suffix == ".py" and path.is_file():
            sources.append(path.read_text())
        elif path.is_file():
            sources += [st.source for st in extract.parse_cells(nbformat.read(path, as_version=4))[0]]
    known = fingerprint.vocabulary(sources)
    hashes = set().union(*(fingerprint.module_hashes(s, known) for s in sources))
    canonical = set().union(*(fingerprint.module_hashes(s, known, canonical=True) for s in sources))
    digest = _digest([fingerprint.VERSION, sorted(known), sorted(hashes)])
    return Given(hashes, canonical, known, hyperparams, digest)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


# ---------------------------------------------------------------- fingerprints, cached


def _sources(result: dict) -> dict[str, str]:
    """The graded code of a result: extracted name -> source (none if the notebook was unreadable)."""
    return (result.get("extraction") or {}).get("sources") or {}


@dataclass
class Own:
    """What a student wrote their own way: the k-grams of their graded code that are not what
    everyone was given (`Fingerprint.given`), and the definitions those are in."""
    hashes: set[int]
    names: set[str]


def own_code(print_: fingerprint.Fingerprint, given: Given) -> Own:
    boilerplate = print_.given(given.hashes, given.canonical)
    hashes = print_.hashes() - boilerplate
    return Own(hashes, {g.name for g in print_.grams if g.hash in hashes})


def own_codes(out: Path, results: list[dict], given: Given) -> tuple[dict[str, Own], int]:
    """Each student's own code, from the cache where the graded code and what was given are
    unchanged; how many submissions had to be fingerprinted."""
    path = out / CACHE
    try:
        cached = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        cached = {}   # a damaged cache is only slower
    kept, computed, memo = {}, 0, {}
    owns: dict[str, Own] = {}
    for r in results:
        sources = _sources(r)
        key = _digest([given.digest, sources])
        entry = cached.get(r["student"])
        if isinstance(entry, dict) and entry.get("key") == key:
            owns[r["student"]] = Own(set(entry["own"]), set(entry["names"]))
        else:
            owns[r["student"]] = own_code(fingerprint.fingerprint(sources, given.known, memo), given)
            computed += 1
        kept[r["student"]] = {"key": key, "own": sorted(owns[r["student"]].hashes),
                              "names": sorted(owns[r["student"]].names)}
    if computed or set(kept) != set(cached):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(kept, separators=(",", ":")))
    return owns, computed


# ---------------------------------------------------------------- identical unusual results


def _canonical(details: dict) -> str:
    """A check's details without its traceback (it names temporary folders): the figures, bit for bit."""
    return json.dumps({k: v for k, v in (details or {}).items() if k != "traceback"}, sort_keys=True, default=repr)


def result_signatures(result: dict, requires: dict[str, tuple], own_names: set[str], given: Given) -> dict[str, str]:
    """signature -> what a TA reads, for the results of one student that could give a copy away:
    a check that ran their code and did not pass (message and figures), an exception the notebook
    raised, their hyperparameter set. Only where the student wrote code of their own: the
    release's stubs fail the same way for everyone who left them."""
    found = {}
    if not own_names:
        return found
    for check in result.get("checks", []):
        needs = requires.get(check["id"], ())
        if check.get("status") in PASSING or not needs or not own_names & set(needs):
            continue   # passing is not unusual; a check of no code (settings only) is the settings
        key = f"check\x1f{check['id']}\x1f{check['status']}\x1f{check.get('message', '')}\x1f" \
              f"{_canonical(check.get('details'))}"
        found[key] = f"{check['id']}: {check.get('message', '')}"
    for error in (result.get("execution") or {}).get("errors") or []:
        text = f"{error.get('ename', '')}: {error.get('evalue', '')}"
        found[f"error\x1f{text}"] = f"the notebook raised {text}"
    values = (result.get("hyperparams") or {}).get("values") or {}
    if values and values != given.hyperparams:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(values.items()))
        found["hp\x1f" + json.dumps(values, sort_keys=True, default=repr)] = f"hyperparameters {shown}"
    return found


# ---------------------------------------------------------------- the class


def compare(results: list[dict], owns: dict[str, Own], given: Given, requires: dict[str, tuple],
            settings: Settings) -> Outcome:
    """Every pair of students, through inverted indexes: only pairs that share something cost time."""
    outcome = Outcome(settings, students=len(results))
    n = len(results)
    outcome.pairs_compared = n * (n - 1) // 2
    if n < 2:
        return outcome
    own = {s: o.hashes for s, o in owns.items()}
    own_names = {s: o.names for s, o in owns.items()}
    frequency = Counter(h for hashes in own.values() for h in hashes)
    common_over = max(2, settings.common_fraction * n)
    distinct = {s: {h for h in hashes if frequency[h] <= common_over} for s, hashes in own.items()}

    weight = {h: math.log(n / frequency[h]) for hashes in distinct.values() for h in hashes}
    total = {s: sum(weight[h] for h in hashes) for s, hashes in distinct.items()}
    shared: Counter = Counter()      # (a, b) -> fragments in common
    shared_weight: Counter = Counter()
    index: dict[int, list[str]] = defaultdict(list)
    for student, hashes in distinct.items():
        for h in hashes:
            index[h].append(student)
    for h, students in index.items():
        for a, b in combinations(sorted(students), 2):
            shared[a, b] += 1
            shared_weight[a, b] += weight[h]

    signatures = {r["student"]: result_signatures(r, requires, own_names[r["student"]], given) for r in results}
    counts = Counter(key for found in signatures.values() for key in found)
    holders: dict[str, list[str]] = defaultdict(list)
    for student, found in signatures.items():
        for key in found:
            if 2 <= counts[key] <= common_over:   # shared, and unusual in this class
                holders[key].append(student)
    evidence: dict[tuple[str, str], list[Evidence]] = defaultdict(list)
    for key, students in holders.items():
        bits = math.log2(n / counts[key])
        if bits <= 0:
            continue
        for a, b in combinations(sorted(students), 2):
            evidence[a, b].append(Evidence(signatures[a][key], bits))

    outcome.bits_needed = math.log2(outcome.pairs_compared) + settings.results_margin_bits
    for a, b in set(shared) | set(evidence):
        pair = Pair(a, b, shared=shared[a, b], results=sorted(evidence[a, b], key=lambda e: -e.bits))
        larger = max(total[a], total[b])
        pair.code = shared_weight[a, b] / larger if larger else 0.0
        pair.bits = sum(e.bits for e in pair.results)
        code_flag = pair.shared >= settings.min_shared and pair.code >= settings.code_threshold
        results_flag = pair.bits >= outcome.bits_needed
        pair.score = max(pair.code / settings.code_threshold if pair.shared >= settings.min_shared else 0.0,
                         pair.bits / outcome.bits_needed)
        pair.flagged = code_flag or results_flag
        if pair.score >= settings.csv_min_score or pair.flagged:
            outcome.pairs.append(pair)
    outcome.pairs.sort(key=lambda p: (not p.flagged, -p.score, p.a, p.b))
    outcome.clusters = clusters(outcome.flagged)
    by_student, prints = {r["student"]: r for r in results}, {}
    for pair in outcome.flagged[:settings.max_pairs_shown]:
        for s in (pair.a, pair.b):   # the k-grams' lines, again: for the few students shown only
            if s not in prints:
                prints[s] = fingerprint.fingerprint(_sources(by_student[s]), given.known)
        pair.fragments = fragments(pair, by_student, prints, distinct)
    return outcome


def clusters(pairs: list[Pair]) -> list[list[str]]:
    """Groups of students linked by flagged pairs (connected components), largest first."""
    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while parent.setdefault(s, s) != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for p in pairs:
        parent[root(p.a)] = root(p.b)
    groups: dict[str, list[str]] = defaultdict(list)
    for s in parent:
        groups[root(s)].append(s)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))


def fragments(pair: Pair, by_student: dict, prints: dict, distinct: dict, context: int = 1) -> list[Fragment]:
    """Both students' definitions side by side: the lines of their shared fragments, marked, with
    `context` lines around them; `…` where lines are left out."""
    common = distinct[pair.a] & distinct[pair.b]

    def marked(student: str, name: str) -> list[tuple[int, str, bool]]:
        source = _sources(by_student[student]).get(name, "")
        code = fingerprint.code_lines(source)
        hit = set()
        for g in prints[student].grams:
            if g.name == name and g.hash in common and not g.canonical:
                hit.update(n for n in range(g.first, g.last + 1) if n in code)
        lines = source.splitlines()
        shown, last = [], 0
        for i, line in enumerate(lines, 1):
            if any(h in hit for h in range(i - context, i + context + 1)):
                if last and i > last + 1:
                    shown.append((0, "…", False))
                shown.append((i, line, i in hit))
                last = i
        return shown

    names = sorted({g.name for s in (pair.a, pair.b) for g in prints[s].grams if g.hash in common})
    return [Fragment(name, marked(pair.a, name), marked(pair.b, name)) for name in names]


# ---------------------------------------------------------------- the batch


def run(out: Path, results: list[dict], a) -> Outcome:
    """Compare the class after a batch and write OUT/similarity.csv. A problem here is reported on
    the dashboard and never stops the batch: the grades are already written."""
    try:
        settings = Settings.from_rubric(a.rubric)
    except (ValueError, TypeError) as exc:   # a typo in the rubric: the grades stand, the TA is told
        return _not_compared(out, Settings(), str(exc))
    if not settings.enabled:
        return _not_compared(out, settings, "turned off in the rubric ([similarity] enabled = false)")
    started = time.monotonic()
    graded = [r for r in results if not r.get("grader_error") and r.get("student")]
    try:
        given = given_code(a)
        owns, computed = own_codes(out, graded, given)
        requires = {c.id: c.requires for c in a.checks}
        outcome = compare(graded, owns, given, requires, settings)
        outcome.fingerprinted = computed
        write_atomic(out / CSV_NAME, to_csv(outcome))
    except Exception as exc:  # noqa: BLE001 - the grades stand without it; say why on the dashboard
        return _not_compared(out, settings, f"the comparison failed: {type(exc).__name__}: {exc}")
    outcome.seconds = time.monotonic() - started
    return outcome


def _not_compared(out: Path, settings: Settings, why: str) -> Outcome:
    """No comparison this run: an earlier run's similarity.csv would mislead, so it goes."""
    (out / CSV_NAME).unlink(missing_ok=True)
    return Outcome(settings, problem=why)


def to_csv(outcome: Outcome) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer, lineterminator="\n")
    w.writerow(["student_a", "student_b", "flagged", "score", "code_similarity", "shared_fragments",
                "results_bits", "identical_results"])
    for p in outcome.pairs:
        row = (p.a, p.b, "yes" if p.flagged else "no", round(p.score, 3), round(p.code, 3), p.shared,
               round(p.bits, 1), " | ".join(e.label for e in p.results))
        w.writerow([export.inert(v) for v in row])   # ids and messages are the students' text
    return buffer.getvalue()
