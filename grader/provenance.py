"""Did the code and hyperparameters the grader judged run in the notebook? Flags for the TA.

The grader grades the source it extracted (grader/extract.py), never the kernel's objects.
After the last cell, the kernel reports a fingerprint of the code it holds under each name
the assignment extracts (kernel_site/sitecustomize.py); here the extracted source is compiled
(compile() only, never run) and fingerprinted the same way. Where they differ, where a name
is missing on one side, or where its definition is in a cell that never ran, a flag says so.
Right after the marked cell, the captured hyperparameters are compared with what the trained
objects show (the assignment's kernel probe, "observed"). The kernel is the student's: a flag
is a reason for a TA to look, never points, and no flag is no proof (SECURITY.md).
"""
from __future__ import annotations

import ast
import math

from .kernel_site.nngrader_code import code_fingerprint

_CodeType = type(compile("", "", "exec"))


def source_fingerprints(module_source: str, names: list[str]) -> dict[str, dict]:
    """For each of `names` defined at top level in `module_source`: a function's fingerprint,
    or a class's methods' (None for a method whose code cannot be told from the source, e.g.
    one made by a decorator or attached from an expression), as the kernel reports them."""
    try:
        tree = ast.parse(module_source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found: dict[str, dict] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # alone, as IPython compiles each statement of a cell: the bytecode of `np.maximum(...)`
            # depends on whether `import numpy as np` is in the same compilation
            try:
                functions = _codes(compile(ast.Module([node], []), "<student>", "exec", dont_inherit=True))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in functions:
            found[node.name] = {"kind": "function", "code": code_fingerprint(functions[node.name].pop(0))}
        elif isinstance(node, ast.ClassDef) and node.name in functions:
            found[node.name] = {"kind": "class", "methods": _methods(node, functions[node.name].pop(0)),
                                "decorated": bool(node.decorator_list)}
        elif isinstance(node, ast.Assign):   # `FullyConnectedNet.forward = forward`, after the class
            for target in node.targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and found.get(target.value.id, {}).get("kind") == "class":
                    attached = found.get(node.value.id) if isinstance(node.value, ast.Name) else None
                    code = attached.get("code") if attached and attached["kind"] == "function" else None
                    found[target.value.id]["methods"][target.attr] = code
    return {n: v for n, v in found.items() if n in names}


def _codes(code) -> dict[str, list]:
    """Code objects among a code object's constants, by name, in order of definition."""
    codes: dict[str, list] = {}
    for const in code.co_consts:
        if type(const) is _CodeType:
            codes.setdefault(const.co_name, []).append(const)
    return codes


def _methods(node: ast.ClassDef, body) -> dict[str, str | None]:
    codes, methods = _codes(body), {}
    for item in node.body:
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) or not codes.get(item.name):
            continue
        code = code_fingerprint(codes[item.name].pop(0))
        decorators = [ast.unparse(d) for d in item.decorator_list]
        if not decorators or decorators in (["staticmethod"], ["classmethod"]):
            methods[item.name] = code
        elif decorators == ["property"]:
            methods[f"{item.name}.fget"] = code
        elif decorators == [f"{item.name}.setter"]:
            methods[f"{item.name}.fset"] = code
        else:
            methods[item.name] = None
    return methods


def code_flags(found: dict[str, int], spelled: dict[str, str], module_source: str, kernel: dict | None,
               names: list[str], ran_cells: list[int] | None) -> tuple[list[str], str]:
    """Flags for the TA where the code graded and the code that ran differ, and a note on what
    was compared. `found`: name -> cell of the definition graded; `kernel`: what the kernel
    reported after the last cell (None when it did not get there)."""
    flags = []
    if ran_cells is not None:
        ran = set(ran_cells)
        flags += [f"{n} is graded from code cell {cell}, which never ran in the grader's kernel"
                  for n, cell in found.items() if cell not in ran]
    if kernel is None:
        return flags, "the code that ran was not compared with the code graded: the notebook did not run to its end"
    source = source_fingerprints(module_source, [spelled.get(n, n) for n in found])
    for name in names:
        own = spelled.get(name, name)
        graded, held = source.get(own), kernel.get(own)
        if not isinstance(held, dict):
            held = None
        if name not in found:
            if held is not None:
                flags.append(f"{own} exists in the kernel after the last cell, but no definition of it is in the "
                             "source (made by exec, type() or an import): it was not graded")
            continue
        if held is None:
            flags.append(f"{own} is graded from code cell {found[name]}, but the kernel did not hold it after the "
                         "last cell (the definition never ran, or was deleted)")
        elif graded is not None:
            flags += _differences(own, graded, held)
    return flags, "compared the code graded with the code the kernel held after the last cell"


def _differences(name: str, graded: dict, held: dict) -> list[str]:
    if held.get("kind") != graded["kind"]:
        return [f"{name} in the kernel is a {str(held.get('kind'))[:40]}, not the {graded['kind']} graded"]
    replaced = ("the code graded differs from what ran: {} in the kernel is not the source graded (replaced at run "
                "time by exec, setattr or an assignment, or the definition graded never ran)")
    if graded["kind"] == "function":
        return [] if held.get("code") == graded["code"] else [replaced.format(name)]
    ran = held.get("methods") if isinstance(held.get("methods"), dict) else {}
    flags = []
    for method, code in graded["methods"].items():
        if method not in ran:
            flags.append(f"{name}.{method} is in the source graded, but not in the kernel's class")
        elif code is not None and ran[method] != code:
            flags.append(replaced.format(f"{name}.{method}"))
    added = sorted(m for m in ran if m not in graded["methods"])
    if added and not graded.get("decorated"):
        flags.append(f"the kernel's {name} has method(s) the source graded does not define: "
                     f"{', '.join(str(m)[:40] for m in added[:5])} (attached at run time: exec or setattr)")
    return flags


def hyperparam_flags(values: dict, observed: object) -> list[str]:
    """Where the captured hyperparameters and what the notebook's trained objects show (the
    kernel probe's "observed": name -> [value, where]) disagree."""
    if not isinstance(observed, dict):
        return []
    flags = []
    for name, seen in observed.items():
        if name not in values or not isinstance(seen, list) or len(seen) != 2:
            continue
        value, where = seen
        mine = values[name]
        if isinstance(mine, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not (math.isfinite(value) and float(mine) == float(value)):
            flags.append(f"hyperparams.{name}: {mine!r} was captured after the marked cell, but the notebook's "
                         f"objects show {value!r} ({str(where)[:60]}); the reference was trained with {mine!r} "
                         "(a search loop that ended on other values, or a forged capture)")
    return flags
