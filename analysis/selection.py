"""Objects, derived variables and category flags of ANALYSIS.md as RDataFrame graph steps.

Dataframe in, dataframe out: the same functions build the graph locally and on Dask.
Object shifts act on the ``objects`` column (jets and MET), either as RDataFrame
``Vary`` (all shifts in one pass, tags are the order shift names) or fixed to one shift
(for Snapshot); everything downstream is derived from ``objects``, so a varied object
moves events between categories.
"""

from analysis.skim import event_filters

OBJECT_SOURCES = ("jes", "jer", "met_uncl")


def _object_variations(config, source):
    """C++ expression of [up, down] objects of an object shift source."""
    met_jet_pt = config.x.objects["met"]["recompute_jet_pt"]
    return {
        "jes": f"tmet::jes_variations(objects, Jet_eta, Jet_phi, {met_jet_pt})",
        "jer": "tmet::jer_variations(objects, Jet_pt, Jet_mass, Jet_eta, fixedGridRhoFastjetAll, run, "
               "luminosityBlock, event)",
        "met_uncl": "tmet::met_uncl_variations(objects, MET_MetUnclustEnUpDeltaX, MET_MetUnclustEnUpDeltaY)",
    }[source]


def split_shift(shift):
    """(source, index into [up, down]) of a shift name; (None, None) for nominal."""
    if shift == "nominal":
        return None, None
    source, direction = shift.rsplit("_", 1)
    return source, {"up": 0, "down": 1}[direction]


def define_objects(df, config, is_mc, shift="nominal", vary_sources=()):
    """Nominal jets and MET, then either one fixed object ``shift`` or a ``Vary`` per source."""
    df = df.Define(
        "objects",
        "tmet::nominal_objects(Jet_pt, Jet_mass, Jet_eta, fixedGridRhoFastjetAll, MET_pt, MET_phi, run, "
        f"luminosityBlock, event, {str(is_mc).lower()})",
    )
    source, index = split_shift(shift)
    if source in OBJECT_SOURCES:
        df = df.Redefine("objects", f"{_object_variations(config, source)}[{index}]")
    for source in vary_sources:
        df = df.Vary(
            "objects", _object_variations(config, source), [f"{source}_up", f"{source}_down"], source,
        )
    return df


def define_selection(df, config, is_mc):
    """Leptons, jets, b jets, the best top candidate, derived variables and category flags.

    Category flags include the MET filters and trigger, so that a graph on unskimmed
    NanoAOD selects exactly what the same graph on skims selects.
    """
    o = config.x.objects
    mt, mv = o["muon_tight"], o["muon_veto"]
    et, ev = o["electron_tight"], o["electron_veto"]
    jet, btag, top = o["jet"], o["btag"], o["top"]
    df = (
        df.Define("mu_veto", f"Muon_pt > {mv['pt']} && abs(Muon_eta) < {mv['abseta']} && {mv['id']} "
                             f"&& Muon_pfRelIso04_all < {mv['iso']}")
        .Define("mu_tight", f"Muon_pt > {mt['pt']} && abs(Muon_eta) < {mt['abseta']} && {mt['id']} "
                            f"&& Muon_pfRelIso04_all < {mt['iso']}")
        .Define("el_veto", f"Electron_pt > {ev['pt']} && abs(Electron_eta) < {ev['abseta']} "
                           f"&& Electron_cutBased >= {ev['cut_based']}")
        .Define("el_tight", f"Electron_pt > {et['pt']} && abs(Electron_eta) < {et['abseta']} "
                            f"&& Electron_cutBased >= {et['cut_based']}")
        # tight leptons are also veto leptons (the tight cuts are tighter than the veto ones)
        .Define("n_lep_veto", "int(Nonzero(mu_veto).size() + Nonzero(el_veto).size())")
        .Define("n_lep_tight", "int(Nonzero(mu_tight).size() + Nonzero(el_tight).size())")
        .Define("jet_pt", "objects.jet_pt")
        .Define("met", "objects.met")
        .Define("met_phi", "objects.met_phi")
        .Define("jet_sel", f"tmet::select_jets(jet_pt, Jet_eta, Jet_phi, Jet_jetId, "
                           f"Concatenate(Muon_eta[mu_veto], Electron_eta[el_veto]), "
                           f"Concatenate(Muon_phi[mu_veto], Electron_phi[el_veto]), "
                           f"{jet['pt']}, {jet['abseta']}, {jet['id_bit']}, {jet['lepton_dr']})")
        .Define("jet_tagged", f"{btag['branch']} > {btag['value']}")
        .Define("n_jet", "int(Nonzero(jet_sel).size())")
        .Define("n_bjet", "int(Nonzero(jet_sel && jet_tagged).size())")
        .Define("ht", "float(Sum(jet_pt[jet_sel]))")
        .Define("mt", "tmet::transverse_mass(Concatenate(Muon_pt[mu_tight], Electron_pt[el_tight]), "
                      "Concatenate(Muon_phi[mu_tight], Electron_phi[el_tight]), met, met_phi)")
        .Define("min_dphi", f"tmet::min_delta_phi(Jet_phi[jet_sel], met_phi, {jet['min_dphi_jets']})")
        .Define("top_index", "tmet::best_top(TopCand_score)")
        .Define("top_score", "top_index >= 0 ? TopCand_score[top_index] : -1.f")
        .Define("top_pt", "top_index >= 0 ? TopCand_pt[top_index] : 0.f")
        .Define("top_eta", "top_index >= 0 ? TopCand_eta[top_index] : 0.f")
        .Define("top_phi", "top_index >= 0 ? TopCand_phi[top_index] : 0.f")
        .Define("top_mass", "top_index >= 0 ? TopCand_mass[top_index] : 0.f")
        .Define("top_type", "top_index >= 0 ? int(TopCand_type[top_index]) : -1")
        .Define("top_tagged", f"top_score > {top['tag_score']}")
    )
    df = df.Define("event_filters", " && ".join(event_filters(config, not is_mc)) or "true")
    for category in config.categories:
        df = df.Define(category_flag(category.name), f"event_filters && ({category.selection})")
    return df


def category_flag(name):
    """Column holding whether an event is in category ``name``."""
    return f"cat_{name}"


def event_columns(config):
    """The derived columns of an event, in the order Snapshot writes them."""
    return [
        "n_lep_veto", "n_lep_tight", "n_jet", "n_bjet", "ht", "met", "met_phi", "mt", "min_dphi",
        "top_score", "top_pt", "top_eta", "top_phi", "top_mass", "top_type", "top_tagged",
    ] + [category_flag(category.name) for category in config.categories]
