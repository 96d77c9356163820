"""The figures of the Plots task, from the templates Combine sees (``analysis.stats.templates``).

Per category and variable a stack (backgrounds, signals, data or blinded, the background
uncertainty band) and, for the fit variable, an up/nominal/down plot of the total
background per shape source. The stacks are drawn from the floored templates, so that
they add up to the yield table.
"""

import os

import numpy as np

from analysis.stats import plots, templates
from analysis.stats.templates import BLINDED, DATA
from config.shifts import RATE, sources, template_name, up_and_down

# what a stack says where it shows no data
NOTES = {BLINDED: "Data blinded (signal region)", templates.ASIMOV: "No data: Asimov (background sum)"}


def used_config(config, datasets, variables):
    """The config values the figures of ``variables`` depend on: the templates' and how they are drawn."""
    return {**templates.used_config(config, datasets),
            "figures": {"variables": [(v.name, v.x_title, v.unit, v.binning) for v in variables],
                        "processes": {p.name: (p.label, p.color) for p, _, _ in config.walk_processes()},
                        "luminosity": config.x.luminosity.nominal}}


def as_arrays(hists):
    """(edges, {name: contents}, {name: variances}) of same-binned TH1s, without flow bins."""
    edges, contents, variances = None, {}, {}
    for name, hist in hists.items():
        n = hist.GetNbinsX()
        if edges is None:
            edges = np.array([hist.GetBinLowEdge(i) for i in range(1, n + 2)])
        contents[name] = np.array([hist.GetBinContent(i) for i in range(1, n + 1)])
        variances[name] = np.array([hist.GetBinError(i) ** 2 for i in range(1, n + 1)])
    return edges, contents, variances


def shifted_totals(config, values, backgrounds):
    """{shape source: (up, down)} totals of the backgrounds under each shape source."""
    return {source.source: tuple(sum(values[template_name(p, shift)] for p in backgrounds)
                                 for shift in up_and_down(config, source.source))
            for source in sources(config)}


def background_band(config, values, variances, backgrounds):
    """(down, up) absolute uncertainty per bin of the background sum: MC statistics, every
    shape source and every rate shift (``plots.total_uncertainty``). A rate shift is one
    nuisance, so the changes it gives its processes add up linearly: its relative
    uncertainty on their sum is their yield-weighted mean."""
    total = sum(values[p] for p in backgrounds)
    lnn = []
    for source in sources(config, RATE):
        affected = [p for p in backgrounds if p in source.x.lnn]
        if not affected:
            continue
        yields = sum(values[p] for p in affected)
        safe = np.where(yields > 0, yields, 1.0)
        relative = [sum(source.x.lnn[p][i] * values[p] for p in affected) / safe for i in (0, 1)]
        lnn.append((*relative, yields))
    return plots.total_uncertainty(total, sum(variances[p] for p in backgrounds),
                                   shifted_totals(config, values, backgrounds), lnn)


def draw_figures(config, templates, variables, directory):
    """Draw every figure of ``variables`` (order variables; {name: Templates} in
    ``templates``) into ``directory``; returns ({"<category>/<name>": path without
    extension}, {"stacks": {category: {variable: stacked total per bin}}, "data": {category:
    {variable: the data drawn per bin, or None (blinded, or no data)}}}), what the stacks show."""
    lumi_fb = config.x.luminosity.nominal / 1000.0
    figures, totals = {}, {"stacks": {}, "data": {}}
    for variable in variables:
        t = templates[variable.name]
        for category in config.categories.names():
            edges, values, variances = as_arrays(t.hists[category])
            band = background_band(config, values, variances, t.backgrounds)
            observation = t.observation(config, category)
            data = values["data_obs"] if observation == DATA else None
            base = os.path.join(directory, f"{category}__{variable.name}")
            stacked = plots.plot_stack(
                base, edges,
                [(config.get_process(p).label, config.get_process(p).color, values[p]) for p in t.backgrounds],
                [(config.get_process(p).label, None, values[p]) for p in t.signals],
                data, band, variable.x_title, category, lumi_fb, unit=variable.unit, note=NOTES.get(observation),
            )
            figures[f"{category}/{variable.name}"] = base
            totals["stacks"].setdefault(category, {})[variable.name] = [float(v) for v in stacked]
            totals["data"].setdefault(category, {})[variable.name] = None if data is None else [float(v) for v in data]
            if variable.name != config.x.fit_variable:
                continue
            total = sum(values[p] for p in t.backgrounds)
            for source, (up, down) in shifted_totals(config, values, t.backgrounds).items():
                base = os.path.join(directory, f"{category}__shift_{source}")
                plots.plot_shift(base, edges, total, up, down, source, variable.x_title, category, lumi_fb,
                                 unit=variable.unit)
                figures[f"{category}/shift_{source}"] = base
    return figures, totals
