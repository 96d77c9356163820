"""The MC event weight of ANALYSIS.md and its weight shifts as RDataFrame graph steps.

weight = lumi * xsec / sumw * genWeight * w_pu * w_btag * w_lep * w_toptag, every factor
a column (Snapshot writes them all). A weight shift replaces one factor by its up or
down value, either fixed (Snapshot) or as one more entry of the ``weight_shifts`` column
(Histograms: one pass for all shifts).
"""

from analysis.corrections import btag_efficiency_key
from analysis.selection import split_shift

# factors of the weight, in the order of the formula; w_theory is the muR/muF/ISR/FSR
# variation of a theory shift (1 otherwise)
FACTORS = ("w_norm", "w_gen", "w_pu", "w_btag", "w_lep", "w_toptag", "w_theory")
# weight source -> the factor its up/down values replace
WEIGHT_SOURCES = {
    "pu": "w_pu", "btag": "w_btag", "lep": "w_lep", "toptag": "w_toptag",
    "mur": "w_theory", "muf": "w_theory", "isr": "w_theory", "fsr": "w_theory",
}


def normalization(config, dataset, sumw):
    """lumi * xsec / sumw of an MC dataset (sumw over all its input files, before any skim)."""
    process = dataset.processes.get_first()
    xsec = process.get_xsec(config.campaign.ecm).nominal
    return config.x.luminosity.nominal * xsec / sumw


def _factor_expressions(config, btag_efficiency):
    """source -> (nominal, up, down) C++ expressions of the factor a weight source varies.

    The nominal value is a column of its own, as the weight needs it under every object
    shift; up and down are evaluated only for the nominal objects (``weight_shifts``).
    """
    o = config.x.objects
    el = config.x.corrections["electron_id"]
    lhe, ps = config.x.lhe_scale_indices, config.x.ps_indices

    def lepton(mu_var, el_var):
        return (f'tmet::lepton_weight(Muon_pt[mu_tight], Muon_eta[mu_tight], Electron_pt[el_tight], '
                f'Electron_eta[el_tight], "{el["year"]}", "{el["working_point"]}", "{mu_var}", "{el_var}")')

    def btag(var):
        if not btag_efficiency:  # measuring the efficiencies themselves: no b-tag weight
            return "1.0"
        b = o["btag"]
        return (f'tmet::btag_weight(jet_pt, Jet_eta, Jet_hadronFlavour, jet_tagged, jet_sel, "{b["working_point"]}", '
                f'"{btag_efficiency_key(btag_efficiency)}", "{var}")')

    unc = o["top"]["tag_uncertainty"]
    return {
        "pu": tuple(f'tmet::pileup_weight(Pileup_nTrueInt, "{v}")' for v in ("nominal", "up", "down")),
        "lep": (lepton("nominal", "sf"), lepton("systup", "sfup"), lepton("systdown", "sfdown")),
        "btag": (btag("central"), btag("up"), btag("down")),
        "toptag": ("1.0", f"top_tagged ? 1.0 + {unc} : 1.0", f"top_tagged ? 1.0 - {unc} : 1.0"),
        "mur": ("1.0", f"tmet::scale_weight(LHEScaleWeight, {lhe['mur_up']})",
                f"tmet::scale_weight(LHEScaleWeight, {lhe['mur_down']})"),
        "muf": ("1.0", f"tmet::scale_weight(LHEScaleWeight, {lhe['muf_up']})",
                f"tmet::scale_weight(LHEScaleWeight, {lhe['muf_down']})"),
        "isr": ("1.0", f"tmet::ps_weight(PSWeight, {ps['isr_up']})", f"tmet::ps_weight(PSWeight, {ps['isr_down']})"),
        "fsr": ("1.0", f"tmet::ps_weight(PSWeight, {ps['fsr_up']})", f"tmet::ps_weight(PSWeight, {ps['fsr_down']})"),
    }


def define_weights(df, config, is_mc, norm=1.0, btag_efficiency=None, shift="nominal"):
    """Weight factors and the total ``weight`` (1 for data).

    Needs the columns of ``selection.define_selection``. ``btag_efficiency`` is the
    efficiency JSON of the dataset (None: w_btag = 1, for measuring the efficiencies).
    A fixed ``shift`` (Snapshot) puts its up or down value into the factor it varies.
    """
    if not is_mc:
        for factor in FACTORS:
            df = df.Define(factor, "1.0")
        return df.Define("weight", "1.0")

    expressions = _factor_expressions(config, btag_efficiency)
    fixed, index = split_shift(shift)
    choice = {source: 0 for source in WEIGHT_SOURCES}
    if fixed in WEIGHT_SOURCES:
        choice[fixed] = index + 1
    df = df.Define("w_norm", f"{norm!r}").Define("w_gen", "double(genWeight)")
    # w_theory is 1 unless a fixed theory shift sets it
    theory = [s for s, f in WEIGHT_SOURCES.items() if f == "w_theory" and choice[s]]
    df = df.Define("w_theory", expressions[theory[0]][choice[theory[0]]] if theory else "1.0")
    for source, factor in WEIGHT_SOURCES.items():
        if factor != "w_theory":
            df = df.Define(factor, expressions[source][choice[source]])
    return df.Define("weight", _product())


def define_weight_shifts(df, config, btag_efficiency, sources):
    """Column ``weight_shifts``: the weight with one source's factor at its up or down value,
    for every source in ``sources``; returns the dataframe and the shift names in order.

    Needs ``define_weights``. Weight shifts keep the nominal selection, so all of them are
    one column of the nominal events (filled along a shift axis by ``histograms``).
    """
    expressions = _factor_expressions(config, btag_efficiency)
    names, terms = [], []
    for source in sources:
        for direction, index in (("up", 1), ("down", 2)):
            names.append(f"{source}_{direction}")
            terms.append(_product(source, expressions[source][index]))
    return df.Define("weight_shifts", "ROOT::RVecD{" + ", ".join(terms) + "}"), names


def _product(replaced=None, value=None):
    """The weight formula, with the factor of source ``replaced`` set to ``value``."""
    return " * ".join(f"({value})" if WEIGHT_SOURCES.get(replaced) == f else f for f in FACTORS)
