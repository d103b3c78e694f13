#!/bin/sh
# PrairieLearn runs this (info.json's "entrypoint") as root in the image built from ./Dockerfile:
# it grades the notebook in /grade/student and writes /grade/results/results.json.
cd /nngrader && exec python -m grader prairielearn --root /grade
