"""Histograms of every category x variable under every requested shift, in one pass.

The graph is built by plain functions (objects -> selection -> weights -> Histo1D) and
runs unchanged on a local RDataFrame (implicit multithreading) or a distributed one on
Dask. Object shifts are ``Vary``s of the objects before the selection, weight shifts
``Vary``s of the weight after it, and ``VariationsFor`` books every shift on the same
event loop, so a dataset is read once for all its shifts.
"""

import contextlib
import io

from analysis import corrections
from analysis.errors import TmetError
from analysis.selection import OBJECT_SOURCES, category_flag, define_selection, split_shift
from analysis.weights import WEIGHT_SOURCES, define_weights


def sources_for(shifts):
    """(object sources, weight sources) that ``Vary`` must book to make ``shifts``."""
    sources = {split_shift(shift)[0] for shift in shifts} - {None}
    return [s for s in OBJECT_SOURCES if s in sources], [s for s in WEIGHT_SOURCES if s in sources]


def book_histograms(df, config):
    """{(category, variable): Histo1D result} of the weighted events of every category."""
    booked = {}
    for category in config.categories:
        selected = df.Filter(category_flag(category.name), category.name)
        for variable in config.variables:
            n, low, high = variable.binning
            model = ("h_" + category.name + "_" + variable.name, variable.get_full_x_title(), n, low, high)
            booked[(category.name, variable.name)] = selected.Histo1D(model, variable.expression, "weight")
    return booked


def build_graph(df, config, is_mc, norm, btag_efficiency, shifts):
    """Book the histograms of ``shifts`` on ``df`` (the Events of a dataset's skims)."""
    object_sources, weight_sources = sources_for(shifts)
    # prefiltered: weights and histograms only for events that enter a category
    df = define_selection(df, config, is_mc, vary_sources=object_sources, prefilter=True)
    df = define_weights(df, config, is_mc, norm=norm, btag_efficiency=btag_efficiency, vary_sources=weight_sources)
    return book_histograms(df, config)


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
        booked = build_graph(df, config, is_mc, norm, btag_efficiency, shifts)
        # the first result accessed runs the one event loop; Dask's progress bar is silenced
        with contextlib.redirect_stdout(io.StringIO()):
            if shifts == ["nominal"]:
                results = {"nominal": {key: ptr.GetValue() for key, ptr in booked.items()}}
            else:
                varied = {key: variations_for(ptr) for key, ptr in booked.items()}
                results = {
                    shift: {key: result[variation_key(shift)] for key, result in varied.items()} for shift in shifts
                }
    except Exception as e:
        raise TmetError(f"histogramming {len(paths)} skim(s) failed: {e}") from e
    finally:
        if client is None and threads > 1:
            ROOT.DisableImplicitMT()
    return {shift: {key: fold_flow(hist) for key, hist in hists.items()} for shift, hists in results.items()}


def variation_key(shift):
    """Key of ``shift`` in a VariationsFor result: ``<source>:<shift name>``, or ``nominal``."""
    return "nominal" if shift == "nominal" else f"{split_shift(shift)[0]}:{shift}"


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
