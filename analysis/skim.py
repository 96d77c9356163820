"""Skim: NanoAOD reduced to the analysis preselection and the branches the analysis reads.

The preselection (MET filters, trigger, MET and jet counts before any shift) is looser
than every category under every shift, so that histograms made from skims equal those
made from the full input. The ``Runs`` trees are copied whole so that the sum of
``genEventSumw`` over all input files survives the skim.
"""

from analysis import root_setup
from analysis.errors import TmetError
from analysis.inputs import check_inputs
from config.shifts import weight_sources

# name of the TParameter<double> in a skim holding the sum of genWeight of its inputs
SUM_GEN_WEIGHT = "sum_genWeight"


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


def file_branch(config, name):
    """The branch holding canonical ``name`` in this campaign's files."""
    return config.x.branch_map.get(name, name)


def load_lumi_mask(path):
    """Declare the golden JSON ``path`` ({"run": [[first, last], ...]}) as tmet::lumi_masks()[path]."""
    import json

    ROOT = root_setup.load("lumimask.h")
    masks = ROOT.tmet.lumi_masks()
    if not masks.count(path):
        try:
            with open(path) as f:
                ranges = json.load(f)
        except (OSError, ValueError) as e:
            raise TmetError(f"cannot read the certified-luminosity JSON {path}: {e}") from e
        mask = masks[path]
        for run, blocks in ranges.items():
            for first, last in blocks:
                mask.add(int(run), int(first), int(last))
    return ROOT


def preselection(config, is_data):
    """The skim selection as one RDataFrame filter expression over canonical names.

    Data is also restricted to the config's certified luminosity sections (``lumi_mask``).
    """
    skim = config.x.skim
    cuts = list(event_filters(config, is_data))
    if is_data and config.x.lumi_mask:
        load_lumi_mask(config.x.lumi_mask)
        cuts.append(f'tmet::lumi_masks()["{config.x.lumi_mask}"].contains(run, luminosityBlock)')
    cuts.append(f"MET_pt > {skim['met_min']}")
    cuts.append(f"Sum(Jet_pt > {skim['jet_pt_min']}) >= {skim['n_jet_min']}")
    return " && ".join(cuts)


def snapshot_options(ROOT, compression, mode="RECREATE"):
    opts = ROOT.RDF.RSnapshotOptions()
    opts.fMode = mode
    opts.fCompressionAlgorithm = getattr(ROOT.RCompressionSetting.EAlgorithm, f"k{compression['algorithm']}")
    opts.fCompressionLevel = int(compression["level"])
    opts.fAutoFlush = 10000
    return opts


def alias_campaign_branches(df, config, branches):
    """Expose campaign-specific branches under their canonical names."""
    for name in branches:
        actual = file_branch(config, name)
        if actual != name:
            df = df.Alias(name, actual)
    return df


def skim_files(paths, output_path, config, is_data, redirectors=(), threads=1, retries=3):
    """Skim ``paths`` into ``output_path``; returns (input events, skimmed events).

    Every input is opened and checked for the branches first, so that a missing branch
    or unreadable file raises before the event loop and no output is written.
    """
    ROOT = root_setup.import_root()
    branches = read_branches(config, is_data)
    urls, n_in = check_inputs(paths, "Events", [file_branch(config, b) for b in branches], redirectors, retries)
    check_inputs(urls, "Runs", [], retries=retries)

    if threads > 1:
        ROOT.EnableImplicitMT(threads)
    try:
        df = alias_campaign_branches(ROOT.RDataFrame("Events", urls), config, branches)
        selected = df.Filter(preselection(config, is_data), "skim preselection")
        count = selected.Count()
        # sum of genWeight before the skim, for files whose Runs tree lacks genEventSumw
        sum_gen_weight = None if is_data else df.Sum("genWeight")
        selected.Snapshot("Events", output_path, branches, snapshot_options(ROOT, config.x.skim_compression))
        runs = ROOT.RDataFrame("Runs", urls)
        runs.Snapshot("Runs", output_path, runs.GetColumnNames(),
                      snapshot_options(ROOT, config.x.skim_compression, mode="UPDATE"))
        if sum_gen_weight is not None:
            tfile = ROOT.TFile.Open(output_path, "UPDATE")
            ROOT.TParameter["double"](SUM_GEN_WEIGHT, sum_gen_weight.GetValue()).Write()
            tfile.Close()
    except Exception as e:  # ROOT reports read errors of corrupt baskets as C++ exceptions
        raise TmetError(f"skimming {', '.join(urls)} failed: {e}") from e
    finally:
        if threads > 1:
            ROOT.DisableImplicitMT()
    return n_in, count.GetValue()


def sum_of_weights(skim_paths):
    """Sum of genEventSumw of the inputs of ``skim_paths`` (their copied Runs trees).

    Falls back to the skims' recorded sum of genWeight where Runs lacks genEventSumw.
    """
    ROOT = root_setup.import_root()
    total = 0.0
    for path in skim_paths:
        tfile = ROOT.TFile.Open(path)
        if not tfile or tfile.IsZombie():
            raise TmetError(f"cannot open skim {path}")
        runs = tfile.Get("Runs")
        if runs and runs.GetBranch("genEventSumw"):
            total += ROOT.RDataFrame(runs).Sum("genEventSumw").GetValue()
        else:
            parameter = tfile.Get(SUM_GEN_WEIGHT)
            if not parameter:
                raise TmetError(f"skim {path} has neither Runs.genEventSumw nor {SUM_GEN_WEIGHT}")
            total += parameter.GetVal()
        tfile.Close()
    if total == 0:
        raise TmetError(f"the sum of generator weights of {len(skim_paths)} skim(s) is zero; cannot normalise")
    return total
