"""Skim: NanoAOD reduced to the analysis preselection and the branches the analysis reads.

The preselection (MET filters, trigger, MET and jet counts before any shift) is looser
than every category under every shift, so that histograms made from skims equal those
made from the full input. A skim keeps its inputs' ``Runs`` trees as they are and records
the sum of generator weights of its inputs (``SUMW``), which normalises the dataset:
per input file ``Runs.genEventSumw`` (or the legacy ``genEventSumw_``), or, for a file
without ``Runs`` or without either branch, the sum of ``genWeight`` of its events.
"""

import re
from dataclasses import dataclass

from analysis.engine import corrections, root_setup
from analysis.engine.compiled import Graph
from analysis.engine.schema import entries, input_schema
from analysis.engine.corrections import JET_ID_KEYS
from analysis.errors import TmetError
from analysis.engine.inputs import check_inputs, file_digest
from analysis.physics.nanoaod import derived_columns, jet_id_keys, needs_jet_id_corrections, renamed_branches
from config.shifts import weight_sources

# the TParameter<double> of a skim holding the sum of generator weights of its inputs
SUMW = "tmet_sumw"
# Runs branches holding a file's sum of generator weights, preferred first (NanoAOD before
# v7 named it genEventSumw_)
RUNS_SUMW_BRANCHES = ("genEventSumw", "genEventSumw_")


@dataclass
class SkimResult:
    """Events before and after the skim, and per MC input the source of its sum of weights
    (a Runs branch, or ``genWeight`` where it fell back to the events' weights)."""

    events_in: int
    events_out: int
    sumw_sources: dict

    def fallbacks(self):
        """The inputs whose sum of weights came from their events' genWeight."""
        return [url for url, source in self.sumw_sources.items() if source == "genWeight"]


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


def branch_names(config, nano_version):
    """Canonical name -> the branch of files of this NanoAOD version (and the campaign's or
    the datasets YAML's ``branch_map``), where they differ."""
    return {**renamed_branches(nano_version), **config.x.branch_map}


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


# a cut of a category over a column the skim bounds: "<column> <op> <number>"
BOUND = re.compile(r"^\s*(met|n_jet)\s*(>=|>|==)\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


def category_cuts(category):
    """The cuts of a category, all required: its order ``selection``, a list of cuts
    (config.categories) or one selection string."""
    selection = category.selection
    return [selection] if isinstance(selection, str) else list(selection)


def lower_bound(cuts, column):
    """(the tightest lower bound the ``cuts`` of a category put on ``column``, the cut), or
    (None, None) where no cut of the form ``column > x`` (>=, ==) bounds it."""
    best = (None, None)
    for cut in cuts:
        match = BOUND.match(cut)
        if match and match.group(1) == column:
            value = float(match.group(3)) + (1 if column == "n_jet" and match.group(2) == ">" else 0)
            if best[0] is None or value > best[0]:
                best = (value, cut)
    return best


def check_skim_is_looser(config):
    """Raise a TmetError where a category could accept events that the skim drops, so that
    histograms from skims would silently miss them: under every shift, its MET cut must stay
    above the skim's (less the margin by which shifts move MET), its jet count at or above the
    skim's, and the jets' pt cut above the skim's jet pt (less the margin of a jet's pt). The
    error names the category, its cut and the skim's value, and the value to change."""
    skim, margins = config.x.skim, config.x.skim_margins
    where = "config.x.skim in config/selection.py"
    for category in config.categories:
        met, met_cut = lower_bound(category_cuts(category), "met")
        if skim["met_min"] > 0 and (met is None or skim["met_min"] > met * (1 - margins["met"]) + 1e-9):
            found = f"its cut '{met_cut}'" if met_cut else "no cut 'met > X'"
            raise TmetError(
                f"category '{category.name}' has {found}, but the skim keeps only MET_pt > {skim['met_min']:g} "
                f"({where}): its histograms would miss every event below it. Shifts move MET by up to "
                f"{margins['met']:.0%} (config.x.skim_margins), so the skim's 'met_min' must be at most "
                + (f"{met * (1 - margins['met']):g}: lower it there or tighten the cut" if met_cut
                   else f"{1 - margins['met']:g} x the category's MET cut: add a MET cut to the category"))
        if skim["n_jet_min"] > 0:
            n_jet, n_jet_cut = lower_bound(category_cuts(category), "n_jet")
            if n_jet is None or n_jet < skim["n_jet_min"]:
                found = f"its cut '{n_jet_cut}'" if n_jet_cut else "no cut 'n_jet >= N'"
                raise TmetError(
                    f"category '{category.name}' has {found}, but the skim keeps only events with "
                    f"{skim['n_jet_min']} jets of Jet_pt > {skim['jet_pt_min']:g} ({where}): lower the skim's "
                    f"'n_jet_min' to {int(n_jet or 0)} or require at least {skim['n_jet_min']} jets")
    jet_pt = config.x.objects["jet"]["pt"]
    if skim["n_jet_min"] > 0 and skim["jet_pt_min"] > jet_pt * (1 - margins["jet_pt"]) + 1e-9:
        raise TmetError(
            f"the jets of the categories need pt > {jet_pt:g} (config.x.objects['jet']['pt']), but the skim counts "
            f"only jets of Jet_pt > {skim['jet_pt_min']:g} ({where}); shifts and the smearing move a jet's pt by "
            f"up to {margins['jet_pt']:.0%} (config.x.skim_margins), so the skim's 'jet_pt_min' must be at most "
            f"{jet_pt * (1 - margins['jet_pt']):g}: lower it there or raise the jets' pt cut")


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
    if needs_jet_id_corrections(version):
        values["jet_id"] = corrections.used_corrections(config, JET_ID_KEYS)
    return values


def input_sumw(ROOT, url, tfile):
    """(sum of generator weights, source) of one unskimmed MC file: the sum a tmet STEP 1
    output recorded of its own inputs (``SUMW``: its events are preselected), else its Runs
    sum (a plain loop over its few entries, nothing to compile), else the sum of its events'
    genWeight."""
    recorded = tfile.Get(SUMW)
    if recorded:
        return recorded.GetVal(), SUMW
    runs = tfile.Get("Runs")
    if runs and runs.InheritsFrom("TTree"):
        for branch in RUNS_SUMW_BRANCHES:
            if runs.GetBranch(branch):
                runs.SetBranchStatus("*", 0)
                runs.SetBranchStatus(branch, 1)
                return sum(getattr(entry, branch) for entry in runs), branch
    return ROOT.RDataFrame("Events", url).Sum("genWeight").GetValue(), "genWeight"


@dataclass
class InputsRecord:
    """What a skim or STEP 1 output keeps of its inputs besides their events: the trees it
    copies whole (``trees``: {name: [urls that hold it]}), the MC sum of generator weights
    before any cut (``sumw``, None for data) with its source per input (``sumw_sources``),
    and whether each input's Events is a "TTree" or an "RNTuple" (``kinds``)."""

    trees: dict
    sumw: float
    sumw_sources: dict
    kinds: dict


def read_inputs_record(ROOT, urls, tree_names, is_data):
    """The InputsRecord of ``urls``, each opened once, for the trees ``tree_names``."""
    trees, sumw_sources, kinds, sumw = {}, {}, {}, 0.0
    for url in urls:
        tfile = ROOT.TFile.Open(url)
        try:
            key = tfile.GetKey("Events")
            kinds[url] = "RNTuple" if key and key.GetClassName() == "ROOT::RNTuple" else "TTree"
            for name in tree_names:
                tree = tfile.Get(name)
                if tree and tree.InheritsFrom("TTree"):
                    trees.setdefault(name, []).append(url)
            if not is_data:
                value, sumw_sources[url] = input_sumw(ROOT, url, tfile)
                sumw += value
        finally:
            tfile.Close()
    return InputsRecord(trees, None if is_data else sumw, sumw_sources, kinds)


def add_inputs_record(ROOT, record, output_path):
    """Append to ``output_path`` the trees of ``record`` (an InputsRecord) unchanged (baskets
    copied as they are: no decompression, nothing to compile) and, for MC, the sum of
    generator weights of the inputs before any cut (``SUMW``)."""
    for name, urls in record.trees.items():
        chain = ROOT.TChain(name)
        for url in urls:
            chain.Add(url)
        tfile = ROOT.TFile.Open(output_path, "UPDATE")
        try:
            chain.CloneTree(-1, "fast").Write()
        finally:
            tfile.Close()
    if record.sumw is not None:
        tfile = ROOT.TFile.Open(output_path, "UPDATE")
        ROOT.TParameter["double"](SUMW, record.sumw).Write()
        tfile.Close()


def skim_files(paths, output_path, config, is_data, nano_version=None, redirectors=(), threads=1, retries=3,
               client=None, output_format=None):
    """Skim ``paths`` (NanoAOD of ``nano_version``, default the campaign's) into
    ``output_path`` (an RNTuple or a TTree, as ``output_format`` or the config's
    ``skim_format`` says); returns a SkimResult.

    Every input is opened and checked for the branches first, so that a missing branch
    or unreadable file raises before the event loop and no output is written. The
    selection and the Snapshot are a compiled graph (analysis.engine.compiled), built once; with a
    Dask ``client`` it runs on a worker, which writes ``output_path`` (a URL of the store).
    """
    nano_version = config.x.nano_version if nano_version is None else nano_version
    keys = jet_id_keys(config, nano_version)
    masked = is_data and bool(config.x.lumi_mask)
    graph = Graph(corrections.correction_specs(config, keys=keys), ("nanoaod.h",) + (("lumimask.h",) if masked else ()),
                  f"skim of config {config.name} ({'data' if is_data else 'MC'}, NanoAODv{nano_version})",
                  lumi_mask_source(config.x.lumi_mask) if masked else "")
    urls, n_in = check_inputs(paths, "Events", file_branches(config, is_data, nano_version), redirectors, retries)
    ROOT = root_setup.import_root()
    record = read_inputs_record(ROOT, urls, ("Runs",), is_data)
    schema = input_schema(urls[0])
    events = canonical_events(graph.frame(), schema, config, is_data, nano_version)
    events.Filter(preselection(config, is_data), "skim preselection").Snapshot("Events", read_branches(config, is_data))
    try:
        n_out = graph.write(urls, output_path, config.x.skim_compression, threads=threads, client=client,
                            output_format=output_format or config.x.skim_format)
        add_inputs_record(ROOT, record, output_path)
    except Exception as e:  # ROOT reports read errors of corrupt baskets as C++ exceptions
        raise TmetError(f"skimming {', '.join(urls)} failed: {e}") from e
    return SkimResult(n_in, n_out, record.sumw_sources)


def skim_totals(skim_paths, weights=True):
    """(events, sum of generator weights of their unskimmed inputs) of the skims
    ``skim_paths``, each opened once: the events for the progress of a run, the sum (as each
    skim recorded it) for the normalisation of MC; ``weights=False`` for data skims, which
    hold none (the sum is None). The sum is 0 only where the inputs hold no events at all."""
    ROOT = root_setup.import_root()
    total, events = 0.0, 0
    for path in skim_paths:
        tfile = ROOT.TFile.Open(path)
        if not tfile or tfile.IsZombie():
            raise TmetError(f"cannot open skim {path}")
        if not tfile.Get("Events"):
            raise TmetError(f"skim {path} holds no Events")
        events += entries(path)
        if weights:
            parameter = tfile.Get(SUMW)
            if not parameter:
                raise TmetError(f"skim {path} holds no {SUMW} (a data skim, or made by an older tmet: remake it)")
            total += parameter.GetVal()
        tfile.Close()
    if not weights:
        return events, None
    if total == 0 and events:
        raise TmetError(f"the sum of generator weights of the inputs of {len(skim_paths)} skim(s) is zero, but "
                        f"they hold {events} events; cannot normalise")
    return events, total


def sum_of_weights(skim_paths):
    """Sum of generator weights of the unskimmed inputs of ``skim_paths`` (MC; skim_totals)."""
    return skim_totals(skim_paths)[1]
