"""The grader's own exceptions. A library module raises these, never SystemExit: the command
line (cli.py) turns them into a message and an exit code, a Dask worker or a platform's runner
into a result that names the problem."""


class SetupError(Exception):
    """What course staff gave the grader cannot be used (an unknown assignment, a rubric naming
    checks the assignment lacks, an unreadable zip, no sandbox where one is required): a problem
    of the run, never graded as a student's."""
