"""Kind "update_rule": an update rule run step after step on the grader's gradients, against the
reference's rule, setting by setting (a share of the points each). Either a function,
`next_w, config = rule(w, dw, config)` with the config it returns carried on (CS231n):

    [[checks]]
    id = "adam"
    kind = "update_rule"
    function = "adam"
    shape = [4, 5]
    steps = 6                       # the rubric's `steps`, when it has one, wins
    settings = [{}, {learning_rate = 0.01, beta1 = 0.8}]   # the first config; {}: None, the defaults
    gradient_scales = [1.0, 1e-3]   # optional, per setting: the gradients' size (default 1)
    nonfinite = "..."               # optional: what non-finite values most likely mean

or an optimizer class, made with a setting (keywords, else by position) and stepped by calling
its methods; the parameters are a dict it is given and updates in place, or attributes of layers:

    class = "SGD"                                   # SGD(params, alpha=..., beta=...)
    params = {W1 = [5, 4], b1 = [4]}                # the dict, and the shapes in it
    step = ["step(grads)"]                          # grads: a dict like params

    class = "Optimizer_SGD"                         # Optimizer_SGD(learning_rate=..., ...)
    layers = [{weights = [2, 4], biases = [1, 4]}, {weights = [4, 3], biases = [1, 3]}]
    gradients = {weights = "dweights", biases = "dbiases"}   # set on each layer before a step
    step = ["pre_update_params()", "update_params(layer)", "post_update_params()"]   # (layer): each

with `settings` as above (no {}), and optionally `observe = {iterations = "the number of steps
taken"}` (attributes held to the reference's: a pass notes a difference, and a known mistake in
one is named only when the student's differs too), `scale = {rate = "alpha", momentum = "beta"}`
(SGD with momentum: the reference's attributes holding them, see _scales) and `formula` (the rule
as a pass states it; default "the reference").

A rule passes a setting when it matches, step by step within rounding, the reference's or one of
the published variants the assignment accepts (`EQUIVALENTS[check id]` in its checks.py, e.g.
RMSProp with epsilon inside the square root). Otherwise the message names, in this order: an
exception; values that cannot be read or change shape; non-finite values; a dict of parameters
updated on a copy; a known mistake (`MISTAKES[check id]`: message -> a whole wrong rule, driven as
the student's is) that explains every setting, else the first wrong setting; where it differs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..check import FAIL, PASS, WARN, Verdict, by_case, first_line, probe_failed
from ..numeric import Comparison, compare, momentum_steps_scale, precision_of, summary
from . import shared
from .probes import _kind_cases, _kind_update_steps, _KindUnreadable

PROBE = "kind_update_rule"


def _shapes(spec: dict) -> dict[str, list[int]]:
    """The parameters by name ("<layer>.<attribute>" for layers) and their shapes."""
    if "class" not in spec:
        return {"w": spec["shape"]}
    if "layers" in spec:
        return {f"{i}.{attr}": shape for i, layer in enumerate(spec["layers"]) for attr, shape in layer.items()}
    return dict(spec["params"])


def _steps(ctx, spec: dict) -> int:
    return int(ctx.rubric.get("steps", spec.get("steps", 6)))


def inputs(ctx, spec: dict) -> dict:
    gen = shared.rng(ctx, spec)
    flat = shared.spec_inputs(name=spec.get("function") or spec["class"])
    if "class" in spec:   # how the probe makes and steps the optimizer (_kind_update_steps)
        flat.update(shared.spec_inputs(optimizer=json.dumps({
            "settings": list(spec["settings"][0]), "params": list(_shapes(spec)), "layers": "layers" in spec,
            "gradients": spec.get("gradients", {}), "step": spec["step"], "observe": list(spec.get("observe", {}))})))
    steps = _steps(ctx, spec)
    scales = spec.get("gradient_scales", [1.0] * len(spec["settings"]))
    for k, (setting, scale) in enumerate(zip(spec["settings"], scales)):
        flat[f"c{k}.steps"] = np.asarray(steps)
        flat.update({f"c{k}.set_{name}": np.asarray(float(v)) for name, v in setting.items()})
        for name, shape in _shapes(spec).items():
            flat[f"c{k}.p_{name}"] = gen.standard_normal(tuple(shape))
            flat.update({f"c{k}.g{t}_{name}": float(scale) * gen.standard_normal(tuple(shape)) for t in range(steps)})
    return flat


@dataclass(frozen=True)
class _Words:
    """How messages name the code under test."""
    owner: str       # the function or class
    subject: str     # what ran a step: the function, Class.method (one call a step) or the class
    values: str      # whose values a step leaves, with its verb
    differs: str     # what differs from the expected, with its verb

    @staticmethod
    def of(spec: dict) -> _Words:
        if "class" not in spec:
            name = spec["function"]
            return _Words(name, name, "next_w has", f"{name} gives a different w")
        calls = spec["step"]
        subject = f"{spec['class']}.{calls[0].partition('(')[0]}" if len(calls) == 1 else spec["class"]
        return _Words(spec["class"], subject, "the parameters have", "the parameters differ from the expected ones")


def _run(rule, optimizer: dict | None, case: dict, observe: list[str]) -> list[dict] | None:
    """What a known mistake or an accepted variant does on the case, driven as the student's code
    is; None when it cannot run on it (then it is not that rule)."""
    with np.errstate(all="ignore"):
        try:
            return _kind_update_steps(rule, optimizer, case, observe)[0]
        except (ArithmeticError, LookupError, TypeError, ValueError, _KindUnreadable):
            return None


def _scales(spec: dict, case: dict, expected: list[dict]) -> list[dict]:
    """Per step and parameter, the magnitude of the terms rounded so far: each parameter and each
    step taken; for SGD with momentum (`scale` names the reference's attributes holding the rate
    and the momentum), also the momentum's rounding, carried into every later step."""
    names = [k for k in expected[0] if k.startswith("p.")]
    start = {n: case[f"p_{n[2:]}"] for n in names}
    after = [{n: step[n] for n in names} for step in expected]
    if "scale" in spec:
        rate, momentum = spec["scale"]["rate"], spec["scale"]["momentum"]
        grads = [{n: case[f"g{t}_{n[2:]}"] for n in names} for t in range(len(expected))]
        return momentum_steps_scale(start, grads, [float(s[f"a.{rate}"]) for s in expected],
                                    float(expected[0][f"a.{momentum}"]), after)
    before, total, scales = {n: np.abs(v) for n, v in start.items()}, {n: 0.0 for n in names}, []
    for t, step in enumerate(after):
        for n in names:
            total[n] = total[n] + before[n] + np.abs(step[n] - (start[n] if t == 0 else after[t - 1][n]))
            before[n] = np.abs(step[n])
        scales.append(dict(total))
    return scales


@dataclass(eq=False)
class _Setting:
    """One setting as the student's code ran it, judged at the precision it computed in; every
    rule's steps are held to the magnitude of the reference's terms."""
    label: str
    case: dict
    steps: list[dict]          # what the probe saw after each step: "p.<name>", "a.<name>", "h.<attr>.<name>"
    expected: list[dict]       # the same, of the reference's rule
    scale: list[dict]
    precision: np.dtype
    units: float
    error: float               # of the reference's values, of their terms' magnitude (ctx.expected_error)

    @property
    def params(self) -> list[str]:
        return [n for n in self.expected[0] if n.startswith("p.")]

    def compare(self, want: list[dict], got: list[dict] | None = None) -> list[Comparison]:
        """Step by step, parameter by parameter."""
        got = self.steps if got is None else got
        return [compare(got[t][n], step[n], self.precision, self.scale[t][n], self.units, self.error * self.scale[t][n])
                for t, step in enumerate(want) for n in self.params]

    def matches(self, want: list[dict] | None) -> bool:
        return want is not None and all(c.ok for c in self.compare(want))

    def explains(self, mistake: list[dict] | None) -> bool:
        """A known mistake gives these parameters; one in an observed attribute (it differs from
        the reference's) only when the student's attribute differs too."""
        for key in (k for k in self.steps[0] if k.startswith("a.")):
            if not self.same_as_reference(key, mistake or []) and self.same_as_reference(key, self.steps):
                return False
        return self.matches(mistake)

    def same_as_reference(self, key: str, steps: list[dict]) -> bool:
        return len(steps) == len(self.expected) and all(float(s[key]) == float(e[key]) for s, e in
                                                        zip(steps, self.expected))

    def first_wrong_step(self) -> int:
        return next(i for i, c in enumerate(self.compare(self.expected)) if not c.ok) // len(self.params)


def judge(ctx, spec: dict, inputs: dict, outcome, mistakes: dict, equivalents: dict) -> Verdict:
    words = _Words.of(spec)
    if outcome.error:
        return probe_failed(f"{words.owner} could not be run", outcome)
    outs, units = by_case(outcome.outputs), shared.units(ctx)
    probe_spec, cases = _kind_cases(inputs)
    optimizer = json.loads(probe_spec["optimizer"]) if "optimizer" in probe_spec else None
    observe = list(spec.get("observe", {})) + list(spec.get("scale", {}).values())
    reference = getattr(ctx.reference, words.owner)
    raised, broken, ran, right, comparisons, details = [], [], [], [], [], {}
    for k, case in cases.items():
        o, label = outs.get(k, {}), _label(case)
        if "error" in o:
            raised.append((f"{words.subject} raised {first_line(o['error'].item())}", label))
            continue
        if "returned" in o:
            broken.append((f"{words.subject} {o['returned'].item()}", label))
            continue
        with np.errstate(all="ignore"):
            expected = _kind_update_steps(reference, optimizer, case, observe)[0]
        steps = _steps_seen(o, len(expected))
        shape = next((n for t, e in enumerate(expected) for n in e if n.startswith("p.") and
                      (n not in steps[t] or steps[t][n].shape != e[n].shape)), None)
        if shape:
            broken.append((f"{words.subject} changes the shape of {_where(spec, shape[2:])}", label))
            continue
        setting = _Setting(label, case, steps, expected, _scales(spec, case, expected),
                           precision_of(*(v for s in steps for n, v in s.items() if n.startswith("p.")),
                                        o.get("precision")), units, ctx.expected_error)
        judged = setting.compare(expected)
        for rule in equivalents.values():   # a published variant the assignment accepts
            variant = None if all(c.ok for c in judged) else _run(rule, optimizer, case, observe)
            if setting.matches(variant):
                judged = setting.compare(variant)
        ran.append(setting)
        details[label] = {"right": all(c.ok for c in judged), "max_rel_error": max(c.error for c in judged),
                          "precision": setting.precision.name}
        if all(c.ok for c in judged):
            right.append(setting)
            comparisons.extend(judged)
    wrong = [s for s in ran if s not in right]
    fraction = len(right) / len(cases)
    if raised or broken or wrong:
        problem, label = (raised or broken)[0] if raised or broken else \
            (_diagnosis(spec, words, ran, wrong[0], optimizer, observe, mistakes), wrong[0].label)
        return Verdict(FAIL, f"{problem} (first seen with {label}; {len(right)} of {len(cases)} settings right)",
                       fraction=fraction, details={"settings": details})
    note, coarse = summary(comparisons)
    return Verdict(WARN if coarse else PASS, shared.with_note(_passed(spec, words, ran), note),
                   details={"settings": details})


def _steps_seen(o: dict, count: int) -> list[dict]:
    """The probe's outputs of one case, step by step ("t<t>.<key>")."""
    steps = [{} for _ in range(count)]
    for key, value in o.items():
        t, _, rest = key.partition(".")
        if t[:1] == "t" and t[1:].isdigit() and int(t[1:]) < count:
            steps[int(t[1:])][rest] = value
    return steps


def _label(case: dict) -> str:
    settings = {k[4:]: float(v) for k, v in case.items() if k.startswith("set_")}
    return ", ".join(f"{k}={v:g}" for k, v in settings.items()) if settings else "config=None: your defaults"


def _where(spec: dict, name: str) -> str:
    if "class" not in spec:
        return "w"
    return f"layer.{name.partition('.')[2]}" if "layers" in spec else f"params[{name!r}]"


def _passed(spec: dict, words: _Words, ran: list[_Setting]) -> str:
    steps = len(ran[0].steps)
    layers = f" on {len(spec['layers'])} layers" if "layers" in spec else ""
    names = list(spec["settings"][0])   # an optimizer's settings all name the same arguments
    of = f" of {', '.join(names[:-1])} and {names[-1]}" if "class" in spec and len(names) > 1 else ""
    defaults = ", its defaults included" if {} in spec["settings"] else ""
    message = (f"{words.subject} matches {spec.get('formula', 'the reference')} over {steps} steps{layers} for "
               f"{len(ran)} settings{of}{defaults}")
    for attr, holds in spec.get("observe", {}).items():
        if not all(s.same_as_reference(f"a.{attr}", s.steps) for s in ran):
            message += f" (self.{attr} does not hold {holds}, though)"
    return message


def _diagnosis(spec, words: _Words, ran: list[_Setting], first: _Setting, optimizer, observe, mistakes: dict) -> str:
    """Why the first wrong setting is wrong: what is plainly wrong in it, else the known mistake
    that explains every setting, else its own, else where it differs."""
    bad = first.first_wrong_step()
    if not all(np.all(np.isfinite(first.steps[bad][n])) for n in first.params):
        return f"{words.values} non-finite values from step {bad + 1}" + (f": {spec['nonfinite']}" if "nonfinite" in
                                                                          spec else "")
    copied = _copy_updated(first)
    if copied:
        return (f"{words.subject} updates a new dict, not the {copied} dict passed to {words.owner}(...): the model "
                f"never sees the update; assign into self.{copied}[name] (the same dict) or update the arrays in place")
    runs = {message: [_run(rule, optimizer, s.case, observe) for s in ran] for message, rule in mistakes.items()}
    for message, mistaken in runs.items():
        if all(s.explains(m) for s, m in zip(ran, mistaken)):
            return message
    for message, mistaken in runs.items():
        if first.explains(mistaken[ran.index(first)]):
            return message
    c = next(c for c in first.compare(first.expected) if not c.ok)
    return f"{words.differs} from step {bad + 1} on (error {c.error:.2g} of the magnitude of the terms)"


def _copy_updated(setting: _Setting) -> str | None:
    """The attribute of an optimizer given a dict of parameters that holds an updated copy of it,
    while the dict it was given never changed; or None."""
    names = setting.params
    if not all(np.array_equal(s[n], setting.case[f"p_{n[2:]}"]) for s in setting.steps for n in names):
        return None
    held = {key.split(".")[1] for key in setting.steps[0] if key.startswith("h.")}
    for attr in sorted(held):
        kept = [{n: s.get(f"h.{attr}.{n[2:]}") for n in names} for s in setting.steps]
        if all(v is not None and v.shape == setting.expected[0][n].shape for s in kept for n, v in s.items()) and \
                all(c.ok for c in setting.compare(setting.expected, kept)):
            return attr
    return None
