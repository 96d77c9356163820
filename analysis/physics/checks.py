"""The checks of a built config, before any event loop: what the config's values must be for
the numbers to be right, each an error naming the file or value to change and how.

``check_config`` runs them all, once when a task first builds its config:

- datasets: the synthetic ones' generator settings, every NanoAOD version, the weight arrays
  a dataset says its samples lack, and datasets that share a process (each would be
  normalised to the whole cross section: an extension belongs into its sample's dataset, a
  deliberate split into subprocesses of config/processes.py);
- working points: the top tagger's (it belongs to the model) and the b tag's (one name for
  the threshold and the scale factors, config.campaigns);
- the chain of selections, STEP 1 ⊇ skim ⊇ categories ⊇ fit range: STEP 1's preselection
  (tmet's, and the one the group's STEP 1 outputs were made with) looser than the skim, the
  skim looser than every category under every shift (``check_skim_is_looser``, also run
  whenever cuts change: a graph built on skims, ``tmet.overrides``), and no category cutting
  the fit variable below its first bin.

The skim checks, as it opens its inputs, the STEP 1 preselection each records
(``check_step1_inputs``).
"""

import re

from analysis.errors import TmetError
from analysis.physics.generator import check_generator_settings
from analysis.physics.nanoaod import WEIGHT_ARRAYS, check_version
from config.processes import top_level_process
from config.variables import UNDERFLOW_IN_FIRST_BIN, UNDERFLOW_TAG

NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
# a STEP 1 preselection: MET_pt > met_min and n_jet_min jets of Jet_pt > jet_pt_min
PRESELECTION_FIELDS = ("met_min", "jet_pt_min", "n_jet_min")
SKIM = "config.x.skim in config/selection.py"


def check_config(config):
    """Every check of the module docstring on the built ``config``."""
    check_datasets(config)
    check_working_points(config)
    check_skim_is_looser(config)
    check_step1_is_looser(config)
    check_fit_range(config)


def dataset_where(config, dataset):
    return f"{config.x.datasets_file}, dataset '{dataset.name}'"


def check_datasets(config):
    """The datasets' settings, versions and weight arrays, and that no two share a process."""
    for dataset in config.datasets:
        where = dataset_where(config, dataset)
        if dataset.x.synthetic:
            check_generator_settings(dataset.x.generator, where, dataset.is_data)
        check_version(dataset.x.nano_version, where)
        unknown = [name for name in dataset.x.missing_weights if name not in WEIGHT_ARRAYS]
        if unknown:
            raise TmetError(f"{where}: 'missing_weights' names {', '.join(unknown)}, not a generator-weight array "
                            f"the shifts read ({', '.join(WEIGHT_ARRAYS)})")
        if dataset.x.top_candidates == "in_files":
            if not dataset.has_aux("step1_preselection"):
                raise TmetError(
                    f"{where}: its files hold their top candidates (top_candidates: in_files), but nothing says which "
                    f"preselection their STEP 1 applied; a tighter one than the skim's would silently drop events. "
                    f"Give it as 'step1_preselection: {{met_min: X, jet_pt_min: Y, n_jet_min: N}}' (MET_pt > X and N "
                    f"jets of Jet_pt > Y), or 'step1_preselection: none'")
            check_preselection_is_looser(config, preselection_of(dataset.x.step1_preselection, where),
                                         f"{where}, 'step1_preselection'")
    check_shared_processes(config)


def preselection_of(value, where):
    """A STEP 1 preselection of a datasets YAML or a STEP 1 output's record, checked: a
    mapping of PRESELECTION_FIELDS, or "none" (or null) for files made without one."""
    if value in (None, "none"):
        return dict.fromkeys(PRESELECTION_FIELDS, 0.0)
    if not isinstance(value, dict) or sorted(value) != sorted(PRESELECTION_FIELDS) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value.values()):
        raise TmetError(f"{where}: a STEP 1 preselection is 'none' or a mapping of {', '.join(PRESELECTION_FIELDS)} "
                        f"(numbers >= 0), got {value!r}")
    return dict(value)


def check_shared_processes(config):
    """No two MC datasets of one process, or of a process and one of its subprocesses: each
    would be normalised to the whole cross section and the process counted twice."""
    mc = [d for d in config.datasets if not d.is_data]
    for i, first in enumerate(mc):
        for second in mc[i + 1:]:
            a, b = first.processes.get_first(), second.processes.get_first()
            if a == b or a.has_process(b, deep=True) or b.has_process(a, deep=True):
                shared = a if a == b or a.has_process(b, deep=True) else b
                raise TmetError(
                    f"{config.x.datasets_file}: datasets '{first.name}' (process {a.name}) and '{second.name}' (process "
                    f"{b.name}) would each be normalised to the cross section of {shared.name}, counting it twice. If "
                    f"one extends the other (more events of the same sample), make them one dataset: 'key: [KEY, "
                    f"EXT_KEY]' and 'files: [list.txt, ext_list.txt]' (their sums of weights add up). To split "
                    f"{top_level_process(config, first).name} deliberately (HT bins, decay modes), give each dataset a "
                    f"subprocess of its own, with its own cross section, in config/processes.py")


def check_working_points(config):
    """The top tagger has a working point, and the b-tag scale factors take the threshold's."""
    tagger, where = config.x.top_tagger, f"the top tagger of config '{config.name}' (config/campaigns.py or settings)"
    working_point = tagger.get("working_point")
    if isinstance(working_point, bool) or not isinstance(working_point, (int, float)):
        raise TmetError(f"{where}: model {tagger['model']} has no working point: give top_tagger: working_point, the "
                        f"score above which this model tags a candidate (a cut belongs to the model it was chosen on)")
    btag = config.x.objects["btag"]
    if config.x.btag_working_points.get(btag["working_point"]) != btag["value"]:
        raise TmetError(f"config '{config.name}': b-tag working point {btag['working_point']!r} is not one of the "
                        f"campaign's ({', '.join(config.x.btag_working_points)})")
    for key in ("btag_heavy", "btag_light"):
        fixed = config.x.corrections.get(key, {}).get("fixed", {})
        if key in config.x.corrections and fixed.get("working_point") != btag["working_point"]:
            raise TmetError(f"config '{config.name}': correction '{key}' is at working point "
                            f"{fixed.get('working_point')!r}, the b jets at {btag['working_point']!r}: the scale "
                            f"factors take the campaign's btag_working_point (config.campaigns)")


def category_cuts(category):
    """The cuts of a category, all required: its order ``selection``, a list of cuts
    (config.categories) or one selection string."""
    selection = category.selection
    return [selection] if isinstance(selection, str) else list(selection)


def lower_bound(cuts, column):
    """(the tightest lower bound the ``cuts`` of a category put on ``column``, the cut), or
    (None, None) where no cut of the form ``column > x`` (>=, ==) bounds it; an integer
    count's ``> x`` bounds it at x + 1."""
    pattern = re.compile(rf"^\s*{re.escape(column)}\s*(>=|>|==)\s*({NUMBER})\s*$")
    best = (None, None)
    for cut in cuts:
        match = pattern.match(cut)
        if match:
            value = float(match.group(2)) + (1 if column.startswith("n_") and match.group(1) == ">" else 0)
            if best[0] is None or value > best[0]:
                best = (value, cut)
    return best


def check_skim_is_looser(config):
    """Raise a TmetError where a category could accept events that the skim drops, so that
    histograms from skims would silently miss them: under every shift, its MET cut must stay
    above the skim's (less the margin by which shifts move MET), its jet count at or above the
    skim's, and the jets' pt cut above the skim's jet pt (less the margin of a jet's pt). The
    error names the category, its cut and the skim's value, and the value to change."""
    skim, margins = config.x.skim, config.x.skim_margins
    for category in config.categories:
        met, met_cut = lower_bound(category_cuts(category), "met")
        if skim["met_min"] > 0 and (met is None or skim["met_min"] > met * (1 - margins["met"]) + 1e-9):
            found = f"its cut '{met_cut}'" if met_cut else "no cut 'met > X'"
            raise TmetError(
                f"category '{category.name}' has {found}, but the skim keeps only MET_pt > {skim['met_min']:g} "
                f"({SKIM}): its histograms would miss every event below it. Shifts move MET by up to "
                f"{margins['met']:.0%} (config.x.skim_margins), so the skim's 'met_min' must be at most "
                + (f"{met * (1 - margins['met']):g}: lower it there or tighten the cut" if met_cut
                   else f"{1 - margins['met']:g} x the category's MET cut: add a MET cut to the category"))
        if skim["n_jet_min"] > 0:
            n_jet, n_jet_cut = lower_bound(category_cuts(category), "n_jet")
            if n_jet is None or n_jet < skim["n_jet_min"]:
                found = f"its cut '{n_jet_cut}'" if n_jet_cut else "no cut 'n_jet >= N'"
                raise TmetError(
                    f"category '{category.name}' has {found}, but the skim keeps only events with "
                    f"{skim['n_jet_min']} jets of Jet_pt > {skim['jet_pt_min']:g} ({SKIM}): lower the skim's "
                    f"'n_jet_min' to {int(n_jet or 0)} or require at least {skim['n_jet_min']} jets")
    jet_pt = config.x.objects["jet"]["pt"]
    if skim["n_jet_min"] > 0 and skim["jet_pt_min"] > jet_pt * (1 - margins["jet_pt"]) + 1e-9:
        raise TmetError(
            f"the jets of the categories need pt > {jet_pt:g} (config.x.objects['jet']['pt']), but the skim counts "
            f"only jets of Jet_pt > {skim['jet_pt_min']:g} ({SKIM}); shifts and the smearing move a jet's pt by "
            f"up to {margins['jet_pt']:.0%} (config.x.skim_margins), so the skim's 'jet_pt_min' must be at most "
            f"{jet_pt * (1 - margins['jet_pt']):g}: lower it there or raise the jets' pt cut")


def step2_needs(config):
    """The loosest preselection STEP 2 can take from STEP 1 ({met_min, jet_pt_min, n_jet_min},
    each with what sets it): the skim's cuts where it has them (it cuts the same raw MET_pt and
    Jet_pt), else the categories' less the margins of the shifts."""
    skim, margins = config.x.skim, config.x.skim_margins
    if skim["met_min"] > 0:
        met = (skim["met_min"], f"the skim's met_min ({SKIM})")
    else:
        bounds = [lower_bound(category_cuts(c), "met")[0] for c in config.categories]
        met = (0.0 if None in bounds else min(bounds) * (1 - margins["met"]),
               "the categories' MET cuts less the shifts' margin (config/categories.py, config.x.skim_margins)")
    if skim["n_jet_min"] > 0:
        jets = (skim["n_jet_min"], skim["jet_pt_min"], f"the skim's n_jet_min and jet_pt_min ({SKIM})")
    else:
        bounds = [lower_bound(category_cuts(c), "n_jet")[0] for c in config.categories]
        jets = (0 if None in bounds else min(bounds), config.x.objects["jet"]["pt"] * (1 - margins["jet_pt"]),
                "the categories' jet counts and the jets' pt less the shifts' margin")
    return met, jets


def check_preselection_is_looser(config, preselection, where):
    """Raise a TmetError naming ``where`` where the STEP 1 ``preselection`` drops events that
    the skim (or, without one, a category under some shift) would keep."""
    (met, met_from), (n_jet, jet_pt, jets_from) = step2_needs(config)
    if preselection["met_min"] > met + 1e-9:
        raise TmetError(f"{where}: STEP 1 keeps only MET_pt > {preselection['met_min']:g}, but STEP 2 needs every event "
                        f"of MET_pt > {met:g} ({met_from}): the skim, the categories and the shifts would silently "
                        f"miss the events in between. Lower STEP 1's met_min to at most {met:g}")
    if preselection["n_jet_min"] > 0 and (preselection["n_jet_min"] > n_jet or preselection["jet_pt_min"] > jet_pt + 1e-9):
        raise TmetError(f"{where}: STEP 1 keeps only events with {preselection['n_jet_min']:g} jets of Jet_pt > "
                        f"{preselection['jet_pt_min']:g}, but STEP 2 needs every event with {n_jet:g} jets of "
                        f"Jet_pt > {jet_pt:g} ({jets_from}): lower STEP 1's n_jet_min to at most {n_jet:g} and its "
                        f"jet_pt_min to at most {jet_pt:g}")


def check_step1_is_looser(config):
    """tmet's STEP 1 preselection is looser than what STEP 2 needs, where tmet makes candidates."""
    if any(d.x.top_candidates == "tmet" for d in config.datasets):
        check_preselection_is_looser(config, config.x.top_candidates["preselection"],
                                     "config.x.top_candidates['preselection'] in config/selection.py")


def check_step1_inputs(config, recorded):
    """Each STEP 1 preselection that a skim's inputs record ({url: preselection or None}) is
    looser than what STEP 2 needs."""
    for url, preselection in recorded.items():
        if preselection is not None:
            check_preselection_is_looser(config, preselection_of(preselection, url),
                                         f"{url} (the preselection its STEP 1 recorded)")


def check_fit_range(config):
    """No category cuts the fit variable below its lower edge, where the first bin would take
    the events in between (unless the variable is meant to, UNDERFLOW_IN_FIRST_BIN)."""
    variable = config.get_variable(config.x.fit_variable)
    if variable.has_tag(UNDERFLOW_TAG):
        return
    low = variable.bin_edges[0]
    for category in config.categories:
        bound, cut = lower_bound(category_cuts(category), variable.expression)
        if bound is not None and bound < low - 1e-9:
            raise TmetError(
                f"category '{category.name}' cuts '{cut}', below {low:g}, the lower edge of the fit variable "
                f"'{variable.name}' (config/variables.py): its events between {bound:g} and {low:g} would be added to "
                f"the first bin. Start the variable's range at {bound:g}, raise the cut to {low:g}, or name "
                f"'{variable.name}' in UNDERFLOW_IN_FIRST_BIN (config/variables.py) if the first bin is meant to hold "
                f"them (currently: {', '.join(UNDERFLOW_IN_FIRST_BIN) or 'none'})")
