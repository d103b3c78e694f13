"""The kernel's start-up hook: load_data() served from the grader's data set, and tensorflow
deferred until a notebook uses more of it than load_data()."""
import json
import os
import subprocess
import sys

import pytest

from grader import datasets
from grader.execute import KERNEL_SITE

REPORT = "import json, sys; print(json.dumps({'real': 'tensorflow.python' in sys.modules, 'shape': list(x.shape)}))"


def run(code: str, **env) -> dict:
    ds = datasets.for_assignment("cifar10", None)
    out = subprocess.run([sys.executable, "-c", code + "\n" + REPORT], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(KERNEL_SITE), **ds.kernel_env(), **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_release_cell_gets_its_data_without_running_tensorflow():
    ds = datasets.for_assignment("cifar10", None)
    held_out = int(ds.kernel_env()["NNGRADER_CIFAR10_HELD_OUT"])
    found = run("import tensorflow as tf\n(x, y), (xt, yt) = tf.keras.datasets.cifar10.load_data()\n"
                "assert repr(tf).startswith(\"<module 'tensorflow' from \")\n"
                # matplotlib asks tf.is_tensor of everything it plots: that must not run tensorflow
                "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                "plt.plot(y[:50].ravel())\nplt.savefig(__import__('io').BytesIO())")
    assert found == {"real": False, "shape": [ds.n_train - held_out, 32, 32, 3]}
    # the switch that turns it off gives the real import, with the same data
    assert run("import tensorflow as tf\n(x, y), _ = tf.keras.datasets.cifar10.load_data()",
               NNGRADER_DEFER_TENSORFLOW="0") == {**found, "real": True}


@pytest.mark.parametrize("code", [
    # anything else of tensorflow runs it, in the same module object, and load_data stays served
    "import tensorflow as tf\nk = tf.keras\nassert float(tf.constant(2.0) * 3) == 6.0\n"
    "assert tf.__version__ and k.layers.Dense\n(x, y), _ = k.datasets.cifar10.load_data()",
    # a submodule import runs it first, and a submodule it had imported is not run twice
    "import tensorflow as tf\nimport tensorflow.compat.v1 as v1\n"
    "assert v1 is tf.compat.v1 and sys.modules['tensorflow.compat.v1'] is v1 and type(tf).__name__ == 'module'\n"
    "(x, y), _ = tf.keras.datasets.cifar10.load_data()",
    "from tensorflow.keras.datasets import cifar10\n(x, y), _ = cifar10.load_data()",
    # is_tensor taken while deferred answers for the real tensorflow once it has run
    "import tensorflow as tf\nis_tensor = tf.is_tensor\n(x, y), _ = tf.keras.datasets.cifar10.load_data()\n"
    "assert not is_tensor(x) and is_tensor(tf.constant(1.0))",
], ids=["attribute", "submodule", "from-import", "is_tensor"])
def test_a_notebook_that_uses_tensorflow_gets_the_real_one(code):
    assert run("import sys\n" + code)["real"] is True
