"""Extract what grading needs from a notebook's code cells, without running them.

Running the notebook top to bottom leaves the *last* definition of each name in force, so
that is the one extracted, with everything it reads as a global (imports, helper functions and
classes, simple module-level constants). Each cell is parsed on its own: a cell that does not
parse (a typo, text pasted from a PDF) is reported and skipped, and the others still count.

Nothing here evaluates student code, and every step is linear in the size of the notebook:
statements are indexed once, and constants are folded only within fixed bounds.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import gc
import math
import re
import symtable
import unicodedata
import warnings
from dataclasses import dataclass, field

import nbformat

_BUILTINS = set(dir(builtins))
MAX_CELL_CHARS = 1_000_000   # longer cells are not parsed: an AST of megabytes of code costs gigabytes
MAX_CODE_CHARS = 2_000_000   # nor code past this much in all (about 1 GB of syntax trees at worst)
MAX_BITS = 1000              # a folded number stays below 2**1000, inside float range: no setting means more
MAX_FOLD_DEPTH = 40          # nesting of a constant expression that is folded


@dataclass
class Statement:
    cell: int            # index of the cell in the notebook
    node: ast.stmt
    source: str


@dataclass
class ParseProblem:
    cell: int
    line: int | None
    message: str


@dataclass
class ModuleStatement:
    """One top-level statement of the module the probes import; loaded on its own, so that one
    that fails costs only what needs it."""
    cell: int
    source: str
    line: int                # its first line in Extraction.module_source
    binds: list[str]         # the names it binds
    needs: list[int]         # statements (indices in Extraction.statements) it reads or that complete it

    def snippet(self, width: int = 60) -> str:
        """Its first line, for messages."""
        lines = self.source.strip().splitlines() or [""]
        return lines[0] if len(lines) == 1 and len(lines[0]) <= width else lines[0][:width].rstrip() + " …"


@dataclass
class Lookalike:
    """A name that is a wanted name but for characters that only look like its letters."""
    name: str
    cell: int
    letters: list[tuple[str, str]]   # (the character written, the Latin letter it looks like)

    def describe(self) -> str:
        odd = ", ".join(f"a {_script(c)} {c} (U+{ord(c):04X} {unicodedata.name(c, '?')}) in place of {latin}"
                        for c, latin in self.letters)
        return f"cell {self.cell} defines {self.name}, which has {odd}"


@dataclass
class Extraction:
    module_source: str                                   # what the probes import as `student`
    found: dict[str, int] = field(default_factory=dict)  # wanted name -> cell it was defined in
    sources: dict[str, str] = field(default_factory=dict)  # wanted name -> its source, for reports
    problems: list[ParseProblem] = field(default_factory=list)
    spelled: dict[str, str] = field(default_factory=dict)  # wanted name -> the other spelling graded
    statements: list[ModuleStatement] = field(default_factory=list)  # module_source, statement by statement
    roots: dict[str, int] = field(default_factory=dict)  # wanted name -> the statement that binds it
    lookalikes: dict[str, Lookalike] = field(default_factory=dict)  # missing wanted name -> its look-alike

    def missing(self, names) -> list[str]:
        return [n for n in names if n not in self.found]

    def needs(self, names) -> set[int]:
        """Every statement that `names` need loaded: their own and what they read, transitively."""
        todo, seen = [self.roots[n] for n in names if n in self.roots], set()
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo.extend(self.statements[i].needs)
        return seen

    def why(self, names, target: int) -> str:
        """How `names` come to need statement `target`: "FullyConnectedNet uses helper, which uses X"
        (empty when it is one of theirs)."""
        parent: dict[int, int | None] = {}
        named = {self.roots[n]: n for n in reversed(list(names)) if n in self.roots}
        queue = list(named)
        for root in queue:
            parent[root] = None
        for i in queue:   # breadth first: the shortest chain
            for j in self.statements[i].needs:
                if j not in parent:
                    parent[j] = i
                    queue.append(j)
        if target not in parent or parent[target] is None:
            return ""
        chain = [target]
        while parent[chain[-1]] is not None:
            chain.append(parent[chain[-1]])
        words = [named[chain[-1]]] + [self._label(i) for i in reversed(chain[:-1])]
        return f"{words[0]} uses {words[1]}" + "".join(f", which uses {w}" for w in words[2:])

    def _label(self, i: int) -> str:
        st = self.statements[i]
        return st.binds[0] if st.binds else f"`{st.snippet()}`"


@dataclass
class Settings:
    """Values read from the source, and what the TA should know about the ones that could not be."""
    values: dict[str, int | float] = field(default_factory=dict)
    cell: int | None = None
    notes: list[str] = field(default_factory=list)


class Unreadable(ValueError):
    """Not a number that can be read without running code; `reason` says why when a TA should know."""

    def __init__(self, reason: str | None = None):
        super().__init__(reason or "not a numeric constant")
        self.reason = reason


# ---------------------------------------------------------------------------------------------- parsing

def cell_python(source: str) -> str:
    """The cell as plain Python, as the kernel runs it: IPython magics and shell escapes turned into
    calls. IPython tokenises the whole cell again for every piece of its syntax it rewrites (quadratic
    in a long cell); here each logical line is rewritten on its own, which gives the same text."""
    from IPython.core.inputtransformer2 import TransformerManager, make_tokens_by_line
    manager = TransformerManager()
    try:
        lines = (source if source.endswith("\n") else source + "\n").splitlines(keepends=True)
        for transform in manager.cleanup_transforms + manager.line_transforms:
            lines = transform(lines)
        python, start = [], 0
        for tokens in make_tokens_by_line(lines):   # tokenised once; grouped by logical line
            end = max((t.end[0] for t in tokens), default=start)
            if end > start:
                group = lines[start:end]
                special = any(transformer.find([tokens]) for transformer in manager.token_transformers)
                python.extend(manager.do_token_transforms(group) if special else group)
                start = end
        python.extend(manager.do_token_transforms(lines[start:]))
        return "".join(python)
    except Exception:  # noqa: BLE001 - leave it to ast.parse to report
        return source


def _parse(source: str) -> tuple[str, ast.Module]:
    """The cell's Python and its tree. Plain Python is what IPython leaves as it is: only a cell that
    does not parse goes through IPython's transformations."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SyntaxWarnings of student code are not the grader's output
        cleaned = _cleaned(source)
        try:
            return cleaned, ast.parse(cleaned)
        except SyntaxError:
            python = cell_python(source)
            if python == cleaned:
                raise
            return python, ast.parse(python)


def _cleaned(source: str) -> str:
    """What IPython does to every cell before running it, in one linear pass each: leading blank
    lines, a common indent and prompts removed, whitespace-only lines emptied (a docstring's text,
    hence its bytecode, changes with it: the code graded must be the code that ran)."""
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        lines = (source if source.endswith("\n") else source + "\n").splitlines(keepends=True)
        for transform in TransformerManager().cleanup_transforms:
            lines = transform(lines)
        return "".join(lines)
    except Exception:  # noqa: BLE001 - leave it to ast.parse to report
        return source


class _Lines:
    """A cell's lines as the parser counts them, split once, to cut statements out of."""

    def __init__(self, source: str):
        self.lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", source)
        self._encoded: dict[int, bytes] = {}

    def _bytes(self, i: int) -> bytes:   # AST columns count UTF-8 bytes
        if i not in self._encoded:
            self._encoded[i] = self.lines[i].encode()
        return self._encoded[i]

    def segment(self, node: ast.stmt) -> str:
        """The statement's text, decorators included (ast.get_source_segment splits the whole source
        again for every statement, and leaves decorators out)."""
        decorators = getattr(node, "decorator_list", None)
        first, col = (decorators[0].lineno - 1, 0) if decorators else (node.lineno - 1, node.col_offset)
        last, end_col = node.end_lineno - 1, node.end_col_offset
        if first == last:
            return self._bytes(first)[col:end_col].decode()
        return (self._bytes(first)[col:].decode() + "".join(self.lines[first + 1:last])
                + self._bytes(last)[:end_col].decode())


@contextlib.contextmanager
def _no_cycle_collection():
    """Trees hold no reference cycles, but building one of a million nodes triggers the cycle
    collector over and over, each time over everything alive: superlinear. Paused meanwhile."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_cells(nb: nbformat.NotebookNode) -> tuple[list[Statement], list[ParseProblem]]:
    with _no_cycle_collection():
        return _parse_cells(nb)


def _parse_cells(nb: nbformat.NotebookNode) -> tuple[list[Statement], list[ParseProblem]]:
    statements, problems, total = [], [], 0
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        raw = cell.get("source", "")
        if not isinstance(raw, str):
            problems.append(ParseProblem(index, None, f"its source is not text (a {type(raw).__name__})"))
            continue
        if len(raw) > MAX_CELL_CHARS:
            problems.append(ParseProblem(index, None, f"too long to read ({len(raw):,} characters)"))
            continue
        if total + len(raw) > MAX_CODE_CHARS:
            problems.append(ParseProblem(index, None, f"not read: the code cells before it and this one are over "
                                                      f"{MAX_CODE_CHARS:,} characters in all"))
            continue
        total += len(raw)
        try:
            source, tree = _parse(raw)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            problems.append(ParseProblem(index, line, f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"))
            continue
        except (RecursionError, MemoryError):   # the parser's own limit on nesting
            problems.append(ParseProblem(index, None, "too deeply nested to read"))
            continue
        lines = _Lines(source)
        for node in tree.body:
            try:
                text = lines.segment(node)
            except (IndexError, UnicodeDecodeError):   # positions that do not fit the text: rebuilt from the tree
                try:
                    text = ast.unparse(node)
                except (RecursionError, ValueError):
                    problems.append(ParseProblem(index, node.lineno, "a statement that cannot be read back"))
                    continue
            statements.append(Statement(index, node, text))
    return statements, problems


# ---------------------------------------------------------------------------------------------- names

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


def global_reads(st: Statement) -> set[str]:
    """The names a top-level statement reads from the module's globals, when it runs or when what
    it defines is called, by Python's own scope rules (symtable): a parameter, a local variable,
    a comprehension variable or an attribute is not a read of the global of that name. Decorators,
    defaults, base classes and class bodies are read at definition time; a class body's names are
    all counted, since a class body looks up names at run time, and so are `global` declarations."""
    try:
        table = symtable.symtable(st.source, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _loaded_names(st.node)   # Python would not compile it alone: every name it mentions
    reads, scopes = set(), [table]
    while scopes:
        scope = scopes.pop()
        kind = str(scope.get_type()).lower()
        for symbol in scope.get_symbols():
            if symbol.is_declared_global() or (  # `global n; n += 1` reads n, though symtable calls it a store
                    symbol.is_referenced() and (kind.endswith("module") or symbol.is_global()
                                                or (kind.endswith("class") and not symbol.is_free()))):
                reads.add(symbol.get_name())
        scopes.extend(scope.get_children())
    return reads


def _is_definition(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))


def _attribute_target(node: ast.stmt) -> str | None:
    """`FullyConnectedNet` for `FullyConnectedNet.forward = forward` (a method attached later)."""
    if isinstance(node, ast.Assign):
        for t in node.targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                return t.value.id
    return None


# Letters of other scripts that look like Latin ones (NFKC folds the rest, e.g. full-width letters)
_CONFUSABLE = str.maketrans("АВЕКМНОРСТХІЈЅҮԚԜӀаеорсухіјѕһԁԛԝүӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοινκρυχı",
                            "ABEKMHOPCTXIJSYQWIaeopcyxijshdqwylABEZHIKMNOPTYXaoivkpuxi")


def skeleton(name: str) -> str:
    """What a name looks like: two names with one skeleton cannot be told apart on screen."""
    return unicodedata.normalize("NFKC", name).translate(_CONFUSABLE)


def _script(char: str) -> str:
    return unicodedata.name(char, "unknown").split(" ")[0].title()


def _lookalike(wanted: str, written: str, cell: int) -> Lookalike:
    letters = [(c, w) for c, w in zip(written, wanted) if c != w] if len(written) == len(wanted) else \
        [(c, skeleton(c)) for c in written if not c.isascii()]
    return Lookalike(written, cell, letters)


# ---------------------------------------------------------------------------------------------- extraction

@_no_cycle_collection()
def extract(nb: nbformat.NotebookNode, wanted: list[str],
            aliases: dict[str, list[str]] | None = None) -> Extraction:
    """The last definitions of `wanted` and what they read as globals. A wanted name may be spelled
    as one of its `aliases` (`Optimiser_SGD` for `Optimizer_SGD`): the last definition of any
    spelling counts, and the module binds the wanted name to it."""
    statements, problems = parse_cells(nb)
    last: dict[str, int] = {}              # name -> index in `statements` of its last binding
    attached: dict[str, list[int]] = {}    # name -> statements that set one of its attributes
    for i, st in enumerate(statements):
        for name in _bound_names(st.node):
            last[name] = i
        target = _attribute_target(st.node)
        if target is not None:
            attached.setdefault(target, []).append(i)
    spelled = {}
    for name in wanted:
        spellings = [n for n in (name, *(aliases or {}).get(name, ())) if n in last]
        chosen_spelling = max(spellings, key=last.__getitem__, default=name)
        if chosen_spelling != name:
            spelled[name] = chosen_spelling
            last[name] = last[chosen_spelling]
    reads: dict[int, set[str]] = {}        # chosen statement -> the top-level names it reads
    completes: dict[int, list[int]] = {}   # a definition -> the statements that attach to it
    todo = [spelled.get(n, n) for n in wanted if n in last]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in last:
            continue
        seen.add(name)
        i = last[name]
        st = statements[i]
        if i not in reads:
            names = global_reads(st) - _BUILTINS
            if not _is_definition(st.node) and not _safe_assignment(st.node, names, last, statements):
                continue
            reads[i] = names
            todo.extend(names)
        for j in attached.get(name, ()):
            if j > i and j not in reads:
                reads[j] = global_reads(statements[j]) - _BUILTINS
                completes.setdefault(i, []).append(j)
                todo.extend(reads[j])
    return _module(statements, problems, wanted, aliases or {}, last, spelled, reads, completes)


def _safe_assignment(node: ast.stmt, reads: set[str], last: dict, statements: list[Statement]) -> bool:
    """A module-level constant a definition reads (`EPS = 1e-8`, `DTYPE = np.float64`): kept when
    everything it reads is itself a definition, so data and training never run."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return False
    return all(n in last and _is_definition(statements[last[n]].node) for n in reads)


def _module(statements, problems, wanted, aliases, last, spelled, reads, completes) -> Extraction:
    """The chosen statements in notebook order, each with the statements it needs."""
    order = sorted(reads)
    position = {i: k for k, i in enumerate(order)}
    parts, module, line = [], [], 1
    for i in order:
        st = statements[i]
        text = st.source.replace("\r\n", "\n").replace("\r", "\n")
        needs = {position[last[n]] for n in reads[i] if n in last and last[n] in position}
        needs.update(position[j] for j in completes.get(i, ()))
        needs.discard(position[i])
        module.append(ModuleStatement(st.cell, text, line + 1, sorted(_bound_names(st.node)), sorted(needs)))
        parts.append(f"# --- from code cell {st.cell} ---\n{text}\n")
        line += parts[-1].count("\n") + 1   # the parts are joined by a blank line
    found = {n: statements[last[n]].cell for n in wanted if n in last and last[n] in position}
    roots = {n: position[last[n]] for n in found}
    for name in found:
        if name in spelled:
            text = f"{name} = {spelled[name]}  # the grader's name for it"
            module.append(ModuleStatement(found[name], text, line, [name], [roots[name]]))
            roots[name] = len(module) - 1
            parts.append(text + "\n")
            line += 2
    sources = {n: statements[last[n]].source for n in found}
    lookalikes = _lookalikes([n for n in wanted if n not in last], aliases, last, statements)
    return Extraction("\n".join(parts), found, sources, problems, {n: s for n, s in spelled.items() if n in found},
                      module, roots, lookalikes)


def _lookalikes(missing: list[str], aliases: dict, last: dict, statements: list[Statement]) -> dict[str, Lookalike]:
    """For each missing name, a name the notebook binds that looks the same (other scripts' letters)."""
    if not missing:
        return {}
    shapes: dict[str, str] = {}
    for name in last:
        if not name.isascii():
            shapes.setdefault(skeleton(name), name)
    found = {}
    for name in missing:
        for spelling in (name, *aliases.get(name, ())):
            written = shapes.get(skeleton(spelling))
            if written is not None:
                found[name] = _lookalike(spelling, written, statements[last[written]].cell)
                break
    return found


# ---------------------------------------------------------------------------------------------- settings

@_no_cycle_collection()
def literal_assignments(nb: nbformat.NotebookNode, names: list[str], upto_cell: int) -> Settings:
    """The last literal value assigned at top level to each name in cells up to `upto_cell`."""
    statements, problems = parse_cells(nb)
    values, notes = _literals(statements, set(names), upto_cell)
    found = Settings(values, None, list(notes.values()))
    if any(n not in values for n in names):
        found.notes.extend(f"cell {p.cell} could not be read ({p.message[:120]})" for p in problems if p.cell <= upto_cell)
    return found


def _literals(statements: list[Statement], names: set[str], upto_cell: int) -> tuple[dict, dict[str, str]]:
    """One pass over the top-level assignments (`x = 1`, `x: int = 1`, `a, b = 1, 2`, `x *= 2`):
    the values of `names` after cell `upto_cell`, and why those that cannot be read cannot."""
    values: dict[str, int | float] = {}
    notes: dict[str, str] = {}
    for st in statements:
        if st.cell > upto_cell:
            break
        node = st.node
        if isinstance(node, ast.Assign):
            pairs = [p for target in node.targets for p in _pairs(target, node.value)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = _pairs(node.target, node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id in names:
            pairs = [(node.target.id, node)]
        else:
            continue
        for name, value in pairs:
            if name not in names:
                continue
            notes.pop(name, None)
            try:
                values[name] = _augmented(values, node) if isinstance(value, ast.AugAssign) else _number(value)
            except Unreadable as exc:
                values.pop(name, None)   # assigned something we cannot read statically
                if exc.reason:
                    notes[name] = _note(name, value, exc.reason)
    return values, notes


def _augmented(values: dict, node: ast.AugAssign) -> int | float:
    if node.target.id not in values or type(node.op) not in _OPS:
        raise Unreadable()
    return _binop(node.op, values[node.target.id], _number(node.value))


def _note(name: str, node: ast.AST, reason: str) -> str:
    """"hidden_dim = 9 ** 64 ** 64 is too large to read from the source", for the TA."""
    try:
        text = " ".join(ast.unparse(node).split())   # `node` is at most MAX_FOLD_DEPTH deep unless said
    except (ValueError, RecursionError):             # a literal past Python's int-to-text limit
        text = "…"
    text = text if len(text) <= 40 else text[:40] + "…"
    if reason == _TOO_DEEP:
        return f"{name} {reason}"
    return f"{text} {reason}" if isinstance(node, ast.AugAssign) else f"{name} = {text} {reason}"


@_no_cycle_collection()
def call_arguments(nb: nbformat.NotebookNode, callees: list[str], params: list[str]) -> Settings:
    """The settings of the last call to any of `callees` (`Optimizer_SGD(learning_rate=1, decay=1e-3)`)
    in the notebook's code, and its cell. Parameters it leaves out take the defaults of the callee's
    own `__init__`; a name passed as an argument takes its last literal value before that cell.
    Values that cannot be read without running the code are left out."""
    statements, _ = parse_cells(nb)
    calls = [(st, node) for st in statements for node in ast.walk(st.node)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in callees]
    if not calls:
        return Settings()
    where, call = calls[-1]
    values, order = _init_defaults(statements, call.func.id, params)
    named = {**dict(zip(order, call.args)), **{k.arg: k.value for k in call.keywords if k.arg}}
    named = {k: v for k, v in named.items() if k in params}
    known, why = _literals(statements, {v.id for v in named.values() if isinstance(v, ast.Name)}, where.cell)
    notes = []
    for name, node in named.items():
        values.pop(name, None)
        if isinstance(node, ast.Name):
            if node.id in known:
                values[name] = known[node.id]
            elif node.id in why:
                notes.append(why[node.id])
            continue
        try:
            values[name] = _number(node)
        except Unreadable as exc:
            if exc.reason:
                notes.append(_note(name, node, exc.reason))
    return Settings(values, where.cell, notes)


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
        except Unreadable:
            pass
    return {k: v for k, v in defaults.items() if k in params}, args


def _pairs(target: ast.expr, value: ast.expr):
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(target.elts) == len(value.elts):
        return [p for t, v in zip(target.elts, value.elts) for p in _pairs(t, v)]
    return []


# ---------------------------------------------------------------------------------------------- folding

_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Pow: lambda a, b: a ** b}
_TOO_LARGE = "is too large to read from the source"
_TOO_DEEP = "is too deeply nested to read from the source"


def _number(node: ast.expr, depth: int = 0) -> int | float:
    """A numeric constant expression (`1e-2`, `-3`, `2**10`, `int(1e3)`), else Unreadable. Every value,
    intermediate ones included, stays below 2**MAX_BITS, and a power is checked before it is
    computed, so folding costs microseconds whatever the expression (`(((9**64)**64)**64)**64`)."""
    if depth > MAX_FOLD_DEPTH:
        raise Unreadable(_TOO_DEEP)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(node.operand, depth + 1)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _binop(node.op, _number(node.left, depth + 1), _number(node.right, depth + 1))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("int", "float") \
            and len(node.args) == 1 and not node.keywords:
        v = _number(node.args[0], depth + 1)
        try:
            return _bounded(int(v) if node.func.id == "int" else float(v))
        except OverflowError:
            raise Unreadable(_TOO_LARGE) from None
    raise Unreadable()


def _binop(op: ast.operator, a: int | float, b: int | float) -> int | float:
    if isinstance(op, ast.Pow) and abs(a) > 1 and b > 0 and math.log2(abs(a)) * b > MAX_BITS:
        raise Unreadable(_TOO_LARGE)   # estimated before computing: 9**64**64 would take hours
    try:
        value = _OPS[type(op)](a, b)
    except ZeroDivisionError:
        raise Unreadable("divides by zero") from None
    except OverflowError:
        raise Unreadable(_TOO_LARGE) from None
    if not isinstance(value, (int, float)):   # (-8) ** 0.5 is complex
        raise Unreadable()
    return _bounded(value)


def _bounded(value: int | float) -> int | float:
    if isinstance(value, int):
        if value.bit_length() > MAX_BITS:
            raise Unreadable(_TOO_LARGE)
    elif value != value:
        raise Unreadable("is not a number")
    elif not abs(value) < 2.0 ** MAX_BITS:
        raise Unreadable(_TOO_LARGE)
    return value
