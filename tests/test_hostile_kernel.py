"""Hostile submissions, round 2, on the kernel's side: message floods the grader must not keep,
malformed messages, a notebook of 1.5 million saved outputs, a cell whose source is a number,
hyperparameters that lie or are forged, and code that differs from what ran. One batch under
bwrap, with the reference beside them; each asserts status, points, message and flags."""
from __future__ import annotations

import copy
import json

import nbformat
import pytest

from grader import cli

from conftest import REPO, quick_reference
from test_hostile import FULL, NET, checks, message, variant

pytestmark = [pytest.mark.slow]   # under bwrap where it works, else rlimits: the grader's side is the same

SEND = ("import IPython\nk = IPython.get_ipython().kernel\n"
        "send = lambda kind, content: k.session.send(k.iopub_socket, kind, content, parent=k.get_parent())\n")
BUGGY_FORWARD = ("def forward(self, x):\n    W1, b1, W2, b2 = (self.params[k] for k in ('W1', 'b1', 'W2', 'b2'))\n"
                 "    h = np.maximum(0, x.dot(W1) + b1)\n    return 2 * (h.dot(W2) + b2), (x, x.dot(W1) + b1, h)\n")
# trains with hidden_dim=10, alpha=1e-7 (far below the threshold), whatever it says afterwards
BAD_HP = "# Modify these hyperparameters\nhidden_dim = 10\nalpha = 1e-7\nbeta = 0\nbatch_size = 40\nnum_iters = 300\n"
FORGE = "globals().update(hidden_dim=200, alpha=1e-3, beta=0.9, batch_size=40, num_iters=1000)"


def saved_outputs(count: int) -> dict:
    """The (quick) reference notebook as JSON, its code cells carrying `count` tiny saved outputs in all."""
    raw = json.loads(nbformat.writes(quick_reference()))
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    for cell in code:
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}] * (count // len(code))
    return raw


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_kernel")
    subs, out = tmp / "subs", tmp / "out"
    subs.mkdir()
    reference = quick_reference()
    net_source = reference.cells[NET].source
    notebooks = {
        "reference": copy.deepcopy(reference),
        # ipywidgets-style: sixty 25 MB comm messages (1.7 GB of a worker before)
        "comm_flood": variant(cell="from ipykernel.comm import Comm\nc = Comm(target_name='jupyter.widget', "
                                   "data={'state': {}})\nfor i in range(60):\n"
                                   "    c.send(data={'state': {'big': 'x' * (25 << 20)}})"),
        "malformed_messages": variant(cell=SEND + "send('comm_open', {})\nsend('comm_msg', {'data': 1})\n"
                                            "send('display_data', {'foo': 1})\nsend('stream', {'name': 'stdout'})"),
        "lying_float": variant(hp_cell="class Lying(float):\n    def __float__(self):\n        return 1e-2\n"
                                       + BAD_HP.replace("alpha = 1e-7", "alpha = Lying(1e-7)")),
        "forged_by_json_dumps": variant(hp_cell=(
            "import json\n_dumps = json.dumps\njson.dumps = lambda obj, *a, **k: _dumps({'hidden_dim': 200, 'alpha': 1e-3, "
            "'beta': 0.9, 'batch_size': 40, 'num_iters': 1000} if 'hidden_dim' in str(obj) else obj, *a, **k)\n" + BAD_HP)),
        "forged_by_pre_run_cell": variant(hp_cell=f"get_ipython().events.register('pre_run_cell', lambda *a: {FORGE})\n"
                                                  + BAD_HP),
        "forged_by_pre_execute": variant(hp_cell=f"get_ipython().events.register('pre_execute', lambda: {FORGE})\n"
                                                 + BAD_HP),
        "exec_replaces_forward": variant(last_cell=f"exec({BUGGY_FORWARD!r} + 'FullyConnectedNet.forward = forward')"),
        # the class cell defines a buggy forward; a last cell stops at once, then defines the correct class
        "correct_class_after_system_exit": variant(last_cell="raise SystemExit('stop here')\n" + net_source),
        "class_made_by_exec": variant(),
    }
    stopped = notebooks["correct_class_after_system_exit"]
    stopped.cells[NET].source = net_source.replace("scores = h1.dot(W2) + b2", "scores = 2 * (h1.dot(W2) + b2)")
    notebooks["class_made_by_exec"].cells[NET].source = f"exec({net_source!r})"
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / f"{name}.ipynb")
    raw = json.loads(nbformat.writes(reference))
    raw["cells"].insert(2, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": 5})
    raw["cells"].insert(3, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                            "source": [1, "x"]})
    (subs / "number_as_source.ipynb").write_text(json.dumps(raw))
    (subs / "saved_outputs_1p5m.ipynb").write_text(json.dumps(saved_outputs(1_500_000), separators=(",", ":")))
    assert (subs / "saved_outputs_1p5m.ipynb").stat().st_size < 100 << 20   # within notebook_mb: it is read
    rubric = (REPO / "rubrics" / "cifar10_fcnet.toml").read_text()
    for old, new in (("cell_timeout_s = 600", "cell_timeout_s = 120"), ("kernel_memory_mb = 8192", "kernel_memory_mb = 3000"),
                     ("probe_memory_mb = 6144", "probe_memory_mb = 2000")):
        assert old in rubric, old
        rubric = rubric.replace(old, new)
    (tmp / "rubric.toml").write_text(rubric)
    assert cli.main(["grade", str(subs), "--out", str(out), "--rubric", str(tmp / "rubric.toml"),
                     "-j", "2", "--sandbox", "auto"]) == 0
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}


def flags(result: dict) -> list[str]:
    return result["provenance"]["flags"] + result["hyperparams"]["flags"]


def test_the_reference_has_no_flags_and_workers_stay_small(graded):
    assert len(graded) == 12
    r = graded["reference"]
    assert checks(r) == FULL and r["total"] == 90 and flags(r) == []
    assert r["provenance"]["note"].startswith("compared the code graded")
    workers = {s: r["timing"]["worker_peak_rss_mb"] for s, r in graded.items()}
    assert max(workers.values()) <= 1024, workers


def test_comm_flood_is_read_and_dropped(graded):
    r = graded["comm_flood"]
    assert r["execution"]["status"] == "ok" and checks(r) == FULL and r["total"] == 90
    assert "code cell 2: 61 widget (comm) message(s) of 1,572.9 MB were not kept" in r["execution"]["message"]


def test_malformed_messages_are_the_students_note_not_a_grader_error(graded):
    r = graded["malformed_messages"]
    assert r["execution"]["status"] == "ok" and checks(r) == FULL and r["total"] == 90
    said = r["execution"]["message"]
    assert "code cell 2: 2 widget (comm) message(s)" in said
    assert "a malformed 'display_data' message from the kernel was ignored" in said
    assert "a malformed 'stream' message from the kernel was ignored (no text)" in said


def test_saved_outputs_are_dropped_at_load(graded):
    r = graded["saved_outputs_1p5m"]
    assert r["execution"]["status"] == "ok" and checks(r) == FULL and r["total"] == 90
    assert r["timing"]["worker_peak_rss_mb"] <= 1024


def test_a_cell_whose_source_is_not_text_is_left_out_and_the_rest_graded(graded):
    r = graded["number_as_source"]
    assert checks(r) == FULL and r["total"] == 90
    assert r["notebook"]["note"] == ("cell 2's source is not text (a int): it was left out; cell 3's source is not "
                                     "text (a list of non-text items): it was left out")


def test_a_float_subclass_that_lies_is_not_a_plain_number(graded):
    r = graded["lying_float"]
    assert r["hyperparams"]["source"] == "kernel"
    assert r["hyperparams"]["values"]["alpha"] == "not a plain number: a Lying, a subclass of float"
    assert checks(r) == {**FULL, "hyperparams": ("fail", 0), "end_to_end": ("fail", 0)} and r["total"] == 70
    assert "not a plain number: a Lying, a subclass of float" in message(r, "hyperparams")


TRAINED = {"hidden_dim": 10, "alpha": 1e-7, "beta": 0, "batch_size": 40, "num_iters": 300}


def test_a_pre_run_cell_hook_forges_nothing(graded):
    """The grader's cells run silent: IPython runs no pre_run_cell hook before them."""
    r = graded["forged_by_pre_run_cell"]
    assert r["hyperparams"]["source"] == "kernel" and r["hyperparams"]["values"] == TRAINED
    assert checks(r) == {**FULL, "hyperparams": ("fail", 0), "end_to_end": ("fail", 0)} and r["total"] == 70
    assert r["hyperparams"]["flags"] == []


def test_a_patched_json_dumps_forges_nothing(graded):
    """The capture does not use json.dumps; the kernel's own messages do, so the forged one breaks
    them: the capture's reply is unreadable and the values come from the source."""
    r = graded["forged_by_json_dumps"]
    assert r["hyperparams"]["source"] == "source" and r["hyperparams"]["values"] == TRAINED
    assert "the kernel did not report the values after the marked cell" in r["hyperparams"]["note"]
    assert checks(r) == {**FULL, "hyperparams": ("fail", 0), "end_to_end": ("fail", 0)} and r["total"] == 70


def test_a_forged_capture_disagrees_with_the_trained_objects_and_is_flagged(graded):
    r = graded["forged_by_pre_execute"]
    assert r["hyperparams"]["values"]["hidden_dim"] == 200      # the forgery got through the capture ...
    said = "\n".join(r["hyperparams"]["flags"])                   # ... and is flagged for the TA
    for name, shown in (("hidden_dim", "10 (model.params['W1'].shape[1])"), ("alpha", "1e-07 (optimizer.alpha)"),
                        ("num_iters", "300 (i + 1")):
        assert f"hyperparams.{name}: " in said and f"the notebook's objects show {shown}" in said, said


def test_a_forward_replaced_by_exec_is_flagged(graded):
    r = graded["exec_replaces_forward"]
    assert checks(r)["forward"] == ("pass", 20)     # the source is graded ...
    assert r["provenance"]["flags"] == [             # ... and the TA told that it is not what ran
        "the code graded differs from what ran: FullyConnectedNet.forward in the kernel is not the source graded "
        "(replaced at run time by exec, setattr or an assignment, or the definition graded never ran)"]


def test_a_class_that_never_ran_is_flagged(graded):
    r = graded["correct_class_after_system_exit"]
    assert checks(r)["forward"] == ("pass", 20)
    assert any("FullyConnectedNet.forward in the kernel is not the source graded" in f for f in r["provenance"]["flags"])


def test_a_class_made_by_exec_is_flagged(graded):
    r = graded["class_made_by_exec"]
    assert checks(r)["forward"] == ("fail", 0) and message(r, "forward").startswith("FullyConnectedNet not defined")
    assert r["provenance"]["flags"] == ["FullyConnectedNet exists in the kernel after the last cell, but no "
                                        "definition of it is in the source (made by exec, type() or an import): "
                                        "it was not graded"]
