"""CMS Combine shape datacards and yield tables from per-dataset histograms.

Datasets are merged into their top-level processes; per category the fit variable's
nominal and shifted templates go into a shapes file (``$CHANNEL/$PROCESS`` and
``$CHANNEL/$PROCESS_$SYSTEMATIC{Up,Down}``), and the card lists rates (-1: from the
shapes), lnN nuisances (luminosity, cross sections from the processes' scinum Numbers),
one ``shape`` nuisance per shift source and ``* autoMCStats 10``.
"""

import math

from scinum import Number

from analysis.errors import TmetError
from analysis.root_setup import import_root

# Combine cannot fit a template with empty or negative bins: such bins of a background
# get this small positive content (with a matching error), as Combine users do
BIN_FLOOR = 1e-5


def process_xsec(process, ecm):
    """The cross section of ``process``, or the sum over its sub-processes where it has none."""
    if ecm in process.xsecs:
        return process.get_xsec(ecm)
    return sum((child.get_xsec(ecm) for child in process.processes), Number(0.0))


def relative_uncertainty(number):
    """(up, down) relative uncertainty of a Number, its named uncertainties added in quadrature."""
    if number.nominal == 0:
        return 0.0, 0.0
    up = math.sqrt(sum(u[0] ** 2 for u in number.uncertainties.values())) / number.nominal
    down = math.sqrt(sum(u[1] ** 2 for u in number.uncertainties.values())) / number.nominal
    return up, down


def lnn_value(up, down):
    """Combine lnN entry of relative uncertainties: "k" if symmetric, else "kdown/kup"."""
    if abs(up - down) < 1e-6:
        return f"{1 + up:.4f}"
    return f"{1 - down:.4f}/{1 + up:.4f}"


def floor_bins(hist):
    """Raise empty or negative bins to BIN_FLOOR; returns the bins changed."""
    changed = []
    for i in range(1, hist.GetNbinsX() + 1):
        if not hist.GetBinContent(i) > 0:
            changed.append(i)
            hist.SetBinContent(i, BIN_FLOOR)
            hist.SetBinError(i, max(hist.GetBinError(i), BIN_FLOOR))
    return changed


def read_histograms(path, categories, variables):
    """{variable: {category: TH1D}} from a Histograms output (one open per file), detached from it."""
    ROOT = import_root()
    tfile = ROOT.TFile.Open(path)
    hists = {}
    for variable in variables:
        for category in categories:
            hist = tfile.Get(f"{category}/{variable}")
            if not hist:
                raise TmetError(f"{path} has no histogram {category}/{variable}")
            hist.SetDirectory(ROOT.nullptr)
            hists.setdefault(variable, {})[category] = hist
    tfile.Close()
    return hists


def merge_datasets(per_dataset, process_of):
    """{process: {shift: {category: TH1D}}} summed over the datasets of each process.

    ``per_dataset[dataset][shift][category]`` are the datasets' histograms and
    ``process_of[dataset]`` their top-level process name.
    """
    merged = {}
    for dataset, shifts in per_dataset.items():
        target = merged.setdefault(process_of[dataset], {})
        for shift, hists in shifts.items():
            for category, hist in hists.items():
                into = target.setdefault(shift, {})
                if category in into:
                    into[category].Add(hist)
                else:
                    into[category] = hist.Clone()
                    into[category].SetDirectory(import_root().nullptr)
    return merged


def template_name(process, shift):
    """Shapes-file name of a process's template under ``shift`` (``tt``, ``tt_jesUp``)."""
    if shift == "nominal":
        return process
    source, direction = shift.rsplit("_", 1)
    return f"{process}_{source}{direction.capitalize()}"


def category_templates(category, merged, backgrounds, signals, sources, data_processes, blinded):
    """({template name: TH1D} of one category, floored-bin reports).

    Backgrounds' empty or negative bins are floored; a signal's negative bins become 0;
    data_obs is the data sum, or the background sum where the category is blinded.
    """
    templates, reports = {}, []
    for process in backgrounds + signals:
        floored = {}
        for shift in shifts_of(sources):
            name = template_name(process, shift)
            hist = merged[process][shift][category].Clone(name)
            if process in backgrounds:
                bins = floor_bins(hist)
                if bins:
                    floored[shift] = bins
            else:
                for i in range(hist.GetNbinsX() + 2):
                    hist.SetBinContent(i, max(hist.GetBinContent(i), 0.0))
            templates[name] = hist
        if floored:
            reports.append(
                f"{category}/{process}: bins {floored.get('nominal', [])} of the nominal and bins of "
                f"{len(floored) - ('nominal' in floored)} shifted templates empty or negative, set to {BIN_FLOOR}",
            )
    observed_from = backgrounds if (category in blinded or not data_processes) else data_processes
    observed = None
    for process in observed_from:
        hist = templates[process] if process in templates else merged[process]["nominal"][category]
        if observed is None:
            observed = hist.Clone("data_obs")
        else:
            observed.Add(hist)
    templates["data_obs"] = observed
    return templates, reports


def shifts_of(sources):
    """nominal and the up/down shifts of shape ``sources``."""
    return ["nominal"] + [f"{s}_{d}" for s in sources for d in ("up", "down")]


def select_templates(templates, processes, sources):
    """The templates of ``processes`` (nominal and every source's Up/Down) and data_obs."""
    names = [template_name(p, shift) for p in processes for shift in shifts_of(sources)] + ["data_obs"]
    return {name: templates[name] for name in names}


def write_shapes(path, templates):
    """The shapes file of ``templates`` ({category: {name: TH1D}}): a directory per category."""
    ROOT = import_root()
    tfile = ROOT.TFile.Open(path, "RECREATE")
    for category, hists in templates.items():
        directory = tfile.mkdir(category)
        directory.cd()
        for name, hist in hists.items():
            hist.SetDirectory(directory)
            hist.Write(name)
            hist.SetDirectory(ROOT.nullptr)
    tfile.Close()


def card_text(categories, templates, shapes_file, backgrounds, signals, sources, lnn, header):
    """The datacard of ``categories`` (one bin each).

    ``lnn`` is {nuisance: {process: value string}}; processes without a value get "-".
    """
    processes = signals + backgrounds
    index = {p: -i for i, p in enumerate(reversed(signals))}
    index.update({p: i + 1 for i, p in enumerate(backgrounds)})
    columns = [(c, p) for c in categories for p in processes]
    entries = list(processes) + list(categories) + [v for values in lnn.values() for v in values.values()]
    width = max(len(str(e)) for e in entries) + 2

    def row(label, values):
        return f"{label:<24}" + "".join(f"{str(v):<{width}}" for v in values)

    lines = [f"# {line}" for line in header]
    lines += [f"imax {len(categories)}", f"jmax {len(processes) - 1}", "kmax *", "-" * 40,
              f"shapes * * {shapes_file} $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC", "-" * 40,
              row("bin", categories),
              row("observation", [f"{templates[c]['data_obs'].Integral():.6g}" for c in categories]), "-" * 40,
              row("bin", [c for c, _ in columns]), row("process", [p for _, p in columns]),
              row("process", [index[p] for _, p in columns]), row("rate", [-1] * len(columns)), "-" * 40]
    for nuisance, values in lnn.items():
        lines.append(row(f"{nuisance} lnN", [values.get(p, "-") for _, p in columns]))
    for source in sources:
        lines.append(row(f"{source} shape", [1 for _ in columns]))
    lines.append("* autoMCStats 10")
    return "\n".join(lines) + "\n"


def yields_table(templates, processes, sources, lnn_numbers):
    """{category: {process: scinum.Number}} from the categories' templates.

    Uncertainties: ``stat`` (MC bin errors), one per shape source (up and down
    separately) and the lnN ones (``lnn_numbers[process][name] = (rel. up, rel. down)``);
    data_obs carries its Poisson error.
    """
    table = {}
    for category, t in templates.items():
        row = {}
        for process in processes:
            value = t[process].Integral()
            uncertainties = {"stat": integral_error(t[process])}
            for source in sources:
                up = t[template_name(process, f"{source}_up")].Integral() - value
                down = t[template_name(process, f"{source}_down")].Integral() - value
                uncertainties[source] = (max(up, down, 0.0), max(-up, -down, 0.0))
            for name, (rel_up, rel_down) in lnn_numbers.get(process, {}).items():
                uncertainties[name] = (rel_up * value, rel_down * value)
            row[process] = Number(value, uncertainties)
        observed = t["data_obs"].Integral()
        row["data_obs"] = Number(observed, {"stat": math.sqrt(max(observed, 0.0))})
        table[category] = row
    return table


def integral_error(hist):
    """Statistical uncertainty of a histogram's integral over its bins."""
    return math.sqrt(sum(hist.GetBinError(i) ** 2 for i in range(1, hist.GetNbinsX() + 1)))
