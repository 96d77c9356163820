"""Which tmet this is: the commit of its checkout, and whether the tree differs from it.

A copy of tmet shipped to Dask workers (analysis.engine.worker_setup.ship_code) is no checkout: it
carries the client's revision in the file REVISION_FILE at its top.
"""

import functools
import json
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REVISION_FILE = "tmet-revision.json"


@functools.cache
def tmet_revision():
    """{"commit", "dirty"} of the checkout (or shipped copy) this module is in ("unknown"
    outside either)."""
    shipped = os.path.join(REPO, REVISION_FILE)
    if os.path.exists(shipped):
        with open(shipped) as f:
            return json.load(f)

    def git(*args):  # safe.directory: the checkout may belong to another user (a Dask worker's)
        return subprocess.run(["git", "-c", f"safe.directory={REPO}", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def source_stamp(packages):
    """((path, size, mtime) of every file of the ``packages`` of the checkout, in order): what
    tells a process's caches of their sources (the code digests, the copy shipped to Dask
    workers) that a source changed."""
    stamp = []
    for package in packages:
        for directory, dirs, names in os.walk(os.path.join(REPO, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(n for n in names if not n.endswith(".pyc")):
                info = os.stat(os.path.join(directory, name))
                stamp.append((os.path.join(directory, name), info.st_size, info.st_mtime_ns))
    return tuple(stamp)
