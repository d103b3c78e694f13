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
* update_rule: an update rule over several steps per setting: a function `(w, dw, config) ->
  (next_w, config)`, the config carried, defaults filled in when it is None; or an optimizer
  class stepped by calling its methods on a dict of parameters or on layers (known mistakes:
  wrong classes, driven as the student's);
* dropout: a random layer judged by its statistics (the share kept, the scaling, test mode,
  the mask reused by backward).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from ..check import Check
from . import dropout, gradients, outputs, update_rule

PROBES = Path(__file__).with_name("probes.py")
KINDS = {"outputs": outputs, "gradients": gradients, "update_rule": update_rule, "dropout": dropout}


def check(spec: dict, mistakes: dict, equivalents: dict) -> Check:
    """The Check of one [[checks]] table of kind spec["kind"], with the assignment's known mistakes
    and, for an update rule, the published variants it accepts."""
    kind = KINDS[spec["kind"]]
    extra = (equivalents,) if kind is update_rule else ()
    return Check(judge=partial(_judge, kind, spec, mistakes, extra), inputs=partial(kind.inputs, spec=spec))


def _judge(kind, spec, mistakes, extra, ctx, inputs, outcome):
    return kind.judge(ctx, spec, inputs, outcome, mistakes, *extra)
