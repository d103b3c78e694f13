"""Kind "notebook_model": the model the notebook itself trained, as its kernel left it, scored on
the data set's hidden test labels against the rubric's threshold. Nothing runs in the sandbox for
it: the assignment's kernel probe (assignment.toml [hyperparameters] `kernel_probe`), run in the
notebook's kernel after its training cell, sends back the model's predictions on the test images,
one digit per image ("predictions"), its losses ("losses"), or why it could not ("error"). The
labels never leave the grader.

    [[checks]]
    id = "end_to_end"
    kind = "notebook_model"
    label = "the model your notebook trained with your hyperparameters"   # what the message scores
    cell = "its hyperparameter cell"   # the cell the kernel probe runs after, in a student's words
    # rubric: threshold = 0.40, or a table by data set name
"""
from __future__ import annotations

import numpy as np

from ..check import FAIL, PASS, Verdict
from . import training

PROBE = None


def inputs(ctx, spec: dict) -> None:
    """Nothing goes into the sandbox: the kernel probe has already run."""
    return None


def judge(ctx, spec: dict, inputs: None, outcome, mistakes: dict) -> Verdict:
    found = ctx.kernel
    if found is None:
        return Verdict(FAIL, f"not run: the notebook did not get through {spec.get('cell', 'its training cell')}")
    if "error" in found:   # the reply may be forged (SECURITY.md): any value gets a message, never an exception
        said = str(found["error"]).strip().splitlines() or ["no reason given"]
        return Verdict(FAIL, f"your notebook's model could not be scored: {said[-1]}",
                       details={"traceback": str(found["error"])})
    y_test = ctx.dataset.load_test_labels().astype(np.int64)
    text = str(found.get("predictions", ""))
    if len(text) != len(y_test) or not text.isdigit():
        return Verdict(FAIL, f"your model's predictions could not be read ({len(text)} for {len(y_test)} test images)")
    accuracy = float(np.mean(np.frombuffer(text.encode(), np.uint8) - ord("0") == y_test))
    threshold = training.threshold(ctx, ctx.rubric["threshold"])
    losses = found.get("losses")
    losses = [float(v) for v in losses[:10_000] if type(v) is float and np.isfinite(v)] if type(losses) is list else []
    return Verdict(PASS if accuracy >= threshold else FAIL,
                   f"{spec.get('label', 'the model your notebook trained')} reaches test accuracy {accuracy:.3f} "
                   f"(threshold {threshold:.2f}, {ctx.dataset.name})", details={"accuracy": accuracy, "losses": losses})
