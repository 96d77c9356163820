"""Snapshot: a flat tree of the analysis columns of one dataset under one shift.

For checks and plots outside the framework: event ids, category flags, every weight
factor and the total weight, the variables and the best top candidate.
"""

from analysis.engine import corrections
from analysis.physics import histograms
from analysis.engine.compiled import Graph
from analysis.physics.selection import KERNELS, define_selection, event_columns
from analysis.physics.weights import define_weights, normalisation_values, normalization, weight_factors


def used_config(config, dataset):
    """The config values the Snapshot of ``dataset`` depends on: those of its histograms and
    the normalisation (its w_norm column)."""
    values = histograms.used_config(config, dataset)
    if not dataset.is_data:
        values["normalisation"] = normalisation_values(config, dataset)
    return values


def snapshot_columns(config):
    return ["run", "luminosityBlock", "event"] + event_columns(config) + weight_factors(config) + ["weight"]


def write_snapshot(paths, output_path, config, dataset, sums, btag_efficiency, shift, client=None):
    """Write the flat tree ``Events`` of ``paths`` (skims of ``dataset``) under ``shift`` (an
    order shift); returns the number of events. Its ``w_norm`` is lumi * xsec / sumw for MC
    (sumw: the shift's sum of the unskimmed inputs' WeightSums ``sums``), 1 for data.
    ``client``: a Dask client, whose worker writes it."""
    is_data = dataset.is_data
    norm = 1.0 if is_data else normalization(config, dataset, sums.of(shift))
    graph = Graph(corrections.correction_specs(config, None if is_data else btag_efficiency), KERNELS,
                  f"snapshot of config {config.name} under {shift.name} ({'data' if is_data else 'MC'})")
    df = define_selection(graph.frame(), config, is_data, shift=shift)
    df = define_weights(df, config, is_data, norm=norm, btag_efficiency=btag_efficiency, shift=shift)
    df.Snapshot("Events", snapshot_columns(config))
    return graph.write(paths, output_path, config.x.skim_compression, client=client)
