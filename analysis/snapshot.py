"""Snapshot: a flat tree of the analysis columns of one dataset under one shift.

For checks and plots outside the framework: event ids, category flags, every weight
factor and the total weight, the variables and the best top candidate.
"""

import os

from analysis import corrections, histograms
from analysis.inputs import empty_copies
from analysis.selection import KERNELS, define_selection, event_columns
from analysis.skim import snapshot_options
from analysis.weights import define_weights, normalisation_values, weight_factors


def used_config(config, dataset):
    """The config values the Snapshot of ``dataset`` depends on: those of its histograms and
    the normalisation (its w_norm column)."""
    values = histograms.used_config(config, dataset)
    if not dataset.is_data:
        values["normalisation"] = normalisation_values(config, dataset)
    return values


def warm_up(directory, paths, config, is_data, norm, btag_efficiency, shift):
    """Compile in this process what write_snapshot of ``paths`` runs (on an empty copy of one)."""
    write_snapshot(empty_copies(paths[:1], directory), os.path.join(directory, "snapshot.root"), config, is_data,
                   norm, btag_efficiency, shift)


def snapshot_columns(config):
    return ["run", "luminosityBlock", "event"] + event_columns(config) + weight_factors(config) + ["weight"]


def write_snapshot(paths, output_path, config, is_data, norm, btag_efficiency, shift):
    """Write the flat tree ``Events`` of ``paths`` under ``shift`` (an order shift); returns
    the number of events."""
    ROOT = corrections.setup(corrections.correction_specs(config, None if is_data else btag_efficiency), KERNELS)
    df = define_selection(ROOT.RDataFrame("Events", paths), config, is_data, shift=shift)
    df = define_weights(df, config, is_data, norm=norm, btag_efficiency=btag_efficiency, shift=shift)
    count = df.Count()
    df.Snapshot("Events", output_path, snapshot_columns(config), snapshot_options(ROOT, config.x.skim_compression))
    return count.GetValue()
