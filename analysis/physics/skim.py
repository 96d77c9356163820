"""Skim: NanoAOD reduced to the analysis preselection and the branches the analysis reads.

The preselection (MET filters, trigger, MET and jet counts before any shift) is looser
than every category under every shift (analysis.physics.checks), so that histograms made
from skims equal those made from the full input. A skim keeps its inputs' ``Runs`` trees as
they are and records the sums that normalise the dataset (analysis.physics.inputs_record).
"""

from analysis.engine import corrections, root_setup
from analysis.engine.compiled import Graph
from analysis.engine.dispatch import remove_partial
from analysis.engine.friends import FRIEND_PREFIX, check_pairs, friends_of, mismatched_pair
from analysis.engine.schema import entries, input_schema
from analysis.errors import TmetError
from analysis.engine.inputs import check_inputs, file_digest
from analysis.physics import inputs_record
from analysis.physics.checks import check_step1_inputs
from analysis.physics.inputs_record import (LoopResult, add_inputs_record, generator_weights, read_inputs_record,
                                            read_weight_sums)
from analysis.physics.nanoaod import branch_names, derived_columns, jet_id_keys, used_jet_id
from analysis.physics.top_candidates import FRIEND_TREE, PAIRING, PRESELECTED
from config.shifts import weight_sources

# what the pairing check of an input with its friend says when it fails (analysis/cpp/nanoaod.h)
PAIRING_ERROR = "friend pairing"


def event_filters(config, is_data):
    """MET-filter and trigger flags required in every event (data has extra filters)."""
    return list(config.x.met_filters["data" if is_data else "mc"]) + list(config.x.triggers)


def read_branches(config, is_data):
    """Canonical names of the Events branches the analysis reads, for data or MC: the
    selection's, the weight shifts' (MC) and the flags and triggers."""
    branches = list(config.x.analysis_branches["all"])
    if not is_data:
        branches += config.x.analysis_branches["mc"]
        branches += [b for source in weight_sources(config) for b in source.x.branches]
    return list(dict.fromkeys(branches + event_filters(config, is_data)))


def file_branches(config, is_data, nano_version):
    """The branches a file of this version must hold for the skim to write ``read_branches``."""
    names = branch_names(config, nano_version)
    derived = derived_columns(config, nano_version, is_data)
    needed = []
    for branch in read_branches(config, is_data):
        needed += derived[branch][1] if branch in derived else [names.get(branch, branch)]
    return list(dict.fromkeys(needed))


def canonical_events(df, columns, config, is_data, nano_version):
    """The Events of files of this version (whose columns are ``columns``) with every
    canonical column: renamed branches as aliases, the version's derived columns (jet ID,
    v15's MET variation) defined."""
    for canonical, actual in branch_names(config, nano_version).items():
        df = df.Alias(canonical, actual)
    for column, (expression, _) in derived_columns(config, nano_version, is_data).items():
        df = df.Redefine(column, expression) if column in columns else df.Define(column, expression)
    return df


def lumi_mask_source(path):
    """C++ of ``certified(run, luminosityBlock)``: whether a luminosity section is in the
    golden JSON ``path`` ({"run": [[first, last], ...]}), its ranges compiled in."""
    import json

    try:
        with open(path) as f:
            ranges = [(int(run), int(first), int(last)) for run, blocks in json.load(f).items()
                      for first, last in blocks]
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise TmetError(f"cannot read the certified-luminosity JSON {path} (runs to [[first, last], ...]): {e}") from e
    adds = "".join(f"        mask.add({run}, {first}, {last});\n" for run, first, last in ranges)
    return (f"// the certified luminosity sections of {path}\n"
            "inline bool certified(unsigned int run, unsigned int lumi) {\n"
            "    static const tmet::LumiMask certified_sections = [] {\n        tmet::LumiMask mask;\n"
            f"{adds}        return mask;\n    }}();\n    return certified_sections.contains(run, lumi);\n}}\n")


def preselection(config, is_data):
    """The skim selection as one filter expression over canonical names.

    Data is also restricted to the config's certified luminosity sections (``lumi_mask``:
    ``certified``, of lumi_mask_source).
    """
    skim = config.x.skim
    cuts = list(event_filters(config, is_data))
    if is_data and config.x.lumi_mask:
        cuts.append("certified(run, luminosityBlock)")
    cuts.append(f"MET_pt > {skim['met_min']}")
    cuts.append(f"Sum(Jet_pt > {skim['jet_pt_min']}) >= {skim['n_jet_min']}")
    return " && ".join(cuts)


def used_config(config, dataset):
    """The config values the skims of ``dataset`` depend on."""
    is_data, version = dataset.is_data, dataset.x.nano_version
    values = {
        "selection": {"filters": event_filters(config, is_data), "skim": config.x.skim},
        "branches": read_branches(config, is_data),
        "layout": {"nano_version": version, "branch_names": branch_names(config, version),
                   "derived": {k: v[0] for k, v in derived_columns(config, version, is_data).items()}},
        "compression": config.x.skim_compression,
        "format": config.x.skim_format,
    }
    if is_data and config.x.lumi_mask:
        values["selection"]["lumi_mask"] = [config.x.lumi_mask, file_digest(config.x.lumi_mask)]
    return {**values, **inputs_record.used_config(config, dataset), **used_jet_id(config, version)}


def candidate_branches(config, is_data, nano_version):
    """The top-candidate branches a skim reads (STEP 1's: in its input, or in its friend)."""
    return [b for b in file_branches(config, is_data, nano_version) if b == "nTopCand" or b.startswith("TopCand_")]


def candidate_hints(config, is_data, nano_version):
    """{branch: what its absence means} of the top-candidate branches a skim reads: a file
    without them is not a STEP 1 output."""
    hint = ("the file holds no top candidates, so it is not a STEP 1 output: give its dataset "
            "'top_candidates: tmet' (tmet makes them) or list the group's STEP 1 outputs")
    return {b: hint for b in candidate_branches(config, is_data, nano_version)}


def checked_friends(paths, friends, config, is_data, nano_version, redirectors, retries):
    """(urls, entries of each, the Friends) of inputs ``paths`` and their STEP 1 friend files
    ``friends`` (one per input, in order): every input with the branches the skim reads but
    the candidates, every friend with the candidates and the pairing columns, each friend
    with its input's entries; a mismatch names both files."""
    candidates = candidate_branches(config, is_data, nano_version)
    urls, counts = check_inputs(paths, "Events", [b for b in file_branches(config, is_data, nano_version)
                                                  if b not in candidates], redirectors, retries)
    hint = "it is not a STEP 1 friend file (TopCandidates with top_candidates_output: friend)"
    friend_urls, _ = check_inputs(friends, FRIEND_TREE, [*PAIRING, PRESELECTED, *candidates], retries=retries,
                                  hints={b: hint for b in (FRIEND_TREE, *PAIRING, PRESELECTED, *candidates)})
    by_entry = _is_rntuple(urls[0])
    paired = friends_of(friend_urls, FRIEND_TREE, input_schema(urls[0]), by_entry)
    check_pairs(urls, paired)
    return urls, counts, paired


def _is_rntuple(url):
    ROOT = root_setup.import_root()
    tfile = ROOT.TFile.Open(url)
    try:
        key = tfile.GetKey("Events")
        return bool(key) and key.GetClassName() == "ROOT::RNTuple"
    finally:
        tfile.Close()


def skim_files(paths, output_path, config, is_data, nano_version=None, redirectors=(), threads=1, retries=3,
               client=None, output_format=None, missing_weights=(), friends=None):
    """Skim ``paths`` (NanoAOD of ``nano_version``, default the campaign's) into
    ``output_path`` (an RNTuple or a TTree, as ``output_format`` or the config's
    ``skim_format`` says); returns a LoopResult. ``missing_weights``: the generator-weight
    arrays the MC samples do not store (their dataset's ``missing_weights``). ``friends``:
    STEP 1's friend files of ``paths`` (one each, in order), whose candidates the skim reads
    beside the inputs, each entry checked to be its input's event.

    Every input is opened and checked first (its branches, its generator-weight arrays, the
    STEP 1 preselection it records), so that a bad input raises before the event loop and no
    output is written. The selection and the Snapshot are a compiled graph
    (analysis.engine.compiled), built once; with a Dask ``client`` it runs on a worker, which
    writes ``output_path`` (a URL of the store).
    """
    nano_version = config.x.nano_version if nano_version is None else nano_version
    keys = jet_id_keys(config, nano_version)
    masked = is_data and bool(config.x.lumi_mask)
    graph = Graph(corrections.correction_specs(config, keys=keys), ("nanoaod.h",) + (("lumimask.h",) if masked else ()),
                  f"skim of config {config.name} ({'data' if is_data else 'MC'}, NanoAODv{nano_version})",
                  lumi_mask_source(config.x.lumi_mask) if masked else "")
    if friends is None:
        urls, counts = check_inputs(paths, "Events", file_branches(config, is_data, nano_version), redirectors,
                                    retries, hints=candidate_hints(config, is_data, nano_version))
        paired = None
    else:
        urls, counts, paired = checked_friends(paths, friends, config, is_data, nano_version, redirectors, retries)
    ROOT = root_setup.import_root()
    record = read_inputs_record(ROOT, urls, ("Runs",), None if is_data else generator_weights(config, missing_weights))
    # the preselection of STEP 1, as its outputs (the inputs, or their friends) record it
    check_step1_inputs(config, record.step1 if paired is None else read_inputs_record(ROOT, paired.files, ()).step1)
    schema = {**input_schema(urls[0]), **(paired.schema() if paired else {})}
    events = canonical_events(graph.frame(), schema, config, is_data, nano_version)
    if paired:
        events = events.Filter(f"tmet::paired(event, {FRIEND_PREFIX}event)", "friend pairing")
    events.Filter(preselection(config, is_data), "skim preselection").Snapshot("Events", read_branches(config, is_data))
    try:
        n_out = graph.write(urls, output_path, config.x.skim_compression, threads=threads, client=client,
                            output_format=output_format or config.x.skim_format, friends=paired)
        add_inputs_record(ROOT, record, output_path)
    except Exception as e:  # ROOT reports read errors of corrupt baskets as C++ exceptions
        remove_partial([output_path])
        pair = mismatched_pair(ROOT, urls, paired) if paired and PAIRING_ERROR in str(e) else None
        if pair:
            path, friend, entry, ours, theirs = pair
            raise TmetError(f"{friend} is not the friend of {path}: entry {entry} is event {ours} in the input, "
                            f"{theirs} in the friend (the input replaced or re-ordered after STEP 1?): remake the "
                            f"friend (TopCandidates)") from e
        raise TmetError(f"skimming {', '.join(urls)} failed: {e}") from e
    return LoopResult(sum(counts), n_out, record.sources)


def skim_totals(skim_paths, weights=True):
    """(events, WeightSums of their unskimmed inputs) of the skims ``skim_paths``, each opened
    once: the events for the progress of a run, the sums (as each skim recorded them) for the
    normalisation of MC; ``weights=False`` for data skims, which hold none (the sums are
    None). The sum of weights is 0 only where the inputs hold no events at all."""
    ROOT = root_setup.import_root()
    total, events = None, 0
    for path in skim_paths:
        tfile = ROOT.TFile.Open(path)
        if not tfile or tfile.IsZombie():
            raise TmetError(f"cannot open skim {path}")
        if not tfile.Get("Events"):
            raise TmetError(f"skim {path} holds no Events")
        events += entries(path)
        if weights:
            sums = read_weight_sums(tfile)
            if sums is None:
                raise TmetError(f"skim {path} holds no sum of generator weights (a data skim, or made by an older "
                                f"tmet: remake it)")
            total = sums if total is None else total + sums
        tfile.Close()
    if not weights:
        return events, None
    if total.sumw == 0 and events:
        raise TmetError(f"the sum of generator weights of the inputs of {len(skim_paths)} skim(s) is zero, but "
                        f"they hold {events} events; cannot normalise")
    return events, total


def weight_sums(skim_paths):
    """The WeightSums of the unskimmed inputs of ``skim_paths`` (MC; skim_totals)."""
    return skim_totals(skim_paths)[1]


def sum_of_weights(skim_paths):
    """Sum of generator weights of the unskimmed inputs of ``skim_paths`` (MC; skim_totals)."""
    return weight_sums(skim_paths).sumw
