"""Similar submissions across a class: planted copies are flagged, independent work and the
template's minimal answers are not; the numbers, the time for 300 students, the cache, and a
dashboard and CSV that stay safe whatever a student id or a message holds."""
from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import random
import re
import shutil
import subprocess
import time
from dataclasses import replace

import nbformat
import pytest

from grader import assignment, cli, fingerprint, report, similarity

import similarity_class as sc
from conftest import REPO

ARTIFACTS = REPO / "test-artifacts"

CIFAR = assignment.load("cifar10_fcnet")
SEEDS = range(4)


@pytest.fixture(scope="module")
def classes():
    return [sc.make_class(40, seed=seed) for seed in SEEDS]


def pairs(outcome) -> set[frozenset]:
    return {frozenset((p.a, p.b)) for p in outcome.flagged}


def test_disguises_leave_the_fingerprint_as_it_was():
    """Renamed variables (dict keys named after them too), reordered methods, other comments,
    spacing and quotes: the very same k-grams, for students of every style."""
    given = similarity.given_code(CIFAR)
    for seed in range(8):
        s = replace(sc.random_style(random.Random(seed)), comments=0.0)
        plain = sc.result("a", s, 1)["extraction"]["sources"]
        for disguise in (replace(sc.renamed(s, random.Random(seed)), reorder=True), replace(s, reformat=True)):
            other = sc.result("b", disguise, 2)["extraction"]["sources"]
            assert other != plain
            for name in ("SGD", "FullyConnectedNet"):
                mine = {g.hash for g in fingerprint.fingerprint({name: plain[name]}, given.known).grams}
                theirs = {g.hash for g in fingerprint.fingerprint({name: other[name]}, given.known).grams}
                assert mine == theirs, (seed, name)


def test_planted_cases_precision_and_recall(classes, tmp_path):
    found = planted = flagged = 0
    missed = []
    for seed, c in zip(SEEDS, classes):
        outcome = similarity.run(tmp_path / str(seed), c.results, CIFAR)
        assert not outcome.problem
        got = pairs(outcome)
        found += len(got & c.copies)
        planted += len(c.copies)
        missed += [f"{sorted(p)} in class {seed}" for p in c.copies - got]
        flagged += len(got)
        # never flagged: independent students, the minimal answers, the release handed back untouched
        assert not {p for p in got - c.copies if any(s.startswith(("min", "untouched")) for s in p)}
        bug = next(p for p in outcome.flagged if {p.a, p.b} == {"s002", "copy_bug"})
        assert any("KeyError: '1'" in e.label for e in bug.results) and bug.bits > 0
        assert bug.fragments and any(hit for f in bug.fragments for _, _, hit in f.left)
    precision, recall = found / max(flagged, 1), found / planted
    print(f"\nplanted copies: precision {found}/{flagged} = {precision:.2f}, recall {found}/{planted} = {recall:.2f} "
          f"over {len(classes)} classes of {len(classes[0].results)}; missed: {', '.join(missed) or 'none'}")
    assert precision == 1.0
    assert recall >= 0.8


def test_similarity_never_changes_results_and_stays_out_of_student_pages(classes, tmp_path):
    results = classes[0].results
    before = copy.deepcopy(results)
    outcome = similarity.run(tmp_path, results, CIFAR)
    assert results == before and outcome.flagged
    folder = tmp_path / "s002"
    folder.mkdir()
    result = {**results[0], "total": 0, "max_total": 90, "checks": [], "execution": {"status": "ok"}}
    report.write_student(folder, result, feedback=True)
    for page in ("report.html", "feedback.html"):
        assert "copy_bug" not in (folder / page).read_text() and "Similar" not in (folder / page).read_text()


def test_a_rerun_fingerprints_only_what_changed(classes, tmp_path):
    results = copy.deepcopy(classes[1].results)
    assert similarity.run(tmp_path, results, CIFAR).fingerprinted == len(results)
    results[5]["extraction"]["sources"]["SGD"] += "\n# edited\n"
    results[6]["extraction"]["sources"]["SGD"] = results[6]["extraction"]["sources"]["SGD"].replace(
        "self.beta", "beta_")
    assert similarity.run(tmp_path, results, CIFAR).fingerprinted == 2


def test_300_submissions_in_seconds(tmp_path):
    c = sc.make_class(293, seed=11)
    assert len(c.results) >= 300
    started = time.monotonic()
    outcome = similarity.run(tmp_path, c.results, CIFAR)
    cold = time.monotonic() - started
    started = time.monotonic()
    again = similarity.run(tmp_path, c.results, CIFAR)
    warm = time.monotonic() - started
    got = pairs(outcome)
    print(f"\n{len(c.results)} submissions, {outcome.pairs_compared} pairs: {cold:.1f} s, re-run {warm:.1f} s "
          f"({again.fingerprinted} fingerprinted); flagged {len(got)}, planted found {len(got & c.copies)}/{len(c.copies)}")
    assert outcome.pairs_compared == len(c.results) * (len(c.results) - 1) // 2
    assert again.fingerprinted == 0 and pairs(again) == got
    assert len(got & c.copies) >= 2 and not {p for p in got - c.copies if any(s.startswith("min") for s in p)}
    assert len(got - c.copies) <= len(c.results) // 50   # a few independent pairs may write near-identical code
    assert cold < 60 and warm < 30   # generous for a slow CI machine; see the printed figure


def test_dashboard_and_csv_are_safe_whatever_the_ids(classes, tmp_path):
    hostile = {"s002": "=HYPERLINK(\"http://x\")", "copy_bug": "<script>alert(1)</script>#../x"}
    results = copy.deepcopy(classes[0].results)
    for r in results:
        r["student"] = hostile.get(r["student"], r["student"])
        r.update(total=0, max_total=90)
    outcome = similarity.run(tmp_path, results, CIFAR)
    rows = list(csv.reader(io.StringIO((tmp_path / "similarity.csv").read_text())))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    report.write_index(tmp_path, results, {"assignment": "cifar10_fcnet", "isolation": "bwrap"}, outcome)
    page = (tmp_path / "index.html").read_text()
    section = page[page.index('id="similar"'):page.index("<script>")]
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    for student in hostile.values():   # the reports' folder of that id, as a relative link
        assert f'href="{report.report_href(student)}"' in section
    hrefs = re.findall(r'href="([^"]*)"', section)
    assert hrefs and all(re.fullmatch(r"\./[A-Za-z0-9%._~-]+/report\.html", h) for h in hrefs)
    assert 'class="hit"' in section and not re.search(r"<[^>]*\son\w+=|src=", section)   # no handlers, nothing fetched
    assert 'href="http' not in section


def test_the_rubric_sets_it(classes, tmp_path):
    for assignment_id in assignment.known():
        settings = similarity.Settings.from_rubric(assignment.load(assignment_id).rubric)
        assert 0 < settings.code_threshold <= 1 and settings.enabled
    assert similarity.run(tmp_path, classes[0].results, CIFAR).flagged and (tmp_path / "similarity.csv").is_file()
    typo = similarity.run(tmp_path, classes[0].results, replace_rubric({"similarity": {"threshhold": 0.5}}))
    assert "threshhold" in typo.problem and not typo.pairs   # said on the dashboard; the batch goes on
    assert not (tmp_path / "similarity.csv").exists()        # no stale pairs from an earlier run
    off = similarity.run(tmp_path, classes[0].results, replace_rubric({"similarity": {"enabled": False}}))
    assert off.problem and not off.pairs


def replace_rubric(rubric: dict):
    a = copy.copy(CIFAR)
    a.rubric = rubric
    return a


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_a_real_batch_shows_the_section(tmp_path):
    """Three notebooks graded for real: a student with a distinctive bug, a disguised copy of them,
    and someone else. The dashboard flags the pair with its evidence; the exports know nothing of it;
    in a browser, under a Content-Security-Policy that allows only the page's own style and script,
    the page still works (screenshot in test-artifacts/similar.png)."""
    rng = random.Random(3)
    fast = {"hidden_dim": 50, "alpha": 0.01, "beta": 0.9, "batch_size": 20, "num_iters": 200}
    base = replace(sc.random_style(rng), distinctive="str_keys", hyperparams=fast)
    other = replace(sc.random_style(rng), hyperparams={**fast, "hidden_dim": 64})
    folder = tmp_path / "submissions"
    folder.mkdir()
    for student, style in (("ana", base), ("ben", replace(sc.renamed(base, rng), reformat=True)), ("cy", other)):
        nbformat.write(sc.notebook(style, seed=len(student)), folder / f"{student}.ipynb")
    out = tmp_path / "out"
    assert cli.main(["grade", str(folder), "--out", str(out), "-j", "2", "--assignment", "cifar10_fcnet"]) == 0
    rows = list(csv.DictReader(io.StringIO((out / "similarity.csv").read_text())))
    flagged = [(r["student_a"], r["student_b"]) for r in rows if r["flagged"] == "yes"]
    assert flagged == [("ana", "ben")] and "KeyError" in rows[0]["identical_results"]
    for export in ("grades.csv", "canvas.csv", "moodle.csv", "blackboard.csv"):
        assert "similar" not in (out / export).read_text().lower()
    page = (out / "index.html").read_text()
    assert 'href="./ana/report.html"' in page.split('id="similar"')[1]
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    styles, scripts = re.findall(r"<style>(.*?)</style>", page, re.S), re.findall(r"<script>(.*?)</script>", page, re.S)
    digest = lambda text: "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
    policy = (f"default-src 'none'; style-src {' '.join(map(digest, styles))}; "
              f"script-src {' '.join(map(digest, scripts))}")
    strict = out / "strict.html"
    strict.write_text(page.replace("<head>", f'<head><meta http-equiv="Content-Security-Policy" content="{policy}">', 1))
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", strict.resolve().as_uri() + "#sort=total"], capture_output=True,
                         text=True, timeout=120).stdout
    assert 'data-sorted="total"' in dom and 'class="hit"' in dom   # its script ran under the policy
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "similar.png"
    body = page.split("<body>", 1)
    focused = out / "similar.html"   # the section first, so that the screenshot shows it
    section = page[page.index('<h2 id="similar">'):page.index("<script>")]
    focused.write_text(body[0] + "<body>" + section + "</body></html>")
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,1400", focused.resolve().as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_code_that_cannot_be_read_only_leaves_its_author_out(classes, tmp_path):
    results = copy.deepcopy(classes[2].results)
    results[3]["extraction"]["sources"]["SGD"] = "def step(self, g):\n    return " + "-" * 5000 + "g\n"
    results[4]["extraction"]["sources"]["FullyConnectedNet"] = "class FullyConnectedNet(:\n"
    results[5]["extraction"]["sources"]["SGD"] = "def step(self, g):\n    return " + "-" * 980 + "g\n"
    outcome = similarity.run(tmp_path, results, CIFAR)
    assert not outcome.problem and pairs(outcome) == pairs(similarity.run(tmp_path / "b", classes[2].results, CIFAR))


NNFS_OPTIMIZER = '''class Optimizer_SGD:
    def __init__(self, learning_rate=1., decay=0., momentum=0.):
        self.learning_rate = learning_rate
        self.current_learning_rate = learning_rate
        self.decay = decay
        self.iterations = 0
        self.momentum = momentum

    def pre_update_params(self):
        self.current_learning_rate = self.learning_rate / (1 + self.decay * self.iterations)

    def update_params(self, layer):
        for param, grad, store in (("weights", "dweights", "weight_momentums"), ("biases", "dbiases", "bias_momentums")):
            value = getattr(layer, param)
            velocity = getattr(layer, store, np.zeros_like(value))
            velocity = self.momentum * velocity - self.current_learning_rate * getattr(layer, grad)
            setattr(layer, store, velocity)
            setattr(layer, param, value + velocity)

    def post_update_params(self):
        self.iterations += 1
'''
NNFS_LOSS_BACKWARD = '''    def backward(self, dvalues, y_true):
        n = dvalues.shape[0]
        labels = y_true.argmax(axis=1) if y_true.ndim == 2 else y_true
        grad = dvalues.copy()
        grad[np.arange(n), labels] -= 1
        self.dinputs = grad / n
'''
NNFS_OTHER_OPTIMIZER = '''    def update_params(self, layer):
        lr = self.current_learning_rate
        if not self.momentum:
            layer.weights -= lr * layer.dweights
            layer.biases -= lr * layer.dbiases
            return
        if not hasattr(layer, "weight_momentums"):
            layer.weight_momentums = np.zeros_like(layer.weights)
            layer.bias_momentums = np.zeros_like(layer.biases)
        layer.weight_momentums = self.momentum * layer.weight_momentums - lr * layer.dweights
        layer.bias_momentums = self.momentum * layer.bias_momentums - lr * layer.dbiases
        layer.weights += layer.weight_momentums
        layer.biases += layer.bias_momentums
'''


def test_nnfs_the_books_code_is_nobodys_own_a_renamed_copy_is_found():
    """The second assignment: two students hand in the book's classes (the reference), one the
    release untouched, one writes the optimizer and the loss gradient their own way, another
    copies that with every name changed, the methods reordered and comments added, and a fifth
    writes their own optimizer. Only the copy is flagged."""
    a = assignment.load("nnfs_sgd_momentum")
    book = nbformat.read(REPO / "reference" / "nnfs_sgd_momentum.ipynb", as_version=4)

    def student(name, optimizer=None, loss_backward=None):
        nb = copy.deepcopy(book)
        if optimizer is not None:
            nb.cells[11].source = optimizer
        if loss_backward is not None:
            cell = nb.cells[9].source
            nb.cells[9].source = cell[:cell.index("    def backward")] + loss_backward
        ex = sc.extract.extract(nb, a.names, a.aliases)
        return {"student": name, "extraction": {"sources": ex.sources}, "checks": [],
                "hyperparams": {"values": {"learning_rate": 1.0, "decay": 1e-3, "momentum": 0.9}}}

    renames = {"param": "attr", "grad": "g", "store": "slot", "value": "w", "velocity": "vel", "labels": "target",
               " n ": " count ", "[np.arange(n)": "[np.arange(count)", "/ n\n": "/ count\n"}
    copied_optimizer, copied_loss = NNFS_OPTIMIZER, NNFS_LOSS_BACKWARD
    for old, new in renames.items():
        copied_optimizer, copied_loss = copied_optimizer.replace(old, new), copied_loss.replace(old, new)
    head, *methods = copied_optimizer.split("\n    def ")
    copied_optimizer = "\n    def ".join([head, *reversed(methods)]).replace("    def post", "    # one step done\n    def post")
    release = nbformat.read(a.folder / "release.ipynb", as_version=4)
    results = [student("book1"), student("book2"),
               {"student": "untouched", "extraction": {"sources": sc.extract.extract(release, a.names, a.aliases).sources}},
               student("own", NNFS_OPTIMIZER, NNFS_LOSS_BACKWARD), student("copy", copied_optimizer, copied_loss),
               student("other", NNFS_OPTIMIZER[:NNFS_OPTIMIZER.index("    def update_params")] + NNFS_OTHER_OPTIMIZER)]
    assert results[4]["extraction"]["sources"] != results[3]["extraction"]["sources"]
    given = similarity.given_code(a)
    owns = {r["student"]: similarity.own_code(fingerprint.fingerprint(r["extraction"]["sources"], given.known), given)
            for r in results}
    assert not owns["book1"].hashes and not owns["untouched"].hashes and owns["own"].hashes
    outcome = similarity.compare(results, owns, given, {c.id: c.requires for c in a.checks},
                                 similarity.Settings.from_rubric(a.rubric))
    print("\n", [(p.a, p.b, round(p.code, 2), p.shared, p.flagged) for p in outcome.pairs])
    assert pairs(outcome) == {frozenset(("own", "copy"))}
