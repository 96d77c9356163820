"""STEP 1: resolved top-quark candidates scored by the analysis group's Keras tagger, added to
NanoAOD (docs/physics.md, "STEP 1"), as a full copy or as friend files (the dataset's
``top_candidates_output``, docs/engine.md).

A full copy takes two passes per file group. A compiled graph reads what the candidates need: the
preselection (MET and two jets), the candidate jets, every triplet with its features and
score (analysis/cpp/top_candidates.h, the model written as C++ by analysis.engine.model_code)
and the cleaning; it writes, for each preselected event, its entry and ``nTopCand`` with the
``TopCand_*`` collection (NanoAOD's layout, analysis/cpp/nano_writer.h) to a local file.
Then the copier (analysis.engine.nano_copy) writes every input ``Events`` branch of those
events with the candidates added (real NanoAOD has over a thousand branches: a graph typed
over all of them would not compile), and the inputs' ``Runs`` and ``LuminosityBlocks`` are
appended whole. The model is read, checked against the config's features and written into
the graph before any event is read; so is every input checked for its branches. Inputs are
TTrees or RNTuples (in the layout ROOT's RNTupleImporter writes); the output is a TTree.

A friend file takes one pass per input file: the same graph without the preselection's
filter writes, for every entry of the input, its ``run``, ``luminosityBlock`` and ``event``
(for the pairing check of its readers), the preselection's flag (``PRESELECTED``) and the
candidates (none where the flag is false), as the tree ``FRIEND_TREE``. The input stays
where it is; the skim reads the two together (analysis.physics.skim).
"""

import os
import tempfile

from analysis.engine import corrections, model_code, nano_copy, root_setup
from analysis.engine.compiled import ENTRY, Graph, loaded
from analysis.engine.dispatch import dispatch, local_path, remove_partial
from analysis.engine.nano_copy import copy_selected
from analysis.engine.schema import input_schema
from analysis.engine.inputs import check_inputs, file_digest
from analysis.errors import TmetError
from analysis.physics import inputs_record
from analysis.physics.inputs_record import (LoopResult, add_inputs_record, add_step1_record, generator_weights,
                                            read_inputs_record)
from analysis.physics.nanoaod import branch_names, derived_columns, jet_id_keys, used_jet_id
from analysis.top_tagger import load_model

KERNELS = ("top_candidates.h", "nanoaod.h")
# the TopCand collection NanoAOD-tools' STEP 1 writes: (branch, field of tmet::top::Candidates)
OUTPUT = (("TopCand_pt", "pt"), ("TopCand_eta", "eta"), ("TopCand_phi", "phi"), ("TopCand_mass", "mass"),
          ("TopCand_score", "score"), ("TopCand_type", "type"), ("TopCand_jetIdx1", "jet_b"),
          ("TopCand_jetIdx2", "jet_j1"), ("TopCand_jetIdx3", "jet_j2"))
COUNTER = "nTopCand"
# a friend file's tree (NanoAOD-tools' name for its friend trees), the columns it keeps of its
# input to be paired with it, and the preselection's flag
FRIEND_TREE = "Friends"
PAIRING = ("run", "luminosityBlock", "event")
PRESELECTED = "passStep1Preselection"
# the trees of an input copied whole next to the candidates' Events
COPIED_TREES = ("Runs", "LuminosityBlocks")
JET_FIELDS = ("pt", "eta", "phi", "mass")
# the entry of a preselected event, counted over the inputs, in the graph's selection file
# (the copier's, analysis/cpp/nano_copy.cxx)
SELECTED_ENTRY = "tmet_entry"
# the selection the graph writes for the copier: a local file, compressed fast
SELECTION_COMPRESSION = {"algorithm": "LZ4", "level": 1}


def tagger(config):
    """The config's top tagger (``config.x.top_tagger``: model, scaler, features), read and
    checked: every feature one the config defines (``config.x.top_candidates["features"]``),
    in the model's order. Errors name the file, and the layer or the feature."""
    values = config.x.top_tagger
    model = load_model(values["model"], values.get("scaler"))
    defined = config.x.top_candidates["features"]
    for feature in values["features"]:
        if feature not in defined:
            raise TmetError(f"the top tagger's feature '{feature}' (config.x.top_tagger of {config.name}) is not one "
                            f"config.x.top_candidates['features'] defines ({', '.join(defined)}): define its "
                            f"expression there (config/selection.py)")
    model.check_features(values["features"])
    return model


def used_config(config, dataset):
    """The config values the candidates of ``dataset``'s files depend on: the cuts, the
    features, the model (by the digest of its files), the layout and the compression."""
    version, is_data = dataset.x.nano_version, dataset.is_data
    values = {
        "top_candidates": config.x.top_candidates,
        "jet": {key: config.x.objects["jet"][key] for key in ("id_bit", "v12_id")},
        "btag_branch": config.x.objects["btag"]["branch"],
        # the model by its files' contents (not their paths: a moved checkout reruns nothing)
        "tagger": {"features": config.x.top_tagger["features"], "model": file_digest(config.x.top_tagger["model"]),
                   "scaler": file_digest(config.x.top_tagger.get("scaler") or "")},
        "layout": {"nano_version": version, "branch_names": branch_names(config, version),
                   "jet_id": derived_columns(config, version, is_data).get("Jet_jetId", ("stored",))[0]},
        "compression": config.x.top_candidates_compression,
        "output": dataset.x.top_candidates_output,
    }
    return {**values, **inputs_record.used_config(config, dataset), **used_jet_id(config, version)}


def _branch(config, version, canonical):
    return branch_names(config, version).get(canonical, canonical)


def triplet_source(config):
    """C++ of the config's candidate jets (``tmet_top::candidate_jets``) and of the model's
    features (``tmet_top::features``, ``N_FEATURES`` of them), in ``namespace tmet_top``."""
    values = config.x.top_candidates
    jets, jet_id = values["jets"], config.x.objects["jet"]["id_bit"]
    features = config.x.top_tagger["features"]
    expressions = values["features"]
    lines = [*(f"#include <{h}>" for h in model_code.HEADERS), "namespace tmet_top {",
             "// a candidate jet: its kinematics, b tag and index in the event's Jet collection",
             "struct Jet { double pt, eta, phi, mass, btag; int index; };",
             "// the first jets (NanoAOD order: pt) that pass the candidate jets' cuts and the jet ID",
             "template <class PT, class ETA, class PHI, class M, class B, class ID>",
             "std::vector<Jet> candidate_jets(const PT& pt, const ETA& eta, const PHI& phi, const M& mass, "
             "const B& btag, const ID& id) {",
             "    std::vector<Jet> out;",
             "    for (size_t i = 0; i < pt.size(); ++i) {",
             f"        if (!(pt[i] > {float(jets['pt'])!r} && std::abs(eta[i]) < {float(jets['abseta'])!r} && "
             f"(static_cast<int>(id[i]) & {int(jet_id)}) != 0)) continue;",
             "        out.push_back({pt[i], eta[i], phi[i], mass[i], btag[i], static_cast<int>(i)});",
             f"        if (out.size() == {int(jets['max'])}) break;",
             "    }",
             "    return out;",
             "}",
             f"constexpr int N_FEATURES = {len(features)};",
             "// the model's inputs, in its order, from the config's expressions",
             "inline void features(const Jet& b, const Jet& j1, const Jet& j2, const tmet::top::P4& trijet, "
             "const tmet::top::P4& dijet, double* x) {",
             "    using tmet::top::delta_phi;", "    using tmet::top::delta_r;",
             *(f"    x[{i}] = ({expressions[name]});  // {name}" for i, name in enumerate(features)),
             "}",
             "}  // namespace tmet_top"]
    return "\n".join(lines)


def define_candidate_jets(df, config, version, is_data, friend=False):
    """Dataframe in, dataframe out (a graph's frame, or ROOT's RDataFrame with
    ``triplet_source`` declared): the events of STEP 1's preselection with ``top_jets``, their
    candidate jets, under the campaign's jet ID (made under a name of its own where the
    version's stored one is not it, so that the input's Jet_jetId is written as it is);
    ``friend``: every event, with the preselection's flag ``PRESELECTED`` and no candidate
    jets where it is false."""
    presel = config.x.top_candidates["preselection"]
    jet = {field: _branch(config, version, f"Jet_{field}") for field in JET_FIELDS}
    btag = _branch(config, version, config.x.objects["btag"]["branch"])
    derived = derived_columns(config, version, is_data).get("Jet_jetId")
    if derived:
        df = df.Define("top_jet_id", derived[0])
    jet_id = "top_jet_id" if derived else _branch(config, version, "Jet_jetId")
    passed = (f"{_branch(config, version, 'MET_pt')} > {float(presel['met_min'])!r} && "
              f"Sum({jet['pt']} > {float(presel['jet_pt_min'])!r}) >= {int(presel['n_jet_min'])}")
    jets = f"tmet_top::candidate_jets({jet['pt']}, {jet['eta']}, {jet['phi']}, {jet['mass']}, {btag}, {jet_id})"
    if friend:
        return df.Define(PRESELECTED, passed).Define("top_jets", f"{PRESELECTED} ? {jets} : std::vector<tmet_top::Jet>{{}}")
    return df.Filter(passed, "STEP 1 preselection").Define("top_jets", jets)


def candidate_graph(config, model, version, is_data, friend=False):
    """The STEP 1 graph of files of NanoAOD ``version``: preselection and candidates, its
    snapshot the entry (``SELECTED_ENTRY``) and the candidates of each preselected event, or
    (``friend``) a friend file's columns of every event."""
    keys = jet_id_keys(config, version)
    prelude = "\n".join([triplet_source(config), "namespace tmet_top {",
                         model_code.model_source(model.model, "score"), "}  // namespace tmet_top"])
    graph = Graph(corrections.correction_specs(config, keys=keys), KERNELS,
                  f"top candidates of config {config.name} ({'data' if is_data else 'MC'}, NanoAODv{version})",
                  prelude)
    values = config.x.top_candidates
    window = values["mass_window"]
    df = (define_candidate_jets(graph.frame(), config, version, is_data, friend)
          .Define("top_candidates", f"tmet::top::candidates(top_jets, {float(window[0])!r}, {float(window[1])!r}, "
                                    f"{int(values['max_candidates'])}, tmet_top::N_FEATURES, tmet_top::features, "
                                    f"tmet_top::score)")
          .Define(COUNTER, "static_cast<unsigned int>(top_candidates.pt.size())"))
    for branch, field in OUTPUT:
        df = df.Define(branch, f"top_candidates.{field}")
    candidates = [COUNTER, *(branch for branch, _ in OUTPUT)]
    if friend:
        df.Snapshot(FRIEND_TREE, [*PAIRING, PRESELECTED, *candidates], nanoaod=True)
    else:
        df.Define(SELECTED_ENTRY, ENTRY).Snapshot("Events", [SELECTED_ENTRY, *candidates], nanoaod=True)
    return graph


def input_branches(config, version, is_data):
    """The branches a file must hold for STEP 1: the jets' kinematics, b tag and ID (or what
    the version's ID is made of), MET and the jets' counter."""
    derived = derived_columns(config, version, is_data).get("Jet_jetId")
    needed = [_branch(config, version, b) for b in ("nJet", *(f"Jet_{f}" for f in JET_FIELDS), "MET_pt",
                                                     config.x.objects["btag"]["branch"])]
    needed += list(derived[1]) if derived else [_branch(config, version, "Jet_jetId")]
    return list(dict.fromkeys(needed))


def write_step1(setup, library_path, specs, copier_path, files, rntuple, output, compression):
    """The graph's candidates of ``files`` into a local file, then every input branch of those
    events with them into ``output`` (on a Dask worker: a URL of the store, ``setup`` its
    WorkerSetup, see analysis.engine.dispatch); returns the entries written."""
    library, table = loaded(setup, library_path, specs)
    with tempfile.TemporaryDirectory() as directory:
        selection = os.path.join(directory, "selection.root")
        library.snapshot("Events", files, 1, table, selection, SELECTION_COMPRESSION, "TTree")
        return copy_selected(local_path(setup, copier_path), "Events", files, rntuple, selection, output, compression)


def checked_step1_inputs(paths, config, dataset, nano_version, redirectors, retries):
    """(urls, entries per url, InputsRecord, model, schema) of STEP 1's inputs ``paths``: the
    model and every input checked before any event is read."""
    is_data = dataset.is_data
    jet_id_keys(config, nano_version)  # a config without the jet ID its files need stops here
    model = tagger(config)
    urls, counts = check_inputs(paths, "Events", input_branches(config, nano_version, is_data), redirectors, retries)
    ROOT = root_setup.import_root()
    record = read_inputs_record(ROOT, urls, COPIED_TREES,
                                None if is_data else generator_weights(config, dataset.x.missing_weights))
    kinds = record.kinds
    schema = input_schema(urls[0])
    if COUNTER in schema:
        raise TmetError(f"{urls[0]} holds top candidates already ({COUNTER}): STEP 1 would write them twice; give its "
                        f"dataset 'top_candidates: in_files' in the datasets YAML")
    if len(set(kinds.values())) > 1:
        raise TmetError(f"the inputs of one STEP 1 branch mix TTrees and RNTuples ({kinds}): give them one by one "
                        f"(--files-per-branch 1)")
    return urls, counts, record, model, schema


def write_top_candidates(paths, output_path, config, dataset, nano_version=None, redirectors=(), retries=3,
                         client=None):
    """STEP 1 of the files ``paths`` (NanoAOD of ``nano_version``, default the dataset's) into
    ``output_path`` (a path, or on a Dask worker of ``client`` a URL of the store), a full
    copy of their preselected events; returns a LoopResult (events read and written, where
    each MC input's sums came from). The model and every input are checked before any event
    is read."""
    nano_version = dataset.x.nano_version if nano_version is None else nano_version
    urls, counts, record, model, schema = checked_step1_inputs(paths, config, dataset, nano_version, redirectors,
                                                               retries)
    graph = candidate_graph(config, model, nano_version, dataset.is_data)
    library, _ = graph.compile(schema)
    copier = nano_copy.library_path()
    ROOT = root_setup.import_root()
    try:
        (n_out,) = dispatch(client, write_step1,
                            [(library.path, graph.specs, copier, urls, "RNTuple" in record.kinds.values(), output_path,
                              config.x.top_candidates_compression)],
                            files=[library.path, copier, *(spec["file"] for spec in graph.specs.values())],
                            what=f"STEP 1 of {', '.join(urls)}")
        # the sums before the preselection, and the preselection (which the skim checks)
        add_inputs_record(ROOT, record, output_path, step1=config.x.top_candidates["preselection"])
    except Exception as e:  # ROOT reports read errors of corrupt baskets as C++ exceptions
        remove_partial([output_path])
        raise TmetError(f"STEP 1 of {', '.join(urls)} failed: {e}") from e
    return LoopResult(sum(counts), n_out, record.sources)


def write_top_candidate_friends(paths, output_paths, config, dataset, nano_version=None, redirectors=(), retries=3,
                                client=None):
    """STEP 1 of the files ``paths`` as friend files, ``output_paths`` one per input (paths,
    or on the Dask workers of ``client`` URLs of the store, written in parallel there);
    returns a LoopResult (events read, entries written: the same). Checked as
    write_top_candidates checks; each friend records the preselection its flag applies."""
    if len(output_paths) != len(paths):
        raise TmetError(f"STEP 1 writes a friend file per input: {len(paths)} input(s), {len(output_paths)} output(s)")
    nano_version = dataset.x.nano_version if nano_version is None else nano_version
    urls, counts, record, model, schema = checked_step1_inputs(paths, config, dataset, nano_version, redirectors,
                                                               retries)
    graph = candidate_graph(config, model, nano_version, dataset.is_data, friend=True)
    library, _ = graph.compile(schema)
    ROOT = root_setup.import_root()
    compression = config.x.top_candidates_compression
    try:
        written = dispatch(client, write_friend, [(library.path, graph.specs, url, output, compression)
                                                  for url, output in zip(urls, output_paths)],
                           files=[library.path, *(spec["file"] for spec in graph.specs.values())],
                           what=f"STEP 1 (friends) of {', '.join(urls)}")
        for output in output_paths:
            add_step1_record(ROOT, output, config.x.top_candidates["preselection"])
    except Exception as e:  # ROOT reports read errors of corrupt baskets as C++ exceptions
        remove_partial(output_paths)
        raise TmetError(f"STEP 1 of {', '.join(urls)} failed: {e}") from e
    for url, output, n, m in zip(urls, output_paths, counts, written):
        if n != m:
            raise TmetError(f"STEP 1 wrote {m} entries into the friend {output} of {url}, which has {n}")
    return LoopResult(sum(counts), sum(written), record.sources)


def write_friend(setup, library_path, specs, url, output, compression):
    """The friend graph's snapshot of the input ``url`` into ``output`` (on a Dask worker: a
    URL of the store, ``setup`` its WorkerSetup); returns the entries written."""
    library, table = loaded(setup, library_path, specs)
    return library.snapshot("Events", [url], 1, table, output, compression, "TTree")
