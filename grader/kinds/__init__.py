"""Check kinds: checks an assignment configures in assignment.toml (a [[checks]] table with
`kind = "..."`) instead of writing them. Each kind is a module of this package with `PROBE`
(its function in probes.py, which runs next to the student's code), `inputs(ctx, spec)` (what
that probe runs on) and `judge(ctx, spec, inputs, outcome, mistakes)` (the verdict, against the
reference's function the spec names). An assignment adds known mistakes in its checks.py,
`MISTAKES[check id]`, so that messages keep naming the likely bug, for update rules the
published variants it accepts, `EQUIVALENTS[check id]`, and for outputs and gradients its own
inputs, `CASES[check id]`, and allowances, `ALLOWANCES[check id]` (`Hooks`). Methods of a class
are called as calls.py says.

* outputs: a function's output, or a method's, on generated inputs (a per-case tolerance at the
  precision used; inputs changed in place fail; optionally up to a constant per row);
* gradients: a backward function's or method's gradients (returned, or set as attributes)
  against the reference's and against centered differences of the reference forward; a share
  of the points per gradient;
* update_rule: an update rule over several steps per setting: a function `(w, dw, config) ->
  (next_w, config)`, the config carried, defaults filled in when it is None; or an optimizer
  class stepped by calling its methods on a dict of parameters or on layers (known mistakes:
  wrong classes, driven as the student's);
* dropout: a random layer judged by its statistics (the share kept, the scaling, test mode,
  the mask reused by backward);
* notebook_model: the model the notebook's own training left in its kernel, its predictions (sent
  back by the assignment's kernel probe) scored on the hidden test labels against a threshold;
* training: settings trained to an accuracy threshold over seeds (grader/seeds.py's rule), within
  the grader's budget: the reference trained with the student's settings on the grader's side
  (bounded, memoized), or the student's code trained in the sandbox by the assignment's probe
  through kind_training, its predictions scored here. Its hooks (settings, data, loop, cost
  model, hints) are the assignment's: `TRAINING[check id]` in its checks.py, a training.Hooks.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from ..check import Check
from . import dropout, gradients, notebook_model, outputs, shared, training, update_rule

Hooks = shared.Hooks
PROBES = Path(__file__).with_name("probes.py")
KINDS = {"outputs": outputs, "gradients": gradients, "update_rule": update_rule, "dropout": dropout,
         "training": training, "notebook_model": notebook_model}


def check(spec: dict, mistakes: dict, equivalents: dict, hooks: shared.Hooks = shared.Hooks(),
          training_hooks: training.Hooks | None = None) -> Check:
    """The Check of one [[checks]] table of kind spec["kind"], with the assignment's known mistakes,
    for an update rule the published variants it accepts, for outputs and gradients the
    assignment's own inputs and allowances (`hooks`), and for training its hooks."""
    kind = KINDS[spec["kind"]]
    if kind is training:
        return training.check(spec, training_hooks)
    extra = (equivalents,) if kind is update_rule else ()
    inputs = partial(kind.inputs, spec=spec)
    if kind is gradients:
        gradients.validate(spec)
    if kind in (outputs, gradients):
        extra, inputs = (hooks,), partial(kind.inputs, spec=spec, hooks=hooks)
    return Check(judge=partial(_judge, kind, spec, mistakes, extra), inputs=inputs)


def _judge(kind, spec, mistakes, extra, ctx, inputs, outcome):
    return kind.judge(ctx, spec, inputs, outcome, mistakes, *extra)


def probe(spec: dict) -> str | None:
    """The probe a check of a kind runs in the sandbox: its kind's, none for a training check that
    trains the reference (on the grader's side) or judges another check's run (`outcome_of`)."""
    kind = KINDS[spec["kind"]]
    if "outcome_of" in spec or (kind is training and spec.get("trains") != "student"):
        return None
    return kind.PROBE
