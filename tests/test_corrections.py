"""Checks of the synthetic correctionlib files of run2_2018_synth.

The committed JSON must be exactly what scripts/make_synth_corrections.py writes, must
keep the names and input signatures of the real POG files, and must hold physical values:
ordered variations, sane ranges and clamping (no error) outside the binned range.
"""

import math
import subprocess
import sys
from pathlib import Path

import correctionlib
import numpy as np
import pytest
import yaml

ROOT_DIR = Path(__file__).resolve().parent.parent
SCRIPT = ROOT_DIR / "scripts" / "make_synth_corrections.py"
DATA_DIR = ROOT_DIR / "data" / "corrections" / "run2_2018_synth"

SIGNATURES = {
    "puWeights.json": {"Collisions18_UltraLegacy_goldenJSON": [("NumTrueInteractions", "real"), ("weights", "string")]},
    "muon_Z.json": {
        "NUM_TightID_DEN_TrackerMuons": [("eta", "real"), ("pt", "real"), ("scale_factors", "string")],
        "NUM_TightRelIso_DEN_TightIDandIPCut": [("eta", "real"), ("pt", "real"), ("scale_factors", "string")],
    },
    "electron.json": {"UL-Electron-ID-SF": [("year", "string"), ("ValType", "string"), ("WorkingPoint", "string"),
                                            ("eta", "real"), ("pt", "real")]},
    "btagging.json": {
        name: [("systematic", "string"), ("working_point", "string"), ("flavor", "int"), ("abseta", "real"),
               ("pt", "real")] for name in ("deepJet_comb", "deepJet_incl")},
    "jet_jerc.json": {
        "Summer19UL18_V5_MC_Total_AK4PFchs": [("JetEta", "real"), ("JetPt", "real")],
        "Summer19UL18_JRV2_MC_PtResolution_AK4PFchs": [("JetEta", "real"), ("JetPt", "real"), ("Rho", "real")],
        "Summer19UL18_JRV2_MC_ScaleFactor_AK4PFchs": [("JetEta", "real"), ("systematic", "string")],
    },
    "jetid.json": {
        "AK4PUPPI_Tight": [(n, "real") for n in ("eta", "chHEF", "neHEF", "neEmEF", "chMultiplicity",
                                                 "neMultiplicity", "multiplicity")],
        "AK4PUPPI_TightLeptonVeto": [(n, "real") for n in ("eta", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF",
                                                           "chMultiplicity", "neMultiplicity", "multiplicity")],
    },
}
OUTPUTS = {"jetid.json": "jet id"}  # every other file's corrections output a "weight"

# (file, correction, variation input, (nominal, up, down), fixed inputs per combination, real input grid)
SCALE_FACTORS = [
    *[("muon_Z.json", name, "scale_factors", ("nominal", "systup", "systdown"), [{}],
       {"eta": np.linspace(-2.39, 2.39, 9), "pt": np.geomspace(15, 199, 9)})
      for name in SIGNATURES["muon_Z.json"]],
    ("electron.json", "UL-Electron-ID-SF", "ValType", ("sf", "sfup", "sfdown"),
     [{"year": "2018", "WorkingPoint": wp} for wp in ("Veto", "Loose", "Medium", "Tight")],
     {"eta": np.linspace(-2.49, 2.49, 21), "pt": np.geomspace(10, 499, 9)}),
    ("btagging.json", "deepJet_comb", "systematic", ("central", "up", "down"),
     [{"working_point": wp, "flavor": flavor} for wp in "LMT" for flavor in (4, 5)],
     {"abseta": np.linspace(0, 2.49, 5), "pt": np.geomspace(20, 999, 15)}),
    ("btagging.json", "deepJet_incl", "systematic", ("central", "up", "down"),
     [{"working_point": wp, "flavor": 0} for wp in "LMT"],
     {"abseta": np.linspace(0, 2.49, 5), "pt": np.geomspace(20, 999, 15)}),
    ("jet_jerc.json", "Summer19UL18_JRV2_MC_ScaleFactor_AK4PFchs", "systematic", ("nom", "up", "down"), [{}],
     {"JetEta": np.linspace(-4.69, 4.69, 41)}),
]

# (file, correction, inputs, input to move, value outside the range, value at its edge or further out)
CLAMPED = [
    ("puWeights.json", "Collisions18_UltraLegacy_goldenJSON", {"weights": "up"}, "NumTrueInteractions", -5.0, 0.5),
    ("puWeights.json", "Collisions18_UltraLegacy_goldenJSON", {"weights": "up"}, "NumTrueInteractions", 300.0, 99.5),
    ("muon_Z.json", "NUM_TightID_DEN_TrackerMuons", {"pt": 30.0, "scale_factors": "systup"}, "eta", 3.0, 2.35),
    ("muon_Z.json", "NUM_TightID_DEN_TrackerMuons", {"pt": 30.0, "scale_factors": "systup"}, "eta", -3.0, 2.35),
    ("muon_Z.json", "NUM_TightRelIso_DEN_TightIDandIPCut", {"eta": 1.0, "scale_factors": "nominal"}, "pt", 5.0, 16.0),
    ("muon_Z.json", "NUM_TightRelIso_DEN_TightIDandIPCut", {"eta": 1.0, "scale_factors": "nominal"}, "pt", 1e4, 190.0),
    ("electron.json", "UL-Electron-ID-SF", {"year": "2018", "ValType": "sfdown", "WorkingPoint": "Tight", "pt": 40.0},
     "eta", -3.0, -2.4),
    ("electron.json", "UL-Electron-ID-SF", {"year": "2018", "ValType": "sf", "WorkingPoint": "Loose", "eta": 0.3},
     "pt", 5.0, 12.0),
    ("btagging.json", "deepJet_comb", {"systematic": "up", "working_point": "M", "flavor": 4, "abseta": 1.0},
     "pt", 5000.0, 900.0),
    ("btagging.json", "deepJet_incl", {"systematic": "down", "working_point": "T", "flavor": 0, "pt": 50.0},
     "abseta", 3.0, 2.4),
    ("jet_jerc.json", "Summer19UL18_V5_MC_Total_AK4PFchs", {"JetPt": 40.0}, "JetEta", 6.0, 4.6),
    ("jet_jerc.json", "Summer19UL18_V5_MC_Total_AK4PFchs", {"JetEta": -1.0}, "JetPt", 2.0, 12.0),
    ("jet_jerc.json", "Summer19UL18_JRV2_MC_PtResolution_AK4PFchs", {"JetEta": 0.2, "Rho": 20.0}, "JetPt", 1.0, 5.0),
    ("jet_jerc.json", "Summer19UL18_JRV2_MC_PtResolution_AK4PFchs", {"JetEta": 0.2, "Rho": 20.0}, "JetPt", 1e5, 1e4),
    ("jet_jerc.json", "Summer19UL18_JRV2_MC_PtResolution_AK4PFchs", {"JetEta": -5.0, "JetPt": 30.0}, "Rho", -10.0, -1.0),
    ("jet_jerc.json", "Summer19UL18_JRV2_MC_PtResolution_AK4PFchs", {"JetEta": 2.0, "JetPt": 30.0}, "Rho", 1e3, 200.0),
    ("jet_jerc.json", "Summer19UL18_JRV2_MC_ScaleFactor_AK4PFchs", {"systematic": "up"}, "JetEta", -10.0, -4.6),
]


def load(filename, name):
    return correctionlib.CorrectionSet.from_file(str(DATA_DIR / filename))[name]


def evaluate(correction, **inputs):
    """Evaluate with inputs by name, in the order the correction declares them."""
    return correction.evaluate(*[inputs[var.name] for var in correction.inputs])


def mesh(reals):
    return {name: axis.ravel() for name, axis in zip(reals, np.meshgrid(*reals.values(), indexing="ij"))}


def test_regeneration_is_byte_identical(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--output", str(tmp_path)], check=True, capture_output=True)
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(SIGNATURES)
    assert written == sorted(p.name for p in DATA_DIR.glob("*.json"))
    for filename in written:
        assert (tmp_path / filename).read_bytes() == (DATA_DIR / filename).read_bytes(), filename


@pytest.mark.parametrize("filename", sorted(SIGNATURES))
def test_names_and_signatures_mirror_pog(filename):
    cset = correctionlib.CorrectionSet.from_file(str(DATA_DIR / filename))
    found = {name: [(var.name, var.type) for var in corr.inputs] for name, corr in cset.items()}
    assert found == SIGNATURES[filename]
    assert all(corr.output.name == OUTPUTS.get(filename, "weight") for corr in cset.values())


def test_pileup_weights_reweight_mc_to_data():
    """Sum over n of mc(n) * w(n) is the data profile: unit norm, mean shifted with the variation."""
    corr = load("puWeights.json", "Collisions18_UltraLegacy_goldenJSON")
    mc_par = yaml.safe_load((ROOT_DIR / "config" / "run2_2018_synth_datasets.yaml").read_text())["campaign"]["pileup_mc"]
    cdf = [0.5 * (1 + math.erf((x - mc_par["mean"]) / (mc_par["sigma"] * math.sqrt(2)))) for x in range(101)]
    mc = np.diff(cdf) / (cdf[-1] - cdf[0])
    centres = np.arange(100) + 0.5
    means = {}
    for variation in ("nominal", "up", "down"):
        weights = evaluate(corr, NumTrueInteractions=centres, weights=variation)
        assert np.all(weights >= 0) and np.all(np.isfinite(weights))
        assert np.sum(mc * weights) == pytest.approx(1, abs=1e-4)
        means[variation] = np.sum(mc * weights * centres)
    assert means["nominal"] == pytest.approx(33.0, abs=0.3)  # the truncation at 0 pulls it up by 0.2
    assert means["up"] > means["nominal"] > means["down"]


@pytest.mark.parametrize("filename, name, variation, names, fixed, reals", SCALE_FACTORS,
                         ids=[f"{case[1]}" for case in SCALE_FACTORS])
def test_scale_factors_physical_and_ordered(filename, name, variation, names, fixed, reals):
    corr = load(filename, name)
    for inputs in fixed:
        nominal, up, down = (evaluate(corr, **inputs, **mesh(reals), **{variation: v}) for v in names)
        assert np.all((nominal > 0.8) & (nominal < 1.2)), inputs
        assert np.all(up > nominal) and np.all(nominal > down), inputs


def test_jes_uncertainty_range():
    corr = load("jet_jerc.json", "Summer19UL18_V5_MC_Total_AK4PFchs")
    unc = evaluate(corr, **mesh({"JetEta": np.linspace(-6, 6, 49), "JetPt": np.geomspace(1, 1e4, 30)}))
    assert np.all((unc > 0) & (unc < 0.2))


def test_jet_resolution_range():
    corr = load("jet_jerc.json", "Summer19UL18_JRV2_MC_PtResolution_AK4PFchs")
    grid = {"JetEta": np.linspace(-6, 6, 49), "JetPt": np.geomspace(1, 1e5, 30), "Rho": np.linspace(-5, 100, 8)}
    resolution = evaluate(corr, **mesh(grid))
    assert np.all((resolution > 0) & (resolution < 1))


@pytest.mark.parametrize("filename, name, inputs, moved, outside, edge", CLAMPED,
                         ids=[f"{case[1]}-{case[3]}={case[4]}" for case in CLAMPED])
def test_out_of_range_inputs_are_clamped(filename, name, inputs, moved, outside, edge):
    corr = load(filename, name)
    assert evaluate(corr, **inputs, **{moved: outside}) == evaluate(corr, **inputs, **{moved: edge})
