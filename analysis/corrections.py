"""correctionlib inside RDataFrame graphs: the corrections a config uses, bound by input name.

Each kernel of ``cpp/tmet.h`` gives its correction a fixed list of quantities
(``QUANTITIES``) and, where it varies, a ``tmet::Variation``. The config says, for every
input of every correction by the input's own name, which quantity feeds it (or the
variation, or a fixed value). ``setup`` checks that against the file's declared inputs,
names and types, and binds each correction so that it is evaluated in the file's order;
a mismatch is a ``TmetError`` naming the file, the correction and both input lists,
before any event loop. It is the one function that prepares a process (or a Dask worker)
to run the graph.
"""

import functools
import json
import os

from analysis import root_setup
from analysis.errors import TmetError
from analysis.inputs import file_digest

BTAG_EFFICIENCY_NAME = "btag_efficiency"
VARIATION = "variation"
JET_ID_QUANTITIES = ("eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity",
                     "multiplicity")
# key -> the quantities its kernel passes, in that order; every one is a number (real; an
# int input takes it rounded down)
QUANTITIES = {
    "pileup": ("n_true_interactions",),
    "muon_id": ("abseta", "pt", "eta"),
    "muon_iso": ("abseta", "pt", "eta"),
    "electron_id": ("eta", "pt", "abseta"),
    "btag_heavy": ("flavour", "abseta", "pt", "eta"),
    "btag_light": ("flavour", "abseta", "pt", "eta"),
    "jes": ("eta", "pt"),
    "jer_resolution": ("eta", "pt", "rho"),
    "jer_sf": ("eta", "pt"),
    "btag_efficiency": ("flavour", "pt", "abseta"),
    "jet_id_tight": JET_ID_QUANTITIES,
    "jet_id_tight_lepton_veto": JET_ID_QUANTITIES,
}
# the corrections the skim uses (the jet ID of NanoAODv13 and later); the graph uses the others
JET_ID_KEYS = ("jet_id_tight", "jet_id_tight_lepton_veto")
# what a kernel passes as ``tmet::Variation``: NOMINAL, UP, DOWN
VARIATION_ORDER = ("nominal", "up", "down")


def correction_specs(config, btag_efficiency=None, keys=None):
    """key -> spec (file, name, inputs, fixed, variations) of the corrections ``keys``
    (default: every one the analysis graph uses, i.e. all but the jet ID's).

    ``btag_efficiency`` is the JSON written by the BTagEfficiency task (None: no b-tag
    weight is evaluated, e.g. for data or when measuring the efficiencies themselves).
    """
    specs = {key: spec for key, spec in config.x.corrections.items()
             if (key in keys if keys is not None else key not in JET_ID_KEYS)}
    if btag_efficiency:
        specs[btag_efficiency_key(btag_efficiency)] = {
            "file": btag_efficiency, "name": BTAG_EFFICIENCY_NAME, "kernel": "btag_efficiency",
            "inputs": {"flavor": "flavour", "pt": "pt", "abseta": "abseta"},
        }
    return specs


def used_corrections(config, keys=None):
    """The correction specs of ``keys`` (as correction_specs) with the digest of each file's
    content: what a step's results depend on."""
    return {key: {**spec, "content": file_digest(spec["file"])}
            for key, spec in correction_specs(config, keys=keys).items()}


def btag_efficiency_key(path):
    """Registry key of a b-tag efficiency file: one per file, as every dataset has its own."""
    return f"btag_efficiency:{path}"


def setup(specs, kernels):
    """ROOT with the C++ of ``kernels`` (header names of analysis/cpp) declared and every
    correction of ``specs`` checked and bound (each once per process). Runs in the main
    process and, through ROOT.RDF.Distributed.initialize, on every Dask worker, so it takes
    only plain data."""
    _register_binding()
    ROOT = root_setup.load("corrections.h", *kernels)
    for key, spec in sorted(specs.items()):
        _bind(ROOT, key, json.dumps(spec, sort_keys=True))
    return ROOT


@functools.cache
def _register_binding():
    import correctionlib

    root_setup.import_root()
    correctionlib.register_pyroot_binding()


def input_sources(key, spec, declared):
    """Per input the file declares ([(name, type)], in its order): the index of the kernel
    quantity that feeds it, FIXED or VARIATION; with the fixed values (text) and the
    variation strings. Raises a TmetError where the config and the file disagree."""
    where = f"correction '{spec['name']}' in {spec['file']} (for '{key}')"
    inputs, fixed = dict(spec.get("inputs", {})), dict(spec.get("fixed", {}))
    quantities = QUANTITIES[spec.get("kernel", key)]
    expected = sorted(list(inputs) + list(fixed))
    found = [name for name, _ in declared]
    if sorted(found) != expected:
        raise TmetError(f"{where}: the config expects inputs {expected}, the file declares {found} "
                        f"(config.campaigns, or the datasets YAML's settings)")
    sources, values = [], []
    for name, kind in declared:
        if name in fixed:
            value = fixed[name]
            if (kind == "string") != isinstance(value, str):
                raise TmetError(f"{where}: fixed input '{name}' is {kind} in the file, the config gives {value!r}")
            sources.append(-1)
            values.append(str(value))
            continue
        quantity = inputs[name]
        if quantity == VARIATION:
            if kind != "string":
                raise TmetError(f"{where}: input '{name}' carries the variation, but the file declares it {kind}")
            sources.append(-2)
        elif quantity not in quantities:
            raise TmetError(f"{where}: input '{name}' is fed by '{quantity}', which is not among the kernel's "
                            f"quantities {list(quantities)}")
        elif kind == "string":
            raise TmetError(f"{where}: input '{name}' is a string in the file, but '{quantity}' is a number")
        else:
            sources.append(quantities.index(quantity))
        values.append("")
    variations = list(spec.get("variations", []))
    if VARIATION in inputs.values() and len(variations) != len(VARIATION_ORDER):
        raise TmetError(f"{where}: give its nominal, up and down strings as 'variations'")
    return sources, values, variations


def _bind(ROOT, key, spec_text):
    """Bind ``key`` to its spec unless it is bound to it already (the registry is the process's,
    so a Dask worker that runs graphs of several configs rebinds a key when its spec changes)."""
    if str(ROOT.tmet.bound_spec(key)) == spec_text:
        return
    spec = json.loads(spec_text)
    path, name = spec["file"], spec["name"]
    if not os.path.exists(path):
        raise TmetError(f"correction file {path} (for '{key}') does not exist; check config.x.corrections")
    try:
        declared = [tuple(str(entry).split(" ")) for entry in ROOT.tmet.correction_inputs(path, name)]
    except Exception as e:
        raise TmetError(f"cannot load correction '{name}' from {path} (for '{key}'): {e}") from e
    sources, values, variations = input_sources(key, spec, declared)
    vector = ROOT.std.vector
    ROOT.tmet.bind_correction(key, path, name, vector["int"](sources), vector["std::string"](values),
                              vector["std::string"](variations), spec_text)
