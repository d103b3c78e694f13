"""A generated class of CIFAR-10 two-layer-net submissions, for the similarity tests.

Each student fills the release notebook's answer blocks (forward, backward, SGD.step) and its
hyperparameter cell the way students do: their own names, np.dot or @ or .dot, one of the usual
ReLU and mask idioms, a tuple or a dict as cache, a loop of their own over the parameters,
comments or none, and now and then one of the usual mistakes. Planted among them: copies of
another student's work, disguised.

The results are built as the grader would write them, without running anything: the checks run
every student's code on the same grader inputs, so the same behaviour gives the same message
with the same figures, bit for bit, and a different behaviour different ones. Here a behaviour
is named by the mistake made (or none), and its message and figures follow from that name.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import random
import re
from dataclasses import dataclass, field, replace

import nbformat

from grader import assignment, extract

from conftest import REPO

RELEASE = REPO / "assignments" / "cifar10_fcnet" / "release.ipynb"
NET_CELL, SGD_CELL, HP_CELL = 3, 6, 15
FWD_OPEN = "############################Write your code in this block (20 points)#####################\n"
BWD_OPEN = "    #############################Write your code in this block (30 points)######################\n"
SGD_OPEN = "    ##############################Write your code in this block (20 points)######################\n"

POOLS = {
    "z": ["z1", "h_in", "a1", "hidden_in", "pre1", "s1", "lin1", "zz", "u", "hidden_pre", "z_hidden", "net1"],
    "h": ["h1", "relu1", "a_1", "hidden", "out1", "act", "h", "r", "layer1", "relu_out", "hid", "x2"],
    "dh": ["dh1", "dhidden", "dh", "da1", "grad_h1", "d_relu", "dout1", "delta_h", "dH"],
    "dz": ["dz1", "dh_pre", "dz", "delta1", "grad_z1", "d_hidden", "dZ1", "dpre", "back1"],
    "k": ["name", "k", "key", "p", "param", "n", "pname", "layer", "i", "w"],
    "v": ["v", "m", "mom", "velocity", "update", "new_m", "vel"],
    "dw": ["dW1", "grad_W1", "dw1", "gW1", "d_W1"],
}
MATMUL = ["{a}.dot({b})", "np.dot({a}, {b})", "{a} @ {b}", "np.matmul({a}, {b})"]
RELU = ["np.maximum(0, {a})", "np.maximum({a}, 0)", "{a} * ({a} > 0)", "np.where({a} > 0, {a}, 0)", "{a}.clip(min=0)"]
COLSUM = ["{a}.sum(axis=0)", "np.sum({a}, axis=0)", "np.sum({a}, 0)", "{a}.sum(0)"]
MASK = ["{d} * ({z} > 0)", "np.where({z} > 0, {d}, 0)", "{d} * ({h} > 0)", "COPYZERO"]
LOOPS = ["for {k} in self.params:", "for {k} in grads:", "for {k} in ['W1', 'b1', 'W2', 'b2']:",
         "for {k} in self.params.keys():", "for {k}, _ in self.params.items():"]
# mistakes: how common they are, and what the checks say about them (same code, same figures)
BACKWARD_MISTAKES = {"none": 0.7, "no_mask": 0.1, "mean": 0.1, "keepdims": 0.1}
SGD_MISTAKES = {"none": 0.8, "sign": 0.1, "no_momentum": 0.1}
COMMENTS = ["# forward pass", "# first layer", "# ReLU", "# output layer", "# save for backward", "# gradients",
            "# backprop through ReLU", "# update", "# momentum"]


@dataclass
class Style:
    """How one student writes the assignment."""
    names: dict
    matmul: str
    relu: str
    colsum: str
    mask: str
    loop: str
    unpack: bool            # keeps the release's `W1, b1 = self.params[...]` lines
    fused: bool             # `h = relu(x W1 + b1)` in one line, cache without z
    cache_order: int        # 0..2
    dict_cache: bool
    locals_then_assign: bool   # computes dW1 etc. first, then stores them in self.grads
    sgd_local: bool          # a local for the new momentum
    sgd_inplace: bool
    grads_first_b: bool       # the bias gradient before the weight gradient
    comments: float          # share of lines with a comment before them
    backward_mistake: str = "none"
    sgd_mistake: str = "none"
    distinctive: str = ""    # a rare mistake of this student's own (planted)
    hyperparams: dict = field(default_factory=dict)
    reorder: bool = False    # methods in another order (a disguise)
    reformat: bool = False   # spacing, quotes, blank lines and comments changed (a disguise)
    extras: dict = field(default_factory=dict)   # the smaller habits below (random_extras)


def random_extras(rng: random.Random) -> dict:
    """Habits that make two students' code differ even where they chose the same idioms."""
    return {"fwd_extra": rng.randrange(4), "scores_via": rng.random() < 0.3, "dh_first": rng.random() < 0.3,
            "w2_transposed": rng.random() < 0.2, "n_backward": rng.random() < 0.3, "sgd_form": rng.randrange(3),
            "sgd_assert": rng.random() < 0.2}


def _pick(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def random_style(rng: random.Random) -> Style:
    names = {role: rng.choice(pool) for role, pool in POOLS.items()}
    while names["h"] == names["z"] or names["dz"] == names["dh"]:
        names = {role: rng.choice(pool) for role, pool in POOLS.items()}
    return Style(names, rng.choice(MATMUL), rng.choice(RELU), rng.choice(COLSUM), rng.choice(MASK), rng.choice(LOOPS),
                 rng.random() < 0.7, rng.random() < 0.2, rng.randrange(3), rng.random() < 0.15, rng.random() < 0.3,
                 rng.random() < 0.4, rng.random() < 0.5, rng.random() < 0.3, rng.choice([0.0, 0.0, 0.2, 0.5]),
                 _pick(rng, BACKWARD_MISTAKES), _pick(rng, SGD_MISTAKES), hyperparams=random_hyperparams(rng),
                 extras=random_extras(rng))


def minimal_style(rng: random.Random) -> Style:
    """The shortest natural answer, as the reference and most textbooks write it."""
    return Style({"z": "z1", "h": "h1", "dh": "dh1", "dz": "dz1", "k": "name", "v": "v", "dw": "dW1"},
                 rng.choice(["{a}.dot({b})", "np.dot({a}, {b})"]), "np.maximum(0, {a})", "{a}.sum(axis=0)",
                 "{d} * ({z} > 0)", "for {k} in self.params:", True, False, 0, False, False, False, False, False,
                 0.0, hyperparams=random_hyperparams(rng))


def random_hyperparams(rng: random.Random) -> dict:
    return {"hidden_dim": rng.choice([100, 128, 200, 200, 256, 300, 500, 512, 1000]),
            "alpha": rng.choice([1e-3, 5e-3, 1e-2, 1e-2, 2e-2, 5e-2, 0.1]),
            "beta": rng.choice([0, 0.5, 0.9, 0.9, 0.95, 0.99]),
            "batch_size": rng.choice([20, 32, 40, 50, 64, 100, 128, 200, 256]),
            "num_iters": rng.choice([500, 1000, 1000, 1500, 2000, 3000, 5000])}


def _mm(s: Style, a: str, b: str) -> str:
    return s.matmul.format(a=a, b=b)


def _cache_items(s: Style) -> list[str]:
    n = s.names
    items = ["x", n["h"]] if s.fused else ["x", n["z"], n["h"]]
    return items[s.cache_order:] + items[:s.cache_order] if not s.fused else items[s.cache_order % 2:] + items[:s.cache_order % 2]


def forward_lines(s: Style) -> list[str]:
    n = s.names
    w1, b1, w2, b2 = ("W1", "b1", "W2", "b2") if s.unpack else \
        ("self.params['W1']", "self.params['b1']", "self.params['W2']", "self.params['b2']")
    lines = ["W1, b1 = self.params['W1'], self.params['b1']", "W2, b2 = self.params['W2'], self.params['b2']",
             "N, D = x.shape"] if s.unpack else []
    if s.fused:
        lines.append(f"{n['h']} = " + s.relu.format(a=f"({_mm(s, 'x', w1)} + {b1})"))
    else:
        lines += [f"{n['z']} = {_mm(s, 'x', w1)} + {b1}", f"{n['h']} = " + s.relu.format(a=n["z"])]
    x = s.extras
    if x.get("fwd_extra") == 1:
        lines.insert(0, "assert x.ndim == 2")
    elif x.get("fwd_extra") == 2:
        lines.insert(0, "batch = x.shape[0]")
    elif x.get("fwd_extra") == 3:
        lines.append(f"assert {n['h']}.min() >= 0")
    if x.get("scores_via"):
        lines += [f"out = {_mm(s, n['h'], w2)}", f"scores = out + {b2}"]
    else:
        lines.append(f"scores = {_mm(s, n['h'], w2)} + {b2}")
    items = _cache_items(s)
    lines.append("cache = {" + ", ".join(f"'{i}': {i}" for i in items) + "}" if s.dict_cache
                 else "cache = (" + ", ".join(items) + ")")
    return lines


def backward_lines(s: Style) -> list[str]:
    n = s.names
    items = _cache_items(s)
    if s.dict_cache:
        lines = [f"{i} = cache['{i}']" for i in items]
    else:
        lines = [", ".join(items) + " = cache"]
    w2 = "W2" if s.unpack else "self.params['W2']"
    if s.unpack:
        lines.append("W2 = self.params['W2']")
    mistake = s.backward_mistake
    scale = " / x.shape[0]" if mistake == "mean" else ""
    keep = "keepdims=True" if mistake == "keepdims" else ""
    colsum = s.colsum if not keep else "np.sum({a}, axis=0, keepdims=True)"
    extra = " + 0.3 * " + w2 if s.distinctive == "odd_regularization" else ""
    store = {}
    if s.extras.get("n_backward"):
        lines.append("N = x.shape[0]")
    w2_grad = f"{_mm(s, 'dscores.T', n['h'])}.T" if s.extras.get("w2_transposed") else _mm(s, n['h'] + '.T', 'dscores')
    store["W2"] = f"{w2_grad}{scale}{extra}"
    store["b2"] = colsum.format(a="dscores")
    lines_grads = []
    dh = _mm(s, "dscores", w2 + ".T")
    if mistake == "no_mask":
        lines_grads.append(f"{n['dz']} = {dh}")
    elif s.mask == "COPYZERO":
        lines_grads += [f"{n['dh']} = {dh}", f"{n['dz']} = {n['dh']}.copy()",
                        f"{n['dz']}[{n['h'] if s.fused else n['z']} <= 0] = 0"]
    else:
        z = n["h"] if s.fused or "{h}" in s.mask and "{z}" not in s.mask else n["z"]
        lines_grads += [f"{n['dh']} = {dh}", f"{n['dz']} = " + s.mask.format(d=n["dh"], z=z, h=n["h"])]
    store["W1"] = f"{_mm(s, 'x.T', n['dz'])}{scale}"
    store["b1"] = colsum.format(a=n["dz"])
    order2 = ["b2", "W2"] if s.grads_first_b else ["W2", "b2"]
    order1 = ["b1", "W1"] if s.grads_first_b else ["W1", "b1"]
    if s.locals_then_assign:
        local = {k: n["dw"].replace("W1", k).replace("w1", k.lower()) for k in ("W1", "b1", "W2", "b2")}
        lines += [f"{local[k]} = {store[k]}" for k in order2] + lines_grads + [f"{local[k]} = {store[k]}" for k in order1]
        lines += [f"self.grads['{k}'] = {local[k]}" for k in ("W1", "b1", "W2", "b2")]
    else:
        second = [f"self.grads['{k}'] = {store[k]}" for k in order2]
        lines += (lines_grads + second) if s.extras.get("dh_first") else (second + lines_grads)
        lines += [f"self.grads['{k}'] = {store[k]}" for k in order1]
    return lines


def sgd_lines(s: Style) -> list[str]:
    n = s.names
    if s.distinctive == "str_keys":   # the real sample's loop: KeyError '1' on the first step
        return ["for l in range(len(self.params)):",
                "    self.momentum[str(l+1)] = self.beta * self.momentum[str(l+1)] + self.alpha * grads[str(l+1)]",
                "    self.params[str(l+1)] = self.params[str(l+1)] - self.momentum[str(l+1)]"]
    k = n["k"]
    lines = ["assert set(grads) == set(self.params)"] if s.extras.get("sgd_assert") else []
    lines.append(s.loop.format(k=k))
    m, g, p = f"self.momentum[{k}]", f"grads[{k}]", f"self.params[{k}]"
    form = s.extras.get("sgd_form", 0)
    if form == 2 and s.sgd_mistake == "none" and not s.sgd_local:   # in place, two statements
        lines += [f"    {m} *= self.beta", f"    {m} += {g}", f"    {p} -= self.alpha * {m}"]
        return lines
    new_m = (f"{g} + self.beta * {m}" if form == 1 else f"self.beta * {m} + {g}") if s.sgd_mistake != "no_momentum" else g
    sign = "+" if s.sgd_mistake == "sign" else "-"
    if s.sgd_local:
        lines += [f"    {n['v']} = {new_m}", f"    {m} = {n['v']}"]
        step = n["v"]
    else:
        lines.append(f"    {m} = {new_m}")
        step = m
    lines.append(f"    {p} {sign}= self.alpha * {step}" if s.sgd_inplace else f"    {p} = {p} {sign} self.alpha * {step}")
    return lines


def _comment(rng: random.Random, s: Style, lines: list[str], indent: str) -> list[str]:
    out = []
    for line in lines:
        if rng.random() < s.comments:
            lead = re.match(r" *", line).group(0)
            out.append(indent + lead + rng.choice(COMMENTS))
        out.append(indent + line)
    return out


def reformat(source: str, rng: random.Random) -> str:
    """Another student's layout of the same code: quotes, spacing, blank lines, comments."""
    out = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and rng.random() < 0.5:
            continue
        if stripped and not stripped.startswith(("#", '"""', "def ", "class ")) and '"""' not in line:
            line = line.replace("'", '"')
            line = re.sub(r"(?<=\w) ([+*]) (?=\w)", r"\1", line) if rng.random() < 0.5 else \
                re.sub(r"(?<=[\w)\]])([+*])(?=[\w(])", r" \1 ", line)
            line = line.replace(", ", ",") if rng.random() < 0.3 else line
            if rng.random() < 0.3:
                line += "  # " + rng.choice(["ok", "checked", "see notes", "from lecture", "TODO tidy"])
        out.append(line)
        if rng.random() < 0.15:
            out.append("")
    return "\n".join(out) + "\n"


def notebook(s: Style, seed: int) -> nbformat.NotebookNode:
    """The release notebook with this student's answers in its blocks."""
    rng = random.Random(seed)
    nb = release()
    net = nb.cells[NET_CELL].source
    start, end = net.index(FWD_OPEN) + len(FWD_OPEN), net.index("    #################################End of your code")
    net = net[:start] + "\n".join(_comment(rng, s, forward_lines(s), "    ")) + "\n\n" + net[end:]
    start = net.index(BWD_OPEN) + len(BWD_OPEN)
    end = net.index("    ##################################End of your code")
    net = net[:start] + "\n".join(_comment(rng, s, backward_lines(s), "    ")) + "\n\n" + net[end:]
    sgd = nb.cells[SGD_CELL].source
    start, end = sgd.index(SGD_OPEN) + len(SGD_OPEN), sgd.index("    ###################################End of your code")
    sgd = sgd[:start] + "\n".join(_comment(rng, s, sgd_lines(s), "    ")) + "\n" + sgd[end:]
    if s.reorder:
        net, sgd = _reorder(net), _reorder(sgd)
    if s.reformat:
        net, sgd = reformat(net, rng), reformat(sgd, rng)
    nb.cells[NET_CELL].source, nb.cells[SGD_CELL].source = net, sgd
    hp = nb.cells[HP_CELL].source
    for name, value in s.hyperparams.items():
        hp = re.sub(rf"^{name} = .*$", f"{name} = {value!r}", hp, count=1, flags=re.M)
    nb.cells[HP_CELL].source = hp
    return nb


@functools.lru_cache(maxsize=1)
def _release() -> nbformat.NotebookNode:
    return nbformat.read(RELEASE, as_version=4)


def release() -> nbformat.NotebookNode:
    """A fresh copy of the release notebook (read once)."""
    return copy.deepcopy(_release())


def _reorder(cls: str) -> str:
    """The class with its methods in reverse order."""
    head, *methods = re.split(r"\n(?=  def )", cls)
    return "\n".join([head, *reversed([m.rstrip("\n") + "\n" for m in methods])])


def renamed(s: Style, rng: random.Random) -> Style:
    """The same code with every name of the student's own changed."""
    names = {}
    for role, pool in POOLS.items():
        names[role] = rng.choice([x for x in pool if x != s.names[role]] + [s.names[role] + "_"])
    while names["h"] == names["z"] or names["dz"] == names["dh"]:
        names["h"] = names["h"] + "2"
    return replace(s, names=names)


# ------------------------------------------------------------------ results, as the grader writes them


def _figure(*parts: str) -> float:
    """The figure a behaviour gives on the grader's inputs: the same behaviour, the same bits."""
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:12], 16) / 16 ** 12


def checks(s: Style, seed: int) -> tuple[list[dict], list[dict]]:
    """The checks a student's behaviour gets, and the exceptions their notebook raised."""
    def check(cid, status, message, details=None, requires=("FullyConnectedNet",)):
        return {"id": cid, "status": status, "message": message, "details": details or {},
                "requires": list(requires), "points": 0, "max_points": 20}
    out = [check("forward", "pass", "scores match the reference", {"max_rel_error": 1e-16 * (1 + seed % 7)})]
    backward = s.distinctive if s.distinctive == "odd_regularization" else s.backward_mistake
    if backward == "none":
        out.append(check("backward", "pass", "all four gradients match the reference and the numerical gradient"))
    elif backward == "keepdims":
        out.append(check("backward", "pass_with_warning", "grads['b1'] has shape (1, 12), the values are right"))
    else:
        err = _figure("backward", backward)
        out.append(check("backward", "fail", f"grads['W1'] differs from the reference: max rel error {err:.6g}",
                         {"per_parameter": {"W1": {"status": "fail", "rel_error_vs_reference": err}}}))
    errors = []
    if s.distinctive == "str_keys":
        out.append(check("sgd_step", "fail", "SGD.step raised KeyError: '1' (alpha=0.1, beta=0)",
                         {"traceback": f"File /tmp/nngrader-probe-{seed}/job/student.py ...", "configs": {}},
                         ("SGD",)))
        errors.append({"cell": 11, "ename": "KeyError", "evalue": "'1'", "traceback": "..."})
    elif s.sgd_mistake == "none":
        out.append(check("sgd_step", "pass", "matches m = beta*m + grad; theta -= alpha*m over 6 steps", requires=("SGD",)))
    else:
        err = _figure("sgd", s.sgd_mistake)
        out.append(check("sgd_step", "fail", f"SGD.step {s.sgd_mistake}: max rel error {err:.6g}", {"max_rel_error": err},
                         ("SGD",)))
    out.append(check("hyperparams", "fail", f"{s.hyperparams}: mean test accuracy {_figure(str(s.hyperparams)):.3f}",
                     {"hyperparams": s.hyperparams}, ()))
    accuracy = random.Random(seed).random() * 0.5   # the notebook's own training: each run its own
    out.append(check("end_to_end", "fail" if accuracy < 0.33 else "pass", f"test accuracy {accuracy:.3f}",
                     {"accuracy": accuracy}, ("FullyConnectedNet", "SGD")))
    return out, errors


_CIFAR = None


def result(student: str, s: Style, seed: int) -> dict:
    """A result.json as a batch writes it, from the student's generated notebook."""
    global _CIFAR
    _CIFAR = _CIFAR or assignment.load("cifar10_fcnet")
    nb = notebook(s, seed)
    ex = extract.extract(nb, _CIFAR.names, _CIFAR.aliases)
    checks_, errors = checks(s, seed)
    return {"student": student, "extraction": {"found": ex.found, "sources": ex.sources}, "checks": checks_,
            "execution": {"status": "errors" if errors else "ok", "errors": errors},
            "hyperparams": {"values": s.hyperparams, "source": "kernel"}}


@dataclass
class Class:
    results: list[dict]
    copies: set[frozenset]           # pairs that are planted copies: must be flagged
    styles: dict[str, Style]


def make_class(n_independent: int, seed: int = 0, n_minimal: int = 4, n_untouched: int = 2) -> Class:
    """Independent students, students who wrote the minimal answers, students who handed back the
    release untouched, and three planted copies: renamed and reordered; reformatted and
    recommented; one that keeps a distinctive bug (and the hyperparameters)."""
    rng = random.Random(seed)
    styles: dict[str, Style] = {}
    for i in range(n_independent):
        styles[f"s{i:03d}"] = random_style(rng)
    for i in range(n_minimal):
        styles[f"min{i}"] = minimal_style(rng)
    copies = set()
    base = styles["s000"]
    styles["copy_renamed"] = replace(renamed(base, rng), reorder=True, hyperparams=random_hyperparams(rng))
    copies.add(frozenset(("s000", "copy_renamed")))
    styles["copy_reformatted"] = replace(styles["s001"], reformat=True, hyperparams=random_hyperparams(rng))
    copies.add(frozenset(("s001", "copy_reformatted")))
    styles["s002"] = replace(styles["s002"], distinctive="str_keys")
    styles["copy_bug"] = replace(renamed(styles["s002"], rng), reformat=True)
    copies.add(frozenset(("s002", "copy_bug")))
    results = [result(student, s, i) for i, (student, s) in enumerate(styles.items())]
    for i in range(n_untouched):   # the release as it was handed out: no code of their own
        ex = extract.extract(release(), _CIFAR.names, _CIFAR.aliases)
        results.append({"student": f"untouched{i}", "extraction": {"sources": ex.sources},
                        "checks": [{"id": "forward", "status": "fail", "message": "forward returned None",
                                    "details": {}, "requires": ["FullyConnectedNet"]}],
                        "execution": {"errors": [{"ename": "TypeError", "evalue": "cannot unpack non-iterable NoneType object"}]},
                        "hyperparams": {"values": {"hidden_dim": 100, "alpha": 1e-3, "beta": 0, "batch_size": 20,
                                                   "num_iters": 100}}})
    return Class(results, copies, styles)
