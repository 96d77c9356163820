"""The one place that imports ROOT and declares tmet's C++ into its interpreter.

Everything here happens once per process: the first caller that needs ROOT sets the
process up, later calls find it done. The event loops' graphs do not use the interpreter
(analysis.engine.compiled); the generator is an ACLiC library (``compile``).
"""

import array
import functools
import os
import tempfile
import warnings

from analysis.engine.build import BUILD_DIR, CPP_DIR, linked_libraries
from analysis.errors import TmetError

# XRootD client settings, read once per process at its first root:// access: one connection
# attempt per open and 1 s timeout granularity, so that a dead server fails in seconds and
# tmet's own retries and redirector fallback decide what happens next
XROOTD_CLIENT_DEFAULTS = {
    "XRD_CONNECTIONRETRY": "1",
    "XRD_CONNECTIONWINDOW": "10",
    "XRD_REQUESTTIMEOUT": "120",
    "XRD_STREAMTIMEOUT": "120",
    "XRD_TIMEOUTRESOLUTION": "1",
}


def configure_xrootd_client():
    """Set the XRootD client defaults in the environment, keeping values the user set; before
    the first root:// access of a process, and inherited by the Dask workers it starts."""
    for key, value in XROOTD_CLIENT_DEFAULTS.items():
        os.environ.setdefault(key, value)


@functools.cache
def import_root():
    """ROOT in batch mode, without the wheel's alpha-stage warning.

    The JIT compiles RDataFrame graphs and the kernels at -O2 unless EXTRA_CLING_ARGS says
    otherwise: cling's default (-O1) makes the event loop about twice as slow. It is read
    when ROOT starts, so it is set before the first import (Dask workers inherit it).
    """
    configure_xrootd_client()
    os.environ.setdefault("EXTRA_CLING_ARGS", "-O2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import ROOT
    ROOT.gROOT.SetBatch(True)
    return ROOT


@functools.cache
def preload():
    """ROOT with what every event loop and skim reader sets up first (the libraries the
    compiled graphs link, tree I/O, the sum-of-weights parameter class, histograms): about
    0.4 s the first time in a process. A process that forks many others (law's, before luigi
    forks its task processes) calls it once so that they and their event-loop children
    inherit it instead of each paying it. (Python's RDataFrame is not among them: the graphs
    are compiled, and its first use costs another 0.4 s.)"""
    ROOT = import_root()
    linked_libraries()
    # ROOT's file and tree I/O set themselves up at the first file written and read
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "preload.root")
        tfile = ROOT.TFile.Open(path, "RECREATE")
        value = array.array("f", [0.0])
        tree = ROOT.TTree("Events", "")
        tree.Branch("x", value, "x/F")
        tree.Fill()
        ROOT.TParameter["double"]("sumw", 1.0).Write()
        ROOT.TH1D("histogram", "", 1, 0.0, 1.0).Fill(0.5)
        tfile.Write()
        tfile.Close()
        tfile = ROOT.TFile.Open(path)
        tfile.Get("Events").GetEntries()
        tfile.Get("sumw").GetVal()
        tfile.Close()
    return ROOT


def load(*headers):
    """ROOT with ``analysis/cpp/<header>`` declared (once per process)."""
    for header in headers:
        _declare(header)
    return import_root()


@functools.cache
def _declare(header):
    path = os.path.join(CPP_DIR, header)
    if not import_root().gInterpreter.Declare(f'#include "{path}"'):
        raise TmetError(f"ROOT could not compile {path}; see the compiler messages above")


@functools.cache
def compile(source):
    """ROOT with ``analysis/cpp/<source>`` compiled by ACLiC with optimisation (once per process).

    For hot loops outside RDataFrame (the sample generator); the library is cached in
    BUILD_DIR and rebuilt only when the source changes.
    """
    ROOT = import_root()
    ROOT.gSystem.SetBuildDir(BUILD_DIR, True)
    path = os.path.join(CPP_DIR, source)
    if not ROOT.gSystem.CompileMacro(path, "kO-"):
        raise TmetError(f"ACLiC could not compile {path}; see the compiler messages above")
    return ROOT
