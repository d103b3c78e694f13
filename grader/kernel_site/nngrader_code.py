"""Fingerprints of code objects, the same in the student's kernel and in the grader.

The kernel (through sitecustomize's start-up tools) fingerprints the functions and methods it
holds; the grader fingerprints the extracted source with compile() alone, never running it.
Equal fingerprints mean the same bytecode, constants and names: what differs only in line
numbers, file names or comments is the same code. Standalone on purpose: it is imported at
kernel start-up, before any student code, and by the grader (grader/provenance.py).
"""
import hashlib

_CodeType = type(compile("", "", "exec"))
_sha256, _repr, _type, _sorted, _isinstance = hashlib.sha256, repr, type, sorted, isinstance
_tuple, _frozenset = tuple, frozenset


def code_fingerprint(code) -> str:
    """sha256 (first 16 hex digits) of what a code object does: bytecode, constants (code
    objects among them by their own fingerprint), names and argument counts."""
    h = _sha256()
    for part in (code.co_code, _repr(code.co_names), _repr(code.co_varnames), _repr(code.co_freevars),
                 _repr(code.co_cellvars), _repr((code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount))):
        h.update(part if _isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    for const in code.co_consts:
        h.update(_const(const).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def _const(value) -> str:
    kind = _type(value)
    if kind is _CodeType:
        return "code:" + code_fingerprint(value)
    if kind is _tuple:
        return "(" + ",".join(_const(v) for v in value) + ")"
    if kind is _frozenset:   # its order follows string hashing, which differs between processes
        return "{" + ",".join(_sorted(_const(v) for v in value)) + "}"
    return kind.__name__ + ":" + _repr(value)
