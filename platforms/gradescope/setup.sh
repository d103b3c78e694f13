#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 base),
# from the unpacked zip (/autograder/source). Everything the grading needs is in the zip: the
# grader, the assignment, its reference and rubric, the data set. Only the Python packages come
# from the network (pip), as Gradescope allows.
#
# Python and its packages go to /opt/nngrader/venv, outside /autograder/source: student code runs
# as an unprivileged uid that must read the interpreter and packages, and must not read the source.
set -euo pipefail
SOURCE="$(cd "$(dirname "$0")" && pwd)"
VENV="${NNGRADER_VENV:-/opt/nngrader/venv}"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: used where the container lets it create namespaces; else the grader falls back to
# resource limits and the unprivileged uid (SECURITY.md, "Gradescope and PrairieLearn")
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap

python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -r "$SOURCE/requirements.txt"
chmod -R go+rX "$(dirname "$VENV")"
# a first import now, so that a broken install fails the image build, not a student's run
cd "$SOURCE" && "$VENV/bin/python" -c "import grader.pipeline, tensorflow"
