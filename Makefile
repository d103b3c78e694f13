# make grade SUBMISSIONS=dir|zip [OUT=grades] [ROSTER=csv] [CANVAS_COLUMN=title|id] [FEEDBACK=1] [DATA=dir|keras] [JOBS=n] [ASSIGNMENT=id]
#            [FORCE=1] [SANDBOX=auto|bwrap|none] [SCHEDULER=tcp://host:8786]
# make test        the test suite (sets up .venv from pyproject.toml on first use)
# make bench [N=20] [AGAINST=rev]   grade N generated submissions, compare with plain nbclient (and the grader at rev)
# make screenshots the README's pictures (docs/*.png), from the Canvas example, in headless Chromium
# make gradescope ASSIGNMENT=id [DATA=dir|npz] [ZIP=autograder.zip]   the Gradescope autograder (README)
# make student-kit ASSIGNMENT=id   the zip students install to run `nngrader check` on their notebook (README)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= grades
ASSIGNMENT ?=
JOBS ?=
N ?= 20
SANDBOX ?= auto
ZIP ?= autograder.zip
# every assignment's extra of pyproject.toml (what its notebooks import): the grader's kernel runs here
EXTRAS := $(shell sed -n '/^\[project.optional-dependencies\]/,/^\[/s/^\([a-z0-9_]*\) = .*/\1/p' pyproject.toml | grep -vx test | paste -sd, -)

.PHONY: grade test bench screenshots gradescope student-kit setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,$(EXTRAS)]'
	touch $@

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-or-zip [OUT=grades] [ROSTER=csv] [FEEDBACK=1] [DATA=...] [JOBS=n]"; exit 2; }
	$(BIN)/python -m grader grade "$(SUBMISSIONS)" $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) --out "$(OUT)" $(if $(JOBS),-j $(JOBS)) \
		--sandbox $(SANDBOX) $(if $(DATA),--data "$(DATA)") $(if $(FORCE),--force) \
		$(if $(ROSTER),--roster "$(ROSTER)") $(if $(CANVAS_COLUMN),--canvas-column "$(CANVAS_COLUMN)") $(if $(FEEDBACK),--feedback) $(if $(SCHEDULER),--scheduler "$(SCHEDULER)")

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench.py --n $(N) $(if $(DATA),--data "$(DATA)") $(if $(JOBS),-j $(JOBS)) $(if $(AGAINST),--against $(AGAINST))

screenshots: setup
	$(BIN)/python docs/screenshots.py

gradescope: setup
	@test -n "$(ASSIGNMENT)" || { echo "usage: make gradescope ASSIGNMENT=id [DATA=cifar-10-batches-py folder or .npz] [ZIP=autograder.zip]"; exit 2; }
	$(BIN)/python -m grader gradescope build --assignment $(ASSIGNMENT) $(if $(DATA),--data "$(DATA)") --out "$(ZIP)"

student-kit: setup
	@test -n "$(ASSIGNMENT)" || { echo "usage: make student-kit ASSIGNMENT=id"; exit 2; }
	$(BIN)/python -m grader student-kit --assignment $(ASSIGNMENT)

clean:
	rm -rf $(VENV) grades bench-out
