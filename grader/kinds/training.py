"""Kind "training": settings trained to an accuracy threshold, judged over seeds by the rule of
grader/seeds.py (a t-interval of the mean accuracy; still open at the last seed allowed: borderline,
a pass with a warning), within the grader's budget (settings over it are refused before anything
trains, with a message naming what to reduce). Two ways, by `trains`:

* "reference": the reference trained with the student's settings, on the grader's side, each
  seed in its own bounded process (grader/bounded.py) and kept in the memo shared by all
  students (ctx.memo): the same settings train once;
* "student": the student's code trained in the sandbox with the assignment's loop (in its
  probes.py, named by `loop`; `prepare` optionally names what readies its inputs once) by the
  kind's probe, kind_training (grader/kinds/probes.py). That runs seed after seed until
  the accuracies it can score (training points, a validation set whose labels it is given) are
  decided by the same rule, and sends back predictions; the grader scores them, on hidden test
  labels too. One run may serve two checks: the second names the first in `outcome_of`.

    [[checks]]
    id = "training"
    kind = "training"
    trains = "student"
    loop = "spiral_run"            # its probes.py's run(student, inputs, seed) -> (predict, losses)
    split = "train"                # what this check scores: "train", "val" or "test" (hidden labels)
    label = "training accuracy"    # in its messages
    who = "your classes"           # "your classes trained with ...: ..."
    settings = {learning_rate = "non-negative", decay = "non-negative", momentum = "fraction"}

`settings` names what is trained with and what each may be (ALLOWED: "number", "non-negative",
"positive", "whole", "fraction"), read from the kernel or from the source as assignment.toml's
[hyperparameters] says; a value that is not is refused before training, with a message naming it.

The rubric's table: `threshold` (a number, or one per data set name), `test_threshold` (when another
check scores this run's test split: the validation set stops on it), `seeds`, `max_seeds`,
`confidence`, `warning_deduction`; the budget `max_train_gmacs` (with the assignment's cost model)
and `max_train_memory_mb`; for "reference", `max_train_seconds` of one seed. What is the
assignment's own (its data, loop, cost model, hints) is a Hooks in its checks.py's
TRAINING[check id].
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import numpy as np

from .. import bounded, seeds
from ..check import FAIL, PASS, WARN, Check, Context, Verdict, first_line
from . import shared

PROBE = "kind_training"   # trains = "student": runs the seeds, with the assignment's loop
SPLIT_NAMES = {"train": "training", "val": "validation"}   # the splits a probe may stop on, in messages


def _no_hints(ctx: Context, hp: dict, runs: list[dict]) -> list[str]:
    return []


@dataclass(frozen=True)
class Hooks:
    """What an assignment gives a training check (checks.py's TRAINING[check id]): its data and
    loop, its cost and memory models and what to tell a failing setting (its settings are the
    spec's `settings`, unless `settings` here reads them its own way). The rule, the budget's
    refusals, the limits, the memo and the verdict are the kind's."""
    settings: Callable[[Context], tuple[dict | None, str]] | None = None   # else the spec's `settings` (read_settings)
    hints: Callable[[Context, dict, list[dict]], list[str]] = _no_hints   # a failing setting's likely causes
    cost: Callable[[dict, dict], float] | None = None   # one run's cost in multiply-adds (settings, rubric table)
    reduce: str = "the settings"                       # what to reduce over the budget or the time limit
    memory_mb: Callable[[dict, Any], float] | None = None   # what one run maps (settings, data set)
    memory_settings: tuple[str, ...] = ()              # the settings memory grows with (linearly, the first), named
    reduce_memory: str = "the settings"                # what to reduce over the memory limit
    # trains = "reference"
    data: Callable[[Context], Any] | None = None       # what the reference trains on, mapped before a child forks
    train: Callable[[Context, Any, dict, int], dict] | None = None   # one seed: {"accuracy", "losses", ...}
    memo_key: Callable[[dict, int, str, str], dict] | None = None   # (settings, seed, data set, reference)
    # trains = "student"
    inputs: Callable[[Context, dict], dict] | None = None   # the probe's data ("x", "y", "x_<split>", ...)
    labels: Callable[[Context, str], np.ndarray] | None = None   # labels of a split the probe does not get


def check(spec: dict, hooks: Hooks | None) -> Check:
    if hooks is None:
        raise ValueError(f"check {spec['id']!r} is of kind training: checks.py's TRAINING needs its Hooks")
    if hooks.settings is None:
        settings = spec.get("settings")
        if not isinstance(settings, dict) or not settings:
            raise ValueError(f"check {spec['id']!r} is of kind training: its table needs settings = {{name = kind, ...}}")
        unknown = sorted(set(settings.values()) - set(ALLOWED))
        if unknown:
            raise ValueError(f"check {spec['id']!r}: unknown setting kind(s) {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(ALLOWED)})")
    return Check(judge=partial(judge, spec=spec, hooks=hooks),
                 inputs=partial(inputs, spec=spec, hooks=hooks) if spec.get("trains") == "student" else None)


# ---------------------------------------------------------------- settings, thresholds, budget

ALLOWED = {   # what a setting may be (the spec's `settings`), and how a value that is not is said
    "number": (lambda v: True, "a number", ""),
    "non-negative": (lambda v: v >= 0, "a non-negative number", "is negative"),
    "positive": (lambda v: v > 0, "a positive number", "is not positive"),
    "whole": (lambda v: v >= 1 and v == int(v), "a positive whole number", "is not a positive whole number"),
    "fraction": (lambda v: 0 <= v < 1, "at least 0 and below 1", "is outside [0, 1)"),
}


def read_settings(ctx: Context, allowed: dict[str, str]) -> tuple[dict | None, str]:
    """The settings to train with (`settings = {name = "whole", ...}` of the check's table): the
    values captured from the kernel, or read from the source (the last call to assignment.toml's
    [hyperparameters] from_call), each as ALLOWED[kind] says; whole numbers as int. Any value a
    notebook can produce gets a message naming it, never an exception."""
    hyper = ctx.hyperparams
    if hyper.source == "none":
        return None, f"not run: {hyper.note}, so the settings to train with are unknown"
    missing = [name for name in allowed if name not in hyper.values]
    if missing and hyper.source == "kernel":
        return None, f"not run: {', '.join(missing)} not set ({hyper.note})"
    hp = {}
    for name, kind in allowed.items():
        if name not in hyper.values:
            return None, (f"not run: {name} could not be read without running the code ({hyper.note}); "
                          "write it as a plain number")
        number, problem = bounded.plain_number(hyper.values[name])
        ok, must_be, is_not = ALLOWED[kind]
        if problem or not ok(number):
            said = problem or f"{number:g} {is_not}"
            return None, f"not run: {name} = {said}" + ("" if must_be in said else f": it must be {must_be}")
        hp[name] = int(number) if kind == "whole" else number
    return hp, ""


def threshold(ctx: Context, value) -> float:
    """A threshold of the rubric: a number, or a table of them by data set name."""
    if isinstance(value, dict):
        if ctx.dataset.name not in value:
            raise ValueError(f"the rubric has no threshold for the data set {ctx.dataset.name!r}")
        return float(value[ctx.dataset.name])
    return float(value)


def _refusal(ctx: Context, hooks: Hooks, hp: dict) -> str | None:
    """Why these settings are not trained at all (an estimate over a limit of the rubric), or None."""
    if hooks.memory_mb is not None:
        limit_mb = float(ctx.rubric.get("max_train_memory_mb", 2048))
        need_mb = hooks.memory_mb(hp, ctx.dataset)
        if need_mb > limit_mb:
            which = " and ".join(f"{name}={hp[name]:,}" for name in hooks.memory_settings) or "these settings"
            advice = _largest(hooks, hp, limit_mb, ctx.dataset)
            return (f"{which} need about {need_mb:,.0f} MB of memory to train, over the grader's limit of "
                    f"{limit_mb:,.0f} MB: reduce them{advice}")
    if hooks.cost is not None:
        budget = float(ctx.rubric.get("max_train_gmacs", 2500)) * 1e9
        cost = hooks.cost(hp, ctx.rubric)
        if cost > budget:
            return (f"these settings need about {cost / 1e9:,.0f} G multiply-adds of training (counting each "
                    f"iteration's fixed cost), over the budget of {budget / 1e9:,.0f} G: reduce {hooks.reduce}")
    return None


def _largest(hooks: Hooks, hp: dict, limit_mb: float, dataset) -> str:
    """The largest value of the first setting memory grows with that fits, the others as they are
    (memory grows linearly with it), as advice for a refusal; "" when it does not grow."""
    if not hooks.memory_settings:
        return ""
    name, others = hooks.memory_settings[0], hooks.memory_settings[1:]

    def need(value: int) -> float:
        return hooks.memory_mb({**hp, name: value}, dataset)

    per_unit = need(2) - need(1)
    if per_unit <= 0:
        return ""
    most = int((limit_mb - need(0)) / per_unit)
    at = f"at {' and '.join(f'{n}={hp[n]:,}' for n in others)}, " if others else ""
    return f" ({at}{name} up to about {most:,})" if most >= 1 else ""


def _blocked(ctx: Context, spec: dict, hooks: Hooks) -> tuple[dict | None, str]:
    """The settings to train with, and the message why nothing trains (empty when it does)."""
    hp, problem = hooks.settings(ctx) if hooks.settings is not None else read_settings(ctx, spec["settings"])
    return hp, problem or _refusal(ctx, hooks, hp) or ""


def _setting(hp: dict) -> str:
    return ", ".join(f"{name}={float(v):g}" for name, v in hp.items())


def _where(ctx: Context, rule: seeds.Rule) -> str:
    on = f" on {ctx.dataset.name}" if ctx.dataset is not None and ctx.dataset.hidden_dir is not None else ""
    return f"the threshold {rule.threshold:.2f}{on}"


def _verdict(head: str, figures: str, where: str, decision: seeds.Decision, why_open: str,
             hints: Callable[[], list[str]], details: dict) -> Verdict:
    """The verdict of a decision over seeds, in one wording for both ways of training."""
    note = seeds.mixed_note(details)
    if decision.outcome == seeds.PASSED:
        return Verdict(PASS, f"{head}{figures}, above {where}{note}", details=details)
    if decision.outcome == seeds.OPEN:
        return Verdict(WARN, f"{head}borderline: {figures} still contains {where} after {len(decision.values)} "
                             f"seeds ({why_open}): a TA should look{note}", details=details)
    return Verdict(FAIL, f"{head}{figures}, below {where}" + "".join(f"; {h}" for h in hints()) + note,
                   details=details)


def judge(ctx: Context, inputs: dict | None, outcome, *, spec: dict, hooks: Hooks) -> Verdict:
    hp, problem = _blocked(ctx, spec, hooks)
    if problem:
        return Verdict(FAIL, problem, details={"hyperparams": hp} if hp else {})
    if spec.get("trains") == "student":
        return _judge_student(ctx, spec, hooks, hp, inputs, outcome)
    return _judge_reference(ctx, spec, hooks, hp)


# ---------------------------------------------------------------- trains = "reference"

class _OverLimit(Exception):
    """A training run reached the grader's memory or time limit."""


def memo_key(check_id: str, hp: dict, seed: int, dataset: str, reference: str) -> dict:
    """What one run of the reference depends on, unless the assignment keys it its own way."""
    return {"check": check_id, "hp": hp, "seed": seed, "dataset": dataset, "reference": reference}


def _judge_reference(ctx: Context, spec: dict, hooks: Hooks, hp: dict) -> Verdict:
    rule = seeds.Rule.from_rubric(ctx.rubric, threshold(ctx, ctx.rubric["threshold"]))
    key = hooks.memo_key or partial(memo_key, spec["id"])
    runs: list[dict] = []

    def run(seed: int) -> float:
        runs.append(ctx.memo(key(hp, seed, ctx.dataset.fingerprint, ctx.reference.__fingerprint__),
                             lambda: _train(ctx, hooks, hp, seed)))   # a memoized run is not trained again
        return runs[-1]["accuracy"]

    head = f"{_setting(hp)}: "
    try:
        decision = seeds.sequential(run, rule)
    except _OverLimit as over:
        return Verdict(FAIL, f"{head}{over}", details={"hyperparams": hp, "accuracies": [r["accuracy"] for r in runs]})
    runs = runs[:len(decision.values)]
    details = seeds.training_details(decision, rule, runs)
    details.update({"hyperparams": hp, "dataset": ctx.dataset.name, "losses": runs[0]["losses"],
                    "source": ctx.hyperparams.note})
    figures = (f"mean {spec.get('label', 'test accuracy')} {decision.interval.mean:.3f} over {len(runs)} seeds "
               f"({', '.join(f'{a:.3f}' for a in decision.values)}; {decision.interval.text(rule.level)})")
    return _verdict(head, figures, _where(ctx, rule), decision, "the most the rubric allows",
                    lambda: hooks.hints(ctx, hp, runs), details)


def _train(ctx: Context, hooks: Hooks, hp: dict, seed: int) -> dict:
    """One seed, trained in a child process under the rubric's memory and time limits; the data
    are mapped here first, so the child shares them."""
    data = hooks.data(ctx)
    seconds = float(ctx.rubric.get("max_train_seconds", 600))
    memory_mb = int(ctx.rubric.get("max_train_memory_mb", 2048))

    def work() -> dict:
        started = time.monotonic()
        return {**hooks.train(ctx, data, hp, seed), "seconds": round(time.monotonic() - started, 2)}

    environment = seeds.numeric_environment()   # the child's too: it inherits numpy and the BLAS settings
    done = bounded.run(work, memory_mb=memory_mb, seconds=seconds)
    if done.over == "memory":
        raise _OverLimit(f"training needed more memory than the grader allows ({memory_mb:,} MB): "
                         f"reduce {hooks.reduce_memory}")
    if done.over == "time":
        raise _OverLimit(f"training one seed took longer than the grader allows ({seconds:,.0f} s): "
                         f"reduce {hooks.reduce}")
    if done.error:
        raise RuntimeError(f"reference training failed: {done.error}")
    return {**done.value, "environment": environment}


# ---------------------------------------------------------------- trains = "student"

def _thresholds(ctx: Context, spec: dict) -> dict[str, float]:
    """split -> threshold, for the checks this probe run serves; the validation set stands in for
    the hidden test set, so the probe stops on it at the test threshold."""
    found = {spec["split"]: threshold(ctx, ctx.rubric["threshold"])}
    if "test_threshold" in ctx.rubric:
        found["test"] = threshold(ctx, ctx.rubric["test_threshold"])
    if "test" in found:
        found["val"] = found["test"]
    return found


def inputs(ctx: Context, spec: dict, hooks: Hooks) -> dict | None:
    """The probe's: the assignment's data and the settings (by name), the seeds and the rule (its
    t values: the probe cannot import the grader), a threshold per split. None: nothing trains."""
    hp, problem = _blocked(ctx, spec, hooks)
    if problem:
        return None
    found = _thresholds(ctx, spec)
    rule = seeds.Rule.from_rubric(ctx.rubric, found[spec["split"]])
    names = shared.spec_inputs(loop=spec["loop"], **({"prepare": spec["prepare"]} if "prepare" in spec else {}))
    return {**names, **hooks.inputs(ctx, hp), "seeds": np.arange(rule.max_seeds),
            "min_seeds": np.asarray(rule.min_seeds), "level": np.asarray(rule.level),
            "t_values": np.asarray(rule.t_values()),
            **{f"threshold_{split}": np.asarray(value) for split, value in found.items()},
            **{name: np.asarray(value) for name, value in hp.items()}}


def _labels_key(split: str) -> str:
    return "y" if split == "train" else f"y_{split}"


def _stop_splits(inputs: dict) -> list[str]:
    """The splits the probe scored to decide when to stop: a threshold and labels of its own."""
    return [key[len("threshold_"):] for key in inputs
            if key.startswith("threshold_") and _labels_key(key[len("threshold_"):]) in inputs]


def _rule(inputs: dict, split: str) -> seeds.Rule:
    """The rule the probe ran with, as inputs() wrote it (a check judging another's run has no table of it)."""
    return seeds.Rule(float(inputs[f"threshold_{split}"]), float(inputs["level"]), int(inputs["min_seeds"]),
                      len(inputs["seeds"]))


def _accuracies(inputs: dict, outcome, split: str, labels: np.ndarray) -> tuple[list[float] | None, str]:
    """Accuracy per seed, for the seeds the probe ran (0, 1, ... until its rule stopped it)."""
    accs = []
    for seed in inputs["seeds"].tolist():
        predictions = outcome.outputs.get(f"s{seed}.{split}_predictions")
        if predictions is None:
            break
        if predictions.reshape(-1).shape != labels.shape:
            return None, f"the {split} predictions of seed {seed} have the wrong shape {predictions.shape}"
        accs.append(float(np.mean(predictions.reshape(-1) == labels)))
    if len(accs) < int(inputs["min_seeds"]):
        return None, f"the {split} predictions of seed {len(accs)} are missing"
    return accs, ""


def _stopped_rightly(inputs: dict, outcome, n: int) -> bool:
    """Whether the probe's rule did stop it at n seeds: every split it stops on decided (the grader
    has their labels). Otherwise something else cut the runs short."""
    for split in _stop_splits(inputs):
        accs, _ = _accuracies(inputs, outcome, split, inputs[_labels_key(split)])
        if accs is None or len(accs) != n or seeds.side(accs, _rule(inputs, split)) == seeds.OPEN:
            return False
    return True


def _judge_student(ctx: Context, spec: dict, hooks: Hooks, hp: dict, inputs: dict | None, outcome) -> Verdict:
    who, split = spec.get("who", "your code"), spec["split"]
    if outcome.error:
        return Verdict(FAIL, f"training {who} failed: {first_line(outcome.error)}",
                       details={"traceback": outcome.traceback})
    rule = _rule(inputs, split)
    key = _labels_key(split)
    labels = inputs[key] if key in inputs else hooks.labels(ctx, split)   # hidden ones never left the grader
    accs, problem = _accuracies(inputs, outcome, split, labels)
    if accs is None:
        return Verdict(FAIL, problem)
    decision = seeds.first_clear(accs, rule)
    env = _environment(outcome.outputs.get("env"))
    runs = [{"environment": env, "losses": _floats(outcome.outputs.get(f"s{k}.losses"))}
            for k in range(len(decision.values))]
    details = seeds.training_details(decision, rule, runs)
    details.update({"settings": _setting(hp), "source": ctx.hyperparams.note, "seeds_ran": len(accs),
                    "environment_source": "reported by the probe process",
                    **({"losses": runs[0]["losses"]} if "s0.losses" in outcome.outputs else {})})
    figures = (f"{spec.get('label', 'accuracy')} {decision.interval.mean:.3f} (mean of {len(decision.values)} "
               f"initialisations: {', '.join(f'{a:.3f}' for a in decision.values)}; "
               f"{decision.interval.text(rule.level)})")
    head = f"{who} trained with {_setting(hp)}: "
    if decision.outcome == seeds.OPEN and not decision.exhausted and not _stopped_rightly(inputs, outcome, len(accs)):
        return Verdict(FAIL, f"{head}{figures}: the training runs stopped after {len(accs)} seeds, before the "
                             "accuracy was decided (did your code change the probe's arithmetic?)", details=details)
    stops = " and ".join(SPLIT_NAMES.get(s, s) for s in _stop_splits(inputs))
    why = "the most the rubric allows" if decision.exhausted else f"when the {stops} accuracies were decided"
    return _verdict(head, figures, _where(ctx, rule), decision, why, lambda: hooks.hints(ctx, hp, runs), details)


def _floats(values: np.ndarray | None) -> list[float]:
    return [] if values is None else [float(v) for v in np.asarray(values, np.float64).reshape(-1)]


def _environment(env: np.ndarray | None) -> dict | None:
    """The arithmetic the probe process reported (next to student code: shown, never trusted)."""
    if env is None or env.dtype.kind != "U" or env.size != 1:
        return None
    try:
        return seeds.clean_environment(json.loads(str(env.reshape(-1)[0])))
    except (ValueError, RecursionError):
        return None
