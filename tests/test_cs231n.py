"""The CS231n-style layers assignment, built from check kinds only (assignment.toml, and the
known mistakes in checks.py): a correct solution, equivalent forms that must pass, and the
typical bugs that must fail with a message naming them; the training section, where the
student's functions train a two-layer net on CIFAR-10 in the sandbox."""
from __future__ import annotations

import ast

import nbformat
import pytest

from conftest import REPO
from helpers import grade_cells

SOLUTION = REPO / "reference" / "cs231n_layers.ipynb"


def cells(settings: str | None = None, **replaced: str) -> list[str]:
    """The solution notebook's code cells, with whole functions replaced by name, and the training
    section's settings (the arguments of its TwoLayerTraining(...) call) when given. A test that
    replaces functions for the other checks gives none: it grades without the training call, so
    that it trains nothing (the solution's settings take 5 to 10 s a grade here)."""
    sources = [c.source for c in nbformat.read(SOLUTION, as_version=4).cells if c.cell_type == "code"]
    for name, code in replaced.items():
        i = next(k for k, s in enumerate(sources) if s.startswith(f"def {name}("))
        sources[i] = code
    call = next(k for k, s in enumerate(sources) if s.startswith("trainer = TwoLayerTraining("))
    if settings is not None:
        sources[call] = f"trainer = TwoLayerTraining({settings})"
    elif replaced:
        del sources[call]
    return sources


def grade(**replaced: str) -> dict:
    return grade_cells(cells(**replaced), assignment_id="cs231n_layers")


def test_the_solution_gets_every_point_and_the_release_none():
    r = grade()
    assert {k: (v.status, v.points) for k, v in r.items()} == {k: ("pass", v.max_points) for k, v in r.items()}
    assert sum(v.max_points for v in r.values()) == 120   # 100, and 20 for the training section
    release = REPO / "assignments" / "cs231n_layers" / "release.ipynb"
    sources = [c.source for c in nbformat.read(release, as_version=4).cells if c.cell_type == "code"]
    r = grade_cells(sources, assignment_id="cs231n_layers")
    assert all(v.status == "fail" and v.points == 0 for v in r.values())
    assert "raised NotImplementedError" in r["adam"].message


EQUIVALENT = {
    "affine_forward": [
        "def affine_forward(x, w, b):\n    N = x.shape[0]\n    out = np.dot(x.reshape(N, np.prod(x.shape[1:])), w) + b\n"
        "    return out, (x, w, b)",
        "def affine_forward(x, w, b):\n    out = (x.reshape(len(x), -1).astype(np.float32) @ w.astype(np.float32)"
        " + b.astype(np.float32))\n    return out, (x, w, b)",   # float32: judged at its precision
    ],
    "affine_backward": [
        "def affine_backward(dout, cache):\n    x, w, b = cache\n    dx = np.dot(dout, w.T).reshape(*x.shape)\n"
        "    dw = np.einsum('nd,nm->dm', x.reshape(x.shape[0], -1), dout)\n    db = np.sum(dout, axis=0)\n"
        "    return dx, dw, db",
    ],
    "relu_backward": [
        "def relu_backward(dout, cache):\n    return np.where(cache > 0, dout, 0.0)",
        "def relu_backward(dout, cache):\n    dx = dout.copy()\n    dx[cache <= 0] = 0\n    return dx",
    ],
    "dropout_forward": [   # another way of drawing the mask: judged by its statistics
        "def dropout_forward(x, dropout_param):\n    p, mode = dropout_param['p'], dropout_param['mode']\n"
        "    if 'seed' in dropout_param:\n        np.random.seed(dropout_param['seed'])\n    mask = None\n"
        "    if mode == 'train':\n        mask = np.random.binomial(1, p, size=x.shape) / p\n        out = x * mask\n"
        "    else:\n        out = x\n    return out, (dropout_param, mask)",
    ],
    "sgd_momentum": [
        "def sgd_momentum(w, dw, config=None):\n    if config is None: config = {}\n"
        "    lr = config.setdefault('learning_rate', 1e-2)\n    mu = config.setdefault('momentum', 0.9)\n"
        "    v = mu * config.get('velocity', 0) - lr * dw\n    config['velocity'] = v\n    return w + v, config",
    ],
    "rmsprop": [   # epsilon inside the square root (TensorFlow 1, Keras): accepted (README)
        "def rmsprop(w, dw, config=None):\n    config = config or {}\n    config.setdefault('learning_rate', 1e-2)\n"
        "    config.setdefault('decay_rate', 0.99)\n    config.setdefault('epsilon', 1e-8)\n"
        "    cache = config.get('cache', np.zeros_like(w))\n"
        "    cache = config['decay_rate'] * cache + (1 - config['decay_rate']) * dw * dw\n"
        "    config['cache'] = cache\n"
        "    return w - config['learning_rate'] * dw / np.sqrt(cache + config['epsilon']), config",
    ],
    "adam": [   # Kingma & Ba's "efficient" form, section 2: epsilon then scales with the correction
        "def adam(w, dw, config=None):\n    c = config if config is not None else {}\n"
        "    for k, v in (('learning_rate', 1e-3), ('beta1', 0.9), ('beta2', 0.999), ('epsilon', 1e-8)):\n"
        "        c.setdefault(k, v)\n    c.setdefault('m', np.zeros_like(w)); c.setdefault('v', np.zeros_like(w))\n"
        "    c['t'] = c.get('t', 0) + 1\n    c['m'] = c['beta1'] * c['m'] + (1 - c['beta1']) * dw\n"
        "    c['v'] = c['beta2'] * c['v'] + (1 - c['beta2']) * dw ** 2\n"
        "    lr_t = c['learning_rate'] * np.sqrt(1 - c['beta2'] ** c['t']) / (1 - c['beta1'] ** c['t'])\n"
        "    return w - lr_t * c['m'] / (np.sqrt(c['v']) + c['epsilon']), c",
        # t advanced after the update, the bias correction using t + 1: the same rule
        "def adam(w, dw, config=None):\n    c = {'learning_rate': 1e-3, 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8,"
        " 't': 0, **(config or {})}\n    m = c['beta1'] * c.get('m', 0) + (1 - c['beta1']) * dw\n"
        "    v = c['beta2'] * c.get('v', 0) + (1 - c['beta2']) * dw ** 2\n    t = c['t'] + 1\n"
        "    step = c['learning_rate'] * (m / (1 - c['beta1'] ** t)) / (np.sqrt(v / (1 - c['beta2'] ** t)) + c['epsilon'])\n"
        "    c.update(m=m, v=v, t=c['t'] + 1)\n    return w - step, c",
    ],
}


@pytest.mark.parametrize("name, code", [(n, c) for n, codes in EQUIVALENT.items() for c in codes])
def test_equivalent_forms_pass(name, code):
    check = {"dropout_forward": "dropout"}.get(name, name)
    r = grade(**{name: code})
    assert (r[check].status, r[check].points) == ("pass", r[check].max_points), r[check].message


BUGS = [
    ("affine_forward", "def affine_forward(x, w, b):\n    return x.reshape(x.shape[0], -1) @ w, (x, w, b)",
     "affine_forward", "the bias b is not added", 0),
    ("affine_forward", "def affine_forward(x, w, b):\n    flat = x.reshape(x.shape[0], -1)\n    out = flat @ w + b\n"
                       "    flat[:] = 0\n    return out, (x, w, b)", "affine_forward", "changed its argument x in place", 0),
    ("affine_backward", "def affine_backward(dout, cache):\n    x, w, b = cache\n"
                        "    return (dout @ w.T).reshape(x.shape), dout.T @ x.reshape(len(x), -1), dout.sum(0)",
     "affine_backward", "dw is transposed", 10),
    ("affine_backward", "def affine_backward(dout, cache):\n    x, w, b = cache\n    n = len(x)\n"
                        "    return (dout @ w.T).reshape(x.shape) / n, x.reshape(n, -1).T @ dout / n, dout.sum(0) / n",
     "affine_backward", "divided by the batch size", 0),
    ("relu_backward", "def relu_backward(dout, cache):\n    return dout", "relu_backward",
     "dx is dout unchanged", 0),
    ("relu_backward", "def relu_backward(dout, cache):\n    return dout * (dout > 0)", "relu_backward",
     "the mask looks at dout", 0),
    ("dropout_forward", "def dropout_forward(x, dropout_param):\n    p = dropout_param['p']\n"
                        "    mask = np.random.rand(*x.shape) < p\n    out = x * mask if dropout_param['mode'] == 'train'"
                        " else x\n    return out, (dropout_param, mask)", "dropout", "not scaled", 10),
    ("dropout_forward", "def dropout_forward(x, dropout_param):\n    p = dropout_param['p']\n"
                        "    mask = (np.random.rand(*x.shape) < p) / p\n    return x * mask, (dropout_param, mask)",
     "dropout", "test mode changes the input", 10),
    ("dropout_forward", "def dropout_forward(x, dropout_param):\n    p = dropout_param['p']\n"
                        "    mask = (np.random.rand(*x.shape) >= p) / (1 - p)\n"
                        "    out = x * mask if dropout_param['mode'] == 'train' else x\n"
                        "    return out, (dropout_param, mask)", "dropout", "not of dropping it", 10),
    ("dropout_backward", "def dropout_backward(dout, cache):\n    param, mask = cache\n"
                         "    if param['mode'] != 'train':\n        return dout\n"
                         "    return dout * (np.random.rand(*dout.shape) < param['p']) / param['p']",
     "dropout", "reuse the forward pass's mask", 10),
    ("sgd_momentum", "def sgd_momentum(w, dw, config=None):\n    c = {'learning_rate': 1e-2, 'momentum': 0.9, "
                     "**(config or {})}\n    v = c['momentum'] * 0 - c['learning_rate'] * dw\n    return w + v, c",
     "sgd_momentum", "does not keep the velocity", 0),
    ("rmsprop", "def rmsprop(w, dw, config=None):\n    c = {'learning_rate': 1e-2, 'decay_rate': 0.99, "
                "'epsilon': 1e-8, **(config or {})}\n"
                "    c['cache'] = c['decay_rate'] * c.get('cache', 0) + (1 - c['decay_rate']) * np.abs(dw)\n"
                "    return w - c['learning_rate'] * dw / (np.sqrt(c['cache']) + c['epsilon']), c",
     "rmsprop", "moving average of |dw|", 0),
    ("rmsprop", "def rmsprop(w, dw, config=None):\n    c = {'learning_rate': 1e-3, 'decay_rate': 0.99, "
                "'epsilon': 1e-8, **(config or {})}\n"
                "    c['cache'] = c['decay_rate'] * c.get('cache', 0) + (1 - c['decay_rate']) * dw ** 2\n"
                "    return w - c['learning_rate'] * dw / (np.sqrt(c['cache']) + c['epsilon']), c",
     "rmsprop", "config=None: your defaults", 10),   # a wrong default learning rate: 2 of 3 settings
    ("rmsprop", "def rmsprop(w, dw, config=None):\n    c = {'learning_rate': 1e-2, 'decay_rate': 0.99, "
                "**(config or {})}\n"
                "    c['cache'] = c['decay_rate'] * c.get('cache', 0) + (1 - c['decay_rate']) * dw ** 2\n"
                "    return w - c['learning_rate'] * dw / (np.sqrt(c['cache']) + 1e-8), c",
     "rmsprop", "ignores config['epsilon']", 10),   # only the large-epsilon setting fails: 2 of 3
    ("affine_forward", "def affine_forward(x, w, b):\n    return x.reshape(len(x), -1) @ w + b + 1j, (x, w, b)",
     "affine_forward", "not an array of real numbers", 0),
    ("affine_forward", "def affine_forward(x, w, b):\n    out = x.reshape(len(x), -1) @ w + b\n    return out, x, w",
     "affine_forward", "affine_forward returned", 0),
    ("affine_backward", "def affine_backward(dout, cache):\n    x, w, b = cache\n    affine_backward.calls = "
                        "getattr(affine_backward, 'calls', 0) + 1\n"
                        "    grads = ((dout @ w.T).reshape(x.shape), x.reshape(len(x), -1).T @ dout, dout.sum(0))\n"
                        "    return grads if affine_backward.calls % 2 else grads[:2]",
     "affine_backward", "when called a second time", 0),
    ("adam", "def adam(w, dw, config=None):\n    c = {'learning_rate': 1e-3, 'beta1': 0.9, 'beta2': 0.999, "
             "'epsilon': 1e-8, **(config or {})}\n    c['m'] = c['beta1'] * c.get('m', 0) + (1 - c['beta1']) * dw\n"
             "    c['v'] = c['beta2'] * c.get('v', 0) + (1 - c['beta2']) * dw ** 2\n"
             "    return w - c['learning_rate'] * c['m'] / (np.sqrt(c['v']) + c['epsilon']), c",
     "adam", "has no bias correction", 0),
    ("adam", "def adam(w, dw, config=None):\n    c = {'learning_rate': 1e-3, 'beta1': 0.9, 'beta2': 0.999, "
             "'epsilon': 1e-8, 't': 0, **(config or {})}\n"
             "    c['m'] = c['beta1'] * c.get('m', 0) + (1 - c['beta1']) * dw\n"
             "    c['v'] = c['beta2'] * c.get('v', 0) + (1 - c['beta2']) * dw ** 2\n"
             "    m = c['m'] / (1 - c['beta1'] ** c['t'])\n    v = c['v'] / (1 - c['beta2'] ** c['t'])\n"
             "    c['t'] += 1\n    return w - c['learning_rate'] * m / (np.sqrt(v) + c['epsilon']), c",
     "adam", "increase config['t'] before using it", 0),
    ("adam", "def adam(w, dw, config=None):\n    c = {'learning_rate': 1e-3, 'beta1': 0.9, 'beta2': 0.999, "
             "'epsilon': 1e-8, **(config or {})}\n    t = c.get('t', 0) + 1\n"
             "    c['m'] = c['beta1'] * c.get('m', 0) + (1 - c['beta1']) * dw\n"
             "    c['v'] = c['beta2'] * c.get('v', 0) + (1 - c['beta2']) * dw ** 2\n"
             "    m = c['m'] / (1 - c['beta1'] ** t)\n    v = c['v'] / (1 - c['beta2'] ** t)\n"
             "    return w - c['learning_rate'] * m / (np.sqrt(v) + c['epsilon']), c",   # t never stored
     "adam", "gives a different w from step 2", 0),
]


@pytest.mark.parametrize("name, code, check, says, points", BUGS)
def test_typical_bugs_fail_naming_the_mistake(name, code, check, says, points):
    ast.parse(code)
    r = grade(**{name: code})
    assert r[check].status == "fail" and says in r[check].message, r[check].message
    assert r[check].points == points


# ------------------------------------------------------------------ the training section (kind "training")
TINY = "hidden_dim=10, batch_size=20, num_iters=40"   # a few seconds for every seed the rule may take


def test_the_solutions_training_reaches_the_threshold_over_seeds():
    r = grade()["training"]
    assert (r.status, r.points) == ("pass", 20), r.message
    d = r.details
    assert 3 <= len(d["accuracies"]) <= 7 and d["threshold"] == 0.33 <= d["interval"][0] and not d["borderline"]
    assert r.message.startswith("your functions trained with hidden_dim=50, learning_rate=0.01, momentum=0.9")
    assert "test accuracy" in r.message and "the threshold 0.33 on cifar10-subset" in r.message


@pytest.mark.parametrize("settings, replaced, says", [
    (f"learning_rate=10.0, momentum=0.9, {TINY}", {}, "learning_rate=10 is too large"),
    (f"learning_rate=1e-6, momentum=0.0, {TINY}", {}, "learning_rate=1e-06 may be too small"),
    (f"learning_rate=0.01, momentum=0.9, {TINY}",
     {"sgd_momentum": "def sgd_momentum(w, dw, config=None):\n    c = {'learning_rate': 1e-2, 'momentum': 0.9, "
                      "**(config or {})}\n    c['velocity'] = c['momentum'] * c.get('velocity', 0) + "
                      "c['learning_rate'] * dw\n    return w + c['velocity'], c"},   # uphill
     "or a gradient or the update has the wrong sign"),
], ids=["diverging learning rate", "tiny learning rate", "sgd_momentum uphill"])
def test_a_training_bug_fails_naming_it(settings, replaced, says):
    r = grade(settings=settings, **replaced)["training"]
    assert (r.status, r.points) == ("fail", 0) and "below the threshold 0.33" in r.message and says in r.message, \
        r.message


@pytest.mark.parametrize("settings, says", [
    ("hidden_dim=50, num_iters=10**7", "over the budget of 500 G: reduce num_iters, batch_size or hidden_dim"),
    ("hidden_dim=100000", "hidden_dim=100,000 and batch_size=100 need about"),
    ("momentum=1.5", "not run: momentum = 1.5 is outside [0, 1): it must be at least 0 and below 1"),
    ("hidden_dim=int(h)", "not run: hidden_dim could not be read without running the code"),
], ids=["over the budget", "over the memory", "momentum", "unreadable"])
def test_settings_that_cannot_train_are_refused_before_training(settings, says):
    r = grade(settings=settings)["training"]
    assert (r.status, r.points) == ("fail", 0) and says in r.message, r.message


def test_the_test_labels_never_enter_the_sandbox():
    from grader import assignment, datasets
    from grader.check import Context, Hyperparams
    a = assignment.load("cs231n_layers")
    ds = datasets.for_assignment(a.dataset_kind, None)
    hp = Hyperparams({"hidden_dim": 10, "learning_rate": 0.01, "momentum": 0.9, "batch_size": 20, "num_iters": 40},
                     "source", "given by the test")
    ctx = Context("training", a.check_rubric("training"), a.reference(), ds, hp, 0, None)
    inputs = a.implementations()["training"].inputs(ctx)
    images = {k for k in inputs if k == "x" or k.startswith("x_")}
    assert images == {"x", "x_val", "x_test"} and {"y", "y_val"} <= set(inputs) and "y_test" not in inputs
    assert len(inputs["x_test"]) == ds.n_test and len(inputs["x"]) + len(inputs["x_val"]) == ds.n_train
    assert all(v.dtype.kind in "iufU" for v in inputs.values())   # no labels hidden in some other form
    labels = ds.load_test_labels()
    assert not any(v.shape == labels.shape and (v == labels).all() for k, v in inputs.items() if k != "x_test")
