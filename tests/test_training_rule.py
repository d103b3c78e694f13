"""Training verdicts over seeds (grader/seeds.py): the t-interval rule, borderline outcomes,
the arithmetic each run records; and the hyperparams check's use of them through its memo
(runs written into the memo beforehand are not trained again: these tests train nothing)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import assignment, datasets, memo, rubric, seeds
from grader.check import Context, Hyperparams

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("p, df, expected", [(0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.95, 5, 2.0150),
                                             (0.975, 10, 2.2281), (0.995, 3, 5.8409), (0.975, 1000, 1.9623)])
def test_t_quantile_matches_the_tables(p, df, expected):
    assert seeds.t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_clear_settings_stop_at_the_minimum_and_close_ones_take_more_seeds():
    rule = seeds.Rule(threshold=0.33, level=0.90, min_seeds=3, max_seeds=7)
    asked = []

    def clear(seed):
        asked.append(seed)
        return [0.40, 0.41, 0.39][seed]
    decision = seeds.sequential(clear, rule)
    assert (decision.outcome, asked) == (seeds.PASSED, [0, 1, 2])

    asked.clear()
    noisy = [0.40, 0.29, 0.37, 0.36, 0.38, 0.35, 0.37]   # wide at 3 seeds, clear later

    def close(seed):
        asked.append(seed)
        return noisy[seed]
    decision = seeds.sequential(close, rule)
    assert decision.outcome == seeds.PASSED and 3 < len(asked) <= 7
    assert decision.interval.low >= 0.33 and len(decision.values) == len(asked)


def test_still_straddling_at_the_maximum_is_open_not_a_coin_flip():
    rule = seeds.Rule(threshold=0.33, level=0.90, min_seeds=3, max_seeds=5)
    values = [0.30, 0.36, 0.31, 0.35, 0.33]
    decision = seeds.sequential(lambda k: values[k], rule)
    assert (decision.outcome, decision.exhausted, len(decision.values)) == (seeds.OPEN, True, 5)
    assert decision.interval.low < 0.33 < decision.interval.high


def test_first_clear_judges_as_if_training_had_stopped_there():
    rule = seeds.Rule(threshold=0.5, level=0.90, min_seeds=3, max_seeds=10)
    decision = seeds.first_clear([0.9, 0.91, 0.92, 0.1, 0.1], rule)
    assert decision.outcome == seeds.PASSED and decision.values == [0.9, 0.91, 0.92]


def test_environments_are_recorded_and_mixing_is_said():
    env = seeds.numeric_environment()
    assert env["numpy"] and isinstance(env["blas"], list)
    other = {**env, "OPENBLAS_CORETYPE": env["OPENBLAS_CORETYPE"] + "Haswell"}   # another core type, whatever ours is
    distinct, mixed = seeds.environments([env, env, other])
    assert len(distinct) == 2 and mixed
    assert seeds.environments([env, env]) == ([env], False)
    forged = {"numpy": "x" * 10_000, "blas": "not a list", "machine": ["nested"], "extra": 1}
    assert seeds.clean_environment(forged) == {"numpy": "x" * 100, "machine": "list", "OPENBLAS_CORETYPE": None,
                                               "blas": []}
    assert seeds.clean_environment("not a dict") is None


# ------------------------------------------------------------------ the hyperparams check, through its memo
HP = {"hidden_dim": 23, "alpha": 0.0123, "beta": 0.5, "batch_size": 17, "num_iters": 321}   # never trained here


def judge(hp: dict, **limits):
    """The hyperparams check alone, with the session's memo, scored by the rubric (and `limits`)."""
    a = assignment.load("cifar10_fcnet")
    table = {**a.check_rubric("hyperparams"), **limits}
    ctx = Context("hyperparams", table, a.reference(), datasets.for_assignment(a.dataset_kind, None),
                  Hyperparams(hp, "kernel", "given by the test"), 0,
                  lambda key, fn: memo.memo(Path(os.environ["NNGRADER_CACHE"]) / "memo", key, fn))
    return rubric.score("hyperparams", "", a.implementations()["hyperparams"].judge(ctx, None, None), table)


def _remember(accuracies: list[float], envs: list[dict]) -> None:
    """Put runs into the memo the check reads, as if trained before (on these environments)."""
    a = assignment.load("cifar10_fcnet")
    ds = datasets.for_assignment(a.dataset_kind, None)
    for seed, (accuracy, env) in enumerate(zip(accuracies, envs)):
        key = a.adapter().memo_key(HP, seed, ds.fingerprint, a.reference().__fingerprint__)
        memo.memo(Path(os.environ["NNGRADER_CACHE"]) / "memo", key,
                  lambda: {"accuracy": accuracy, "diverged_at": None, "losses": [2.3, 2.0], "environment": env,
                           "seconds": 1.0})


def test_hyperparams_borderline_is_a_flagged_pass_and_mixed_arithmetic_is_said():
    here = seeds.numeric_environment()
    elsewhere = {**here, "OPENBLAS_CORETYPE": here["OPENBLAS_CORETYPE"] + "Haswell"}
    _remember([0.30, 0.36, 0.31, 0.35, 0.33, 0.34, 0.32], [here, elsewhere] * 4)
    r = judge(HP)
    assert (r.status, r.points) == ("pass_with_warning", 20)         # the benefit of the doubt (the rubric's)
    d = r.details
    assert d["borderline"] and len(d["accuracies"]) == d["max_seeds"] == 7 and d["seeds"] == list(range(7))
    assert d["interval"][0] < d["threshold"] < d["interval"][1]
    assert "borderline" in r.message and "a TA should look" in r.message and "90% interval" in r.message
    assert d["mixed_environments"] and len(d["environments"]) == 2 and "2 different numeric environments" in r.message


@pytest.mark.parametrize("value, says", [
    (10**400, "hidden_dim = an integer of about 401 digits is too large"),
    (10**5000, "hidden_dim = an integer of about 5,001 digits is too large"),
    (True, "hidden_dim = True is not a number"),
    ("64", "hidden_dim = '64' is not a number"),
    (float("inf"), "hidden_dim = inf is not a finite number"),
    (float("nan"), "hidden_dim = nan is not a finite number"),
    ([64], "hidden_dim = a list is not a number"),
    (2.5, "hidden_dim = 2.5 is not a positive whole number"),
], ids=["10**400", "5001 digits", "bool", "str", "inf", "nan", "list", "fraction"])
def test_absurd_hyperparameters_fail_with_a_message_naming_the_value(value, says):
    r = judge({**HP, "hidden_dim": value})
    assert (r.status, r.points) == ("fail", 0) and says in r.message


def test_settings_that_cannot_fit_or_finish_are_refused_before_training():
    r = judge({**HP, "hidden_dim": 40000, "num_iters": 1})
    assert r.status == "fail" and "MB of memory to train, over the grader's limit of 2,048 MB" in r.message
    most = int(r.message.split("hidden_dim up to about ")[1].split(")")[0].replace(",", ""))
    assert "(at batch_size=" in r.message and 1000 < most < 40000   # what fits at this batch size, the kind's estimate
    r = judge({**HP, "hidden_dim": 1, "batch_size": 1, "num_iters": 10**6})
    assert r.status == "fail" and "over the budget" in r.message   # 0.25% of the products alone, but 279 s


def test_a_run_over_the_time_limit_fails_quickly_and_is_not_memoized():
    import time
    hp = {**HP, "hidden_dim": 500, "batch_size": 200, "num_iters": 2000}   # minutes of training, within budget
    started = time.monotonic()
    r = judge(hp, max_train_seconds=1)
    assert (r.status, r.points) == ("fail", 0) and time.monotonic() - started < 30
    assert "training one seed took longer than the grader allows (1 s): reduce num_iters" in r.message
    memo_files = list((Path(os.environ["NNGRADER_CACHE"]) / "memo").rglob("*.json"))
    assert not any('"hidden_dim": 500' in f.read_text() for f in memo_files)


def test_the_model_of_cost_and_memory_follows_what_was_measured():
    """Figures of CALIBRATION.md: one iteration at hidden_dim=1, batch_size=1 costs as much as
    millions of multiply-adds; W1-sized arrays dominate memory."""
    checks = assignment.load("cifar10_fcnet").adapter()
    rubric = assignment.load("cifar10_fcnet").check_rubric("hyperparams")
    tiny = {"hidden_dim": 1, "batch_size": 1, "num_iters": 10**6, "alpha": 0.1, "beta": 0.0}
    assert checks.train_macs(tiny) / (rubric["max_train_gmacs"] * 1e9) < 0.01 < \
        checks.train_cost(tiny, rubric) / (rubric["max_train_gmacs"] * 1e9)
    assert 300 < checks.train_memory_mb({**tiny, "hidden_dim": 4000, "batch_size": 10}, 1017) < 700   # 384 MB measured
    assert 4000 < checks.train_memory_mb({**tiny, "hidden_dim": 40000}, 1017)                         # 4 GB seen


# ------------------------------------------------------------------ the same verdicts under other arithmetic
ONE_CHECK = """
import json, sys, tempfile
from pathlib import Path
from grader import assignment, datasets, memo
from grader.check import Context, Hyperparams
a = assignment.load("cifar10_fcnet")
ds, root = datasets.for_assignment(a.dataset_kind, None), Path(tempfile.mkdtemp())   # a memo of its own
out = []
for hp in json.loads(sys.argv[1]):
    ctx = Context("hyperparams", a.check_rubric("hyperparams"), a.reference(), ds,
                  Hyperparams(hp, "kernel", "test"), 0, lambda key, fn: memo.memo(root, key, fn))
    v = a.implementations()["hyperparams"].judge(ctx, None, None)
    out.append([v.status, v.details["borderline"], v.details["environments"]])
print(json.dumps(out))
"""
CHEAP = [{"hidden_dim": 30, "alpha": 0.02, "beta": 0.5, "batch_size": 50, "num_iters": 300},   # a pass
         {"hidden_dim": 20, "alpha": 0.5, "beta": 0.9, "batch_size": 20, "num_iters": 100}]    # unstable: a fail


def test_training_verdicts_are_the_same_under_other_blas_kernels_and_threads():
    runs = {}
    for coretype, threads in (("", "1"), ("Sandybridge", "1"), ("", "2")):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads}
        env.pop("OPENBLAS_CORETYPE", None)
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        done = subprocess.run([sys.executable, "-c", ONE_CHECK, json.dumps(CHEAP)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[(coretype, threads)] = json.loads(done.stdout.splitlines()[-1])
    verdicts = {key: [(status, borderline) for status, borderline, _ in run] for key, run in runs.items()}
    assert set(map(tuple, verdicts.values())) == {(("pass", False), ("fail", False))}
    arithmetic = {key: run[0][2][0] for key, run in runs.items()}   # each really ran under its own
    assert len(set(arithmetic.values())) == 3, arithmetic
    assert "Sandybridge" in arithmetic[("Sandybridge", "1")] and "1 thread" in arithmetic[("", "1")]


# ------------------------------------------------------------------ NNFS: the probe's seeds, judged here
def _nnfs(train_accs: list[float], test_accs: list[float], val_accs: list[float], env: str = "{}"):
    """The training and test_accuracy checks on probe outputs made to these accuracies."""
    import numpy as np

    from grader.probe import ProbeOutcome
    a = assignment.load("nnfs_sgd_momentum")
    checks, judged = a.adapter(), a.implementations()
    hp = Hyperparams({"learning_rate": 1.0, "decay": 1e-3, "momentum": 0.9}, "source", "given by the test")
    ctx = {cid: Context(cid, a.check_rubric(cid), a.reference(), None, hp, 0, None) for cid in ("training", "test_accuracy")}
    inputs = judged["training"].inputs(ctx["training"])
    test_labels = checks.test_set(a.reference())[1]

    def predictions(labels, accuracy):
        wrong = round((1 - accuracy) * labels.size)
        return np.concatenate([(labels[:wrong] + 1) % 3, labels[wrong:]])
    outputs = {"env": np.array(env)}
    for seed, (tr, te, va) in enumerate(zip(train_accs, test_accs, val_accs)):
        outputs[f"s{seed}.train_predictions"] = predictions(inputs["y"], tr)
        outputs[f"s{seed}.test_predictions"] = predictions(test_labels, te)
        outputs[f"s{seed}.val_predictions"] = predictions(inputs["y_val"], va)
    outcome = ProbeOutcome(outputs=outputs)
    return (rubric.score("training", "", judged["training"].judge(ctx["training"], inputs, outcome),
                         a.check_rubric("training")),
            rubric.score("test_accuracy", "", judged["test_accuracy"].judge(ctx["test_accuracy"], inputs, outcome),
                         a.check_rubric("test_accuracy")))


def test_nnfs_judges_the_first_seeds_that_decide_and_flags_borderline():
    clear = [0.93, 0.94, 0.92]
    training, test = _nnfs(clear, [0.79, 0.80, 0.78], [0.80, 0.79, 0.81])
    assert (training.status, training.points, test.status, test.points) == ("pass", 10, "pass", 10)
    assert training.details["seeds"] == [0, 1, 2] and training.details["environments"] == [
        "numpy None, BLAS unknown, None"]   # what the probe reported, cleaned
    wavering = [0.70, 0.80] * 6                            # 12 seeds, still around 0.75
    training, _ = _nnfs(wavering, [0.8] * 12, [0.8] * 12)
    assert (training.status, training.points) == ("pass_with_warning", 10) and training.details["borderline"]
    assert "the most the rubric allows" in training.message and "a TA should look" in training.message
    training, _ = _nnfs(wavering[:4], [0.8] * 4, [0.8] * 4)    # undecided, yet the runs stopped
    assert (training.status, training.points) == ("fail", 0) and "stopped after 4 seeds" in training.message
    training, test = _nnfs(clear, [0.60, 0.70, 0.66], [0.80, 0.79, 0.81])   # validation decided, the test set not
    assert training.status == "pass" and (test.status, test.points) == ("pass_with_warning", 10)
    assert "when the training and validation accuracies were decided" in test.message
    _, test = _nnfs(clear, [0.60, 0.70, 0.66], [0.60, 0.70, 0.66])   # validation undecided: cut short
    assert (test.status, test.points) == ("fail", 0)
