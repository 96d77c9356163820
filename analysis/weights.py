"""The MC event weight of ANALYSIS.md and its weight shifts as RDataFrame graph steps.

weight = lumi * xsec / sumw * genWeight * w_pu * w_btag * w_lep * w_toptag, every factor
a column (Snapshot writes them all). A weight shift replaces one factor by its up or
down value, either fixed (Snapshot) or as a ``Vary`` of ``weight`` whose tags are the
order shift names (Histograms: one pass for all shifts).
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


def _variation_columns(config):
    """Column -> C++ expression of every [nominal, up, down] factor and theory variation."""
    o = config.x.objects
    el = config.x.corrections["electron_id"]
    lhe, ps = config.x.lhe_scale_indices, config.x.ps_indices
    return {
        "pu": "tmet::pileup_weights(Pileup_nTrueInt)",
        "lep": f'tmet::lepton_weights(Muon_pt[mu_tight], Muon_eta[mu_tight], Electron_pt[el_tight], '
               f'Electron_eta[el_tight], "{el["year"]}", "{el["working_point"]}")',
        "toptag": f"tmet::variations(1.0, top_tagged ? 1.0 + {o['top']['tag_uncertainty']} : 1.0, "
                  f"top_tagged ? 1.0 - {o['top']['tag_uncertainty']} : 1.0)",
        "mur": f"tmet::variations(1.0, tmet::scale_weight(LHEScaleWeight, {lhe['mur_up']}), "
               f"tmet::scale_weight(LHEScaleWeight, {lhe['mur_down']}))",
        "muf": f"tmet::variations(1.0, tmet::scale_weight(LHEScaleWeight, {lhe['muf_up']}), "
               f"tmet::scale_weight(LHEScaleWeight, {lhe['muf_down']}))",
        "isr": f"tmet::variations(1.0, tmet::ps_weight(PSWeight, {ps['isr_up']}), "
               f"tmet::ps_weight(PSWeight, {ps['isr_down']}))",
        "fsr": f"tmet::variations(1.0, tmet::ps_weight(PSWeight, {ps['fsr_up']}), "
               f"tmet::ps_weight(PSWeight, {ps['fsr_down']}))",
    }


def define_weights(df, config, is_mc, norm=1.0, btag_efficiency=None, shift="nominal", vary_sources=()):
    """Weight factors, the total ``weight`` (1 for data) and the requested weight shifts.

    Needs the columns of ``selection.define_selection``. ``btag_efficiency`` is the
    efficiency JSON of the dataset (None: w_btag = 1, for measuring the efficiencies).
    """
    if not is_mc:
        for factor in FACTORS:
            df = df.Define(factor, "1.0")
        return df.Define("weight", "1.0")

    btag = config.x.objects["btag"]
    variations = _variation_columns(config)
    if btag_efficiency:
        variations["btag"] = (
            f'tmet::btag_weights(jet_pt[jet_sel], Jet_eta[jet_sel], Jet_hadronFlavour[jet_sel], '
            f'ROOT::RVecB(jet_tagged[jet_sel]), "{btag["working_point"]}", "{btag_efficiency_key(btag_efficiency)}")'
        )
    else:
        variations["btag"] = "tmet::variations(1.0, 1.0, 1.0)"
    for source, expression in variations.items():
        df = df.Define(f"wv_{source}", expression)
    # a fixed shift (Snapshot) puts its up/down value into the factor it replaces
    fixed, index = split_shift(shift)
    fixed = fixed if fixed in WEIGHT_SOURCES else None
    df = df.Define("w_norm", f"{norm!r}").Define("w_gen", "double(genWeight)")
    df = df.Define("w_theory", f"wv_{fixed}[{index + 1}]" if fixed and WEIGHT_SOURCES[fixed] == "w_theory" else "1.0")
    for source, factor in WEIGHT_SOURCES.items():
        if factor != "w_theory":
            df = df.Define(factor, f"wv_{source}[{index + 1 if source == fixed else 0}]")

    def product(source=None, index=0):
        return " * ".join(f"wv_{source}[{index}]" if WEIGHT_SOURCES.get(source) == f else f for f in FACTORS)

    df = df.Define("weight", product())
    for source in vary_sources:
        df = df.Vary("weight", f"ROOT::RVecD{{{product(source, 1)}, {product(source, 2)}}}",
                     [f"{source}_up", f"{source}_down"], source)
    return df
