"""The first thing that runs in a student process: set it up, lower its rights, then exec it.

Standalone on purpose (standard library only): it runs inside the sandbox, where nothing of
the grader is visible but this file. The grader passes one JSON document:

    python -I sandbox_launch.py CONFIG_JSON COMMAND [ARG ...]

In order: make the private folders (home, work, tmp) and copy the student's files into the
work folder; when started as root, hand its own folders (`own`) to an unprivileged uid and switch to
it (so RLIMIT_NPROC applies and nothing root-only is readable); ask to be killed when the
parent dies; set the resource limits; start a new session; exec the command. Limits are set
here, inside the sandbox's user namespace, so the process limit counts this sandbox only.
"""
import fnmatch
import json
import os
import resource
import shutil
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _copy_in(source, dest, ignore):
    """Copy the student's own files; links are copied as links, never followed."""
    for name in os.listdir(source):
        if any(fnmatch.fnmatch(name, pattern) for pattern in ignore):
            continue
        src, dst = os.path.join(source, name), os.path.join(dest, name)
        try:
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
        except OSError as exc:  # e.g. over the disk limit: start without it, say so
            print(f"[grader] not copied: {name}: {exc}", file=sys.stderr)


def _chown_tree(path, uid, gid):
    os.chown(path, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (ImportError, OSError, AttributeError):
        pass  # not Linux: the grader kills the process group instead


def main(config, argv):
    for folder in (config["home"], config["work"], config["tmp"]):
        os.makedirs(folder, exist_ok=True)
    if config.get("copy_from"):
        _copy_in(config["copy_from"], config["work"], config.get("copy_ignore", []))
    uid, gid = config.get("uid"), config.get("gid")
    if uid is not None and os.getuid() == 0:
        for folder in config.get("own") or (config["home"], config["work"]):
            _chown_tree(folder, uid, gid)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)  # drops every capability: from here on, an ordinary user
    _die_with_parent()  # after setuid, which clears it
    limits = config["limits"]
    for name, value in (("RLIMIT_AS", limits["memory"]), ("RLIMIT_FSIZE", limits["file_size"]),
                        ("RLIMIT_NPROC", limits["processes"]), ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 5))
    try:
        os.setsid()  # the command leads its own process group: an interrupt reaches its children
    except OSError:
        pass  # already a session leader
    os.chdir(config["work"])
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), sys.argv[2:])
