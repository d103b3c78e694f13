"""Each check proven both ways on variants of the reference, graded without a kernel."""
import pytest

from grader import datasets

from helpers import grade_cells, with_net

REF_HP = {"hidden_dim": 50, "alpha": 1e-2, "beta": 0, "batch_size": 40, "num_iters": 1000}


def test_reference_code_passes_every_code_check():
    r = grade_cells(with_net())
    assert [(r[i].status, r[i].points) for i in ("forward", "backward", "sgd_step")] == [
        ("pass", 20), ("pass", 30), ("pass", 20)]


# ------------------------------------------------------------------ forward
@pytest.mark.parametrize("forward", [
    # a per-row shift (softmax-invariant), as the real sample does
    "    z = np.maximum(0, x @ self.params['W1'] + self.params['b1']) @ self.params['W2'] + self.params['b2']\n"
    "    scores = z - z.max(axis=1, keepdims=True); cache = (x, None, None)",
    # float32 arithmetic
    "    p = {k: v.astype(np.float32) for k, v in self.params.items()}\n"
    "    scores = np.maximum(0, x.astype(np.float32) @ p['W1'] + p['b1']) @ p['W2'] + p['b2']; cache = None",
    # einsum and np.where instead of dot and maximum
    "    z1 = np.einsum('nd,dh->nh', x, self.params['W1']) + self.params['b1']\n"
    "    scores = np.where(z1 > 0, z1, 0).dot(self.params['W2']) + self.params['b2']; cache = None",
])
def test_forward_equivalent_formulations_pass(forward):
    r = grade_cells(with_net(forward=forward))
    assert (r["forward"].status, r["forward"].points) == ("pass", 20)


@pytest.mark.parametrize("forward, says", [
    ("    scores = (x @ self.params['W1'] + self.params['b1']) @ self.params['W2'] + self.params['b2']; cache = None",
     "ReLU is missing"),
    ("    scores = np.maximum(0, x @ self.params['W1']) @ self.params['W2']; cache = None",
     "biases b1 and b2 are not added"),
    ("    x -= 0.5\n    scores = np.maximum(0, x @ self.params['W1'] + self.params['b1']) @ self.params['W2'];"
     " cache = None", "changed its input x in place"),
    ("    s = np.maximum(0, x @ self.params['W1'] + self.params['b1']) @ self.params['W2'] + self.params['b2']\n"
     "    e = np.exp(s - s.max(axis=1, keepdims=True)); scores = e / e.sum(axis=1, keepdims=True); cache = None",
     "softmax probabilities"),
    ("    scores = None; cache = None", "returned None"),
])
def test_forward_bugs_fail_with_a_reason(forward, says):
    r = grade_cells(with_net(forward=forward))
    assert (r["forward"].status, r["forward"].points) == ("fail", 0)
    assert says in r["forward"].message


# ------------------------------------------------------------------ backward
def test_backward_bias_shape_1xC_is_a_warning_with_the_rubric_deduction():
    r = grade_cells(with_net(backward=(
        "    x, z1, h1 = cache\n    W2 = self.params['W2']\n"
        "    self.grads['W2'] = h1.T.dot(dscores)\n    self.grads['b2'] = dscores.sum(axis=0, keepdims=True)\n"
        "    dz1 = dscores.dot(W2.T) * (z1 > 0)\n    self.grads['W1'] = x.T.dot(dz1)\n"
        "    self.grads['b1'] = np.ones((1, x.shape[0])) @ dz1")))
    assert (r["backward"].status, r["backward"].points) == ("pass_with_warning", 28)
    assert "grads['b2'] has shape (1, 10)" in r["backward"].message


def test_backward_recomputing_from_params_passes():
    r = grade_cells(with_net(backward=(
        "    x = cache[0]\n    z1 = x @ self.params['W1'] + self.params['b1']\n"
        "    self.grads['W2'] = np.maximum(z1, 0).T @ dscores\n    self.grads['b2'] = np.sum(dscores, 0)\n"
        "    dz1 = np.where(z1 > 0, dscores @ self.params['W2'].T, 0.0)\n"
        "    self.grads['W1'] = np.einsum('nd,nh->dh', x, dz1)\n    self.grads['b1'] = dz1.sum(0)")))
    assert (r["backward"].status, r["backward"].points) == ("pass", 30)


@pytest.mark.parametrize("change, says, points", [
    (("dz1 = dscores.dot(W2.T) * (z1 > 0)", "dz1 = dscores.dot(W2.T)"), "grads['W1'] ignores the ReLU", 15),
    (("self.grads['W2'] = h1.T.dot(dscores)", "self.grads['W2'] = dscores.T.dot(h1)"),
     "grads['W2'] is transposed", 22.5),
    (("self.grads['b2'] = dscores.sum(axis=0)", "self.grads['b2'] = dscores.sum(axis=0) / x.shape[0]"),
     "grads['b2'] divided by the batch size N=5 again", 22.5),
    (("self.grads['W2'] = h1.T.dot(dscores)", "self.grads['W2'] = self.grads['W2'] + h1.T.dot(dscores)"),
     "accumulates (+=) across calls", 22.5),
    (("self.grads['W1'] = x.T.dot(dz1)", "self.grads['W1'] = x.T.dot(dz1) + 0.1 * self.params['W1']"),
     "extra 0.1·W1 term", 22.5),
])
def test_backward_bugs_fail_naming_the_parameter(change, says, points):
    body = ("    x, z1, h1 = cache\n    W2 = self.params['W2']\n    self.grads['W2'] = h1.T.dot(dscores)\n"
            "    self.grads['b2'] = dscores.sum(axis=0)\n    dz1 = dscores.dot(W2.T) * (z1 > 0)\n"
            "    self.grads['W1'] = x.T.dot(dz1)\n    self.grads['b1'] = dz1.sum(axis=0)")
    assert change[0] in body
    r = grade_cells(with_net(backward=body.replace(*change)))
    assert r["backward"].status == "fail"
    assert says in r["backward"].message
    assert r["backward"].points == points      # partial credit: a quarter per right parameter


# ------------------------------------------------------------------ SGD
@pytest.mark.parametrize("sgd", [
    "    for k in self.params:\n      self.momentum[k] = self.beta * self.momentum[k] + self.alpha * grads[k]\n"
    "      self.params[k] -= self.momentum[k]",
    "    for k, p in self.params.items():\n      m = self.momentum[k]\n      m *= self.beta\n      m += grads[k]\n"
    "      p -= self.alpha * m",
    "    for k in grads:\n      self.momentum[k] = self.beta * self.momentum[k] - self.alpha * grads[k]\n"
    "      self.params[k] = self.params[k] + self.momentum[k]",
])
def test_sgd_equivalent_formulations_pass(sgd):
    r = grade_cells(with_net(sgd=sgd))
    assert (r["sgd_step"].status, r["sgd_step"].points) == ("pass", 20)


@pytest.mark.parametrize("sgd, says, points", [
    ("    for k in self.params:\n      self.momentum[k] = self.beta * self.momentum[k] + (1 - self.beta) * grads[k]\n"
     "      self.params[k] = self.params[k] - self.alpha * self.momentum[k]", "moving average", 5),
    ("    for k in self.params:\n      self.params[k] = self.params[k] - self.alpha * grads[k]",
     "ignores the momentum", 5),
    ("    new = {}\n    for k in self.params:\n      self.momentum[k] = self.beta * self.momentum[k] + grads[k]\n"
     "      new[k] = self.params[k] - self.alpha * self.momentum[k]\n    self.params = new",
     "the model never sees the update", 0),
    # the copy kept under a name no report should show (setattr takes any string): not named
    ("    new = getattr(self, 'p' * 200, {})\n    for k in self.params:\n"
     "      self.momentum[k] = self.beta * self.momentum[k] + grads[k]\n"
     "      new[k] = new.get(k, self.params[k]) - self.alpha * self.momentum[k]\n    setattr(self, 'p' * 200, new)",
     "SGD.step does not change the parameters", 0),
    ("    for l in range(len(self.params)):\n      self.momentum[str(l+1)] = self.beta * self.momentum[str(l+1)]",
     "raised KeyError: '1'", 0),
])
def test_sgd_bugs_fail_with_a_reason(sgd, says, points):
    r = grade_cells(with_net(sgd=sgd))
    assert r["sgd_step"].status == "fail"
    assert says in r["sgd_step"].message
    assert r["sgd_step"].points == points      # beta = 0 settings still right: partial credit


# ------------------------------------------------------------------ hyperparameters
def test_hyperparams_reference_settings_pass_and_report_seeds():
    r = grade_cells(with_net(), hp=REF_HP)
    assert (r["hyperparams"].status, r["hyperparams"].points) == ("pass", 20)
    assert len(r["hyperparams"].details["accuracies"]) >= 3


@pytest.mark.parametrize("beta", [0, 0.9])
def test_reference_training_gives_the_same_bits_as_the_notebooks_loop(beta):
    """train_and_evaluate updates in place for speed: it must train exactly as the plain
    classes do, step for step, or a verdict would hinge on an optimisation."""
    import numpy as np
    from reference import cifar10_fcnet as ref
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((300, 48)), rng.integers(0, 10, 300)
    xt, yt = rng.standard_normal((90, 48)), rng.integers(0, 10, 90)
    hp = {"hidden_dim": 16, "alpha": 0.05, "beta": beta, "batch_size": 20, "num_iters": 60}
    fast = ref.train_and_evaluate(x, y, xt, yt, seed=3, record_every=1, **hp)
    np.random.seed(3)
    net = ref.FullyConnectedNet(hidden_dim=16, input_dim=48, num_classes=10)
    opt = ref.SGD(net.params, alpha=hp["alpha"], beta=beta)
    losses = []
    for _ in range(hp["num_iters"]):
        idx = np.random.choice(len(x), hp["batch_size"])
        scores, cache = net.forward(x[idx])
        loss, dscores = ref.cross_entropy_loss(scores, y[idx])
        net.backward(dscores, cache)
        opt.step(net.grads)
        losses.append(float(loss))
    assert fast.losses == losses
    assert fast.accuracy == float(np.mean(net.forward(xt)[0].argmax(axis=1) == yt))


def test_end_to_end_scores_the_notebooks_own_model_on_the_hidden_labels():
    labels = "".join(str(int(v)) for v in datasets.for_assignment("cifar10", None).load_test_labels())
    wrong = "".join(str((int(v) + 1) % 10) for v in labels)
    r = grade_cells(with_net(), hp=REF_HP, kernel={"predictions": labels, "losses": [2.3, 1.9, 1.5]})
    assert (r["end_to_end"].status, r["end_to_end"].points) == ("pass", 0)
    assert "reaches test accuracy 1.000" in r["end_to_end"].message and r["end_to_end"].details["losses"] == [2.3, 1.9, 1.5]
    assert "accuracy 0.000" in grade_cells(with_net(), hp=REF_HP, kernel={"predictions": wrong})["end_to_end"].message
    assert "could not be read (3 for 1017" in grade_cells(with_net(), hp=REF_HP, kernel={"predictions": "123"})[
        "end_to_end"].message
    error = "Traceback (most recent call last):\n  ...\nAttributeError: 'Net' object has no attribute 'forward'"
    r = grade_cells(with_net(), hp=REF_HP, kernel={"error": error})
    assert r["end_to_end"].message == ("your notebook's model could not be scored: "
                                       "AttributeError: 'Net' object has no attribute 'forward'")
    assert grade_cells(with_net(), hp=REF_HP)["end_to_end"].message.startswith("not run: the notebook did not get")
    # a forged reply (the notebook can replace the kernel probe): a verdict, never a grader error
    forged = grade_cells(with_net(), hp=REF_HP, kernel={"error": ""})["end_to_end"]
    assert (forged.status, forged.message) == ("fail", "your notebook's model could not be scored: no reason given")
    for losses in (5, [10**400, "x", None, 1.5], {"a": 1}):
        r = grade_cells(with_net(), hp=REF_HP, kernel={"predictions": labels, "losses": losses})["end_to_end"]
        assert r.status == "pass" and r.details["losses"] == ([1.5] if isinstance(losses, list) else [])


def test_hyperparams_diverging_beta_fails_and_explains():
    r = grade_cells(with_net(), hp={**REF_HP, "beta": 10})
    assert (r["hyperparams"].status, r["hyperparams"].points) == ("fail", 0)
    assert "beta=10 ≥ 1" in r["hyperparams"].message and "diverged" in r["hyperparams"].message


def test_hyperparams_missing_or_over_budget_fail_without_training():
    r = grade_cells(with_net(), hp={k: v for k, v in REF_HP.items() if k != "alpha"})
    assert r["hyperparams"].status == "fail" and "alpha not set" in r["hyperparams"].message
    r = grade_cells(with_net(), hp={**REF_HP, "num_iters": 10**9})
    assert r["hyperparams"].status == "fail" and "over the budget" in r["hyperparams"].message
    assert "not run" in r["end_to_end"].message


def test_missing_class_is_named():
    r = grade_cells(["import numpy as np", "class SGD:\n  pass", "def broken(:"])
    assert r["forward"].status == "fail"
    assert "FullyConnectedNet not defined" in r["forward"].message and "cell 2" in r["forward"].message
