"""correctionlib inside the event loops: the corrections a config uses, bound by input name.

Each kernel of ``cpp/tmet.h`` gives the correction of its role (``KEYS``, ``tmet::Key``) a
fixed list of quantities (``QUANTITIES``) and, where it varies, a ``tmet::Variation``. The
config says, for every input of every correction by the input's own name, which quantity
feeds it (or the variation, or a fixed value). ``bindings`` checks that against the file's
declared inputs, names and types, so that each correction is evaluated in the file's order;
a mismatch is a ``TmetError`` naming the file, the correction and both input lists, before
any event loop. ``setup`` binds them for the graphs ROOT jits; a compiled graph's library
binds the same Bindings for its own runs.
"""

import functools
import json
import os
from dataclasses import dataclass

from analysis.engine import root_setup
from analysis.errors import TmetError
from analysis.engine.inputs import file_digest

BTAG_EFFICIENCY_NAME = "btag_efficiency"
VARIATION = "variation"
JET_ID_QUANTITIES = ("eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity",
                     "multiplicity")
# role -> the quantities its kernel passes, in that order; every one is a number (real; an
# int input takes it rounded down). The roles, in this order, are tmet::Key of cpp/corrections.h
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
KEYS = tuple(QUANTITIES)
# what feeds an input other than a quantity: BoundCorrection::FIXED and ::VARIATION
FIXED, VARIATION_SOURCE = -1, -2
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
        specs[BTAG_EFFICIENCY_NAME] = {
            "file": btag_efficiency, "name": BTAG_EFFICIENCY_NAME,
            "inputs": {"flavor": "flavour", "pt": "pt", "abseta": "abseta"},
        }
    return specs


def used_corrections(config, keys=None):
    """The correction specs of ``keys`` (as correction_specs) with the digest of each file's
    content: what a step's results depend on."""
    return {key: {**spec, "content": file_digest(spec["file"])}
            for key, spec in correction_specs(config, keys=keys).items()}


@dataclass(frozen=True)
class Binding:
    """One correction checked against its file and ready to bind to its role: the role's
    index (``tmet::Key``), the file and its content digest, and per input of the file the
    kernel quantity (index), FIXED or VARIATION, the fixed values and the variation strings.
    ``spec`` (JSON text with the content digest) identifies it: a process binds it once."""

    key: str
    index: int
    file: str
    name: str
    content: str
    sources: tuple
    fixed: tuple
    variations: tuple
    spec: str


def bindings(specs, declared_inputs):
    """The Binding of every correction of ``specs``; ``declared_inputs(file, name, content)``
    gives a correction's [(input name, type)] as its file declares them (the engine's own
    correctionlib reads it). Raises a TmetError naming the file where config and file disagree."""
    out = []
    for key, spec in sorted(specs.items()):
        path, name = spec["file"], spec["name"]
        if not os.path.exists(path):
            raise TmetError(f"correction file {path} (for '{key}') does not exist; check config.x.corrections")
        content = file_digest(path)
        try:
            declared = declared_inputs(path, name, content)
        except Exception as e:
            raise TmetError(f"cannot load correction '{name}' from {path} (for '{key}'): {e}") from e
        sources, values, variations = input_sources(key, spec, declared)
        out.append(Binding(key, KEYS.index(key), path, name, content, tuple(sources), tuple(values),
                           tuple(variations), json.dumps({**spec, "content": content}, sort_keys=True)))
    return out


def setup(specs, kernels):
    """ROOT with the C++ of ``kernels`` (header names of analysis/cpp) declared and every
    correction of ``specs`` checked and bound to its role, for graphs of the same builders
    on ROOT's own (jitted) RDataFrame: the tests' check of the compiled graphs against
    RDataFrame itself. tmet's tasks run compiled graphs, which bind their own
    (analysis.engine.compiled)."""
    _register_binding()
    ROOT = root_setup.load("corrections.h", *kernels)
    _check_keys([str(ROOT.tmet.KEY_NAMES[i]) for i in range(int(ROOT.tmet.N_KEYS))])

    def declared(path, name, content):
        return [tuple(str(entry).split(" ")) for entry in ROOT.tmet.correction_inputs(path, name, content)]

    vector = ROOT.std.vector
    for b in bindings(specs, declared):
        if str(ROOT.tmet.process_spec(b.index)) != b.spec:
            ROOT.tmet.bind_process_key(b.index, b.file, b.name, b.content, vector["int"](b.sources),
                                       vector["std::string"](b.fixed), vector["std::string"](b.variations), b.spec)
    return ROOT


def _check_keys(names):
    """The roles of corrections.h must be KEYS, in order: the index is what binds them."""
    if tuple(names) != KEYS:
        raise TmetError(f"analysis/cpp/corrections.h's roles {names} are not analysis/engine/corrections.py's {list(KEYS)}")


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
    quantities = QUANTITIES[key]
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
            sources.append(FIXED)
            values.append(str(value))
            continue
        quantity = inputs[name]
        if quantity == VARIATION:
            if kind != "string":
                raise TmetError(f"{where}: input '{name}' carries the variation, but the file declares it {kind}")
            sources.append(VARIATION_SOURCE)
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
