"""Which tmet this is: the commit of its checkout, and whether the tree differs from it."""

import functools
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.cache
def tmet_revision():
    """{"commit", "dirty"} of the checkout this module is in ("unknown" outside a git checkout)."""
    def git(*args):  # safe.directory: the checkout may belong to another user (a Dask worker's)
        return subprocess.run(["git", "-c", f"safe.directory={REPO}", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
