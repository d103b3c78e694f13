"""Check kinds: checks an assignment configures in assignment.toml (a [[checks]] table with
`kind = "..."`) instead of writing them. Each kind is a module of this package with `PROBE`
(its function in probes.py, which runs next to the student's code), `inputs(ctx, spec)` (what
that probe runs on) and `judge(ctx, spec, inputs, outcome, mistakes)` (the verdict, against the
reference's function the spec names). An assignment adds known mistakes in its checks.py,
`MISTAKES[check id]`, so that messages keep naming the likely bug, and for update rules the
published variants it accepts, `EQUIVALENTS[check id]`.

* outputs: a function's output on generated inputs (a per-case tolerance at the precision used;
  inputs changed in place fail);
* gradients: a backward function's gradients against the reference's and against centered
  differences of the reference forward; a share of the points per gradient;
* update_rule: `(w, dw, config) -> (next_w, config)` over several steps, the config carried,
  defaults filled in when it is None;
* dropout: a random layer judged by its statistics (the share kept, the scaling, test mode,
  the mask reused by backward);
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
from . import dropout, gradients, outputs, update_rule
from . import training

PROBES = Path(__file__).with_name("probes.py")
KINDS = {"outputs": outputs, "gradients": gradients, "update_rule": update_rule, "dropout": dropout}
KINDS["training"] = training


def check(spec: dict, mistakes: dict, equivalents: dict, hooks: training.Hooks | None = None) -> Check:
    """The Check of one [[checks]] table of kind spec["kind"], with the assignment's known mistakes
    and, for an update rule, the published variants it accepts; a training check with its hooks."""
    kind = KINDS[spec["kind"]]
    if kind is training:
        return training.check(spec, hooks)
    extra = (equivalents,) if kind is update_rule else ()
    return Check(judge=partial(_judge, kind, spec, mistakes, extra), inputs=partial(kind.inputs, spec=spec))


def _judge(kind, spec, mistakes, extra, ctx, inputs, outcome):
    return kind.judge(ctx, spec, inputs, outcome, mistakes, *extra)


def probe(spec: dict) -> str | None:
    """The probe a check of a kind runs in the sandbox: its kind's, none for a training check that
    trains the reference (on the grader's side) or judges another check's run (`outcome_of`)."""
    kind = KINDS[spec["kind"]]
    if "outcome_of" in spec or (kind is training and spec.get("trains") != "student"):
        return None
    return kind.PROBE
