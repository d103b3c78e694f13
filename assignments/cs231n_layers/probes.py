"""Probes of the CS231n-style layers assignment: the training section's loop, run in the sandbox
with the student's functions by the training kind's probe (grader/kinds/probes.py: kind_training),
seed after seed. numpy only: nothing of the grader or the reference is visible here. The loop is
the release notebook's TwoLayerTraining: affine - ReLU - affine - softmax, trained with
sgd_momentum on minibatches of CIFAR-10 images, each standardised on its own."""
import numpy as np

CLASSES = 10
CHUNK = 1000   # rows per forward pass when predicting


def standardised(images):
    """Each image flattened to float64, minus its mean, over its standard deviation."""
    x = images.reshape(images.shape[0], -1).astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True)
    return x


def standardised_inputs(inputs):
    """The images of every split standardised once, for all seeds ("x", "x_<split>")."""
    return {k: standardised(v) if k == "x" or k.startswith("x_") else v for k, v in inputs.items()}


def _softmax_loss(scores, y):
    """The mean cross-entropy of softmax(scores) and its gradient (handed out in the notebook)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), dscores / n


def _forward(student, params, x):
    hidden, cache1 = student.affine_forward(x, params["W1"], params["b1"])
    active, cache_relu = student.relu_forward(hidden)
    scores, cache2 = student.affine_forward(active, params["W2"], params["b2"])
    return scores, (cache1, cache_relu, cache2)


def _backward(student, dscores, caches):
    cache1, cache_relu, cache2 = caches
    dactive, dw2, db2 = student.affine_backward(dscores, cache2)
    dhidden = student.relu_backward(dactive, cache_relu)
    _, dw1, db1 = student.affine_backward(dhidden, cache1)
    return {"W1": dw1, "b1": db1, "W2": dw2, "b2": db2}


def two_layer_run(student, inputs, seed):
    """One seed of TwoLayerTraining with the student's affine, ReLU and sgd_momentum: a function
    giving its predictions, and the loss every 10 iterations."""
    x, y = inputs["x"], inputs["y"].astype(np.int64)
    hidden, batch = int(inputs["hidden_dim"]), int(inputs["batch_size"])
    rng = np.random.RandomState(seed)
    params = {"W1": rng.randn(x.shape[1], hidden) * np.sqrt(2.0 / x.shape[1]), "b1": np.zeros(hidden),
              "W2": rng.randn(hidden, CLASSES) * np.sqrt(2.0 / hidden), "b2": np.zeros(CLASSES)}
    configs = {name: {"learning_rate": float(inputs["learning_rate"]), "momentum": float(inputs["momentum"])}
               for name in params}
    losses = []
    for iteration in range(int(inputs["num_iters"])):
        rows = rng.randint(len(x), size=batch)
        scores, caches = _forward(student, params, x[rows])
        loss, dscores = _softmax_loss(scores, y[rows])
        grads = _backward(student, dscores, caches)
        for name in params:
            params[name], configs[name] = student.sgd_momentum(params[name], grads[name], configs[name])
        if iteration % 10 == 0:
            losses.append(float(loss))

    def predict(images):
        return np.concatenate([np.argmax(_forward(student, params, images[i:i + CHUNK])[0], axis=1)
                               for i in range(0, len(images), CHUNK)])
    return predict, losses
