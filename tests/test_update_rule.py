"""The check kind update_rule on optimizer classes (cifar10_fcnet's SGD, a dict of parameters;
nnfs_sgd_momentum's Optimizer_SGD, layers): what it says beyond the assignments' known mistakes."""
import pytest

from helpers import grade_cells, with_net
from test_nnfs import grade


@pytest.mark.parametrize("sgd, says", [
    ("    for k in self.params:\n      self.params[k] = 'theta'",
     "SGD.step left params['W1'] as a str of <U5 values, not an array of real numbers (first seen with alpha=0.1"),
    ("    for k in self.params:\n      self.params[k] = np.atleast_2d(self.params[k] - self.alpha * grads[k])",
     "SGD.step changes the shape of params['b1'] (first seen with alpha=0.1"),
    ("    for k in self.params:\n      self.params[k] = self.params[k] * np.nan",
     "the parameters have non-finite values from step 1 (first seen with alpha=0.1"),
])
def test_sgd_values_that_cannot_be_judged_are_named(sgd, says):
    r = grade_cells(with_net(sgd=sgd))["sgd_step"]
    assert (r.status, r.points) == ("fail", 0) and r.message.startswith(says)


def test_an_observed_attribute_that_differs_is_noted_on_a_pass():
    """The rate decays by a counter of the student's own: right, but self.iterations stays 0."""
    r = grade(answers={
        "Optimizer_SGD.pre_update_params": ("        if self.decay:\n            self.current_learning_rate = "
                                            "self.learning_rate / (1. + self.decay * getattr(self, 'n', 0))\n"),
        "Optimizer_SGD.post_update_params": "        self.n = getattr(self, 'n', 0) + 1\n"})["optimizer"]
    assert (r.status, r.points) == ("pass", 25)
    assert r.message.endswith("(self.iterations does not hold the number of steps taken, though)")
