"""correctionlib inside RDataFrame graphs: the corrections a config uses, loaded in C++.

``setup`` is the one function that prepares a process (or a Dask worker) to run the
graph: it declares the kernels of ``cpp/tmet.h`` and loads every correction by key, so
that the kernels evaluate them in C++ without Python callbacks.
"""

import os

from analysis import root_setup
from analysis.errors import TmetError

_loaded = set()


def correction_specs(config, btag_efficiency=None):
    """key -> (file, correction name) of every correction of ``config`` the MC weights use.

    ``btag_efficiency`` is the JSON written by the BTagEfficiency task (None: no b-tag
    weight is evaluated, e.g. for data or when measuring the efficiencies themselves).
    """
    c = config.x.corrections
    specs = {
        "pileup": (c["pileup"]["file"], c["pileup"]["name"]),
        "muon_id": (c["muon_id"]["file"], c["muon_id"]["name"]),
        "muon_iso": (c["muon_iso"]["file"], c["muon_iso"]["name"]),
        "electron_id": (c["electron_id"]["file"], c["electron_id"]["name"]),
        "btag_heavy": (c["btag"]["file"], c["btag"]["heavy"]),
        "btag_light": (c["btag"]["file"], c["btag"]["light"]),
        "jes": (c["jes"]["file"], c["jes"]["name"]),
        "jer_resolution": (c["jer_resolution"]["file"], c["jer_resolution"]["name"]),
        "jer_sf": (c["jer_sf"]["file"], c["jer_sf"]["name"]),
    }
    if btag_efficiency:
        specs[btag_efficiency_key(btag_efficiency)] = (btag_efficiency, BTAG_EFFICIENCY_NAME)
    return specs


BTAG_EFFICIENCY_NAME = "btag_efficiency"


def btag_efficiency_key(path):
    """Registry key of a b-tag efficiency file: one per file, as every dataset has its own."""
    return f"btag_efficiency:{path}"


def setup(specs):
    """ROOT with the kernels declared and every correction of ``specs`` loaded (idempotent).

    Runs in the main process and, through ROOT.RDF.Distributed.initialize, on every
    Dask worker, so it takes only plain data.
    """
    import correctionlib

    ROOT = root_setup.import_root()
    if "binding" not in _loaded:
        correctionlib.register_pyroot_binding()
        _loaded.add("binding")
    ROOT = root_setup.load("tmet.h")
    for key, (path, name) in sorted(specs.items()):
        if (key, path, name) in _loaded:
            continue
        if not os.path.exists(path):
            raise TmetError(f"correction file {path} (for '{key}') does not exist; check config.x.corrections")
        try:
            ROOT.tmet.load_correction(key, path, name)
        except Exception as e:
            raise TmetError(f"cannot load correction '{name}' from {path}: {e}") from e
        _loaded.add((key, path, name))
    return ROOT
