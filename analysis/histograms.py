"""Histograms of every category x variable under every requested shift, in one pass.

The graph is built by plain functions (objects -> selection -> weights -> histograms) and
runs unchanged on a local RDataFrame (implicit multithreading) or a distributed one on
Dask. Object shifts are ``Vary``s of jets and MET before the selection, booked with
``VariationsFor``; weight shifts keep the nominal selection, so they are the entries of
one ``weight_shifts`` column, filled along a (category, shift) axis (a ``Vary`` per weight
source would cost one varied fill per histogram and shift). Either way a dataset is read
once for all its shifts. Every histogram is a bin range of one TH2D per variable, split
into a TH1D per category (and shift) after the event loop.
"""

import contextlib
import io
from dataclasses import dataclass

from analysis import corrections
from analysis.errors import TmetError
from analysis.selection import OBJECT_SOURCES, define_selection, split_shift
from analysis.weights import WEIGHT_SOURCES, define_weight_shifts, define_weights


def sources_for(shifts):
    """(object sources, weight sources) the graph must book to make ``shifts``."""
    sources = {split_shift(shift)[0] for shift in shifts} - {None}
    return [s for s in OBJECT_SOURCES if s in sources], [s for s in WEIGHT_SOURCES if s in sources]


@dataclass
class Booking:
    """Booked results of one graph, each filled along a category axis (y bin k + 1 is
    category k, in config order): ``nominal`` {variable: Histo2D} and ``entries``, the
    Histo1D of events per category (both varied by the object shifts); with weight shifts,
    ``weight_shifts`` {variable: Histo2D} whose y bin k * n + i + 1 is category k under
    shift ``weight_shift_names[i]`` (n shifts)."""

    categories: list
    nominal: dict
    entries: object
    weight_shifts: dict
    weight_shift_names: list


def book_histograms(df, config, weight_shift_names=()):
    """Book every category x variable histogram on ``df`` (events in some category): one
    Histo2D per variable against ``category_index`` and, with weight shifts, one against
    the (category, shift) bins. Per event, RDataFrame runs every booked action and every
    node in every universe, so a handful of actions filled with RVecs costs less than a
    Histo1D per category, variable and shift."""
    categories = [category.name for category in config.categories]
    n_cat, n_shifts = len(categories), len(weight_shift_names)
    category_axis = (n_cat, -0.5, n_cat - 0.5)
    entries = df.Histo1D(("category_entries", "events per category", *category_axis), "category_index")
    if n_shifts:
        df = (df.Define("weight_shift_bin", f"tmet::category_shift_bins(category_index, {n_shifts})")
              .Define("weight_shift_weight", "tmet::repeat_weights(weight_shifts, category_index.size())"))
    nominal, shifted = {}, {}
    for variable in config.variables:
        n, low, high = variable.binning
        name, title = f"h_{variable.name}", variable.get_full_x_title()
        nominal[variable.name] = df.Histo2D((name, title, n, low, high, *category_axis),
                                            variable.expression, "category_index", "weight")
        if n_shifts:
            model = (name + "__weight_shifts", title, n, low, high, n_cat * n_shifts, -0.5, n_cat * n_shifts - 0.5)
            shifted[variable.name] = df.Histo2D(model, variable.expression, "weight_shift_bin", "weight_shift_weight")
    return Booking(categories, nominal, entries, shifted, list(weight_shift_names))


def build_graph(df, config, is_mc, norm, btag_efficiency, shifts):
    """Book the histograms of ``shifts`` on ``df`` (the Events of a dataset's skims)."""
    object_sources, weight_sources = sources_for(shifts)
    # prefiltered: weights and histograms only for events that enter a category
    df = define_selection(df, config, is_mc, vary_sources=object_sources, prefilter=True)
    df = define_weights(df, config, is_mc, norm=norm, btag_efficiency=btag_efficiency)
    names = []
    if weight_sources:
        df, names = define_weight_shifts(df, config, btag_efficiency, weight_sources)
    return book_histograms(df, config, names)


def category_histogram(hist2d, ybin, name, entries):
    """TH1D of y bin ``ybin`` of ``hist2d`` (x flow bins kept) with the entry count
    ``entries``, the number of events that entered that bin's category."""
    hist = hist2d.ProjectionX(name, ybin, ybin, "e")
    hist.SetDirectory(0)
    hist.SetEntries(entries)
    return hist


def _split(booking, hists2d, entries, shift_index=None):
    """{(category, variable): TH1D} of one universe's Histo2Ds (``shift_index``: the weight
    shift of weight-shift Histo2Ds)."""
    n_shifts = len(booking.weight_shift_names)
    out = {}
    for k, category in enumerate(booking.categories):
        ybin = k + 1 if shift_index is None else k * n_shifts + shift_index + 1
        for variable, hist2d in hists2d.items():
            name = f"h_{category}_{variable}" + ("" if shift_index is None else f"__{booking.weight_shift_names[shift_index]}")
            out[(category, variable)] = category_histogram(hist2d, ybin, name, entries.GetBinContent(k + 1))
    return out


def collect(booking, shifts, variations_for):
    """{shift: {(category, variable): TH1D}} of ``shifts``, as booked by ``build_graph``
    (running the event loop)."""
    if sources_for(shifts)[0]:
        varied = {variable: variations_for(ptr) for variable, ptr in booking.nominal.items()}
        varied_entries = variations_for(booking.entries)

        def universe(key):
            return {variable: result[key] for variable, result in varied.items()}, varied_entries[key]
    else:
        def universe(key):
            return {variable: ptr.GetValue() for variable, ptr in booking.nominal.items()}, booking.entries.GetValue()
    nominal_entries = universe("nominal")[1]
    weight_shifted = {variable: ptr.GetValue() for variable, ptr in booking.weight_shifts.items()}
    results = {}
    for shift in shifts:
        source, _ = split_shift(shift)
        if shift == "nominal":
            results[shift] = _split(booking, *universe("nominal"))
        elif source in OBJECT_SOURCES:
            results[shift] = _split(booking, *universe(f"{source}:{shift}"))
        else:
            results[shift] = _split(booking, weight_shifted, nominal_entries, booking.weight_shift_names.index(shift))
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
