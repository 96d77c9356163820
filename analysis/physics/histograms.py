"""Histograms of every category x variable under every requested shift, in one pass.

The graph is built by plain functions (objects -> selection -> weights -> histograms) on a
compiled graph (analysis.engine.compiled), which runs here (threads) or on Dask workers (entry
ranges). Object shifts are ``Vary``s of jets and MET before the selection, asked for under
every universe; weight shifts keep the nominal selection, so they are the entries of one
``weight_shifts`` column, filled along a (category, shift) axis. Either way a dataset is
read once for all its shifts. Every histogram is a row of one 2D histogram per variable,
split into one per category (and shift) after the event loop.
"""

from dataclasses import dataclass

from analysis.engine import corrections
from analysis.engine.compiled import NOMINAL, Graph, Histogram
from analysis.physics.selection import KERNELS, define_selection
from analysis.physics.checks import category_cuts
from analysis.physics.inputs_record import SUMW
from analysis.physics.skim import event_filters
from analysis.physics.weights import define_weight_shifts, define_weights
from config.shifts import OBJECT, WEIGHT, shape_shifts, sources


def used_config(config, dataset):
    """The config values the histograms of ``dataset`` depend on (not the luminosity or the
    cross section: the templates apply them)."""
    return {
        "objects": config.x.objects,
        "top_tag": config.x.top_tagger["working_point"],
        "filters": event_filters(config, dataset.is_data),
        "categories": [(c.name, category_cuts(c)) for c in config.categories],
        "variables": [(v.name, v.expression, v.binning) for v in config.variables],
        # a source's group is for the cards only
        "shifts": [(s.name, s.tags, {k: v for k, v in s.aux.items() if k != "group"}) for s in shape_shifts(config)],
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
    the (category, shift) bins: a handful of fills with containers per event instead of a
    histogram per category, variable and shift."""
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


def build_graph(df, config, is_data, btag_efficiency, shifts):
    """Book the histograms of ``shifts`` (order shifts) on ``df`` (the Events of a dataset's skims),
    weighted without lumi * xsec / sumw: one graph, and one compiled library, serves every
    dataset of a kind, and the templates apply the normalisation."""
    # prefiltered: weights and histograms only for events that enter a category
    df = define_selection(df, config, is_data, varied=varied_sources(config, shifts), prefilter=True)
    df = define_weights(df, config, is_data, btag_efficiency=btag_efficiency)
    weight_shift_list = []
    if any(shift.has_tag(WEIGHT) for shift in shifts):
        df, weight_shift_list = define_weight_shifts(df, config, shifts)
    return book_histograms(df, config, weight_shift_list)


def _split(booking, hists2d, entries, shift_index=None):
    """{(category, variable): Histogram} of one universe's Histo2Ds (``shift_index``: the
    weight shift of weight-shift Histo2Ds); each category's entries are its events."""
    n_shifts = len(booking.weight_shift_list)
    out = {}
    for k, category in enumerate(booking.categories):
        row = k + 1 if shift_index is None else k * n_shifts + shift_index + 1
        for variable, hist2d in hists2d.items():
            out[(category, variable)] = Histogram(hist2d.x, hist2d.contents[row].copy(), hist2d.variances[row].copy(),
                                                  float(entries.contents[k + 1]))
    return out


def collect(graph, booking, shifts):
    """{shift name: {(category, variable): Histogram}} of ``shifts``, as booked by
    ``build_graph`` on ``graph`` (which has run)."""
    def results_of(universe_key):
        return ({variable: result.value(universe_key) for variable, result in booking.nominal.items()},
                booking.entries.value(universe_key))

    nominal_entries = results_of(NOMINAL)[1]
    weight_shifted = {variable: result.value() for variable, result in booking.weight_shifts.items()}
    results = {}
    for shift in shifts:
        if shift.is_nominal:
            results[shift.name] = _split(booking, *results_of(NOMINAL))
        elif shift.has_tag(OBJECT):
            results[shift.name] = _split(booking, *results_of(universe(shift)))
        else:
            results[shift.name] = _split(booking, weight_shifted, nominal_entries,
                                         booking.weight_shift_list.index(shift))
    return results


def fold_flow(hist):
    """``hist`` with under- and overflow added to the first and last bins (contents and
    variances); the entries are kept."""
    contents, variances = hist.contents.copy(), hist.variances.copy()
    for values in (contents, variances):
        values[1] += values[0]
        values[-2] += values[-1]
        values[0] = values[-1] = 0.0
    return Histogram(hist.x, contents, variances, hist.entries)


def make_histograms(paths, config, is_data, btag_efficiency, shifts, client=None, partitions=0, threads=1):
    """{shift name: {(category, variable): Histogram}} of the skims ``paths`` under ``shifts``
    (order shifts), in one event loop of the compiled graph; not normalised (see build_graph).

    ``client``: a dask.distributed Client (the graph runs on its workers in ``partitions``
    entry ranges, 0: one per worker thread); None: here, with ``threads`` threads.
    """
    specs = corrections.correction_specs(config, None if is_data else btag_efficiency)
    graph = Graph(specs, KERNELS, f"histograms of config {config.name} ({'data' if is_data else 'MC'})")
    booking = build_graph(graph.frame(), config, is_data, btag_efficiency, shifts)
    if any(shift.has_tag(OBJECT) for shift in shifts):
        for result in [*booking.nominal.values(), booking.entries]:
            graph.vary(result)
    graph.run(paths, threads=threads, client=client, partitions=partitions)
    results = collect(graph, booking, shifts)
    return {shift: {key: fold_flow(hist) for key, hist in hists.items()} for shift, hists in results.items()}


def fill_histograms(output_paths, paths, config, is_data, sums, btag_efficiency, shifts, client=None,
                    partitions=0, threads=1):
    """Write the histograms of ``shifts`` of the skims ``paths`` to ``output_paths`` ({shift
    name: path}): weighted without lumi * xsec / sumw, which the templates apply (each with the
    sum of its shift, of the WeightSums ``sums``, None for data). ``client``: a Dask client
    (see make_histograms)."""
    hists = make_histograms(paths, config, is_data, btag_efficiency, shifts, client=client,
                            partitions=partitions, threads=threads)
    for shift in shifts:
        write_histograms(output_paths[shift.name], hists[shift.name], None if sums is None else sums.of(shift))


def write_histograms(path, hists, sumw=None):
    """One ROOT file with a TH1D per ``<category>/<variable>`` and, for MC, the sum of
    generator weights ``sumw`` that normalises them (``SUMW``; the templates apply
    lumi * xsec / sumw, so that a cross section or luminosity does not remake them; a
    generator-weight variation's own sum, analysis.physics.inputs_record.WeightSums.of)."""
    from analysis.engine.root_setup import import_root

    ROOT = import_root()
    tfile = ROOT.TFile.Open(path, "RECREATE")
    if sumw is not None:
        ROOT.TParameter["double"](SUMW, sumw).Write()
    for (category, variable), hist in sorted(hists.items()):
        directory = tfile.GetDirectory(category) or tfile.mkdir(category)
        directory.cd()
        th1 = ROOT.TH1D(variable, variable, hist.x.n, hist.x.low, hist.x.high)
        th1.Sumw2()
        th1.SetContent(hist.contents)
        th1.GetSumw2().Set(len(hist.variances), hist.variances)
        th1.SetEntries(hist.entries)
        th1.SetDirectory(directory)
        th1.Write()
    tfile.Close()
