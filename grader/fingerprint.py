"""Fingerprints of Python code that survive the usual disguises of a copy.

Each function (a method, a nested or a top-level function) is turned into a sequence of
AST node labels, in which:

* comments, docstrings, blank lines, spacing and quote style are gone (they are not in the AST);
* a function's own names (parameters, assignment and loop targets) become placeholders,
  numbered by first use inside each k-gram (`$0`, `$1`, ...), so renaming variables changes
  nothing while which value flows where still counts;
* attributes that neither the template, the reference nor numpy uses (`self.velocity`)
  become placeholders too, for the same reason;
* a string that is the name of one of them (`cache = {'z1': z1}`) is that placeholder too;
* constants, operators, library calls and the template's attributes stay as they are.

Every run of K consecutive labels is hashed. A function is fingerprinted on its own, so the
set of hashes of a class does not depend on the order of its methods. Each hash keeps the
lines it came from, for showing the shared fragments side by side. A second, canonical set
(numpy's equivalent spellings made one: `np.dot(a, b)`, `a.dot(b)`, `a @ b`) serves only to
tell which lines are the reference's answer written another way: no one's own.

Submissions here are a few hundred lines at most, so every k-gram is kept (no winnowing):
that costs little and a shared fragment of K labels is always found.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
from dataclasses import dataclass, field

import numpy as np

K = 12   # labels per k-gram: about one statement such as `z1 = x.dot(W1) + b1`
VERSION = f"ast-kgram-4-k{K}"   # part of the cache key: change it when the labels change

_KNOWN = set(dir(builtins)) | set(dir(np)) | set(dir(np.ndarray)) | {"self", "cls"}
_LOCAL = "\x00"   # marks a label that is one of the student's own names
_SKIP = (ast.Load, ast.Store, ast.Del, ast.expr_context)


@dataclass
class Gram:
    """One k-gram of a definition: its hash and the lines (1-based, in `name`'s source) it spans.
    A canonical one is of the code with numpy's equivalent spellings made one (`_Canonical`)."""
    hash: int
    name: str
    first: int
    last: int
    canonical: bool = False


@dataclass
class Fingerprint:
    """A submission's k-grams, per extracted name (the class or function that was graded)."""
    grams: list[Gram] = field(default_factory=list)

    def hashes(self) -> set[int]:
        return {g.hash for g in self.grams if not g.canonical}

    def given(self, plain: set[int], canonical: set[int]) -> set[int]:
        """The hashes that are code everyone was given or could write the same way: a k-gram of
        it (`plain`), or a k-gram whose lines all are, once numpy's spellings are made one
        (`canonical`): `np.dot(x, W1)` where the reference has `x.dot(W1)` is no one's own."""
        covered: set[tuple[str, int]] = set()
        for g in self.grams:
            if g.canonical and g.hash in canonical:
                covered.update((g.name, n) for n in range(g.first, g.last + 1))
        return {g.hash for g in self.grams if not g.canonical and (
            g.hash in plain or all((g.name, n) in covered for n in range(g.first, g.last + 1)))}


def vocabulary(sources: list[str]) -> set[str]:
    """Every identifier and attribute in some code (the release notebook's, the reference's):
    those are names a student did not invent, so they are kept as they are."""
    words = set(_KNOWN)
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):   # CPython's parser: too deeply nested
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                words.add(node.attr)
            elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                words.add(node.name)
    return words


def _locals(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names bound inside a function: its parameters and every name it stores."""
    args = fn.args
    bound = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    bound |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


# numpy functions that are also array methods: `a.sum(axis=0)` is read as `np.sum(a, axis=0)`
_METHODS = {"sum", "mean", "max", "min", "argmax", "argmin", "clip", "copy", "reshape", "transpose", "std", "var",
            "prod", "cumsum", "round", "squeeze", "ravel", "all", "any", "nonzero"}
_MATMUL = {"dot", "matmul"}


class _Canonical(ast.NodeTransformer):
    """One spelling for what numpy lets students write several ways: `np.dot(a, b)`, `a.dot(b)`,
    `np.matmul(a, b)` and `a @ b` are all `a @ b`; `a.sum(axis=0)` is `np.sum(a, axis=0)`."""

    def __init__(self, modules: set[str]):
        self.modules = modules

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f = node.func
        if not isinstance(f, ast.Attribute) or (node.keywords and f.attr in _MATMUL):
            return node
        on_module = isinstance(f.value, ast.Name) and f.value.id in self.modules
        if f.attr in _MATMUL and on_module and len(node.args) == 2:
            return ast.copy_location(ast.BinOp(node.args[0], ast.MatMult(), node.args[1]), node)
        if f.attr in _MATMUL and not on_module and len(node.args) == 1:
            return ast.copy_location(ast.BinOp(f.value, ast.MatMult(), node.args[0]), node)
        if f.attr in _METHODS and not on_module:
            return ast.copy_location(ast.Call(ast.Attribute(ast.Name("np", ast.Load()), f.attr, ast.Load()),
                                              [f.value, *node.args], node.keywords), node)
        return node


def _statements(body: list[ast.stmt]):
    """Every statement, in nested blocks too, without walking into expressions (fast)."""
    for node in body:
        yield node
        for name in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                yield from _statements(inner)


def _functions(body: list[ast.stmt]):
    return (node for node in _statements(body) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _modules(tree: ast.Module) -> set[str]:
    """Names a module is imported as (`np`), so that `np.dot` is told from `x.dot`."""
    names = {"np", "numpy"}
    for node in _statements(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _labels(fn: ast.FunctionDef | ast.AsyncFunctionDef, known: set[str]) -> list[tuple[str, int]]:
    """The function's body as (label, line) in pre-order, its own names as placeholders."""
    local = _locals(fn)
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST, line: int) -> None:
        if isinstance(node, _SKIP):
            return
        line = getattr(node, "lineno", line)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) and node is not fn:
            out.append((type(node).__name__, line))   # nested definitions are fingerprinted on their own
            return
        if isinstance(node, ast.Name):
            out.append((_LOCAL + node.id if node.id in local else node.id, line))
            return
        if isinstance(node, ast.arg):
            out.append((_LOCAL + node.arg, line))
            return
        if isinstance(node, ast.Attribute):
            out.append(("." + node.attr if node.attr in known else _LOCAL + "." + node.attr, line))
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str) and node.value in local:   # `{'z1': z1}`: renamed with z1
                out.append((_LOCAL + node.value, line))
            else:
                out.append((f"c:{node.value!r}"[:40], line))
            return
        else:
            out.append((type(node).__name__, line))
        for child in ast.iter_child_nodes(node):
            visit(child, line)

    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]   # the docstring
    out.append(("def", fn.lineno))
    visit(fn.args, fn.lineno)
    for statement in body:
        visit(statement, statement.lineno)
    return out


def _window(words: list[str]) -> list[str]:
    """A k-gram with the student's own names numbered by first use inside it: a renamed copy
    gives the same k-grams, and which value flows where still counts."""
    slots: dict[str, str] = {}
    out = []
    for w in words:
        if w[0] == _LOCAL:
            w = slots.get(w) or slots.setdefault(w, "$" + str(len(slots)))
        out.append(w)
    return out


def _hash(labels: list[str]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(labels).encode(), digest_size=8).digest(), "big") >> 1


def _function_grams(fn: ast.FunctionDef | ast.AsyncFunctionDef, known: set[str]) -> list[tuple[int, int, int]]:
    """(hash, first line, last line) of a function's k-grams, lines counted from its `def`."""
    labels = _labels(fn, known)
    words = [w for w, _ in labels]
    lines = [n - fn.lineno for _, n in labels]
    found = []
    for i in range(max(0, len(labels) - K + 1)):
        span = lines[i:i + K]
        found.append((_hash(_window(words[i:i + K])), min(span), max(span)))
    return found


def grams(name: str, source: str, known: set[str], canonical: bool = False, memo: dict | None = None) -> list[Gram]:
    """The k-grams of every function in `source` (the code graded under `name`). Code that does
    not parse gives none: it was reported where it was extracted. `memo` keeps the k-grams of a
    function's text across calls: most of a class's code is the template, the same everywhere."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):   # CPython's parser: too deeply nested
        return []
    memo = {} if memo is None else memo
    lines, modules = source.splitlines(), _modules(tree)
    found: list[Gram] = []
    for fn in _functions(tree.body):
        key = ("\n".join(lines[fn.lineno - 1:fn.end_lineno]), canonical, frozenset(modules))
        if key not in memo:
            try:
                memo[key] = _function_grams(_Canonical(modules).visit(fn) if canonical else fn, known)
            except RecursionError:   # nested thousands deep: compared without this function
                memo[key] = []
        found += [Gram(h, name, fn.lineno + first, fn.lineno + last, canonical) for h, first, last in memo[key]]
    return found


def fingerprint(sources: dict[str, str], known: set[str], memo: dict | None = None) -> Fingerprint:
    """The fingerprint of one submission: its extracted definitions, name -> source."""
    memo = {} if memo is None else memo
    return Fingerprint([g for name, source in sorted(sources.items()) for canonical in (False, True)
                        for g in grams(name, source, known, canonical, memo)])


def code_lines(source: str) -> set[int]:
    """The lines that hold code, not docstrings, comments or blank lines: those a k-gram's span
    marks when it is shown."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):   # CPython's parser: too deeply nested
        return set()
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
                  and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}
    return {node.lineno for node in ast.walk(tree)
            if isinstance(node, (ast.stmt, ast.expr)) and id(node) not in docstrings
            and not (isinstance(node, ast.Expr) and id(node.value) in docstrings)}


def module_hashes(source: str, known: set[str], canonical: bool = False) -> set[int]:
    """Every k-gram hash of a whole module or notebook's code (the release's, the reference's)."""
    return {g.hash for g in grams("", source, known, canonical)}
