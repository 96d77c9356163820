"""Histograms of every category x variable under every requested shift, in one pass.

The graph is built by plain functions (objects -> selection -> weights -> histograms) and
runs unchanged on a local RDataFrame (implicit multithreading) or a distributed one on
Dask. Object shifts are ``Vary``s of jets and MET before the selection, booked with
``VariationsFor``; weight shifts keep the nominal selection, so they are the entries of
one ``weight_shifts`` column, filled along a shift axis of one TH2D per histogram (a
``Vary`` per weight source would cost one varied fill per histogram and shift). Either
way a dataset is read once for all its shifts.
"""

import contextlib
import io
from dataclasses import dataclass

from analysis import corrections
from analysis.errors import TmetError
from analysis.selection import OBJECT_SOURCES, category_flag, define_selection, split_shift
from analysis.weights import WEIGHT_SOURCES, define_weight_shifts, define_weights


def sources_for(shifts):
    """(object sources, weight sources) the graph must book to make ``shifts``."""
    sources = {split_shift(shift)[0] for shift in shifts} - {None}
    return [s for s in OBJECT_SOURCES if s in sources], [s for s in WEIGHT_SOURCES if s in sources]


@dataclass
class Booking:
    """Booked results of one graph: ``nominal`` {(category, variable): Histo1D} (varied by
    the object shifts), ``weight_shifts`` {(category, variable): Histo2D} whose y bin
    i + 1 is shift ``weight_shift_names[i]`` (empty without weight shifts)."""

    nominal: dict
    weight_shifts: dict
    weight_shift_names: list


def book_histograms(df, config, weight_shift_names=()):
    """Histo1D of the weighted events of every category x variable and, with weight shifts,
    the Histo2D of the same events against the ``weight_shifts`` column."""
    n_shifts = len(weight_shift_names)
    if n_shifts:  # the shift axis; the variable's one value is broadcast along it
        df = df.Define("weight_shift_index", f"ROOT::VecOps::Range({n_shifts})")
    nominal, shifted = {}, {}
    for category in config.categories:
        selected = df.Filter(category_flag(category.name), category.name)
        for variable in config.variables:
            n, low, high = variable.binning
            name, title = f"h_{category.name}_{variable.name}", variable.get_full_x_title()
            key = (category.name, variable.name)
            nominal[key] = selected.Histo1D((name, title, n, low, high), variable.expression, "weight")
            if n_shifts:
                model = (name + "__weight_shifts", title, n, low, high, n_shifts, -0.5, n_shifts - 0.5)
                shifted[key] = selected.Histo2D(model, variable.expression, "weight_shift_index", "weight_shifts")
    return nominal, shifted


def build_graph(df, config, is_mc, norm, btag_efficiency, shifts):
    """Book the histograms of ``shifts`` on ``df`` (the Events of a dataset's skims)."""
    object_sources, weight_sources = sources_for(shifts)
    # prefiltered: weights and histograms only for events that enter a category
    df = define_selection(df, config, is_mc, vary_sources=object_sources, prefilter=True)
    df = define_weights(df, config, is_mc, norm=norm, btag_efficiency=btag_efficiency)
    names = []
    if weight_sources:
        df, names = define_weight_shifts(df, config, btag_efficiency, weight_sources)
    nominal, shifted = book_histograms(df, config, names)
    return Booking(nominal, shifted, names)


def weight_shift_histogram(hist2d, index, entries):
    """TH1D of y bin ``index`` + 1 of a weight-shift TH2D (x flow bins kept), with the
    entry count of the nominal histogram: the same events entered it."""
    hist = hist2d.ProjectionX(f"{hist2d.GetName()}_{index}", index + 1, index + 1, "e")
    hist.SetDirectory(0)
    hist.SetEntries(entries)
    return hist


def collect(booking, shifts, variations_for):
    """{shift: {(category, variable): TH1D}} of ``shifts``, as booked by ``build_graph``
    (running the event loop)."""
    if sources_for(shifts)[0]:
        varied = {key: variations_for(ptr) for key, ptr in booking.nominal.items()}
        nominal = {key: result["nominal"] for key, result in varied.items()}
    else:
        varied, nominal = {}, {key: ptr.GetValue() for key, ptr in booking.nominal.items()}
    results = {}
    for shift in shifts:
        source, _ = split_shift(shift)
        if shift == "nominal":
            results[shift] = nominal
        elif source in OBJECT_SOURCES:
            results[shift] = {key: result[f"{source}:{shift}"] for key, result in varied.items()}
        else:
            index = booking.weight_shift_names.index(shift)
            results[shift] = {
                key: weight_shift_histogram(ptr.GetValue(), index, nominal[key].GetEntries())
                for key, ptr in booking.weight_shifts.items()
            }
    return results


def fold_flow(hist):
    """Under- and overflow added to the first and last bins; the entry count is kept."""
    entries = hist.GetEntries()
    last = hist.GetNbinsX()
    for flow, edge in ((0, 1), (last + 1, last)):
        content = hist.GetBinContent(edge) + hist.GetBinContent(flow)
        error = (hist.GetBinError(edge) ** 2 + hist.GetBinError(flow) ** 2) ** 0.5
        hist.SetBinContent(edge, content)
        hist.SetBinError(edge, error)
        hist.SetBinContent(flow, 0.0)
        hist.SetBinError(flow, 0.0)
    hist.SetEntries(entries)
    return hist


def make_histograms(paths, config, is_mc, norm, btag_efficiency, shifts, client=None, partitions=0, threads=1):
    """{shift: {(category, variable): TH1D}} of the skims ``paths``, in one event loop.

    ``client``: a dask.distributed Client (distributed RDataFrame); None: local RDataFrame
    with ``threads`` implicit-MT threads.
    """
    specs = corrections.correction_specs(config, btag_efficiency if is_mc else None)
    ROOT = corrections.setup(specs)
    if client is not None:
        ROOT.RDF.Distributed.initialize(corrections.setup, specs)
        kwargs = {"executor": client, **({"npartitions": partitions} if partitions else {})}
        df = ROOT.RDataFrame("Events", list(paths), **kwargs)
        variations_for = ROOT.RDF.Distributed.VariationsFor
    else:
        if threads > 1:
            ROOT.EnableImplicitMT(threads)
        df = ROOT.RDataFrame("Events", ROOT.std.vector["std::string"](list(paths)))
        variations_for = ROOT.RDF.Experimental.VariationsFor
    try:
        booking = build_graph(df, config, is_mc, norm, btag_efficiency, shifts)
        # the first result accessed runs the one event loop; Dask's progress bar is silenced
        with contextlib.redirect_stdout(io.StringIO()):
            results = collect(booking, shifts, variations_for)
    except Exception as e:
        raise TmetError(f"histogramming {len(paths)} skim(s) failed: {e}") from e
    finally:
        if client is None and threads > 1:
            ROOT.DisableImplicitMT()
    return {shift: {key: fold_flow(hist) for key, hist in hists.items()} for shift, hists in results.items()}


def write_histograms(path, hists):
    """One ROOT file with a TH1D per ``<category>/<variable>``."""
    from analysis.root_setup import import_root

    ROOT = import_root()
    tfile = ROOT.TFile.Open(path, "RECREATE")
    for (category, variable), hist in sorted(hists.items()):
        directory = tfile.GetDirectory(category) or tfile.mkdir(category)
        directory.cd()
        clone = hist.Clone(variable)
        clone.SetDirectory(directory)
        clone.Write()
    tfile.Close()


def as_arrays(hists):
    """(edges, {name: contents}, {name: variances}) of same-binned TH1s, without flow bins."""
    import numpy as np

    edges, contents, variances = None, {}, {}
    for name, hist in hists.items():
        n = hist.GetNbinsX()
        if edges is None:
            edges = np.array([hist.GetBinLowEdge(i) for i in range(1, n + 2)])
        contents[name] = np.array([hist.GetBinContent(i) for i in range(1, n + 1)])
        variances[name] = np.array([hist.GetBinError(i) ** 2 for i in range(1, n + 1)])
    return edges, contents, variances
