"""The one place that imports ROOT and declares tmet's C++ into the interpreter.

Declaring is idempotent (headers are include-guarded and remembered here), so every
graph builder calls ``load()`` and Dask workers run the same function through
``ROOT.RDF.Distributed.initialize``.
"""

import os
import warnings

from analysis.errors import TmetError

CPP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpp")
BUILD_DIR = os.environ.get(
    "TMET_BUILD_DIR", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build"),
)

_declared = set()


def import_root():
    """ROOT in batch mode, without the wheel's alpha-stage warning.

    The JIT compiles RDataFrame graphs and the kernels at -O2 unless EXTRA_CLING_ARGS says
    otherwise: cling's default (-O1) makes the event loop about twice as slow. It is read
    when ROOT starts, so it is set before the first import (Dask workers inherit it).
    """
    os.environ.setdefault("EXTRA_CLING_ARGS", "-O2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import ROOT
    ROOT.gROOT.SetBatch(True)
    return ROOT


def load(*headers):
    """ROOT with ``analysis/cpp/<header>`` declared once per process."""
    ROOT = import_root()
    for header in headers:
        if header in _declared:
            continue
        path = os.path.join(CPP_DIR, header)
        if not ROOT.gInterpreter.Declare(f'#include "{path}"'):
            raise TmetError(f"ROOT could not compile {path}; see the compiler messages above")
        _declared.add(header)
    return ROOT


def compile(source):
    """ROOT with ``analysis/cpp/<source>`` compiled by ACLiC with optimisation, once per process.

    For hot loops outside RDataFrame (the sample generator); the library is cached in
    BUILD_DIR and rebuilt only when the source changes.
    """
    ROOT = import_root()
    if source in _declared:
        return ROOT
    ROOT.gSystem.SetBuildDir(BUILD_DIR, True)
    path = os.path.join(CPP_DIR, source)
    if not ROOT.gSystem.CompileMacro(path, "kO-"):
        raise TmetError(f"ACLiC could not compile {path}; see the compiler messages above")
    _declared.add(source)
    return ROOT
