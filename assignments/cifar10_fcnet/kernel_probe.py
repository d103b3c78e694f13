"""Run in the student's kernel right after the hyperparameter cell (the grader's own cell, not
the notebook's): the test predictions of the model the notebook has just trained with its
hyperparameters. The real test images are in the kernel's data folder without their labels;
the grader scores the predictions. numpy only; it must not change the notebook's state."""


def probe(namespace):
    import os

    import numpy as np

    model = namespace.get("model")
    if model is None or not callable(getattr(model, "forward", None)):
        return {"error": "after the hyperparameter cell there is no `model` with a forward method"}
    images = np.load(os.path.join(os.environ["NNGRADER_CIFAR10_DIR"], "x_test.npy"), mmap_mode="r")
    predictions = []
    with np.errstate(all="ignore"):
        for chunk in np.array_split(np.arange(len(images)), max(1, len(images) // 2000)):
            x = images[chunk].reshape(len(chunk), -1).astype("float")   # the notebook's preprocessing
            x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
            out = model.forward(x)
            scores = out[0] if isinstance(out, (tuple, list)) else out
            predictions.append(np.asarray(scores).argmax(axis=1))
    found = {"predictions": "".join(str(int(p)) for p in np.concatenate(predictions))}
    losses = namespace.get("loss_history")
    if isinstance(losses, list) and losses:
        step = max(1, len(losses) // 400)
        found["losses"] = [float(v) for v in losses[::step]]
    return found
