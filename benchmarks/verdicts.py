"""Verdicts before and after a restructuring of the checks: which statuses, points and messages
changed. Each side is either what the test suite scored (NNGRADER_RECORD_VERDICTS=file.jsonl
make test, or pytest on some files) or a grading run's OUT folder (its result.json files).

    NNGRADER_RECORD_VERDICTS=/tmp/before.jsonl .venv/bin/python -m pytest -q tests/test_checks.py
    ... change the code ...
    NNGRADER_RECORD_VERDICTS=/tmp/after.jsonl .venv/bin/python -m pytest -q tests/test_checks.py
    .venv/bin/python benchmarks/verdicts.py /tmp/before.jsonl /tmp/after.jsonl

Exit 1 when a status or points changed (or a verdict is on one side only); changed messages are
listed but do not fail: their figures may move while the verdict holds.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def load(path: Path) -> dict[tuple[str, str], list[tuple[str, float, str]]]:
    """(where, check) -> the (status, points, message) it got, in order."""
    found: dict[tuple[str, str], list] = defaultdict(list)
    if path.is_dir():
        for result in sorted(path.glob("*/result.json")):
            data = json.loads(result.read_text())
            for c in data.get("checks", []):
                found[(str(data.get("student")), c["id"])].append((c["status"], c["points"], c["message"]))
        return found
    for line in path.read_text().splitlines():
        r = json.loads(line)
        found[(r["test"], r["check"])].append((r["status"], r["points"], r["message"]))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    before, after = load(args.before), load(args.after)
    changed, messages = [], []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key, []), after.get(key, [])
        if [(s, p) for s, p, _ in b] != [(s, p) for s, p, _ in a]:
            changed.append((key, b, a))
        elif [m for *_, m in b] != [m for *_, m in a]:
            messages.append((key, b, a))
    n = sum(len(v) for v in before.values())
    print(f"{n} verdicts before, {sum(len(v) for v in after.values())} after, in {len(before)} and {len(after)} "
          f"(test or student, check) pairs")
    for title, rows in (("status or points changed", changed), ("message changed", messages)):
        print(f"\n{len(rows)} {title}")
        for (where, check), b, a in rows:
            print(f"- {where} [{check}]")
            for side, got in (("before", b), ("after", a)):
                for status, points, message in got:
                    print(f"    {side}: {status} {points:g}: {message[:300]}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
