"""Snapshot: a flat tree of the analysis columns of one dataset under one shift.

For checks and plots outside the framework: event ids, category flags, every weight
factor and the total weight, the variables and the best top candidate.
"""

from analysis import corrections
from analysis.selection import define_selection, event_columns
from analysis.skim import snapshot_options
from analysis.weights import FACTORS, define_weights


def snapshot_columns(config):
    return ["run", "luminosityBlock", "event"] + event_columns(config) + list(FACTORS) + ["weight"]


def analysis_dataframe(ROOT, paths, config, is_mc, norm, btag_efficiency, shift="nominal"):
    """The Events of ``paths`` with objects, selection and weights under one fixed shift."""
    df = ROOT.RDataFrame("Events", paths)
    df = define_selection(df, config, is_mc, shift=shift)
    return define_weights(df, config, is_mc, norm=norm, btag_efficiency=btag_efficiency, shift=shift)


def write_snapshot(paths, output_path, config, is_mc, norm, btag_efficiency, shift="nominal"):
    """Write the flat tree ``Events`` of ``paths`` under ``shift``; returns the number of events."""
    ROOT = corrections.setup(corrections.correction_specs(config, btag_efficiency))
    df = analysis_dataframe(ROOT, paths, config, is_mc, norm, btag_efficiency, shift)
    count = df.Count()
    df.Snapshot("Events", output_path, snapshot_columns(config), snapshot_options(ROOT, config.x.skim_compression))
    return count.GetValue()
