"""Render the pictures the README opens with: the dashboard and one student's report, as the
grader writes them for the Canvas example (examples/canvas).

    make screenshots          # grades the example into a temporary folder, then headless Chromium

Needs chromium (Debian: apt-get install chromium).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHOTS = {"dashboard.png": ("index.html#sort=total-desc", "1280,1000"), "report.png": ("102/report.html", "1280,1400")}


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium is not installed (Debian/Ubuntu: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nngrader-shots-") as tmp:
        out = Path(tmp) / "out"
        subprocess.run([sys.executable, "-m", "grader", "grade", str(REPO / "examples" / "canvas" / "submissions.zip"),
                        "--roster", str(REPO / "examples" / "canvas" / "gradebook.csv"), "--out", str(out)],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        for name, (page, size) in SHOTS.items():
            path, _, fragment = page.partition("#")
            url = (out / path).as_uri() + (f"#{fragment}" if fragment else "")
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                            f"--user-data-dir={Path(tmp) / 'profile'}", f"--window-size={size}",
                            f"--screenshot={HERE / name}", url], check=True, capture_output=True, timeout=120)
            print(f"{HERE / name}: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
