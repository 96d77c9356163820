"""Preload of the Dask nannies and workers that a process starts (its LocalCluster): each
dies with its parent, so that no process of a run outlives it, also when the run is killed,
and exits without the collections of Python's finalization (analysis.runtime.fast_exit), which the
nanny, and so the end of the run, would wait for."""

import ctypes
import signal

from analysis.runtime.fast_exit import exit_without_collections

PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Be killed when the parent process ends (also tasks.isolation's children)."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def dask_setup(*_):
    """Dask calls it with the worker or nanny (forked children too)."""
    die_with_parent()
    exit_without_collections()
