"""Kind "gradients": what a backward pass computes, against the reference's backward on the same
inputs and against centered differences of the reference's forward, gradient by gradient (a
share of the points each).

    [[checks]]
    id = "affine_backward"
    kind = "gradients"
    forward = "affine_forward"                  # makes the cache backward(dout, cache) gets
    backward = "affine_backward"
    grads = ["dx", "dw", "db"]                  # what backward returns, in order ...
    wrt = ["x", "w", "b"]                       # ... and the argument of forward each is of
    cases = [{x = [2, 4, 5], w = [20, 3], b = [3]}, ...]

Methods instead of functions: `class`, `init`, `attributes`, `args` (grader/kinds/calls.py);
`forward` and `backward` name methods; `grads` are attribute paths read after backward
("dweights", "grads[W1]"), `wrt` the argument or attribute path each is of ("inputs",
"params[W1]"). Optional: `dout = "dscores"` (the upstream gradient's name, default "dout");
`cache = false` when backward(dout) takes no cache (the object keeps what it needs); `output =
"output"` when forward sets self.output instead of returning it, and `check_output = true` when
that must be right too (no other check judges it). Inputs are standard normal arrays of
the `cases` shapes, or the assignment's own (`CASES[check id]`, dout included).

A loss layer (`loss = true`, with `output`): forward(*args) returns the loss, judged against the
reference's too (a share of the points, `loss_is` saying what it should be), backward gets the
forward's own output as dout, then `backward_args` ("y_true"), and the numerical gradient is of
the returned loss. Its labels come from CASES, and `SCALES[check id](ctx, case)` may give the
magnitude of the terms behind "loss" and each gradient where f(|inputs|) does not bound the
rounding (exp, log).

A gradient whose values are right in another shape passes when it updates its parameter without
changing that one's shape ((n,) for (1, n)), else with a warning; the message names a transpose,
a factor (the batch size, a sign), an extra multiple of the parameter, all zeros, accumulation
across calls, or one of the assignment's known mistakes (MISTAKES[check id]).
"""
from __future__ import annotations

import numpy as np

from ..check import FAIL, PASS, WARN, Verdict, by_case, probe_failed, raised
from ..numeric import Comparison, compare, numerical_gradient, precision_of, sample_indices, summary
from . import calls, shared

PROBE = "kind_gradients"
LOSS = "loss"   # a loss layer's loss, in the items a check's points are shared among


def validate(spec: dict) -> None:
    """A spec this kind cannot run says so when the assignment loads, not for every student."""
    if spec.get("loss") and ("class" not in spec or "output" not in spec or spec.get("cache", True)):
        raise ValueError(f"check {spec['id']!r}: a loss layer (loss = true) is a class's, with `output` (what "
                         "backward is given) and cache = false")


def inputs(ctx, spec: dict, hooks: shared.Hooks = shared.Hooks()) -> dict:
    dout = spec.get("dout", "dout")
    if hooks.cases is not None:
        cases = hooks.cases(ctx)
    else:   # the arguments, then an upstream gradient of the output's shape
        gen, cases = shared.rng(ctx, spec), []
        for shapes in spec["cases"]:
            case = shared.arrays(gen, shapes, float(spec.get("away_from_zero", 0)))
            cases.append({**case, dout: gen.standard_normal(_forward(ctx.reference, spec, case)[0].shape)})
    flat = shared.call_inputs(spec, cases[0], "forward", "backward", "grads", "output", "backward_args")
    flat.update(shared.spec_inputs(dout=dout, cache=str(spec.get("cache", True)), loss=str(bool(spec.get("loss")))))
    for k, case in enumerate(cases):
        flat.update({f"c{k}.{n}": a for n, a in case.items()})
    return flat


def _forward(module, spec: dict, case: dict):
    """The output, the result (for its cache) and the object of a forward pass on the case."""
    obj = calls.make(module, spec, case)
    values = [case[n].copy() for n in calls.args(spec, case)]
    result = calls.call(module, spec, obj, spec["forward"], values)
    out = calls.read(obj, spec["output"]) if "output" in spec else shared.first(result)
    return np.asarray(out, np.float64), result, obj


def _dout(spec: dict, case: dict, out: np.ndarray) -> np.ndarray:
    """What backward is given: the case's upstream gradient, or a loss layer's own output."""
    return out.copy() if spec.get("loss") else case[spec.get("dout", "dout")].copy()


def _reference(module, spec: dict, case: dict) -> tuple[list[np.ndarray], np.ndarray, object]:
    """The reference's gradients on the case, and its forward's output and result (a loss
    layer's: the loss)."""
    out, result, obj = _forward(module, spec, case)
    cache = [result[1]] if spec.get("cache", True) else []
    extra = [case[n].copy() for n in spec.get("backward_args", [])]
    returned = calls.call(module, spec, obj, spec["backward"], [_dout(spec, case, out), *extra, *cache])
    if obj is not None:
        return [np.asarray(calls.read(obj, g), np.float64) for g in spec["grads"]], out, result
    grads = returned if isinstance(returned, (tuple, list)) else [returned]
    return [np.asarray(g, np.float64) for g in grads], out, result


def _numeric(ctx, spec: dict, case: dict, wrt: str, gen) -> tuple[list, np.ndarray]:
    """Sampled entries of the gradient of sum(output · dout) (a loss layer's: of its loss) with
    respect to the case entry `wrt` is (an argument, or an attribute of the object), by centered
    differences of the reference."""
    dout, is_arg = case.get(spec.get("dout", "dout")), wrt in calls.args(spec, case)
    arrays = {wrt: case[wrt].copy()} if is_arg else {}
    obj = calls.make(ctx.reference, spec, case)
    values = [arrays.get(n, case[n].copy()) for n in calls.args(spec, case)]
    array = arrays[wrt] if is_arg else calls.read(obj, next(p for p in spec["attributes"] if calls.entry(p) == wrt))

    def f() -> float:
        result = calls.call(ctx.reference, spec, obj, spec["forward"], values)
        if spec.get("loss"):
            return float(result)
        out = calls.read(obj, spec["output"]) if "output" in spec else shared.first(result)
        return float(np.sum(np.asarray(out, np.float64) * dout))

    idx = sample_indices(array.shape, int(ctx.rubric.get("numeric_entries", 30)), gen)
    numeric = numerical_gradient(f, array, idx)
    return idx, np.array([numeric[ix] for ix in idx])


def judge(ctx, spec: dict, inputs: dict, outcome, mistakes: dict, hooks: shared.Hooks = shared.Hooks()) -> Verdict:
    forward, backward, of_class = spec["forward"], spec["backward"], "class" in spec
    grads, wrt = list(spec["grads"]), [calls.entry(w) for w in spec["wrt"]]
    labels = [calls.label(g) for g in grads]
    if outcome.error:
        return probe_failed(f"{spec.get('class', backward)} could not be run", outcome)
    outs = by_case(outcome.outputs)
    named = f"{spec['class']} " if of_class else ""
    if spec.get("cache", True):   # backward's error may come from forward's cache: both are named
        in_forward = in_backward = f"{forward} then {backward}"
    else:
        in_forward, in_backward = f"{named}{forward}", f"{named}{backward}"
    failed = (shared.no_output(f"{named}{forward}", outs) or raised(in_forward, outs, "forward_error")
              or raised(in_backward, outs) or shared.returned(backward, outs))
    if failed:
        return failed
    units, dout_name, gen = shared.units(ctx), spec.get("dout", "dout"), np.random.default_rng(ctx.seed)
    is_loss = LOSS if spec.get("loss") else None   # a loss layer's loss: one more item of the points
    problems: dict[int | str, str] = {}
    warnings: dict[int, str] = {}
    figures: dict[int, dict] = {}
    comparisons, notes = [], []
    for k, case in shared.cases(inputs).items():
        o = outs[k]
        expected, reference_out, reference_loss = _reference(ctx.reference, spec, case)
        dout = _dout(spec, case, reference_out)
        # the terms' magnitude: the assignment's (SCALES: "loss" and "grads"), or the reference on |case|
        own = hooks.scales(ctx, case) if hooks.scales is not None else None
        magnitude = own or dict(zip(("grads", "out", "loss"), _reference(ctx.reference, spec, _absolute(case))))
        if not of_class:
            for key, when in (("count", ""), ("again_count", " when called a second time")):
                if int(o[key]) != len(grads):
                    return Verdict(FAIL, f"{backward} returns {int(o[key])} value(s){when}; expected {len(grads)}: "
                                         f"({', '.join(grads)})")
        if spec.get("check_output"):
            wrong = _wrong_output(ctx, o, units, f"{named}{forward}'s self.{spec['output']}",
                                  reference_out, np.abs(magnitude["out"] if "out" in magnitude else
                                                        _forward(ctx.reference, spec, _absolute(case))[0]))
            if wrong:
                return Verdict(FAIL, wrong)
        scales = [np.abs(s) for s in magnitude["grads"]]
        given = o.get("out", dout) if is_loss else dout   # a loss layer's backward got its own output
        if not np.array_equal(o.get("dout_after", given), given):
            why = f"it is the layer's own self.{spec['output']}" if is_loss else "the layer after may still use it"
            notes = [f"but {backward} changed {dout_name} in place: copy it first, {dout_name}.copy(); {why}"]
        if is_loss and is_loss not in problems and "loss_returned" in o:
            problems[is_loss] = (f"{named}{forward} returns {o['loss_returned'].item()}, not a number: "
                                 f"{spec.get('loss_is', 'the loss')} is one number")
        if is_loss and is_loss not in problems:
            precision = precision_of(o.get("out"), *(o.get(f"g{i}") for i in range(len(grads))), o.get("precision"))
            scale = abs(float(magnitude["loss"]))
            c = compare(o["loss"], float(reference_loss), precision, scale, units, ctx.expected_error * scale)
            if c.ok:
                comparisons.append(c)
            else:
                problems[is_loss] = (f"{named}{forward} does not return {spec.get('loss_is', 'the right loss')} "
                                     f"(got {float(o['loss']):.6g}, expected {float(reference_loss):.6g})")
        for i, label in enumerate(labels):
            if i in problems:
                continue
            if f"bad{i}" in o:
                problems[i] = f"{label} is {o[f'bad{i}'].item()}"
                continue
            got, want, scale = o[f"g{i}"], expected[i], scales[i]
            precision = precision_of(got, o.get("precision"))
            allowance = ctx.expected_error * scale
            if hooks.allowance is not None:
                allowance = allowance + hooks.allowance(case, precision, units).get(wrt[i], 0.0)
            judged = _Gradient(label, calls.label(spec["wrt"][i]), want, scale, precision, units, allowance)
            status, message, c, got = judged.verdict(got.astype(np.float64), case, dout, spec, i, mistakes)
            idx, numeric = _numeric(ctx, spec, case, wrt[i], gen)
            num = judged.numeric(got, idx, numeric, float(ctx.rubric.get("numeric_rtol", 1e-6)))
            fig = figures.setdefault(i, {"rel_error_vs_reference": 0.0, "rel_error_vs_numerical": 0.0})
            fig.update(rel_error_vs_reference=max(fig["rel_error_vs_reference"], c.error),
                       rel_error_vs_numerical=max(fig["rel_error_vs_numerical"], num.error), precision=c.precision.name)
            again = o.get(f"again_g{i}")
            if status != FAIL and not num.ok:
                status, message = FAIL, (f"{label} disagrees with the numerical gradient (error {num.error:.2g} of "
                                         "the magnitude of the terms)")
            elif status != FAIL and again is not None and not judged.matches(again):
                status, message = FAIL, (f"{label} changes when {backward} is called twice with the same input: it "
                                         "accumulates (+=) across calls; assign it with = instead")
            if status == FAIL:
                problems[i] = message
            else:
                comparisons.append(c)
                if status == WARN:
                    warnings.setdefault(i, message)
    details = {"per_parameter": {calls.entry(g): {"status": FAIL if i in problems else WARN if i in warnings else PASS,
                                                  **figures.get(i, {})} for i, g in enumerate(grads)}}
    if problems:
        items = len(grads) + bool(is_loss)
        right = sum(i not in problems for i in range(len(grads)))
        loss = f"the loss {'wrong' if is_loss in problems else 'right'}, " if is_loss else ""
        return Verdict(FAIL, "; ".join(problems[i] for i in [*range(len(grads)), is_loss] if i in problems)
                       + f" ({loss}{right} of {len(grads)} gradients right)",
                       fraction=(items - len(problems)) / items, details=details)
    note, coarse = summary(comparisons)
    notes.append(note)
    if warnings:
        return Verdict(WARN, shared.with_note("; ".join(warnings[i] for i in sorted(warnings)),
                                              "; ".join(n for n in notes if n)), details=details)
    what = _listed(["the loss", *labels] if is_loss else labels)
    return Verdict(WARN if coarse else PASS,
                   shared.with_note(f"{what} {'matches' if what == labels[0] else 'match'} the reference and "
                                    "the numerical gradient", "; ".join(n for n in notes if n)), details=details)


def _absolute(case: dict) -> dict:
    """The case with every entry made non-negative: the terms' magnitude, computed by the reference."""
    return {n: np.abs(v) for n, v in case.items()}


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _same_update(got: tuple, want: tuple) -> bool:
    """Whether a gradient of shape `got` updates a parameter of shape `want` without changing that
    one's shape ((n,) for (1, n): yes; (1, n) for (n,): no, it makes the parameter (1, n))."""
    try:
        return np.broadcast_shapes(got, want) == want
    except ValueError:
        return False


def _wrong_output(ctx, o, units, label, want, scale) -> str:
    """What is wrong with the forward's output, which the gradients are of (the reference's
    `want`, its terms' magnitude `scale`), or ""."""
    got = o["out"]
    if got.shape != want.shape:
        return f"{label} has shape {got.shape}; expected {want.shape}"
    c = compare(got, want, precision_of(got, o.get("precision")), scale, units, ctx.expected_error * scale)
    return "" if c.ok else shared.wrong(label, got, want, c)


class _Gradient:
    """One gradient of one case, judged at the precision the student's code computed it in, within
    `allowance` (the error of `expected` itself, and what may go either way at a kink)."""

    def __init__(self, label, param, expected, scale, precision, units, allowance):
        self.label, self.param, self.expected, self.scale = label, param, expected, scale
        self.precision, self.units, self.allowance = precision, units, allowance

    def compare(self, got, alt=None, scale=None) -> Comparison:
        return compare(got, self.expected if alt is None else alt, self.precision,
                       self.scale if scale is None else scale, self.units, self.allowance)

    def matches(self, got) -> bool:
        return got.size == self.expected.size and self.compare(got.reshape(self.expected.shape)).ok

    def numeric(self, got, idx: list, numeric: np.ndarray, rtol: float) -> Comparison:
        """On the sampled entries; centered differences carry their own error (rtol of the terms'
        magnitude) on top of the student's rounding."""
        if got.shape != self.expected.shape:
            return Comparison(False, np.inf, (), self.precision)
        at = tuple(np.array(i) for i in zip(*idx))
        allowance = self.allowance[at] if np.ndim(self.allowance) else self.allowance
        return compare(got[at], numeric, self.precision, self.scale[at], self.units, allowance + rtol * self.scale[at])

    def verdict(self, got, case, dout, spec, i, mistakes) -> tuple[str, str, Comparison, np.ndarray]:
        """(status, message, comparison, got in the expected shape when its values are right)."""
        label, want = self.label, self.expected
        if got.shape == want.shape:
            c = self.compare(got)
            if c.ok:
                return PASS, "", c, got
        elif self.matches(got):
            c = self.compare(got.reshape(want.shape))
            if _same_update(got.shape, want.shape):
                return PASS, "", c, got.reshape(want.shape)
            if got.shape == (1,) + want.shape:
                return (WARN, f"{label} has shape {got.shape}, the values are right; it should have the shape of "
                              f"{self.param} {want.shape}: sum with .sum(axis=0) (no keepdims) or index [0]",
                        c, got.reshape(want.shape))
            return WARN, f"{label} has shape {got.shape} instead of {want.shape}, the values are right", c, \
                got.reshape(want.shape)
        else:
            c = Comparison(False, np.inf, (), self.precision)
        return FAIL, self.diagnosis(got, case, dout, spec, i, mistakes, c), c, got

    def diagnosis(self, got, case, dout, spec, i, mistakes: dict, c: Comparison) -> str:
        """A known mistake of the assignment's (message -> the gradients it gives, from the
        arguments, the attributes set and dout; None for one it does not concern), else the usual
        ones, else where the gradient is wrong."""
        label, want, scale = self.label, self.expected, self.scale
        args = [*calls.inputs(spec, case), dout]
        for message, f in mistakes.items():
            try:
                alt = f(*args)[i]
                alt_scale = f(*(np.abs(a) for a in args))[i]
            except (ValueError, TypeError, IndexError):   # shapes that do not fit: not this mistake
                continue
            if alt is None:
                continue
            alt, alt_scale = np.asarray(alt, np.float64), np.abs(np.asarray(alt_scale, np.float64))
            if alt.shape != got.shape:
                continue
            same = alt.shape == want.shape   # the allowance is the right gradient's, entry by entry
            if (not same or np.any(alt != want)) and \
                    compare(got, alt, self.precision, alt_scale, self.units, self.allowance if same else 0.0).ok:
                return f"{label} {message}"
        if got.shape != want.shape:
            if got.ndim == 2 and got.T.shape == want.shape and self.compare(got.T).ok:
                return f"{label} is transposed: shape {got.shape}, expected {want.shape}"
            return f"{label} has shape {got.shape}; expected {want.shape}"
        if got.ndim == 2 and got.shape[0] == got.shape[1] and self.compare(got.T, scale=scale.T).ok:
            return f"{label} is transposed"
        if not np.any(got):
            return f"{label} is all zeros: backward does not compute it"
        return self._factor(got, case, dout, spec, i) or shared.wrong(label, got, want, c)

    def _factor(self, got, case, dout, spec, i) -> str:
        """A multiple of the right gradient (the batch size, a sign), or the right one plus a multiple
        of the parameter (a regularization the loss here does not have), or ""."""
        label, want, scale = self.label, self.expected, self.scale
        name, n = spec.get("dout", "dout"), dout.shape[0]
        batch = ((n, f"is not divided by the number of samples N={n}: the loss is their mean"),
                 (1 / n, f"is divided by the number of samples N={n} twice")) if spec.get("loss") else \
                ((n, f"multiplied by the batch size N={n}: {name} is already averaged"),
                 (1 / n, f"divided by the batch size N={n} again: {name} is already averaged"))
        denom = float(np.sum(want * want))
        if denom > 0:
            k = float(np.sum(got * want)) / denom
            if self.compare(got, k * want, abs(k) * scale).ok:
                for factor, why in (*batch, (-1, "has the wrong sign"), (2, "is twice the expected value")):
                    if self.compare(got, factor * want, abs(factor) * scale).ok:
                        return f"{label} {why}"
                return f"{label} is {k:.3g} times the expected value"
        param = case[calls.entry(spec["wrt"][i])]
        if param.shape != got.shape:
            return ""
        lam = float(np.sum((got - want) * param)) / max(1e-300, float(np.sum(param * param)))
        if abs(lam) > 1e-12 and self.compare(got, want + lam * param, scale + abs(lam) * np.abs(param)).ok:
            return (f"{label} includes an extra {lam:.3g}·{calls.entry(spec['wrt'][i])} term (regularization?); "
                    "the loss here has none")
        return ""
