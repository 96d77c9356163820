"""Preload of the Dask nannies and workers that a process starts (its LocalCluster): each
dies with its parent, so that no process of a run outlives it, also when the run is killed."""

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def dask_setup(*_):
    """Die with the parent process (Dask calls it with the worker or nanny; forked children too)."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
