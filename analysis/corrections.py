"""correctionlib inside RDataFrame graphs: the corrections a config uses, loaded in C++.

``setup`` is the one function that prepares a process (or a Dask worker) to run the
graph: it declares the kernels of ``cpp/tmet.h`` and loads every correction by key, so
that the kernels evaluate them in C++ without Python callbacks.
"""

import functools
import os

from analysis import root_setup
from analysis.errors import TmetError

BTAG_EFFICIENCY_NAME = "btag_efficiency"


def correction_specs(config, btag_efficiency=None):
    """key -> (file, correction name) of every correction of ``config`` the graph uses.

    ``btag_efficiency`` is the JSON written by the BTagEfficiency task (None: no b-tag
    weight is evaluated, e.g. for data or when measuring the efficiencies themselves).
    """
    specs = {key: (spec["file"], spec["name"]) for key, spec in config.x.corrections.items()}
    if btag_efficiency:
        specs[btag_efficiency_key(btag_efficiency)] = (btag_efficiency, BTAG_EFFICIENCY_NAME)
    return specs


def btag_efficiency_key(path):
    """Registry key of a b-tag efficiency file: one per file, as every dataset has its own."""
    return f"btag_efficiency:{path}"


def setup(specs):
    """ROOT with the kernels declared and every correction of ``specs`` loaded (once per process).

    Runs in the main process and, through ROOT.RDF.Distributed.initialize, on every
    Dask worker, so it takes only plain data.
    """
    _register_binding()
    ROOT = root_setup.load("tmet.h")
    for key, (path, name) in sorted(specs.items()):
        _load(key, path, name)
    return ROOT


@functools.cache
def _register_binding():
    import correctionlib

    root_setup.import_root()
    correctionlib.register_pyroot_binding()


@functools.cache
def _load(key, path, name):
    if not os.path.exists(path):
        raise TmetError(f"correction file {path} (for '{key}') does not exist; check config.x.corrections")
    try:
        root_setup.import_root().tmet.load_correction(key, path, name)
    except Exception as e:
        raise TmetError(f"cannot load correction '{name}' from {path}: {e}") from e
