"""Write the correctionlib JSON files of the synthetic campaign ``run2_2018_synth``.

The toy campaign has no POG behind it, so its corrections are the synthetic truth that
the generator of the toy samples and the analysis agree on: smooth deterministic formulas
(mostly of the bin centres; no randomness), rounded to 6 significant digits, so that
every run writes the same bytes. File, correction and input names mirror the real
Run 2 UL POG files (CMS correctionlib schema v2); a real campaign only points its config
at the POG JSON instead, and the analysis code works unchanged.

Usage: make_synth_corrections.py [--output DIR]   (default data/corrections/run2_2018_synth)
"""

import argparse
import itertools
import math
from functools import partial
from pathlib import Path

import correctionlib
import yaml
from correctionlib import schemav2 as cs

ROOT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT_DIR / "data" / "corrections" / "run2_2018_synth"
DATASETS_YAML = ROOT_DIR / "config" / "run2_2018_synth_datasets.yaml"

# Pileup profile of the synthetic "data": Gaussian in the true number of interactions;
# the up/down profiles scale mean and width by the 4.6% minimum-bias cross-section uncertainty.
PU_DATA_MEAN = 33.0
PU_DATA_SIGMA = 13.0
PU_MINBIAS_XSEC_UNC = 0.046
PU_EDGES = list(range(101))

MUON_ABSETA = [0, 0.9, 1.2, 2.1, 2.4]
MUON_PT = [15, 20, 25, 30, 40, 50, 60, 120, 200]
ELE_ETA = [-2.5, -2.0, -1.566, -1.444, -0.8, 0, 0.8, 1.444, 1.566, 2.0, 2.5]
ELE_PT = [10, 20, 35, 50, 100, 200, 500]
BTAG_ABSETA = [0, 2.5]
BTAG_PT = [20, 30, 50, 70, 100, 140, 200, 300, 600, 1000]
_JET_ABSETA = [0.5, 0.8, 1.1, 1.3, 1.7, 1.9, 2.1, 2.3, 2.5, 2.8, 3.0, 3.2, 4.7]
JET_ETA = [-x for x in reversed(_JET_ABSETA)] + [0] + _JET_ABSETA
JES_PT = [10, 20, 30, 50, 100, 200, 500, 1000, 3000]

# NSC resolution, sqrt(N|N|/pt^2 + S^2 pt^d + C^2), with N growing with rho;
# pt and rho are clamped inside the formula like the binned inputs
_PT, _RHO = "max(min(x,3000),15)", "max(min(y,70),0)"
JER_FORMULA = (f"sqrt(([0]+[1]*{_RHO})*abs([0]+[1]*{_RHO})/({_PT}*{_PT})"
               f"+[2]*[2]*pow({_PT},[3])+[4]*[4])")


def rnd(x):
    return float(f"{x:.6g}")


def centres(edges):
    return [(lo + hi) / 2 for lo, hi in zip(edges, edges[1:])]


def var(name, type_, description):
    return cs.Variable(name=name, type=type_, description=description)


def grid(axes, value):
    """Clamped (multi)binning over ``axes`` ({input: edges}) holding ``value(*bin centres)``."""
    names, edges = list(axes), list(axes.values())
    content = [rnd(value(*c)) for c in itertools.product(*map(centres, edges))]
    if len(names) == 1:
        return cs.Binning(nodetype="binning", input=names[0], edges=edges[0],
                          content=content, flow="clamp")
    return cs.MultiBinning(nodetype="multibinning", inputs=names, edges=edges,
                           content=content, flow="clamp")


def category(input_, branches):
    return cs.Category(nodetype="category", input=input_, content=[
        cs.CategoryItem(key=key, value=node) for key, node in branches.items()])


def variations(input_, names, leaf):
    """Category on ``input_`` with branches ``names`` = (nominal, up, down) -> leaf(0, +1, -1)."""
    return category(input_, {name: leaf(sign) for name, sign in zip(names, (0, 1, -1))})


def shifted(sf_unc, sign):
    """Bin-centre function sf + sign * unc, from sf_unc(*centres) = (sf, unc)."""
    return lambda *c: sf_unc(*c)[0] + sign * sf_unc(*c)[1]


def correction(name, description, inputs, data, output="weight"):
    return cs.Correction(name=name, description=description, version=1, inputs=inputs,
                         output=cs.Variable(name=output, type="real"), data=data)


def absolute(input_, content):
    """``content`` evaluated at abs(``input_``), as the POG files transform a signed eta."""
    rule = cs.Formula(nodetype="formula", expression="abs(x)", parser="TFormula", variables=[input_])
    return cs.Transform(nodetype="transform", input=input_, rule=rule, content=content)


def gauss_profile(mean, sigma):
    """Unit-bin integrals of a Gaussian over PU_EDGES, normalised to unit sum."""
    cdf = [0.5 * (1 + math.erf((x - mean) / (sigma * math.sqrt(2)))) for x in PU_EDGES]
    bins = [hi - lo for lo, hi in zip(cdf, cdf[1:])]
    return [b / sum(bins) for b in bins]


def pileup(mc_mean, mc_sigma):
    mc = gauss_profile(mc_mean, mc_sigma)

    def weights(sign):
        scale = 1 + sign * PU_MINBIAS_XSEC_UNC
        data = gauss_profile(PU_DATA_MEAN * scale, PU_DATA_SIGMA * scale)
        return cs.Binning(nodetype="binning", input="NumTrueInteractions", edges=PU_EDGES,
                          content=[rnd(d / m) for d, m in zip(data, mc)], flow="clamp")
    return [correction("Collisions18_UltraLegacy_goldenJSON", "pileup weight data/MC",
                       [var("NumTrueInteractions", "real", "true mean number of interactions"),
                        var("weights", "string", "nominal, up, down")],
                       variations("weights", ("nominal", "up", "down"), weights))]


def muon_sf_unc(offset, abseta, pt):
    low_pt = math.exp(-(pt - 15) / 20)
    return (0.995 - offset - 0.02 * abseta / 2.4 - 0.015 * low_pt,
            0.003 + 0.004 * abseta / 2.4 + 0.003 * low_pt)


def muons():
    axes = {"eta": MUON_ABSETA, "pt": MUON_PT}
    inputs = [var("eta", "real", "eta (binned in |eta|)"), var("pt", "real", "muon pt [GeV]"),
              var("scale_factors", "string", "nominal, systup, systdown")]
    return [correction(name, "muon scale factor", inputs, absolute("eta", variations(
        "scale_factors", ("nominal", "systup", "systdown"),
        lambda sign, offset=offset: grid(axes, shifted(partial(muon_sf_unc, offset), sign)))))
        for name, offset in (("NUM_TightID_DEN_TrackerMuons", 0.0),
                             ("NUM_TightRelIso_DEN_TightIDandIPCut", 0.01))]


def electron_sf_unc(wp, eta, pt):
    """Working point index wp (Veto=0 .. Tight=3): tighter is lower and less certain."""
    return (0.99 - 0.015 * wp - 0.01 * abs(eta) / 2.5 - 0.01 * math.exp(-(pt - 10) / 30),
            0.01 + 0.003 * wp + 0.005 * abs(eta) / 2.5 + 0.005 * math.exp(-(pt - 10) / 50))


def electrons():
    axes = {"eta": ELE_ETA, "pt": ELE_PT}
    inputs = [var("year", "string", "2018"), var("ValType", "string", "sf, sfup, sfdown"),
              var("WorkingPoint", "string", "Veto, Loose, Medium, Tight"),
              var("eta", "real", "supercluster eta"), var("pt", "real", "electron pt [GeV]")]
    sfs = variations("ValType", ("sf", "sfup", "sfdown"), lambda sign: category("WorkingPoint", {
        wp: grid(axes, shifted(partial(electron_sf_unc, i), sign))
        for i, wp in enumerate(("Veto", "Loose", "Medium", "Tight"))}))
    return [correction("UL-Electron-ID-SF", "electron ID scale factor", inputs, category("year", {"2018": sfs}))]


def btag_sf_unc(flavor, wp, abseta, pt):
    """Working point index wp (L=0, M=1, T=2); c uncertainty is twice b's, light is 10..15%."""
    x = math.log(pt / 20) / math.log(1000 / 20)
    if flavor == 0:
        sf = 1.1 + 0.03 * wp + 0.04 * x
        return sf, sf * (0.10 + 0.05 * x)
    return 0.98 - 0.02 * wp - 0.03 * x, (0.01 + 0.02 * x) * (2 if flavor == 4 else 1)


def btagging():
    axes = {"abseta": BTAG_ABSETA, "pt": BTAG_PT}
    inputs = [var("systematic", "string", "central, up, down"), var("working_point", "string", "L, M, T"),
              var("flavor", "int", "hadron flavour"), var("abseta", "real", "|eta|"),
              var("pt", "real", "jet pt [GeV]")]

    def sfs(flavors, sign):
        return category("working_point", {wp: category("flavor", {
            flavor: grid(axes, shifted(partial(btag_sf_unc, flavor, w), sign)) for flavor in flavors})
            for w, wp in enumerate("LMT")})
    return [correction(name, "deepJet b-tagging scale factor", inputs, variations(
        "systematic", ("central", "up", "down"), partial(sfs, flavors)))
        for name, flavors in (("deepJet_comb", (4, 5)), ("deepJet_incl", (0,)))]


def jerc():
    eta_pt = [var("JetEta", "real", "jet eta"), var("JetPt", "real", "jet pt [GeV]")]
    jes = grid({"JetEta": JET_ETA, "JetPt": JES_PT}, lambda eta, pt: (
        0.01 + 0.025 * math.exp(-pt / 40) + 0.015 * (eta / 4.7) ** 2))
    resolution = cs.Binning(nodetype="binning", input="JetEta", edges=JET_ETA, flow="clamp", content=[
        cs.Formula(nodetype="formula", expression=JER_FORMULA, parser="TFormula", variables=["JetPt", "Rho"],
                   parameters=[rnd(1.5 + 0.3 * abs(eta)), 0.03, rnd(0.6 + 0.04 * abs(eta)), -0.95,
                               rnd(0.045 + 0.008 * abs(eta))])
        for eta in centres(JET_ETA)])
    scale_factor = variations("systematic", ("nom", "up", "down"), lambda sign: grid(
        {"JetEta": JET_ETA}, shifted(lambda eta: (1.05 + 0.15 * abs(eta) / 4.7, 0.03 + 0.05 * abs(eta) / 4.7), sign)))
    return [
        correction("Summer19UL18_V5_MC_Total_AK4PFchs", "total JES uncertainty (fractional)", eta_pt, jes),
        correction("Summer19UL18_JRV2_MC_PtResolution_AK4PFchs", "relative jet pt resolution",
                   eta_pt + [var("Rho", "real", "pileup energy density")], resolution),
        correction("Summer19UL18_JRV2_MC_ScaleFactor_AK4PFchs", "jet energy resolution scale factor",
                   [eta_pt[0], var("systematic", "string", "nom, up, down")], scale_factor),
    ]


def all_of(cuts):
    """1 where every cut (input, edges, index of the passing bin) passes, else 0: nested
    binnings, clamped at the edges."""
    node = 1.0
    for input_, edges, passing in reversed(cuts):
        node = cs.Binning(nodetype="binning", input=input_, edges=edges, flow="clamp",
                          content=[node if i == passing else 0.0 for i in range(len(edges) - 1)])
    return node


def jet_id():
    """AK4 PUPPI jet ID of the 13.6 TeV definition (tight; tight lepton veto adds muEF < 0.8
    and chEmEF < 0.8 up to |eta| 2.7), per |eta| region, with the inputs of JME's jetid.json."""
    below = lambda input_, cut: (input_, [0.0, cut, 1.0], 0)  # noqa: E731
    above = lambda input_, cut: (input_, [0.0, cut, 1.0], 1)  # noqa: E731
    at_least = lambda input_, n: (input_, [0.0, n, 99999.0], 1)  # noqa: E731
    regions = [
        [above("chHEF", 0.01), below("neHEF", 0.99), below("neEmEF", 0.90), at_least("chMultiplicity", 1.0),
         at_least("multiplicity", 2.0)],
        [below("neHEF", 0.90), below("neEmEF", 0.99)],
        [below("neHEF", 0.99)],
        [below("neEmEF", 0.40), at_least("neMultiplicity", 2.0)],
    ]
    lepton_veto = [below("muEF", 0.8), below("chEmEF", 0.8)]
    names = ["eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity", "multiplicity"]
    corrections = []
    for name, with_veto in (("AK4PUPPI_Tight", False), ("AK4PUPPI_TightLeptonVeto", True)):
        cuts = [region + (lepton_veto if with_veto and i < 2 else []) for i, region in enumerate(regions)]
        used = [n for n in names if n == "eta" or with_veto or n not in ("chEmEF", "muEF")]
        data = absolute("eta", cs.Binning(nodetype="binning", input="eta", edges=[0.0, 2.6, 2.7, 3.0, 5.2],
                                          flow="clamp", content=[all_of(c) for c in cuts]))
        corrections.append(correction(name, f"{name} jet identification (1: passes)",
                                      [var(n, "real", n) for n in used], data, output="jet id"))
    return corrections


def build_files():
    pu_mc = yaml.safe_load(DATASETS_YAML.read_text())["campaign"]["pileup_mc"]
    return {"puWeights.json": pileup(pu_mc["mean"], pu_mc["sigma"]),
            "muon_Z.json": muons(),
            "electron.json": electrons(),
            "btagging.json": btagging(),
            "jet_jerc.json": jerc(),
            "jetid.json": jet_id()}


def category_keys(node, keys):
    """Collect {input: {key: None}} (an ordered set) of all Category nodes below ``node``."""
    if isinstance(node, cs.Category):
        for item in node.content:
            keys.setdefault(node.input, {})[item.key] = None
            category_keys(item.value, keys)
    elif isinstance(node, (cs.Binning, cs.MultiBinning)):
        for child in node.content:
            category_keys(child, keys)
    elif isinstance(node, cs.Transform):
        category_keys(node.content, keys)
    return keys


def validate(path, corrections):
    """Reload ``path`` and evaluate each correction on every category key, in and out of range."""
    loaded = correctionlib.CorrectionSet.from_file(str(path))
    for corr in corrections:
        keys = category_keys(corr.data, {})
        values = [list(keys[v.name]) if v.type != "real" else (-1.0, 1.7, 45.0, 1e4) for v in corr.inputs]
        for point in itertools.product(*values):
            if not math.isfinite(loaded[corr.name].evaluate(*point)):
                raise ValueError(f"{path.name}: {corr.name}{point} is not finite")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output directory")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for filename, corrections in build_files().items():
        description = f"synthetic {filename[:-5]} corrections of run2_2018_synth (toy truth, not POG)"
        cset = cs.CorrectionSet(schema_version=2, description=description, corrections=corrections)
        path = args.output / filename
        path.write_text(cset.model_dump_json(exclude_unset=True, indent=1) + "\n")
        validate(path, corrections)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
