"""Extraction under hostile input: constants it must not compute, notebooks it must read in linear
time, module-level statements that fail when the probes load them, and look-alike names.
Written as a student out to break the grader would write them."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

from grader import assignment, datasets, extract, notebook, pipeline, probe, sandbox
from grader.check import FAIL, PASS

from helpers import grade_cells, with_net

TOWER = "(((((9)**64)**64)**64)**64)**64"   # 31 characters; computing it would take hours
MARKER = "# Modify these hyperparameters and find the best ones"
CODE_CHECKS = ("forward", "backward", "sgd_step")


def nb_of(*cells: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def with_net_body(code: str, cells: list[str] | None = None) -> list[str]:
    """The reference's cells with `code` at the top of FullyConnectedNet's class body."""
    cells = cells or with_net()
    head = "class FullyConnectedNet():\n"
    assert head in cells[1]
    return [cells[0], cells[1].replace(head, head + code), *cells[2:]]


def statuses(r: dict, ids=CODE_CHECKS) -> dict:
    return {i: (r[i].status, r[i].points) for i in ids}


# ---------------------------------------------------------------------------------------------- folding

@pytest.mark.parametrize("expression, says", [
    (TOWER, "is too large to read"),
    ("10**400", "is too large to read"),
    ("2**1001", "is too large to read"),
    ("int(1e400)", "is too large to read"),
    ("1e400", "is too large to read"),
    ("float(10**300) * 10**300", "is too large to read"),
    ("0x" + "f" * 5000, "is too large to read"),
    ("(10**200)**2", "is too large to read"),
    ("1 / 0", "divides by zero"),
    ("-" * 60 + "1", "is too deeply nested"),
])
def test_constants_beyond_the_bounds_are_not_computed_and_say_why(expression, says):
    started = time.process_time()
    found = extract.literal_assignments(nb_of(f"alpha = 1e-3\nhidden_dim = {expression}"), ["hidden_dim", "alpha"], 0)
    assert time.process_time() - started < 1
    assert found.values == {"alpha": 1e-3}
    assert len(found.notes) == 1 and found.notes[0].startswith("hidden_dim ") and says in found.notes[0]


def test_constants_within_the_bounds_are_folded():
    nb = nb_of("a = 2**10\nb = int(1e3) // 3\nc = -(2.5 * 4)\nd = 1**(2**999)\ne = 10**-400\nf = (-8) ** 0.5\n"
               "g: int = 7\ng *= 3\nh = 2\nh **= 10**6\ni = 2**999")
    found = extract.literal_assignments(nb, list("abcdefghi"), 0)
    assert found.values == {"a": 1024, "b": 333, "c": -10.0, "d": 1, "e": 0.0, "g": 21, "i": 2**999}
    assert found.notes == ["h **= 10 ** 6 is too large to read from the source"]


def test_a_later_readable_value_replaces_the_note():
    found = extract.literal_assignments(nb_of(f"hidden_dim = {TOWER}", "hidden_dim = 64"), ["hidden_dim"], 1)
    assert (found.values, found.notes) == ({"hidden_dim": 64}, [])


def test_call_arguments_beyond_the_bounds_say_why():
    nb = nb_of("class Optimizer_SGD:\n    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0):\n        pass",
               f"lr = {TOWER}\noptimizer = Optimizer_SGD(learning_rate=lr, decay=10**400, momentum=0.9)")
    found = extract.call_arguments(nb, ["Optimizer_SGD"], ["learning_rate", "decay", "momentum"])
    assert found.values == {"momentum": 0.9} and found.cell == 1
    assert [n.split(" = ")[0] for n in found.notes] == ["lr", "decay"]
    assert all("is too large to read from the source" in n for n in found.notes)


def hp_from_source(cells: list[str]) -> tuple[float, dict]:
    """The hyperparameters of a notebook whose kernel died, read from its source, and the verdicts."""
    a = assignment.load("cifar10_fcnet")
    nb = nb_of(*cells)
    marked = notebook.marked_cell(nb, a.marker)
    started = time.process_time()
    hp = pipeline._hyperparams(nb, a, {"captured": None, "capture_note": "the kernel died"}, marked)
    seconds = time.process_time() - started
    ds = datasets.for_assignment(a.dataset_kind, None)
    cache = Path(os.environ["NNGRADER_CACHE"])
    job = pipeline.Job("cifar10_fcnet", None, None, cache / "out", cache, threads=1, box=sandbox.choose("auto")[0])
    verdicts = pipeline.run_checks(a, ds, job, notebook.Loaded(nb), extract.extract(nb, a.names, a.aliases), hp,
                                   {"execute": 0.0, "checks": 0.0, "train": 0.0})
    return seconds, {"hp": hp, **verdicts}


@pytest.mark.parametrize("hidden_dim, says", [
    (TOWER, "; hidden_dim = ((((9 ** 64) ** 64) ** 64) ** 64) ** 64 is too large to read from the source"),
    ("9" * 5000, "; cell 1 could not be read (SyntaxError: Exceeds the limit (4300 digits) for integer string"),
])
def test_hostile_hyperparameters_when_the_kernel_died_cost_nothing_and_are_explained(hidden_dim, says):
    cells = ["import numpy as np", f"{MARKER}\nhidden_dim = {hidden_dim}\nalpha = 1e-2\nbeta = 0\nbatch_size = 40\n"
                                   "num_iters = 1000\nmodel = FullyConnectedNet(hidden_dim=hidden_dim)"]
    seconds, r = hp_from_source(cells)
    assert seconds < 0.5
    assert r["hp"].source == "source" and "hidden_dim" not in r["hp"].values
    assert r["hyperparams"].status == FAIL
    assert r["hyperparams"].message.startswith("not run: hidden_dim could not be read without running the code")
    assert "the kernel died" in r["hyperparams"].message and says in r["hyperparams"].message


# ---------------------------------------------------------------------------------------------- linear time

def long_cell(n: int) -> nbformat.NotebookNode:
    """n one-line statements in one cell: n/2 constants a class reads, n/2 attributes attached to
    it, hyperparameters assigned over and over: every path that used to scan the notebook per name."""
    half = n // 2
    lines = ["import numpy as np"] + [f"c{i} = np.float64" for i in range(half)]
    lines.append("class SGD:\n    def step(self):\n        return (" + ", ".join(f"c{i}" for i in range(half)) + ")")
    lines += [f"SGD.a{i} = c{i}" if i % 2 else f"hidden_dim = {i}" for i in range(half)]
    return nb_of("\n".join(lines))


def extraction_seconds(nb) -> float:
    started = time.process_time()
    ex = extract.extract(nb, ["SGD"])
    found = extract.literal_assignments(nb, ["hidden_dim"], 0)
    seconds = time.process_time() - started
    assert ex.found == {"SGD": 0} and found.values["hidden_dim"] > 0
    assert len(ex.statements) > len(nb.cells[0].source.splitlines()) // 2   # the constants and attributes came along
    return seconds


def test_extraction_is_linear_in_the_notebook():
    small, large = extraction_seconds(long_cell(20_000)), extraction_seconds(long_cell(40_000))
    assert large < 20
    assert large / small < 3, (small, large)   # it was quadratic: 4


def test_ipython_syntax_is_rewritten_in_linear_time_as_ipython_does():
    def cell(n):
        return "\n".join("!ls" if i % 30 == 0 else f"x{i} = {i}" for i in range(n))
    started = time.process_time()
    extract.cell_python(cell(20_000))
    small = time.process_time() - started
    started = time.process_time()
    extract.cell_python(cell(40_000))
    large = time.process_time() - started
    assert large < 20 and large / small < 3, (small, large)   # IPython alone re-tokenises per magic
    from IPython.core.inputtransformer2 import TransformerManager
    mixed = ("%matplotlib inline\nx = !ls\ny = %time 1+1\nnp.zeros?\ns = '''\n!not a command\n'''\n"
             "if True:\n    !ls -l\n    z = 1 + \\\n  2\n")
    assert extract.cell_python(mixed) == TransformerManager().transform_cell(mixed)
    assert extract.cell_python("%%time\nx = 1\n!ls") == TransformerManager().transform_cell("%%time\nx = 1\n!ls")


# ---------------------------------------------------------------------------------------------- scopes

def reads(source: str) -> set[str]:
    return extract.global_reads(extract.Statement(0, extract.ast.parse(source).body[0], source))


def test_only_real_global_reads_count():
    assert reads("class Net:\n"
                 "    def __init__(self, name, size=SIZE):\n"        # a parameter; a default read at definition
                 "        self.name = name\n"                         # an attribute
                 "        total = 0\n"                                # a local
                 "        total += len([name for name in self.params])\n"   # a comprehension variable
                 "        def inner(): return total + name + HELPER\n"      # closures; a global in a nested function
                 "        return lambda name: name\n"
                 "    label = LABEL\n"                                # a class body reads at definition
                 "    def f(self): global COUNT; COUNT += 1; return label\n") == {"SIZE", "len", "HELPER", "LABEL",
                                                                                "COUNT", "label"}
    assert reads("@decorate(OPT)\ndef f(x: Hint = DEFAULT) -> Out:\n    y = x\n    return y") == {
        "decorate", "OPT", "Hint", "DEFAULT", "Out"}
    assert reads("class A(Base, metaclass=Meta):\n    xs = [v for v in VALUES]") == {"Base", "Meta", "VALUES"}
    assert reads("act = lambda x: np.maximum(x, 0)") == {"np"}


def test_extraction_leaves_out_module_statements_no_definition_reads():
    nb = nb_of("import numpy as np", "name = open('notes.txt').read()", "size = input('size? ')",
               "def helper(name):\n    return [name for name in range(3)]",
               "class Net:\n    def __init__(self, size):\n        self.name, self.size = 'net', size\n"
               "    def f(self, name='x'):\n        return helper(name), np.zeros(3)")
    ex = extract.extract(nb, ["Net"])
    assert [st.cell for st in ex.statements] == [0, 3, 4]
    assert "open(" not in ex.module_source and "input(" not in ex.module_source


def test_dependencies_and_the_chain_that_explains_them():
    nb = nb_of("import numpy as np", "X = open('notes.txt').read()", "def helper():\n    return X",
               "class Net:\n    def f(self):\n        return helper()", "class SGD:\n    pass",
               "def fwd(self):\n    return np.ones(2)\nNet.forward = fwd")
    ex = extract.extract(nb, ["Net", "SGD"])
    cells = {i: st.cell for i, st in enumerate(ex.statements)}
    x = next(i for i, c in cells.items() if c == 1)
    assert {cells[i] for i in ex.needs(["Net"])} == {0, 1, 2, 3, 5}
    assert {cells[i] for i in ex.needs(["SGD"])} == {4}
    assert ex.why(["Net"], x) == "Net uses helper, which uses X"
    assert ex.why(["SGD", "Net"], ex.roots["Net"]) == ""


def test_module_statements_keep_their_decorators_and_lines():
    nb = nb_of("import functools", "@functools.lru_cache\ndef f(x):\n    return x\nclass Net:\n    g = staticmethod(f)",
               "class Optimiser_SGD:\r\n    pass", "class Layer:\n    pass")
    ex = extract.extract(nb, ["Net", "Optimizer_SGD", "Layer"], {"Optimizer_SGD": ["Optimiser_SGD"]})
    assert ex.statements[1].source.startswith("@functools.lru_cache")
    assert ex.statements[-1].source.startswith("Optimizer_SGD = Optimiser_SGD")
    lines = ex.module_source.splitlines()
    for st in ex.statements:
        assert lines[st.line - 1: st.line - 1 + len(st.source.splitlines())] == st.source.splitlines()


# ---------------------------------------------------------------------------------------------- loading

@pytest.mark.parametrize("stray", ["name = open('notes.txt').read()", "name = input('your name: ')"])
def test_a_stray_module_statement_costs_nothing_when_no_definition_reads_it(stray):
    """The class uses `name` only as a parameter, a local, a comprehension variable and an attribute."""
    cells = with_net_body("  def describe(self, name='net'):\n    names = [name for name in self.params]\n"
                          "    self.name = name\n    return names\n")
    r = grade_cells([cells[0], stray, *cells[1:]])
    assert statuses(r) == {"forward": (PASS, 20), "backward": (PASS, 30), "sgd_step": (PASS, 20)}


@pytest.mark.parametrize("stray, error", [
    ("NOTE = open('notes.txt').read()", "FileNotFoundError: [Errno 2] No such file or directory: 'notes.txt'"),
    ("NOTE = input('your name: ')", "EOFError: EOF when reading a line"),
])
def test_a_failing_statement_costs_only_the_checks_that_need_it(stray, error):
    cells = with_net_body("  note = NOTE\n")
    r = grade_cells([cells[0], stray, *cells[1:]])
    assert statuses(r) == {"forward": (FAIL, 0), "backward": (FAIL, 0), "sgd_step": (PASS, 20)}
    assert r["forward"].message == f"your code could not be loaded: cell 1, `{stray}`: {error}; FullyConnectedNet uses NOTE"
    assert stray in r["forward"].details["traceback"]   # its line in student.py


def test_statements_that_hang_or_end_the_process_while_loading_cost_only_their_checks(monkeypatch):
    monkeypatch.setattr(probe, "IMPORT_TIMEOUT_S", 3)
    cells = with_net(sgd="    for name in self.params:\n      self.params[name] -= self.alpha * grads[name] * ONE")
    cells = with_net_body("  forever = FOREVER\n", cells)
    r = grade_cells([cells[0], "import os", "FOREVER = [0 for _ in iter(int, 1)]", "ONE = os._exit(3)", *cells[1:]])
    assert statuses(r) == {"forward": (FAIL, 0), "backward": (FAIL, 0), "sgd_step": (FAIL, 0)}
    assert r["forward"].message == ("your code could not be loaded: cell 2, `FOREVER = [0 for _ in iter(int, 1)]`: "
                                    "loading your code took longer than 3 s; FullyConnectedNet uses FOREVER")
    assert r["sgd_step"].message.startswith("your code could not be loaded: cell 3, `ONE = os._exit(3)`: "
                                            "your code ended the process (exited with code 3")
    assert r["sgd_step"].message.endswith("; SGD uses ONE")


# ---------------------------------------------------------------------------------------------- look-alikes

def test_a_name_missing_because_of_a_look_alike_letter_says_which():
    cells = with_net()
    cells[1] = cells[1].replace("class FullyConnectedNet()", "class FullyConnectedNеt()")   # Cyrillic е
    r = grade_cells(cells)
    assert statuses(r) == {"forward": (FAIL, 0), "backward": (FAIL, 0), "sgd_step": (PASS, 20)}
    assert r["forward"].message == ("FullyConnectedNet not defined in any code cell: cell 1 defines FullyConnectedNеt, "
                                    "which has a Cyrillic е (U+0435 CYRILLIC SMALL LETTER IE) in place of e")


def test_look_alikes_of_aliases_and_greek_letters():
    nb = nb_of("class Οptimiser_SGD:\n    pass")   # a Greek capital omicron
    ex = extract.extract(nb, ["Optimizer_SGD"], {"Optimizer_SGD": ["Optimiser_SGD"]})
    assert ex.found == {}
    assert ex.lookalikes["Optimizer_SGD"].describe() == (
        "cell 0 defines Οptimiser_SGD, which has a Greek Ο (U+039F GREEK CAPITAL LETTER OMICRON) in place of O")
    assert extract.extract(nb_of("class Optimizer_SGD:\n    pass"), ["Optimizer_SGD"]).lookalikes == {}


def test_code_past_the_notebooks_limit_is_not_read_and_the_rest_still_counts():
    dense = "x = [" + "0," * 450_000 + "]"   # the densest syntax tree per character
    ex = extract.extract(nb_of(dense, dense, dense, "class SGD:\n    pass"), ["SGD"])
    assert ex.found == {"SGD": 3}
    assert [(p.cell, p.message) for p in ex.problems] == [
        (2, "not read: the code cells before it and this one are over 2,000,000 characters in all")]
