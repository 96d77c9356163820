"""CMS Combine shape datacards from the fit variable's templates.

Per card set (a signal point, or all signals) there is a card per category and a combined
one. Each lists the rates (-1: from the shapes file, whose histograms are
``$CHANNEL/$PROCESS`` and ``$CHANNEL/$PROCESS_$SYSTEMATIC{Up,Down}``), an lnN line per rate
shift (luminosity, cross sections), a ``shape`` line per shape shift source,
``* autoMCStats 10`` and a ``group`` line per group of nuisances (config.shifts.groups: the
card's nuisances of each; the autoMCStats parameters are Combine's group ``autoMCStats``).
"""

from dataclasses import dataclass

from analysis.engine.root_setup import import_root
from analysis.stats.templates import BIN_FLOOR, BLINDED, DATA
from config.processes import card_sets
from config.shifts import RATE, groups, shape_shifts, shape_source_names, sources, template_name

COMBINED = "combined"


@dataclass
class Card:
    """One datacard: its text and its shapes file's templates ({category: {name: TH1D}})."""

    card_set: str
    channel: str
    text: str
    templates: dict


def card_file_name(channel):
    return f"datacard_{channel}.txt"


def shapes_file_name(channel):
    return f"shapes_{channel}.root"


def channels(config):
    """Every category, and the combined card of all of them."""
    return config.categories.names() + [COMBINED]


def lnn_value(up, down):
    """Combine lnN entry of relative uncertainties: "k" if symmetric, else "kdown/kup"."""
    if abs(up - down) < 1e-6:
        return f"{1 + up:.4f}"
    return f"{1 - down:.4f}/{1 + up:.4f}"


def lnn_entries(config, processes):
    """{nuisance: {process: lnN value}} of the rate shifts acting on ``processes``, in the
    order the processes first meet them."""
    entries = {}
    for process in processes:
        for source in sources(config, RATE):
            up, down = source.x.lnn.get(process, (0.0, 0.0))
            if up or down:
                entries.setdefault(source.source, {})[process] = lnn_value(up, down)
    return entries


def floored_lines(floored, categories, processes):
    """One line per (category, process) of ``floored`` (FlooredBins) within ``categories`` and
    ``processes``: the floored bins of its nominal template and how many shifted ones were."""
    grouped = {}
    for entry in floored:
        if entry.category in categories and entry.process in processes:
            grouped.setdefault((entry.category, entry.process), {})[entry.shift] = list(entry.bins)
    return [
        f"{category}/{process}: bins {shifts.get('nominal', [])} of the nominal and bins of "
        f"{len(shifts) - ('nominal' in shifts)} shifted templates empty or negative, set to {BIN_FLOOR}"
        for (category, process), shifts in grouped.items()
    ]


def observation_lines(config, templates, categories):
    """The header line that says which categories' observation is not data but the
    background sum (Asimov): of a blinded category, or of a config without data."""
    kinds = {c: templates.observation(config, c) for c in categories}
    asimov = [f"{c} ({'blinded' if kind == BLINDED else 'no data'})" for c, kind in kinds.items() if kind != DATA]
    return [f"observation Asimov (the background sum), not data: {', '.join(asimov)}"] if asimov else []


def datacards(config, templates, origin):
    """Every Card of ``config`` from the fit variable's Templates; each opens with ``origin``
    (what made it), the fit variable, the blinded categories and what its observation is."""
    header = [origin, f"fit variable {config.x.fit_variable}; blinded: "
                      f"{', '.join(config.x.blinded_categories) or 'none'}"]
    shifts = [config.get_shift("nominal")] + shape_shifts(config)
    shape_sources = shape_source_names(config)
    cards = []
    for card_set, signals in card_sets(config, templates.signals).items():
        processes = signals + templates.backgrounds
        lnn = lnn_entries(config, processes)
        names = [template_name(p, shift) for p in processes for shift in shifts] + ["data_obs"]
        for channel in channels(config):
            categories = config.categories.names() if channel == COMBINED else [channel]
            chosen = {c: {name: templates.hists[c][name] for name in names} for c in categories}
            lines = header + observation_lines(config, templates, categories)
            lines += [f"floored: {line}" for line in floored_lines(templates.floored, categories, processes)]
            text = card_text(categories, chosen, shapes_file_name(channel), templates.backgrounds, signals,
                             shape_sources, lnn, lines, groups(config))
            cards.append(Card(card_set, channel, text, chosen))
    return cards


def card_text(categories, templates, shapes_file, backgrounds, signals, shape_sources, lnn, header, groups=None):
    """The datacard of ``categories`` (one bin each).

    ``lnn`` is {nuisance: {process: value string}}; processes without a value get "-";
    ``groups``: {group: [nuisances]}, each written with those of its nuisances the card has.
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
    for source in shape_sources:
        lines.append(row(f"{source} shape", [1 for _ in columns]))
    lines.append("* autoMCStats 10")
    present = set(lnn) | set(shape_sources)
    for group, members in (groups or {}).items():
        names = [name for name in members if name in present]
        if names:
            lines.append(f"{group} group = {' '.join(names)}")
    return "\n".join(lines) + "\n"


def write_shapes(path, templates):
    """The shapes file of ``templates`` ({category: {name: TH1D}}): a directory per category."""
    ROOT = import_root()
    tfile = ROOT.TFile.Open(path, "RECREATE")
    for category, hists in templates.items():
        directory = tfile.mkdir(category)
        for name, hist in hists.items():
            directory.WriteObject(hist, name)
    tfile.Close()
