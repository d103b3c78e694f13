"""Extract what grading needs from a notebook's code cells, without running them.

Running the notebook top to bottom leaves the *last* definition of each name in force, so
that is the one extracted, with everything it uses (imports, helper functions and classes,
simple module-level constants). Each cell is parsed on its own: a cell that does not parse
(a typo, text pasted from a PDF) is reported and skipped, and the others still count.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

import nbformat

_BUILTINS = set(dir(builtins))
MAX_CELL_CHARS = 1_000_000   # longer cells are not parsed: an AST of megabytes of code costs gigabytes


@dataclass
class Statement:
    cell: int            # index of the code cell in the notebook
    node: ast.stmt
    source: str


@dataclass
class ParseProblem:
    cell: int
    line: int | None
    message: str


@dataclass
class Extraction:
    module_source: str                                   # what the probes import as `student`
    found: dict[str, int] = field(default_factory=dict)  # wanted name -> cell it was defined in
    sources: dict[str, str] = field(default_factory=dict)  # wanted name -> its source, for reports
    problems: list[ParseProblem] = field(default_factory=list)
    spelled: dict[str, str] = field(default_factory=dict)  # wanted name -> the other spelling graded

    def missing(self, names) -> list[str]:
        return [n for n in names if n not in self.found]


def cell_python(source: str) -> str:
    """The cell as plain Python: IPython magics and shell escapes turned into calls."""
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - leave it to ast.parse to report
        return source


def parse_cells(nb: nbformat.NotebookNode) -> tuple[list[Statement], list[ParseProblem]]:
    statements, problems = [], []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        if len(cell.get("source", "")) > MAX_CELL_CHARS:
            problems.append(ParseProblem(index, None, f"too long to read ({len(cell['source']):,} characters)"))
            continue
        source = cell_python(cell.get("source", ""))
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            problems.append(ParseProblem(index, line, f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"))
            continue
        for node in tree.body:
            statements.append(Statement(index, node, ast.get_source_segment(source, node) or ast.unparse(node)))
    return statements, problems


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return set()


def _loaded_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _is_definition(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))


def extract(nb: nbformat.NotebookNode, wanted: list[str],
            aliases: dict[str, list[str]] | None = None) -> Extraction:
    """The last definitions of `wanted` and what they use. A wanted name may be spelled as one of
    its `aliases` (`Optimiser_SGD` for `Optimizer_SGD`): the last definition of any spelling
    counts, and the module binds the wanted name to it."""
    statements, problems = parse_cells(nb)
    last: dict[str, int] = {}   # name -> index in `statements` of its last binding
    for i, st in enumerate(statements):
        for name in _bound_names(st.node):
            last[name] = i
    spelled = {}
    for name in wanted:
        spellings = [n for n in (name, *(aliases or {}).get(name, ())) if n in last]
        chosen_spelling = max(spellings, key=last.__getitem__, default=name)
        if chosen_spelling != name:
            spelled[name] = chosen_spelling
            last[name] = last[chosen_spelling]
    chosen: set[int] = set()
    todo = [spelled.get(n, n) for n in wanted if n in last]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in last:
            continue
        seen.add(name)
        i = last[name]
        node = statements[i].node
        if not _is_definition(node) and not _safe_assignment(node, last, statements):
            continue
        chosen.add(i)
        todo.extend(_loaded_names(node) - _BUILTINS)
        # methods attached after the class: `FullyConnectedNet.forward = forward`
        for j, st in enumerate(statements):
            if j > i and _assigns_attribute_of(st.node, name):
                chosen.add(j)
                todo.extend(_loaded_names(st.node) - _BUILTINS)
    parts = []
    for i in sorted(chosen):
        st = statements[i]
        parts.append(f"# --- from code cell {st.cell} ---\n{st.source}\n")
    found = {n: statements[last[n]].cell for n in wanted if n in last and last[n] in chosen}
    parts.extend(f"{name} = {spelled[name]}  # the grader's name for it\n" for name in found if name in spelled)
    sources = {n: statements[last[n]].source for n in found}
    return Extraction("\n".join(parts), found, sources, problems, {n: s for n, s in spelled.items() if n in found})


def _assigns_attribute_of(node: ast.stmt, name: str) -> bool:
    return (isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == name
                    for t in node.targets))


def _safe_assignment(node: ast.stmt, last: dict, statements: list[Statement]) -> bool:
    """A module-level constant a definition uses (`EPS = 1e-8`, `DTYPE = np.float64`):
    kept when everything it reads is itself a definition, so data and training never run."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return False
    for name in _loaded_names(node.value) - _BUILTINS:
        if name not in last or not _is_definition(statements[last[name]].node):
            return False
    return True


def literal_assignments(nb: nbformat.NotebookNode, names: list[str], upto_cell: int) -> dict[str, object]:
    """The last literal value assigned at top level to each name in cells up to `upto_cell`."""
    statements, _ = parse_cells(nb)
    values: dict[str, object] = {}
    for st in statements:
        if st.cell > upto_cell:
            break
        node = st.node
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = _pairs(target, node.value)
                for tname, value in pairs:
                    if tname in names:
                        try:
                            values[tname] = _number(value)
                        except ValueError:
                            values.pop(tname, None)  # assigned something we cannot read statically
    return values


def call_arguments(nb: nbformat.NotebookNode, callees: list[str], params: list[str]) -> tuple[dict, int | None]:
    """The settings of the last call to any of `callees` (`Optimizer_SGD(learning_rate=1, decay=1e-3)`)
    in the notebook's code, and its cell. Parameters it leaves out take the defaults of the callee's
    own `__init__`; a name passed as an argument takes its last literal value before that cell.
    Values that cannot be read without running the code are left out."""
    statements, _ = parse_cells(nb)
    calls = [(st.cell, node) for st in statements for node in ast.walk(st.node)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in callees]
    if not calls:
        return {}, None
    cell, call = calls[-1]
    values, order = _init_defaults(statements, call.func.id, params)
    named = {**dict(zip(order, call.args)), **{k.arg: k.value for k in call.keywords if k.arg}}
    for name, node in named.items():
        if name not in params:
            continue
        if isinstance(node, ast.Name):
            known = literal_assignments(nb, [node.id], cell)
            if node.id in known:
                values[name] = known[node.id]
            else:
                values.pop(name, None)
            continue
        try:
            values[name] = _number(node)
        except ValueError:
            values.pop(name, None)
    return values, cell


def _init_defaults(statements: list[Statement], class_name: str, params: list[str]) -> tuple[dict, list[str]]:
    """Literal defaults of the last `class_name.__init__`, and its parameter order (else `params`)."""
    classes = [st.node for st in statements if isinstance(st.node, ast.ClassDef) and st.node.name == class_name]
    init = next((f for f in (classes[-1].body if classes else []) if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
    if init is None:
        return {}, params
    args = [a.arg for a in init.args.args[1:]]
    defaults = {}
    for name, node in zip(args[len(args) - len(init.args.defaults):], init.args.defaults):
        try:
            defaults[name] = _number(node)
        except ValueError:
            pass
    return {k: v for k, v in defaults.items() if k in params}, args


def _pairs(target: ast.expr, value: ast.expr):
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(target.elts) == len(value.elts):
        return [p for t, v in zip(target.elts, value.elts) for p in _pairs(t, v)]
    return []


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Pow: lambda a, b: a ** b}


def _number(node: ast.expr):
    """A numeric constant expression (`1e-2`, `-3`, `2**10`, `int(1e3)`), else ValueError."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _number(node.left), _number(node.right)
        if isinstance(node.op, ast.Pow) and abs(b) > 64:
            raise ValueError("exponent too large")
        return _OPS[type(node.op)](a, b)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("int", "float") \
            and len(node.args) == 1 and not node.keywords:
        return {"int": int, "float": float}[node.func.id](_number(node.args[0]))
    raise ValueError("not a numeric constant")
