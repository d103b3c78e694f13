import nbformat

from grader import extract, notebook


def nb_of(*cells):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def test_last_definition_wins_and_helpers_come_along():
    nb = nb_of("import numpy as np\nimport tensorflow as tf",
               "class SGD:\n    def step(self): return 1",
               "def helper(v):\n    return np.maximum(v, 0)\nEPS = 1e-8",
               "x_train = load()\nclass SGD:\n    def step(self): return helper(EPS)")
    ex = extract.extract(nb, ["SGD"])
    ns = {}
    exec(ex.module_source.replace("x_train = load()", ""), ns)
    assert ns["SGD"]().step() == 1e-8            # the second SGD, with its helper and constant
    assert "tensorflow" not in ex.module_source    # imports nobody uses stay out
    assert "load()" not in ex.module_source        # data loading never runs in a probe
    assert ex.found == {"SGD": 3}


def test_unparsable_cells_are_reported_and_skipped():
    nb = nb_of("class FullyConnectedNet:\n    pass", "def broken(:\n  pass", "%matplotlib inline\nclass SGD: pass")
    ex = extract.extract(nb, ["FullyConnectedNet", "SGD"])
    assert set(ex.found) == {"FullyConnectedNet", "SGD"}   # the magic is not a syntax error
    assert [p.cell for p in ex.problems] == [1]


def test_methods_attached_after_the_class_are_kept():
    nb = nb_of("class Net:\n    pass", "def fwd(self):\n    return 3\nNet.forward = fwd")
    ns = {}
    exec(extract.extract(nb, ["Net"]).module_source, ns)
    assert ns["Net"]().forward() == 3


def test_literal_hyperparameters_from_source():
    nb = nb_of("alpha = 1e-2\nbatch_size = 40", "hidden_dim, num_iters = 2**8, int(1e3)\nbeta = compute()")
    assert extract.literal_assignments(nb, ["alpha", "batch_size", "hidden_dim", "num_iters", "beta"], 1).values == {
        "alpha": 0.01, "batch_size": 40, "hidden_dim": 256, "num_iters": 1000}


def test_bad_files_get_clear_messages():
    assert "empty" in notebook.load(b"").problem
    assert "not valid JSON" in notebook.load(b"{not json").problem
    assert "no cells" in notebook.load(b'{"a": 1}').problem
    v3 = b'{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": [], "language": "python"}]}]}'
    loaded = notebook.load(v3)
    assert loaded.notebook is not None and "nbformat 3" in loaded.note
    assert loaded.notebook.cells[0].source == "x = 1"


def test_a_cell_too_long_to_parse_is_reported_and_the_rest_still_counts():
    nb = nb_of("weights = [" + "0.5, " * 250_000 + "]", "class SGD:\n    pass")
    ex = extract.extract(nb, ["SGD"])
    assert ex.found == {"SGD": 1}
    assert [(p.cell, p.message) for p in ex.problems] == [(0, "too long to read (1,250,012 characters)")]


def test_a_file_over_the_size_limit_is_not_read(tmp_path):
    path = tmp_path / "big.ipynb"
    path.write_bytes(b" " * (3 << 20))
    loaded = notebook.load_file(path, max_mb=2)
    assert loaded.notebook is None
    assert loaded.problem.startswith("the file is 3 MB, over the limit of 2 MB: clear the outputs")


def test_nul_bytes_are_named():
    assert "contains NUL bytes" in notebook.load(b'{"cells": [\x00]}').problem


def test_other_spellings_count_and_the_last_definition_of_any_wins():
    nb = nb_of("class Optimizer_SGD:\n    version = 1", "class Optimiser_SGD:\n    version = 2",
               "class Loss_CategoricalCrossentropy:\n    pass")
    ex = extract.extract(nb, ["Optimizer_SGD", "Loss_CategoricalCrossentropy"],
                         {"Optimizer_SGD": ["Optimiser_SGD"], "Loss_CategoricalCrossentropy": ["Loss_CategoricalCrossEntropy"]})
    ns = {}
    exec(ex.module_source, ns)
    assert ns["Optimizer_SGD"].version == 2 and ex.found == {"Optimizer_SGD": 1, "Loss_CategoricalCrossentropy": 2}
    assert ex.spelled == {"Optimizer_SGD": "Optimiser_SGD"}


def test_settings_from_the_last_call_with_the_classes_defaults_and_names():
    nb = nb_of("class Optimiser_SGD:\n    def __init__(self, learning_rate=1., decay=0., momentum=0.):\n        pass",
               "opt = Optimiser_SGD(0.5, momentum=0.9)",
               "lr = 0.05\nopt = Optimiser_SGD(learning_rate=lr, decay=1e-3)\nopt = Optimizer_Adam(learning_rate=0.1)",
               "print('no more calls')")
    found = extract.call_arguments(nb, ["Optimizer_SGD", "Optimiser_SGD"], ["learning_rate", "decay", "momentum"])
    assert found.cell == 2 and found.values == {"learning_rate": 0.05, "decay": 1e-3, "momentum": 0.0}
    first = nb_of(nb.cells[0].source, nb.cells[1].source)
    assert extract.call_arguments(first, ["Optimiser_SGD"], ["learning_rate", "decay", "momentum"]) == extract.Settings(
        {"learning_rate": 0.5, "decay": 0.0, "momentum": 0.9}, 1)
    assert extract.call_arguments(nb_of("x = 1"), ["Optimizer_SGD"], ["learning_rate"]) == extract.Settings({}, None)
