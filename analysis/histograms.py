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
from analysis.dask_client import connected
from analysis.errors import TmetError
from analysis.inputs import count_entries, empty_copies
from analysis.selection import KERNELS, define_selection
from analysis.skim import SUMW, event_filters
from analysis.weights import define_weight_shifts, define_weights
from config.shifts import OBJECT, WEIGHT, shape_shifts, sources


def used_config(config, dataset):
    """The config values the histograms of ``dataset`` depend on (not the luminosity or the
    cross section: the templates apply them)."""
    return {
        "objects": config.x.objects,
        "filters": event_filters(config, dataset.is_data),
        "categories": [(c.name, c.x.cuts) for c in config.categories],
        "variables": [(v.name, v.expression, v.binning) for v in config.variables],
        "shifts": [(s.name, s.tags, s.aux) for s in shape_shifts(config)],
        "corrections": {} if dataset.is_data else corrections.used_corrections(config),
    }


def varied_sources(config, shifts):
    """The object sources (their up shifts) the graph must ``Vary`` to make ``shifts``."""
    wanted = {shift.source for shift in shifts if shift.has_tag(OBJECT)}
    return [source for source in sources(config, OBJECT) if source.source in wanted]


def universe(shift):
    """RDataFrame's key of the results of an object shift: its ``Vary``'s name (the source)
    and tag (the shift's own name)."""
    return f"{shift.source}:{shift.name}"


@dataclass
class Booking:
    """Booked results of one graph, each filled along a category axis (y bin k + 1 is
    category k, in config order): ``nominal`` {variable: Histo2D} and ``entries``, the
    Histo1D of events per category (both varied by the object shifts); with weight shifts,
    ``weight_shifts`` {variable: Histo2D} whose y bin k * n + i + 1 is category k under
    the weight shift ``weight_shift_list[i]`` (n shifts)."""

    categories: list
    nominal: dict
    entries: object
    weight_shifts: dict
    weight_shift_list: list


def book_histograms(df, config, weight_shift_list=()):
    """Book every category x variable histogram on ``df`` (events in some category): one
    Histo2D per variable against ``category_index`` and, with weight shifts, one against
    the (category, shift) bins. Per event, RDataFrame runs every booked action and every
    node in every universe, so a handful of actions filled with RVecs costs less than a
    Histo1D per category, variable and shift."""
    categories = [category.name for category in config.categories]
    n_cat, n_shifts = len(categories), len(weight_shift_list)
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
    return Booking(categories, nominal, entries, shifted, list(weight_shift_list))


def build_graph(df, config, is_data, norm, btag_efficiency, shifts):
    """Book the histograms of ``shifts`` (order shifts) on ``df`` (the Events of a dataset's skims)."""
    # prefiltered: weights and histograms only for events that enter a category
    df = define_selection(df, config, is_data, varied=varied_sources(config, shifts), prefilter=True)
    df = define_weights(df, config, is_data, norm=norm, btag_efficiency=btag_efficiency)
    weight_shift_list = []
    if any(shift.has_tag(WEIGHT) for shift in shifts):
        df, weight_shift_list = define_weight_shifts(df, config, shifts)
    return book_histograms(df, config, weight_shift_list)


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
    n_shifts = len(booking.weight_shift_list)
    out = {}
    for k, category in enumerate(booking.categories):
        ybin = k + 1 if shift_index is None else k * n_shifts + shift_index + 1
        for variable, hist2d in hists2d.items():
            name = f"h_{category}_{variable}" + ("" if shift_index is None else f"__{booking.weight_shift_list[shift_index].name}")
            out[(category, variable)] = category_histogram(hist2d, ybin, name, entries.GetBinContent(k + 1))
    return out


def collect(booking, shifts, variations_for):
    """{shift name: {(category, variable): TH1D}} of ``shifts``, as booked by ``build_graph``
    (running the event loop)."""
    if any(shift.has_tag(OBJECT) for shift in shifts):
        varied = {variable: variations_for(ptr) for variable, ptr in booking.nominal.items()}
        varied_entries = variations_for(booking.entries)

        def results_of(key):
            return {variable: result[key] for variable, result in varied.items()}, varied_entries[key]
    else:
        def results_of(key):
            return {variable: ptr.GetValue() for variable, ptr in booking.nominal.items()}, booking.entries.GetValue()
    nominal_entries = results_of("nominal")[1]
    weight_shifted = {variable: ptr.GetValue() for variable, ptr in booking.weight_shifts.items()}
    results = {}
    for shift in shifts:
        if shift.is_nominal:
            results[shift.name] = _split(booking, *results_of("nominal"))
        elif shift.has_tag(OBJECT):
            results[shift.name] = _split(booking, *results_of(universe(shift)))
        else:
            results[shift.name] = _split(booking, weight_shifted, nominal_entries,
                                         booking.weight_shift_list.index(shift))
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


def make_histograms(paths, config, is_data, norm, btag_efficiency, shifts, client=None, partitions=0, threads=1):
    """{shift name: {(category, variable): TH1D}} of the skims ``paths`` under ``shifts``
    (order shifts), in one event loop.

    ``client``: a dask.distributed Client (distributed RDataFrame); None: local RDataFrame
    with ``threads`` implicit-MT threads.
    """
    specs = corrections.correction_specs(config, None if is_data else btag_efficiency)
    ROOT = corrections.setup(specs, KERNELS)
    if client is not None and not count_entries(paths):
        client = None  # nothing to distribute (distributed RDataFrame refuses empty inputs)
    if client is not None:
        ROOT.RDF.Distributed.initialize(corrections.setup, specs, KERNELS)
        kwargs = {"executor": client, **({"npartitions": partitions} if partitions else {})}
        df = ROOT.RDataFrame("Events", list(paths), **kwargs)
        variations_for = ROOT.RDF.Distributed.VariationsFor
    else:
        if threads > 1:
            ROOT.EnableImplicitMT(threads)
        df = ROOT.RDataFrame("Events", ROOT.std.vector["std::string"](list(paths)))
        variations_for = ROOT.RDF.Experimental.VariationsFor
    try:
        booking = build_graph(df, config, is_data, norm, btag_efficiency, shifts)
        # the first result accessed runs the one event loop; Dask's progress bar is silenced
        with contextlib.redirect_stdout(io.StringIO()):
            results = collect(booking, shifts, variations_for)
    except Exception as e:
        raise TmetError(f"histogramming {len(paths)} skim(s) failed: {e}") from e
    finally:
        if client is None and threads > 1:
            ROOT.DisableImplicitMT()
    return {shift: {key: fold_flow(hist) for key, hist in hists.items()} for shift, hists in results.items()}


def warm_up(directory, paths, config, is_data, btag_efficiency, shifts):
    """Compile in this process what make_histograms of ``paths`` runs (on an empty copy of one)."""
    make_histograms(empty_copies(paths[:1], directory), config, is_data, 1.0, btag_efficiency, shifts)


def fill_histograms(output_paths, paths, config, is_data, sumw, btag_efficiency, shifts, scheduler=None,
                    worker_wait=60.0, partitions=0, threads=1):
    """Write the histograms of ``shifts`` of the skims ``paths`` to ``output_paths`` ({shift
    name: path}): weighted without lumi * xsec / sumw, which the templates apply (sumw is
    written with them). ``scheduler``: the address of a Dask scheduler (distributed
    RDataFrame); None: local RDataFrame with ``threads`` threads."""
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(connected(scheduler, worker_wait)) if scheduler else None
        hists = make_histograms(paths, config, is_data, 1.0, btag_efficiency, shifts, client=client,
                                partitions=partitions, threads=threads)
    for shift in shifts:
        write_histograms(output_paths[shift.name], hists[shift.name], sumw)


def write_histograms(path, hists, sumw=None):
    """One ROOT file with a TH1D per ``<category>/<variable>`` and, for MC, the sum of
    generator weights ``sumw`` that normalises them (``SUMW``; the templates apply
    lumi * xsec / sumw, so that a cross section or luminosity does not remake them)."""
    from analysis.root_setup import import_root

    ROOT = import_root()
    tfile = ROOT.TFile.Open(path, "RECREATE")
    if sumw is not None:
        ROOT.TParameter["double"](SUMW, sumw).Write()
    for (category, variable), hist in sorted(hists.items()):
        directory = tfile.GetDirectory(category) or tfile.mkdir(category)
        directory.cd()
        clone = hist.Clone(variable)
        clone.SetDirectory(directory)
        clone.Write()
    tfile.Close()
