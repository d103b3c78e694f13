"""Arrays derived from a data set: computed once, by blocks, shared read-only; data-set providers."""
from pathlib import Path

import numpy as np
import pytest

from grader import datasets
from grader.errors import SetupError
from reference import cifar10_fcnet as ref


def test_derived_arrays_are_computed_once_by_blocks_with_the_same_bits():
    ds = datasets.for_assignment("cifar10", None)
    _, _, x_test = ds.load_public()
    calls = []

    def prep(block):
        calls.append(len(block))
        return ref.preprocess(block)

    shared = ds.derived("x_test-test", x_test, prep, rows=300)
    assert np.array_equal(shared, ref.preprocess(np.asarray(x_test)))   # standardising by rows: no change
    assert max(calls) <= 300 and sum(calls) == len(x_test) + 1            # + 1: the dtype probe
    assert not shared.flags.writeable
    with pytest.raises(ValueError):
        shared[0, 0] = 1.0
    calls.clear()
    assert np.array_equal(ds.derived("x_test-test", x_test, prep), shared) and calls == []


def test_cifar10_lives_in_its_provider_and_the_grader_only_runs_its_hook():
    """grader/ keeps the generic parts; CIFAR-10's reader, load_data() hook and tensorflow
    deferral are datasets/cifar10/'s, which the assignment names."""
    grader = Path(datasets.__file__).parent
    for name in ("datasets.py", "kernel_site/sitecustomize.py", "execute.py", "pipeline.py"):
        assert "cifar" not in (grader / name).read_text().lower(), name
    ds = datasets.for_assignment("cifar10", None)
    hook = datasets.PROVIDERS / "cifar10" / "kernel_hook.py"
    assert ds.kernel_env()["NNGRADER_KERNEL_HOOKS"] == str(hook) and hook.parent in ds.readable
    assert ds.kernel_env()["NNGRADER_CIFAR10_DIR"] == str(ds.public_dir) and ds.hidden_dir not in ds.readable
    assert datasets.for_assignment(None, None).kernel_env() == {}
    with pytest.raises(SetupError, match="no provider for the data set 'mnist'"):
        datasets.for_assignment("mnist", None)


def test_data_that_is_not_cifar10_says_why_as_a_setup_error(tmp_path):
    """A provider raises SetupError (cli prints it, exit 2), never SystemExit from inside the library."""
    with pytest.raises(SetupError, match="expected a cifar-10-batches-py folder"):
        datasets.for_assignment("cifar10", str(tmp_path))
    (tmp_path / "test_batch").write_bytes(b"")
    with pytest.raises(SetupError, match="no data_batch_N files"):
        datasets.for_assignment("cifar10", str(tmp_path))
