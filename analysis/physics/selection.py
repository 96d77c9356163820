"""Objects, derived variables and category flags of the analysis as RDataFrame graph steps.

Dataframe in, dataframe out: the same functions build the graph locally and on Dask.
Object shifts (``config.shifts``) act on the columns they declare (``jet_pt``, ``jet_mass``,
``met``, ``met_phi``), either as RDataFrame ``Vary`` (all shifts in one pass; the tags are
the order shifts' names) or fixed to one shift (for Snapshot); everything downstream is
derived from them, so a varied object moves events between categories. A source varies
only the columns it changes (``met_uncl`` leaves the jets, ``jer`` the MET), so RDataFrame
recomputes only what depends on those.
"""

import re

from order.util import join_root_selection

from analysis.physics.checks import category_cuts, check_skim_is_looser
from analysis.physics.skim import event_filters
from config.shifts import OBJECT, up_and_down, variation_index

# the C++ the graph steps call (with corrections.h, which corrections.setup declares)
KERNELS = ("tmet.h",)


def define_objects(df, config, is_data, shift=None, varied=()):
    """Nominal jets and MET, then either one fixed object ``shift`` or a ``Vary`` per source of
    ``varied`` (object shifts, one per source).

    MC jets are JER-smeared with ``jet_jer_noise`` (seeded normal number x resolution, per
    jet), made once per event and shared by the nominal smearing and the JER variations.
    MET is type-1 MET, made from unsmeared jets: the nominal MET needs no jet, and its JES
    variations propagate the change of the unsmeared jets (``jet_met_jes_unc``), so MET
    cuts run before the (costly) smearing in every universe. The smeared jets vary with
    the uncertainty at their own pt (``jet_jes_unc``), as in CMS's NanoAOD-tools. Columns
    are lazy: a variation's inputs are computed only for events some universe needs them for.
    Needs the nominal ``met`` and ``met_phi`` (``define_selection`` defines them first).
    """
    if not is_data:
        df = (
            df.Define("jet_jer_noise",
                      "tmet::jer_noise(Jet_pt, Jet_eta, fixedGridRhoFastjetAll, run, luminosityBlock, event)")
            .Define("jet_jer_factor", "tmet::jer_factor(Jet_pt, Jet_eta, jet_jer_noise, tmet::NOMINAL)")
            .Define("jet_jer_factors", "tmet::jer_factor_variations(Jet_pt, Jet_eta, jet_jer_noise)")
            .Define("jet_pt", "Jet_pt * jet_jer_factor")
            .Define("jet_mass", "Jet_mass * jet_jer_factor")
        )
    else:
        df = df.Define("jet_pt", "Jet_pt").Define("jet_mass", "Jet_mass")
    df = df.Define("jet_jes_unc", "tmet::jes_uncertainty(Jet_eta, jet_pt)")
    df = df.Define("jet_met_jes_unc", "tmet::jes_uncertainty(Jet_eta, Jet_pt)")
    if shift is not None and shift.has_tag(OBJECT):
        variations = shift.x.variations
        index = variation_index(shift)
        # every expression sees the nominal columns: evaluate all, then replace
        for k, (_, expression) in enumerate(variations):
            df = df.Define(f"{shift.source}_variation_{k}", expression)
        for k, (columns, _) in enumerate(variations):
            for c, column in enumerate(columns):
                picked = f"[{c}][{index}]" if len(columns) > 1 else f"[{index}]"
                df = df.Redefine(column, f"{shift.source}_variation_{k}{picked}")
    for source in varied:
        tags = [s.name for s in up_and_down(config, source.source)]
        for columns, expression in source.x.variations:
            df = df.Vary(columns[0] if len(columns) == 1 else list(columns), expression, tags, source.source)
    return df


# columns each step of the selection adds (besides the input branches) that cuts may use
LEPTON_COLUMNS = (
    "n_lep_veto", "n_lep_tight",
    "top_score", "top_pt", "top_eta", "top_phi", "top_mass", "top_type", "top_tagged",
)
MET_COLUMNS = ("met", "met_phi", "mt")


def _varied_columns(shift, varied):
    """Columns that the fixed object ``shift`` or the ``Vary`` of ``varied`` change."""
    shifts = [s for s in [shift, *varied] if s is not None and s.has_tag(OBJECT)]
    return {column for s in shifts for columns, _ in s.x.variations for column in columns}


def define_selection(df, config, is_data, shift=None, varied=(), prefilter=False):
    """Objects (see ``define_objects``: a fixed ``shift``, or the object shifts ``varied``),
    leptons, jets, b jets, the best top candidate, derived variables and category flags.

    Category flags include the MET filters and trigger, so that a graph on unskimmed
    NanoAOD selects exactly what the same graph on skims selects. With ``prefilter``,
    events are dropped after each step as soon as no category can accept them: MET first
    where no shift varies it (it is one branch), then leptons and top candidates, which no
    shift varies, then the varied MET, which needs no jet smearing, then jets (each step
    reads only its own columns).
    """
    check_skim_is_looser(config)  # the graph runs on skims: a category must not cut below them
    df = (df.Define("event_filters", " && ".join(event_filters(config, is_data)) or "true")
          .Define("met", "MET_pt").Define("met_phi", "MET_phi"))
    known = ["event_filters"]
    if not {"met", "met_phi"} & _varied_columns(shift, varied):
        known += ["met", "met_phi"]
        if prefilter:
            df = _prefilter(df, config, known, "met")
    df = _define_leptons(df, config)
    known += LEPTON_COLUMNS
    if prefilter:
        df = _prefilter(df, config, known, "leptons and top candidate")
    df = define_objects(df, config, is_data, shift=shift, varied=varied)
    df = df.Define("mt", "tmet::transverse_mass(tight_lep_pt, tight_lep_phi, met, met_phi)")
    known += MET_COLUMNS
    if prefilter:
        df = _prefilter(df, config, known, "met and mt")
    df = _define_jets(df, config)
    # one column for all categories: every node costs per event, and more so in every universe
    selections = ", ".join(f"({join_root_selection(category_cuts(category))})" for category in config.categories)
    df = df.Define("category_index", f"event_filters ? tmet::passed_indices({{{selections}}}) : ROOT::RVecI{{}}")
    for index, category in enumerate(config.categories):
        df = df.Define(category_flag(category.name), f"ROOT::VecOps::Any(category_index == {index})")
    if prefilter:
        df = df.Filter("!category_index.empty()", "any category")
    return df


def _define_leptons(df, config):
    """Veto and tight leptons, the best top candidate: nothing a shift varies."""
    objects = config.x.objects

    def muons(cuts):
        return (f"Muon_pt > {cuts['pt']} && abs(Muon_eta) < {cuts['abseta']} && {cuts['id']} "
                f"&& Muon_pfRelIso04_all < {cuts['iso']}")

    def electrons(cuts):
        return (f"Electron_pt > {cuts['pt']} && abs(Electron_eta) < {cuts['abseta']} "
                f"&& Electron_cutBased >= {cuts['cut_based']}")

    return (
        df.Define("mu_veto", muons(objects["muon_veto"]))
        .Define("mu_tight", muons(objects["muon_tight"]))
        .Define("el_veto", electrons(objects["electron_veto"]))
        .Define("el_tight", electrons(objects["electron_tight"]))
        # tight leptons are also veto leptons (the tight cuts are tighter than the veto ones)
        .Define("n_lep_veto", "Sum(mu_veto, 0) + Sum(el_veto, 0)")
        .Define("n_lep_tight", "Sum(mu_tight, 0) + Sum(el_tight, 0)")
        .Define("veto_lep_eta", "Concatenate(Muon_eta[mu_veto], Electron_eta[el_veto])")
        .Define("veto_lep_phi", "Concatenate(Muon_phi[mu_veto], Electron_phi[el_veto])")
        .Define("tight_lep_pt", "Concatenate(Muon_pt[mu_tight], Electron_pt[el_tight])")
        .Define("tight_lep_phi", "Concatenate(Muon_phi[mu_tight], Electron_phi[el_tight])")
        .Define("top_index", "tmet::best_top(TopCand_score)")
        .Define("top_score", "top_index >= 0 ? TopCand_score[top_index] : -1.f")
        .Define("top_pt", "top_index >= 0 ? TopCand_pt[top_index] : 0.f")
        .Define("top_eta", "top_index >= 0 ? TopCand_eta[top_index] : 0.f")
        .Define("top_phi", "top_index >= 0 ? TopCand_phi[top_index] : 0.f")
        .Define("top_mass", "top_index >= 0 ? TopCand_mass[top_index] : 0.f")
        .Define("top_type", "top_index >= 0 ? int(TopCand_type[top_index]) : -1")
        .Define("top_tagged", f"top_score > {float(config.x.top_tagger['working_point'])!r}")
    )


def _define_jets(df, config):
    """Selected jets of the (possibly varied) objects and the variables made from them: the
    eta, ID and lepton cleaning once, the pt cut on the varied jets."""
    jet, btag = config.x.objects["jet"], config.x.objects["btag"]
    return (
        df.Define("jet_clean", f"tmet::clean_jets(Jet_eta, Jet_phi, Jet_jetId, veto_lep_eta, veto_lep_phi, "
                               f"{jet['abseta']}, {jet['id_bit']}, {jet['lepton_dr']})")
        .Define("jet_sel", f"jet_clean && jet_pt > float({jet['pt']})")
        .Define("jet_tagged", f"{btag['branch']} > {btag['value']}")
        .Define("n_jet", "Sum(jet_sel, 0)")
        .Define("n_bjet", "Sum(jet_sel && jet_tagged, 0)")
        .Define("ht", "tmet::masked_sum(jet_pt, jet_sel)")
        .Define("min_dphi", f"tmet::min_delta_phi(Jet_phi, jet_sel, met_phi, {jet['min_dphi_jets']})")
    )


def _prefilter(df, config, columns, name):
    """Keep events that pass, for some category, all of its cuts over ``columns``.

    Exact: an event in a category passes each of the category's cuts. Cuts come from the
    config (``category_cuts``); one over any other column waits for the final filter.
    """
    clauses = []
    for category in config.categories:
        known = [cut for cut in category_cuts(category) if set(re.findall(r"[A-Za-z_]\w*", cut)) <= set(columns)]
        if not known:
            return df  # this category accepts every event so far
        clauses.append(" && ".join(f"({cut})" for cut in known))
    # not the MET filters and trigger: a skim's events pass them, and every category checks them
    return df.Filter(" || ".join(f"({c})" for c in clauses), name)


def category_flag(name):
    """Column holding whether an event is in category ``name`` (``category_index`` holds the
    indices, in config order, of all categories an event is in)."""
    return f"cat_{name}"


def event_columns(config):
    """The derived columns of an event, in the order Snapshot writes them."""
    return [
        "n_lep_veto", "n_lep_tight", "n_jet", "n_bjet", "ht", "met", "met_phi", "mt", "min_dphi",
        "top_score", "top_pt", "top_eta", "top_phi", "top_mass", "top_type", "top_tagged",
    ] + [category_flag(category.name) for category in config.categories]
