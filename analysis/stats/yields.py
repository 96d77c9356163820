"""The yield table: per category and process, the yield of its datacard template with every
uncertainty as a named ``scinum.Number`` uncertainty."""

import math

from scinum import Number

from config.shifts import RATE, sources, template_name, up_and_down


def integral_error(hist):
    """Statistical uncertainty of a histogram's integral over its bins."""
    return math.sqrt(sum(hist.GetBinError(i) ** 2 for i in range(1, hist.GetNbinsX() + 1)))


def yields_table(config, templates):
    """{category: {process: Number}} from the fit variable's Templates.

    Uncertainties: ``stat`` (MC bin errors), one per shape source (the larger deviation
    towards each side, as a plot band does) and one per rate shift; data_obs carries its
    Poisson error.
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
        observed = hists["data_obs"].Integral()
        row["data_obs"] = Number(observed, {"stat": math.sqrt(max(observed, 0.0))})
        table[category] = row
    return table


def yields_markdown(table):
    """The table as Markdown: a row per process (data first), a column per category, each
    cell ``nominal ± stat (stat) ± syst (syst)`` (systematics added in quadrature)."""
    categories = list(table)
    processes = ["data_obs"] + [p for p in next(iter(table.values())) if p != "data_obs"] if table else []

    def cell(number):
        stat = number.u("stat")[0]
        syst = (sum(max(u) ** 2 for name, u in number.uncertainties.items() if name != "stat")) ** 0.5
        return f"{number.nominal:.2f} ± {stat:.2f} (stat) ± {syst:.2f} (syst)"

    lines = ["| process | " + " | ".join(categories) + " |", "|---" * (len(categories) + 1) + "|"]
    lines += [f"| {p} | " + " | ".join(cell(table[c][p]) for c in categories) + " |" for p in processes]
    return "\n".join(lines) + "\n"


def yields_json(table):
    """The table as plain data: {category: {process: {"nominal", "uncertainties": {name: [up, down]}}}}."""
    return {category: {process: {"nominal": n.nominal, "uncertainties": {k: list(v) for k, v in n.uncertainties.items()}}
                       for process, n in row.items()}
            for category, row in table.items()}
