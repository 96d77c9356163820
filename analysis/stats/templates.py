"""The templates Combine sees: per-dataset histograms merged into the datacard's processes.

The input is ``{dataset: {shift name: histogram file}}`` (the Histograms outputs); datasets
are summed into the process they enter the datacard as (``config.processes``), and each
category's templates are named as in the shapes file (``tt``, ``tt_jesUp``, ``data_obs``).
Combine cannot fit a background template with empty or negative bins, so those bins are
floored and every floored bin is reported.
"""

import functools
from dataclasses import dataclass, field

from analysis.errors import TmetError
from analysis.engine.root_setup import import_root
from analysis.physics.inputs_record import SUMW
from analysis.physics.weights import normalisation_values, normalization
from config.processes import present_processes, top_level_process
from config.shifts import RATE, groups, shape_shifts, sources, template_name

# the content (and minimum error) given to empty or negative bins of a background, as Combine users do
BIN_FLOOR = 1e-5
# what a category's data_obs is: the data; the background sum of a blinded signal region
# (its data reach no card, plot, table, fit or limit); the background sum of a config
# without data (an Asimov data set, never an "observed" result)
DATA, BLINDED, ASIMOV = "data", "blinded", "asimov"


@dataclass(frozen=True)
class FlooredBins:
    """Bins (1-based) of one template raised to BIN_FLOOR."""

    category: str
    process: str
    shift: str
    bins: tuple


@dataclass
class Templates:
    """The templates of one variable: ``hists`` {category: {template name: TH1D}}, the
    process names present (config order) and every floored bin."""

    hists: dict
    backgrounds: list
    signals: list
    data: list
    floored: list = field(default_factory=list)

    def observation(self, config, category):
        """What the data_obs of ``category`` is: DATA, BLINDED or ASIMOV."""
        return observation(config, category, self.data)


def observation(config, category, data):
    """What the data_obs of ``category`` is, given the data processes present (``data``)."""
    if not data:
        return ASIMOV
    return BLINDED if category in config.x.blinded_categories else DATA


def read_histograms(path, categories, variables, scale=None):
    """{variable: {category: TH1D}} from a Histograms output (one open per file), detached from
    it; ``scale(sumw)`` gives the factor MC histograms are scaled by (sumw: the file's)."""
    ROOT = import_root()
    tfile = ROOT.TFile.Open(path)
    if not tfile or tfile.IsZombie():
        raise TmetError(f"cannot open histogram file {path}")
    sumw = tfile.Get(SUMW)
    factor = scale(sumw.GetVal()) if sumw and scale else None
    hists = {}
    for variable in variables:
        for category in categories:
            hist = tfile.Get(f"{category}/{variable}")
            if not hist:
                raise TmetError(f"{path} has no histogram {category}/{variable}")
            hist.SetDirectory(ROOT.nullptr)
            if factor is not None:
                hist.Scale(factor)
            hists.setdefault(variable, {})[category] = hist
    tfile.Close()
    return hists


def merged_histograms(config, histogram_files, variables):
    """{variable: {process: {shift name: {category: TH1D}}}}: the histograms of ``variables``,
    each MC dataset's normalised to lumi * xsec / sumw, summed over the datasets of each process."""
    ROOT = import_root()
    categories = config.categories.names()
    merged = {variable: {} for variable in variables}
    for dataset, files in histogram_files.items():
        dataset_inst = config.get_dataset(dataset)
        process = top_level_process(config, dataset_inst).name
        scale = None if dataset_inst.is_data else functools.partial(normalization, config, dataset_inst)
        for shift, path in files.items():
            for variable, hists in read_histograms(path, categories, variables, scale).items():
                into = merged[variable].setdefault(process, {}).setdefault(shift, {})
                for category, hist in hists.items():
                    if category in into:
                        into[category].Add(hist)
                    else:
                        into[category] = hist.Clone()
                        into[category].SetDirectory(ROOT.nullptr)
    return merged


def floor_bins(hist):
    """Raise empty or negative bins to BIN_FLOOR; returns the bins changed."""
    changed = []
    for i in range(1, hist.GetNbinsX() + 1):
        if not hist.GetBinContent(i) > 0:
            changed.append(i)
            hist.SetBinContent(i, BIN_FLOOR)
            hist.SetBinError(i, max(hist.GetBinError(i), BIN_FLOOR))
    return changed


def category_templates(config, merged, category, processes):
    """({template name: TH1D}, [FlooredBins]) of one category, from one variable's ``merged``.

    Backgrounds' empty or negative bins are floored; a signal's negative bins become 0;
    data_obs is the data sum, or the background sum where the category is blinded.
    """
    backgrounds, signals, data = processes
    shifts = [config.get_shift("nominal")] + shape_shifts(config)
    templates, floored = {}, []
    for process in backgrounds + signals:
        for shift in shifts:
            name = template_name(process, shift)
            hist = merged[process][shift.name][category].Clone(name)
            if process in backgrounds:
                bins = floor_bins(hist)
                if bins:
                    floored.append(FlooredBins(category, process, shift.name, tuple(bins)))
            else:
                for i in range(hist.GetNbinsX() + 2):
                    hist.SetBinContent(i, max(hist.GetBinContent(i), 0.0))
            templates[name] = hist
    observed_from = data if observation(config, category, data) == DATA else backgrounds
    observed = None
    for process in observed_from:
        hist = templates[process] if process in templates else merged[process]["nominal"][category]
        if observed is None:
            observed = hist.Clone("data_obs")
        else:
            observed.Add(hist)
    templates["data_obs"] = observed
    return templates, floored


def templates_of(config, histogram_files, variables):
    """{variable: Templates} of every category, from the Histograms outputs ``histogram_files``."""
    processes = present_processes(config, histogram_files)
    merged = merged_histograms(config, histogram_files, variables)
    result = {}
    for variable in variables:
        templates = Templates({}, *processes)
        for category in config.categories.names():
            templates.hists[category], floored = category_templates(config, merged[variable], category, processes)
            templates.floored += floored
        result[variable] = templates
    return result


def fit_templates(config, histogram_files):
    """The Templates of the config's fit variable (what the cards and yields are made of)."""
    variable = config.x.fit_variable
    return templates_of(config, histogram_files, [variable])[variable]


def used_config(config, datasets):
    """The config values the templates of ``datasets`` (names) depend on: how datasets enter
    processes and are normalised, the rate shifts, and what the cards are made of."""
    datasets = [config.get_dataset(name) for name in datasets]
    return {
        "processes": {d.name: top_level_process(config, d).name for d in datasets},
        "normalisation": {d.name: normalisation_values(config, d) for d in datasets if not d.is_data},
        "rate_shifts": {s.source: s.x.lnn for s in sources(config, RATE)},
        "groups": groups(config),
        "templates": {"categories": config.categories.names(), "shifts": [s.name for s in shape_shifts(config)],
                      "blinded": config.x.blinded_categories, "fit_variable": config.x.fit_variable,
                      "signal_mode": config.x.datacard_signal_mode},
    }
