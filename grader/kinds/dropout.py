"""Kind "dropout": a random layer judged by its statistics, since a correct mask may be drawn in
many ways. Inverted dropout with p the probability of keeping a unit (CS231n's convention):

* train mode: a share p of the units kept (within 6 binomial standard deviations), each kept
  unit scaled by 1/p, the others 0; backward: dout where the unit was kept, scaled by 1/p, else
  0 (the forward pass's mask, from the cache);
* test mode: the input unchanged, and dout unchanged.

    [[checks]]
    id = "dropout"
    kind = "dropout"
    forward = "dropout_forward"
    backward = "dropout_backward"
    shape = [500, 400]
    p = [0.3, 0.75]
"""
from __future__ import annotations

import numpy as np

from ..check import FAIL, PASS, Verdict, by_case, first_line, probe_failed
from ..numeric import compare, precision_of
from . import shared

PROBE = "kind_dropout"
PARTS = ("train-mode forward", "train-mode backward", "test mode")


def inputs(ctx, spec: dict) -> dict:
    gen = shared.rng(ctx, spec)
    flat = shared.spec_inputs(forward=spec["forward"], backward=spec["backward"])
    for k, p in enumerate(spec["p"]):
        shape = tuple(spec["shape"])
        flat.update({f"c{k}.x": 1 + np.abs(gen.standard_normal(shape)),   # no zeros: a kept unit is seen
                     f"c{k}.dout": gen.standard_normal(shape), f"c{k}.p": np.asarray(float(p)),
                     f"c{k}.seed": np.asarray(k + 1)})
    return flat


def judge(ctx, spec: dict, inputs: dict, outcome, mistakes: dict) -> Verdict:
    if outcome.error:
        return probe_failed(f"{spec['forward']} could not be run", outcome)
    outs, units = by_case(outcome.outputs), shared.units(ctx)
    problems: dict[str, str] = {}
    for k, case in shared.cases(inputs).items():
        o, x, dout, p = outs[k], case["x"], case["dout"], float(case["p"])
        if "error" in o:
            return Verdict(FAIL, f"{spec['forward']} or {spec['backward']} raised {first_line(o['error'].item())} "
                                 f"(p={p:g})")
        if "returned" in o:
            return Verdict(FAIL, f"{spec['forward']} or {spec['backward']} returned {o['returned'].item()} (p={p:g})")
        for part, problem in _train_forward(o["train_out"], x, p, units).items() | \
                _train_backward(o["train_out"], o["train_dx"], x, dout, units).items() | \
                _test_mode(o["test_out"], o["test_dx"], x, dout, units).items():
            problems.setdefault(part, f"{problem} (p={p:g})")
    if problems:
        right = len(PARTS) - len(problems)
        return Verdict(FAIL, "; ".join(problems[p] for p in PARTS if p in problems) +
                       f" ({right} of {len(PARTS)} parts right)", fraction=right / len(PARTS))
    return Verdict(PASS, "keeps a share p of the units, scaled by 1/p, and backward uses the same mask; "
                         "the identity at test time")


def _same(got, want, scale, units) -> bool:
    return got.shape == want.shape and compare(got, want, precision_of(got), scale, units).ok


def _train_forward(out, x, p, units) -> dict[str, str]:
    part = PARTS[0]
    if out.shape != x.shape:
        return {part: f"the train-mode output has shape {out.shape}; expected {x.shape}"}
    kept = out != 0
    share, n = float(kept.mean()), kept.size
    spread = 6 * np.sqrt(p * (1 - p) / n)
    if abs(share - p) > spread:
        if abs(share - (1 - p)) <= spread:
            return {part: f"keeps {share:.3f} of the units: p is the probability of keeping a unit, not of "
                          "dropping it (mask = np.random.rand(*x.shape) < p)"}
        return {part: f"keeps {share:.3f} of the units; expected a share p"}
    if _same(out[kept], x[kept], np.abs(x[kept]), units):
        return {part: "the kept units are not scaled: inverted dropout divides them by p at train time, so "
                      "that test time needs nothing"}
    if not _same(out[kept], x[kept] / p, np.abs(x[kept]) / p, units):
        return {part: "the kept units are not x / p"}
    return {}


def _train_backward(out, dx, x, dout, units) -> dict[str, str]:
    """Backward against the forward pass's own mask (out / x): a backward that reuses the mask is
    right even when the forward pass drew or scaled it wrongly (that is the forward's fault)."""
    part = PARTS[1]
    if dx.shape != dout.shape:
        return {part: f"the train-mode dx has shape {dx.shape}; expected {dout.shape}"}
    if out.shape != dout.shape:
        return {part: "cannot be checked against the forward pass's mask: its output has the wrong shape"}
    kept = out != 0
    if not np.array_equal(dx != 0, kept & (dout != 0)):
        return {part: "dx is not zero exactly where the forward pass dropped units: reuse the forward pass's "
                      "mask (keep it in the cache) instead of drawing a new one"}
    mask = out[kept] / x[kept]
    if not _same(dx[kept], dout[kept] * mask, np.abs(dout[kept] * mask), units):
        if _same(dx[kept], dout[kept], np.abs(dout[kept]), units):
            return {part: "dx is not scaled as the forward pass's output was: multiply dout by the same mask, "
                          "1/p included"}
        return {part: "dx is not dout times the forward pass's mask"}
    return {}


def _test_mode(out, dx, x, dout, units) -> dict[str, str]:
    if not _same(out, x, np.abs(x), units):
        return {PARTS[2]: "test mode changes the input: dropout applies at train time only (out = x)"}
    if not _same(dx, dout, np.abs(dout), units):
        return {PARTS[2]: "test-mode backward changes dout: it must pass it through (dx = dout)"}
    return {}
