"""The yield table: per category and process, the yield of its datacard template with every
uncertainty as a named ``scinum.Number`` uncertainty; the data where a category shows them
(none in a blinded category or a config without data)."""

import math

from scinum import Number

from analysis.stats.templates import DATA
from config.shifts import RATE, sources, template_name, up_and_down


def integral_error(hist):
    """Statistical uncertainty of a histogram's integral over its bins."""
    return math.sqrt(sum(hist.GetBinError(i) ** 2 for i in range(1, hist.GetNbinsX() + 1)))


def yields_table(config, templates):
    """({category: {process: Number}}, {category: what its data_obs is}) from the fit
    variable's Templates.

    Uncertainties: ``stat`` (MC bin errors), one per shape source (the larger deviation
    towards each side, as a plot band does) and one per rate shift; data_obs, only where
    its observation is data, carries its Poisson error.
    """
    shape = sources(config)
    rate = sources(config, RATE)
    table = {}
    for category, hists in templates.hists.items():
        row = {}
        for process in templates.backgrounds + templates.signals:
            value = hists[process].Integral()
            uncertainties = {"stat": integral_error(hists[process])}
            for source in shape:
                up, down = (hists[template_name(process, shift)].Integral() - value
                            for shift in up_and_down(config, source.source))
                uncertainties[source.source] = (max(up, down, 0.0), max(-up, -down, 0.0))
            for source in rate:
                if process in source.x.lnn:
                    rel_up, rel_down = source.x.lnn[process]
                    uncertainties[source.source] = (rel_up * value, rel_down * value)
            row[process] = Number(value, uncertainties)
        if templates.observation(config, category) == DATA:
            observed = hists["data_obs"].Integral()
            row["data_obs"] = Number(observed, {"stat": math.sqrt(max(observed, 0.0))})
        table[category] = row
    return table, {category: templates.observation(config, category) for category in templates.hists}


def yields_markdown(table, observations):
    """The table as Markdown: a row per process (data first), a column per category, each
    cell ``nominal ± stat (stat) ± syst (syst)`` (systematics added in quadrature); the data
    cell of a category without data says what it is instead (``observations``)."""
    categories = list(table)
    processes = ["data_obs"] + [p for p in next(iter(table.values())) if p != "data_obs"] if table else []

    def cell(number, category):
        if number is None:
            return observations[category]
        stat = number.u("stat")[0]
        syst = (sum(max(u) ** 2 for name, u in number.uncertainties.items() if name != "stat")) ** 0.5
        return f"{number.nominal:.2f} ± {stat:.2f} (stat) ± {syst:.2f} (syst)"

    lines = ["| process | " + " | ".join(categories) + " |", "|---" * (len(categories) + 1) + "|"]
    lines += [f"| {p} | " + " | ".join(cell(table[c].get(p), c) for c in categories) + " |" for p in processes]
    return "\n".join(lines) + "\n"


def yields_json(table, observations):
    """The table as plain data: {category: {process: {"nominal", "uncertainties": {name: [up,
    down]}}}}, and data_obs, where a category shows no data, {"nominal": null, "observation":
    "blinded" or "asimov"}."""
    return {category: {**{process: {"nominal": n.nominal, "uncertainties": {k: list(v) for k, v in n.uncertainties.items()}}
                          for process, n in row.items()},
                       **({} if "data_obs" in row else {"data_obs": {"nominal": None,
                                                                     "observation": observations[category]}})}
            for category, row in table.items()}
